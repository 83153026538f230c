//! Application settings, as `db/settings.rs` keeps them in SQLite.

use tokio_postgres::Row;

use super::PgStore;
use crate::db::DbError;
use crate::domain::setting::{Setting, SettingFields};

const COLUMNS: &str = "id, setting_code, value, description, is_active, created_at, updated_at";

fn from_row(row: &Row) -> Setting {
    Setting {
        id: row.get(0),
        setting_code: row.get(1),
        value: row.get(2),
        description: row.get(3),
        is_active: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
    }
}

impl PgStore {
    pub async fn list_settings(&self) -> Result<Vec<Setting>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM settings ORDER BY id");
        self.with(async |c| c.query(&sql, &[]).await)
            .await
            .map(|rows| rows.iter().map(from_row).collect())
    }

    pub async fn setting_by_id(&self, id: i64) -> Result<Option<Setting>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM settings WHERE id = $1");
        self.with(async |c| c.query_opt(&sql, &[&id]).await)
            .await
            .map(|row| row.as_ref().map(from_row))
    }

    pub async fn active_setting(&self, code: &str) -> Result<Option<Setting>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM settings WHERE setting_code = $1 AND is_active");
        self.with(async |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query_opt(&st, &[&code]).await
        })
        .await
        .map(|row| row.as_ref().map(from_row))
    }

    /// Inserts; a taken code is `DbError::Duplicate`.
    pub async fn insert_setting(
        &self,
        fields: &SettingFields,
        now_ms: i64,
    ) -> Result<Setting, DbError> {
        let sql = format!(
            "INSERT INTO settings
             (setting_code, value, description, is_active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
        );
        self.with(async |c| {
            c.query_one(
                &sql,
                &[
                    &fields.setting_code,
                    &fields.value,
                    &fields.description,
                    &fields.is_active,
                    &now_ms,
                ],
            )
            .await
        })
        .await
        .map(|row| from_row(&row))
    }

    /// Replaces every field of setting `id`; `None` when it does not exist.
    pub async fn update_setting(
        &self,
        id: i64,
        fields: &SettingFields,
        now_ms: i64,
    ) -> Result<Option<Setting>, DbError> {
        let sql = format!(
            "UPDATE settings SET setting_code = $1, value = $2, description = $3,
             is_active = $4, updated_at = $5 WHERE id = $6 RETURNING {COLUMNS}"
        );
        self.with(async |c| {
            c.query_opt(
                &sql,
                &[
                    &fields.setting_code,
                    &fields.value,
                    &fields.description,
                    &fields.is_active,
                    &now_ms,
                    &id,
                ],
            )
            .await
        })
        .await
        .map(|row| row.as_ref().map(from_row))
    }

    pub async fn delete_setting(&self, id: i64) -> Result<bool, DbError> {
        self.with(async |c| {
            c.execute("DELETE FROM settings WHERE id = $1", &[&id])
                .await
        })
        .await
        .map(|n| n == 1)
    }
}
