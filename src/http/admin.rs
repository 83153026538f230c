//! Staff and settings endpoints under `/api/utils/`: cache statistics and clearing (staff), and
//! application settings (read by any signed-in user, changed by staff).

use serde::Deserialize;
use serde_json::{Value, json};
use warp::Filter;
use warp::http::{Method, StatusCode};

use super::filters::{route, with_state};
use super::json::{ApiRequest, api_request, id_segment, json_response, require_method};
use crate::clock::rfc3339;
use crate::domain::setting::{self, Setting, SettingFields};
use crate::error::ApiError;
use crate::service::state::AppState;

type Response = warp::reply::Response;

/// Boxed: the whole route tree as one concrete type would be too deep for the compiler.
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    let with = move || api_request().and(with_state(state.clone()));
    let cache = route("api/utils/cache").and(with()).then(cache);
    let warm = route("api/utils/cache/warm").and(with()).then(warm);
    let refresh = route("api/utils/cache/refresh").and(with()).then(refresh);
    let settings_list = route("api/utils/settings")
        .and(with())
        .then(settings_collection);
    let by_code = route("api/utils/settings/code/{}")
        .and(with())
        .then(setting_by_code);
    let by_id = route("api/utils/settings/{}")
        .and(with())
        .then(setting_item);
    warm.or(refresh)
        .unify()
        .or(cache)
        .unify()
        .or(settings_list)
        .unify()
        .or(by_code)
        .unify()
        .or(by_id)
        .unify()
        .boxed()
}

async fn cache(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(
                &req.method,
                &[Method::GET, Method::DELETE],
                "GET, HEAD, DELETE",
            )?;
            state
                .accounts
                .authenticate_staff(req.authorization.as_deref())
                .await?;
            if req.method == Method::DELETE {
                clear_cache(&req, &state).await
            } else {
                cache_stats(&state).await
            }
        }
        .await,
    )
}

async fn cache_stats(state: &AppState) -> Result<Response, ApiError> {
    let data = crate::service::cache_admin::stats(state).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"success": true, "data": data}),
    ))
}

/// DELETE: everything, `?namespace=`, or `?key=`.
async fn clear_cache(req: &ApiRequest, state: &AppState) -> Result<Response, ApiError> {
    let cleared =
        crate::service::cache_admin::clear(state, req.query.get("namespace"), req.query.get("key"))
            .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"success": true, "message": cleared.message, "removed": cleared.removed}),
    ))
}

/// `POST /api/utils/cache/warm/`: a warm run's options, each defaulting to the server's
/// `warm.*` settings (the `warm` command's options, by the same names).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WarmBody {
    #[serde(default, deserialize_with = "super::json::integral")]
    trending_pages: Option<i64>,
    #[serde(default, deserialize_with = "super::json::integral")]
    popular_pages: Option<i64>,
    #[serde(default, deserialize_with = "super::json::integral")]
    recommendation_pages: Option<i64>,
    details: Option<bool>,
    #[serde(default, deserialize_with = "super::json::integral")]
    concurrency: Option<i64>,
    #[serde(default, deserialize_with = "super::json::integral")]
    budget: Option<i64>,
}

/// GET: the current or last warm run; POST: start one (202), `409` while one runs.
async fn warm(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET, Method::POST], "GET, HEAD, POST")?;
            state
                .accounts
                .authenticate_staff(req.authorization.as_deref())
                .await?;
            if req.method != Method::POST {
                let run = state.warm_runs.status();
                return Ok(json_response(
                    StatusCode::OK,
                    &json!({"success": true, "data": run}),
                ));
            }
            let body: WarmBody = if req.body.is_empty() {
                WarmBody::default()
            } else {
                req.json()?
            };
            let plan = warm_plan(&state, &body)?;
            let run = state.warm_runs.start(
                &state.movies,
                &state.counters,
                plan,
                crate::service::warm_runs::Trigger::Staff,
            )?;
            Ok(json_response(
                StatusCode::ACCEPTED,
                &json!({"success": true, "data": run}),
            ))
        }
        .await,
    )
}

