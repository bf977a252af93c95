//! Credentials: Argon2id passwords with a policy, TOTP second factor, one-time recovery
//! codes, IP allow-lists and bearer sessions. Tokens are random 256-bit values; only
//! their SHA-256 hash is stored, so a copy of the database yields no usable token.

pub mod totp;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use ipnet::IpNet;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::policy::{Actor, Role};

/// Session lifetime (a working day).
pub const SESSION_TTL_MILLIS: i64 = 8 * 3600 * 1000;
/// How long a login or re-authentication counts as fresh for sensitive actions.
pub const REAUTH_MILLIS: i64 = 10 * 60 * 1000;
/// How long a validated token is trusted without asking the store again. Revocation on
/// this node is immediate; other nodes see it within this delay.
const CACHE_MILLIS: i64 = 30_000;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 128;
/// A new password may not repeat any of the last N.
pub const PASSWORD_HISTORY: u32 = 5;
/// Failed logins before the account locks; each further failure doubles the lock.
pub const LOCK_AFTER_FAILURES: i64 = 5;
const FIRST_LOCK_MILLIS: i64 = 30_000;
const MAX_LOCK_MILLIS: i64 = 3600 * 1000;
pub const RECOVERY_CODES: usize = 10;

/// When an account with `failures` consecutive failed logins unlocks (0 = not locked).
pub fn lock_until(failures: i64, now: i64) -> i64 {
    if failures < LOCK_AFTER_FAILURES {
        return 0;
    }
    let doublings = (failures - LOCK_AFTER_FAILURES).min(20) as u32;
    now + (FIRST_LOCK_MILLIS << doublings).min(MAX_LOCK_MILLIS)
}

/// The password policy (NIST SP 800-63B: length and a block-list, no composition rules).
pub fn check_password_policy(username: &str, password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    let lower = password.to_lowercase();
    let problem = if n < MIN_PASSWORD_LEN {
        Some(format!(
            "password must have at least {MIN_PASSWORD_LEN} characters"
        ))
    } else if n > MAX_PASSWORD_LEN {
        Some(format!(
            "password must have at most {MAX_PASSWORD_LEN} characters"
        ))
    } else if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        Some("password must not contain the username".into())
    } else if password
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 5
    {
        Some("password must use at least 5 different characters".into())
    } else if COMMON.iter().any(|c| lower.contains(c)) {
        Some("password contains a commonly used password".into())
    } else {
        None
    };
    problem.map_or(Ok(()), |m| Err(Error::Invalid(m)))
}

/// Fragments of the most used passwords (Vietnamese and international lists).
const COMMON: &[&str] = &[
    "123456789",
    "password",
    "matkhau",
    "qwertyuiop",
    "abc123456",
    "iloveyou",
    "11111111",
    "00000000",
    "12341234",
    "admin123",
    "anhyeuem",
    "123456a@",
    "88888888",
    "66666666",
];

/// Argon2id with 12 MiB and 3 passes: one of OWASP's equivalent recommended settings
/// (with 19 MiB × 2, 9 MiB × 4, …); measured here at 20 ms a hash against 34 ms for
/// 19 MiB × 2, which fits a core's cache less well. Verification reads the settings from
/// the stored hash, so hashes made with other settings keep working.
fn hasher() -> Argon2<'static> {
    let params = argon2::Params::new(12 * 1024, 3, 1, None).expect("valid Argon2 parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

pub fn hash_password(password: &str) -> Result<String, Error> {
    let _slot = HashSlots::global().acquire();
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(hasher()
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
    let _slot = HashSlots::global().acquire();
    let ok = PasswordHash::new(stored)
        .map(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false);
    ok && hash.is_some()
}

/// One-time recovery codes (`xxxxx-xxxxx`, 50 bits each) and their stored hashes.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    code.push('-');
                }
                let k = (rng.next_u32() as usize) % ALPHABET.len();
                code.push(ALPHABET[k] as char);
            }
            code
        })
        .collect()
}

pub fn recovery_code_hash(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(format!("recovery:{normalized}").as_bytes()))
}

/// Parses an allow-list: CIDR blocks or single addresses, separated by commas or given
/// one by one. An empty list allows any address.
pub fn parse_allow_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<IpNet>, Error> {
    let mut nets = Vec::new();
    for item in items
        .into_iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let net = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| Error::Invalid(format!("'{item}' is not an IP address or CIDR block")))?;
        nets.push(net.trunc());
    }
    Ok(nets)
}

pub fn format_allow_list(nets: &[IpNet]) -> String {
    nets.iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Is `ip` allowed by `list` (empty = any)? An IPv4 address mapped into IPv6 counts as
/// the IPv4 address.
pub fn ip_allowed(list: &[IpNet], ip: Option<IpAddr>) -> bool {
    if list.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    list.iter().any(|net| net.contains(&ip))
}

/// A counting semaphore for password hashing (Argon2 takes ~20 ms of a core and 12 MiB):
/// one slot per core, held only while hashing, so that a login storm queues for the
/// cores instead of starving every other request.
struct HashSlots {
    free: Mutex<usize>,
    freed: std::sync::Condvar,
}

struct HashSlot<'a>(&'a HashSlots);

