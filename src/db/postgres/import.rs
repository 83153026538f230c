//! `reelcache db migrate-to`'s writing half: an exported SQLite account database written into an
//! empty PostgreSQL database in one transaction, ids kept (issued tokens name user ids), the
//! identity sequences moved past them, and the counts checked before the commit.

use super::{PgStore, pg_error};
use crate::db::DbError;
use crate::db::export::AccountData;

impl PgStore {
    /// Writes `data` into this database, which must hold no account, favorite, setting or
    /// token (else `DbError::NotEmpty`, and nothing is written). All or nothing.
    pub async fn import(&self, data: &AccountData) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // Nothing else may write meanwhile (another migrate-to, an instance already started).
        tx.batch_execute(
            "LOCK TABLE users, refresh_tokens, favorites, settings IN ACCESS EXCLUSIVE MODE",
        )
        .await
        .map_err(pg_error)?;
        let before = counts(&tx).await?;
        if before != [0; 4] {
            return Err(DbError::NotEmpty(format!(
                "it holds {} users, {} refresh tokens, {} favorites and {} settings",
                before[0], before[1], before[2], before[3]
            )));
        }
        let user = tx
            .prepare(
                "INSERT INTO users (id, username, username_key, email, password_hash, is_active,
                 is_staff, date_joined, last_login) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .await
            .map_err(pg_error)?;
        for u in &data.users {
            let key = crate::db::users::username_key(&u.username);
            tx.execute(
                &user,
                &[
                    &u.id,
                    &u.username,
                    &key,
                    &u.email,
                    &u.password_hash,
                    &u.is_active,
                    &u.is_staff,
                    &u.date_joined,
                    &u.last_login,
                ],
            )
            .await
            .map_err(pg_error)?;
        }
        let token = tx
            .prepare("INSERT INTO refresh_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3)")
            .await
            .map_err(pg_error)?;
        for t in &data.refresh_tokens {
            tx.execute(&token, &[&t.jti, &t.user_id, &t.expires_at])
                .await
                .map_err(pg_error)?;
        }
        let favorite = tx
            .prepare(
                "INSERT INTO favorites (id, user_id, tmdb_id, title, poster_path, overview,
                 release_date, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .await
            .map_err(pg_error)?;
        for f in &data.favorites {
            tx.execute(
                &favorite,
                &[
                    &f.id,
                    &f.user_id,
                    &f.tmdb_id,
                    &f.title,
                    &f.poster_path,
                    &f.overview,
                    &f.release_date,
                    &f.created_at,
                ],
            )
            .await
            .map_err(pg_error)?;
        }
        let setting = tx
            .prepare(
                "INSERT INTO settings (id, setting_code, value, description, is_active, created_at,
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(pg_error)?;
        for s in &data.settings {
            tx.execute(
                &setting,
                &[
                    &s.id,
                    &s.setting_code,
                    &s.value,
                    &s.description,
                    &s.is_active,
                    &s.created_at,
                    &s.updated_at,
                ],
            )
            .await
            .map_err(pg_error)?;
        }
        // New rows get ids after the copied ones.
        for table in ["users", "favorites", "settings"] {
            tx.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                 COALESCE(MAX(id), 0) + 1, false) FROM {table}"
            ))
            .await
            .map_err(pg_error)?;
        }
        let after = counts(&tx).await?;
        let wanted = data.counts().map(|n| n as i64);
        if after != wanted {
            return Err(DbError::Task(format!(
                "copied counts {after:?} differ from the source's {wanted:?}; nothing was kept"
            )));
        }
        tx.commit().await.map_err(pg_error)
    }
}

/// (users, refresh tokens, favorites, settings) in the database.
async fn counts(tx: &deadpool_postgres::Transaction<'_>) -> Result<[i64; 4], DbError> {
    let row = tx
        .query_one(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM refresh_tokens),
             (SELECT COUNT(*) FROM favorites), (SELECT COUNT(*) FROM settings)",
            &[],
        )
        .await
        .map_err(pg_error)?;
    Ok([row.get(0), row.get(1), row.get(2), row.get(3)])
}
