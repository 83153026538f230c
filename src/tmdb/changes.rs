//! TMDB's change list (`/movie/changes`): the ids of movies edited in a window of days, 100 a
//! page. Ids may be null (TMDB lists deleted or hidden entries that way): they are kept as
//! `None` for the count and skipped by the reader.

use bytes::Bytes;
use serde::Deserialize;

use super::TmdbError;

/// More results than this on one page is not TMDB's list.
const MAX_PER_PAGE: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesPage {
    pub ids: Vec<Option<u32>>,
    pub page: u32,
    pub total_pages: u32,
}

#[derive(Deserialize)]
struct Page {
    results: Vec<Item>,
    page: u32,
    total_pages: u32,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    id: Option<u64>,
}

pub fn parse_changes(body: &Bytes) -> Result<ChangesPage, TmdbError> {
    let page: Page = serde_json::from_slice(body)
        .map_err(|e| TmdbError::InvalidBody(format!("not a change list: {e}")))?;
    if page.results.len() > MAX_PER_PAGE {
        return Err(TmdbError::InvalidBody(format!(
            "a change list page of {} results",
            page.results.len()
        )));
    }
    Ok(ChangesPage {
        // An id that does not fit a movie id is no movie of ours: as a null.
        ids: page
            .results
            .iter()
            .map(|item| {
                item.id
                    .and_then(|id| u32::try_from(id).ok())
                    .filter(|id| *id > 0)
            })
            .collect(),
        page: page.page,
        total_pages: page.total_pages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_missing_ids_are_kept_as_gaps_and_junk_is_refused() {
        let body = Bytes::from_static(
            br#"{"results":[{"id":550,"adult":false},{"id":null},{"adult":true},{"id":99999999999}],"page":2,"total_pages":7,"total_results":650}"#,
        );
        let page = parse_changes(&body).unwrap();
        assert_eq!(page.ids, vec![Some(550), None, None, None]);
        assert_eq!((page.page, page.total_pages), (2, 7));
        for bad in [
            &b"{}"[..],
            b"[]",
            b"{\"results\":[{\"id\":\"x\"}],\"page\":1,\"total_pages\":1}",
        ] {
            assert!(parse_changes(&Bytes::copy_from_slice(bad)).is_err());
        }
    }
}
