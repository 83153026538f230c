//! A real headless Chromium, driven over WebDriver (Debian's `chromium` and `chromedriver`):
//! chromedriver started on a free loopback port in a temporary directory, stopped by PID when
//! the browser is dropped. Shared by the browser tests and the front-end benchmark.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Why this machine cannot run a browser, or `None` when it can.
pub fn missing() -> Option<&'static str> {
    if !Path::new(CHROMIUM).exists() {
        return Some("chromium not installed (/usr/bin/chromium)");
    }
    if !Path::new(CHROMEDRIVER).exists() {
        return Some("chromedriver not installed (/usr/bin/chromedriver)");
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The browser's console, as chromedriver keeps it (`goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// Where screenshots go.
    pub shots: PathBuf,
}

impl Browser {
    /// Starts chromedriver and one headless Chromium session with a window of `width`×`height`.
    pub async fn start(shots: &Path, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        // A free port is free when looked at, not always when chromedriver binds it: another
        // attempt on another port when it does not come up.
        let mut attempt = 0;
        let (driver, url) = loop {
            attempt += 1;
            let port = free_port();
            // Its own process group: Chromium's processes are its children, and all of them
            // are stopped together by the group's id, whatever state the test ends in.
            let mut driver = Command::new(CHROMEDRIVER)
                .process_group(0)
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    profile.path().join("chromedriver.log").display()
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let url = format!("http://127.0.0.1:{port}");
            let started = Instant::now();
            let http = reqwest::Client::new();
            let up = loop {
                if http.get(format!("{url}/status")).send().await.is_ok() {
                    break true;
                }
                if driver.try_wait().ok().flatten().is_some()
                    || started.elapsed() > Duration::from_secs(20)
                {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            if up {
                break (driver, url);
            }
            let _ = driver.kill();
            let _ = driver.wait();
            assert!(attempt < 3, "chromedriver did not come up in 3 attempts");
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().join("chrome").display()),
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a Chromium session");
        std::fs::create_dir_all(shots).expect("a screenshot directory");
        Browser {
            client,
            driver,
            _profile: profile,
            shots: shots.to_owned(),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns what it returns.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits (at most 10 s) until `script` returns a truthy value; returns it.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script, vec![]).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let body = self
                    .js(
                        "return document.body ? document.body.innerText : ''",
                        vec![],
                    )
                    .await;
                panic!("timed out waiting for {what}; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} appears: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("{css} clicks: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} appears: {e}"));
        field.clear().await.expect("clears");
        field.send_keys(text).await.expect("types");
    }

    /// Text of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let value = self
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim())",
                vec![json!(css)],
            )
            .await;
        serde_json::from_value(value).expect("a list of strings")
    }

    /// Saves a PNG of the window as `<shots>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writes the screenshot");
        path
    }

    /// What the console said since the last call: `(level, message)`.
    pub async fn console(&self) -> Vec<(String, String)> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver gives the browser log");
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails on any console error or CSP violation since the last call, except the failed
    /// resource loads `allowed` names (statuses the flow provokes on purpose, like `401`).
    pub async fn assert_clean_console(&self, allowed: &[&str]) {
        let problems: Vec<(String, String)> = self
            .console()
            .await
            .into_iter()
            .filter(|(level, message)| {
                let csp = message.contains("Content Security Policy");
                let expected = message.contains("Failed to load resource")
                    && allowed.iter().any(|a| message.contains(a));
                csp || (level == "SEVERE" && !expected)
            })
            .collect();
        assert!(problems.is_empty(), "console errors: {problems:#?}");
    }

    pub async fn stop(self) {
        let _ = self.client.clone().close().await;
        // Drop kills what is left.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) with the negated id of the group chromedriver leads.
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}
