//! PostgreSQL: the account store several instances share (`REELCACHE_DATABASE_URL`). A pool of
//! connections (deadpool-postgres over tokio-postgres), bounded in size and in how long a caller
//! waits for a connection, to connect, or for a statement; TLS through rustls as the URL's
//! `sslmode` asks (`tls.rs`). The schema is the SQLite store's, with the same numbered
//! migrations (`migrations.rs`) and the same constraints; every write is one statement or one
//! transaction, committed before it is acknowledged.

mod favorites;
mod import;
mod migrations;
mod settings;
mod tls;
mod users;

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::error::SqlState;

use super::DbError;
use crate::config::DatabaseSettings;

pub use migrations::LATEST;

/// Connections in use and waiting, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    pub max_size: usize,
    /// Open connections.
    pub size: usize,
    /// Open and idle.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    identity: Arc<str>,
    /// How long one statement may take.
    timeout: Duration,
    /// The host and database, for logs and `/health/` (never the password).
    target: Arc<str>,
}

impl PgStore {
    /// Connects, migrates (serialised across instances starting at once by an advisory lock)
    /// and reads the database's identity. A server that cannot be reached is an error here: an
    /// instance does not start without its accounts.
    pub async fn open(settings: &DatabaseSettings) -> Result<PgStore, DbError> {
        let url = settings
            .url
            .as_ref()
            .ok_or_else(|| DbError::Task("no PostgreSQL URL configured".to_owned()))?;
        let mut config: tokio_postgres::Config = url
            .expose()
            .parse()
            .map_err(|_| DbError::Postgres(format!("{url} is not a usable PostgreSQL URL")))?;
        config.application_name("reelcache");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(settings.timeout);
        }
        let manager = Manager::from_config(
            config,
            tls::connector(url.tls())?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .recycle_timeout(Some(settings.timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Task(format!("cannot set up the PostgreSQL pool: {e}")))?;
        let store = PgStore {
            pool,
            identity: Arc::from(""),
            timeout: settings.timeout,
            target: Arc::from(url.target()),
        };
        let identity = {
            let mut client = store.client().await?;
            migrations::run(&mut client).await?;
            let row = client
                .query_one("SELECT id FROM instance", &[])
                .await
                .map_err(pg_error)?;
            row.get::<_, String>(0)
        };
        Ok(PgStore {
            identity: Arc::from(identity),
            ..store
        })
    }

    /// This database's random identity (see `Database::identity`).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// `host:port/database`, for logs and `/health/`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A pooled connection, within the wait and connect bounds.
    async fn client(&self) -> Result<Object, DbError> {
        let started = Instant::now();
        let client = self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => pg_error(e),
            other => DbError::Unavailable(format!("no connection to PostgreSQL: {other}")),
        });
        crate::measure::db_wait(started.elapsed());
        client
    }

    /// Runs `f` on a pooled connection, bounded by the statement timeout.
    async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut Object) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, DbError> {
        let mut client = self.client().await?;
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, f(&mut client)).await;
        crate::measure::db_query("postgres", started.elapsed());
        match outcome {
            Ok(result) => result.map_err(pg_error),
            Err(_) => {
                // The statement may still run on the server: this connection is not reused.
                let _ = Object::take(client);
                Err(DbError::Unavailable(format!(
                    "PostgreSQL did not answer within {:?}",
                    self.timeout
                )))
            }
        }
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        self.with(async |c| c.query_one("SELECT 1", &[]).await.map(drop))
            .await
    }

    pub fn pool_status(&self) -> PoolStatus {
        let s = self.pool.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        }
    }

    /// Closes the pool (shutdown): idle connections are dropped, new requests refused.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// A driver error as ours: a broken connection is `Unavailable` (503), a full or read-only
/// server `Refused` (503, as SQLite's full disk), a uniqueness violation `Duplicate`.
fn pg_error(e: tokio_postgres::Error) -> DbError {
    let Some(code) = e.code() else {
        // The driver's message alone can be bare ("error performing TLS handshake"): its
        // causes say why.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            source = cause.source();
        }
        return DbError::Unavailable(message);
    };
    if *code == SqlState::UNIQUE_VIOLATION {
        DbError::Duplicate
    } else if [SqlState::DISK_FULL, SqlState::READ_ONLY_SQL_TRANSACTION].contains(code) {
        DbError::Refused(e.to_string())
    } else if [
        SqlState::OUT_OF_MEMORY,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
    ]
    .contains(code)
    {
        DbError::Unavailable(e.to_string())
    } else {
        DbError::Postgres(
            e.as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned()),
        )
    }
}
