//! Validation of TMDB bodies. Only a well-formed document of the expected shape is ever stored;
//! the parts kept are byte slices of TMDB's own text, so nothing is re-serialised.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::TmdbError;
use crate::domain::list::ListMeta;

/// A validated paged list: its numbers and the bytes of its `results` array.
#[derive(Debug, Clone)]
pub struct ListBody {
    pub meta: ListMeta,
    pub results: Bytes,
}

/// Read in one pass: the items are kept as slices of the text, and the `results` array is cut out
/// around them afterwards.
#[derive(Deserialize)]
struct PagedList<'a> {
    page: u32,
    #[serde(borrow)]
    results: Vec<&'a RawValue>,
    total_pages: u32,
    total_results: u64,
}

fn invalid(reason: impl Into<String>) -> TmdbError {
    TmdbError::InvalidBody(reason.into())
}

/// `{"page", "results": [objects], "total_pages", "total_results"}`.
pub fn parse_list(body: &Bytes) -> Result<ListBody, TmdbError> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("not UTF-8"))?;
    let list: PagedList<'_> =
        serde_json::from_str(text).map_err(|e| invalid(format!("not a paged list: {e}")))?;
    let items = &list.results;
    if let Some(bad) = items.iter().position(|item| !item.get().starts_with('{')) {
        return Err(invalid(format!("`results[{bad}]` is not an object")));
    }
    let meta = ListMeta {
        page: list.page,
        total_pages: list.total_pages,
        total_results: list.total_results,
        items: items.len() as u32,
    };
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        return Ok(ListBody {
            meta,
            results: Bytes::from_static(b"[]"),
        });
    };
    // The parser has checked the grammar: only whitespace separates the first item from the
    // array's `[` and the last from its `]`.
    let offset = |item: &RawValue| item.get().as_ptr() as usize - text.as_ptr() as usize;
    let open = text[..offset(first)]
        .trim_end_matches(JSON_WHITESPACE)
        .len()
        .checked_sub(1)
        .filter(|&i| text.as_bytes()[i] == b'[');
    let after_last = offset(last) + last.get().len();
    let close = text[after_last..]
        .find(|c: char| !JSON_WHITESPACE.contains(&c))
        .map(|i| after_last + i)
        .filter(|&i| text.as_bytes()[i] == b']');
    let (Some(open), Some(close)) = (open, close) else {
        return Err(invalid("`results` is not an array"));
    };
    Ok(ListBody {
        meta,
        results: body.slice(open..close + 1),
    })
}

const JSON_WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// A single JSON object (movie details), trimmed of surrounding whitespace.
pub fn parse_object(body: &Bytes) -> Result<Bytes, TmdbError> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("not UTF-8"))?;
    let raw: &RawValue =
        serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    if !raw.get().starts_with('{') {
        return Err(invalid("not a JSON object"));
    }
    let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
    Ok(body.slice(start..start + raw.get().len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_results_are_sliced_verbatim() {
        let body = Bytes::from_static(
            br#"{"page":2,"results":[{"id":1,"vote_average":7}, {"id":2}],"total_pages":38029,"total_results":760569}"#,
        );
        let list = parse_list(&body).unwrap();
        assert_eq!(
            &list.results[..],
            br#"[{"id":1,"vote_average":7}, {"id":2}]"#
        );
        assert_eq!(list.meta.items, 2);
        assert_eq!(list.meta.total_pages, 38029);
    }

    #[test]
    fn arrays_are_cut_out_whatever_the_spacing() {
        let body = Bytes::from_static(
            b"{\"results\" : [ \n{\"id\":1} ,\t{\"id\":[2]}\r\n] , \"page\":1,\"total_pages\":1,\"total_results\":2}",
        );
        let list = parse_list(&body).unwrap();
        assert_eq!(&list.results[..], b"[ \n{\"id\":1} ,\t{\"id\":[2]}\r\n]");
        assert_eq!(list.meta.items, 2);
        let empty =
            Bytes::from_static(br#"{"page":1,"results":[ ],"total_pages":0,"total_results":0}"#);
        let list = parse_list(&empty).unwrap();
        assert_eq!((&list.results[..], list.meta.items), (&b"[]"[..], 0));
    }

    #[test]
    fn malformed_lists_are_refused() {
        for bad in [
            &br#"{"page":1,"results":[{"id":1}],"total_pages":1"#[..],
            br#"{"page":1,"results":{},"total_pages":1,"total_results":0}"#,
            br#"{"page":1,"results":[1],"total_pages":1,"total_results":1}"#,
            br#"{"page":1,"results":[{}],"results":[{}],"total_pages":1,"total_results":1}"#,
            br#"{"page":1,"results":[{},],"total_pages":1,"total_results":1}"#,
            br#"<html>busy</html>"#,
            br#"{"success":false,"status_code":7}"#,
        ] {
            assert!(parse_list(&Bytes::from_static(bad)).is_err());
        }
    }

    #[test]
    fn objects_must_be_objects() {
        assert_eq!(
            &parse_object(&Bytes::from_static(b" {\"id\":550} \n")).unwrap()[..],
            b"{\"id\":550}"
        );
        assert!(parse_object(&Bytes::from_static(b"[1]")).is_err());
        assert!(parse_object(&Bytes::from_static(b"{\"id\":")).is_err());
    }
}
