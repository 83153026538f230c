//! `AccountStore`: the one interface the services use for accounts, whichever database holds
//! them. Each operation says once how SQLite (`Database`, statements in `users.rs`,
//! `favorites.rs`, `settings.rs`, run on the blocking pool) and PostgreSQL (`PgStore`) do it;
//! nothing above this file matches on the back end. `tests/system/account_conformance.rs` runs
//! the same tests against both.

use super::postgres::{PgStore, PoolStatus};
use super::{Database, DbError, favorites, settings, users};
use crate::domain::favorite::{Favorite, NewFavorite};
use crate::domain::setting::{Setting, SettingFields};
use users::User;

#[derive(Clone)]
pub enum AccountStore {
    Sqlite(Database),
    Postgres(PgStore),
}

impl AccountStore {
    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            AccountStore::Sqlite(_) => "sqlite",
            AccountStore::Postgres(_) => "postgres",
        }
    }

    /// The database's random identity: per-user cache entries carry it, so instances with
    /// databases of their own never read each other's entries from a shared cache.
    pub fn identity(&self) -> &str {
        match self {
            AccountStore::Sqlite(db) => db.identity(),
            AccountStore::Postgres(pg) => pg.identity(),
        }
    }

    /// The SQLite database, for what only it has (backups).
    pub fn sqlite(&self) -> Option<&Database> {
        match self {
            AccountStore::Sqlite(db) => Some(db),
            AccountStore::Postgres(_) => None,
        }
    }

    /// PostgreSQL's pool, for `/metrics`.
    pub fn pool_status(&self) -> Option<PoolStatus> {
        match self {
            AccountStore::Sqlite(_) => None,
            AccountStore::Postgres(pg) => Some(pg.pool_status()),
        }
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        match self {
            AccountStore::Sqlite(db) => db.ping().await,
            AccountStore::Postgres(pg) => pg.ping().await,
        }
    }

    /// Closes the connections (shutdown). SQLite's closes with its last handle.
    pub fn close(&self) {
        if let AccountStore::Postgres(pg) = self {
            pg.close();
        }
    }

    /// Inserts a user; a username taken in any letter case is a unique violation
    /// (`DbError::is_unique_violation`).
    pub async fn insert_user(
        &self,
        username: String,
        email: String,
        password_hash: String,
        is_staff: bool,
        now_ms: i64,
    ) -> Result<User, DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| {
                    users::insert(c, &username, &email, &password_hash, is_staff, now_ms)
                })
                .await
            }
            AccountStore::Postgres(pg) => {
                pg.insert_user(&username, &email, &password_hash, is_staff, now_ms)
                    .await
            }
        }
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(move |c| users::by_id(c, id)).await,
            AccountStore::Postgres(pg) => pg.user_by_id(id).await,
        }
    }

    pub async fn user_by_username(&self, username: String) -> Result<Option<User>, DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(move |c| users::by_username(c, &username)).await,
            AccountStore::Postgres(pg) => pg.user_by_username(&username).await,
        }
    }

    pub async fn list_users(&self) -> Result<Vec<User>, DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(|c| users::list(c)).await,
            AccountStore::Postgres(pg) => pg.list_users().await,
        }
    }

    pub async fn touch_login(&self, id: i64, now_ms: i64) -> Result<(), DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(move |c| users::touch_login(c, id, now_ms)).await,
            AccountStore::Postgres(pg) => pg.touch_login(id, now_ms).await,
        }
    }

    /// Grants or revokes staff; `false` when there is no such user.
    pub async fn set_staff(&self, username: String, is_staff: bool) -> Result<bool, DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| users::set_staff(c, &username, is_staff))
                    .await
            }
            AccountStore::Postgres(pg) => pg.set_staff(&username, is_staff).await,
        }
    }

    /// The user and how many favorites they have.
    pub async fn profile(&self, user_id: i64) -> Result<(Option<User>, i64), DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| {
                    let user = users::by_id(c, user_id)?;
                    Ok((user, users::favorites_count(c, user_id)?))
                })
                .await
            }
            AccountStore::Postgres(pg) => pg.profile(user_id).await,
        }
    }

    /// Records an issued refresh token so that it can be used once.
    pub async fn store_refresh(
        &self,
        jti: String,
        user_id: i64,
        expires_at_ms: i64,
    ) -> Result<(), DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| users::store_refresh(c, &jti, user_id, expires_at_ms))
                    .await
            }
            AccountStore::Postgres(pg) => pg.store_refresh(&jti, user_id, expires_at_ms).await,
        }
    }

    /// Revokes a live refresh token of `user_id` (logout). `false` when it is unknown, someone
    /// else's, expired or already revoked: one atomic statement, so two concurrent uses, on
    /// any instance, cannot both succeed.
    pub async fn revoke_refresh(
        &self,
        jti: String,
        user_id: i64,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| users::revoke_refresh(c, &jti, user_id, now_ms))
                    .await
            }
            AccountStore::Postgres(pg) => pg.revoke_refresh(&jti, user_id, now_ms).await,
        }
    }

    /// As `revoke_refresh`, and `true` only if the user is still active (a refresh: the token
    /// is used up either way).
    pub async fn use_refresh(
        &self,
        jti: String,
        user_id: i64,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| {
                    let ok = users::revoke_refresh(c, &jti, user_id, now_ms)?;
                    let active = users::by_id(c, user_id)?.is_some_and(|u| u.is_active);
                    Ok(ok && active)
                })
                .await
            }
            AccountStore::Postgres(pg) => {
                let ok = pg.revoke_refresh(&jti, user_id, now_ms).await?;
                let active = pg.user_by_id(user_id).await?.is_some_and(|u| u.is_active);
                Ok(ok && active)
            }
        }
    }

    /// Adds a favorite unless this user already has this movie; concurrent adds leave one row.
    /// Returns the row and whether it was created.
    pub async fn add_favorite(
        &self,
        user_id: i64,
        new: NewFavorite,
        now_ms: i64,
    ) -> Result<(Favorite, bool), DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| favorites::add(c, user_id, &new, now_ms))
                    .await
            }
            AccountStore::Postgres(pg) => pg.add_favorite(user_id, &new, now_ms).await,
        }
    }

    pub async fn favorite_by_tmdb_id(
        &self,
        user_id: i64,
        tmdb_id: i64,
    ) -> Result<Option<Favorite>, DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| favorites::by_tmdb_id(c, user_id, tmdb_id))
                    .await
            }
            AccountStore::Postgres(pg) => pg.favorite_by_tmdb_id(user_id, tmdb_id).await,
        }
    }

    /// Removes favorite `id` if it belongs to `user_id`.
    pub async fn remove_favorite(&self, user_id: i64, id: i64) -> Result<bool, DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(move |c| favorites::remove(c, user_id, id)).await,
            AccountStore::Postgres(pg) => pg.remove_favorite(user_id, id).await,
        }
    }

    /// One page, newest first (ties by id, newest first), and the total count.
    pub async fn favorites_page(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Favorite>, i64), DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| favorites::page(c, user_id, offset, limit))
                    .await
            }
            AccountStore::Postgres(pg) => pg.favorites_page(user_id, offset, limit).await,
        }
    }

    pub async fn list_settings(&self) -> Result<Vec<Setting>, DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(|c| settings::list(c)).await,
            AccountStore::Postgres(pg) => pg.list_settings().await,
        }
    }

    pub async fn setting_by_id(&self, id: i64) -> Result<Option<Setting>, DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(move |c| settings::by_id(c, id)).await,
            AccountStore::Postgres(pg) => pg.setting_by_id(id).await,
        }
    }

    pub async fn active_setting(&self, code: String) -> Result<Option<Setting>, DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(move |c| settings::active_by_code(c, &code)).await,
            AccountStore::Postgres(pg) => pg.active_setting(&code).await,
        }
    }

    /// Inserts; a taken code is a unique violation.
    pub async fn insert_setting(
        &self,
        fields: SettingFields,
        now_ms: i64,
    ) -> Result<Setting, DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| settings::insert(c, &fields, now_ms)).await
            }
            AccountStore::Postgres(pg) => pg.insert_setting(&fields, now_ms).await,
        }
    }

    /// Replaces every field of setting `id`; `None` when it does not exist.
    pub async fn update_setting(
        &self,
        id: i64,
        fields: SettingFields,
        now_ms: i64,
    ) -> Result<Option<Setting>, DbError> {
        match self {
            AccountStore::Sqlite(db) => {
                db.call(move |c| settings::update(c, id, &fields, now_ms))
                    .await
            }
            AccountStore::Postgres(pg) => pg.update_setting(id, &fields, now_ms).await,
        }
    }

    pub async fn delete_setting(&self, id: i64) -> Result<bool, DbError> {
        match self {
            AccountStore::Sqlite(db) => db.call(move |c| settings::delete(c, id)).await,
            AccountStore::Postgres(pg) => pg.delete_setting(id).await,
        }
    }
}
