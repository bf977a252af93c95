//! Accounts and logins: creation with a mandatory second factor, login with lock-out
//! and IP allow-lists, sessions, re-authentication, password changes, and the login
//! history. Every attempt and every change is audited; a failed login says nothing to
//! the client about which factor failed, but the log records it.

use std::net::IpAddr;

use dancu_domain::PersonalId;
use dancu_domain::units::Structure;
use dancu_store::{AuditEntry, NewUser, UserRecord};
use serde::Serialize;

use crate::auth::{self, CachedSession, totp};
use crate::policy::{self, Action, Actor, Role, Target};
use crate::{App, Error};

/// What a new account's owner must receive once: the TOTP enrollment URI and the
/// recovery codes. Neither is stored in a readable form.
#[derive(Debug, Clone, Serialize)]
pub struct Enrollment {
    pub username: String,
    pub totp_url: String,
    pub recovery_codes: Vec<String>,
}

/// A login attempt as the client sent it, with where it came from.
#[derive(Debug, Clone, Default)]
pub struct LoginAttempt {
    pub username: String,
    pub password: String,
    /// A 6-digit TOTP code or a one-time recovery code.
    pub second_factor: String,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// An account as admins and the owner see it (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub username: String,
    pub role: String,
    pub unit: String,
    pub kind: String,
    pub disabled: bool,
    pub locked: bool,
    pub allow_ips: Vec<String>,
    pub password_changed_at: i64,
    pub created_by: String,
}

/// One login attempt or password change of the history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub at: i64,
    /// `login` or `password_change`.
    pub event: &'static str,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The factors used (`password+totp`, `password+recovery_code`) or, for a failure,
    /// what failed — shown to the account, its admin and auditors, never in the answer
    /// to the failed attempt itself.
    pub detail: Option<String>,
}

const LOGIN: &str = "session.login";
const PASSWORD_CHANGE: &str = "account.password_change";

/// Checks an account or partner name (`what` names it in the error).
pub(crate) fn validate_name(what: &str, name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::Invalid(format!(
            "{what} must be 1-64 characters of a-z, 0-9, '.', '_' or '-'"
        )));
    }
    Ok(())
}