/// The run `body` asks for, within the same bounds as the `warm` command's options.
fn warm_plan(
    state: &AppState,
    body: &WarmBody,
) -> Result<crate::service::warm::WarmPlan, ApiError> {
    let mut plan = crate::service::warm_runs::default_plan(&state.warm_settings);
    let within = |field: &str, value: Option<i64>, min: i64, max: i64| match value {
        Some(v) if !(min..=max).contains(&v) => Err(ApiError::validation(
            field,
            format!("{field} must be from {min} to {max}"),
        )),
        _ => Ok(value),
    };
    let pages = |field: &str, value: Option<i64>| within(field, value, 0, 500);
    if let Some(n) = pages("trending_pages", body.trending_pages)? {
        plan.trending_pages = n as u32;
    }
    if let Some(n) = pages("popular_pages", body.popular_pages)? {
        plan.popular_pages = n as u32;
    }
    if let Some(n) = pages("recommendation_pages", body.recommendation_pages)? {
        plan.recommendation_pages = n as u32;
    }
    if let Some(details) = body.details {
        plan.details = details;
    }
    if let Some(n) = within("concurrency", body.concurrency, 1, 64)? {
        plan.concurrency = n as usize;
    }
    if let Some(n) = within("budget", body.budget, 1, 1_000_000)? {
        plan.budget = Some(n as u64);
    }
    Ok(plan)
}

/// `POST /api/utils/cache/refresh/?key=movie:550`: that entry fetched again now (200, with its
/// new freshness); `?namespace=trending_movies`: every stored entry of it, in the background
/// (202, with how many).
async fn refresh(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    /// At most this many entries in one namespace refresh.
    const NAMESPACE_LIMIT: usize = 1000;
    super::respond(
        async {
            require_method(&req.method, &[Method::POST], "POST")?;
            state
                .accounts
                .authenticate_staff(req.authorization.as_deref())
                .await?;
            let key = req.query.get("key");
            let namespace = req.query.get("namespace");
            // Both: the key, if it is in that namespace (as clearing reads them).
            if let (Some(key), Some(namespace)) = (key, namespace)
                && !crate::service::cache_admin::key_in_namespace(key, namespace)
            {
                return Err(ApiError::NotFound(format!(
                    "{key} is not in the namespace {namespace}"
                )));
            }
            match (key, namespace) {
                (Some(key), _) => {
                    let meta = state.movies.refresh_now(key).await?;
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({
                            "success": true,
                            "data": {
                                "key": key,
                                "stored_at": rfc3339(meta.stored_at_ms as i64),
                                "expires_at": rfc3339(meta.expires_at_ms as i64),
                            }
                        }),
                    ))
                }
                (None, Some(namespace)) => {
                    if !crate::service::cache_admin::REFRESHABLE_NAMESPACES.contains(&namespace) {
                        return Err(ApiError::validation(
                            "namespace",
                            format!(
                                "namespace must be one of: {}",
                                crate::service::cache_admin::REFRESHABLE_NAMESPACES.join(", ")
                            ),
                        ));
                    }
                    let count = state
                        .movies
                        .refresh_namespace(namespace, NAMESPACE_LIMIT)
                        .await?;
                    Ok(json_response(
                        StatusCode::ACCEPTED,
                        &json!({"success": true, "data": {"namespace": namespace, "refreshing": count}}),
                    ))
                }
                // Neither: every trending, recommendations and details entry (as clearing
                // with neither clears everything).
                (None, None) => {
                    let count = state.movies.refresh_namespace("", NAMESPACE_LIMIT).await?;
                    Ok(json_response(
                        StatusCode::ACCEPTED,
                        &json!({"success": true, "data": {"namespace": null, "refreshing": count}}),
                    ))
                }
            }
        }
        .await,
    )
}

/// A setting as the original backend showed it. Lists leave out `setting_value` (values can be
/// large; a client reads the one it needs).
fn setting_json(s: &Setting, with_value: bool) -> Value {
    let mut json = json!({
        "id": s.id,
        "setting_code": s.setting_code,
        "description": s.description,
        "is_active": s.is_active,
        "created_at": rfc3339(s.created_at),
        "updated_at": rfc3339(s.updated_at),
    });
    if with_value {
        json["setting_value"] = serde_json::from_str::<Value>(&s.value).unwrap_or(Value::Null);
    }
    json
}

