//! Validated request values. Each type has a `parse` that is the only way to build it from client
//! input, so a value that reaches a service is already known to be acceptable to TMDB.

use std::fmt;

pub mod coding;
pub mod favorite;
pub mod image;
pub mod list;
pub mod pattern;
pub mod setting;

/// A value a client sent that the contract does not take: which parameter or field, and why.
/// The validators return it; `error.rs` turns it into a `400 VALIDATION_ERROR` naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &str, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// TMDB serves pages 1..=500 of every list, whatever `total_pages` says.
pub const MAX_PAGE: u32 = 500;

/// Who a TMDB request is for. The upstream budget gives each client a fair share of TMDB's
/// slots, and background work one share of its own, by this value (the HTTP layer knows the
/// address; the services carry it as a plain value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Requester {
    /// A client's request, by address (`None`: unknown, and all of those share one share).
    Client(Option<std::net::IpAddr>),
    /// Prefetch, revalidation, warm: nobody is waiting on it.
    Background,
}

/// A page number of a TMDB list, 1..=500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Page(u32);

impl Page {
    pub const FIRST: Page = Page(1);

    /// `None` (parameter absent) means page 1; anything but an integer in 1..=500 is refused,
    /// including an empty value, a sign, a fraction or surrounding spaces.
    pub fn parse(raw: Option<&str>) -> Result<Page, Invalid> {
        let Some(raw) = raw else {
            return Ok(Page::FIRST);
        };
        let invalid = || {
            Invalid::new(
                "page",
                format!("page must be an integer between 1 and {MAX_PAGE}"),
            )
        };
        if raw.is_empty() || raw.len() > 3 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        match raw.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(Page(n)),
            _ => Err(invalid()),
        }
    }

    /// Builds a page from a trusted number (our own loops); `None` when out of range.
    pub fn new(n: u32) -> Option<Page> {
        (1..=MAX_PAGE).contains(&n).then_some(Page(n))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A TMDB movie id, 1..=2147483647 (TMDB ids are int32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MovieId(u32);

/// What a path segment that should hold a movie id turned out to be.
#[derive(Debug)]
pub enum MovieIdSegment {
    /// Not a number at all: the path does not name a movie route (404 `NOT_FOUND`).
    NotNumeric,
    /// A number outside 1..=2147483647 (400 `VALIDATION_ERROR`).
    OutOfRange(Invalid),
    Valid(MovieId),
}

impl MovieId {
    pub const MAX: u32 = i32::MAX as u32;

    pub fn parse_segment(segment: &str) -> MovieIdSegment {
        if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
            return MovieIdSegment::NotNumeric;
        }
        match segment.parse::<u64>() {
            Ok(n) if (1..=u64::from(Self::MAX)).contains(&n) => {
                MovieIdSegment::Valid(MovieId(n as u32))
            }
            _ => MovieIdSegment::OutOfRange(Invalid::new(
                "movie_id",
                format!("movie_id must be an integer between 1 and {}", Self::MAX),
            )),
        }
    }

    pub fn new(n: u32) -> Option<MovieId> {
        (1..=Self::MAX).contains(&n).then_some(MovieId(n))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for MovieId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// TMDB's two trending windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeWindow {
    Day,
    Week,
}

impl TimeWindow {
    pub const ALL: [TimeWindow; 2] = [TimeWindow::Day, TimeWindow::Week];
    /// The accepted spellings, in `ALL`'s order (the OpenAPI document's `enum`).
    pub const NAMES: [&'static str; 2] = ["day", "week"];

    pub fn parse(raw: Option<&str>) -> Result<TimeWindow, Invalid> {
        match raw {
            None | Some("day") => Ok(TimeWindow::Day),
            Some("week") => Ok(TimeWindow::Week),
            Some(_) => Err(Invalid::new(
                "time_window",
                "time_window must be one of: day, week",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeWindow::Day => "day",
            TimeWindow::Week => "week",
        }
    }
}

/// A search text: trimmed, 1..=200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchQuery(String);

impl SearchQuery {
    pub const MAX_CHARS: usize = 200;

    /// What `parse` accepts, as an ECMA-262 pattern: any whitespace around 1..=200 characters
    /// that start and end with a non-space and hold no control character. The document states
    /// this rather than `maxLength`, which would count the spaces `parse` trims.
    pub fn pattern() -> String {
        use pattern::{CONTROL, SPACE};
        let edge = format!("[^{SPACE}{CONTROL}]");
        let inner = Self::MAX_CHARS - 2;
        format!("^[{SPACE}]*{edge}(?:[^{CONTROL}]{{0,{inner}}}{edge})?[{SPACE}]*$")
    }

    pub fn parse(raw: Option<&str>) -> Result<SearchQuery, Invalid> {
        let trimmed = raw.unwrap_or("").trim();
        if trimmed.is_empty() {
            return Err(Invalid::new("query", "query is required"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "query",
                format!("query must be between 1 and {} characters", Self::MAX_CHARS),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Invalid::new(
                "query",
                "query must not contain control characters",
            ));
        }
        Ok(SearchQuery(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A TMDB language tag: `xx` or `xx-YY` (ISO 639-1, optionally with an ISO 3166-1 region).
/// Accepted in any letter case and kept in canonical form (`fr-FR`), so `fr-fr` and `fr-FR`
/// share one cache entry. Held inline (five bytes and a length): every cached request parses
/// one, and a copy costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Language {
    bytes: [u8; 5],
    len: u8,
}

impl Language {
    /// What `parse` accepts, for the OpenAPI document (any letter case, as `parse`).
    pub const PATTERN: &'static str = "^[A-Za-z]{2}(-[A-Za-z]{2})?$";

    pub fn parse(raw: &str) -> Option<Language> {
        let bytes = raw.as_bytes();
        let letters = |s: &[u8]| s.iter().all(u8::is_ascii_alphabetic);
        let mut tag = [0u8; 5];
        match bytes.len() {
            2 if letters(bytes) => {
                tag[..2].copy_from_slice(bytes);
                tag[..2].make_ascii_lowercase();
                Some(Language { bytes: tag, len: 2 })
            }
            5 if letters(&bytes[..2]) && bytes[2] == b'-' && letters(&bytes[3..]) => {
                tag.copy_from_slice(bytes);
                tag[..2].make_ascii_lowercase();
                tag[3..].make_ascii_uppercase();
                Some(Language { bytes: tag, len: 5 })
            }
            _ => None,
        }
    }

    /// The `language` query parameter: absent means the configured default.
    pub fn parse_param(raw: Option<&str>, default: &Language) -> Result<Language, Invalid> {
        match raw {
            None => Ok(*default),
            Some(raw) => Language::parse(raw).ok_or_else(|| {
                Invalid::new(
                    "language",
                    "language must look like 'en' or 'en-US' (ISO 639-1, optional ISO 3166-1 region)",
                )
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)])
            .expect("a language is ASCII letters and a hyphen")
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ISO 3166-1 alpha-2 region (`US`), kept upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(String);

impl Region {
    /// What `parse_param` accepts, for the OpenAPI document.
    pub const PATTERN: &'static str = "^[A-Za-z]{2}$";

    pub fn parse_param(raw: Option<&str>) -> Result<Option<Region>, Invalid> {
        match raw {
            None => Ok(None),
            Some(raw) if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Ok(Some(Region(raw.to_ascii_uppercase())))
            }
            Some(_) => Err(Invalid::new(
                "region",
                "region must be a two-letter ISO 3166-1 code such as 'US'",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_accepts_only_integers_in_range() {
        assert_eq!(Page::parse(None).unwrap().get(), 1);
        assert_eq!(Page::parse(Some("500")).unwrap().get(), 500);
        for bad in [
            "0",
            "-1",
            "1.5",
            "abc",
            "501",
            "",
            " 1",
            "+1",
            "0500",
            "99999999999",
        ] {
            assert!(Page::parse(Some(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn movie_id_distinguishes_non_numeric_from_out_of_range() {
        assert!(
            matches!(MovieId::parse_segment("550"), MovieIdSegment::Valid(id) if id.get() == 550)
        );
        assert!(matches!(
            MovieId::parse_segment("abc"),
            MovieIdSegment::NotNumeric
        ));
        assert!(matches!(
            MovieId::parse_segment("-5"),
            MovieIdSegment::NotNumeric
        ));
        assert!(matches!(
            MovieId::parse_segment("0"),
            MovieIdSegment::OutOfRange(_)
        ));
        assert!(matches!(
            MovieId::parse_segment("2147483648"),
            MovieIdSegment::OutOfRange(_)
        ));
        assert!(matches!(
            MovieId::parse_segment("99999999999999999999999"),
            MovieIdSegment::OutOfRange(_)
        ));
    }

    #[test]
    fn language_is_canonicalised() {
        assert_eq!(Language::parse("fr-fr").unwrap().as_str(), "fr-FR");
        assert_eq!(Language::parse("EN").unwrap().as_str(), "en");
        for bad in ["", "e", "english", "en_US", "en-USA", "e1-US", "en-U5"] {
            assert!(Language::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn search_query_is_trimmed_and_bounded() {
        assert_eq!(
            SearchQuery::parse(Some("  matrix ")).unwrap().as_str(),
            "matrix"
        );
        assert!(SearchQuery::parse(Some("   ")).is_err());
        assert!(SearchQuery::parse(None).is_err());
        assert!(SearchQuery::parse(Some(&"é".repeat(200))).is_ok());
        assert!(SearchQuery::parse(Some(&"é".repeat(201))).is_err());
    }
}

/// Account inputs, validated as the contract says.
pub mod account {
    use super::Invalid;

    /// The shortest and longest username and password registration accepts.
    pub const USERNAME_MIN: usize = 3;
    pub const USERNAME_MAX: usize = 150;
    pub const PASSWORD_MIN: usize = 8;
    pub const PASSWORD_MAX: usize = 1024;
    /// The longest email address, in characters (RFC 5321's 254, counted as characters so that
    /// the OpenAPI document's `maxLength` states it exactly).
    pub const EMAIL_MAX: usize = 254;

    /// What `username` accepts, as far as a pattern portable to every schema tool can say: the
    /// ASCII letters and digits. `username` also takes letters and digits of any script (Rust's
    /// `char::is_alphanumeric`, as Django's Unicode `\w` did), which only `\p{...}` escapes
    /// could state and which schema fuzzers cannot generate from; the document says so in words.
    pub fn username_pattern() -> String {
        format!("^[A-Za-z0-9@.+_-]{{{USERNAME_MIN},{USERNAME_MAX}}}$")
    }

    /// What `email` accepts besides `null`: blank, or one `@` between a non-empty local part
    /// and a domain with a dot inside it (not at either end), no whitespace or control
    /// character, any whitespace around (trimmed).
    pub fn email_pattern() -> String {
        use super::pattern::{CONTROL, SPACE};
        let part = format!("[^@{SPACE}{CONTROL}]");
        let edge = format!("[^@.{SPACE}{CONTROL}]");
        format!("^[{SPACE}]*(?:{part}+@{edge}{part}*[.]{part}*{edge})?[{SPACE}]*$")
    }

    /// 3..=150 characters of letters, digits and `@ . + - _`.
    pub fn username(raw: Option<&str>) -> Result<String, Invalid> {
        let value = raw.ok_or_else(|| Invalid::new("username", "username is required"))?;
        let count = value.chars().count();
        let allowed = |c: char| c.is_alphanumeric() || "@.+-_".contains(c);
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&count) || !value.chars().all(allowed) {
            return Err(Invalid::new(
                "username",
                "username must be 3 to 150 characters of letters, digits and @ . + - _",
            ));
        }
        Ok(value.to_owned())
    }

    /// At least 8 characters; at most 1024 so hashing stays cheap.
    pub fn password(raw: Option<&str>) -> Result<String, Invalid> {
        let value = raw.ok_or_else(|| Invalid::new("password", "password is required"))?;
        let count = value.chars().count();
        if count < PASSWORD_MIN {
            return Err(Invalid::new(
                "password",
                "password must be at least 8 characters",
            ));
        }
        if count > PASSWORD_MAX {
            return Err(Invalid::new(
                "password",
                "password must be at most 1024 characters",
            ));
        }
        Ok(value.to_owned())
    }

    /// Optional (absent, `null` or blank: none); when given, something@domain.tld without
    /// spaces, at most 254 characters including any spaces around it.
    pub fn email(raw: Option<&str>) -> Result<String, Invalid> {
        if raw.is_some_and(|v| v.chars().count() > EMAIL_MAX) {
            return Err(Invalid::new(
                "email",
                format!("email must be at most {EMAIL_MAX} characters"),
            ));
        }
        let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(String::new());
        };
        let valid = !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if !valid {
            return Err(Invalid::new("email", "email is not a valid address"));
        }
        Ok(value.to_owned())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn usernames() {
            assert!(username(Some("ann")).is_ok());
            assert!(username(Some("anne.o+tag@x_y-z")).is_ok());
            assert!(username(Some("zoë")).is_ok());
            for bad in [
                "ab",
                "has space",
                "semi;colon",
                "'; DROP TABLE users; --",
                "",
            ] {
                assert!(username(Some(bad)).is_err(), "{bad:?}");
            }
            assert!(username(Some(&"a".repeat(151))).is_err());
            assert!(username(None).is_err());
        }

        #[test]
        fn emails_and_passwords() {
            assert_eq!(email(None).unwrap(), "");
            assert_eq!(email(Some("")).unwrap(), "");
            assert!(email(Some("a@b.co")).is_ok());
            for bad in ["a", "a@b", "@b.co", "a b@c.de", "a@@b.co", "a@.b.co"] {
                assert!(email(Some(bad)).is_err(), "{bad:?}");
            }
            assert!(password(Some("1234567")).is_err());
            assert!(password(Some("12345678")).is_ok());
        }
    }
}
