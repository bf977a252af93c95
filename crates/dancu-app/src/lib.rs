//! Use cases of dancu. Every public function takes the acting principal, checks the
//! policy first (deny by default), then does its work in one store transaction; reads of
//! a person's data return only after their audit entry is committed.

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod citizens;
pub mod civil;
pub mod dossiers;
pub mod enrich;
pub mod import;
pub mod limits;
pub mod partners;
pub mod policy;
pub mod readdress;
pub mod seed;
pub mod tracker;
pub mod verify;

use std::sync::Arc;

use dancu_domain::succession::Successions;
use dancu_domain::units::UnitCatalog;
use dancu_store::{AuditEntry, Store};

pub use audit::{AuditSigner, AuditSink, AuditTicket};
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
    /// A sensitive action needs a recent login or re-authentication.
    #[error("this action needs a recent authentication: re-authenticate first")]
    ReauthRequired,
    #[error("{0}")]
    Conflict(String),
    /// A rate limit or daily quota is exhausted; retry after the given seconds.
    #[error("{detail}")]
    TooManyRequests {
        retry_after_secs: u64,
        detail: String,
    },
    /// Refused for a reason the caller may be told (a partner key used from outside its
    /// allow-list, or without the scope the call needs).
    #[error("{0}")]
    Refused(String),
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

/// How an [`App`] runs: who signs its audit chain, and its limits.
#[derive(Default)]
pub struct AppConfig {
    /// Signs the audit chain's head and checkpoints; `None` leaves them unsigned.
    pub signer: Option<AuditSigner>,
    pub limits: limits::Limits,
    /// Where files live beside the database (`--data-dir`): partners' batch jobs go to
    /// `verify-jobs/` in it. `None`: no file-based feature is available.
    pub data_dir: Option<std::path::PathBuf>,
    /// How partners' batch jobs run (chunk size, checkpoint interval, threads).
    pub job_options: verify::BatchOptions,
    /// Where page scans are stored; `None` with a SQLite store: `blobs/` beside its file.
    pub blobs: Option<Arc<dyn civil::blobs::BlobStore>>,
}

/// The application: the store, the unit catalog, the audit writer and session cache.
pub struct App {
    pub store: Arc<Store>,
    pub units: &'static UnitCatalog,
    pub audit: AuditSink,
    sessions: auth::SessionCache,
    cursor: citizens::CursorKey,
    account_rate: limits::RateLimiter,
    partner_rate: limits::RateLimiter,
    quotas: Arc<limits::Quotas>,
    partners: partners::PartnerCache,
    reads: alerts::ReadWatch,
    data_dir: Option<std::path::PathBuf>,
    jobs: verify::Jobs,
    job_options: verify::BatchOptions,
    job_upload_bytes: u64,
    blobs: Option<Arc<dyn civil::blobs::BlobStore>>,
}

impl App {
    /// An application whose audit chain is not signed (tests, tools): prefer
    /// [`App::with_config`] with a signer.
    pub fn new(store: Store) -> App {
        App::with_config(store, AppConfig::default())
    }

    /// An application with the given audit signer, rate limits, quotas and alerts.
    pub fn with_config(store: Store, config: AppConfig) -> App {
        let store = Arc::new(store);
        let limits = config.limits;
        App {
            audit: AuditSink::start(store.clone(), config.signer),
            account_rate: limits::RateLimiter::new(limits.account),
            partner_rate: limits::RateLimiter::new(limits.partner),
            quotas: limits::Quotas::start(store.clone(), limits.usage_flush),
            partners: partners::PartnerCache::default(),
            reads: alerts::ReadWatch::new(limits.alert_distinct_people, limits.alert_window),
            blobs: config.blobs,
            store,
            units: UnitCatalog::embedded(),
            sessions: auth::SessionCache::default(),
            cursor: citizens::CursorKey::random(),
            data_dir: config.data_dir,
            jobs: verify::Jobs::default(),
            job_options: config.job_options,
            job_upload_bytes: limits.job_upload_bytes,
        }
    }

    /// Opens (and migrates) the store at `url`, with the default configuration.
    pub fn open(url: &str) -> Result<App, Error> {
        App::open_with(url, AppConfig::default())
    }

    /// Opens (and migrates) the store at `url`.
    pub fn open_with(url: &str, mut config: AppConfig) -> Result<App, Error> {
        if config.blobs.is_none()
            && let Some(dir) = url
                .strip_prefix("sqlite://")
                .and_then(|p| std::path::Path::new(p).parent())
        {
            config.blobs = Some(Arc::new(civil::blobs::LocalDir::new(dir.join("blobs"))));
        }
        Ok(App::with_config(Store::open(url)?, config))
    }

    /// Has the store's readers map the registry file ([`Store::map_registry_file`]): for
    /// a process that verifies a batch and nothing else, before it starts.
    pub fn map_registry_file(&self) {
        self.store.map_registry_file();
    }

    /// Largest file a partner may upload as one batch job.
    pub fn job_upload_bytes(&self) -> u64 {
        self.job_upload_bytes
    }

    /// Takes one request of a staff or citizen account from its rate limit.
    pub fn check_account_rate(&self, actor: &Actor) -> Result<(), Error> {
        self.account_rate.check(&actor.username)
    }

    /// Writes the partners' quota use counted since the last flush (done every
    /// `usage_flush` and when the app is dropped; call it before a planned stop).
    pub fn flush_usage(&self) -> Result<(), Error> {
        self.quotas.flush()
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
            ip: actor.ip.map(|ip| ip.to_string()),
            user_agent: actor.user_agent.clone(),
            detail: None,
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
        // Only a unit target is resolved through the successions.
        let decided = match target {
            None => policy::authorize(self.units, &Successions::default(), actor, action, None),
            Some(_) => {
                let successions = self.store.successions()?;
                policy::authorize(self.units, &successions, actor, action, target)
            }
        };
        decided.map_err(|denied| {
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

    /// The data-quality report of `dancu check`. Its counts are national, so only a
    /// national-scope principal may read them; the example subjects (ID numbers) are for
    /// the console operator only, as a supervisor never sees a single person.
    pub fn quality_report(&self, actor: &Actor) -> Result<Vec<dancu_store::RuleResult>, Error> {
        self.authorize(
            actor,
            Action::ReadAggregates,
            Some(policy::national()),
            None,
        )?;
        let mut report = self.store.quality_report(self.units)?;
        if actor.role != Role::System {
            for rule in &mut report {
                rule.examples.clear();
            }
        }
        Ok(report)
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

/// Closing the application commits the queued audit entries (refusals nobody waited
/// for) and signs a last checkpoint of the chain.
impl Drop for App {
    fn drop(&mut self) {
        self.audit.checkpoint();
    }
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
