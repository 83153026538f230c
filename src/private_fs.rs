//! Owner-only files and directories: the data directory holds password hashes, emails and the
//! signing secret, so what reelcache creates there is 0700 / 0600 whatever the umask (a umask of
//! 022 would otherwise leave it all readable by every local user).

use std::io;
use std::path::Path;

/// Creates `dir` (and missing parents) as 0700. An existing directory is left as it is: an
/// operator may share a parent on purpose; what reelcache writes inside is owner-only anyway.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes sure `path` exists as a file only its owner may read, creating it empty (0600) if
/// missing, and takes group and other permissions away from an existing one (a database created
/// by an earlier version under umask 022).
pub fn ensure_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    drop(options.open(path)?);
    restrict(path)
}

/// Takes group and other permissions away from `path` if it exists.
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                let mode = meta.permissions().mode() & 0o700;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let _ = path;
    Ok(())
}
