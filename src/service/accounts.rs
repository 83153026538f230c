//! `AccountService`: registration, login with rotating refresh tokens, logout, the cached
//! profile, and turning an `Authorization` header into the user it names.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::cache::{CacheKey, Lookup, PageCache, Shape};
use crate::clock::Clock;
use crate::db::users::User;
use crate::db::{AccountStore, now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::auth::jwt::{Claims, TokenError, TokenType, Tokens, now_s};
use crate::service::auth::login_limiter::LoginLimiter;
use crate::service::auth::password;

/// Shown for every failed login, whatever was wrong.
const BAD_CREDENTIALS: &str = "No active account found with the given credentials";

/// The user a request is authenticated as.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub username: String,
    pub is_staff: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

#[derive(Clone)]
pub struct AccountService {
    db: AccountStore,
    tokens: Tokens,
    limiter: LoginLimiter,
    hashing: Hashing,
    cache: PageCache,
    clock: Clock,
    /// How long a profile is cached; zero when it must not be (see `AccountService::new`).
    profile_ttl: Duration,
}

/// Password hashing, bounded: each Argon2id hash holds ~19 MiB and a core for tens of
/// milliseconds, so a burst of logins run all at once would take the process's memory and every
/// core. At most `slots` run at once; the rest wait up to `wait` for one and are then answered
/// 503 with `Retry-After`. Unknown usernames go through the same slots and the same dummy hash,
/// so neither waiting nor hashing tells which usernames exist.
#[derive(Clone)]
pub struct Hashing {
    slots: Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

impl Hashing {
    pub fn new(slots: usize, wait: Duration) -> Hashing {
        Hashing {
            slots: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            wait,
        }
    }

    /// Runs `work` (a hash or a verification) on the blocking pool once a slot is free. The
    /// slot is held by the work itself, so a request that goes away does not free it while its
    /// hash still runs.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                crate::measure::hash_shed();
                ApiError::Unavailable {
                    message: "Too many logins and registrations at once; try again shortly"
                        .to_owned(),
                    retry_after: 1,
                }
            })?;
        Ok(crate::telemetry::spawn_blocking(move || {
            let result = work();
            drop(slot);
            result
        })
        .await)
    }
}

#[derive(Serialize)]
struct ProfileData<'a> {
    id: i64,
    username: &'a str,
    email: &'a str,
    date_joined: String,
    last_login: Option<String>,
    is_active: bool,
    is_staff: bool,
    favorites_count: i64,
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::Authentication(message.into())
}

impl AccountService {
    pub fn new(
        db: AccountStore,
        tokens: Tokens,
        cache: PageCache,
        clock: Clock,
        profile_ttl: Duration,
        hashing: Hashing,
    ) -> AccountService {
        // Accounts shared by several instances (PostgreSQL) with a cache that is not (sled): a
        // profile cached here could not be invalidated when a favorite is added through another
        // instance, so it is read from the database every time.
        let profile_ttl = if db.backend() == "postgres" && !cache.expires_by_itself() {
            Duration::ZERO
        } else {
            profile_ttl
        };
        AccountService {
            db,
            tokens,
            limiter: LoginLimiter::default().shared(cache.shared_debts()),
            hashing,
            cache,
            clock,
            profile_ttl,
        }
    }

    pub fn db(&self) -> &AccountStore {
        &self.db
    }

