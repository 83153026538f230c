//! `CacheKey`: the contract's cache key strings (`trending_movies:day:page:2`,
//! `recommended_movies:550:fr-FR:page:3`, `movie:550`). A language appears in the key only when
//! it differs from the configured default, so default-language keys match the seed design's.

use std::fmt;

use crate::domain::{Language, MovieId, Page, Region, TimeWindow};

pub const TRENDING: &str = "trending_movies";
pub const RECOMMENDED: &str = "recommended_movies";
pub const MOVIE: &str = "movie";
/// Popular pages: never served from cache while TMDB answers, kept as the last good answer for
/// offline mode and outages.
pub const POPULAR: &str = "popular_movies";

/// The last good answer of each search, served only when TMDB fails.
pub const SEARCH: &str = "search_movies";
/// Per-user data (profiles), short-lived.
pub const USER: &str = "user";

/// The movie data that snapshots carry (never user data).
pub const SNAPSHOT_NAMESPACES: &[&str] = &[TRENDING, RECOMMENDED, MOVIE, POPULAR];
/// Every namespace the cache holds, for stats and clears.
pub const NAMESPACES: &[&str] = &[TRENDING, RECOMMENDED, MOVIE, POPULAR, SEARCH, USER];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

/// A non-default language and its separator, or two empty strings.
fn lang_parts(language: Option<&Language>) -> (&str, &str) {
    language.map_or(("", ""), |l| (l.as_str(), ":"))
}

/// `region:XX:` as three parts, or three empty strings.
fn region_parts(region: Option<&Region>) -> (&str, &str, &str) {
    region.map_or(("", "", ""), |r| ("region:", r.as_str(), ":"))
}

/// Keys are built on every request: one allocation, no formatting machinery.
fn join(parts: &[&str]) -> CacheKey {
    let mut key = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        key.push_str(part);
    }
    CacheKey(key)
}

impl CacheKey {
    /// `language` is `None` for the configured default language.
    pub fn trending(window: TimeWindow, language: Option<&Language>, page: Page) -> CacheKey {
        let mut page_digits = itoa::Buffer::new();
        let page = page_digits.format(page.get());
        let (lang, sep) = lang_parts(language);
        join(&[
            TRENDING,
            ":",
            window.as_str(),
            ":",
            lang,
            sep,
            "page:",
            page,
        ])
    }

    pub fn recommendations(id: MovieId, language: Option<&Language>, page: Page) -> CacheKey {
        let (mut id_digits, mut page_digits) = (itoa::Buffer::new(), itoa::Buffer::new());
        let id = id_digits.format(id.get());
        let page = page_digits.format(page.get());
        let (lang, sep) = lang_parts(language);
        join(&[RECOMMENDED, ":", id, ":", lang, sep, "page:", page])
    }

    pub fn movie(id: MovieId, language: Option<&Language>) -> CacheKey {
        let mut id_digits = itoa::Buffer::new();
        let id = id_digits.format(id.get());
        match language {
            None => join(&[MOVIE, ":", id]),
            Some(l) => join(&[MOVIE, ":", id, ":", l.as_str()]),
        }
    }

    pub fn popular(language: Option<&Language>, region: Option<&Region>, page: Page) -> CacheKey {
        let mut page_digits = itoa::Buffer::new();
        let page = page_digits.format(page.get());
        let (lang, sep) = lang_parts(language);
        let (region_tag, region, region_sep) = region_parts(region);
        join(&[
            POPULAR, ":", lang, sep, region_tag, region, region_sep, "page:", page,
        ])
    }

    /// Search text is case-folded, so "Matrix" and "matrix" share one fallback entry.
    pub fn search(
        query: &str,
        language: Option<&Language>,
        region: Option<&Region>,
        page: Page,
    ) -> CacheKey {
        let mut page_digits = itoa::Buffer::new();
        let page = page_digits.format(page.get());
        let (lang, sep) = lang_parts(language);
        let (region_tag, region, region_sep) = region_parts(region);
        let query = query.to_lowercase();
        join(&[
            SEARCH, ":", lang, sep, region_tag, region, region_sep, "q:", &query, ":page:", page,
        ])
    }

    /// A key read back from a store or a snapshot.
    pub fn from_stored(raw: String) -> CacheKey {
        CacheKey(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `:`.
    pub fn namespace(&self) -> &str {
        namespace_of(&self.0)
    }

    /// The namespace as a static label, for metrics (keeps label values bounded).
    pub fn namespace_label(&self) -> &'static str {
        let namespace = self.namespace();
        NAMESPACES
            .iter()
            .find(|ns| **ns == namespace)
            .copied()
            .unwrap_or("other")
    }
}

/// A key some namespace can hold: `<namespace>:<something>`.
pub fn is_shaped(key: &str) -> bool {
    key.split_once(':')
        .is_some_and(|(ns, rest)| NAMESPACES.contains(&ns) && !rest.is_empty())
}

/// The same rule as a pattern, for the API document.
pub fn shape_pattern() -> String {
    format!("^({}):.+$", NAMESPACES.join("|"))
}

pub fn namespace_of(key: &str) -> &str {
    key.split_once(':').map_or(key, |(ns, _)| ns)
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract() {
        let p2 = Page::new(2).unwrap();
        let id = MovieId::new(550).unwrap();
        let fr = Language::parse("fr-FR").unwrap();
        assert_eq!(
            CacheKey::trending(TimeWindow::Day, None, p2).as_str(),
            "trending_movies:day:page:2"
        );
        assert_eq!(
            CacheKey::trending(TimeWindow::Day, Some(&fr), p2).as_str(),
            "trending_movies:day:fr-FR:page:2"
        );
        assert_eq!(
            CacheKey::recommendations(id, None, Page::new(3).unwrap()).as_str(),
            "recommended_movies:550:page:3"
        );
        assert_eq!(
            CacheKey::recommendations(id, Some(&fr), Page::new(3).unwrap()).as_str(),
            "recommended_movies:550:fr-FR:page:3"
        );
        assert_eq!(CacheKey::movie(id, None).as_str(), "movie:550");
        assert_eq!(CacheKey::movie(id, Some(&fr)).as_str(), "movie:550:fr-FR");
        assert_eq!(CacheKey::movie(id, None).namespace(), "movie");
        let us = Region::parse_param(Some("us")).unwrap();
        assert_eq!(
            CacheKey::popular(Some(&fr), us.as_ref(), p2).as_str(),
            "popular_movies:fr-FR:region:US:page:2"
        );
        assert_eq!(
            CacheKey::search("The Matrix", Some(&fr), us.as_ref(), p2).as_str(),
            "search_movies:fr-FR:region:US:q:the matrix:page:2"
        );
        assert_eq!(
            CacheKey::search("Matrix", None, None, p2).as_str(),
            "search_movies:q:matrix:page:2"
        );
        assert_eq!(
            CacheKey::popular(None, None, p2).as_str(),
            "popular_movies:page:2"
        );
    }
}
