//! One set of account-store tests (users, refresh tokens, favorites, settings), written once
//! and run against both back ends through `AccountStore`, the interface the services use:
//! SQLite in a temporary data directory and PostgreSQL on a real server (a fresh database each).
//! The same constraints must hold on both: case-insensitive unique usernames, one favorite per
//! user and movie however many add it at once, a refresh token used once.

use std::time::Duration;

use reelcache::config::{DatabaseUrl, Settings};
use reelcache::db::{AccountStore, Database, PgStore};
use reelcache::domain::favorite::NewFavorite;
use reelcache::domain::setting::SettingFields;

/// A back end under test, with whatever keeps it alive.
pub struct Backend {
    pub db: AccountStore,
    _dir: tempfile::TempDir,
}

pub async fn sqlite_backend() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).expect("SQLite opens");
    Backend {
        db: AccountStore::Sqlite(db),
        _dir: dir,
    }
}

pub async fn postgres_backend() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::defaults_in(dir.path());
    settings.database.url =
        Some(DatabaseUrl::parse(&crate::postgres_server::shared().fresh_database()).unwrap());
    settings.database.timeout = Duration::from_secs(10);
    let pg = PgStore::open(&settings.database)
        .await
        .expect("PostgreSQL opens");
    Backend {
        db: AccountStore::Postgres(pg),
        _dir: dir,
    }
}

const NOW: i64 = 1_800_000_000_000;

fn movie(tmdb_id: i64) -> NewFavorite {
    NewFavorite {
        tmdb_id,
        title: format!("Movie {tmdb_id}"),
        poster_path: Some(format!("/p{tmdb_id}.jpg")),
        overview: String::new(),
        release_date: None,
    }
}

pub async fn usernames_are_unique_whatever_their_letter_case(b: Backend) {
    let db = &b.db;
    let alice = db
        .insert_user(
            "Alice".into(),
            "a@example.com".into(),
            "h1".into(),
            false,
            NOW,
        )
        .await
        .unwrap();
    assert_eq!((alice.username.as_str(), alice.is_staff), ("Alice", false));
    let again = db
        .insert_user("aLICE".into(), String::new(), "h2".into(), false, NOW)
        .await
        .expect_err("a username taken in another case is refused");
    assert!(again.is_unique_violation(), "{again}");
    let found = db.user_by_username("ALICE".into()).await.unwrap().unwrap();
    assert_eq!((found.id, found.password_hash.as_str()), (alice.id, "h1"));
    assert!(db.user_by_username("bob".into()).await.unwrap().is_none());
    let bob = db
        .insert_user("bob".into(), String::new(), "h3".into(), true, NOW + 1)
        .await
        .unwrap();
    let listed: Vec<String> = db
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(listed, ["Alice", "bob"]);
    assert!(db.set_staff("ALICE".into(), true).await.unwrap());
    assert!(!db.set_staff("nobody".into(), true).await.unwrap());
    assert!(db.user_by_id(alice.id).await.unwrap().unwrap().is_staff);
    db.touch_login(bob.id, NOW + 5).await.unwrap();
    let (user, favorites) = db.profile(bob.id).await.unwrap();
    assert_eq!((user.unwrap().last_login, favorites), (Some(NOW + 5), 0));
    assert_eq!(
        db.profile(bob.id + 1000).await.unwrap().0.map(|u| u.id),
        None
    );
}

pub async fn a_refresh_token_works_once_and_only_for_its_user(b: Backend) {
    let db = &b.db;
    let user = db
        .insert_user("carol".into(), String::new(), "h".into(), false, NOW)
        .await
        .unwrap();
    let other = db
        .insert_user("dave".into(), String::new(), "h".into(), false, NOW)
        .await
        .unwrap();
    db.store_refresh("jti-1".into(), user.id, NOW + 60_000)
        .await
        .unwrap();
    db.store_refresh("jti-2".into(), user.id, NOW + 60_000)
        .await
        .unwrap();
    db.store_refresh("jti-old".into(), user.id, NOW - 1)
        .await
        .unwrap();
    assert!(
        !db.use_refresh("jti-1".into(), other.id, NOW).await.unwrap(),
        "someone else's"
    );
    assert!(
        !db.use_refresh("jti-old".into(), user.id, NOW)
            .await
            .unwrap(),
        "expired"
    );
    assert!(
        !db.use_refresh("jti-x".into(), user.id, NOW).await.unwrap(),
        "unknown"
    );
    // Used at once from many places (instances): exactly one succeeds.
    let uses = futures_util::future::join_all(
        (0..8).map(|_| db.use_refresh("jti-1".into(), user.id, NOW)),
    )
    .await;
    let succeeded = uses.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(succeeded, 1, "a refresh token is used once");
    assert!(
        db.revoke_refresh("jti-2".into(), user.id, NOW)
            .await
            .unwrap()
    );
    assert!(
        !db.revoke_refresh("jti-2".into(), user.id, NOW)
            .await
            .unwrap()
    );
}

