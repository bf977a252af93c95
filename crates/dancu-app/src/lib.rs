//! Use cases of dancu. Every public function takes the acting principal, checks the
//! policy first (deny by default), then does its work in one store transaction; reads of
//! a person's data return only after their audit entry is committed.

pub mod audit;
pub mod auth;
pub mod citizens;
pub mod import;
pub mod policy;
pub mod readdress;
pub mod seed;

use std::sync::Arc;

use dancu_domain::units::UnitCatalog;
use dancu_store::{AuditEntry, Store};

pub use audit::{AuditSink, AuditTicket};
pub use policy::{Action, Actor, Role};

/// Errors of the use cases; the HTTP edge maps each kind to one status once.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden(#[from] policy::Denied),
    #[error("authentication failed")]
    Unauthenticated,
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<dancu_store::Error> for Error {
    fn from(e: dancu_store::Error) -> Self {
        match e {
            dancu_store::Error::NotFound(_) => Error::NotFound,
            dancu_store::Error::Conflict(m) => Error::Conflict(m),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// The application: the store, the unit catalog, the audit writer and session cache.
pub struct App {
    pub store: Arc<Store>,
    pub units: &'static UnitCatalog,
    pub audit: AuditSink,
    sessions: auth::SessionCache,
}

impl App {
    pub fn new(store: Store) -> App {
        let store = Arc::new(store);
        App {
            audit: AuditSink::start(store.clone()),
            store,
            units: UnitCatalog::embedded(),
            sessions: auth::SessionCache::default(),
        }
    }

    /// Opens (and migrates) the store at `url`.
    pub fn open(url: &str) -> Result<App, Error> {
        Ok(App::new(Store::open(url)?))
    }

    fn audit_entry(
        &self,
        actor: &Actor,
        action: &str,
        personal_id: Option<dancu_domain::PersonalId>,
        purpose: Option<&str>,
        outcome: &str,
    ) -> AuditEntry {
        AuditEntry {
            at_millis: dancu_store::now_millis(),
            actor: actor.username.clone(),
            actor_role: actor.role.code().into(),
            actor_unit: actor.unit.clone(),
            action: action.into(),
            personal_id,
            purpose: purpose.map(str::to_owned),
            outcome: outcome.into(),
            ..Default::default()
        }
    }

    /// Checks the policy; a refusal is itself audited.
    pub fn authorize(
        &self,
        actor: &Actor,
        action: Action,
        target: Option<policy::Target<'_>>,
        personal_id: Option<dancu_domain::PersonalId>,
    ) -> Result<(), Error> {
        policy::authorize(self.units, actor, action, target).map_err(|denied| {
            self.audit.record_detached(self.audit_entry(
                actor,
                &format!("{action:?}"),
                personal_id,
                None,
                "denied",
            ));
            Error::Forbidden(denied)
        })
    }

    // ---- accounts and sessions ----

    /// Creates a staff account (CLI `user add`, or an admin inside its unit).
    pub fn add_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        role: Role,
        unit: &str,
    ) -> Result<i64, Error> {
        if !policy::is_valid_actor_unit(self.units, unit) {
            return Err(Error::Invalid(format!(
                "unknown unit '{unit}': use VN, or a province or commune code of the 2025 structure"
            )));
        }
        if username.is_empty()
            || username.len() > 64
            || !username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(Error::Invalid(
                "username must be 1-64 characters of a-z, 0-9, '.', '_' or '-'".into(),
            ));
        }
        let target = policy::Target {
            structure: dancu_domain::units::Structure::Y2025,
            code: unit,
        };
        if unit == policy::NATIONAL_UNIT {
            let national = policy::Target {
                structure: dancu_domain::units::Structure::Y2025,
                code: policy::NATIONAL_UNIT,
            };
            self.authorize(actor, Action::ManageAccounts, Some(national), None)?;
        } else {
            self.authorize(actor, Action::ManageAccounts, Some(target), None)?;
        }
        let id = self.store.create_user(&dancu_store::NewUser {
            username: username.into(),
            password_hash: auth::hash_password(password)?,
            role: role.code().into(),
            unit: unit.into(),
        })?;
        self.audit
            .record(self.audit_entry(actor, "account.create", None, Some(username), "ok"))
            .wait()?;
        Ok(id)
    }

    /// Password login; returns (token, expiry in Unix ms). Every failure looks the same.
    /// Blocking (Argon2): call it off the async workers.
    pub fn login(&self, username: &str, password: &str) -> Result<(String, i64), Error> {
        let user = self.store.user_by_name(username)?;
        let ok = auth::verify_password(password, user.as_ref().map(|u| u.password_hash.as_str()));
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            other => {
                // Every failed attempt is logged (finding 3), under the account it named.
                let (role, unit) = other
                    .map(|u| (u.role, u.unit))
                    .unwrap_or_else(|| ("unknown".into(), "-".into()));
                self.audit.record_detached(AuditEntry {
                    at_millis: dancu_store::now_millis(),
                    actor: username.chars().take(64).collect(),
                    actor_role: role,
                    actor_unit: unit,
                    action: "session.login".into(),
                    personal_id: None,
                    purpose: None,
                    outcome: "denied".into(),
                    ..Default::default()
                });
                return Err(Error::Unauthenticated);
            }
        };
        let actor = auth::actor_of(&user)?;
        let token = auth::new_token();
        let expires = dancu_store::now_millis() + auth::SESSION_TTL_MILLIS;
        self.store
            .create_session(&auth::token_hash(&token), user.id, expires)?;
        self.audit
            .record(self.audit_entry(&actor, "session.login", None, None, "ok"))
            .wait()?;
        Ok((token, expires))
    }

    /// The principal of a bearer token.
    pub fn authenticate(&self, token: &str) -> Result<Actor, Error> {
        let hash = auth::token_hash(token);
        let now = dancu_store::now_millis();
        if let Some(actor) = self.sessions.get(&hash, now) {
            return Ok(actor);
        }
        let session = self.store.session(&hash)?.ok_or(Error::Unauthenticated)?;
        let actor = auth::actor_of(&session.user)?;
        self.sessions
            .put(hash, actor.clone(), session.expires_at_millis, now);
        Ok(actor)
    }

    /// The principal of a recently validated token, without touching the store.
    pub fn cached_actor(&self, token: &str) -> Option<Actor> {
        self.sessions
            .get(&auth::token_hash(token), dancu_store::now_millis())
    }

    /// The data-quality report of `dancu check`. Its counts are national, so only a
    /// national-scope principal may read them; the example subjects (ID numbers) are for
    /// the console operator only, as a supervisor never sees a single person.
    pub fn quality_report(&self, actor: &Actor) -> Result<Vec<dancu_store::RuleResult>, Error> {
        let national = policy::Target {
            structure: dancu_domain::units::Structure::Y2025,
            code: policy::NATIONAL_UNIT,
        };
        self.authorize(actor, Action::ReadAggregates, Some(national), None)?;
        let mut report = self.store.quality_report(self.units)?;
        if actor.role != Role::System {
            for rule in &mut report {
                rule.examples.clear();
            }
        }
        Ok(report)
    }

    pub fn logout(&self, token: &str) -> Result<(), Error> {
        let hash = auth::token_hash(token);
        self.sessions.remove(&hash);
        self.store.revoke_session(&hash)?;
        Ok(())
    }
}

/// An error message fit for a log line: database error details (which may quote a
/// failing row) are cut, and runs of 9 or more digits (ID numbers) are masked.
pub fn redact(message: &str) -> String {
    let cut = ["DETAIL", "Failing row", "Key ("]
        .iter()
        .filter_map(|m| message.find(m))
        .min()
        .unwrap_or(message.len());
    let mut out = String::with_capacity(cut);
    let mut digits = String::new();
    for c in message[..cut].chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 9 {
            out.push_str("[number]");
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redaction_masks_id_numbers_and_row_details() {
        assert_eq!(
            redact("citizen 001080000001: bad name at 12"),
            "citizen [number]: bad name at 12"
        );
        assert_eq!(
            redact("duplicate key value DETAIL: Key (personal_id)=(1080000001) exists"),
            "duplicate key value "
        );
    }
}
