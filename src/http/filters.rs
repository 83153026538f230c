//! Filters shared by every resource: path matching with or without the trailing slash, the raw
//! query string, method checks, and handing the state to handlers.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use warp::Filter;
use warp::http::Method;
use warp::path::FullPath;

use super::server::ClientAddr;
use crate::error::ApiError;
use crate::service::state::AppState;

/// Matches `pattern` (like `api/movies/{}/recommendations`) against the whole path, with or
/// without a trailing slash (no redirect), and extracts the `{}` segments percent-decoded. Any
/// other path rejects with "not found", so the next route is tried.
pub fn route(
    pattern: &'static str,
) -> impl Filter<Extract = (Vec<String>,), Error = warp::Rejection> + Clone {
    let parts: Arc<[&'static str]> = pattern.trim_matches('/').split('/').collect();
    assert!(parts.len() <= MAX_SEGMENTS, "{pattern}: too many segments");
    warp::path::full().and_then(move |full: FullPath| {
        let parts = parts.clone();
        async move { match_path(&parts, full.as_str()).ok_or_else(warp::reject::not_found) }
    })
}

/// Matches `parts` (the pattern's segments; a `{...}` segment, such as `{}` or `{movie_id}`,
/// captures) against the whole path, with or without a trailing slash.
pub fn match_path(parts: &[&str], path: &str) -> Option<Vec<String>> {
    PathSegments::of(path)?.matches(parts)
}

/// A path cut into its segments once (without its leading and trailing slash), to be matched
/// against several patterns.
pub struct PathSegments<'a> {
    segments: [&'a str; MAX_SEGMENTS],
    len: usize,
}

/// More segments than any route's pattern has: such a path matches none.
const MAX_SEGMENTS: usize = 16;

impl<'a> PathSegments<'a> {
    /// `None` for a path of more than `MAX_SEGMENTS` segments (no route has that many).
    pub fn of(path: &'a str) -> Option<PathSegments<'a>> {
        let path = path.strip_prefix('/').unwrap_or(path);
        let path = path.strip_suffix('/').unwrap_or(path);
        // Byte by byte (`str::split` costs more on a path this short); `/` is ASCII.
        let mut segments = [""; MAX_SEGMENTS];
        let mut len = 0;
        let mut start = 0;
        for (at, &byte) in path.as_bytes().iter().enumerate() {
            if byte == b'/' {
                *segments.get_mut(len)? = &path[start..at];
                len += 1;
                start = at + 1;
            }
        }
        *segments.get_mut(len)? = &path[start..];
        Some(PathSegments {
            segments,
            len: len + 1,
        })
    }

    /// The `{...}` segments, percent-decoded, when the path is `parts` (see [`match_path`]).
    pub fn matches(&self, parts: &[&str]) -> Option<Vec<String>> {
        if parts.len() != self.len {
            return None;
        }
        let mut captured = Vec::new();
        for (part, segment) in parts.iter().zip(&self.segments[..self.len]) {
            if part.starts_with('{') {
                if segment.is_empty() {
                    return None;
                }
                let decoded = percent_encoding::percent_decode_str(segment)
                    .decode_utf8()
                    .ok()?;
                captured.push(decoded.into_owned());
            } else if segment != part {
                return None;
            }
        }
        Some(captured)
    }
}

/// The client's address (`None` when the request did not come through `server`, as in
/// `warp::test`).
pub fn client_addr() -> impl Filter<Extract = (Option<IpAddr>,), Error = Infallible> + Copy {
    warp::ext::optional::<ClientAddr>()
        .map(|client: Option<ClientAddr>| client.and_then(|ClientAddr(ip)| ip))
}

/// The raw query string, empty when there is none.
pub fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// Parsed query parameters, borrowing from the raw query unless decoding changed them. Unknown
/// names are ignored; when a name repeats, the first wins.
pub struct Query<'a> {
    pairs: Pairs<'a>,
}

// A `Query` lives on the stack for one request: its pairs held in place are the point.
#[allow(clippy::large_enum_variant)]
enum Pairs<'a> {
    /// A query with nothing to decode (no `%`, no `+`) of at most `FEW` pairs: split once, in
    /// place, no allocation. Most are.
    Few([(&'a str, &'a str); FEW], usize),
    Decoded(Vec<(Cow<'a, str>, Cow<'a, str>)>),
}

/// How many pairs a plain query may have to be held without an allocation.
const FEW: usize = 8;

impl<'a> Query<'a> {
    pub fn parse(raw: &'a str) -> Query<'a> {
        match few_plain_pairs(raw) {
            Some((few, len)) => Query {
                pairs: Pairs::Few(few, len),
            },
            // Something to decode, or more pairs than a cached request has.
            None => Query {
                pairs: Pairs::Decoded(form_urlencoded::parse(raw.as_bytes()).collect()),
            },
        }
    }

    /// As `parse`, owning its values (for requests that keep the query).
    pub fn parse_owned(raw: &str) -> Query<'static> {
        Query {
            pairs: Pairs::Decoded(
                form_urlencoded::parse(raw.as_bytes())
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                    .collect(),
            ),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        match &self.pairs {
            Pairs::Few(pairs, len) => pairs[..*len]
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v),
            Pairs::Decoded(pairs) => pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_ref()),
        }
    }
}

