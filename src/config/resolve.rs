//! Layering (defaults, file, environment, flags) into raw values, then parsing them into
//! `Settings`, with errors that name the setting and where its value came from.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;

/// The raw layered values, before parsing: what `config check` reports.
pub struct Resolved {
    values: BTreeMap<&'static str, (Option<String>, Origin)>,
}

impl Resolved {
    /// Defaults, then the file, then the environment, then flags. Empty environment values count
    /// as unset, as they do in most container tooling; how a setting is found in the environment
    /// (its variable, the older alias, a secret's `_FILE`) is `environment::read`.
    pub fn collect(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &FlagOverrides,
    ) -> Result<Resolved, ConfigError> {
        let file_values = match file {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        let mut values = BTreeMap::new();
        for spec in SPECS.iter() {
            let mut value = (spec.default.map(str::to_owned), Origin::Default);
            if let (Some(v), Some(path)) = (file_values.get(spec.key), file) {
                value = (Some(v.clone()), Origin::File(path.to_owned()));
            }
            if let Some(found) = environment::read(spec, env)? {
                value = (Some(found.0), found.1);
            }
            if let Some((v, flag)) = flags.value_of(spec.key) {
                value = (Some(v.to_owned()), Origin::Flag(flag));
            }
            values.insert(spec.key, value);
        }
        Ok(Resolved { values })
    }

    /// Each setting with its value (secrets redacted) and origin, in `SPECS` order.
    pub fn describe(&self) -> Vec<(&'static str, &'static str, String, Origin)> {
        SPECS
            .iter()
            .map(|spec| {
                let (value, origin) = &self.values[spec.key];
                let shown = match value {
                    None => "(not set)".to_owned(),
                    Some(v) => match spec.shown {
                        Shown::Plain => v.clone(),
                        Shown::Secret => "[redacted]".to_owned(),
                        Shown::UrlPassword => redact_url(v),
                    },
                };
                (spec.key, spec.env(), shown, origin.clone())
            })
            .collect()
    }

    /// The setting `key` parsed, `None` when it is unset; a bad value is an error naming the
    /// setting, its variable and where the value came from.
    pub(super) fn optional<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let (value, origin) = &self.values[key];
        match value {
            None => Ok(None),
            Some(raw) => parse(raw).map(Some).map_err(|reason| ConfigError::Invalid {
                setting: key,
                env: environment::names_of(key).var,
                origin: origin.clone(),
                reason,
            }),
        }
    }

    /// Like `optional`, for settings that always have a default.
    pub(super) fn required<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self
            .optional(key, parse)?
            .expect("every required setting has a default in its declaration"))
    }

    /// Which layer each setting came from.
    pub(super) fn origins(&self) -> BTreeMap<&'static str, Origin> {
        self.values
            .iter()
            .map(|(key, (_, origin))| (*key, origin.clone()))
            .collect()
    }

    pub fn into_settings(self) -> Result<Settings, ConfigError> {
        Settings::resolve(&self)
    }

    #[cfg(test)]
    pub(crate) fn raw_for_test(&self, key: &'static str) -> Option<&str> {
        self.values[key].0.as_deref()
    }
}

/// Reads a TOML file into dotted keys (`[tmdb] timeout = "5s"` → `tmdb.timeout`). Numbers and
/// booleans become their text; unknown keys are refused so typos do not pass silently.
pub(super) fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_owned(),
        reason: e.kind().to_string(),
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            reason: e.message().to_owned(),
        })?;
    let mut out = BTreeMap::new();
    flatten("", &table, &mut out);
    if let Some(key) = out
        .keys()
        .find(|k| !SPECS.iter().any(|s| s.key == k.as_str()))
    {
        return Err(ConfigError::UnknownKey {
            path: path.to_owned(),
            key: key.clone(),
        });
    }
    Ok(out)
}

pub(super) fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}
