//! reelcache with its accounts on PostgreSQL, driven from outside: several instances on one
//! database serve any account request (a token issued by one is valid on all, a refresh rotated
//! or a logout on one is refused everywhere, favorites added anywhere are seen everywhere), an
//! instance refuses to start without a shared signing secret, and the command-line tools work
//! on it. The server is a real PostgreSQL (`postgres_server.rs`).

use reqwest::Method;
use serde_json::json;

use reelcache::config::{DatabaseUrl, Secret, Settings};

use crate::helpers::{TestApp, TestEnv, cli};
use crate::postgres_server::{PASSWORD, shared};

const SECRET: &str = "a-shared-signing-secret-of-forty-characters";

fn on_postgres(url: &str) -> impl Fn(&mut Settings) + '_ {
    move |s: &mut Settings| {
        s.database.url = Some(DatabaseUrl::parse(url).unwrap());
        s.auth.jwt_secret = Some(Secret::new(SECRET));
    }
}

async fn instances(url: &str, n: usize) -> (Vec<TestEnv>, Vec<TestApp>) {
    let mut envs = Vec::new();
    let mut apps = Vec::new();
    for _ in 0..n {
        let env = TestEnv::new().await;
        apps.push(env.spawn_with(on_postgres(url)).await);
        envs.push(env);
    }
    (envs, apps)
}

/// Why an instance with `settings` refuses to start (it must).
pub async fn start_error(settings: Settings) -> String {
    reelcache::app::startup::Application::build_with_clock(
        settings,
        reelcache::clock::Clock::system(),
    )
    .await
    .err()
    .expect("refused")
    .to_string()
}