impl App {
    /// Creates a staff account (CLI `user add`, or an admin inside its unit). The second
    /// factor is mandatory: the enrollment is returned once.
    pub fn add_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        role: Role,
        unit: &str,
        allow_ips: &[&str],
    ) -> Result<Enrollment, Error> {
        if !role.is_staff() {
            return Err(Error::Invalid(
                "citizen accounts are created with add_citizen_account".into(),
            ));
        }
        if !policy::is_valid_actor_unit(self.units, unit) {
            return Err(Error::Invalid(format!(
                "unknown unit '{unit}': use VN, a province or commune code of the 2025 \
                 structure, or an agency ({})",
                policy::AGENCIES
                    .iter()
                    .map(|(c, _)| *c)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        validate_name("username", username)?;
        self.authorize_account_admin(actor, unit)?;
        if role == Role::Admin && actor.role == Role::Admin {
            // Separation of duties: an admin cannot mint a peer that could then create
            // officers; admin accounts come from the national console.
            return Err(Error::Forbidden(policy::Denied {
                role: actor.role,
                action: Action::ManageAccounts,
            }));
        }
        auth::check_password_policy(username, password)?;
        let allow = auth::parse_allow_list(allow_ips.iter().copied())?;
        self.create_account(actor, username, password, role, unit, None, &allow)
    }

    /// Creates a citizen's own account (VNeID-like), bound to their person; the username
    /// is their personal ID number.
    pub fn add_citizen_account(
        &self,
        actor: &Actor,
        person: PersonalId,
        password: &str,
    ) -> Result<Enrollment, Error> {
        let c = self.store.citizen(person)?.ok_or(Error::NotFound)?;
        self.authorize(
            actor,
            Action::ManageAccounts,
            Some(Target {
                structure: c.commune_structure,
                code: c.commune_code.as_deref().unwrap_or(""),
            }),
            None,
        )?;
        let username = person.to_string();
        auth::check_password_policy(&username, password)?;
        self.create_account(
            actor,
            &username,
            password,
            Role::Citizen,
            "",
            Some(person),
            &[],
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn create_account(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        role: Role,
        unit: &str,
        person: Option<PersonalId>,
        allow: &[ipnet::IpNet],
    ) -> Result<Enrollment, Error> {
        let secret = totp::new_secret();
        let recovery_codes = auth::new_recovery_codes();
        self.store.create_user(&NewUser {
            username: username.into(),
            password_hash: auth::hash_password(password)?,
            role: role.code().into(),
            unit: unit.into(),
            kind: if role == Role::Citizen {
                "citizen"
            } else {
                "staff"
            }
            .into(),
            personal_id: person.map(|p| p.as_u64() as i64),
            totp_secret: Some(secret.clone()),
            allow_ips: auth::format_allow_list(allow),
            recovery_code_hashes: recovery_codes
                .iter()
                .map(|c| auth::recovery_code_hash(c))
                .collect(),
            created_by: actor.username.clone(),
        })?;
        let mut entry = self.audit_entry(actor, "account.create", person, Some(username), "ok");
        entry.detail = Some(format!("role={} unit={unit}", role.code()));
        self.audit.record(entry).wait()?;
        Ok(Enrollment {
            username: username.into(),
            totp_url: totp::otpauth_url(&secret, username),
            recovery_codes,
        })
    }

    /// May `actor` administer accounts of `unit`? National units need a national admin.
    fn authorize_account_admin(&self, actor: &Actor, unit: &str) -> Result<(), Error> {
        self.authorize_on_accounts_of(actor, Action::ManageAccounts, unit)
    }

    /// Authorizes `action` on the accounts of `unit`: agency accounts (which hold no
    /// territory) are administered nationally.
    fn authorize_on_accounts_of(
        &self,
        actor: &Actor,
        action: Action,
        unit: &str,
    ) -> Result<(), Error> {
        let code = if policy::AGENCIES.iter().any(|(c, _)| *c == unit) {
            policy::NATIONAL_UNIT
        } else {
            unit
        };
        let target = Target {
            structure: Structure::Y2025,
            code,
        };
        self.authorize(actor, action, Some(target), None)
    }

    /// Password + second-factor login; returns (token, expiry in Unix ms). Every failure
    /// is the same `Unauthenticated` to the caller and a detailed entry in the log.
    /// Blocking (Argon2): call it off the async workers.
    pub fn login(&self, attempt: &LoginAttempt) -> Result<(String, i64), Error> {
        let now = dancu_store::now_millis();
        let user = self.store.user_by_name(&attempt.username)?;
        let failure = match &user {
            None => {
                auth::verify_password(&attempt.password, None);
                Some("unknown_account")
            }
            Some(u) if u.disabled => Some("disabled"),
            Some(u) if u.locked_until > now => Some("locked"),
            Some(u) if !ip_allowed(u, attempt.ip)? => Some("ip_not_allowed"),
            Some(u) if !auth::verify_password(&attempt.password, Some(&u.password_hash)) => {
                Some("password")
            }
            Some(_) => None,
        };
        let (user, factor) = match (user, failure) {
            (Some(u), None) => match self.second_factor(&u, &attempt.second_factor, now)? {
                Some(factor) => (u, factor),
                None => return Err(self.login_failed(attempt, Some(&u), "second_factor", now)),
            },
            (u, Some(reason)) => return Err(self.login_failed(attempt, u.as_ref(), reason, now)),
            (None, None) => unreachable!("an unknown account always fails"),
        };
        let mut actor = auth::actor_of(&user)?;
        actor.ip = attempt.ip;
        actor.user_agent = attempt.user_agent.clone();
        let token = auth::new_token();
        let expires = now + auth::SESSION_TTL_MILLIS;
        self.store.open_session(
            user.id,
            &auth::token_hash(&token),
            expires,
            now + auth::REAUTH_MILLIS,
            attempt.ip.map(|ip| ip.to_string()).as_deref(),
        )?;
        let mut entry = self.audit_entry(&actor, LOGIN, None, None, "ok");
        entry.detail = Some(factor.into());
        self.audit.record(entry).wait()?;
        Ok((token, expires))
    }

    /// Checks the second factor: a TOTP code (each time step usable once) or an unused
    /// recovery code. Returns the factor's name.
    fn second_factor(
        &self,
        user: &UserRecord,
        given: &str,
        now: i64,
    ) -> Result<Option<&'static str>, Error> {
        let given = given.trim();
        let Some(secret) = user.totp_secret.as_deref() else {
            // Accounts without an enrolled factor cannot log in (mandatory 2FA).
            return Ok(None);
        };
        if let Some(step) = totp::matching_step(secret, given, now / 1000) {
            return Ok(self
                .store
                .claim_totp_step(user.id, step)?
                .then_some("password+totp"));
        }
        if given.len() >= 10 {
            let used = self
                .store
                .use_recovery_code(user.id, &auth::recovery_code_hash(given))?;
            return Ok(used.then_some("password+recovery_code"));
        }
        Ok(None)
    }

    fn login_failed(
        &self,
        attempt: &LoginAttempt,
        user: Option<&UserRecord>,
        reason: &str,
        now: i64,
    ) -> Error {
        if let Some(u) = user
            && matches!(
                reason,
                "password" | "second_factor" | "reauth_password" | "reauth_second_factor"
            )
            && let Err(e) = self
                .store
                .note_login_failure(u.id, |failures| auth::lock_until(failures, now))
        {
            return e.into();
        }
        // Logged under the account it named (finding 3), with where it came from.
        let (role, unit) = user
            .map(|u| (u.role.clone(), u.unit.clone()))
            .unwrap_or_else(|| ("unknown".into(), "-".into()));
        self.audit.record_detached(AuditEntry {
            at_millis: now,
            actor: attempt.username.chars().take(64).collect(),
            actor_role: role,
            actor_unit: unit,
            action: LOGIN.into(),
            outcome: "denied".into(),
            ip: attempt.ip.map(|ip| ip.to_string()),
            user_agent: attempt.user_agent.clone(),
            detail: Some(reason.into()),
            ..Default::default()
        });
        Error::Unauthenticated
    }

    /// The principal of a bearer token used from `ip`. A token used from outside its
    /// account's allow-list is refused (and logged) like a forged one.
    pub fn authenticate(&self, token: &str, ip: Option<IpAddr>) -> Result<Actor, Error> {
        Ok(self.session_of(token, ip, false)?.actor)
    }

    /// The principal of a recently validated token, without touching the store.
    pub fn cached_actor(&self, token: &str, ip: Option<IpAddr>) -> Option<Result<Actor, Error>> {
        let s = self
            .sessions
            .get(&auth::token_hash(token), dancu_store::now_millis())?;
        Some(self.admit(s, ip).map(|s| s.actor))
    }

    fn session_of(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        fresh: bool,
    ) -> Result<CachedSession, Error> {
        let hash = auth::token_hash(token);
        let now = dancu_store::now_millis();
        if !fresh && let Some(s) = self.sessions.get(&hash, now) {
            return self.admit(s, ip);
        }
        let Some(session) = self.store.session(&hash)? else {
            // A forged, expired or revoked token: logged with where it came from (only
            // a prefix of its hash, never the token).
            self.audit.record_detached(AuditEntry {
                at_millis: now,
                actor: "-".into(),
                actor_role: "unknown".into(),
                actor_unit: "-".into(),
                action: "session.use".into(),
                outcome: "denied".into(),
                ip: ip.map(|ip| ip.to_string()),
                detail: Some(format!("unknown or expired token {}", &hash[..12])),
                ..Default::default()
            });
            return Err(Error::Unauthenticated);
        };
        let s = self.sessions.put(hash, &session, now)?;
        self.admit(s, ip)
    }

    fn admit(&self, mut s: CachedSession, ip: Option<IpAddr>) -> Result<CachedSession, Error> {
        s.actor.ip = ip;
        if !auth::ip_allowed(&s.allow, ip) {
            self.audit.record_detached(self.audit_entry(
                &s.actor,
                "session.use",
                None,
                None,
                "denied",
            ));
            return Err(Error::Unauthenticated);
        }
        Ok(s)
    }

    /// Sensitive actions (account administration, re-addressing, password changes) need
    /// a login or re-authentication within the last minutes.
    pub fn require_recent_auth(&self, token: &str, actor: &Actor) -> Result<(), Error> {
        let now = dancu_store::now_millis();
        let s = self.session_of(token, actor.ip, true)?;
        if s.reauth_until > now {
            Ok(())
        } else {
            Err(Error::ReauthRequired)
        }
    }

    /// Re-authenticates a session with both factors again.
    pub fn reauthenticate(
        &self,
        token: &str,
        actor: &Actor,
        password: &str,
        second_factor: &str,
    ) -> Result<i64, Error> {
        self.authorize(actor, Action::ManageOwnAccount, None, None)?;
        let now = dancu_store::now_millis();
        let user = self
            .store
            .user_by_name(&actor.username)?
            .ok_or(Error::Unauthenticated)?;
        let attempt = LoginAttempt {
            username: actor.username.clone(),
            ip: actor.ip,
            user_agent: actor.user_agent.clone(),
            ..Default::default()
        };
        if !auth::verify_password(password, Some(&user.password_hash)) {
            return Err(self.login_failed(&attempt, Some(&user), "reauth_password", now));
        }
        if self.second_factor(&user, second_factor, now)?.is_none() {
            return Err(self.login_failed(&attempt, Some(&user), "reauth_second_factor", now));
        }
        let until = now + auth::REAUTH_MILLIS;
        let hash = auth::token_hash(token);
        self.store.set_reauth(&hash, until)?;
        self.sessions.remove(&hash);
        self.audit
            .record(self.audit_entry(actor, "session.reauth", None, None, "ok"))
            .wait()?;
        Ok(until)
    }

    /// Changes the caller's own password: both factors again, the policy, no reuse of
    /// the last passwords; every other session of the account ends.
    pub fn change_password(
        &self,
        token: &str,
        actor: &Actor,
        current: &str,
        new: &str,
        second_factor: &str,
    ) -> Result<(), Error> {
        // The policy first: a rejected password should not spend a TOTP code.
        auth::check_password_policy(&actor.username, new)?;
        self.reauthenticate(token, actor, current, second_factor)?;
        let user = self
            .store
            .user_by_name(&actor.username)?
            .ok_or(Error::Unauthenticated)?;
        let history = self
            .store
            .password_history(user.id, auth::PASSWORD_HISTORY)?;
        if history
            .iter()
            .any(|h| auth::verify_password(new, Some(h.as_str())))
        {
            return Err(Error::Invalid(format!(
                "the new password must differ from the last {} passwords",
                auth::PASSWORD_HISTORY
            )));
        }
        self.store.change_password(
            user.id,
            &auth::hash_password(new)?,
            &actor.username,
            Some(&auth::token_hash(token)),
        )?;
        self.sessions.remove_user(&actor.username);
        self.audit
            .record(self.audit_entry(actor, PASSWORD_CHANGE, None, None, "ok"))
            .wait()?;
        Ok(())
    }

    pub fn logout(&self, token: &str) -> Result<(), Error> {
        let hash = auth::token_hash(token);
        self.sessions.remove(&hash);
        self.store.revoke_session(&hash)?;
        Ok(())
    }

    /// An account the actor administers (or its own, for `ManageOwnAccount`).
    fn account_for(
        &self,
        actor: &Actor,
        action: Action,
        username: &str,
    ) -> Result<UserRecord, Error> {
        let user = self.store.user_by_name(username)?;
        if action == Action::ManageOwnAccount && username == actor.username {
            self.authorize(actor, action, None, None)?;
            return user.ok_or(Error::NotFound);
        }
        // A refusal must not reveal whether the account exists.
        let unit = user.as_ref().map_or(policy::NATIONAL_UNIT, |u| {
            if u.kind == "citizen" {
                policy::NATIONAL_UNIT
            } else {
                u.unit.as_str()
            }
        });
        self.authorize_on_accounts_of(actor, action, unit)?;
        user.ok_or(Error::NotFound)
    }

    pub fn account(&self, actor: &Actor, username: &str) -> Result<AccountView, Error> {
        let action = if username == actor.username {
            Action::ManageOwnAccount
        } else {
            Action::ManageAccounts
        };
        Ok(view(self.account_for(actor, action, username)?))
    }

    /// The accounts of the admin's unit subtree.
    pub fn accounts(&self, actor: &Actor) -> Result<Vec<AccountView>, Error> {
        self.authorize(actor, Action::ManageAccounts, None, None)?;
        Ok(self
            .store
            .users()?
            .into_iter()
            .filter(|u| u.kind == "staff" && policy::is_inside(self.units, &u.unit, &actor.unit))
            .map(view)
            .collect())
    }

    /// Disables, enables or unlocks an account, or replaces its allow-list. Sensitive:
    /// the caller must have authenticated recently (checked by the caller's edge).
    pub fn administer_account(
        &self,
        actor: &Actor,
        username: &str,
        change: AccountChange,
    ) -> Result<AccountView, Error> {
        if username == actor.username {
            return Err(Error::Invalid("an account cannot administer itself".into()));
        }
        let user = self.account_for(actor, Action::ManageAccounts, username)?;
        let detail = match &change {
            AccountChange::Disable => {
                self.store.set_user_disabled(user.id, true)?;
                "disabled".to_owned()
            }
            AccountChange::Enable => {
                self.store.set_user_disabled(user.id, false)?;
                "enabled".to_owned()
            }
            AccountChange::Unlock => {
                self.store.unlock_user(user.id)?;
                "unlocked".to_owned()
            }
            AccountChange::RevokeSessions => {
                self.store.revoke_user_sessions(user.id, None)?;
                "sessions revoked".to_owned()
            }
            AccountChange::AllowIps(list) => {
                let nets = auth::parse_allow_list(list.iter().map(String::as_str))?;
                let list = auth::format_allow_list(&nets);
                self.store.set_allow_ips(user.id, &list)?;
                format!("allow_ips={list}")
            }
        };
        self.sessions.remove_user(username);
        let mut entry = self.audit_entry(actor, "account.change", None, Some(username), "ok");
        entry.detail = Some(detail);
        self.audit.record(entry).wait()?;
        self.account_for(actor, Action::ManageAccounts, username)
            .map(view)
    }

    /// Login attempts and password changes of an account, newest first: for the account
    /// itself, its unit's admins and auditors.
    pub fn login_history(
        &self,
        actor: &Actor,
        username: &str,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, Error> {
        let action = if username == actor.username {
            Action::ManageOwnAccount
        } else {
            Action::ReadLoginHistory
        };
        self.account_for(actor, action, username)?;
        Ok(self
            .store
            .audit_for_actor(username, &[LOGIN, PASSWORD_CHANGE], limit.clamp(1, 1000))?
            .into_iter()
            .map(|e| HistoryEntry {
                at: e.at_millis,
                event: if e.action == LOGIN {
                    "login"
                } else {
                    "password_change"
                },
                outcome: e.outcome,
                ip: e.ip,
                user_agent: e.user_agent,
                detail: e.detail,
            })
            .collect())
    }
}

/// What an admin can change on an account.
#[derive(Debug, Clone)]
pub enum AccountChange {
    Disable,
    Enable,
    Unlock,
    RevokeSessions,
    AllowIps(Vec<String>),
}

fn ip_allowed(user: &UserRecord, ip: Option<IpAddr>) -> Result<bool, Error> {
    Ok(auth::ip_allowed(
        &auth::parse_allow_list([user.allow_ips.as_str()])?,
        ip,
    ))
}

fn view(u: UserRecord) -> AccountView {
    AccountView {
        locked: u.locked_until > dancu_store::now_millis(),
        allow_ips: u
            .allow_ips
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        username: u.username,
        role: u.role,
        unit: u.unit,
        kind: u.kind,
        disabled: u.disabled,
        password_changed_at: u.password_changed_at,
        created_by: u.created_by,
    }
}
