//! Accounts: register, login, refresh, logout, profile.

use serde::Deserialize;
use serde_json::json;
use warp::Filter;
use warp::http::{Method, StatusCode};

use super::filters::{route, with_state};
use super::json::{ApiRequest, api_request, json_response, require_method};
use crate::domain::account;
use crate::error::ApiError;
use crate::service::state::AppState;

type Response = warp::reply::Response;

/// Boxed: the whole route tree as one concrete type would be too deep for the compiler.
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    let with = move || api_request().and(with_state(state.clone()));
    let register = route("api/users/register").and(with()).then(register);
    let login = route("api/users/login").and(with()).then(login);
    let refresh = route("api/users/refresh").and(with()).then(refresh);
    let logout = route("api/users/logout").and(with()).then(logout);
    let profile = route("api/users/profile").and(with()).then(profile);
    register
        .or(login)
        .unify()
        .or(refresh)
        .unify()
        .or(logout)
        .unify()
        .or(profile)
        .unify()
        .boxed()
}

const POST: &[Method] = &[Method::POST];

#[derive(Deserialize)]
struct Credentials {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh: Option<String>,
}

impl RefreshBody {
    fn token(&self) -> Result<&str, ApiError> {
        self.refresh
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::validation("refresh", "refresh is required"))
    }
}

async fn register(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, POST, "POST")?;
            let body: Credentials = req.json()?;
            let username = account::username(body.username.as_deref())?;
            let password = account::password(body.password.as_deref())?;
            let email = account::email(body.email.as_deref())?;
            let user = state.accounts.register(username, email, password).await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"id": user.id, "username": user.username, "email": user.email}),
            ))
        }
        .await,
    )
}

async fn login(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, POST, "POST")?;
            let body: Credentials = req.json()?;
            let username = body
                .username
                .filter(|u| !u.is_empty())
                .ok_or_else(|| ApiError::validation("username", "username is required"))?;
            let password = body
                .password
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ApiError::validation("password", "password is required"))?;
            let address = req.client;
            let (user, tokens) = state.accounts.login(&username, password, address).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "refresh": tokens.refresh,
                    "access": tokens.access,
                    "username": user.username,
                    "email": user.email,
                }),
            ))
        }
        .await,
    )
}

async fn refresh(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, POST, "POST")?;
            let body: RefreshBody = req.json()?;
            let tokens = state.accounts.refresh(body.token()?).await?;
            Ok(json_response(StatusCode::OK, &tokens))
        }
        .await,
    )
}

async fn logout(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, POST, "POST")?;
            let user = state
                .accounts
                .authenticate(req.authorization.as_deref())
                .await?;
            let body: RefreshBody = req.json()?;
            state.accounts.logout(&user, body.token()?).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"detail": "Logged out"}),
            ))
        }
        .await,
    )
}

async fn profile(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            let user = state
                .accounts
                .authenticate(req.authorization.as_deref())
                .await?;
            let (data, cached) = state.accounts.profile(&user).await?;
            let mut body = Vec::with_capacity(data.len() + 48);
            body.extend_from_slice(b"{\"success\":true,\"data\":");
            body.extend_from_slice(&data);
            body.extend_from_slice(if cached {
                b",\"cached\":true}"
            } else {
                b",\"cached\":false}"
            });
            let mut response = Response::new(body.into());
            response.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        .await,
    )
}
