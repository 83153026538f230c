//! Application settings: JSON values by code.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::DbError;

pub use crate::domain::setting::{Setting, SettingFields};

const COLUMNS: &str = "id, setting_code, value, description, is_active, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Setting> {
    Ok(Setting {
        id: row.get(0)?,
        setting_code: row.get(1)?,
        value: row.get(2)?,
        description: row.get(3)?,
        is_active: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Setting>, DbError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM settings ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<Setting>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM settings WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn active_by_code(conn: &Connection, code: &str) -> Result<Option<Setting>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM settings WHERE setting_code = ?1 AND is_active = 1"),
            [code],
            from_row,
        )
        .optional()?)
}

/// Inserts; a taken code fails with a UNIQUE violation.
pub fn insert(conn: &Connection, fields: &SettingFields, now_ms: i64) -> Result<Setting, DbError> {
    conn.execute(
        "INSERT INTO settings (setting_code, value, description, is_active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            fields.setting_code,
            fields.value,
            fields.description,
            fields.is_active,
            now_ms
        ],
    )?;
    by_id(conn, conn.last_insert_rowid())?
        .ok_or_else(|| DbError::Task("inserted setting vanished".to_owned()))
}

/// Replaces every field of setting `id`; `None` when it does not exist.
pub fn update(
    conn: &Connection,
    id: i64,
    fields: &SettingFields,
    now_ms: i64,
) -> Result<Option<Setting>, DbError> {
    let changed = conn.execute(
        "UPDATE settings SET setting_code = ?1, value = ?2, description = ?3, is_active = ?4,
         updated_at = ?5 WHERE id = ?6",
        params![
            fields.setting_code,
            fields.value,
            fields.description,
            fields.is_active,
            now_ms,
            id
        ],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    by_id(conn, id)
}

pub fn delete(conn: &Connection, id: i64) -> Result<bool, DbError> {
    Ok(conn.execute("DELETE FROM settings WHERE id = ?1", [id])? == 1)
}
