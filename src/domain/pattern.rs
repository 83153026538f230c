//! Character classes for the OpenAPI document's `pattern`s, spelled so that ECMA-262 (what the
//! document promises), Python's `re` (what schema fuzzers generate from) and the `regex` crate
//! (what the tests check the validators against) read them alike: no `\s`, `\d` or `\w`, whose
//! meaning differs between them, and `\uXXXX` escapes only.
//!
//! These are the *contents* of a character class: `[{SPACE}]`, `[^{SPACE}{CONTROL}]`.

/// What `str::trim` removes: Unicode White_Space, as `char::is_whitespace`.
pub const SPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// What `char::is_control` is true of: the C0 and C1 controls and DEL.
pub const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
