//! Staff endpoints: cache statistics and clearing, and application settings.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestEnv, make_staff};

#[tokio::test]
async fn staff_see_cache_stats_and_clear_by_namespace_key_or_all() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let staff = app.sign_up("paula").await;
    make_staff(env.dir.path(), "paula");
    let user = app.sign_up("quinn").await;
    app.post(
        "/api/users/favorites/add/",
        &json!({"tmdb_id": 550, "title": "Fight Club"}),
        Some(&user.access),
    )
    .await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(5);
    for path in [
        "/api/movies/trending/?page=1".to_owned(),
        "/api/movies/trending/?page=2".to_owned(),
        format!("/api/movies/{id}/"),
        format!("/api/movies/{id}/recommendations/"),
    ] {
        assert_eq!(app.get(&path).await.status, 200);
    }
    app.get("/api/movies/trending/?page=1").await;

    // Not staff, not signed in.
    assert_eq!(
        app.authed(Method::GET, "/api/utils/cache/", &user.access)
            .await
            .status,
        403
    );
    assert_eq!(
        app.authed(Method::DELETE, "/api/utils/cache/", &user.access)
            .await
            .status,
        403
    );
    assert_eq!(app.get("/api/utils/cache/").await.status, 401);

    let stats = app
        .authed(Method::GET, "/api/utils/cache/", &staff.access)
        .await;
    assert_eq!(stats.status, 200);
    let d = &stats.json()["data"];
    assert_eq!(d["namespaces"]["trending_movies"]["entries"], 2);
    assert_eq!(d["namespaces"]["movie"]["entries"], 1);
    assert_eq!(d["namespaces"]["recommended_movies"]["entries"], 1);
    assert_eq!(d["hits"], 1);
    assert_eq!(d["misses"], 4);
    assert_eq!(d["upstream_calls"], 4);
    assert!(d["stored_bytes"].as_u64().unwrap() < d["raw_bytes"].as_u64().unwrap());
    assert!(d["compression_ratio"].as_f64().unwrap() < 1.0);
    for field in [
        "disk_bytes",
        "stale_hits",
        "hit_ratio",
        "upstream_errors",
        "coalesced_requests",
        "evictions",
        "uptime_seconds",
    ] {
        assert!(d.get(field).is_some(), "{field} missing");
    }

    let by_key = app
        .authed(
            Method::DELETE,
            "/api/utils/cache/?key=trending_movies:day:page:2",
            &staff.access,
        )
        .await;
    assert_eq!(by_key.json()["removed"], 1);
    let typo = app
        .authed(
            Method::DELETE,
            "/api/utils/cache/?key=trending:day",
            &staff.access,
        )
        .await;
    assert_eq!(typo.status, 400, "{}", typo.json());
    assert_eq!(typo.json()["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(
        app.get("/api/movies/trending/?page=2").await.x_cache(),
        "MISS"
    );
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );

    let by_namespace = app
        .authed(
            Method::DELETE,
            "/api/utils/cache/?namespace=trending_movies",
            &staff.access,
        )
        .await;
    assert_eq!(by_namespace.status, 200);
    assert_eq!(by_namespace.json()["removed"], 2);
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "MISS"
    );
    assert_eq!(
        app.get(&format!("/api/movies/{id}/")).await.x_cache(),
        "HIT"
    );

    let bad = app
        .authed(
            Method::DELETE,
            "/api/utils/cache/?namespace=users",
            &staff.access,
        )
        .await;
    assert_eq!(bad.status, 400);

    let all = app
        .authed(Method::DELETE, "/api/utils/cache/", &staff.access)
        .await;
    assert_eq!(all.status, 200);
    assert_eq!(
        all.json()["removed"],
        3,
        "trending page 1 again, the movie, its recommendations"
    );
    assert_eq!(
        app.get(&format!("/api/movies/{id}/")).await.x_cache(),
        "MISS"
    );

    // Users and favorites are not cache entries: all still there.
    let favorites = app
        .authed(Method::GET, "/api/users/favorites/", &user.access)
        .await
        .json();
    assert_eq!(favorites["pagination"]["count"], 1);
    app.log_in("quinn", "password123").await;
    app.stop().await;
}

