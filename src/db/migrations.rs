//! Numbered schema migrations. `PRAGMA user_version` holds how many have run; each runs once, in
//! a transaction with its version bump. Never edit a released migration: add a new one.

use std::path::Path;

use rusqlite::Connection;

use super::DbError;

const MIGRATIONS: &[&str] = &[
    // 1: users, refresh tokens, favorites, settings.
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        username      TEXT NOT NULL,
        -- lower-cased username: uniqueness is case-insensitive
        username_key  TEXT NOT NULL UNIQUE,
        email         TEXT NOT NULL DEFAULT '',
        password_hash TEXT NOT NULL,
        is_active     INTEGER NOT NULL DEFAULT 1,
        is_staff      INTEGER NOT NULL DEFAULT 0,
        date_joined   INTEGER NOT NULL,
        last_login    INTEGER
    );
    CREATE TABLE refresh_tokens (
        jti         TEXT PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at  INTEGER NOT NULL,
        revoked_at  INTEGER
    );
    CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
    CREATE TABLE favorites (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        tmdb_id      INTEGER NOT NULL,
        title        TEXT NOT NULL,
        poster_path  TEXT,
        overview     TEXT NOT NULL DEFAULT '',
        release_date TEXT,
        created_at   INTEGER NOT NULL,
        UNIQUE (user_id, tmdb_id)
    );
    CREATE INDEX favorites_newest ON favorites(user_id, created_at DESC, id DESC);
    CREATE TABLE settings (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        setting_code  TEXT NOT NULL UNIQUE,
        value         TEXT NOT NULL,
        description   TEXT NOT NULL DEFAULT '',
        is_active     INTEGER NOT NULL DEFAULT 1,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    "#,
    // 2: a random identity for this database. Per-user cache entries carry it, so instances with
    // databases of their own never read each other's entries from a shared cache.
    r#"
    CREATE TABLE instance (id TEXT NOT NULL);
    INSERT INTO instance (id) VALUES (lower(hex(randomblob(8))));
    "#,
];

/// The schema version this build creates.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub fn run(conn: &mut Connection, path: &Path) -> Result<(), DbError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current > LATEST {
        return Err(DbError::TooNew {
            path: path.to_owned(),
            found: current,
            known: LATEST,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}
