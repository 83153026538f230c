//! TLS to PostgreSQL, against the test server's certificate from a private authority
//! (`postgres_server.rs`): `sslmode=verify-full` with that authority as `sslrootcert` carries the
//! accounts over TLS (the server's own view, `pg_stat_ssl`, says so); `require` with the bundled
//! web PKI roots refuses the certificate instead of falling back to plain text; the default,
//! `prefer`, encrypts without checking it, as libpq does.

use serde_json::json;

use reelcache::config::{DatabaseUrl, Secret, Settings};

use crate::accounts_on_postgres::start_error;
use crate::helpers::TestEnv;
use crate::postgres_server::{PASSWORD, shared};

const SECRET: &str = "a-shared-signing-secret-of-forty-characters";

/// A fresh database's URL with `query` in place of the tests' `sslmode=disable`, and its name.
fn fresh(query: &str) -> (String, String) {
    let url = shared().fresh_database();
    let name = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("a database name")
        .to_owned();
    (url.replace("?sslmode=disable", query), name)
}

fn on(url: &str) -> impl Fn(&mut Settings) + '_ {
    move |s: &mut Settings| {
        s.database.url = Some(DatabaseUrl::parse(url).unwrap());
        s.auth.jwt_secret = Some(Secret::new(SECRET));
    }
}

/// The server's word on this database's reelcache connections: how many, how many over TLS.
fn connections(database: &str) -> (u32, u32) {
    let row = shared()
        .psql(
            "postgres",
            &format!(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.datname = '{database}' AND a.application_name = 'reelcache'"
            ),
        )
        .expect("pg_stat_ssl");
    let (all, tls) = row.split_once('|').expect("two columns");
    (all.parse().unwrap(), tls.parse().unwrap())
}

async fn serves_accounts_over_tls(query: &str) {
    let (url, database) = fresh(query);
    let env = TestEnv::new().await;
    let app = env.spawn_with(on(&url)).await;
    let registered = app
        .post(
            "/api/users/register/",
            &json!({"username": "tess", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(
        registered.status,
        201,
        "{}",
        String::from_utf8_lossy(&registered.body)
    );
    let login = app
        .post(
            "/api/users/login/",
            &json!({"username": "tess", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(login.status, 200);
    let (all, tls) = connections(&database);
    assert!(all > 0, "reelcache holds connections to {database}");
    assert_eq!(tls, all, "every connection is encrypted");
    app.stop().await;
}

pub async fn verify_full_with_a_private_authority_carries_the_accounts_over_tls() {
    let ca = shared().tls_ca();
    serves_accounts_over_tls(&format!(
        "?sslmode=verify-full&sslrootcert={}",
        ca.display()
    ))
    .await;
}

pub async fn the_default_prefer_encrypts_without_checking_the_certificate() {
    serves_accounts_over_tls("").await;
}

async fn refused_at_start(url: &str) -> String {
    let env = TestEnv::new().await;
    let mut settings = env.settings();
    on(url)(&mut settings);
    settings.database.timeout = std::time::Duration::from_secs(5);
    let message = start_error(settings).await;
    assert!(
        !message.contains(PASSWORD),
        "the password never shows: {message}"
    );
    message
}

pub async fn require_refuses_a_certificate_the_bundled_roots_do_not_vouch_for() {
    let (url, database) = fresh("?sslmode=require");
    let message = refused_at_start(&url).await;
    assert!(
        message.contains("certificate") && message.contains(&database),
        "{message}"
    );
    assert_eq!(
        connections(&database),
        (0, 0),
        "nothing reached the database, in plain text or otherwise"
    );
    // An authority file that is not there is named.
    let (url, _) = fresh("?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    let message = refused_at_start(&url).await;
    assert!(message.contains("/nonexistent/ca.pem"), "{message}");
}
