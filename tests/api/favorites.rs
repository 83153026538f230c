//! Favorites: CRUD, pagination, isolation between users, concurrency, hostile input, durability.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestEnv;

#[tokio::test]
async fn add_list_check_remove() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let s = app.sign_up("ivy").await;
    let token = Some(s.access.as_str());
    let body = json!({
        "tmdb_id": 550, "title": "Fight Club", "poster_path": "/pB8BM7pdSp6B6Ih7QZ4DrQ3PmJK.jpg",
        "overview": "An insomniac office worker...", "release_date": "1999-10-15"
    });
    let created = app.post("/api/users/favorites/add/", &body, token).await;
    assert_eq!(created.status, 201);
    let fav = created.json();
    assert_eq!(fav["user"], "ivy");
    assert_eq!(fav["tmdb_id"], 550);
    assert_eq!(fav["title"], "Fight Club");
    assert_eq!(fav["release_date"], "1999-10-15");
    assert!(fav["created_at"].as_str().unwrap().ends_with('Z'));

    // Adding again is safe to retry: 200 with the existing favorite.
    let again = app.post("/api/users/favorites/add/", &body, token).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["id"], fav["id"]);

    let check = app
        .authed(Method::GET, "/api/users/favorites/check/550/", &s.access)
        .await;
    assert_eq!(check.json()["is_favorite"], true);
    assert_eq!(check.json()["favorite_data"]["id"], fav["id"]);
    let no = app
        .authed(Method::GET, "/api/users/favorites/check/551/", &s.access)
        .await;
    assert_eq!(
        no.json(),
        json!({"is_favorite": false, "detail": "Movie not in favorites"})
    );

    // Minimal body; TMDB's "" release date means unknown.
    let minimal = app
        .post(
            "/api/users/favorites/add/",
            &json!({"tmdb_id": 13, "title": "Forrest Gump", "release_date": ""}),
            token,
        )
        .await;
    assert_eq!(minimal.status, 201);
    assert!(minimal.json()["poster_path"].is_null());
    assert!(minimal.json()["release_date"].is_null());

    let list = app
        .authed(Method::GET, "/api/users/favorites/", &s.access)
        .await
        .json();
    assert_eq!(list["pagination"]["count"], 2);
    assert_eq!(list["data"][0]["tmdb_id"], 13, "newest first");
    assert_eq!(list["data"][1]["tmdb_id"], 550);

    let id = fav["id"].as_i64().unwrap();
    let removed = app
        .authed(
            Method::DELETE,
            &format!("/api/users/favorites/{id}/remove/"),
            &s.access,
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(
        removed.json()["detail"],
        "Movie removed from favorites successfully"
    );
    let gone = app
        .authed(
            Method::DELETE,
            &format!("/api/users/favorites/{id}/remove/"),
            &s.access,
        )
        .await;
    assert_eq!(gone.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn favorites_paginate_newest_first() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let s = app.sign_up("jack").await;
    for id in 1..=25 {
        let r = app
            .post(
                "/api/users/favorites/add/",
                &json!({"tmdb_id": id, "title": format!("Movie {id}")}),
                Some(&s.access),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let first = app
        .authed(Method::GET, "/api/users/favorites/?page_size=10", &s.access)
        .await
        .json();
    let p = &first["pagination"];
    assert_eq!(
        (
            p["count"].clone(),
            p["total_pages"].clone(),
            p["page_size"].clone()
        ),
        (json!(25), json!(3), json!(10))
    );
    assert_eq!(p["next"], "/api/users/favorites/?page=2&page_size=10");
    assert!(p["previous"].is_null());
    let ids: Vec<i64> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["tmdb_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (16..=25).rev().collect::<Vec<_>>());
    let last = app
        .authed(
            Method::GET,
            "/api/users/favorites/?page=3&page_size=10",
            &s.access,
        )
        .await
        .json();
    assert_eq!(last["data"].as_array().unwrap().len(), 5);
    assert!(last["pagination"]["next"].is_null());
    let past = app
        .authed(
            Method::GET,
            "/api/users/favorites/?page=4&page_size=10",
            &s.access,
        )
        .await;
    assert_eq!(past.status, 404);
    assert_eq!(past.error_code(), "NOT_FOUND");
    for bad in [
        "page=0",
        "page=abc",
        "page_size=0",
        "page_size=101",
        "page_size=-1",
    ] {
        let r = app
            .authed(
                Method::GET,
                &format!("/api/users/favorites/?{bad}"),
                &s.access,
            )
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let empty_user = app.sign_up("kate").await;
    let empty = app
        .authed(Method::GET, "/api/users/favorites/", &empty_user.access)
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["pagination"]["count"], 0);
    app.stop().await;
}

#[tokio::test]
async fn users_never_see_or_touch_each_others_favorites() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let owner = app.sign_up("liam").await;
    let other = app.sign_up("mia").await;
    let fav = app
        .post(
            "/api/users/favorites/add/",
            &json!({"tmdb_id": 603, "title": "The Matrix"}),
            Some(&owner.access),
        )
        .await
        .json();
    let id = fav["id"].as_i64().unwrap();

    let list = app
        .authed(Method::GET, "/api/users/favorites/", &other.access)
        .await
        .json();
    assert_eq!(list["pagination"]["count"], 0);
    let check = app
        .authed(
            Method::GET,
            "/api/users/favorites/check/603/",
            &other.access,
        )
        .await
        .json();
    assert_eq!(check["is_favorite"], false);
    let remove = app
        .authed(
            Method::DELETE,
            &format!("/api/users/favorites/{id}/remove/"),
            &other.access,
        )
        .await;
    assert_eq!(remove.status, 404, "not 403: ids do not leak");
    // The other user adding the same movie gets their own row.
    let theirs = app
        .post(
            "/api/users/favorites/add/",
            &json!({"tmdb_id": 603, "title": "The Matrix"}),
            Some(&other.access),
        )
        .await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.json()["id"], fav["id"]);
    // The owner's favorite is intact.
    let mine = app
        .authed(Method::GET, "/api/users/favorites/", &owner.access)
        .await
        .json();
    assert_eq!(mine["data"][0]["id"], fav["id"]);

    // Without a token every favorites endpoint is a 401.
    for (method, path) in [
        (Method::GET, "/api/users/favorites/".to_owned()),
        (Method::POST, "/api/users/favorites/add/".to_owned()),
        (Method::DELETE, format!("/api/users/favorites/{id}/remove/")),
        (Method::GET, "/api/users/favorites/check/603/".to_owned()),
    ] {
        let r = app.request(method.clone(), &path, &[]).await;
        assert_eq!(r.status, 401, "{method} {path}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_adds_leave_one_row() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let s = app.sign_up("noah").await;
    let body = json!({"tmdb_id": 27205, "title": "Inception"});
    let adds = (0..50).map(|_| app.post("/api/users/favorites/add/", &body, Some(&s.access)));
    let replies = futures_util::future::join_all(adds).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let existing = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!((created, existing), (1, 49));
    let ids: std::collections::HashSet<_> =
        replies.iter().map(|r| r.json()["id"].clone()).collect();
    assert_eq!(ids.len(), 1);
    let list = app
        .authed(Method::GET, "/api/users/favorites/", &s.access)
        .await
        .json();
    assert_eq!(list["pagination"]["count"], 1);
    app.stop().await;
}

#[tokio::test]
async fn hostile_and_oversized_input_is_stored_verbatim_or_refused() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let s = app.sign_up("olivia").await;
    let token = Some(s.access.as_str());
    let injection = "Robert'); DROP TABLE favorites; --";
    let long_overview = "x'\"; DROP TABLE users; -- ".repeat(400); // ~10 KB
    let r = app
        .post(
            "/api/users/favorites/add/",
            &json!({"tmdb_id": 1, "title": injection, "overview": long_overview}),
            token,
        )
        .await;
    assert_eq!(r.status, 201);
    let list = app
        .authed(Method::GET, "/api/users/favorites/", &s.access)
        .await
        .json();
    assert_eq!(list["data"][0]["title"], injection);
    assert_eq!(list["data"][0]["overview"], long_overview.as_str());

    let cases = [
        (json!({"tmdb_id": 2, "title": "t".repeat(10_000)}), "title"),
        (json!({"tmdb_id": 2, "title": "t".repeat(256)}), "title"),
        (json!({"tmdb_id": 2}), "title"),
        (json!({"tmdb_id": 2, "title": "   "}), "title"),
        (json!({"title": "x"}), "tmdb_id"),
        (json!({"tmdb_id": 0, "title": "x"}), "tmdb_id"),
        (json!({"tmdb_id": 2147483648_i64, "title": "x"}), "tmdb_id"),
        (json!({"tmdb_id": "550", "title": "x"}), "tmdb_id"),
        (
            json!({"tmdb_id": 2, "title": "x", "poster_path": "p".repeat(256)}),
            "poster_path",
        ),
        (
            json!({"tmdb_id": 2, "title": "x", "release_date": "15/10/1999"}),
            "release_date",
        ),
        (
            json!({"tmdb_id": 2, "title": "x", "release_date": "1999-02-30"}),
            "release_date",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/api/users/favorites/add/", &body, token).await;
        assert_eq!(
            r.status,
            400,
            "{field}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            r.json()["error"]["fields"][field].is_array(),
            "{field}: {}",
            r.json()
        );
    }
    // The login form is not an injection point either.
    let r = app
        .post(
            "/api/users/login/",
            &json!({"username": "' OR '1'='1", "password": "' OR '1'='1"}),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    for bad_path in [
        "/api/users/favorites/abc/remove/",
        "/api/users/favorites/1;DROP/remove/",
    ] {
        let r = app.authed(Method::DELETE, bad_path, &s.access).await;
        assert_eq!(r.status, 404, "{bad_path}");
    }
    let r = app
        .authed(Method::GET, "/api/users/favorites/check/0/", &s.access)
        .await;
    assert_eq!(r.status, 400);
    // Everything is still there.
    let list = app
        .authed(Method::GET, "/api/users/favorites/", &s.access)
        .await
        .json();
    assert_eq!(list["pagination"]["count"], 1);
    app.stop().await;
}
