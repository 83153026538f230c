//! Authentication building blocks: password hashing, JWTs, the signing secret, and the limiter
//! that slows repeated failed logins.

pub mod jwt;
pub mod login_limiter;
pub mod password;
pub mod secret;

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
