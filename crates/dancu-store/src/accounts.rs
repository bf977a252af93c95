//! Accounts (staff and citizens), their second factor, lock-out state, password history
//! and sessions. The store never sees a password, a token or a recovery code: only
//! their hashes, made by the caller.

use serde::Serialize;

use crate::sql::{Row, Tx, Value};
use crate::{AuditEntry, Error, Store, now_millis};

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub unit: String,
    /// `staff` or `citizen`.
    pub kind: String,
    /// The person a citizen account belongs to.
    pub personal_id: Option<i64>,
    /// Base32 TOTP secret (RFC 6238).
    pub totp_secret: Option<String>,
    /// Comma-separated CIDR list; empty = any address.
    pub allow_ips: String,
    /// SHA-256 hashes of the one-time recovery codes.
    pub recovery_code_hashes: Vec<String>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub unit: String,
    pub disabled: bool,
    pub kind: String,
    #[serde(skip)]
    pub personal_id: Option<i64>,
    #[serde(skip)]
    pub totp_secret: Option<String>,
    #[serde(skip)]
    pub totp_last_step: i64,
    pub allow_ips: String,
    pub failed_logins: i64,
    pub locked_until: i64,
    pub password_changed_at: i64,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub user: UserRecord,
    pub expires_at_millis: i64,
    /// Until when the session counts as freshly authenticated (re-authentication).
    pub reauth_until_millis: i64,
}

const USER_COLUMNS: &str = "u.id, u.username, u.password_hash, u.role, u.unit, u.disabled, \
     u.kind, u.personal_id, u.totp_secret, u.totp_last_step, u.allow_ips, u.failed_logins, \
     u.locked_until, u.password_changed_at, u.created_by";
const USER_COLUMN_COUNT: usize = 15;

