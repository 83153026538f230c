//! The OpenAPI document, the docs page, and the router held to the document both ways.

use reelcache::http::api_spec::ENDPOINTS;
use reqwest::Method;

use crate::helpers::TestEnv;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn sample(path: &str) -> String {
    let id = reelcache::fake_tmdb::catalog::id_of(2);
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
    assert_eq!(paths.len(), ENDPOINTS.len());
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
    let root = no_redirects
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 302);
    assert_eq!(root.headers()["location"], "/api/docs/");
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
