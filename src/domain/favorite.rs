//! The bounds of a favorite and of the favorites list, stated once for the validators and the
//! OpenAPI document, and the favorite itself.

/// One favorite, as stored: the movie as the client described it when adding it.
#[derive(Debug, Clone)]
pub struct Favorite {
    pub id: i64,
    pub username: String,
    pub tmdb_id: i64,
    pub title: String,
    pub poster_path: Option<String>,
    pub overview: String,
    pub release_date: Option<String>,
    pub created_at: i64,
}

/// What a client sends to add a favorite, validated.
#[derive(Debug, Clone)]
pub struct NewFavorite {
    pub tmdb_id: i64,
    pub title: String,
    pub poster_path: Option<String>,
    pub overview: String,
    pub release_date: Option<String>,
}

/// The longest title and poster path a favorite keeps, in characters.
pub const TITLE_MAX: usize = 255;
pub const POSTER_PATH_MAX: usize = 255;

/// Favorites per page: the default and the largest a client may ask for.
pub const PAGE_SIZE_DEFAULT: u32 = 20;
pub const PAGE_SIZE_MAX: u32 = 100;

/// The favorites list has no page bound of its own (it is ours, not TMDB's): any page number a
/// `u32` holds, past the last page being a 404.
pub const PAGE_MAX: u32 = u32::MAX;

/// A title must hold something besides whitespace (it is trimmed to check): a pattern that
/// finds one such character.
pub fn title_pattern() -> String {
    format!("[^{}]", super::pattern::SPACE)
}
