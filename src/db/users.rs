//! Users and their refresh tokens.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::DbError;

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub date_joined: i64,
    pub last_login: Option<i64>,
}

const COLUMNS: &str =
    "id, username, email, password_hash, is_active, is_staff, date_joined, last_login";

fn from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        password_hash: row.get(3)?,
        is_active: row.get(4)?,
        is_staff: row.get(5)?,
        date_joined: row.get(6)?,
        last_login: row.get(7)?,
    })
}

/// The case-insensitive identity of a username.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// Inserts a user; a taken username fails with a UNIQUE violation.
pub fn insert(
    conn: &Connection,
    username: &str,
    email: &str,
    password_hash: &str,
    is_staff: bool,
    now_ms: i64,
) -> Result<User, DbError> {
    conn.execute(
        "INSERT INTO users (username, username_key, email, password_hash, is_staff, date_joined)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            username,
            username_key(username),
            email,
            password_hash,
            is_staff,
            now_ms
        ],
    )?;
    let id = conn.last_insert_rowid();
    by_id(conn, id)?.ok_or_else(|| DbError::Task("inserted user vanished".to_owned()))
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<User>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn by_username(conn: &Connection, username: &str) -> Result<Option<User>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE username_key = ?1"),
            [username_key(username)],
            from_row,
        )
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<User>, DbError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY id"))?;
    let users = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(users)
}

pub fn touch_login(conn: &Connection, id: i64, now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET last_login = ?1 WHERE id = ?2",
        params![now_ms, id],
    )?;
    Ok(())
}

/// Grants or revokes staff; `false` when there is no such user.
pub fn set_staff(conn: &Connection, username: &str, is_staff: bool) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE users SET is_staff = ?1 WHERE username_key = ?2",
        params![is_staff, username_key(username)],
    )?;
    Ok(changed == 1)
}

pub fn favorites_count(conn: &Connection, user_id: i64) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM favorites WHERE user_id = ?1",
        [user_id],
        |row| row.get(0),
    )?)
}

/// Records an issued refresh token so that it can be used once.
pub fn store_refresh(
    conn: &Connection,
    jti: &str,
    user_id: i64,
    expires_at_ms: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO refresh_tokens (jti, user_id, expires_at) VALUES (?1, ?2, ?3)",
        params![jti, user_id, expires_at_ms],
    )?;
    Ok(())
}

/// Revokes a live refresh token of `user_id`. `false` when it is unknown, someone else's, expired
/// or already revoked: one atomic UPDATE, so two concurrent uses cannot both succeed.
pub fn revoke_refresh(
    conn: &Connection,
    jti: &str,
    user_id: i64,
    now_ms: i64,
) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ?1
         WHERE jti = ?2 AND user_id = ?3 AND revoked_at IS NULL AND expires_at > ?1",
        params![now_ms, jti, user_id],
    )?;
    Ok(changed == 1)
}