pub async fn concurrent_adds_of_one_favorite_leave_one_row(b: Backend) {
    let db = &b.db;
    let user = db
        .insert_user("erin".into(), String::new(), "h".into(), false, NOW)
        .await
        .unwrap();
    let other = db
        .insert_user("frank".into(), String::new(), "h".into(), false, NOW)
        .await
        .unwrap();
    let adds =
        futures_util::future::join_all((0..16).map(|_| db.add_favorite(user.id, movie(550), NOW)))
            .await;
    let adds: Vec<_> = adds.into_iter().map(Result::unwrap).collect();
    assert_eq!(adds.iter().filter(|(_, created)| *created).count(), 1);
    assert!(
        adds.iter()
            .all(|(f, _)| f.id == adds[0].0.id && f.username == "erin")
    );
    for (i, tmdb_id) in [600, 700, 800].into_iter().enumerate() {
        db.add_favorite(user.id, movie(tmdb_id), NOW + 1 + i as i64)
            .await
            .unwrap();
    }
    let (page, total) = db.favorites_page(user.id, 0, 2).await.unwrap();
    let ids: Vec<i64> = page.iter().map(|f| f.tmdb_id).collect();
    assert_eq!(
        (ids, total),
        (vec![800, 700], 4),
        "newest first, with the total"
    );
    let (page, _) = db.favorites_page(user.id, 2, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|f| f.tmdb_id).collect::<Vec<_>>(),
        [600, 550]
    );
    assert_eq!(db.profile(user.id).await.unwrap().1, 4);
    let found = db.favorite_by_tmdb_id(user.id, 700).await.unwrap().unwrap();
    assert_eq!(found.poster_path.as_deref(), Some("/p700.jpg"));
    assert!(
        db.favorite_by_tmdb_id(other.id, 700)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !db.remove_favorite(other.id, found.id).await.unwrap(),
        "not theirs"
    );
    assert!(db.remove_favorite(user.id, found.id).await.unwrap());
    assert!(
        !db.remove_favorite(user.id, found.id).await.unwrap(),
        "already gone"
    );
    assert_eq!(db.favorites_page(user.id, 0, 10).await.unwrap().1, 3);
    let (past_the_end, total) = db.favorites_page(user.id, 100, 10).await.unwrap();
    assert!(past_the_end.is_empty());
    assert_eq!(total, 3, "the total comes with an empty page too");
    let (none, zero) = db.favorites_page(other.id, 0, 10).await.unwrap();
    assert_eq!((none.len(), zero), (0, 0));
}

pub async fn settings_have_unique_codes_and_are_read_when_active(b: Backend) {
    let db = &b.db;
    let fields = |code: &str, active: bool| SettingFields {
        setting_code: code.to_owned(),
        value: r#"{"on":true}"#.to_owned(),
        description: "d".to_owned(),
        is_active: active,
    };
    let a = db.insert_setting(fields("theme", true), NOW).await.unwrap();
    assert_eq!((a.created_at, a.updated_at, a.is_active), (NOW, NOW, true));
    let taken = db
        .insert_setting(fields("theme", false), NOW)
        .await
        .expect_err("a taken code is refused");
    assert!(taken.is_unique_violation(), "{taken}");
    let b2 = db.insert_setting(fields("beta", false), NOW).await.unwrap();
    assert!(db.active_setting("beta".into()).await.unwrap().is_none());
    assert_eq!(
        db.active_setting("theme".into())
            .await
            .unwrap()
            .map(|s| s.id),
        Some(a.id)
    );
    let updated = db
        .update_setting(b2.id, fields("beta", true), NOW + 9)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.created_at, updated.updated_at), (NOW, NOW + 9));
    assert!(
        db.update_setting(b2.id + 1000, fields("x", true), NOW)
            .await
            .unwrap()
            .is_none()
    );
    let clash = db
        .update_setting(b2.id, fields("theme", true), NOW)
        .await
        .expect_err("renaming onto a taken code is refused");
    assert!(clash.is_unique_violation(), "{clash}");
    let codes: Vec<String> = db
        .list_settings()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.setting_code)
        .collect();
    assert_eq!(codes, ["theme", "beta"]);
    assert_eq!(
        db.setting_by_id(a.id).await.unwrap().map(|s| s.id),
        Some(a.id)
    );
    assert!(db.delete_setting(a.id).await.unwrap());
    assert!(!db.delete_setting(a.id).await.unwrap());
    assert!(db.setting_by_id(a.id).await.unwrap().is_none());
}

pub async fn the_store_names_its_back_end_and_answers_a_ping(b: Backend) {
    b.db.ping().await.expect("ping");
    assert_eq!(b.db.identity().len(), 16, "a random identity");
    match &b.db {
        AccountStore::Sqlite(_) => {
            assert_eq!(b.db.backend(), "sqlite");
            assert!(b.db.pool_status().is_none());
        }
        AccountStore::Postgres(_) => {
            assert_eq!(b.db.backend(), "postgres");
            let pool = b.db.pool_status().expect("a pool");
            assert!(pool.size >= 1 && pool.max_size == 8, "{pool:?}");
        }
    }
}
