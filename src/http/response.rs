//! Writing a served TMDB document: the success envelope around the payload bytes, pagination
//! links, and the caching headers (`X-Cache`, `Cache-Status`, `Age`, `ETag`, `Cache-Control`,
//! 304).

use std::fmt::Write as _;

use warp::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::domain::MAX_PAGE;
use crate::domain::coding::ContentCoding;
use crate::domain::list::ListMeta;
use crate::service::movies::{CacheOutcome, Freshness, Served};
use crate::service::state::AppState;

const DATA_PREFIX: &[u8] = b"{\"success\":true,\"data\":";
const OBJECT_SUFFIX: &[u8] = b"}";
/// Made once: a header name from a string is parsed on every use.
pub(super) static X_CACHE: HeaderName = HeaderName::from_static("x-cache");
static CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// RFC 9211 `Cache-Status`, beside `X-Cache`: `reelcache; hit; ttl=N` (seconds of freshness
/// left), `reelcache; fwd=miss[; collapsed][; stored; ttl=N]`, `reelcache; fwd=stale; ttl=-N;
/// detail=revalidating|upstream-error|offline` (N seconds past expiry), `reelcache;
/// fwd=bypass[; collapsed]` (search and popular, asked of TMDB every time).
fn cache_status(served: &Served) -> HeaderValue {
    let mut out = String::with_capacity(64);
    out.push_str("reelcache; ");
    out.push_str(match served.outcome {
        CacheOutcome::Hit => "hit",
        CacheOutcome::Miss => "fwd=miss",
        CacheOutcome::Stale => "fwd=stale",
        CacheOutcome::Bypass => "fwd=bypass",
    });
    if served.collapsed {
        out.push_str("; collapsed");
    }
    if served.outcome == CacheOutcome::Miss && served.stored() {
        out.push_str("; stored");
    }
    if let Some(meta) = served.freshness()
        && served.stored()
    {
        let mut digits = itoa::Buffer::new();
        out.push_str("; ttl=");
        if served.now_ms < meta.expires_at_ms {
            // Rounded up, as max-age.
            let left = (meta.expires_at_ms - served.now_ms).div_ceil(1000);
            out.push_str(digits.format(left));
        } else {
            out.push('-');
            out.push_str(digits.format((served.now_ms - meta.expires_at_ms) / 1000));
        }
    }
    if let Some(reason) = served.stale_reason {
        out.push_str("; detail=");
        out.push_str(reason.as_str());
    }
    HeaderValue::from_str(&out).expect("ascii header")
}

/// The canonical form of a list request, for `next`/`previous`: the path and the parameters other
/// than `page`, in a fixed order, so every request for one page gets the same links.
pub struct ListLinks<'a> {
    pub path: &'a str,
    pub params: Vec<(&'static str, &'a str)>,
}

impl ListLinks<'_> {
    fn url(&self, base: Option<&str>, page: u32) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.params {
            query.append_pair(name, value);
        }
        query.append_pair("page", &page.to_string());
        format!("{}{}?{}", base.unwrap_or(""), self.path, query.finish())
    }
}

/// `,"pagination":{...}}`: everything after the `data` array.
fn list_suffix(meta: &ListMeta, links: &ListLinks<'_>, base: Option<&str>) -> Vec<u8> {
    let last = meta.total_pages.min(MAX_PAGE);
    let link = |page: Option<u32>| match page {
        Some(page) => serde_json::to_string(&links.url(base, page)).expect("strings serialise"),
        None => "null".to_owned(),
    };
    let next = (meta.page < last).then(|| meta.page + 1);
    let previous = (meta.page > 1).then(|| meta.page - 1);
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        ",\"pagination\":{{\"count\":{},\"next\":{},\"previous\":{},\"current_page\":{},\
         \"total_pages\":{},\"page_size\":{}}}}}",
        meta.total_results,
        link(next),
        link(previous),
        meta.page,
        last,
        meta.items,
    );
    out.into_bytes()
}

/// The strong validator of a rendered body in a coding: 16 hex digits, then the coding's
/// suffix (`-gz`, `-zst`; none for identity), in quotes. Each coding of a body is its own
/// representation, with its own validator (RFC 9110 §8.8.3).
fn etag(meta: &Freshness, salt: u64, coding: ContentCoding) -> String {
    let mut out = String::with_capacity(22);
    out.push('"');
    out.push_str(&crate::hex::lower(u128::from(meta.etag ^ salt), 16));
    out.push_str(coding.etag_suffix());
    out.push('"');
    out
}

/// `public, max-age=N`.
fn cache_control(max_age: u64) -> HeaderValue {
    let mut digits = itoa::Buffer::new();
    let value = [b"public, max-age=", digits.format(max_age).as_bytes()].concat();
    HeaderValue::from_bytes(&value).expect("ascii header")
}

/// RFC 9110 weak comparison, as `If-None-Match` requires.
pub(super) fn matches_if_none_match(header: Option<&str>, etag: &str) -> bool {
    let Some(value) = header else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// What a request asks of a movie answer besides its path: `If-None-Match` and the coding
/// its `Accept-Encoding` prefers.
#[derive(Debug, Clone, Copy)]
pub struct Conditions<'a> {
    pub if_none_match: Option<&'a str>,
    pub coding: ContentCoding,
}

impl<'a> Conditions<'a> {
    /// From the request's headers; an `Accept-Encoding` that is not text asks for nothing.
    pub fn of(headers: &'a HeaderMap, if_none_match: Option<&'a str>) -> Conditions<'a> {
        let accept = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok());
        Conditions {
            if_none_match,
            coding: ContentCoding::negotiate(accept),
        }
    }
}

