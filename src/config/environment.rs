//! How a setting is found in the environment. Every setting's variable is derived from its key:
//! `REELCACHE_` and the key in capitals, dots as underscores (`tmdb.base_url` →
//! `REELCACHE_TMDB_BASE_URL`), so whoever knows the configuration file knows the variables. The
//! names picked one by one before that rule (`TMDB_API_KEY`, `REELCACHE_STALE_GRACE`) are still
//! read as aliases. A secret may also come from a file named by either name plus `_FILE`
//! (`TMDB_API_KEY_FILE=/run/credentials/reelcache.service/tmdb_api_key`), which is how container
//! secrets and systemd credentials arrive: the value never sits in the environment, where any
//! process of the same user can read it.

use std::io::Read;
use std::path::PathBuf;
use std::sync::LazyLock;

use super::{ConfigError, Origin, SPECS, Spec};

/// The most a secret file may hold. Secrets are short; a wrong path (a log, a disk image) must
/// be refused, not read into memory whole.
const SECRET_FILE_MAX: u64 = 64 * 1024;

/// The environment names of one setting. Made once and kept for the process, so that origins
/// and errors can hold them as `&'static str` like every other name.
pub struct EnvNames {
    /// Derived from the key: the name documented first.
    pub var: &'static str,
    /// The name before the rule, still read.
    pub alias: Option<&'static str>,
    /// `<var>_FILE` and `<alias>_FILE`, for secrets only.
    pub files: Vec<&'static str>,
    /// The flag that sets it, where the command line has one: `--` and the key with dashes
    /// (`tmdb.base_url` → `--tmdb-base-url`).
    pub flag: &'static str,
}

impl EnvNames {
    /// Every name the setting is read from, the derived one first.
    fn all(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.var)
            .chain(self.alias)
            .chain(self.files.iter().copied())
    }
}

/// `tmdb.base_url` → `REELCACHE_TMDB_BASE_URL`.
pub fn derive(key: &str) -> String {
    format!("REELCACHE_{}", key.replace('.', "_").to_ascii_uppercase())
}

fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

static NAMES: LazyLock<Vec<EnvNames>> = LazyLock::new(|| {
    SPECS
        .iter()
        .map(|spec| {
            let var = leak(derive(spec.key));
            let files = if spec.has_file_variant() {
                std::iter::once(var)
                    .chain(spec.alias)
                    .map(|name| leak(format!("{name}_FILE")))
                    .collect()
            } else {
                Vec::new()
            };
            EnvNames {
                var,
                alias: spec.alias,
                files,
                flag: leak(format!("--{}", spec.key.replace(['.', '_'], "-"))),
            }
        })
        .collect()
});

/// The names of the setting `key` (one of `SPECS`).
pub fn names_of(key: &str) -> &'static EnvNames {
    let index = SPECS
        .iter()
        .position(|spec| spec.key == key)
        .expect("a key from SPECS");
    &NAMES[index]
}

/// The setting a global flag sets: flags follow the same rule as variables (`--tmdb-base-url`
/// is `tmdb.base_url`), so `--help` can name each flag's variables from the table.
pub fn setting_of_flag(long: &str) -> Option<&'static Spec> {
    SPECS
        .iter()
        .zip(NAMES.iter())
        .find(|(_, names)| names.flag.strip_prefix("--") == Some(long))
        .map(|(spec, _)| spec)
}

/// The setting's value from the environment, and which name gave it: its variable, its alias,
/// or for a secret a file named by either plus `_FILE`. Two of them set at once is refused
/// rather than one silently winning: an operator moving to the new names, or to a file, would
/// otherwise not know which value is in force.
pub(super) fn read(
    spec: &'static Spec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, Origin)>, ConfigError> {
    let names = names_of(spec.key);
    let mut set = names
        .all()
        .filter_map(|name| env(name).filter(|v| !v.is_empty()).map(|v| (name, v)));
    let Some((name, value)) = set.next() else {
        return Ok(None);
    };
    if let Some((second, _)) = set.next() {
        return Err(ConfigError::EnvConflict {
            setting: spec.key,
            first: name,
            second,
        });
    }
    if !names.files.contains(&name) {
        return Ok(Some((value, Origin::Env(name))));
    }
    let path = PathBuf::from(value);
    let secret = read_secret_file(spec.key, name, &path)?;
    Ok(Some((secret, Origin::EnvFile { var: name, path })))
}

