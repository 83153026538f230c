//! Everything an account database holds, read from SQLite in one consistent snapshot, for
//! `reelcache db migrate-to` (`PgStore::import` writes it into PostgreSQL).

use rusqlite::params;

use super::users::User;
use super::{Database, DbError, settings::Setting};

/// A favorite as stored: by user id (the API's `Favorite` names the user instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FavoriteRow {
    pub id: i64,
    pub user_id: i64,
    pub tmdb_id: i64,
    pub title: String,
    pub poster_path: Option<String>,
    pub overview: String,
    pub release_date: Option<String>,
    pub created_at: i64,
}

/// A refresh token that can still be used (neither revoked nor expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    pub jti: String,
    pub user_id: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AccountData {
    pub users: Vec<User>,
    pub refresh_tokens: Vec<RefreshRow>,
    pub favorites: Vec<FavoriteRow>,
    pub settings: Vec<Setting>,
}

impl AccountData {
    /// (users, refresh tokens, favorites, settings).
    pub fn counts(&self) -> [usize; 4] {
        [
            self.users.len(),
            self.refresh_tokens.len(),
            self.favorites.len(),
            self.settings.len(),
        ]
    }
}

impl Database {
    /// Every user (with its password hash), every live refresh token at `now_ms`, every
    /// favorite and setting, read in one transaction. Blocking.
    pub fn export(&self, now_ms: i64) -> Result<AccountData, DbError> {
        self.call_blocking(|conn| {
            let tx = conn.transaction()?;
            let users = super::users::list(&tx)?;
            let refresh_tokens = tx
                .prepare(
                    "SELECT jti, user_id, expires_at FROM refresh_tokens
                     WHERE revoked_at IS NULL AND expires_at > ?1 ORDER BY jti",
                )?
                .query_map(params![now_ms], |row| {
                    Ok(RefreshRow {
                        jti: row.get(0)?,
                        user_id: row.get(1)?,
                        expires_at: row.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let favorites = tx
                .prepare(
                    "SELECT id, user_id, tmdb_id, title, poster_path, overview, release_date,
                     created_at FROM favorites ORDER BY id",
                )?
                .query_map([], |row| {
                    Ok(FavoriteRow {
                        id: row.get(0)?,
                        user_id: row.get(1)?,
                        tmdb_id: row.get(2)?,
                        title: row.get(3)?,
                        poster_path: row.get(4)?,
                        overview: row.get(5)?,
                        release_date: row.get(6)?,
                        created_at: row.get(7)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let settings = super::settings::list(&tx)?;
            tx.commit()?;
            Ok(AccountData {
                users,
                refresh_tokens,
                favorites,
                settings,
            })
        })
    }
}
