//! The JWT signing secret: from configuration, or generated once into the data directory
//! (`jwt-secret`, mode 0600) and reused after restarts.

use std::io::Write;
use std::path::Path;

use crate::config::Secret;

pub const FILE_NAME: &str = "jwt-secret";

/// The configured secret, or the one stored in `data_dir` (created on first use).
pub fn load_or_create(configured: Option<&Secret>, data_dir: &Path) -> Result<Secret, String> {
    if let Some(secret) = configured {
        return Ok(secret.clone());
    }
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(Secret::new(text.trim())),
        Ok(_) => {
            return Err(format!(
                "{} is too short to be a signing secret",
                path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let secret = crate::hex::random(64);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new JWT signing secret");
            Ok(Secret::new(secret))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(None, data_dir),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}
