//! The account store: the durable source of truth (users, refresh tokens, favorites,
//! settings). [`AccountStore`] is the one interface the services use; behind it either SQLite
//! in `<data dir>/reelcache.db` (the default, [`Database`] here) or PostgreSQL (`postgres/`,
//! for several instances). Both run the same numbered migrations and keep the same constraints.
//!
//! SQLite: WAL, foreign keys, a busy timeout, `synchronous=FULL` so an acknowledged write
//! survives `kill -9`, and migrations tracked in `PRAGMA user_version`. Every call runs on
//! tokio's blocking pool.

pub mod export;
pub mod favorites;
mod migrations;
pub mod postgres;
pub mod settings;
mod store;
pub mod users;

pub use postgres::PgStore;
pub use store::AccountStore;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

pub const FILE_NAME: &str = "reelcache.db";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error(
        "database {path} was written by a newer reelcache (schema {found}, this build knows up to {known}); upgrade reelcache or use another data directory"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database task failed: {0}")]
    Task(String),
    /// PostgreSQL answered with an error (its message; never the URL).
    #[error("database: {0}")]
    Postgres(String),
    /// The database server cannot be reached, or no connection came free in time: a passing
    /// trouble, answered 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// PostgreSQL refused a write for its storage (disk full, read-only).
    #[error("database storage refuses writes: {0}")]
    Refused(String),
    /// A database that had to be empty (the target of `db migrate-to`) was not.
    #[error("the target database is not empty: {0}")]
    NotEmpty(String),
    /// A uniqueness constraint refused the write (PostgreSQL; SQLite's is its own error code).
    #[error("database: a uniqueness constraint refused the write")]
    Duplicate,
}

impl DbError {
    /// The disk refused the write (SQLITE_FULL, SQLITE_IOERR, a read-only file or directory):
    /// the operator's trouble, and a passing one. Reads go on working meanwhile.
    pub fn is_storage_refusal(&self) -> bool {
        use rusqlite::ErrorCode;
        matches!(self, DbError::Refused(_))
            || matches!(
                self,
                DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        ErrorCode::DiskFull
                            | ErrorCode::SystemIoFailure
                            | ErrorCode::ReadOnly
                            | ErrorCode::CannotOpen
                    )
            )
    }

    /// A UNIQUE constraint failed (a duplicate the caller should report as a conflict).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Duplicate)
            || matches!(
                self,
                DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                    if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            )
    }
}

/// One connection behind a mutex: SQLite serialises writers anyway, and this scale needs no pool.
#[derive(Clone)]
pub struct Database {
    conn: Arc<Mutex<Connection>>,
    path: Arc<Path>,
    identity: Arc<str>,
}

impl Database {
    /// Opens (creating if needed) `<data_dir>/reelcache.db` and migrates it. Blocking.
    pub fn open(data_dir: &Path) -> Result<Database, DbError> {
        let path = data_dir.join(FILE_NAME);
        let open_error = |e: rusqlite::Error| DbError::Open {
            path: path.clone(),
            reason: e.to_string(),
        };
        let io_error = |e: std::io::Error| DbError::Open {
            path: path.clone(),
            reason: e.to_string(),
        };
        crate::private_fs::create_dir(data_dir).map_err(io_error)?;
        // SQLite creates the database 0644 less the umask, and gives `-wal` and `-shm` the mode
        // of the database: created (or tightened) as 0600 first, all three are owner-only.
        crate::private_fs::ensure_file(&path).map_err(io_error)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            crate::private_fs::restrict(Path::new(&side)).map_err(io_error)?;
        }
        let mut conn = Connection::open(&path).map_err(open_error)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_error)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_error)?;
        migrations::run(&mut conn, &path)?;
        let identity: String = conn.query_row("SELECT id FROM instance", [], |row| row.get(0))?;
        Ok(Database {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::from(path.as_path()),
            identity: Arc::from(identity),
        })
    }

    /// This database's random identity (it tells users of different databases apart in a
    /// shared cache).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<F, T>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let conn = self.conn.clone();
        let started = std::time::Instant::now();
        let result = crate::telemetry::spawn_blocking(move || {
            // A call that panicked left no transaction open (rusqlite rolls back on drop): the
            // connection is as good as before, so it is recovered rather than refused for ever.
            let mut guard = crate::sync::lock(&conn);
            f(&mut guard)
        })
        .await;
        crate::measure::db_query("sqlite", started.elapsed());
        result
    }

    /// Runs `f` on the current thread (command-line tools).
    /// A consistent copy of the whole database written to `target` (`VACUUM INTO`: one read
    /// transaction, so it is safe while the server writes, and the copy is compact and has no
    /// WAL of its own). `target` must not exist.
    pub fn backup_to(&self, target: &Path) -> Result<(), DbError> {
        let target = target.to_str().ok_or_else(|| DbError::Open {
            path: target.to_owned(),
            reason: "the path is not valid UTF-8".to_owned(),
        })?;
        self.call_blocking(|conn| {
            conn.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        })
    }

    /// Checks that `file` is a reelcache account database this version can open (its schema no
    /// newer than this version's), without changing it.
    pub fn check_backup(file: &Path) -> Result<(), DbError> {
        let open_error = |e: rusqlite::Error| DbError::Open {
            path: file.to_owned(),
            reason: e.to_string(),
        };
        let conn = Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(open_error)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(open_error)?;
        let _identity: String = conn
            .query_row("SELECT id FROM instance", [], |row| row.get(0))
            .map_err(|_| DbError::Open {
                path: file.to_owned(),
                reason: "not a reelcache account database".to_owned(),
            })?;
        if version > migrations::LATEST {
            return Err(DbError::Open {
                path: file.to_owned(),
                reason: format!(
                    "written by a newer reelcache (schema {version}, this one knows {})",
                    migrations::LATEST
                ),
            });
        }
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(open_error)?;
        if ok != "ok" {
            return Err(DbError::Open {
                path: file.to_owned(),
                reason: format!("the integrity check failed: {ok}"),
            });
        }
        Ok(())
    }

    pub fn call_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut guard = crate::sync::lock(&self.conn);
        f(&mut guard)
    }

    /// A trivial query, and the file still on disk (an open connection would keep answering
    /// from a deleted file until the next start).
    pub async fn ping(&self) -> Result<(), DbError> {
        if !self.path.exists() {
            return Err(DbError::Task(format!("{} is gone", self.path.display())));
        }
        self.call(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }
}

/// Unix milliseconds now, for timestamps written to the database.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub use crate::clock::rfc3339;
