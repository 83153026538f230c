//! HS256 JSON Web Tokens with the contract's claims: `token_type`, `user_id`, `jti`, `iat`, `exp`.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub user_id: i64,
    pub jti: String,
    pub iat: u64,
    pub exp: u64,
}

/// Why a token was refused (all are a 401 to the client).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is invalid or expired")]
    Invalid,
    #[error("wrong token type: expected an {0} token")]
    WrongType(&'static str),
}

#[derive(Clone)]
pub struct Tokens {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &Secret, access_ttl: Duration, refresh_ttl: Duration) -> Tokens {
        Tokens {
            encoding: Arc::new(EncodingKey::from_secret(secret.expose().as_bytes())),
            decoding: Arc::new(DecodingKey::from_secret(secret.expose().as_bytes())),
            access_ttl,
            refresh_ttl,
        }
    }

    /// A signed token for `user_id`, issued at `now_s` (Unix seconds).
    pub fn issue(&self, user_id: i64, token_type: TokenType, now_s: u64) -> (String, Claims) {
        let ttl = match token_type {
            TokenType::Access => self.access_ttl,
            TokenType::Refresh => self.refresh_ttl,
        };
        let claims = Claims {
            token_type,
            user_id,
            jti: crate::hex::random(16),
            iat: now_s,
            exp: now_s + ttl.as_secs(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        (token, claims)
    }

    /// Checks signature (HS256 only: `none` and other algorithms are refused), expiry and type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.token_type != expected {
            return Err(TokenError::WrongType(match expected {
                TokenType::Access => "access",
                TokenType::Refresh => "refresh",
            }));
        }
        Ok(data.claims)
    }
}

/// Unix seconds now.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &str) -> Tokens {
        Tokens::new(
            &Secret::new(secret),
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
    }

    #[test]
    fn round_trip_and_type_check() {
        let t = tokens("a-secret-of-at-least-thirty-two-bytes!!");
        let (access, claims) = t.issue(7, TokenType::Access, now_s());
        assert_eq!(t.verify(&access, TokenType::Access).unwrap().user_id, 7);
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(
            t.verify(&access, TokenType::Refresh).unwrap_err(),
            TokenError::WrongType("refresh")
        );
        let other = tokens("another-secret-of-at-least-thirty-two!!");
        assert_eq!(
            other.verify(&access, TokenType::Access).unwrap_err(),
            TokenError::Invalid
        );
        let (expired, _) = t.issue(7, TokenType::Access, now_s() - 3600);
        assert_eq!(
            t.verify(&expired, TokenType::Access).unwrap_err(),
            TokenError::Invalid
        );
    }
}
