//! `reelcache db backup|restore`.

use super::*;

/// `reelcache db backup FILE` (any time: a consistent copy) and `reelcache db restore FILE` (the
/// server stopped: it takes the data directory's lock).
pub fn run_db(
    settings: &Settings,
    command: &crate::app::cli::DbCommand,
) -> Result<(), CommandError> {
    use crate::app::cli::DbCommand;
    use crate::db::{Database, FILE_NAME};
    let db_error = |e: crate::db::DbError| CommandError::runtime(e.to_string());
    match command {
        DbCommand::Backup { file } => {
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
    }
    Ok(())
}
