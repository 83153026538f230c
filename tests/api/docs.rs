//! The OpenAPI document, the docs page, and the router held to the document both ways.

use reelcache::http::api_spec::endpoints;
use reqwest::Method;

use crate::helpers::TestEnv;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn sample(path: &str) -> String {
    let id = reelcache::dev::fake_tmdb::catalog::id_of(2);
    path.replace("{movie_id}", &id.to_string())
        .replace("{favorite_id}", "1")
        .replace("{tmdb_id}", "550")
        .replace("{setting_id}", "1")
        .replace("{setting_code}", "featured")
}

fn no_route(reply: &crate::helpers::Reply) -> bool {
    reply.status == 404 && String::from_utf8_lossy(&reply.body).contains("No route for this path")
}

#[tokio::test]
async fn the_router_answers_exactly_what_the_document_lists() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let doc = app.get("/api/docs.json").await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), endpoints().len());
    for code in ["VALIDATION_ERROR", "UPSTREAM_TIMEOUT", "RATE_LIMITED"] {
        assert!(doc.to_string().contains(code), "{code} documented");
    }

    for (path, item) in paths {
        let url = sample(path);
        for method in METHODS {
            let documented = item.get(method).is_some();
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = app
                .send_json(m.clone(), &url, &serde_json::json!({}), None)
                .await;
            if documented {
                assert!(
                    !no_route(&reply) && reply.status != 405,
                    "{method} {path} is documented but answered {}",
                    reply.status
                );
                for status in [reply.status.to_string()] {
                    if reply.status >= 400 && reply.status != 404 {
                        assert!(
                            item[method]["responses"].get(&status).is_some(),
                            "{method} {path}: {status} is not documented"
                        );
                    }
                }
            } else {
                assert_eq!(
                    reply.status, 405,
                    "{method} {path} is not documented but answered"
                );
            }
        }
    }
    for undocumented in [
        "/api/movies/550/similar/",
        "/api/users/",
        "/api/utils/",
        "/docs",
    ] {
        assert!(no_route(&app.get(undocumented).await), "{undocumented}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_docs_page_ships_inside_the_binary() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // `/` is the front end now; it links the docs.
    let root = no_redirects
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 200);
    assert!(root.text().await.unwrap().contains("/api/docs/"));
    let page = app.get("/api/docs/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    let initializer = app.get("/api/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status, 200);
    assert!(String::from_utf8_lossy(&initializer.body).contains("/api/docs.json"));
    assert_eq!(app.get("/api/docs/swagger-ui.css").await.status, 200);
    assert!(app.get("/api/docs/nothing-here.js").await.status == 404);
    app.stop().await;
}

/// Every operation that needs a token answers 401 without one, however wrong the rest of the
/// request is (ids out of range, bad query values, a body that is not JSON).
#[tokio::test]
async fn authentication_is_checked_before_validation() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let doc = app.get("/api/docs.json").await.json();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            let url = format!(
                "{}?page=0&page_size=0&namespace=bogus",
                path.replace("{favorite_id}", "0")
                    .replace("{tmdb_id}", "0")
                    .replace("{setting_id}", "0")
                    .replace("{setting_code}", "not%20a%20code")
            );
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .request(m, &url, &[("content-type", "text/plain")])
                .await;
            assert_eq!(r.status, 401, "{method} {url}");
            assert_eq!(r.error_code(), "AUTHENTICATION_FAILED", "{method} {url}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} protected operations");
    app.stop().await;
}

/// A method a path does not declare is a 405 in the envelope with `Allow`, even when the path's
/// id is out of range; the root's redirect has a Content-Type and a body.
#[tokio::test]
async fn undeclared_methods_are_405_and_the_front_page_is_typed() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    for path in [
        "/api/movies/0/",
        "/api/movies/0/recommendations/",
        "/api/movies/trending/",
        "/api/users/favorites/check/0/",
        "/api/utils/settings/0/",
        "/health/",
    ] {
        let r = app.request(Method::TRACE, path, &[]).await;
        assert_eq!(r.status, 405, "TRACE {path}");
        assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED", "{path}");
        assert!(r.header("allow").is_some(), "{path}");
    }
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = no_redirects
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 200);
    assert!(
        root.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(root.text().await.unwrap().contains("/assets/app.js"));
    app.stop().await;
}

/// The documented bounds are the enforced ones: at the bound accepted, one past it a 400 that
/// names the parameter; `email: null` registers, as documented.
#[tokio::test]
async fn documented_bounds_and_enums_are_enforced() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let doc = app.get("/api/docs.json").await.json();
    let page = doc["paths"]["/api/movies/trending/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "page")
        .unwrap()["schema"]
        .clone();
    let max = page["maximum"].as_u64().unwrap();
    assert_eq!(
        app.get(&format!("/api/movies/trending/?page={max}"))
            .await
            .status,
        200
    );
    let past = app
        .get(&format!("/api/movies/trending/?page={}", max + 1))
        .await;
    assert_eq!(past.status, 400);
    assert!(past.json()["error"]["fields"]["page"].is_array());
    let register = &doc["components"]["schemas"]["RegisterRequest"]["properties"];
    let longest = register["username"]["maxLength"].as_u64().unwrap() as usize;
    let ok = app
        .post(
            "/api/users/register/",
            &serde_json::json!({"username": "a".repeat(longest), "password": "password123", "email": null}),
            None,
        )
        .await;
    assert_eq!(ok.status, 201, "{}", String::from_utf8_lossy(&ok.body));
    let too_long = app
        .post(
            "/api/users/register/",
            &serde_json::json!({"username": "b".repeat(longest + 1), "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(too_long.status, 400);
    assert!(
        register["email"]["type"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("null"))
    );
    // Every error code documented comes from the error enum, and the health statuses include
    // the one a degraded server sends.
    let codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
        ["enum"]
        .as_array()
        .unwrap()
        .clone();
    for code in [past.error_code(), too_long.error_code()] {
        assert!(codes.contains(&serde_json::json!(code)), "{code}");
    }
    let health = app.get("/health/").await.json();
    let statuses = &doc["components"]["schemas"]["Health"]["properties"]["status"]["enum"];
    assert!(statuses.as_array().unwrap().contains(&health["status"]));
    assert!(
        statuses
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("degraded"))
    );
    app.stop().await;
}
