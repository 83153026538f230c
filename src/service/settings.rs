//! `SettingService`: application settings by id and by code, in the account database. Reading
//! takes a signed-in user and changing takes staff: the HTTP layer checks who asks, this says
//! what is stored.

use crate::db::{AccountStore, DbError, now_ms};
use crate::domain::setting::{Setting, SettingFields};
use crate::error::ApiError;

#[derive(Clone)]
pub struct SettingService {
    db: AccountStore,
}

fn not_found() -> ApiError {
    ApiError::NotFound("Setting not found".to_owned())
}

/// A taken code is the client's conflict; anything else is the database's failure.
fn conflict_or(e: DbError) -> ApiError {
    if e.is_unique_violation() {
        ApiError::Conflict("A setting with this setting_code already exists".to_owned())
    } else {
        e.into()
    }
}

impl SettingService {
    pub fn new(db: AccountStore) -> SettingService {
        SettingService { db }
    }

    pub async fn list(&self) -> Result<Vec<Setting>, ApiError> {
        Ok(self.db.list_settings().await?)
    }

    pub async fn get(&self, id: i64) -> Result<Setting, ApiError> {
        self.db.setting_by_id(id).await?.ok_or_else(not_found)
    }

    /// The active setting with this code.
    pub async fn active_by_code(&self, code: String) -> Result<Setting, ApiError> {
        self.db
            .active_setting(code)
            .await?
            .ok_or_else(|| ApiError::NotFound("No active setting with this code".to_owned()))
    }

    pub async fn create(&self, fields: SettingFields) -> Result<Setting, ApiError> {
        self.db
            .insert_setting(fields, now_ms())
            .await
            .map_err(conflict_or)
    }

    pub async fn update(&self, id: i64, fields: SettingFields) -> Result<Setting, ApiError> {
        self.db
            .update_setting(id, fields, now_ms())
            .await
            .map_err(conflict_or)?
            .ok_or_else(not_found)
    }

    pub async fn delete(&self, id: i64) -> Result<(), ApiError> {
        self.db.delete_setting(id).await?;
        Ok(())
    }
}
