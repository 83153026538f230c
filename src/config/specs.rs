//! What a setting is (`Spec`: its dotted name, default, older name, how it may be shown) and the
//! `settings!` macro that declares each one exactly once, beside the struct field it fills and
//! the parser of its value (the declarations themselves are in `config/table.rs`).

use std::sync::LazyLock;

use super::resolve::Resolved;
use super::{ConfigError, Settings, environment};

/// How a setting's value may be shown (`config check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Plain,
    /// Never shown.
    Secret,
    /// A URL shown with its password redacted.
    UrlPassword,
}

/// One setting: its dotted name (the TOML key), its default, and how it may be shown. Its
/// environment variable is derived from the key (`environment::var_of`), its flag too where it
/// has one (`--tmdb-base-url`); `alias` is the name it had before that rule, still read so
/// existing deployments keep working.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub key: &'static str,
    pub alias: Option<&'static str>,
    pub default: Option<&'static str>,
    pub shown: Shown,
}

/// Every setting, in the order `settings!` declares them (`config check` lists them so): a
/// slice (`SPECS.iter()`, `for spec in SPECS`), collected once from the declarations.
pub const SPECS: Specs = Specs;

#[derive(Debug, Clone, Copy)]
pub struct Specs;

static DECLARED: LazyLock<Vec<Spec>> = LazyLock::new(|| {
    let mut specs = Vec::new();
    Settings::declare(&mut specs);
    specs
});

impl std::ops::Deref for Specs {
    type Target = [Spec];

    fn deref(&self) -> &'static [Spec] {
        &DECLARED
    }
}

impl IntoIterator for Specs {
    type Item = &'static Spec;
    type IntoIter = std::slice::Iter<'static, Spec>;

    fn into_iter(self) -> Self::IntoIter {
        DECLARED.iter()
    }
}

/// A setting that is only read by a `derived` field (`derived(&[spec(...)])`).
pub const fn spec(key: &'static str, default: Option<&'static str>) -> Spec {
    Spec {
        key,
        alias: None,
        default,
        shown: Shown::Plain,
    }
}

impl Spec {
    pub const fn alias(self, alias: &'static str) -> Spec {
        Spec {
            alias: Some(alias),
            ..self
        }
    }

    pub const fn secret(self) -> Spec {
        Spec {
            shown: Shown::Secret,
            ..self
        }
    }

    pub const fn url_with_password(self) -> Spec {
        Spec {
            shown: Shown::UrlPassword,
            ..self
        }
    }

    /// The setting's environment variable: `REELCACHE_` and the key in capitals, dots as
    /// underscores (`tmdb.base_url` → `REELCACHE_TMDB_BASE_URL`).
    pub fn env(&self) -> &'static str {
        environment::names_of(self.key).var
    }

    /// Secrets (and URLs that may hold a password) may also be read from a file named by
    /// `<variable>_FILE`, as container secrets and systemd credentials deliver them.
    pub fn has_file_variant(&self) -> bool {
        self.shown != Shown::Plain
    }
}

/// A field filled from one setting that always has a value (its default at least).
pub struct Required(Spec);

/// A field filled from one setting that may be unset (`Option<T>`).
pub struct Optional(Spec);

/// A field computed from the settings it names (and any other already declared).
pub struct Derived(&'static [Spec]);

/// A field that is itself a struct of settings.
pub struct Section(fn(&mut Vec<Spec>));

pub const fn required(key: &'static str, default: &'static str) -> Required {
    Required(spec(key, Some(default)))
}

pub const fn optional(key: &'static str) -> Optional {
    Optional(spec(key, None))
}

pub const fn derived(reads: &'static [Spec]) -> Derived {
    Derived(reads)
}

pub const fn section(declare: fn(&mut Vec<Spec>)) -> Section {
    Section(declare)
}

/// What a field filled from one setting offers whatever its kind: the setting's older name and
/// its place in the table.
macro_rules! one_setting {
    ($kind:ident) => {
        impl $kind {
            pub const fn alias(self, alias: &'static str) -> $kind {
                $kind(self.0.alias(alias))
            }

            pub(super) fn declare(&self, out: &mut Vec<Spec>) {
                out.push(self.0);
            }
        }
    };
}

one_setting!(Required);
one_setting!(Optional);

impl Required {
    pub(super) fn value<T>(
        &self,
        resolved: &Resolved,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        resolved.required(self.0.key, parse)
    }
}

impl Optional {
    /// Secrets have no default, so only optional settings can be one.
    pub const fn secret(self) -> Optional {
        Optional(self.0.secret())
    }

    pub const fn url_with_password(self) -> Optional {
        Optional(self.0.url_with_password())
    }

    pub(super) fn value<T>(
        &self,
        resolved: &Resolved,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        resolved.optional(self.0.key, parse)
    }
}

impl Derived {
    pub(super) fn declare(&self, out: &mut Vec<Spec>) {
        out.extend_from_slice(self.0);
    }

    pub(super) fn value<T>(
        &self,
        resolved: &Resolved,
        compute: impl FnOnce(&Resolved) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        compute(resolved)
    }
}

impl Section {
    pub(super) fn declare(&self, out: &mut Vec<Spec>) {
        (self.0)(out)
    }

    pub(super) fn value<T>(
        &self,
        resolved: &Resolved,
        resolve: impl FnOnce(&Resolved) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        resolve(resolved)
    }
}

/// Declares structs of settings. Each field is written once, as
/// `name: Type = how => value`, where `how` is `required(key, default)`, `optional(key)`
/// (`Option<Type>`), `derived(&[settings it reads])` or `section(Struct::declare)`, with
/// `.alias(..)`/`.secret()` where they apply, and `value` parses the raw text (`required`,
/// `optional`) or computes the field from the resolved settings (`derived`, `section`). Each
/// struct gets `declare` (its settings, in order, for `SPECS`) and `resolve` (the struct from
/// the layered values), so a setting cannot be in the table without a field or the other way
/// round.
macro_rules! settings {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $field:ident: $ty:ty = $how:expr => $value:expr,
            )*
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $name {
            /// The settings this struct is filled from, in order.
            pub(super) fn declare(out: &mut Vec<$crate::config::Spec>) {
                $(($how).declare(out);)*
            }

            /// The struct from the layered values, each parsed or an error naming it.
            pub(super) fn resolve(
                resolved: &$crate::config::Resolved,
            ) -> Result<Self, $crate::config::ConfigError> {
                Ok(Self {
                    $($field: ($how).value(resolved, $value)?,)*
                })
            }
        }
    )*};
}

pub(super) use settings;
