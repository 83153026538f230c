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
    warp::path::full().and_then(move |full: FullPath| {
        let parts = parts.clone();
        async move { match_path(&parts, full.as_str()).ok_or_else(warp::reject::not_found) }
    })
}

/// Matches `parts` (the pattern's segments; a `{...}` segment, such as `{}` or `{movie_id}`,
/// captures) against the whole path, with or without a trailing slash.
pub fn match_path(parts: &[&str], path: &str) -> Option<Vec<String>> {
    match_segments(parts.iter().copied(), path)
}

/// [`match_path`] with the pattern as the API table writes it (`/api/movies/{movie_id}/`).
pub fn match_pattern(pattern: &str, path: &str) -> Option<Vec<String>> {
    match_segments(pattern.trim_matches('/').split('/'), path)
}

fn match_segments<'p>(parts: impl Iterator<Item = &'p str>, path: &str) -> Option<Vec<String>> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut segments = path.split('/');
    let mut captured = Vec::new();
    for part in parts {
        let segment = segments.next()?;
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
    segments.next().is_none().then_some(captured)
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

enum Pairs<'a> {
    /// A query with nothing to decode (no `%`, no `+`): read in place, no allocation. Most are.
    Plain(&'a str),
    Decoded(Vec<(Cow<'a, str>, Cow<'a, str>)>),
}

impl<'a> Query<'a> {
    pub fn parse(raw: &'a str) -> Query<'a> {
        let pairs = if raw.bytes().any(|b| b == b'%' || b == b'+') {
            Pairs::Decoded(form_urlencoded::parse(raw.as_bytes()).collect())
        } else {
            Pairs::Plain(raw)
        };
        Query { pairs }
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
            // Split as `form_urlencoded` does: empty pairs skipped, the name ending at the
            // first `=`, a pair without one having an empty value.
            // Byte by byte: `&` and `=` are ASCII, so every cut is on a character boundary, and
            // a hit asks for several names of a short query (`str::split` costs more here).
            Pairs::Plain(raw) => raw
                .as_bytes()
                .split(|&b| b == b'&')
                .scan(0, |start, pair| {
                    let at = *start;
                    *start += pair.len() + 1;
                    Some((at, pair))
                })
                .find_map(|(at, pair)| {
                    let key_len = pair.iter().position(|&b| b == b'=').unwrap_or(pair.len());
                    let value = &raw[(at + key_len + 1).min(at + pair.len())..at + pair.len()];
                    (!pair.is_empty() && &pair[..key_len] == name.as_bytes()).then_some(value)
                }),
            Pairs::Decoded(pairs) => pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_ref()),
        }
    }
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
            assert!(matches!(plain.pairs, Pairs::Plain(_)));
            let decoded = Query::parse_owned(raw);
            for name in ["a", "b", "x", "é", "page", "time_window", "", "missing"] {
                assert_eq!(plain.get(name), decoded.get(name), "{raw} {name}");
            }
        }
    }

    #[test]
    fn first_query_value_wins() {
        let q = Query::parse("page=2&page=3&query=a+b%21");
        assert_eq!(q.get("page"), Some("2"));
        assert_eq!(q.get("query"), Some("a b!"));
        assert_eq!(q.get("missing"), None);
    }
}