/// A secret file's text, less one trailing newline (what `echo` and editors leave). The reason
/// given on failure never includes the file's content.
fn read_secret_file(
    setting: &'static str,
    var: &'static str,
    path: &std::path::Path,
) -> Result<String, ConfigError> {
    let fail = |reason: String| ConfigError::SecretFile {
        setting,
        var,
        path: path.to_owned(),
        reason,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(SECRET_FILE_MAX + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(e.kind().to_string()))?;
    if bytes.len() as u64 > SECRET_FILE_MAX {
        return Err(fail(format!(
            "larger than {} KiB, so not a secret",
            SECRET_FILE_MAX / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".to_owned()))?;
    let text = text
        .strip_suffix('\n')
        .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if text.is_empty() {
        return Err(fail("the file is empty".to_owned()));
    }
    Ok(text.to_owned())
}

/// What `reelcache --help` says about the environment, after the flags: every setting's
/// variables and default, generated from `SPECS` so it cannot drift from what is read.
pub fn environment_help() -> String {
    let mut out = String::from(
        "The TMDB credential is TMDB_API_KEY (a v3 key or a v4 read access token; or \
         TMDB_ACCESS_TOKEN; or TMDB_API_KEY_FILE naming a file that holds it). Without one, \
         reelcache serves offline.\n\n\
         Environment variables: one per setting of config.example.toml, named REELCACHE_ and \
         the key in capitals, dots as underscores (tmdb.timeout: REELCACHE_TMDB_TIMEOUT). The \
         older names listed as \"also\" still work; giving one setting two names is an error. \
         Secrets may instead be read from a file named by <VARIABLE>_FILE (one trailing newline \
         is ignored). Precedence: defaults, then --config FILE, then the environment, then \
         flags.\n",
    );
    let width = NAMES.iter().map(|n| n.var.len()).max().unwrap_or(0);
    for (spec, names) in SPECS.iter().zip(NAMES.iter()) {
        let value = match (spec.has_file_variant(), spec.default) {
            (true, _) => "secret, not set by default".to_owned(),
            (false, Some("")) => "default \"\"".to_owned(),
            (false, Some(default)) => format!("default {default}"),
            (false, None) => "not set by default".to_owned(),
        };
        out.push_str(&format!(
            "  {:<width$}  {} ({value})\n",
            names.var, spec.key
        ));
        let mut also: Vec<String> = names.alias.iter().map(|a| (*a).to_owned()).collect();
        if !names.files.is_empty() {
            also.push(format!("a file: {}", names.files.join(" or ")));
        }
        if !also.is_empty() {
            out.push_str(&format!("      also {}\n", also.join("; ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(pairs: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    }

    fn spec(key: &str) -> &'static Spec {
        SPECS.iter().find(|s| s.key == key).unwrap()
    }

    #[test]
    fn every_name_is_derived_or_an_alias_and_none_is_shared() {
        assert_eq!(spec("tmdb.base_url").env(), "REELCACHE_TMDB_BASE_URL");
        assert_eq!(spec("http.workers").env(), "REELCACHE_HTTP_WORKERS");
        let mut seen = std::collections::BTreeSet::new();
        for spec in SPECS.iter() {
            assert_ne!(
                spec.alias,
                Some(spec.env()),
                "{}: an alias equal to the derived name is noise",
                spec.key
            );
            for name in names_of(spec.key).all() {
                assert!(seen.insert(name), "{name} names two settings");
            }
        }
    }

    #[test]
    fn the_alias_still_works_and_the_derived_name_too() {
        for name in ["REELCACHE_RESILIENCE_STALE_GRACE", "REELCACHE_STALE_GRACE"] {
            let pairs = [(name, "2h".to_owned())];
            let (value, origin) = read(spec("resilience.stale_grace"), &env_of(&pairs))
                .unwrap()
                .unwrap();
            assert_eq!((value.as_str(), origin), ("2h", Origin::Env(name)));
        }
        let both = [
            ("REELCACHE_HTTP_WORKERS", "2".to_owned()),
            ("REELCACHE_WORKERS", "2".to_owned()),
        ];
        let err = read(spec("http.workers"), &env_of(&both))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("REELCACHE_HTTP_WORKERS") && err.contains("REELCACHE_WORKERS"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_read_from_files_with_one_newline_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tmdb_api_key");
        std::fs::write(&path, "from-a-file-0123\n").unwrap();
        let pairs = [("TMDB_API_KEY_FILE", path.display().to_string())];
        let (value, origin) = read(spec("tmdb.api_key"), &env_of(&pairs))
            .unwrap()
            .unwrap();
        assert_eq!(value, "from-a-file-0123");
        assert_eq!(
            origin.to_string(),
            format!("environment TMDB_API_KEY_FILE (file {})", path.display())
        );
        std::fs::write(&path, "crlf-secret\r\n\n").unwrap();
        let (value, _) = read(spec("tmdb.api_key"), &env_of(&pairs))
            .unwrap()
            .unwrap();
        assert_eq!(value, "crlf-secret\r\n", "only one newline is trimmed");
        // Not every setting has a file variant: a plain one is just a variable.
        assert!(names_of("listen").files.is_empty());
        assert_eq!(
            names_of("cache.url").files,
            ["REELCACHE_CACHE_URL_FILE"],
            "the Redis URL may hold a password"
        );
    }

    #[test]
    fn a_secret_file_that_cannot_be_used_is_a_clear_error_without_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, "s3cr3t".repeat(20_000)).unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let cases = [
            (dir.path().join("missing"), "not found"),
            (big, "KiB"),
            (empty, "empty"),
            (dir.path().to_owned(), "directory"),
        ];
        for (path, reason) in cases {
            let pairs = [("REELCACHE_JWT_SECRET_FILE", path.display().to_string())];
            let err = read(spec("auth.jwt_secret"), &env_of(&pairs))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("auth.jwt_secret")
                    && err.contains("REELCACHE_JWT_SECRET_FILE")
                    && err.contains(reason)
                    && !err.contains("s3cr3t"),
                "{reason}: {err}"
            );
        }
        let both = [
            ("TMDB_API_KEY", "k".to_owned()),
            ("TMDB_API_KEY_FILE", "/nonexistent".to_owned()),
        ];
        let err = read(spec("tmdb.api_key"), &env_of(&both))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("both TMDB_API_KEY and TMDB_API_KEY_FILE"),
            "{err}"
        );
    }

    #[test]
    fn flags_follow_the_naming_rule() {
        assert_eq!(
            setting_of_flag("tmdb-base-url").unwrap().key,
            "tmdb.base_url"
        );
        assert_eq!(setting_of_flag("data-dir").unwrap().key, "data_dir");
        assert!(setting_of_flag("config").is_none());
    }
}
