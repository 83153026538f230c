//! Application settings' inputs: the code that names a setting and its description's bound,
//! stated once for the validators and the OpenAPI document.

use super::Invalid;

/// One application setting, as stored.
#[derive(Debug, Clone)]
pub struct Setting {
    pub id: i64,
    pub setting_code: String,
    /// JSON text.
    pub value: String,
    pub description: String,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A complete setting as written by POST/PUT (PATCH merges into the stored one first).
#[derive(Debug, Clone)]
pub struct SettingFields {
    pub setting_code: String,
    pub value: String,
    pub description: String,
    pub is_active: bool,
}

/// The longest setting code and description, in characters.
pub const CODE_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 1000;

/// What `code` accepts, as a pattern.
pub fn code_pattern() -> String {
    format!("^[A-Za-z0-9_-]{{1,{CODE_MAX}}}$")
}

/// A setting code: 1..=100 ASCII letters, digits, `_` and `-`.
pub fn code(raw: &str) -> Result<String, Invalid> {
    let count = raw.chars().count();
    if !(1..=CODE_MAX).contains(&count)
        || !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Invalid::new(
            "setting_code",
            format!("setting_code must be 1 to {CODE_MAX} characters of letters, digits, _ and -"),
        ));
    }
    Ok(raw.to_owned())
}

/// A description: at most 1000 characters.
pub fn description(value: &str) -> Result<(), Invalid> {
    if value.chars().count() > DESCRIPTION_MAX {
        return Err(Invalid::new(
            "description",
            format!("description must be at most {DESCRIPTION_MAX} characters"),
        ));
    }
    Ok(())
}
