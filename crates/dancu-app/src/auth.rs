//! Passwords (Argon2id) and bearer sessions. Tokens are random 256-bit values; only
//! their SHA-256 hash is stored, so a copy of the database yields no usable token.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::policy::{Actor, Role};

/// Session lifetime.
pub const SESSION_TTL_MILLIS: i64 = 8 * 3600 * 1000;
/// How long a validated token is trusted without asking the store again. Revocation on
/// this node is immediate; other nodes see it within this delay.
const CACHE_MILLIS: i64 = 30_000;

pub const MIN_PASSWORD_LEN: usize = 12;

pub fn hash_password(password: &str) -> Result<String, Error> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Internal(e.to_string()))?
        .to_string())
}

/// Constant-work verification: an unknown user is checked against a dummy hash so that
/// timing does not reveal which usernames exist.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy =
        DUMMY.get_or_init(|| hash_password("dummy-password-never-matches").unwrap_or_default());
    let stored = hash.unwrap_or(dummy);
    let ok = PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    ok && hash.is_some()
}

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Validated sessions, keyed by token hash.
#[derive(Default)]
pub(crate) struct SessionCache {
    entries: Mutex<HashMap<String, (Actor, i64, i64)>>,
}

impl SessionCache {
    pub(crate) fn get(&self, hash: &str, now: i64) -> Option<Actor> {
        let entries = self.entries.lock().ok()?;
        let (actor, expires, checked) = entries.get(hash)?;
        (now < *expires && now - checked < CACHE_MILLIS).then(|| actor.clone())
    }

    pub(crate) fn put(&self, hash: String, actor: Actor, expires: i64, now: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 100_000 {
                entries.retain(|_, (_, e, c)| now < *e && now - *c < CACHE_MILLIS);
            }
            entries.insert(hash, (actor, expires, now));
        }
    }

    pub(crate) fn remove(&self, hash: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(hash);
        }
    }
}

pub(crate) fn actor_of(user: &dancu_store::UserRecord) -> Result<Actor, Error> {
    Ok(Actor {
        username: user.username.clone(),
        role: Role::parse(&user.role)
            .ok_or_else(|| Error::Internal(format!("unknown role {}", user.role)))?,
        unit: user.unit.clone(),
    })
}
