//! `reelcache db backup|restore`.

use super::*;

/// `reelcache db backup FILE` (any time: a consistent copy), `reelcache db restore FILE` and
/// `reelcache db migrate-to URL` (the server stopped: they take the data directory's lock).
pub async fn run_db(
    settings: &Settings,
    command: &crate::app::cli::DbCommand,
) -> Result<(), CommandError> {
    use crate::app::cli::DbCommand;
    use crate::db::{Database, FILE_NAME};
    let db_error = |e: crate::db::DbError| CommandError::runtime(e.to_string());
    match command {
        DbCommand::Backup { file } => {
            sqlite_only(settings)?;
            if file.exists() {
                return Err(CommandError::usage(format!(
                    "{} exists already; back up to a new file",
                    file.display()
                )));
            }
            let db = Database::open(&settings.data_dir).map_err(db_error)?;
            db.backup_to(file).map_err(db_error)?;
            crate::private_fs::restrict(file)
                .map_err(|e| CommandError::runtime(format!("{}: {e}", file.display())))?;
            println!(
                "backed up {} to {}",
                settings.data_dir.join(FILE_NAME).display(),
                file.display()
            );
        }
        DbCommand::Restore { file } => {
            sqlite_only(settings)?;
            Database::check_backup(file).map_err(db_error)?;
            let _lock = crate::app::open::lock_data_dir(&settings.data_dir).map_err(|e| {
                CommandError::runtime(format!("{e}; stop the server before restoring"))
            })?;
            let live = settings.data_dir.join(FILE_NAME);
            let staged = settings.data_dir.join(format!("{FILE_NAME}.restoring"));
            let io = |what: &str, e: std::io::Error| CommandError::runtime(format!("{what}: {e}"));
            std::fs::copy(file, &staged).map_err(|e| io("copying the backup in", e))?;
            crate::private_fs::restrict(&staged).map_err(|e| io("its mode", e))?;
            std::fs::File::open(&staged)
                .and_then(|f| f.sync_all())
                .map_err(|e| io("writing the copy to disk", e))?;
            if live.exists() {
                // The database it replaces, with its WAL folded in, is kept beside it.
                let previous = settings
                    .data_dir
                    .join(format!("{FILE_NAME}.before-restore"));
                let previous_tmp = settings
                    .data_dir
                    .join(format!("{FILE_NAME}.before-restore.tmp"));
                let _ = std::fs::remove_file(&previous_tmp);
                Database::open(&settings.data_dir)
                    .and_then(|db| db.backup_to(&previous_tmp))
                    .map_err(db_error)?;
                std::fs::rename(&previous_tmp, &previous)
                    .map_err(|e| io("keeping the old database", e))?;
            }
            for suffix in ["-wal", "-shm"] {
                let side = settings.data_dir.join(format!("{FILE_NAME}{suffix}"));
                if side.exists() {
                    std::fs::remove_file(&side).map_err(|e| io("removing the old WAL", e))?;
                }
            }
            std::fs::rename(&staged, &live).map_err(|e| io("putting the backup in place", e))?;
            println!(
                "restored {} from {} (the previous database is {FILE_NAME}.before-restore)",
                live.display(),
                file.display()
            );
        }
        DbCommand::MigrateTo { url } => migrate_to(settings, url).await?,
    }
    Ok(())
}

/// Backups and restores are of the SQLite database: with the accounts in PostgreSQL, they are
/// PostgreSQL's tools' business.
fn sqlite_only(settings: &Settings) -> Result<(), CommandError> {
    match &settings.database.url {
        Some(url) => Err(CommandError::usage(format!(
            "the accounts are in PostgreSQL ({}), not in the data directory: back them up and \
             restore them with PostgreSQL's own tools (pg_dump, pg_restore)",
            url.target()
        ))),
        None => Ok(()),
    }
}

/// `reelcache db migrate-to URL`: the data directory's SQLite accounts into an empty PostgreSQL
/// database, all or nothing.
async fn migrate_to(settings: &Settings, url: &str) -> Result<(), CommandError> {
    use crate::db::{AccountStore, Database, DbError, FILE_NAME, PgStore};
    let url = crate::config::DatabaseUrl::parse(url).map_err(CommandError::usage)?;
    let source = settings.data_dir.join(FILE_NAME);
    if !source.exists() {
        return Err(CommandError::usage(format!(
            "{} does not exist: there is no SQLite account database in this data directory \
             (--data-dir)",
            source.display()
        )));
    }
    // No server may write to the source while it is copied (those writes would be lost).
    let _lock = crate::app::open::lock_data_dir(&settings.data_dir).map_err(|e| {
        CommandError::runtime(format!(
            "{e}; stop the server before migrating its accounts"
        ))
    })?;
    let db =
        Database::open(&settings.data_dir).map_err(|e| CommandError::runtime(e.to_string()))?;
    let data = db
        .export(crate::db::now_ms())
        .map_err(|e| CommandError::runtime(e.to_string()))?;
    let mut target_settings = settings.database.clone();
    target_settings.url = Some(url.clone());
    let target = PgStore::open(&target_settings)
        .await
        .map_err(|e| CommandError::runtime(format!("PostgreSQL at {}: {e}", url.target())))?;
    let imported = target.import(&data).await;
    AccountStore::Postgres(target).close();
    imported.map_err(|e| match e {
        DbError::NotEmpty(what) => CommandError::usage(format!(
            "refusing to migrate into {}: {what}; migrate into an empty database",
            url.target()
        )),
        other => CommandError::runtime(format!("PostgreSQL at {}: {other}", url.target())),
    })?;
    let [users, tokens, favorites, settings_n] = data.counts();
    println!(
        "copied {users} users, {tokens} refresh tokens, {favorites} favorites and {settings_n} \
         settings from {} to PostgreSQL at {}",
        source.display(),
        url.target()
    );
    println!(
        "next: give every instance REELCACHE_DATABASE_URL, and the signing secret this data \
         directory used so that issued tokens stay valid: \
         REELCACHE_JWT_SECRET_FILE={} (or the value you configured)",
        settings.data_dir.join("jwt-secret").display()
    );
    Ok(())
}
