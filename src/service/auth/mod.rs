//! Authentication building blocks: password hashing, JWTs, the signing secret, and the limiter
//! that slows repeated failed logins.

pub mod jwt;
pub mod login_limiter;
pub mod password;
pub mod secret;