pub async fn any_instance_serves_any_account_request() {
    let url = shared().fresh_database();
    let (_envs, apps) = instances(&url, 3).await;
    let [a, b, c] = [&apps[0], &apps[1], &apps[2]];

    // Registered on one, logged in on another, the token valid on the third.
    let registered = a
        .post(
            "/api/users/register/",
            &json!({"username": "Grace", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(
        registered.status,
        201,
        "{}",
        String::from_utf8_lossy(&registered.body)
    );
    let taken = c
        .post(
            "/api/users/register/",
            &json!({"username": "grace", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(taken.status, 409, "the name is taken on every instance");
    let session = b.log_in("grace", "password123").await;
    let profile = c
        .authed(Method::GET, "/api/users/profile/", &session.access)
        .await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.json()["data"]["username"], "Grace");

    assert_eq!(profile.json()["data"]["favorites_count"], 0);

    // Favorites added on all three at once, each movie twice: every one there exactly once.
    let adds = futures_util::future::join_all((0..30).map(|i| {
        let (base, client) = (apps[i % 3].base.clone(), apps[i % 3].client.clone());
        let bearer = format!("Bearer {}", session.access);
        async move {
            let body = json!({"tmdb_id": 100 + (i / 2) as i64, "title": format!("Movie {i}")});
            client
                .post(format!("{base}/api/users/favorites/add/"))
                .header("authorization", bearer)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("the request is answered")
                .status()
                .as_u16()
        }
    }))
    .await;
    assert!(adds.iter().all(|s| *s == 201 || *s == 200), "{adds:?}");
    assert_eq!(
        adds.iter().filter(|s| **s == 201).count(),
        15,
        "one created per movie"
    );
    let listed = a
        .authed(
            Method::GET,
            "/api/users/favorites/?page_size=100",
            &session.access,
        )
        .await;
    assert_eq!(listed.status, 200);
    let mut ids: Vec<i64> = listed.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["tmdb_id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, (100..115).collect::<Vec<_>>());
    for app in [a, b, c] {
        let profile = app
            .authed(Method::GET, "/api/users/profile/", &session.access)
            .await;
        assert_eq!(
            profile.json()["data"]["favorites_count"],
            15,
            "no instance shows a profile cached before the adds"
        );
    }

    // A refresh rotated on one is refused on the others.
    let rotated = c.refresh(&session.refresh).await;
    assert_eq!(rotated.status, 200);
    let reused = a.refresh(&session.refresh).await;
    assert_eq!(
        reused.status, 401,
        "the old refresh token is spent everywhere"
    );
    let new = rotated.json();
    let (access, refresh) = (
        new["access"].as_str().unwrap().to_owned(),
        new["refresh"].as_str().unwrap().to_owned(),
    );
    // A logout on one, and the refresh token is refused on the others.
    let out = b
        .post(
            "/api/users/logout/",
            &json!({"refresh": refresh}),
            Some(&access),
        )
        .await;
    assert_eq!(out.status, 200);
    let after = c.refresh(&refresh).await;
    assert_eq!(after.status, 401);

    // Staff granted from the command line (on the database, not an instance) counts on all.
    let staff = a.authed(Method::GET, "/api/utils/cache/", &access).await;
    assert_eq!(staff.status, 403);
    let elsewhere = tempfile::tempdir().unwrap();
    let granted = cli(elsewhere.path(), &["user", "set-admin", "grace"])
        .env("REELCACHE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    for app in [a, b, c] {
        let stats = app.authed(Method::GET, "/api/utils/cache/", &access).await;
        assert_eq!(stats.status, 200, "staff everywhere at once");
    }

    // Health and metrics say where the accounts are.
    let health = a.get("/health/").await;
    assert_eq!(health.json()["checks"]["database"]["backend"], "postgres");
    assert_eq!(health.json()["checks"]["database"]["status"], "ok");
    let metrics = String::from_utf8(a.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("reelcache_db_pool_connections{state=\"max\"} 8"),
        "pool usage in /metrics"
    );
    assert!(metrics.contains("reelcache_db_query_duration_seconds_count{backend=\"postgres\"}"));
    for app in apps {
        app.stop().await;
    }
}

pub async fn without_a_configured_secret_an_instance_on_postgres_refuses_to_start() {
    let url = shared().fresh_database();
    let env = TestEnv::new().await;
    let mut settings = env.settings();
    settings.database.url = Some(DatabaseUrl::parse(&url).unwrap());
    let message = start_error(settings).await;
    assert!(
        message.contains("REELCACHE_AUTH_JWT_SECRET") && message.contains("same"),
        "{message}"
    );
}

pub async fn an_unreachable_database_is_a_clear_start_up_error() {
    let env = TestEnv::new().await;
    let port = crate::helpers::free_port();
    let url = format!("postgres://reelcache:{PASSWORD}@127.0.0.1:{port}/nowhere");
    let mut settings = env.settings();
    on_postgres(&url)(&mut settings);
    settings.database.timeout = std::time::Duration::from_secs(2);
    let message = start_error(settings).await;
    assert!(
        message.contains(&format!("127.0.0.1:{port}/nowhere")),
        "{message}"
    );
    assert!(
        !message.contains(PASSWORD),
        "the password never shows: {message}"
    );
}

pub fn user_commands_and_config_check_work_on_postgres() {
    let url = shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = cli(dir.path(), args)
            .env("REELCACHE_DATABASE_URL", &url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let created = run(
        &["user", "create", "heidi", "--admin", "--password-stdin"],
        "password123\n",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let again = run(
        &["user", "create", "HEIDI", "--password-stdin"],
        "password123\n",
    );
    assert_eq!(
        again.status.code(),
        Some(2),
        "a taken name is the operator's mistake"
    );
    let listed = run(&["user", "list"], "");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("heidi") && listed.contains("true"),
        "{listed}"
    );
    assert!(
        !dir.path().join("reelcache.db").exists(),
        "nothing was written to SQLite"
    );
    let check = run(&["config", "check"], "");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(text.contains("REELCACHE_DATABASE_URL"), "{text}");
    assert!(!text.contains(PASSWORD), "the password is redacted: {text}");
    assert!(text.contains("postgres"), "{text}");
}

/// PostgreSQL killed under an instance: account requests are answered 503 with `Retry-After`
/// (never a 500, never a hang), movies go on, and once the server is back the instance uses it
/// again by itself, with every acknowledged favorite there.
pub async fn postgres_killed_and_restarted_loses_nothing_acknowledged() {
    let server = crate::postgres_server::PgServer::start();
    let url = server.fresh_database();
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| {
            on_postgres(&url)(s);
            s.database.timeout = std::time::Duration::from_secs(1);
        })
        .await;
    let session = app.sign_up("ivan").await;
    for tmdb_id in [1, 2, 3] {
        let added = app
            .post(
                "/api/users/favorites/add/",
                &json!({"tmdb_id": tmdb_id, "title": "t"}),
                Some(&session.access),
            )
            .await;
        assert_eq!(added.status, 201);
    }

    server.kill();
    let during = app
        .authed(Method::GET, "/api/users/favorites/", &session.access)
        .await;
    assert_eq!(
        during.status,
        503,
        "{}",
        String::from_utf8_lossy(&during.body)
    );
    assert!(during.header("retry-after").is_some());
    let health = app.get("/health/").await;
    assert_eq!(health.json()["checks"]["database"]["status"], "failing");
    assert_eq!(
        app.get("/api/movies/trending/").await.status,
        200,
        "movies go on"
    );

    server.restart();
    crate::helpers::eventually("the instance uses PostgreSQL again", || async {
        app.authed(Method::GET, "/api/users/favorites/", &session.access)
            .await
            .status
            == 200
    })
    .await;
    let listed = app
        .authed(Method::GET, "/api/users/favorites/", &session.access)
        .await;
    assert_eq!(
        listed.json()["pagination"]["count"],
        3,
        "every acknowledged favorite"
    );
    app.stop().await;
}

/// An existing single-instance installation moved to PostgreSQL with `db migrate-to`: its users
/// log in with their passwords, their issued tokens stay valid (with the data directory's
/// secret), their favorites are there, a spent refresh token stays spent, new accounts get new
/// ids; and a second run refuses the now non-empty target, changing nothing.
pub async fn migrate_to_moves_an_installation_over_and_refuses_a_non_empty_target() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let judy = app.sign_up("Judy").await;
    let ken = app.sign_up("ken").await;
    for tmdb_id in [550, 13] {
        let added = app
            .post(
                "/api/users/favorites/add/",
                &json!({"tmdb_id": tmdb_id, "title": "t", "release_date": "1999-10-15"}),
                Some(&judy.access),
            )
            .await;
        assert_eq!(added.status, 201);
    }
    let out = app
        .post(
            "/api/users/logout/",
            &json!({"refresh": ken.refresh}),
            Some(&ken.access),
        )
        .await;
    assert_eq!(out.status, 200);
    let before = app
        .authed(Method::GET, "/api/users/favorites/", &judy.access)
        .await
        .json();
    app.stop().await;

    let url = shared().fresh_database();
    let migrate = || {
        cli(env.dir.path(), &["db", "migrate-to", &url])
            .output()
            .unwrap()
    };
    let first = migrate();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains("copied 2 users, 1 refresh tokens, 2 favorites and 0 settings"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(PASSWORD) && !String::from_utf8_lossy(&first.stderr).contains(PASSWORD)
    );

    let secret = std::fs::read_to_string(env.dir.path().join("jwt-secret")).unwrap();
    let moved = env
        .spawn_with(|s| {
            s.database.url = Some(DatabaseUrl::parse(&url).unwrap());
            s.auth.jwt_secret = Some(Secret::new(secret.trim()));
        })
        .await;
    let after = moved
        .authed(Method::GET, "/api/users/favorites/", &judy.access)
        .await;
    assert_eq!(
        after.status, 200,
        "a token issued before the move is still valid"
    );
    assert_eq!(
        after.json()["data"],
        before["data"],
        "the same favorites, ids and all"
    );
    let rotated = moved.refresh(&judy.refresh).await;
    assert_eq!(rotated.status, 200, "a live refresh token moved over");
    let spent = moved.refresh(&ken.refresh).await;
    assert_eq!(spent.status, 401, "a revoked one did not");
    moved.log_in("judy", "password123").await;
    let new = moved.sign_up("laura").await;
    let profile = moved
        .authed(Method::GET, "/api/users/profile/", &new.access)
        .await;
    let id = profile.json()["data"]["id"].as_i64().unwrap();
    assert!(id > 2, "new accounts get ids after the copied ones: {id}");
    moved.stop().await;

    let second = migrate();
    assert_eq!(
        second.status.code(),
        Some(2),
        "a non-empty target is refused"
    );
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("refusing"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let users = shared()
        .psql(
            url.rsplit('/').next().unwrap().split('?').next().unwrap(),
            "SELECT COUNT(*) FROM users",
        )
        .unwrap();
    assert_eq!(users, "3", "the second run changed nothing");
}
