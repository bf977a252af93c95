//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps), the
//! format every authenticator app reads. Replays are refused by the caller, which
//! records the last accepted step per account.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

pub const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;
/// Steps of clock drift accepted on either side.
const DRIFT_STEPS: i64 = 1;
const ISSUER: &str = "dancu";

/// A new 160-bit secret (RFC 4226 §4 recommends 160 bits), Base32 without padding.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    base32(&bytes)
}

/// The `otpauth://` URI an authenticator app enrolls from (usually shown as a QR code).
pub fn otpauth_url(secret: &str, account: &str) -> String {
    let label: String = account
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    format!(
        "otpauth://totp/{ISSUER}:{label}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
}

/// The code of one time step.
pub fn code_at(secret: &str, step: i64) -> Option<u32> {
    let key = base32_decode(secret)?;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).ok()?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation (RFC 4226 §5.3).
    let offset = usize::from(digest[19] & 0x0f);
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    Some(bin % 10u32.pow(DIGITS))
}

/// The step a code matches at `now_secs` (± drift), if any; the caller refuses a step
/// that is not after the last one accepted.
pub fn matching_step(secret: &str, code: &str, now_secs: i64) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let now_step = now_secs.div_euclid(STEP_SECONDS);
    // Check every candidate so that timing does not tell which step matched.
    let mut found = None;
    for step in now_step - DRIFT_STEPS..=now_step + DRIFT_STEPS {
        if code_at(secret, step) == Some(given) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The current code (tests, and the demo's instructions).
pub fn current_code(secret: &str, now_secs: i64) -> Option<String> {
    code_at(secret, now_secs.div_euclid(STEP_SECONDS)).map(|c| format!("{c:06}"))
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column, truncated to 6 digits (the 8-digit values'
    /// last six).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = base32(b"12345678901234567890");
        assert_eq!(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for (time, code) in [
            (59, 287_082),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000, 353_130),
        ] {
            assert_eq!(
                code_at(&secret, time / STEP_SECONDS),
                Some(code),
                "t={time}"
            );
        }
    }

    #[test]
    fn codes_match_within_one_step_of_drift_only() {
        let secret = new_secret();
        assert_eq!(base32_decode(&secret).unwrap().len(), 20);
        let now = 1_800_000_000;
        let code = current_code(&secret, now).unwrap();
        assert_eq!(matching_step(&secret, &code, now), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now + 30), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now + 90), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn otpauth_url_names_issuer_and_account() {
        let url = otpauth_url("ABC", "officer.hanoi");
        assert_eq!(
            url,
            "otpauth://totp/dancu:officer.hanoi?secret=ABC&issuer=dancu&algorithm=SHA1&digits=6&period=30"
        );
    }
}
