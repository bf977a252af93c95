//! Persistence of dancu behind one interface.
//!
//! [`Store`] is the same API over SQLite (the embedded default, one file, WAL) and
//! PostgreSQL (scale-out). Every query is written once against the small [`sql::Tx`]
//! interface; only connection handling and bulk loading differ per backend.
//!
//! Every change is recorded as an event (who, which agency, on what legal basis, when,
//! what changed) in the same transaction that updates the current-state projection.

mod accounts;
pub mod audit;
mod audit_index;
mod citizens;
pub mod civil;
mod dossiers;
mod enrich;
mod events;
mod partners;
mod pool;
mod postgres;
mod quality;
mod readdress;
mod schema;
pub mod sql;
mod sqlite;
mod successions;
pub mod testing;
mod verify_jobs;

use std::path::Path;

pub use accounts::{NewUser, SessionRecord, UserRecord};
pub use audit::{
    AuditEntry, AuditHead, ChainTrust, ChainVerdict, Checkpoint, Fault, GroupEntry, HeadRecord,
    IndexedPerson,
};
pub use audit_index::{IndexStep, RUN_SHAPE, RunShape};
pub use citizens::{
    ChangeRecord, CitizenField, Identity, ResidenceRecord, SearchQuery, UnitFilter,
};
pub use dossiers::{DOSSIER_CLOSED, DOSSIER_IN_PROGRESS, DossierRecord};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use enrich::{AttributeVersion, AttributeWrite, ConflictRecord, Decision, Held};
pub use events::{EventMeta, EventRecord};
pub use partners::{AlertRecord, NewPartner, PartnerRecord, UsageDay, UsageDelta, VerdictCounts};
pub use quality::RuleResult;
pub use readdress::{ReaddressPlan, ReaddressReport};
pub use sql::{Dialect, Tx, Value};
pub use verify_jobs::{
    JOB_ABANDONED, JOB_DONE, JOB_FAILED, JOB_RUNNING, JobCheckpoint, NewVerifyJob, VerifyJob,
};

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("store configuration: {0}")]
    Config(String),
    #[error("I/O: {0}")]
    Io(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
}

enum Backend {
    Sqlite(sqlite::SqliteBackend),
    Postgres(postgres::PgBackend),
}

/// The store: open once, share (it is `Send + Sync`), call from blocking threads.
pub struct Store {
    backend: Backend,
    /// The audit tables are in their own file (SQLite), so audit-only writes may use the
    /// audit file's writer; false only for a store held at a version before the move
    /// (`testing::open_at_version`).
    audit_in_own_file: bool,
    successions: successions::Cache,
}

/// The tables a write transaction writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Files {
    /// The registry's tables only.
    Registry,
    /// The audit tables only (`schema::AUDIT_TABLES`).
    Audit,
    /// Both: a partner job's checkpoint (its verdict counts are registry rows).
    Both,
}

impl Store {
    /// Opens `sqlite://PATH` or `postgres://…` and applies pending migrations.
    pub fn open(url: &str) -> Result<Store, Error> {
        Self::open_migrated(url, None)
    }

    /// Opens and applies the migrations up to schema version `upto` (all when `None`).
    pub(crate) fn open_migrated(url: &str, upto: Option<i64>) -> Result<Store, Error> {
        let store = Self::open_unsettled(url, upto)?;
        store.settle_after_migration()?;
        Ok(store)
    }

    /// [`Store::open_migrated`] without what migrations leave to do after them, as a
    /// process stopped right after them leaves the store.
    pub(crate) fn open_unsettled(url: &str, upto: Option<i64>) -> Result<Store, Error> {
        let backend = if let Some(path) = url.strip_prefix("sqlite://") {
            Backend::Sqlite(sqlite::SqliteBackend::open(Path::new(path))?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::PgBackend::open(url)?)
        } else {
            return Err(Error::Config(format!(
                "unsupported database URL (expected sqlite://PATH or postgres://…): {url}"
            )));
        };
        let audit_move = schema::version_of(schema::MOVE_AUDIT);
        let store = Store {
            backend,
            audit_in_own_file: upto.is_none_or(|v| v >= audit_move),
            successions: successions::Cache::default(),
        };
        store.temp_on_disk(true)?;
        schema::migrate_until(&store, upto)?;
        store.temp_on_disk(false)?;
        match upto {
            None => store.load_successions()?,
            // A store of an earlier layout (tests) may lack the table: never look.
            Some(_) => store.successions.never_recheck(),
        }
        Ok(store)
    }

    /// The file that holds the audit log beside a SQLite store's database (backups must
    /// copy both); `None` on PostgreSQL, where the audit tables are in the database.
    pub fn audit_file(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(b) => Some(b.audit_path()),
            Backend::Postgres(_) => None,
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `f` in one read-write transaction: committed iff `f` returns `Ok`.
    pub fn write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>) -> Result<T, Error> {
        self.write_in(Files::Registry, f)
    }

    /// Runs `f` in one read-write transaction on the tables of `files`. On SQLite the
    /// audit tables (`schema::AUDIT_TABLES`) have their own file and writer, so that audit
    /// commits neither queue behind registry writes nor lock them out; stores of earlier
    /// versions (audit tables still in the registry's file) and PostgreSQL have one.
    pub(crate) fn write_in<T>(
        &self,
        files: Files,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match &self.backend {
            Backend::Sqlite(b) if self.audit_in_own_file => b.write(files, f),
            Backend::Sqlite(b) => b.write(Files::Registry, f),
            Backend::Postgres(b) => b.write(f),
        }
    }

    /// Has the readers map the registry file (SQLite; nothing on PostgreSQL), for a
    /// process that reads much of it, such as a batch verification: see
    /// `sqlite::READER_MMAP_BYTES`. Call it before the reads start (readers in use at the
    /// moment keep copying pages).
    pub fn map_registry_file(&self) {
        if let Backend::Sqlite(b) = &self.backend {
            b.map_readers();
        }
    }

    /// Runs `f` in one read-only snapshot.
    pub fn read<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>) -> Result<T, Error> {
        match &self.backend {
            Backend::Sqlite(b) => b.read(f),
            Backend::Postgres(b) => b.read(f),
        }
    }

    /// Trades durability for speed during a single-transaction bulk load (SQLite only; the
    /// load commits whole or not at all either way).
    pub fn set_bulk_mode(&self, on: bool) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(b) => b.bulk_mode(on),
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// SQLite's temporary storage on disk or in memory (see
    /// [`sqlite::SqliteBackend::temp_on_disk`]; PostgreSQL spills by itself).
    fn temp_on_disk(&self, on: bool) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(b) => b.temp_on_disk(on),
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// What migrations that changed a file leave to do after them, once (SQLite: the
    /// registry's or the audit file's WAL folded, the file compacted after a table
    /// rebuild; nothing on PostgreSQL).
    fn settle_after_migration(&self) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(b) => b.settle_after_migration(),
            Backend::Postgres(_) => Ok(()),
        }
    }
}

/// Milliseconds since the Unix epoch, the store's time unit.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
