//! Users and their refresh tokens, as `db/users.rs` keeps them in SQLite.

use tokio_postgres::Row;

use super::PgStore;
use crate::db::DbError;
use crate::db::users::{User, username_key};

const COLUMNS: &str =
    "id, username, email, password_hash, is_active, is_staff, date_joined, last_login";

fn from_row(row: &Row) -> User {
    User {
        id: row.get(0),
        username: row.get(1),
        email: row.get(2),
        password_hash: row.get(3),
        is_active: row.get(4),
        is_staff: row.get(5),
        date_joined: row.get(6),
        last_login: row.get(7),
    }
}

impl PgStore {
    /// Inserts a user; a taken username (in any letter case) is `DbError::Duplicate`.
    pub async fn insert_user(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
        is_staff: bool,
        now_ms: i64,
    ) -> Result<User, DbError> {
        let sql = format!(
            "INSERT INTO users (username, username_key, email, password_hash, is_staff, date_joined)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        );
        let key = username_key(username);
        self.with(async |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query_one(
                &st,
                &[&username, &key, &email, &password_hash, &is_staff, &now_ms],
            )
            .await
        })
        .await
        .map(|row| from_row(&row))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        self.with(async |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query_opt(&st, &[&id]).await
        })
        .await
        .map(|row| row.as_ref().map(from_row))
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE username_key = $1");
        let key = username_key(username);
        self.with(async |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query_opt(&st, &[&key]).await
        })
        .await
        .map(|row| row.as_ref().map(from_row))
    }

    pub async fn list_users(&self) -> Result<Vec<User>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY id");
        self.with(async |c| c.query(&sql, &[]).await)
            .await
            .map(|rows| rows.iter().map(from_row).collect())
    }

    pub async fn touch_login(&self, id: i64, now_ms: i64) -> Result<(), DbError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("UPDATE users SET last_login = $1 WHERE id = $2")
                .await?;
            c.execute(&st, &[&now_ms, &id]).await
        })
        .await
        .map(drop)
    }

    /// Grants or revokes staff; `false` when there is no such user.
    pub async fn set_staff(&self, username: &str, is_staff: bool) -> Result<bool, DbError> {
        let key = username_key(username);
        self.with(async |c| {
            c.execute(
                "UPDATE users SET is_staff = $1 WHERE username_key = $2",
                &[&is_staff, &key],
            )
            .await
        })
        .await
        .map(|changed| changed == 1)
    }

    /// The user and how many favorites they have, read in one statement.
    pub async fn profile(&self, user_id: i64) -> Result<(Option<User>, i64), DbError> {
        let sql = format!(
            "SELECT {COLUMNS}, (SELECT COUNT(*) FROM favorites WHERE user_id = $1)
             FROM users WHERE id = $1"
        );
        self.with(async |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query_opt(&st, &[&user_id]).await
        })
        .await
        .map(|row| match row {
            Some(row) => (Some(from_row(&row)), row.get(8)),
            None => (None, 0),
        })
    }

    pub async fn store_refresh(
        &self,
        jti: &str,
        user_id: i64,
        expires_at_ms: i64,
    ) -> Result<(), DbError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO refresh_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3)",
                )
                .await?;
            c.execute(&st, &[&jti, &user_id, &expires_at_ms]).await
        })
        .await
        .map(drop)
    }

    /// Revokes a live refresh token of `user_id` in one atomic UPDATE (see
    /// `db::users::revoke_refresh`).
    pub async fn revoke_refresh(
        &self,
        jti: &str,
        user_id: i64,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        self.with(async |c| {
            let st = c
                .prepare_cached(
                    "UPDATE refresh_tokens SET revoked_at = $1
                     WHERE jti = $2 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $1",
                )
                .await?;
            c.execute(&st, &[&now_ms, &jti, &user_id]).await
        })
        .await
        .map(|changed| changed == 1)
    }
}