impl HashSlots {
    fn global() -> &'static HashSlots {
        static SLOTS: std::sync::OnceLock<HashSlots> = std::sync::OnceLock::new();
        SLOTS.get_or_init(|| {
            HashSlots::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
        })
    }

    fn new(n: usize) -> HashSlots {
        HashSlots {
            free: Mutex::new(n.max(1)),
            freed: std::sync::Condvar::new(),
        }
    }

    fn acquire(&self) -> HashSlot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        HashSlot(self)
    }
}

impl Drop for HashSlot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A validated session: who, until when, and the allow-list it must be used from.
#[derive(Clone)]
pub(crate) struct CachedSession {
    pub actor: Actor,
    pub allow: Vec<IpNet>,
    pub expires: i64,
    pub reauth_until: i64,
    checked: i64,
}

/// Validated sessions, keyed by token hash.
#[derive(Default)]
pub(crate) struct SessionCache {
    entries: Mutex<HashMap<String, CachedSession>>,
}

impl SessionCache {
    pub(crate) fn get(&self, hash: &str, now: i64) -> Option<CachedSession> {
        let entries = self.entries.lock().ok()?;
        let s = entries.get(hash)?;
        (now < s.expires && now - s.checked < CACHE_MILLIS).then(|| s.clone())
    }

    pub(crate) fn put(
        &self,
        hash: String,
        session: &dancu_store::SessionRecord,
        now: i64,
    ) -> Result<CachedSession, Error> {
        let cached = CachedSession {
            actor: actor_of(&session.user)?,
            allow: parse_allow_list([session.user.allow_ips.as_str()])?,
            expires: session.expires_at_millis,
            reauth_until: session.reauth_until_millis,
            checked: now,
        };
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 100_000 {
                entries.retain(|_, s| now < s.expires && now - s.checked < CACHE_MILLIS);
            }
            entries.insert(hash, cached.clone());
        }
        Ok(cached)
    }

    pub(crate) fn remove(&self, hash: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(hash);
        }
    }

    /// Forgets every session of an account (after a revocation on this node).
    pub(crate) fn remove_user(&self, username: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, s| s.actor.username != username);
        }
    }
}

pub(crate) fn actor_of(user: &dancu_store::UserRecord) -> Result<Actor, Error> {
    let role = Role::parse(&user.role)
        .ok_or_else(|| Error::Internal(format!("unknown role {}", user.role)))?;
    let mut actor = Actor::new(&user.username, role, &user.unit);
    actor.personal_id = user
        .personal_id
        .and_then(|p| dancu_domain::PersonalId::from_u64(p as u64).ok());
    Ok(actor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_out_backs_off_and_is_capped() {
        assert_eq!(lock_until(4, 0), 0);
        assert_eq!(lock_until(5, 0), 30_000);
        assert_eq!(lock_until(6, 0), 60_000);
        assert_eq!(lock_until(100, 0), 3_600_000);
    }

    #[test]
    fn password_policy_explains_what_is_wrong() {
        let err = |u: &str, p: &str| check_password_policy(u, p).unwrap_err().to_string();
        assert!(err("a", "short").contains("at least 12"));
        assert!(err("officer.x", "my-officer.x-pass").contains("username"));
        assert!(err("b", "aaaaaaaaaaaaaaaa").contains("5 different"));
        assert!(err("b", "xPassword2024!").contains("commonly used"));
        assert!(check_password_policy("officer.x", "sông Hồng chảy về").is_ok());
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(
            codes.iter().collect::<std::collections::HashSet<_>>().len(),
            RECOVERY_CODES
        );
        assert_eq!(
            recovery_code_hash("abcde-fghjk"),
            recovery_code_hash(" ABCDE FGHJK ")
        );
    }

    #[test]
    fn allow_lists_match_cidr_blocks_and_mapped_addresses() {
        let list = parse_allow_list(["10.1.0.0/16, 192.168.1.7", "2001:db8::/32"]).unwrap();
        assert_eq!(
            format_allow_list(&list),
            "10.1.0.0/16,192.168.1.7/32,2001:db8::/32"
        );
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(ip_allowed(&list, ip("10.1.200.3")));
        assert!(ip_allowed(&list, ip("::ffff:10.1.0.9")));
        assert!(!ip_allowed(&list, ip("10.2.0.1")));
        assert!(!ip_allowed(&list, None));
        assert!(ip_allowed(&[], None));
        assert!(parse_allow_list(["10.0.0.0/33"]).is_err());
    }
}
