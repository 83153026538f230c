//! The numbers of one page of a TMDB list, as the TMDB client reads them and the cache envelope
//! stores them (bincode-encoded inside `EntryMeta`: the field order is part of the entry format,
//! docs/FORMATS.md).

use bincode::{Decode, Encode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct ListMeta {
    /// TMDB `page`.
    pub page: u32,
    /// TMDB `total_pages`, as TMDB sent it (it may exceed 500).
    pub total_pages: u32,
    /// TMDB `total_results`.
    pub total_results: u64,
    /// Number of items in `results`.
    pub items: u32,
}