fn user_from(r: &mut Row) -> UserRecord {
    let mut text = |i: usize| std::mem::replace(&mut r[i], Value::Null).into_string();
    let (username, password_hash, role, unit, kind, totp_secret, allow_ips, created_by) = (
        text(1).unwrap_or_default(),
        text(2).unwrap_or_default(),
        text(3).unwrap_or_default(),
        text(4).unwrap_or_default(),
        text(6).unwrap_or_default(),
        text(8),
        text(10).unwrap_or_default(),
        text(14).unwrap_or_default(),
    );
    let int = |i: usize| r[i].as_i64().unwrap_or_default();
    UserRecord {
        id: int(0),
        username,
        password_hash,
        role,
        unit,
        disabled: int(5) != 0,
        kind,
        personal_id: r[7].as_i64(),
        totp_secret,
        totp_last_step: int(9),
        allow_ips,
        failed_logins: int(11),
        locked_until: int(12),
        password_changed_at: int(13),
        created_by,
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

impl Store {
    /// Creates an account with its first password-history entry and recovery codes.
    pub fn create_user(&self, user: &NewUser) -> Result<i64, Error> {
        self.write(|tx| {
            if tx
                .query_one(
                    "SELECT 1 FROM users WHERE username = $1",
                    &[text(&user.username)],
                )?
                .is_some()
            {
                return Err(Error::Conflict(format!(
                    "user {} already exists",
                    user.username
                )));
            }
            if let Some(pid) = user.personal_id
                && tx
                    .query_one(
                        "SELECT 1 FROM users WHERE personal_id = $1",
                        &[Value::Int(pid)],
                    )?
                    .is_some()
            {
                return Err(Error::Conflict("this person already has an account".into()));
            }
            let now = now_millis();
            let kind = if user.kind.is_empty() {
                "staff"
            } else {
                &user.kind
            };
            let id = tx.query_i64(
                "INSERT INTO users (username, password_hash, role, unit, created_at, kind, \
                 personal_id, totp_secret, allow_ips, password_changed_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $5, $10) RETURNING id",
                &[
                    text(&user.username),
                    text(&user.password_hash),
                    text(&user.role),
                    text(&user.unit),
                    Value::Int(now),
                    text(kind),
                    user.personal_id.into(),
                    user.totp_secret.clone().into(),
                    text(&user.allow_ips),
                    text(&user.created_by),
                ],
            )?;
            add_password_history(tx, id, &user.password_hash, &user.created_by, now)?;
            for h in &user.recovery_code_hashes {
                tx.exec(
                    "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
                    &[Value::Int(id), text(h)],
                )?;
            }
            Ok(id)
        })
    }

    pub fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1"),
                    &[text(username)],
                )?
                .map(|mut r| user_from(&mut r)))
        })
    }

    /// Every account, by username (admin screens filter them by unit).
    pub fn users(&self) -> Result<Vec<UserRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query(
                    &format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username"),
                    &[],
                )?
                .into_iter()
                .map(|mut r| user_from(&mut r))
                .collect())
        })
    }

    /// Counts a failed login and locks the account until `lock_until(failures)` (0 = not
    /// locked). Atomic: concurrent failures all count.
    pub fn note_login_failure(
        &self,
        user_id: i64,
        lock_until: impl Fn(i64) -> i64,
    ) -> Result<i64, Error> {
        self.write(|tx| {
            let failures = tx.query_i64(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 \
                 RETURNING failed_logins",
                &[Value::Int(user_id)],
            )?;
            let until = lock_until(failures);
            if until > 0 {
                tx.exec(
                    "UPDATE users SET locked_until = $2 WHERE id = $1",
                    &[Value::Int(user_id), Value::Int(until)],
                )?;
            }
            Ok(failures)
        })
    }

    /// Claims a TOTP time step for a login: false if this or a later step was already
    /// used (a replayed code).
    pub fn claim_totp_step(&self, user_id: i64, step: i64) -> Result<bool, Error> {
        self.write(|tx| {
            Ok(tx.exec(
                "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
                &[Value::Int(user_id), Value::Int(step)],
            )? == 1)
        })
    }

    /// Marks an unused recovery code as used; false if it is unknown or spent.
    pub fn use_recovery_code(&self, user_id: i64, code_hash: &str) -> Result<bool, Error> {
        self.write(|tx| {
            Ok(tx.exec(
                "UPDATE recovery_codes SET used_at = $3 \
                 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                &[
                    Value::Int(user_id),
                    text(code_hash),
                    Value::Int(now_millis()),
                ],
            )? == 1)
        })
    }

    pub fn unused_recovery_codes(&self, user_id: i64) -> Result<i64, Error> {
        self.read(|tx| {
            tx.query_i64(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                &[Value::Int(user_id)],
            )
        })
    }

    /// A successful login: clears the failure count and opens a session.
    pub fn open_session(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at_millis: i64,
        reauth_until_millis: i64,
        ip: Option<&str>,
    ) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = $1",
                &[Value::Int(user_id)],
            )?;
            let now = now_millis();
            tx.exec(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, ip, \
                 reauth_until) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    text(token_hash),
                    Value::Int(user_id),
                    Value::Int(now),
                    Value::Int(expires_at_millis),
                    ip.map(str::to_owned).into(),
                    Value::Int(reauth_until_millis),
                ],
            )?;
            Ok(())
        })
    }

    /// The live session of a token hash: not revoked, not expired, user not disabled.
    pub fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    &format!(
                        "SELECT {USER_COLUMNS}, s.expires_at, s.reauth_until FROM sessions s \
                         JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 \
                         AND s.revoked = 0 AND s.expires_at > $2 AND u.disabled = 0"
                    ),
                    &[text(token_hash), Value::Int(now_millis())],
                )?
                .map(|mut r| {
                    let expires_at_millis = r[USER_COLUMN_COUNT].as_i64().unwrap_or_default();
                    let reauth_until_millis = r[USER_COLUMN_COUNT + 1].as_i64().unwrap_or_default();
                    SessionRecord {
                        user: user_from(&mut r),
                        expires_at_millis,
                        reauth_until_millis,
                    }
                }))
        })
    }

    pub fn set_reauth(&self, token_hash: &str, until_millis: i64) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "UPDATE sessions SET reauth_until = $2 WHERE token_hash = $1",
                &[text(token_hash), Value::Int(until_millis)],
            )?;
            Ok(())
        })
    }

    pub fn revoke_session(&self, token_hash: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "UPDATE sessions SET revoked = 1 WHERE token_hash = $1",
                &[text(token_hash)],
            )?;
            Ok(())
        })
    }

    /// Revokes every session of an account but `keep` (the caller's own, if any).
    pub fn revoke_user_sessions(&self, user_id: i64, keep: Option<&str>) -> Result<u64, Error> {
        self.write(|tx| revoke_all(tx, user_id, keep))
    }

    /// The last `n` password hashes of an account, newest first.
    pub fn password_history(&self, user_id: i64, n: u32) -> Result<Vec<String>, Error> {
        self.read(|tx| {
            Ok(tx
                .query(
                    "SELECT password_hash FROM password_history WHERE user_id = $1 \
                     ORDER BY changed_at DESC LIMIT $2",
                    &[Value::Int(user_id), Value::Int(n.into())],
                )?
                .into_iter()
                .filter_map(|mut r| std::mem::replace(&mut r[0], Value::Null).into_string())
                .collect())
        })
    }

    /// Sets a new password, records it in the history and ends every other session.
    pub fn change_password(
        &self,
        user_id: i64,
        new_hash: &str,
        changed_by: &str,
        keep_session: Option<&str>,
    ) -> Result<(), Error> {
        self.write(|tx| {
            let now = now_millis();
            tx.exec(
                "UPDATE users SET password_hash = $2, password_changed_at = $3, \
                 failed_logins = 0, locked_until = 0 WHERE id = $1",
                &[Value::Int(user_id), text(new_hash), Value::Int(now)],
            )?;
            add_password_history(tx, user_id, new_hash, changed_by, now)?;
            revoke_all(tx, user_id, keep_session)?;
            Ok(())
        })
    }

    /// Disables or re-enables an account; disabling ends its sessions.
    pub fn set_user_disabled(&self, user_id: i64, disabled: bool) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "UPDATE users SET disabled = $2 WHERE id = $1",
                &[Value::Int(user_id), Value::Int(disabled.into())],
            )?;
            if disabled {
                revoke_all(tx, user_id, None)?;
            }
            Ok(())
        })
    }

    pub fn unlock_user(&self, user_id: i64) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = $1",
                &[Value::Int(user_id)],
            )?;
            Ok(())
        })
    }

    /// Replaces an account's IP allow-list and ends its sessions (they were opened under
    /// the old list).
    pub fn set_allow_ips(&self, user_id: i64, allow_ips: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "UPDATE users SET allow_ips = $2 WHERE id = $1",
                &[Value::Int(user_id), text(allow_ips)],
            )?;
            revoke_all(tx, user_id, None)?;
            Ok(())
        })
    }

    /// The audit entries of one actor for the given actions (login and password
    /// history), newest first.
    pub fn audit_for_actor(
        &self,
        actor: &str,
        actions: &[&str],
        limit: u32,
    ) -> Result<Vec<AuditEntry>, Error> {
        let placeholders: Vec<String> = (0..actions.len()).map(|i| format!("${}", i + 3)).collect();
        let mut params = vec![text(actor), Value::Int(limit.into())];
        params.extend(actions.iter().map(|a| text(a)));
        self.read(|tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT at, actor, actor_role, actor_unit, action, purpose, outcome, \
                         ip, user_agent, detail FROM audit_log WHERE actor = $1 \
                         AND action IN ({}) ORDER BY id DESC LIMIT $2",
                        placeholders.join(", ")
                    ),
                    &params,
                )?
                .into_iter()
                .map(|mut r| {
                    let at_millis = r[0].as_i64().unwrap_or_default();
                    let mut text =
                        |i: usize| std::mem::replace(&mut r[i], Value::Null).into_string();
                    AuditEntry {
                        at_millis,
                        actor: text(1).unwrap_or_default(),
                        actor_role: text(2).unwrap_or_default(),
                        actor_unit: text(3).unwrap_or_default(),
                        action: text(4).unwrap_or_default(),
                        purpose: text(5),
                        outcome: text(6).unwrap_or_default(),
                        ip: text(7),
                        user_agent: text(8),
                        detail: text(9),
                        personal_id: None,
                    }
                })
                .collect())
        })
    }
}

fn add_password_history(
    tx: &mut dyn Tx,
    user_id: i64,
    hash: &str,
    by: &str,
    at: i64,
) -> Result<(), Error> {
    tx.exec(
        "INSERT INTO password_history (user_id, changed_at, password_hash, changed_by) \
         VALUES ($1, $2, $3, $4)",
        &[Value::Int(user_id), Value::Int(at), text(hash), text(by)],
    )?;
    Ok(())
}

fn revoke_all(tx: &mut dyn Tx, user_id: i64, keep: Option<&str>) -> Result<u64, Error> {
    tx.exec(
        "UPDATE sessions SET revoked = 1 WHERE user_id = $1 AND revoked = 0 \
         AND token_hash <> $2",
        &[Value::Int(user_id), text(keep.unwrap_or(""))],
    )
}
