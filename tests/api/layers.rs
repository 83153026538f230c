//! The layers of `src/` (see `src/lib.rs` and `docs/ARCHITECTURE.md`), held to their one
//! direction: every `crate::...` path in a module's code (its `#[cfg(test)]` part aside) names a
//! module of a lower layer, or its own top-level module. Stores and the TMDB client do not reach
//! into each other; only `app` uses the dev tools.

use std::path::Path;

/// Layer of a top-level module: higher layers may use lower ones, never the reverse.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "app" => 6,
        "http" | "ops" => 5,
        "service" => 4,
        "tmdb" | "cache" | "db" => 3,
        "dev" => 2,
        "config" | "domain" | "error" | "clock" | "counters" | "measure" | "telemetry" | "sync"
        | "hex" | "private_fs" => 1,
        _ => return None,
    })
}

/// Whether code in `from` may name `to`.
fn allowed(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    let (Some(a), Some(b)) = (layer(from), layer(to)) else {
        return false;
    };
    match (from, to) {
        // The dev tools stand beside the server: only the command line runs them.
        (_, "dev") => from == "app",
        ("dev", _) => b <= 3,
        // The ground floor is one floor: its modules may use each other.
        _ if a == 1 && b == 1 => true,
        // The two HTTP-facing doors: the API serves the metrics text ops renders.
        ("http", "ops") => true,
        // The doors go through the services: no SQL, store or TMDB call of their own.
        ("http" | "ops", _) => b == 4 || b == 1,
        _ => b < a,
    }
}

/// The top-level module a source file belongs to (`src/service/movies/fetch.rs` → `service`).
fn module_of(path: &Path, src: &Path) -> String {
    let relative = path.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    match first.strip_suffix(".rs") {
        Some("main") => "app".to_owned(),
        Some(name) => name.to_owned(),
        None => first.into_owned(),
    }
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every module a file's code names through `crate::` (or `reelcache::`, in `main.rs`), with the
/// line, leaving out its tests and comments.
fn named_modules(text: &str) -> Vec<(usize, String)> {
    let code = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        for root in ["crate::", "reelcache::"] {
            for (at, _) in line.match_indices(root) {
                let before = line[..at].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                    continue;
                }
                let name: String = line[at + root.len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push((number + 1, name));
                }
            }
        }
    }
    found
}

#[test]
fn every_import_points_down_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let from = module_of(file, &src);
        assert!(
            layer(&from).is_some() || from == "lib",
            "{}: a top-level module with no layer; add it to tests/api/layers.rs and src/lib.rs",
            file.display()
        );
        let text = std::fs::read_to_string(file).unwrap();
        for (line, to) in named_modules(&text) {
            checked += 1;
            if from != "lib" && !allowed(&from, &to) {
                wrong.push(format!(
                    "{}:{line}: {from} uses {to}",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(checked > 200, "{checked} paths checked");
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_rule_refuses_what_it_should() {
    assert!(
        allowed("http", "service") && allowed("service", "cache") && allowed("cache", "config")
    );
    assert!(
        !allowed("cache", "service") && !allowed("tmdb", "cache") && !allowed("domain", "http")
    );
    assert!(!allowed("http", "db") && !allowed("http", "cache") && !allowed("ops", "tmdb"));
    assert!(!allowed("service", "dev") && allowed("app", "dev") && !allowed("dev", "app"));
    let found = named_modules(
        "use crate::http::x;\n// crate::app in a comment\nlet a = my_crate::y;\n#[cfg(test)]\nmod tests { use crate::dev; }\n",
    );
    assert_eq!(found, [(1, "http".to_owned())]);
}