/// Writes `served`; `links` is given for list endpoints. A hot hit goes in the coding the
/// request prefers (its compressed form made once per entry), with `Vary: Accept-Encoding` on
/// every cacheable answer.
pub fn movie_response(
    state: &AppState,
    served: Served,
    links: Option<&ListLinks<'_>>,
    conditions: Conditions<'_>,
) -> warp::reply::Response {
    let if_none_match = conditions.if_none_match;
    // A hot hit's body in the coding asked for (made once per entry); anything else is
    // rendered below, as it is.
    let coded = state.movies.coded(&served, conditions.coding);
    let coding = coded
        .as_ref()
        .map_or(ContentCoding::Identity, |(_, sent)| *sent);
    // Sized for everything added here and by the layers around (request id, security headers).
    let mut headers = HeaderMap::with_capacity(14);
    headers.insert(&X_CACHE, HeaderValue::from_static(served.outcome.as_str()));
    headers.insert(&CACHE_STATUS, cache_status(&served));
    let mut not_modified = false;
    match &served.freshness() {
        Some(meta) => {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            let tag = etag(meta, state.etag_salt, coding);
            not_modified = matches_if_none_match(if_none_match, &tag);
            // Rounded up: an entry stored a few milliseconds ago still has its whole TTL ahead.
            let max_age = meta
                .expires_at_ms
                .saturating_sub(served.now_ms)
                .div_ceil(1000);
            headers.insert(header::CACHE_CONTROL, cache_control(max_age));
            headers.insert(
                header::ETAG,
                HeaderValue::from_str(&tag).expect("hex is a valid header"),
            );
            if served.outcome != CacheOutcome::Miss {
                let age = served.now_ms.saturating_sub(meta.stored_at_ms) / 1000;
                headers.insert(header::AGE, HeaderValue::from(age));
            }
        }
        None => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }

    if not_modified {
        let mut response = warp::reply::Response::new(bytes::Bytes::new().into());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.headers_mut() = headers;
        return response;
    }

    let body = match coded {
        Some((body, sent)) => {
            if let Some(name) = sent.header() {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
            }
            body
        }
        None => {
            let suffix = |list: Option<&ListMeta>| match (list, links) {
                (Some(meta), Some(links)) => list_suffix(meta, links, state.public_url.as_deref()),
                _ => OBJECT_SUFFIX.to_vec(),
            };
            match state.movies.render(&served, DATA_PREFIX, suffix) {
                Ok(body) => body,
                Err(e) => return e.into_response(),
            }
        }
    };
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut response = warp::reply::Response::new(body.into());
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(page: u32, total_pages: u32) -> ListMeta {
        ListMeta {
            page,
            total_pages,
            total_results: 9826,
            items: 20,
        }
    }

    fn suffix_json(meta: &ListMeta, base: Option<&str>) -> serde_json::Value {
        let links = ListLinks {
            path: "/api/movies/trending/",
            params: vec![("time_window", "day")],
        };
        let suffix = list_suffix(meta, &links, base);
        let doc = format!("{{\"data\":[]{}", String::from_utf8(suffix).unwrap());
        serde_json::from_str(&doc).unwrap()
    }

    #[test]
    fn links_point_to_neighbouring_pages() {
        let v = suffix_json(&meta(2, 492), None);
        let p = &v["pagination"];
        assert_eq!(p["next"], "/api/movies/trending/?time_window=day&page=3");
        assert_eq!(
            p["previous"],
            "/api/movies/trending/?time_window=day&page=1"
        );
        assert_eq!(p["current_page"], 2);
        assert_eq!(p["count"], 9826);
        assert_eq!(p["page_size"], 20);
    }

    #[test]
    fn ends_have_null_links_and_total_pages_is_capped() {
        let first = suffix_json(&meta(1, 1), Some("https://m.example"));
        assert!(first["pagination"]["next"].is_null());
        assert!(first["pagination"]["previous"].is_null());
        let last = suffix_json(&meta(500, 38029), Some("https://m.example"));
        assert_eq!(last["pagination"]["total_pages"], 500);
        assert!(last["pagination"]["next"].is_null());
        assert_eq!(
            last["pagination"]["previous"],
            "https://m.example/api/movies/trending/?time_window=day&page=499"
        );
    }

    #[test]
    fn etags_are_sixteen_quoted_hex_digits() {
        let mut meta = Freshness {
            stored_at_ms: 0,
            expires_at_ms: 0,
            etag: 0xab,
        };
        assert_eq!(
            etag(&meta, 0, ContentCoding::Identity),
            "\"00000000000000ab\""
        );
        assert_eq!(
            etag(&meta, 0, ContentCoding::Gzip),
            "\"00000000000000ab-gz\""
        );
        assert_eq!(
            etag(&meta, 0, ContentCoding::Zstd),
            "\"00000000000000ab-zst\""
        );
        meta.etag = u64::MAX;
        assert_eq!(
            etag(&meta, 0xf, ContentCoding::Identity),
            "\"fffffffffffffff0\""
        );
        assert_eq!(cache_control(3600), "public, max-age=3600");
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let tag = "\"00000000000000ab\"";
        assert!(matches_if_none_match(Some("\"00000000000000ab\""), tag));
        assert!(matches_if_none_match(Some("W/\"00000000000000ab\""), tag));
        assert!(matches_if_none_match(
            Some("\"x\", \"00000000000000ab\""),
            tag
        ));
        assert!(matches_if_none_match(Some("*"), tag));
        assert!(!matches_if_none_match(Some("\"00000000000000ac\""), tag));
        assert!(!matches_if_none_match(None, tag));
    }
}
