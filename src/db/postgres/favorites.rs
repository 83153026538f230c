//! Favorites, as `db/favorites.rs` keeps them in SQLite.

use tokio_postgres::Row;

use super::PgStore;
use crate::db::DbError;
use crate::domain::favorite::{Favorite, NewFavorite};

const SELECT: &str = "SELECT f.id, u.username, f.tmdb_id, f.title, f.poster_path, f.overview,
    f.release_date, f.created_at FROM favorites f JOIN users u ON u.id = f.user_id";

fn from_row(row: &Row) -> Favorite {
    Favorite {
        id: row.get(0),
        username: row.get(1),
        tmdb_id: row.get(2),
        title: row.get(3),
        poster_path: row.get(4),
        overview: row.get(5),
        release_date: row.get(6),
        created_at: row.get(7),
    }
}

impl PgStore {
    /// Adds a favorite unless this user already has this movie: `INSERT ... ON CONFLICT DO
    /// NOTHING`, so concurrent adds (from any instance) leave exactly one row. Returns the row
    /// and whether this call created it. One statement, one round trip: the inserted row, or
    /// (on a conflict) the row already there. A row committed by a concurrent add after this
    /// statement's snapshot is a conflict the statement cannot see; then a second read finds it.
    pub async fn add_favorite(
        &self,
        user_id: i64,
        new: &NewFavorite,
        now_ms: i64,
    ) -> Result<(Favorite, bool), DbError> {
        const ADD: &str = "WITH ins AS (
                INSERT INTO favorites
                (user_id, tmdb_id, title, poster_path, overview, release_date, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (user_id, tmdb_id) DO NOTHING
                RETURNING id, user_id, tmdb_id, title, poster_path, overview, release_date,
                          created_at
            ), found AS (
                SELECT ins.*, TRUE AS created FROM ins
                UNION ALL
                SELECT f.id, f.user_id, f.tmdb_id, f.title, f.poster_path, f.overview,
                       f.release_date, f.created_at, FALSE
                FROM favorites f
                WHERE f.user_id = $1 AND f.tmdb_id = $2 AND NOT EXISTS (SELECT 1 FROM ins)
            )
            SELECT found.id, u.username, found.tmdb_id, found.title, found.poster_path,
                   found.overview, found.release_date, found.created_at, found.created
            FROM found JOIN users u ON u.id = found.user_id";
        let by_tmdb_id = format!("{SELECT} WHERE f.user_id = $1 AND f.tmdb_id = $2");
        self.with(async |c| {
            let add = c.prepare_cached(ADD).await?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
                &user_id,
                &new.tmdb_id,
                &new.title,
                &new.poster_path,
                &new.overview,
                &new.release_date,
                &now_ms,
            ];
            if let Some(row) = c.query_opt(&add, &params).await? {
                let created: bool = row.get(8);
                return Ok(Some((from_row(&row), created)));
            }
            let select = c.prepare_cached(&by_tmdb_id).await?;
            let row = c.query_opt(&select, &[&user_id, &new.tmdb_id]).await?;
            Ok(row.map(|row| (from_row(&row), false)))
        })
        .await?
        // Removed by a concurrent request between the two statements.
        .ok_or_else(|| DbError::Task("favorite vanished after insert".to_owned()))
    }

    pub async fn favorite_by_tmdb_id(
        &self,
        user_id: i64,
        tmdb_id: i64,
    ) -> Result<Option<Favorite>, DbError> {
        let sql = format!("{SELECT} WHERE f.user_id = $1 AND f.tmdb_id = $2");
        self.with(async |c| {
            let st = c.prepare_cached(&sql).await?;
            c.query_opt(&st, &[&user_id, &tmdb_id]).await
        })
        .await
        .map(|row| row.as_ref().map(from_row))
    }

    /// Removes favorite `id` if it belongs to `user_id`.
    pub async fn remove_favorite(&self, user_id: i64, id: i64) -> Result<bool, DbError> {
        self.with(async |c| {
            let st = c
                .prepare_cached("DELETE FROM favorites WHERE id = $1 AND user_id = $2")
                .await?;
            c.execute(&st, &[&id, &user_id]).await
        })
        .await
        .map(|removed| removed == 1)
    }

    /// One page, newest first (ties by id, newest first), and the total count, in one
    /// statement (so from one snapshot, as SQLite's single connection reads them, and in one
    /// round trip): the count joined with the page, a row of NULLs when the page is empty.
    pub async fn favorites_page(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Favorite>, i64), DbError> {
        const PAGE: &str = "WITH total AS (SELECT COUNT(*) AS n FROM favorites WHERE user_id = $1)
            SELECT p.id, p.username, p.tmdb_id, p.title, p.poster_path, p.overview,
                   p.release_date, p.created_at, total.n
            FROM total LEFT JOIN LATERAL (
                SELECT f.id, u.username, f.tmdb_id, f.title, f.poster_path, f.overview,
                       f.release_date, f.created_at
                FROM favorites f JOIN users u ON u.id = f.user_id
                WHERE f.user_id = $1
                ORDER BY f.created_at DESC, f.id DESC LIMIT $2 OFFSET $3
            ) p ON TRUE
            ORDER BY p.created_at DESC, p.id DESC";
        let rows = self
            .with(async |c| {
                let st = c.prepare_cached(PAGE).await?;
                c.query(&st, &[&user_id, &limit, &offset]).await
            })
            .await?;
        let total = rows.first().map_or(0, |row| row.get::<_, i64>(8));
        let page = rows
            .iter()
            .filter(|row| row.get::<_, Option<i64>>(0).is_some())
            .map(from_row)
            .collect();
        Ok((page, total))
    }
}