/// A query with nothing to decode (no `%`, no `+`) and at most `FEW` pairs, split as
/// `form_urlencoded` does: empty pairs skipped, the name ending at the first `=`, a pair without
/// one having an empty value. `None` for any other query. Byte by byte in one pass (`str::split`
/// costs several times as much on a query this short); `&` and `=` are ASCII, so every cut is
/// on a character boundary.
fn few_plain_pairs(raw: &str) -> Option<([(&str, &str); FEW], usize)> {
    let bytes = raw.as_bytes();
    let mut few = [("", ""); FEW];
    let mut len = 0;
    let mut start = 0;
    let mut equals = None;
    for at in 0..=bytes.len() {
        match bytes.get(at) {
            Some(b'%' | b'+') => return None,
            Some(b'=') if equals.is_none() => equals = Some(at),
            Some(b'&') | None => {
                if at > start {
                    let pair = match equals {
                        Some(eq) => (&raw[start..eq], &raw[eq + 1..at]),
                        None => (&raw[start..at], ""),
                    };
                    *few.get_mut(len)? = pair;
                    len += 1;
                }
                start = at + 1;
                equals = None;
            }
            Some(_) => {}
        }
    }
    Some((few, len))
}

/// The state, cloned into each request.
pub fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// GET routes also answer HEAD (hyper leaves the body out).
pub const GET_ONLY: &str = "GET, HEAD";

pub fn require_get(method: &Method) -> Result<(), ApiError> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allow: GET_ONLY })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_and_without_trailing_slash() {
        let parts = ["api", "movies", "{}", "recommendations"];
        assert_eq!(
            match_path(&parts, "/api/movies/550/recommendations/"),
            Some(vec!["550".to_owned()])
        );
        assert_eq!(
            match_path(&parts, "/api/movies/550/recommendations"),
            Some(vec!["550".to_owned()])
        );
        assert_eq!(match_path(&parts, "/api/movies//recommendations/"), None);
        assert_eq!(
            match_path(&parts, "/api/movies/550/recommendations/x"),
            None
        );
        assert_eq!(match_path(&parts, "/api/movies/550"), None);
        assert_eq!(
            match_path(&["a", "{}"], "/a/b%20c+d"),
            Some(vec!["b c+d".to_owned()])
        );
    }

    #[test]
    fn paths_are_cut_as_str_split_would() {
        for path in [
            "",
            "/",
            "//",
            "a",
            "/a",
            "a/",
            "/a/",
            "/a//b/",
            "/api/movies/550/",
            "é/ü/",
            "///x",
        ] {
            let trimmed = path.strip_prefix('/').unwrap_or(path);
            let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
            let expected: Vec<&str> = trimmed.split('/').collect();
            let cut = PathSegments::of(path).unwrap();
            assert_eq!(&cut.segments[..cut.len], expected.as_slice(), "{path:?}");
        }
        let sixteen = "/a".repeat(MAX_SEGMENTS);
        assert!(PathSegments::of(&sixteen).is_some());
        assert!(PathSegments::of(&format!("{sixteen}/a")).is_none());
    }

    #[test]
    fn plain_queries_read_as_the_decoder_would() {
        for raw in [
            "a=1&b=2",
            "a&b=",
            "&&a=1=2&a=3",
            "",
            "page=3&time_window=day&x",
            "=1&a",
            "é=ü&a=ß&&=&b",
            "a=&=x&b==",
        ] {
            let plain = Query::parse(raw);
            assert!(matches!(plain.pairs, Pairs::Few(..)));
            let decoded = Query::parse_owned(raw);
            for name in ["a", "b", "x", "é", "page", "time_window", "", "missing"] {
                assert_eq!(plain.get(name), decoded.get(name), "{raw} {name}");
            }
        }
    }

    #[test]
    fn long_plain_queries_read_as_the_decoder_would() {
        let raw = "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&a=9&i=10&j";
        let plain = Query::parse(raw);
        assert!(matches!(plain.pairs, Pairs::Decoded(_)));
        let decoded = Query::parse_owned(raw);
        for name in ["a", "b", "h", "i", "j", "missing"] {
            assert_eq!(plain.get(name), decoded.get(name), "{name}");
        }
        let eight = Query::parse("a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8");
        assert!(matches!(eight.pairs, Pairs::Few(_, 8)));
        assert_eq!(eight.get("h"), Some("8"));
    }

    #[test]
    fn first_query_value_wins() {
        let q = Query::parse("page=2&page=3&query=a+b%21");
        assert_eq!(q.get("page"), Some("2"));
        assert_eq!(q.get("query"), Some("a b!"));
        assert_eq!(q.get("missing"), None);
    }
}