#[tokio::test]
async fn settings_crud_with_clear_errors() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let staff = app.sign_up("rose").await;
    make_staff(env.dir.path(), "rose");
    let user = app.sign_up("sam").await;
    let staff_token = Some(staff.access.as_str());

    let body = json!({"setting_code": "featured_list", "setting_value": {"ids": [550, 13]}, "description": "Home page"});
    assert_eq!(
        app.post("/api/utils/settings/", &body, Some(&user.access))
            .await
            .status,
        403
    );
    assert_eq!(
        app.post("/api/utils/settings/", &body, None).await.status,
        401
    );
    let created = app.post("/api/utils/settings/", &body, staff_token).await;
    assert_eq!(created.status, 201);
    let s = created.json()["data"].clone();
    assert_eq!(s["setting_value"], json!({"ids": [550, 13]}));
    assert_eq!(s["is_active"], true);
    assert_eq!(created.json()["message"], "Setting created successfully");
    let id = s["id"].as_i64().unwrap();

    let dup = app.post("/api/utils/settings/", &body, staff_token).await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.error_code(), "CONFLICT");
    for (bad, field) in [
        (json!({"value": 1}), "setting_code"),
        (
            json!({"setting_code": "has space", "value": 1}),
            "setting_code",
        ),
        (
            json!({"setting_code": "x".repeat(101), "value": 1}),
            "setting_code",
        ),
        (json!({"setting_code": "ok"}), "setting_value"),
        (
            json!({"setting_code": "ok", "value": 1, "is_active": "yes"}),
            "is_active",
        ),
    ] {
        let r = app.post("/api/utils/settings/", &bad, staff_token).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(
            r.json()["error"]["fields"][field].is_array(),
            "{bad}: {}",
            r.json()
        );
    }

    // Any signed-in user reads.
    let list = app
        .authed(Method::GET, "/api/utils/settings/", &user.access)
        .await
        .json();
    assert_eq!(list["count"], 1);
    assert_eq!(list["data"][0]["setting_code"], "featured_list");
    assert!(
        list["data"][0].get("setting_value").is_none(),
        "list items leave the value out: {list}"
    );
    let one = app
        .authed(
            Method::GET,
            &format!("/api/utils/settings/{id}/"),
            &user.access,
        )
        .await;
    assert_eq!(one.json()["data"]["setting_code"], "featured_list");
    assert_eq!(
        one.json()["data"]["setting_value"],
        json!({"ids": [550, 13]})
    );
    let by_code = app
        .authed(
            Method::GET,
            "/api/utils/settings/code/featured_list/",
            &user.access,
        )
        .await;
    assert_eq!(by_code.status, 200);
    assert_eq!(app.get("/api/utils/settings/").await.status, 401);

    // PATCH changes what it names; PUT replaces.
    let patched = app
        .send_json(
            Method::PATCH,
            &format!("/api/utils/settings/{id}/"),
            &json!({"is_active": false, "setting_code": "renamed"}),
            staff_token,
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["message"], "Setting updated successfully");
    assert_eq!(
        patched.json()["data"]["setting_value"],
        json!({"ids": [550, 13]})
    );
    assert_eq!(
        patched.json()["data"]["setting_code"],
        "featured_list",
        "a setting's code is fixed at creation"
    );
    assert_eq!(patched.json()["data"]["is_active"], false);
    let inactive = app
        .authed(
            Method::GET,
            "/api/utils/settings/code/featured_list/",
            &user.access,
        )
        .await;
    assert_eq!(inactive.status, 404, "only active settings by code");
    let put_missing = app
        .send_json(
            Method::PUT,
            &format!("/api/utils/settings/{id}/"),
            &json!({"description": "no value"}),
            staff_token,
        )
        .await;
    assert_eq!(put_missing.status, 400);
    assert!(put_missing.json()["error"]["fields"]["setting_value"].is_array());
    let put = app
        .send_json(
            Method::PUT,
            &format!("/api/utils/settings/{id}/"),
            &json!({"setting_code": "featured", "setting_value": null}),
            staff_token,
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json());
    assert_eq!(put.json()["data"]["is_active"], true);
    assert_eq!(
        put.json()["data"]["setting_value"],
        Value::Null,
        "any JSON, null too"
    );
    assert_eq!(put.json()["data"]["setting_code"], "featured_list");
    let older_name = app
        .post(
            "/api/utils/settings/",
            &json!({"setting_code": "legacy", "value": [1, 2]}),
            staff_token,
        )
        .await;
    assert_eq!(older_name.status, 201, "`value` is read as `setting_value`");
    assert_eq!(older_name.json()["data"]["setting_value"], json!([1, 2]));
    let user_put = app
        .send_json(
            Method::PUT,
            &format!("/api/utils/settings/{id}/"),
            &json!({"setting_code": "a", "setting_value": 1}),
            Some(&user.access),
        )
        .await;
    assert_eq!(user_put.status, 403);

    for (method, path) in [
        (Method::GET, "/api/utils/settings/999/"),
        (Method::PATCH, "/api/utils/settings/999/"),
        (Method::DELETE, "/api/utils/settings/999/"),
        (Method::GET, "/api/utils/settings/abc/"),
    ] {
        let r = app
            .send_json(method.clone(), path, &json!({"value": 1}), staff_token)
            .await;
        assert_eq!(r.status, 404, "{method} {path}");
    }
    let deleted = app
        .authed(
            Method::DELETE,
            &format!("/api/utils/settings/{id}/"),
            &staff.access,
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json()["message"], "Setting deleted successfully");
    assert_eq!(
        app.authed(
            Method::GET,
            &format!("/api/utils/settings/{id}/"),
            &user.access
        )
        .await
        .status,
        404
    );
    let wrong_method = app
        .authed(Method::DELETE, "/api/utils/settings/", &staff.access)
        .await;
    assert_eq!(wrong_method.status, 405);
    app.stop().await;
}
