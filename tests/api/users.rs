//! Accounts and tokens.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestEnv, cli, make_staff};

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn forge(secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn the_whole_account_flow() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let r = app
        .post(
            "/api/users/register/",
            &json!({"username": "Alice", "email": "alice@example.org", "password": "s3cret-pass"}),
            None,
        )
        .await;
    assert_eq!(r.status, 201);
    let v = r.json();
    assert_eq!(v["username"], "Alice");
    assert_eq!(v["email"], "alice@example.org");
    assert!(v["id"].as_i64().unwrap() > 0);
    assert!(v.get("password").is_none());

    // Usernames are unique case-insensitively.
    let dup = app
        .post(
            "/api/users/register/",
            &json!({"username": "ALICE", "password": "another-pass"}),
            None,
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.error_code(), "CONFLICT");

    let login = app
        .post(
            "/api/users/login/",
            &json!({"username": "alice", "password": "s3cret-pass"}),
            None,
        )
        .await;
    assert_eq!(login.status, 200);
    let tokens = login.json();
    assert_eq!(tokens["username"], "Alice");
    assert_eq!(tokens["email"], "alice@example.org");
    let access = tokens["access"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh"].as_str().unwrap().to_owned();

    let profile = app
        .authed(Method::GET, "/api/users/profile/", &access)
        .await;
    assert_eq!(profile.status, 200);
    let p = profile.json();
    assert_eq!(p["success"], true);
    assert_eq!(p["cached"], false);
    let data = &p["data"];
    assert_eq!(data["username"], "Alice");
    assert_eq!(data["is_active"], true);
    assert_eq!(data["is_staff"], false);
    assert_eq!(data["favorites_count"], 0);
    assert!(data["date_joined"].as_str().unwrap().ends_with('Z'));
    assert!(data["last_login"].as_str().unwrap().ends_with('Z'));

    // Refresh rotates: the new pair works, the old refresh token is spent.
    let rotated = app.refresh(&refresh).await;
    assert_eq!(rotated.status, 200);
    let new = rotated.json();
    let new_refresh = new["refresh"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    let reused = app.refresh(&refresh).await;
    assert_eq!(reused.status, 401);
    assert_eq!(reused.error_code(), "AUTHENTICATION_FAILED");
    let new_access = new["access"].as_str().unwrap();
    assert_eq!(
        app.authed(Method::GET, "/api/users/profile/", new_access)
            .await
            .status,
        200
    );

    // Logout revokes that refresh token.
    let out = app
        .post(
            "/api/users/logout/",
            &json!({"refresh": new_refresh}),
            Some(new_access),
        )
        .await;
    assert_eq!(out.status, 200);
    assert_eq!(out.json()["detail"], "Logged out");
    let after = app.refresh(&new_refresh).await;
    assert_eq!(after.status, 401);
    app.stop().await;
}

#[tokio::test]
async fn registration_is_validated() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let cases = [
        (json!({"password": "password123"}), "username"),
        (
            json!({"username": "ab", "password": "password123"}),
            "username",
        ),
        (
            json!({"username": "x".repeat(151), "password": "password123"}),
            "username",
        ),
        (
            json!({"username": "'; DROP TABLE users; --", "password": "password123"}),
            "username",
        ),
        (json!({"username": "bob"}), "password"),
        (json!({"username": "bob", "password": "short"}), "password"),
        (
            json!({"username": "bob", "password": "password123", "email": "not-an-email"}),
            "email",
        ),
        (
            json!({"username": 5, "password": "password123"}),
            "username",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/api/users/register/", &body, None).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error_code(), "VALIDATION_ERROR");
        assert!(
            r.json()["error"]["fields"][field].is_array(),
            "{body}: {}",
            r.json()
        );
    }
    // Not JSON, the wrong content type, too large.
    let raw = |ct: &'static str, body: &'static str| {
        app.client
            .post(format!("{}/api/users/register/", app.base))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = raw("application/json", "{not json").await.unwrap();
    assert_eq!(r.status(), 400);
    let r = raw("text/plain", "{}").await.unwrap();
    assert_eq!(r.status(), 415);
    let big = app
        .post(
            "/api/users/register/",
            &json!({"username": "bob", "password": "p".repeat(70_000)}),
            None,
        )
        .await;
    assert_eq!(big.status, 413);
    assert_eq!(big.error_code(), "PAYLOAD_TOO_LARGE");
    let wrong_method = app.get("/api/users/register/").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    app.stop().await;
}

#[tokio::test]
async fn logins_fail_with_one_message_and_repeated_failures_are_refused() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.sign_up("carol").await;
    app.sign_up("dave").await;
    let wrong_password = app
        .post(
            "/api/users/login/",
            &json!({"username": "carol", "password": "nope-nope"}),
            None,
        )
        .await;
    let no_such_user = app
        .post(
            "/api/users/login/",
            &json!({"username": "nobody", "password": "nope-nope"}),
            None,
        )
        .await;
    assert_eq!((wrong_password.status, no_such_user.status), (401, 401));
    assert_eq!(
        wrong_password.json()["error"]["message"],
        no_such_user.json()["error"]["message"],
        "the message never says which part was wrong"
    );
    assert_eq!(wrong_password.header("www-authenticate"), Some("Bearer"));

    // Keep guessing carol's password: after a few failures even the right one is refused.
    let mut refused = None;
    for _ in 0..10 {
        let r = app
            .post(
                "/api/users/login/",
                &json!({"username": "carol", "password": "guess-guess"}),
                None,
            )
            .await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 401);
    }
    let refused = refused.expect("repeated failures end in 429");
    assert_eq!(refused.error_code(), "RATE_LIMITED");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    let right = app
        .post(
            "/api/users/login/",
            &json!({"username": "carol", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(right.status, 429, "the guessed account is protected");
    // Someone else's failures never block another username.
    app.log_in("dave", "password123").await;
    app.stop().await;
}

#[tokio::test]
async fn tampered_expired_and_misused_tokens_are_refused() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let session = app.sign_up("erin").await;
    let secret = std::fs::read(env.dir.path().join("jwt-secret")).unwrap();
    let user_id = app
        .authed(Method::GET, "/api/users/profile/", &session.access)
        .await
        .json()["data"]["id"]
        .as_i64()
        .unwrap();

    let parts: Vec<&str> = session.access.split('.').collect();
    let payload = format!(
        "{{\"token_type\":\"access\",\"user_id\":{},\"jti\":\"x\",\"iat\":{},\"exp\":{}}}",
        user_id + 1,
        now_s(),
        now_s() + 600
    );
    let changed_payload = format!("{}.{}.{}", parts[0], b64(payload.as_bytes()), parts[2]);
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(payload.as_bytes())
    );
    let claims = |token_type: &str, iat: u64, exp: u64| json!({"token_type": token_type, "user_id": user_id, "jti": "abc", "iat": iat, "exp": exp});
    let other_secret = forge(
        b"a-completely-different-secret-0123456789",
        &claims("access", now_s(), now_s() + 600),
    );
    let expired = forge(&secret, &claims("access", now_s() - 7200, now_s() - 3600));
    let valid_forgery = forge(&secret, &claims("access", now_s(), now_s() + 600));

    for (what, token) in [
        ("changed payload", changed_payload.as_str()),
        ("alg none", alg_none.as_str()),
        ("another secret", other_secret.as_str()),
        ("expired", expired.as_str()),
        ("refresh used as access", session.refresh.as_str()),
        ("garbage", "not.a.jwt"),
    ] {
        let r = app.authed(Method::GET, "/api/users/profile/", token).await;
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(r.error_code(), "AUTHENTICATION_FAILED", "{what}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
    }
    // The secret really is the one the server signs with (so the refusals above mean something).
    assert_eq!(
        app.authed(Method::GET, "/api/users/profile/", &valid_forgery)
            .await
            .status,
        200
    );
    let access_as_refresh = app.refresh(&session.access).await;
    assert_eq!(access_as_refresh.status, 401);
    let missing = app.get("/api/users/profile/").await;
    assert_eq!(missing.status, 401);
    let not_bearer = app
        .request(
            Method::GET,
            "/api/users/profile/",
            &[("authorization", "Basic abc")],
        )
        .await;
    assert_eq!(not_bearer.status, 401);

    // Public endpoints ignore bad tokens entirely.
    for token in [expired.as_str(), "garbage", alg_none.as_str()] {
        let r = app
            .authed(Method::GET, "/api/movies/trending/", token)
            .await;
        assert_eq!(r.status, 200);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_profile_is_cached_and_invalidated() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let s = app.sign_up("frank").await;
    let profile = || app.authed(Method::GET, "/api/users/profile/", &s.access);
    assert_eq!(profile().await.json()["cached"], false);
    let second = profile().await.json();
    assert_eq!(second["cached"], true);
    assert_eq!(second["data"]["favorites_count"], 0);

    let add = app
        .post(
            "/api/users/favorites/add/",
            &json!({"tmdb_id": 550, "title": "Fight Club"}),
            Some(&s.access),
        )
        .await;
    assert_eq!(add.status, 201);
    let after_add = profile().await.json();
    assert_eq!(after_add["cached"], false);
    assert_eq!(after_add["data"]["favorites_count"], 1);
    assert_eq!(profile().await.json()["cached"], true);

    let id = add.json()["id"].as_i64().unwrap();
    let removed = app
        .authed(
            Method::DELETE,
            &format!("/api/users/favorites/{id}/remove/"),
            &s.access,
        )
        .await;
    assert_eq!(removed.status, 200);
    let after_remove = profile().await.json();
    assert_eq!(
        (
            after_remove["cached"].clone(),
            after_remove["data"]["favorites_count"].clone()
        ),
        (json!(false), json!(0))
    );

    profile().await;
    app.log_in("frank", "password123").await;
    assert_eq!(
        profile().await.json()["cached"],
        false,
        "a login invalidates"
    );

    // And it expires with the user TTL (15 minutes).
    profile().await;
    app.clock.advance(Duration::from_secs(15 * 60 + 1));
    assert_eq!(profile().await.json()["cached"], false);
    app.stop().await;
}

#[tokio::test]
async fn accounts_tokens_and_the_secret_survive_a_restart() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let s = app.sign_up("grace").await;
    app.post(
        "/api/users/favorites/add/",
        &json!({"tmdb_id": 13, "title": "Forrest Gump"}),
        Some(&s.access),
    )
    .await;
    app.stop().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.dir.path().join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the secret is readable by the owner only"
        );
    }

    let app = env.spawn().await;
    let r = app
        .authed(Method::GET, "/api/users/favorites/", &s.access)
        .await;
    assert_eq!(
        r.status, 200,
        "tokens issued before the restart still verify"
    );
    assert_eq!(r.json()["data"][0]["title"], "Forrest Gump");
    app.log_in("grace", "password123").await;
    app.stop().await;
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.stop().await;
    let conn = rusqlite::Connection::open(env.dir.path().join("reelcache.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = reelcache::app::startup::Application::build(env.settings())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("newer reelcache"), "{err}");
}

#[tokio::test]
async fn staff_accounts_from_the_command_line() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    // Created while the server runs.
    let mut child = cli(
        env.dir.path(),
        &["user", "create", "root", "--admin", "--password-stdin"],
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"admin-password\n")
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("staff"));
    let admin = app.log_in("root", "admin-password").await;
    assert_eq!(
        app.authed(Method::GET, "/api/utils/cache/", &admin.access)
            .await
            .status,
        200
    );
    let list = cli(env.dir.path(), &["user", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("root"));

    let user = app.sign_up("henry").await;
    assert_eq!(
        app.authed(Method::GET, "/api/utils/cache/", &user.access)
            .await
            .status,
        403
    );
    make_staff(env.dir.path(), "henry");
    assert_eq!(
        app.authed(Method::GET, "/api/utils/cache/", &user.access)
            .await
            .status,
        200,
        "staff takes effect at once"
    );
    let revoke = cli(env.dir.path(), &["user", "set-admin", "henry", "--revoke"])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    assert_eq!(
        app.authed(Method::GET, "/api/utils/cache/", &user.access)
            .await
            .status,
        403
    );
    let missing = cli(env.dir.path(), &["user", "set-admin", "nobody"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    // The caller's mistakes exit 2 and create nothing.
    for (name, password) in [("root", "another-password"), ("ivy", "short")] {
        let mut child = cli(
            env.dir.path(),
            &["user", "create", name, "--password-stdin"],
        )
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, "{password}").unwrap();
        }
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let list = cli(env.dir.path(), &["user", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(!list.contains("ivy"), "{list}");
    assert_eq!(list.matches("root").count(), 1, "{list}");
    app.stop().await;
}

#[tokio::test]
async fn one_address_spraying_many_usernames_is_refused() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let burst = reelcache::service::auth::login_limiter::ADDRESS_BURST as usize;
    let mut statuses = Vec::new();
    for i in 0..burst + 3 {
        // A new username each time: no single username reaches its own limit.
        let r = app
            .post(
                "/api/users/login/",
                &json!({"username": format!("sprayed{i}"), "password": "wrong-password"}),
                None,
            )
            .await;
        statuses.push(r.status);
    }
    assert!(statuses[..burst].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    app.stop().await;
}