    /// Creates an account. The password is hashed off the async threads, in a hashing slot.
    pub async fn register(
        &self,
        username: String,
        email: String,
        password_text: String,
    ) -> Result<User, ApiError> {
        let hash = self
            .hashing
            .run(move || password::hash(&password_text))
            .await?;
        let result = self
            .db
            .insert_user(username, email, hash, false, now_ms())
            .await;
        match result {
            Ok(user) => Ok(user),
            Err(e) if e.is_unique_violation() => Err(ApiError::Conflict(
                "A user with that username already exists".to_owned(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks credentials and issues a token pair. Failures for one username or from one address
    /// are counted, attempts in flight included, and past the allowance refused (429) before
    /// any password is checked.
    pub async fn login(
        &self,
        username: &str,
        password_text: String,
        address: Option<IpAddr>,
    ) -> Result<(User, TokenPair), ApiError> {
        // Names and passwords longer than registration allows match no account: refused before
        // they are counted or hashed, so they cost neither memory in the limiter nor a hash.
        if username.chars().count() > crate::domain::account::USERNAME_MAX
            || password_text.chars().count() > crate::domain::account::PASSWORD_MAX
        {
            return Err(unauthenticated(BAD_CREDENTIALS));
        }
        let attempt = self
            .limiter
            .begin(username, address)
            .await
            .map_err(|retry_after| ApiError::RateLimited {
                message: "Too many failed logins; try again later".to_owned(),
                retry_after,
            })?;
        let user = self.db.user_by_username(username.to_owned()).await?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let verified = self
            .hashing
            .run(move || match stored {
                Some(stored) => password::verify(&password_text, &stored),
                None => {
                    password::verify_against_dummy(&password_text);
                    false
                }
            })
            .await?;
        let user = match user {
            Some(user) if verified && user.is_active => user,
            _ => {
                attempt.failed().await;
                return Err(unauthenticated(BAD_CREDENTIALS));
            }
        };
        drop(attempt);
        let id = user.id;
        self.db.touch_login(id, now_ms()).await?;
        self.invalidate_profile(id).await;
        let pair = self.issue_pair(id).await?;
        Ok((user, pair))
    }

    async fn issue_pair(&self, user_id: i64) -> Result<TokenPair, ApiError> {
        let now = now_s();
        let (access, _) = self.tokens.issue(user_id, TokenType::Access, now);
        let (refresh, claims) = self.tokens.issue(user_id, TokenType::Refresh, now);
        let expires_ms = claims.exp as i64 * 1000;
        self.db
            .store_refresh(claims.jti, user_id, expires_ms)
            .await?;
        Ok(TokenPair { access, refresh })
    }

    fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, ApiError> {
        self.tokens
            .verify(token, expected)
            .map_err(|e| unauthenticated(e.to_string()))
    }

    /// Exchanges a refresh token for a new pair. The old refresh token is revoked in the same
    /// statement that checks it, so it works exactly once.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiError> {
        let claims = self.verify(refresh_token, TokenType::Refresh)?;
        let user_id = claims.user_id;
        let revoked = self.db.use_refresh(claims.jti, user_id, now_ms()).await?;
        if !revoked {
            return Err(unauthenticated(TokenError::Invalid.to_string()));
        }
        self.issue_pair(user_id).await
    }

    /// Revokes `refresh_token`, which must be one of `user`'s.
    pub async fn logout(&self, user: &AuthUser, refresh_token: &str) -> Result<(), ApiError> {
        let claims = self.verify(refresh_token, TokenType::Refresh)?;
        if claims.user_id != user.id {
            return Err(unauthenticated(TokenError::Invalid.to_string()));
        }
        let user_id = user.id;
        let revoked = self
            .db
            .revoke_refresh(claims.jti, user_id, now_ms())
            .await?;
        if !revoked {
            return Err(unauthenticated(TokenError::Invalid.to_string()));
        }
        Ok(())
    }

    /// The user named by `Authorization: Bearer <access token>`; 401 for anything else.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<AuthUser, ApiError> {
        let header = header
            .ok_or_else(|| unauthenticated("Authentication credentials were not provided"))?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated("Authorization must be 'Bearer <access token>'"))?;
        let claims = self.verify(token, TokenType::Access)?;
        let user_id = claims.user_id;
        let user = self
            .db
            .user_by_id(user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or_else(|| unauthenticated("User not found or inactive"))?;
        Ok(AuthUser {
            id: user.id,
            username: user.username,
            is_staff: user.is_staff,
        })
    }

    /// Like `authenticate`, and the user must be staff (403 otherwise).
    pub async fn authenticate_staff(&self, header: Option<&str>) -> Result<AuthUser, ApiError> {
        let user = self.authenticate(header).await?;
        if !user.is_staff {
            return Err(ApiError::PermissionDenied(
                "You do not have permission to perform this action".to_owned(),
            ));
        }
        Ok(user)
    }

    /// `user:<database identity>:<id>[:staff]`: user ids are per database, and instances with
    /// databases of their own may share one Redis cache. The staff bit is part of the key
    /// because it can change outside any request (`reelcache user set-admin`, another instance):
    /// `authenticate` reads it from the database on every request, so a profile cached before
    /// the change is simply never asked for again.
    fn profile_key(&self, user_id: i64, is_staff: bool) -> CacheKey {
        CacheKey::from_stored(format!(
            "{}:{}:{user_id}{}",
            crate::cache::key::USER,
            self.db.identity(),
            if is_staff { ":staff" } else { "" }
        ))
    }

    /// The profile's JSON and whether it came from the cache. Cached per user for the user TTL;
    /// a cache failure only means it is read from the database.
    pub async fn profile(&self, user: &AuthUser) -> Result<(Bytes, bool), ApiError> {
        let key = self.profile_key(user.id, user.is_staff);
        let now = self.clock.now_ms();
        let cached = !self.profile_ttl.is_zero();
        if cached
            && let Lookup::Fresh(entry) = self.cache.get(&key, now).await
            && let Ok(json) = entry.render(b"", b"")
        {
            return Ok((Bytes::from(json), true));
        }
        let user_id = user.id;
        let (user, favorites_count) = self.db.profile(user_id).await?;
        let user = user.ok_or_else(|| unauthenticated("User not found or inactive"))?;
        let data = ProfileData {
            id: user.id,
            username: &user.username,
            email: &user.email,
            date_joined: rfc3339(user.date_joined),
            last_login: user.last_login.map(rfc3339),
            is_active: user.is_active,
            is_staff: user.is_staff,
            favorites_count,
        };
        let json = serde_json::to_vec(&data).expect("a profile serialises");
        if cached {
            self.cache
                .put(&key, Shape::Object, &json, now, self.profile_ttl)
                .await;
        }
        Ok((Bytes::from(json), false))
    }

    /// Drops the cached profile (favorites changed, or the user logged in), staff or not.
    pub async fn invalidate_profile(&self, user_id: i64) {
        for is_staff in [false, true] {
            self.cache
                .remove(&self.profile_key(user_id, is_staff))
                .await;
        }
    }
}
