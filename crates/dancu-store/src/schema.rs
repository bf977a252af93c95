//! The schema, written once for both dialects, and its versioned migrations.
//!
//! Conventions: integers are BIGINT; times are Unix milliseconds (UTC); dates are the
//! sortable `yyyymmdd` key of `PartialDate` (unknown parts are 00); administrative units
//! are stored with the structure they belong to. The high-volume tables (citizens,
//! residences, changes) carry no foreign keys: they are bulk-loaded and their references
//! are checked by `dancu check` instead of a per-row trigger.

use crate::Error;
use crate::sql::{Dialect, Tx, Value};

/// Each migration is applied once, in order, in its own transaction.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    id {ID},
    at BIGINT NOT NULL,
    effective_date BIGINT NOT NULL,
    actor TEXT NOT NULL,
    agency TEXT NOT NULL,
    basis TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE households (
    id BIGINT PRIMARY KEY,
    head_id BIGINT,
    commune_code TEXT NOT NULL,
    unit_structure TEXT NOT NULL,
    address TEXT NOT NULL,
    created_event BIGINT NOT NULL REFERENCES events(id)
);
CREATE TABLE citizens (
    personal_id BIGINT PRIMARY KEY,
{CITIZEN_COLUMNS});
CREATE TABLE residences (
    personal_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    commune_code TEXT NOT NULL,
    unit_structure TEXT NOT NULL,
    address TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_to BIGINT,
    event_id BIGINT NOT NULL,
    ended_event BIGINT,
    PRIMARY KEY (personal_id, seq)
) {WITHOUT_ROWID};
CREATE TABLE citizen_changes (
    personal_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    PRIMARY KEY (personal_id, event_id, field)
) {WITHOUT_ROWID};
{BULK_INDEXES};
CREATE TABLE audit_log (
    id {ID},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    actor_unit TEXT NOT NULL,
    action TEXT NOT NULL,
    personal_id BIGINT,
    purpose TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX audit_log_person ON audit_log (personal_id) WHERE personal_id IS NOT NULL;
CREATE TABLE users (
    id {ID},
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    unit TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);
"#,
    r#"
ALTER TABLE audit_log ADD COLUMN ip TEXT;
ALTER TABLE audit_log ADD COLUMN user_agent TEXT;
ALTER TABLE audit_log ADD COLUMN detail TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE TABLE audit_checkpoints (
    id {ID},
    at BIGINT NOT NULL,
    entry_id BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'staff';
ALTER TABLE users ADD COLUMN personal_id BIGINT;
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN allow_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_personal_id ON users (personal_id) WHERE personal_id IS NOT NULL;
CREATE TABLE password_history (
    user_id BIGINT NOT NULL REFERENCES users(id),
    changed_at BIGINT NOT NULL,
    password_hash TEXT NOT NULL,
    changed_by TEXT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, changed_at);
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
ALTER TABLE sessions ADD COLUMN reauth_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN ip TEXT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE partners (
    id {ID},
    name TEXT NOT NULL UNIQUE,
    api_key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    daily_quota BIGINT NOT NULL,
    allow_ips TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE partner_usage (
    partner_id BIGINT NOT NULL REFERENCES partners(id),
    day BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (partner_id, day)
);
CREATE TABLE dossiers (
    id {ID},
    unit TEXT NOT NULL,
    procedure TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX dossiers_subject ON dossiers (subject_id, status);
CREATE TABLE alerts (
    id {ID},
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_unit TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#,
    // Chains the entries written before the chain existed (`SEAL_CHAIN_AT`).
    r#"
CREATE INDEX audit_checkpoints_entry ON audit_checkpoints (entry_id, id);
"#,
    // Batch verification jobs (resume after a crash).
    r#"
CREATE TABLE verify_jobs (
    id {ID},
    actor TEXT NOT NULL,
    input TEXT NOT NULL,
    input_fingerprint TEXT NOT NULL,
    output TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    rows_done BIGINT NOT NULL DEFAULT 0,
    input_offset BIGINT NOT NULL DEFAULT 0,
    input_line BIGINT NOT NULL DEFAULT 0,
    output_offset BIGINT NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT ''
);
CREATE INDEX verify_jobs_files ON verify_jobs (input, output, status)
"#,
    // Verification over the API: partners' data-sharing agreements, verdict counts per
    // partner per day (the dashboard), and batch jobs submitted by partners.
    r#"
ALTER TABLE partners ADD COLUMN returns TEXT NOT NULL DEFAULT '';
ALTER TABLE partner_usage ADD COLUMN matched BIGINT NOT NULL DEFAULT 0;
ALTER TABLE partner_usage ADD COLUMN mismatched BIGINT NOT NULL DEFAULT 0;
ALTER TABLE partner_usage ADD COLUMN not_found BIGINT NOT NULL DEFAULT 0;
ALTER TABLE partner_usage ADD COLUMN invalid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE verify_jobs ADD COLUMN partner_id BIGINT;
ALTER TABLE verify_jobs ADD COLUMN rows_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE verify_jobs ADD COLUMN agreement TEXT NOT NULL DEFAULT '';
ALTER TABLE verify_jobs ADD COLUMN error TEXT;
CREATE INDEX verify_jobs_partner ON verify_jobs (partner_id, status)
"#,
    // Enrichment by ministries: the agency a partner speaks for, every applied value of
    // an enrichable attribute (its event says who and when), and the refused updates.
    r#"
ALTER TABLE partners ADD COLUMN agency TEXT NOT NULL DEFAULT '';
CREATE TABLE citizen_attributes (
    personal_id BIGINT NOT NULL,
    attribute TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    value TEXT NOT NULL,
    observed_on BIGINT NOT NULL,
    PRIMARY KEY (personal_id, attribute, event_id)
) {WITHOUT_ROWID};
CREATE TABLE enrich_conflicts (
    id {ID},
    at BIGINT NOT NULL,
    personal_id BIGINT NOT NULL,
    attribute TEXT NOT NULL,
    owner TEXT NOT NULL,
    partner TEXT NOT NULL,
    agency TEXT NOT NULL,
    value TEXT NOT NULL,
    observed_on BIGINT NOT NULL,
    held_value TEXT,
    held_agency TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX enrich_conflicts_owner ON enrich_conflicts (owner, id);
CREATE INDEX enrich_conflicts_partner ON enrich_conflicts (partner, id)
"#,
    // Civil-status register books being digitized: scans, typed entries, links.
    r#"
CREATE TABLE civil_books (
    id {ID},
    kind TEXT NOT NULL,
    commune_code TEXT NOT NULL,
    unit_structure TEXT NOT NULL,
    commune_2025 TEXT NOT NULL,
    province_2025 TEXT NOT NULL,
    year_from BIGINT NOT NULL,
    year_to BIGINT NOT NULL,
    pages BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX civil_books_province ON civil_books (province_2025, commune_2025);
CREATE TABLE civil_scans (
    book_id BIGINT NOT NULL REFERENCES civil_books(id),
    page BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (book_id, page)
);
CREATE TABLE civil_entries (
    id {ID},
    book_id BIGINT NOT NULL REFERENCES civil_books(id),
    page BIGINT NOT NULL,
    registration_number TEXT NOT NULL,
    registration_date BIGINT,
    full_name TEXT NOT NULL,
    date_of_birth BIGINT,
    gender TEXT,
    event_date BIGINT,
    place TEXT,
    father_name TEXT,
    mother_name TEXT,
    spouse_name TEXT,
    spouse_date_of_birth BIGINT,
    status TEXT NOT NULL,
    typed_by TEXT NOT NULL,
    typed_at BIGINT NOT NULL,
    checked_by TEXT,
    checked_at BIGINT,
    decided_by TEXT,
    decided_at BIGINT,
    reviewed_by TEXT,
    reviewed_at BIGINT,
    candidate_id BIGINT,
    score_milli BIGINT,
    explanation TEXT
);
CREATE INDEX civil_entries_book ON civil_entries (book_id, status);
CREATE INDEX civil_entries_status ON civil_entries (status, id);
CREATE TABLE civil_links (
    entry_id BIGINT PRIMARY KEY REFERENCES civil_entries(id),
    personal_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL REFERENCES events(id)
);
CREATE INDEX civil_links_person ON civil_links (personal_id)
"#,
    MOVE_AUDIT,
    // The persons a group audit entry lists (a chunk of a batch verification), by person:
    // what the data tracker reads. In the audit file, as it commits with the entries.
    r#"
CREATE TABLE IF NOT EXISTS {AUDIT}audit_persons (
    personal_id BIGINT NOT NULL,
    entry_id BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (personal_id, entry_id, outcome)
) {WITHOUT_ROWID}
"#,
    // Re-addressing as unit successions: a reorganization is one row per unit (old unit
    // continues as the new one from an effective date, under its event); residences keep
    // their unit and are resolved through these rows. A unit is succeeded at most once.
    r#"
CREATE TABLE unit_successions (
    id {ID},
    from_structure TEXT NOT NULL,
    from_code TEXT NOT NULL,
    to_structure TEXT NOT NULL,
    to_code TEXT NOT NULL,
    effective_date BIGINT NOT NULL,
    event_id BIGINT NOT NULL REFERENCES events(id)
);
CREATE UNIQUE INDEX unit_successions_from ON unit_successions (from_code, from_structure)
"#,
    // `audit verify` compares each group entry's list with its `audit_persons` rows, in
    // entry order: by entry (the key is by person, for the tracker).
    r#"
CREATE INDEX IF NOT EXISTS {AUDIT}audit_persons_entry ON audit_persons (entry_id, personal_id, outcome)
"#,
    // The data tracker's index of single entries: sorted runs that the audit writer
    // merges in the background (audit_index.rs) replace the index on
    // `audit_log (personal_id)`, which cost each audited read a random page of WAL. The
    // indexer takes the entries written so far from the start of the log.
    r#"
DROP INDEX IF EXISTS {AUDIT}audit_log_person;
CREATE TABLE IF NOT EXISTS {AUDIT}audit_runs (
    id BIGINT PRIMARY KEY,
    level BIGINT NOT NULL,
    merging_into BIGINT
);
CREATE TABLE IF NOT EXISTS {AUDIT}audit_run_rows (
    run BIGINT NOT NULL,
    personal_id BIGINT NOT NULL,
    entry_id BIGINT NOT NULL,
    PRIMARY KEY (run, personal_id, entry_id)
) {WITHOUT_ROWID};
CREATE TABLE IF NOT EXISTS {AUDIT}audit_run_state (
    indexed_upto BIGINT NOT NULL,
    merge_target BIGINT
);
INSERT INTO {AUDIT}audit_run_state (indexed_upto)
    SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM audit_run_state)
"#,
    GROUP_PERSONS_IN_SEGMENTS,
    // `audit verify` checks the persons of group entries against the log by sums over a
    // scan of `audit_persons`, not entry by entry: the index by entry cost every person a
    // batch verifies a second B-tree insert in the checkpoint's commit.
    r#"
DROP INDEX IF EXISTS {AUDIT}audit_persons_entry
"#,
    CITIZENS_BY_ROWID,
    GROUP_PERSONS_IN_LISTS,
    // A partner's job is run only by a server whose data directory holds its files
    // (several nodes with directories of their own failed each other's jobs); servers
    // look for pending jobs every few seconds, among all the jobs there ever were.
    r#"
ALTER TABLE {AUDIT}verify_jobs ADD COLUMN files_at TEXT;
CREATE INDEX {AUDIT}verify_jobs_pending ON verify_jobs (status, files_at)
"#,
];

/// The persons of group entries as lists, rows per segment, bucket of ID numbers and
/// commit (see [`crate::audit::PERSON_BUCKET`]), instead of a row per person: a batch's
/// checkpoint inserted each of its tens of thousands of persons into the B-tree one by
/// one (13% of the batch's CPU), and now inserts a row per 24 of them at most. An
/// item is `person entry outcome`, items are sorted and joined by `,`; a list longer than
/// [`crate::audit::LIST_PIECE`] items is cut into pieces (numbered from 0), so that a row
/// stays within its B-tree page (longer ones spilled into overflow pages left mostly
/// empty: the audit file of 57 M batch rows grew by half). The rows so far become the
/// pieces of a list per segment and bucket.
pub(crate) const GROUP_PERSONS_IN_LISTS: &str = r#"
CREATE TABLE IF NOT EXISTS {AUDIT}audit_person_lists (
    segment BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    first_entry BIGINT NOT NULL,
    piece BIGINT NOT NULL,
    persons TEXT NOT NULL,
    PRIMARY KEY (segment, bucket, first_entry, piece)
) {WITHOUT_ROWID};
INSERT INTO {AUDIT}audit_person_lists (segment, bucket, first_entry, piece, persons)
    SELECT segment, bucket, MIN(entry_id), piece,
        string_agg(personal_id || ' ' || entry_id || ' ' || outcome, ','
            ORDER BY personal_id, entry_id, outcome)
    FROM (SELECT segment, personal_id / 1000000 AS bucket, personal_id, entry_id, outcome,
            (ROW_NUMBER() OVER (PARTITION BY segment, personal_id / 1000000
                ORDER BY personal_id, entry_id, outcome) - 1) / 24 AS piece
        FROM audit_persons) numbered
    GROUP BY segment, bucket, piece;
DROP TABLE {AUDIT}audit_persons
"#;

/// On SQLite, citizens keyed by their personal ID as the table's own key (the rowid):
/// created as `BIGINT PRIMARY KEY`, the table was keyed by an automatic rowid with a
/// separate index by personal ID, so that every lookup searched two B-trees (the index,
/// then the table). The table is rebuilt in ID order, its indexes with it; PostgreSQL
/// keeps its table as it is. `{CITIZEN_INDEXES}` are the citizens' entries of
/// [`BULK_INDEXES`] as they are when the migration runs: a later migration that adds
/// one there creates it `IF NOT EXISTS`.
pub(crate) const CITIZENS_BY_ROWID: &str = r#"{SQLITE_ONLY}
CREATE TABLE citizens_by_id (
    personal_id INTEGER PRIMARY KEY,
{CITIZEN_COLUMNS});
INSERT INTO citizens_by_id SELECT * FROM citizens ORDER BY personal_id;
DROP TABLE citizens;
ALTER TABLE citizens_by_id RENAME TO citizens;
{CITIZEN_INDEXES}
"#;

/// The columns of `citizens` after its key, in their order (the rebuild copies rows with
/// `SELECT *`): the table as migration 1 created it and as [`CITIZENS_BY_ROWID`] rebuilds
/// it. Both are history: a later migration adds a column with `ALTER TABLE`, never here.
const CITIZEN_COLUMNS: &str = r#"
    full_name TEXT NOT NULL,
    name_folded TEXT NOT NULL {BYTE_ORDER},
    date_of_birth BIGINT NOT NULL,
    gender TEXT NOT NULL,
    birth_province BIGINT,
    hometown TEXT,
    ethnicity TEXT,
    religion TEXT,
    nationality TEXT NOT NULL,
    blood_type TEXT,
    old_id_number TEXT,
    father_id BIGINT,
    mother_id BIGINT,
    spouse_id BIGINT,
    household_id BIGINT,
    relationship TEXT,
    commune_code TEXT,
    unit_structure TEXT NOT NULL,
    date_of_death BIGINT,
    created_event BIGINT NOT NULL,
    updated_event BIGINT NOT NULL
"#;

/// Marks a migration that PostgreSQL records as a version without running it.
const SQLITE_ONLY: &str = "{SQLITE_ONLY}";

/// The persons of group entries keyed by segment first (then person): a segment takes
/// the rows of about [`crate::audit::GROUP_SEGMENT_ROWS`] persons, then the next one
/// starts. Keyed by person alone, a batch's checkpoint put each of its tens of thousands
/// of rows on a random page of a table that grows by tens of millions of rows a batch (a
/// 10 M-row batch ran a fifth slower over its second 10 M); a segment's pages stay few
/// and hot. The data tracker probes each segment for the person. The rows so far form
/// segment 0. Run a second time (see [`migrate_audit_file`]), the statements rebuild the
/// table from itself (every row into segment 0, which the tracker still probes) and keep
/// the state row.
pub(crate) const GROUP_PERSONS_IN_SEGMENTS: &str = r#"
CREATE TABLE {AUDIT}audit_persons_segmented (
    personal_id BIGINT NOT NULL,
    entry_id BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    segment BIGINT NOT NULL,
    PRIMARY KEY (segment, personal_id, entry_id, outcome)
) {WITHOUT_ROWID};
INSERT INTO {AUDIT}audit_persons_segmented (personal_id, entry_id, outcome, segment)
    SELECT personal_id, entry_id, outcome, 0 FROM audit_persons;
DROP TABLE {AUDIT}audit_persons;
ALTER TABLE {AUDIT}audit_persons_segmented RENAME TO audit_persons;
CREATE INDEX {AUDIT}audit_persons_entry ON audit_persons (entry_id, personal_id, outcome);
CREATE TABLE IF NOT EXISTS {AUDIT}audit_persons_segment (
    segment BIGINT NOT NULL,
    row_count BIGINT NOT NULL
);
INSERT INTO {AUDIT}audit_persons_segment (segment, row_count)
    SELECT 0, (SELECT COUNT(*) FROM audit_persons)
    WHERE NOT EXISTS (SELECT 1 FROM audit_persons_segment)
"#;

/// Moves the audit-owned tables into the audit file (SQLite; nothing on PostgreSQL), in
/// two transactions that each write one file: copy, then drop the originals. Found by
/// content, so the migration may take any position in the list.
pub(crate) const MOVE_AUDIT: &str = "-- the audit-owned tables move to the audit file (SQLite)";

/// The tables that the move put in the audit file on SQLite (a later migration that
/// indexes one writes `CREATE INDEX {AUDIT}name ON table`; one that creates a table there
/// writes `CREATE TABLE {AUDIT}name`, and the table is not listed here, as the move
/// predates it). `verify_jobs` is among them because a job's checkpoint commits together
/// with the audit entries of the rows it covers, and a transaction spanning two WAL files
/// is atomic per file only.
pub(crate) const AUDIT_TABLES: &[&str] = &["audit_log", "audit_checkpoints", "verify_jobs"];

/// The migration after whose SQL the audit entries written so far are hash-chained, in
/// the same transaction.
const SEAL_CHAIN_AT: i64 = 3;

/// Secondary indexes of the bulk-loaded tables. A large load drops them and builds them
/// again at its end (in the same transaction), which is several times faster than
/// maintaining them row by row.
pub(crate) const BULK_INDEXES: &[(&str, &str)] = &[
    (
        "citizens_name_dob",
        "CREATE INDEX citizens_name_dob ON citizens (name_folded, date_of_birth)",
    ),
    (
        "citizens_household",
        "CREATE INDEX citizens_household ON citizens (household_id)",
    ),
    (
        "citizens_old_id",
        "CREATE INDEX citizens_old_id ON citizens (old_id_number) \
         WHERE old_id_number IS NOT NULL",
    ),
    (
        "citizens_commune",
        "CREATE INDEX citizens_commune ON citizens (commune_code, unit_structure)",
    ),
    (
        "residences_open_commune",
        "CREATE INDEX residences_open_commune ON residences (commune_code, unit_structure) \
         WHERE valid_to IS NULL",
    ),
];

fn render(sql: &str, dialect: Dialect) -> String {
    // Prefix search on folded names is a byte-order range: PostgreSQL's default
    // collation may order "nguyen van a" after "nguyen van\x7f", SQLite's never does.
    // `{AUDIT}` prefixes the name of an index on an audit table: on SQLite an unqualified
    // CREATE INDEX looks for its table in the main file only.
    let (id, without_rowid, byte_order, audit) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "WITHOUT ROWID", "", "audit."),
        Dialect::Postgres => (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "",
            "COLLATE \"C\"",
            "",
        ),
    };
    let indexes: Vec<&str> = BULK_INDEXES.iter().map(|(_, ddl)| *ddl).collect();
    let citizen_indexes: Vec<&str> = indexes
        .iter()
        .copied()
        .filter(|ddl| ddl.contains(" ON citizens ("))
        .collect();
    sql.replace(SQLITE_ONLY, "")
        .replace("{CITIZEN_COLUMNS}", CITIZEN_COLUMNS)
        .replace("{ID}", id)
        .replace("{WITHOUT_ROWID}", without_rowid)
        .replace("{BYTE_ORDER}", byte_order)
        .replace("{AUDIT}", audit)
        .replace("{BULK_INDEXES}", &indexes.join(";\n"))
        .replace("{CITIZEN_INDEXES}", &citizen_indexes.join(";\n"))
}

/// The table of applied migrations (created before the first one).
pub(crate) const SCHEMA_VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)";

/// Current schema version of a store (0 when empty).
fn version(tx: &mut dyn Tx) -> Result<i64, Error> {
    tx.exec(SCHEMA_VERSION_TABLE, &[])?;
    Ok(tx
        .query_one("SELECT MAX(version) FROM schema_version", &[])?
        .and_then(|r| r[0].as_i64())
        .unwrap_or(0))
}

/// The schema version a migration brings a store to.
pub(crate) fn version_of(migration: &str) -> i64 {
    MIGRATIONS
        .iter()
        .position(|m| *m == migration)
        .map_or(0, |i| i as i64 + 1)
}

/// The migration that brings a store to `version`.
pub(crate) fn migration(version: i64) -> Result<&'static str, Error> {
    usize::try_from(version - 1)
        .ok()
        .and_then(|i| MIGRATIONS.get(i).copied())
        .ok_or_else(|| Error::NotFound(format!("no migration to version {version}")))
}

/// Applies the migrations the store lacks up to version `upto` (all when `None`; tests
/// build stores of an earlier layout with it), in one transaction each. On SQLite, one
/// that changes the registry file marks it for [`crate::Store::open`] to settle after.
pub(crate) fn migrate_until(store: &crate::Store, upto: Option<i64>) -> Result<(), Error> {
    let sqlite = store.dialect() == Dialect::Sqlite;
    for (i, migration) in MIGRATIONS.iter().enumerate() {
        let target = i as i64 + 1;
        if upto.is_some_and(|v| target > v) {
            return Ok(());
        }
        if *migration == MOVE_AUDIT && sqlite {
            move_audit_tables(store, target)?;
            continue;
        }
        if sqlite && of_audit_file(migration) {
            migrate_audit_file(store, target, migration)?;
            continue;
        }
        store.write(|tx| {
            if version(tx)? >= target {
                return Ok(());
            }
            // On PostgreSQL the audit move is a version number only.
            if *migration != MOVE_AUDIT {
                apply(tx, migration)?;
            }
            if target == SEAL_CHAIN_AT {
                crate::audit::seal_unchained(tx)?;
            }
            record_version(tx, target)?;
            if sqlite {
                crate::sqlite::mark_unsettled(tx, "main")?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Records in the main file that the store has migration `target`.
fn record_version(tx: &mut dyn Tx, target: i64) -> Result<(), Error> {
    tx.exec(
        "INSERT INTO schema_version (version) VALUES ($1)",
        &[Value::Int(target)],
    )?;
    Ok(())
}

fn apply(tx: &mut dyn Tx, migration: &str) -> Result<(), Error> {
    if migration.starts_with(SQLITE_ONLY) && tx.dialect() != Dialect::Sqlite {
        return Ok(());
    }
    for stmt in render(migration, tx.dialect()).split(';') {
        if !stmt.trim().is_empty() {
            tx.exec(stmt, &[])?;
        }
    }
    Ok(())
}

/// Whether a migration changes the audit file only: each of its statements names its
/// table with `{AUDIT}` (a migration names it in all of its statements or in none).
fn of_audit_file(migration: &str) -> bool {
    migration.contains("{AUDIT}")
}

/// The migrations applied to the audit file (SQLite), recorded in that file.
const AUDIT_VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS audit.audit_schema_version (version BIGINT NOT NULL)";

/// A migration of the audit file on SQLite, in two transactions that each write one file
/// (a transaction over two WAL files is atomic per file only, in no set order): the
/// migration with its version in the audit file, then the version in the main file. A
/// crash between the two is found by the audit file's version at the next open, which
/// then records the main file's only, instead of running the migration a second time on
/// tables it already changed. Releases before this one recorded no version in the audit
/// file, and a store such a crash left may still come: the audit file's migrations up to
/// [`GROUP_PERSONS_IN_SEGMENTS`] are written to run a second time over their own result
/// (`IF NOT EXISTS`, inserts of state rows only where none is); later ones, which every
/// store records in its audit file, run once. The migration marks the audit file for
/// [`crate::Store::open`] to settle after it.
fn migrate_audit_file(store: &crate::Store, target: i64, migration: &str) -> Result<(), Error> {
    migrate_audit_file_only(store, target, migration)?;
    store.write(|tx| {
        if version(tx)? < target {
            record_version(tx, target)?;
        }
        Ok(())
    })
}

/// The first transaction of [`migrate_audit_file`]: the migration with its version, in
/// the audit file.
pub(crate) fn migrate_audit_file_only(
    store: &crate::Store,
    target: i64,
    migration: &str,
) -> Result<(), Error> {
    store.write(|tx| {
        if version(tx)? < target && audit_version(tx)? < target {
            apply(tx, migration)?;
            tx.exec(
                "INSERT INTO audit.audit_schema_version (version) VALUES ($1)",
                &[Value::Int(target)],
            )?;
            crate::sqlite::mark_unsettled(tx, "audit")?;
        }
        Ok(())
    })
}

/// The last migration recorded in the audit file (SQLite).
fn audit_version(tx: &mut dyn Tx) -> Result<i64, Error> {
    tx.exec(AUDIT_VERSION_TABLE, &[])?;
    tx.query_i64(
        "SELECT COALESCE(MAX(version), 0) FROM audit.audit_schema_version",
        &[],
    )
}

/// The versions of the audit file's migrations.
pub(crate) fn audit_file_versions() -> Vec<i64> {
    (1..)
        .zip(MIGRATIONS)
        .filter(|(_, m)| of_audit_file(m))
        .map(|(v, _)| v)
        .collect()
}

/// The audit move on SQLite, in two transactions that each write one file (SQLite makes
/// a transaction over two WAL files atomic per file only): copy the tables into the audit
/// file, then drop the originals and record the version. A crash between the two leaves
/// the originals authoritative and the copy is redone at the next open; so is a copy that
/// a process of an earlier version outdated by writing between the two.
fn move_audit_tables(store: &crate::Store, target: i64) -> Result<(), Error> {
    for _ in 0..5 {
        store.write(|tx| {
            if version(tx)? < target {
                copy_audit_tables(tx)?;
            }
            Ok(())
        })?;
        let moved = store.write(|tx| {
            if version(tx)? >= target {
                return Ok(true);
            }
            if !copy_is_current(tx)? {
                return Ok(false);
            }
            for table in AUDIT_TABLES {
                tx.exec(&format!("DROP TABLE main.{table}"), &[])?;
            }
            record_version(tx, target)?;
            Ok(true)
        })?;
        if moved {
            return Ok(());
        }
    }
    Err(Error::Conflict(
        "the audit tables could not be moved to the audit file: a process of an earlier \
         version keeps writing them; stop it and open the store again"
            .into(),
    ))
}

/// Whether the audit file holds what the main file holds. The log and its checkpoints are
/// append-only, so their row count and newest row tell; the jobs' rows are updated in
/// place, so they are compared whole.
fn copy_is_current(tx: &mut dyn Tx) -> Result<bool, Error> {
    let same =
        |tx: &mut dyn Tx, sql: &str| -> Result<bool, Error> { Ok(tx.query_i64(sql, &[])? == 1) };
    Ok(same(
        tx,
        "SELECT (SELECT COUNT(*) FROM main.audit_log) = (SELECT COUNT(*) FROM audit.audit_log) \
         AND (SELECT hash FROM main.audit_log ORDER BY id DESC LIMIT 1) \
          IS (SELECT hash FROM audit.audit_log ORDER BY id DESC LIMIT 1)",
    )? && same(
        tx,
        "SELECT (SELECT COUNT(*) FROM main.audit_checkpoints) \
          = (SELECT COUNT(*) FROM audit.audit_checkpoints) \
         AND NOT EXISTS (SELECT * FROM (SELECT * FROM main.audit_checkpoints \
          ORDER BY id DESC LIMIT 1) EXCEPT SELECT * FROM audit.audit_checkpoints)",
    )? && same(
        tx,
        "SELECT (SELECT COUNT(*) FROM main.verify_jobs) = (SELECT COUNT(*) FROM audit.verify_jobs) \
         AND NOT EXISTS (SELECT * FROM main.verify_jobs EXCEPT SELECT * FROM audit.verify_jobs)",
    )?)
}

/// Makes the audit file's tables an exact copy of the main file's: the same DDL (read
/// from the main schema, so columns added by any migration come along), the same rows.
/// Writes the audit file only.
pub(crate) fn copy_audit_tables(tx: &mut dyn Tx) -> Result<(), Error> {
    for table in AUDIT_TABLES {
        // The table first, then its indexes (automatic indexes have no SQL).
        let ddl = tx.query(
            "SELECT type, name, sql FROM main.sqlite_master \
             WHERE tbl_name = $1 AND sql IS NOT NULL ORDER BY type = 'index', name",
            &[Value::Text((*table).into())],
        )?;
        if ddl.is_empty() {
            return Err(Error::Corrupt(format!("table {table} is missing")));
        }
        for row in &ddl {
            let (kind, name, sql) = (
                row[0].as_str().unwrap_or_default(),
                row[1].as_str().unwrap_or_default(),
                row[2].as_str().unwrap_or_default(),
            );
            let head = match kind {
                "table" => format!("CREATE TABLE {name}"),
                _ if sql.starts_with("CREATE UNIQUE INDEX") => {
                    format!("CREATE UNIQUE INDEX {name}")
                }
                _ => format!("CREATE INDEX {name}"),
            };
            let rest = sql
                .strip_prefix(&head)
                .ok_or_else(|| Error::Corrupt(format!("unexpected definition of {name}: {sql}")))?;
            let qualified = head.replacen(name, &format!("IF NOT EXISTS audit.{name}"), 1);
            tx.exec(&format!("{qualified}{rest}"), &[])?;
        }
        tx.exec(&format!("DELETE FROM audit.{table}"), &[])?;
        tx.exec(
            &format!("INSERT INTO audit.{table} SELECT * FROM main.{table}"),
            &[],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`of_audit_file`] tells a migration of the audit file by `{AUDIT}` anywhere in it:
    /// then each statement must be about the audit file.
    #[test]
    fn a_migration_names_the_audit_file_in_all_of_its_statements_or_in_none() {
        for (version, migration) in (1..).zip(MIGRATIONS) {
            let statements: Vec<&str> = migration
                .split(';')
                .filter(|s| !s.trim().is_empty() && !s.trim().starts_with("--"))
                .collect();
            let named = statements.iter().filter(|s| s.contains("{AUDIT}")).count();
            assert!(
                named == 0 || named == statements.len(),
                "migration {version} mixes the two files"
            );
        }
        assert!(audit_file_versions().contains(&version_of(GROUP_PERSONS_IN_SEGMENTS)));
    }
}