/// What POST, PUT and PATCH may send. `value` is still read as an older name of
/// `setting_value`.
#[derive(Deserialize)]
struct SettingBody {
    setting_code: Option<String>,
    /// Any JSON, `null` included (so "present" is `Some`, even for `null`).
    #[serde(default, alias = "value", deserialize_with = "present")]
    setting_value: Option<Value>,
    description: Option<String>,
    is_active: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// How a body is read: a new setting (POST), a replacement (PUT) or a partial change (PATCH)
/// of `current`.
enum Write<'a> {
    Create,
    Replace(&'a Setting),
    Change(&'a Setting),
}

impl SettingBody {
    /// The complete fields. A setting's code is fixed at creation: PUT and PATCH ignore one
    /// they send, as the original backend did. POST and PUT need `setting_value`.
    fn fields(self, write: Write<'_>) -> Result<SettingFields, ApiError> {
        let (existing, partial) = match write {
            Write::Create => (None, false),
            Write::Replace(current) => (Some(current), false),
            Write::Change(current) => (Some(current), true),
        };
        let setting_code = match (existing, self.setting_code) {
            (Some(current), _) => current.setting_code.clone(),
            (None, Some(code)) => setting::code(&code)?,
            (None, None) => {
                return Err(ApiError::validation(
                    "setting_code",
                    "setting_code is required",
                ));
            }
        };
        let kept = existing.filter(|_| partial);
        let value = match (self.setting_value, kept) {
            (Some(value), _) => value.to_string(),
            (None, Some(current)) => current.value.clone(),
            (None, None) => {
                return Err(ApiError::validation(
                    "setting_value",
                    "setting_value is required",
                ));
            }
        };
        let description = self
            .description
            .or_else(|| kept.map(|c| c.description.clone()))
            .unwrap_or_default();
        setting::description(&description)?;
        Ok(SettingFields {
            setting_code,
            value,
            description,
            is_active: self.is_active.or(kept.map(|c| c.is_active)).unwrap_or(true),
        })
    }
}

async fn settings_collection(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET, Method::POST], "GET, HEAD, POST")?;
            let auth = req.authorization.as_deref();
            if req.method == Method::POST {
                state.accounts.authenticate_staff(auth).await?;
                let fields = req.json::<SettingBody>()?.fields(Write::Create)?;
                let created = state.settings.create(fields).await?;
                return Ok(json_response(
                    StatusCode::CREATED,
                    &json!({
                        "success": true,
                        "message": "Setting created successfully",
                        "data": setting_json(&created, true),
                    }),
                ));
            }
            state.accounts.authenticate(auth).await?;
            let all = state.settings.list().await?;
            let data: Vec<Value> = all.iter().map(|s| setting_json(s, false)).collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({"success": true, "count": data.len(), "data": data}),
            ))
        }
        .await,
    )
}

async fn setting_item(segments: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(
                &req.method,
                &[Method::GET, Method::PUT, Method::PATCH, Method::DELETE],
                "GET, HEAD, PUT, PATCH, DELETE",
            )?;
            // Who asks before what they ask for: a caller without a valid token learns nothing
            // about the id (401 whatever the path), as on every protected endpoint.
            let auth = req.authorization.as_deref();
            if req.method == Method::GET {
                state.accounts.authenticate(auth).await?;
            } else {
                state.accounts.authenticate_staff(auth).await?;
            }
            let id = id_segment(&segments[0], "Setting")?;
            let current = state.settings.get(id).await?;
            let setting = match req.method {
                Method::DELETE => {
                    state.settings.delete(id).await?;
                    return Ok(json_response(
                        StatusCode::OK,
                        &json!({"success": true, "message": "Setting deleted successfully"}),
                    ));
                }
                Method::PUT => {
                    let fields = req
                        .json::<SettingBody>()?
                        .fields(Write::Replace(&current))?;
                    state.settings.update(id, fields).await?
                }
                Method::PATCH => {
                    let fields = req.json::<SettingBody>()?.fields(Write::Change(&current))?;
                    state.settings.update(id, fields).await?
                }
                _ => {
                    return Ok(json_response(
                        StatusCode::OK,
                        &json!({"success": true, "data": setting_json(&current, true)}),
                    ));
                }
            };
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "success": true,
                    "message": "Setting updated successfully",
                    "data": setting_json(&setting, true),
                }),
            ))
        }
        .await,
    )
}

async fn setting_by_code(segments: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            state
                .accounts
                .authenticate(req.authorization.as_deref())
                .await?;
            let code = setting::code(&segments[0])?;
            let found = state.settings.active_by_code(code).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"success": true, "data": setting_json(&found, true)}),
            ))
        }
        .await,
    )
}
