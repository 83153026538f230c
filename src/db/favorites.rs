//! Favorites: one row per (user, TMDB movie).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::DbError;

pub use crate::domain::favorite::{Favorite, NewFavorite};

const SELECT: &str = "SELECT f.id, u.username, f.tmdb_id, f.title, f.poster_path, f.overview,
    f.release_date, f.created_at FROM favorites f JOIN users u ON u.id = f.user_id";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Favorite> {
    Ok(Favorite {
        id: row.get(0)?,
        username: row.get(1)?,
        tmdb_id: row.get(2)?,
        title: row.get(3)?,
        poster_path: row.get(4)?,
        overview: row.get(5)?,
        release_date: row.get(6)?,
        created_at: row.get(7)?,
    })
}

/// Adds a favorite unless this user already has this movie. Returns the row and whether it was
/// created. `INSERT ... ON CONFLICT DO NOTHING` makes concurrent adds leave exactly one row.
pub fn add(
    conn: &Connection,
    user_id: i64,
    new: &NewFavorite,
    now_ms: i64,
) -> Result<(Favorite, bool), DbError> {
    let inserted = conn.execute(
        "INSERT INTO favorites (user_id, tmdb_id, title, poster_path, overview, release_date, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (user_id, tmdb_id) DO NOTHING",
        params![
            user_id,
            new.tmdb_id,
            new.title,
            new.poster_path,
            new.overview,
            new.release_date,
            now_ms
        ],
    )?;
    let favorite = by_tmdb_id(conn, user_id, new.tmdb_id)?
        .ok_or_else(|| DbError::Task("favorite vanished after insert".to_owned()))?;
    Ok((favorite, inserted == 1))
}

pub fn by_tmdb_id(
    conn: &Connection,
    user_id: i64,
    tmdb_id: i64,
) -> Result<Option<Favorite>, DbError> {
    Ok(conn
        .query_row(
            &format!("{SELECT} WHERE f.user_id = ?1 AND f.tmdb_id = ?2"),
            params![user_id, tmdb_id],
            from_row,
        )
        .optional()?)
}

/// Removes favorite `id` if it belongs to `user_id`.
pub fn remove(conn: &Connection, user_id: i64, id: i64) -> Result<bool, DbError> {
    let removed = conn.execute(
        "DELETE FROM favorites WHERE id = ?1 AND user_id = ?2",
        params![id, user_id],
    )?;
    Ok(removed == 1)
}

/// One page, newest first (ties by id, newest first), and the total count.
pub fn page(
    conn: &Connection,
    user_id: i64,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Favorite>, i64), DbError> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM favorites WHERE user_id = ?1",
        [user_id],
        |row| row.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE f.user_id = ?1 ORDER BY f.created_at DESC, f.id DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt
        .query_map(params![user_id, limit, offset], from_row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total))
}
