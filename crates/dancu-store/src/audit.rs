//! The append-only audit log of every read and write of a person's data, as a hash chain.
//!
//! Each entry stores `hash = SHA-256(prev_hash || canonical encoding of the entry)`, where
//! the encoding covers every column but `hash` itself, the id included, and the first
//! entry's `prev_hash` is 32 zero bytes. Appends are serialized (SQLite: the one writer;
//! PostgreSQL: a self-conflicting table lock) and take explicit ids following the last
//! row, so the chain is linear and its ids have no gaps. Checkpoints sign the chain head
//! with Ed25519 so that a truncation of the log is detected as well.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit_index::ENTRIES_ABOUT_PERSON;
use crate::citizens::pid_value;
use crate::sql::{Dialect, Row, Tx, Value};
use crate::{Error, Files, Store};
use dancu_domain::PersonalId;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at_millis: i64,
    pub actor: String,
    pub actor_role: String,
    pub actor_unit: String,
    /// What was done, e.g. `citizen.read`, `citizen.search`, `readdress.apply`.
    pub action: String,
    pub personal_id: Option<PersonalId>,
    pub purpose: Option<String>,
    /// `ok`, `denied`, `not_found`.
    pub outcome: String,
    /// Where the request came from (the client address after trusted proxies).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// What the log's reader needs beyond the action: the factor of a login, the reason
    /// of a refusal, the dossier of a lookup. Never shown to the client that failed.
    pub detail: Option<String>,
}

/// One chained entry for reads of many persons at once (a chunk of a batch
/// verification), far cheaper than an entry per person: the entry's `detail` keeps its
/// own first line and then lists every person with the outcome for them, one line per
/// outcome (`match 001075001234 001075001237`), so the chain covers each of them; the
/// `audit_person_lists` table indexes them by person for the citizen's data tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEntry {
    entry: AuditEntry,
    /// Per outcome (in order), its persons, sorted, without repeats.
    persons: Vec<(&'static str, Vec<PersonalId>)>,
}

impl GroupEntry {
    /// `entry` (its `personal_id` is ignored, and line breaks in its detail become
    /// spaces) for the persons read, each with its outcome (a word without spaces); a
    /// person read twice with the same outcome is listed once.
    pub fn new(mut entry: AuditEntry, persons: Vec<(&'static str, PersonalId)>) -> Self {
        // Outcomes are few: a bucket each, then sort plain numbers (often sorted already).
        let mut by_outcome: Vec<(&'static str, Vec<PersonalId>)> = Vec::new();
        for (outcome, id) in persons {
            // A word, so that `audit verify` reads the list back as written.
            debug_assert!(!outcome.is_empty() && !outcome.contains([' ', '\n']));
            match by_outcome.iter_mut().find(|(o, _)| *o == outcome) {
                Some((_, ids)) => ids.push(id),
                None => by_outcome.push((outcome, vec![id])),
            }
        }
        by_outcome.sort_unstable_by_key(|(o, _)| *o);
        // The head stays one line, so that `audit verify` tells the list that follows it
        // (which `audit_person_lists` must match) from any other detail.
        let mut detail = entry.detail.take().unwrap_or_default().replace('\n', " ");
        for (outcome, ids) in &mut by_outcome {
            ids.sort_unstable();
            ids.dedup();
            detail.reserve(outcome.len() + 1 + ids.len() * 13);
            detail.push('\n');
            detail.push_str(outcome);
            for id in ids.iter() {
                detail.push(' ');
                push_pid(&mut detail, *id);
            }
        }
        entry.personal_id = None;
        entry.detail = Some(detail);
        GroupEntry {
            entry,
            persons: by_outcome,
        }
    }

    pub fn entry(&self) -> &AuditEntry {
        &self.entry
    }
}

/// Appends the 12 digits of `id` (as its `Display`, without the formatting machinery:
/// a batch lists a million of them).
fn push_pid(out: &mut String, id: PersonalId) {
    let mut digits = [b'0'; 12];
    let mut v = id.as_u64();
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
}

/// Calls `f(personal_id, outcome)` for each person a group entry lists and returns
/// whether it lists any: an entry about no one whose detail, after its first line, is
/// lines of an outcome followed by 12-digit personal ids, as [`GroupEntry::new`] writes
/// it. For any other entry it returns false (having maybe called `f` for a few lines).
fn listed_persons(personal_id: &Value, detail: &Value, mut f: impl FnMut(i64, &str)) -> bool {
    let (Value::Null, Some(detail)) = (personal_id, detail.as_str()) else {
        return false;
    };
    let mut lines = detail.split('\n').skip(1).peekable();
    if lines.peek().is_none() {
        return false;
    }
    for line in lines {
        let mut words = line.split(' ');
        let outcome = words.next().unwrap_or_default();
        let mut ids = 0;
        for word in words {
            if word.len() != 12 || !word.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            f(word.parse().expect("12 digits"), outcome);
            ids += 1;
        }
        if outcome.is_empty() || ids == 0 {
            return false;
        }
    }
    true
}

impl From<AuditEntry> for GroupEntry {
    /// A plain entry, about one person or none.
    fn from(entry: AuditEntry) -> Self {
        GroupEntry {
            entry,
            persons: Vec::new(),
        }
    }
}

/// The chained columns, in the order of the canonical encoding; `hash` follows them.
const CHAINED: &[&str] = &[
    "id",
    "at",
    "actor",
    "actor_role",
    "actor_unit",
    "action",
    "personal_id",
    "purpose",
    "outcome",
    "ip",
    "user_agent",
    "detail",
];

/// Characters of a group entry's detail read for the data tracker: its first line (the
/// job), without the list of persons that follows.
const GROUP_DETAIL_HEAD: usize = 200;

/// Rows read per query when walking the chain: memory stays bounded on any log size.
const PAGE: i64 = 10_000;

/// Bytes of details the walk reads per page at most (unless one entry is larger): a
/// group entry lists thousands of persons, so 10,000 of them would take half a GB.
const PAGE_DETAIL_BYTES: i64 = 16 << 20;

/// Entries around a broken link searched for the place a moved entry was written at.
const REORDER_WINDOW: i64 = 64;

pub type Hash = [u8; 32];

const GENESIS_PREV: Hash = [0; 32];

/// `SHA-256(prev || encoding of row)`. Each value is tagged (NULL, integer, text) and
/// texts are length-prefixed, so no two different rows share an encoding.
fn link(prev: &Hash, row: &[Value]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(b"dancu.audit.v1");
    for v in row {
        match v {
            Value::Null => h.update([0]),
            Value::Int(i) => {
                h.update([1]);
                h.update(i.to_be_bytes());
            }
            Value::Text(s) => text(&mut h, s),
            Value::Code(s) => text(&mut h, s),
        }
    }
    h.finalize().into()
}

fn text(h: &mut Sha256, s: &str) {
    h.update([2]);
    h.update((s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

fn parse_hash(v: &Value) -> Option<Hash> {
    let mut out = [0; 32];
    hex::decode_to_slice(v.as_str()?, &mut out).ok()?;
    Some(out)
}

/// The newest entry of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    pub entry_id: i64,
    pub hash: Hash,
}

/// A signed statement "the chain's entry `entry_id` has hash `head_hash`", stored in
/// `audit_checkpoints` and, for the newest head, in a file outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub at: i64,
    pub entry_id: i64,
    pub head_hash: Hash,
    pub key_id: String,
    pub signature: [u8; 64],
}

/// A short identifier of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

fn checkpoint_message(at: i64, entry_id: i64, head_hash: &Hash) -> Vec<u8> {
    let mut m = b"dancu.audit.checkpoint.v1".to_vec();
    m.extend_from_slice(&at.to_be_bytes());
    m.extend_from_slice(&entry_id.to_be_bytes());
    m.extend_from_slice(head_hash);
    m
}

impl Checkpoint {
    pub fn sign(key: &SigningKey, at: i64, head: AuditHead) -> Checkpoint {
        Checkpoint {
            at,
            entry_id: head.entry_id,
            head_hash: head.hash,
            key_id: key_id(&key.verifying_key()),
            signature: key
                .sign(&checkpoint_message(at, head.entry_id, &head.hash))
                .to_bytes(),
        }
    }

    /// Whether `key` made this signature over this head.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        self.key_id == key_id(key)
            && key
                .verify(
                    &checkpoint_message(self.at, self.entry_id, &self.head_hash),
                    &Signature::from_bytes(&self.signature),
                )
                .is_ok()
    }

    fn from_row(r: &Row) -> Option<Checkpoint> {
        let mut signature = [0; 64];
        hex::decode_to_slice(r[4].as_str()?, &mut signature).ok()?;
        Some(Checkpoint {
            at: r[0].as_i64()?,
            entry_id: r[1].as_i64()?,
            head_hash: parse_hash(&r[2])?,
            key_id: r[3].as_str()?.to_owned(),
            signature,
        })
    }
}

/// Why the chain is broken at an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The entry's hash does not follow from its content and its predecessor: a field
    /// was edited, or the entry was forged or replaced.
    Edited,
    /// No entry has this id although later ones exist: it was deleted.
    Deleted,
    /// The entry is intact but was written as entry `written_as`.
    Reordered { written_as: i64 },
    /// The log ends before an entry that a signed checkpoint (or the head file) covers.
    Truncated { covered_up_to: i64, by: String },
    /// A checkpoint at this entry does not verify with the audit public key.
    BadSignature { checkpoint: String },
    /// A validly signed checkpoint names another hash for this entry (the chain was
    /// rewritten from here on).
    Rewritten { checkpoint: String },
    /// The entry is about this person (with this outcome), or a group entry lists them,
    /// but the data tracker's index (`audit_person_lists`, or the runs of `audit_run_rows`)
    /// does not hold it: the read is hidden from the person's tracker.
    Untracked(IndexedPerson),
    /// The tracker's index holds this person under the entry, which is not about them (a
    /// row added or altered, or put under an entry that lists no one).
    Unlisted(IndexedPerson),
    /// The tracker's index holds this person under an entry the log does not hold (or,
    /// for the runs, one past the point they cover).
    Dangling(IndexedPerson),
}

/// A person with the outcome for them, as a group entry lists them or `audit_person_lists`
/// indexes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedPerson {
    /// The 12 digits (as stored: a tampered row may hold no valid personal id).
    pub person: String,
    pub outcome: String,
}

impl std::fmt::Display for IndexedPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "person {} ({})", self.person, self.outcome)
    }
}

impl Fault {
    /// Whether the fault is in the data tracker's index rather than in the chain itself.
    pub fn in_tracker_index(&self) -> bool {
        matches!(
            self,
            Fault::Untracked(_) | Fault::Unlisted(_) | Fault::Dangling(_)
        )
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Edited => {
                f.write_str("edited: its hash does not match its content and the entry before it")
            }
            Fault::Deleted => f.write_str("deleted: the log skips this id"),
            Fault::Reordered { written_as } => {
                write!(f, "reordered: it holds the entry written as #{written_as}")
            }
            Fault::Truncated { covered_up_to, by } => write!(
                f,
                "truncated: the log ends before this entry, yet {by} (validly signed) covers \
                 it up to entry #{covered_up_to}"
            ),
            Fault::BadSignature { checkpoint } => {
                write!(f, "{checkpoint} has a bad signature or an unknown key")
            }
            Fault::Rewritten { checkpoint } => write!(
                f,
                "rewritten: {checkpoint} signed another hash for this entry"
            ),
            Fault::Untracked(p) => write!(
                f,
                "untracked: it is about {p} but the tracker's index does not hold them, so their \
                 data tracker hides this read"
            ),
            Fault::Unlisted(p) => write!(
                f,
                "unlisted: the tracker's index holds {p} under it but it is not about them"
            ),
            Fault::Dangling(p) => write!(
                f,
                "dangling: the tracker's index holds {p} under this id but the log has no such \
                 entry (or the index does not cover it yet)"
            ),
        }
    }
}

/// The outcome of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainVerdict {
    Intact {
        entries: u64,
        checkpoints: u64,
        /// Persons of entries found in the tracker's index: those listed by group entries
        /// (`audit_person_lists`) and those of single entries the runs cover.
        tracked: u64,
        /// Whether a head file was given and checked against the chain.
        head_checked: bool,
    },
    Broken {
        /// The first bad entry.
        entry_id: i64,
        fault: Fault,
        /// Entries whose links were found intact before it (for a fault of the tracker's
        /// index, found once the walk has ended: every entry).
        checked: u64,
    },
}

/// The newest head kept outside the database, with the chain's first hash so that a
/// head of another store is recognized as such.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadRecord {
    pub genesis: Hash,
    pub checkpoint: Checkpoint,
}

/// What the verifier trusts besides the database.
#[derive(Default, Clone, Copy)]
pub struct ChainTrust<'a> {
    /// The audit public key; without it any checkpoint is reported as unverifiable.
    pub key: Option<&'a VerifyingKey>,
    pub head: Option<&'a HeadRecord>,
}

/// Holds the chain's write lock for the rest of the transaction and returns its head.
fn lock_head(tx: &mut dyn Tx) -> Result<Option<AuditHead>, Error> {
    if tx.dialect() == Dialect::Postgres {
        // Self-conflicting, so appenders queue; readers are not blocked.
        tx.exec("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE", &[])?;
    }
    head(tx)
}

fn head(tx: &mut dyn Tx) -> Result<Option<AuditHead>, Error> {
    let Some(row) = tx.query_one(
        "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
        &[],
    )?
    else {
        return Ok(None);
    };
    let entry_id = row[0].as_i64().unwrap_or_default();
    let hash = parse_hash(&row[1]).ok_or_else(|| {
        Error::Corrupt(format!(
            "audit entry #{entry_id} has no valid hash: run `dancu audit verify`"
        ))
    })?;
    Ok(Some(AuditHead { entry_id, hash }))
}

fn entry_row(id: i64, e: &AuditEntry) -> Row {
    vec![
        Value::Int(id),
        Value::Int(e.at_millis),
        Value::Text(e.actor.clone()),
        Value::Text(e.actor_role.clone()),
        Value::Text(e.actor_unit.clone()),
        Value::Text(e.action.clone()),
        Value::from(e.personal_id.map(pid_value)),
        e.purpose.clone().into(),
        Value::Text(e.outcome.clone()),
        e.ip.clone().into(),
        e.user_agent.clone().into(),
        e.detail.clone().into(),
    ]
}

/// Chains the entries written before the chain existed (schema version 3), in id order.
pub(crate) fn seal_unchained(tx: &mut dyn Tx) -> Result<(), Error> {
    let cols = CHAINED.join(", ");
    let mut prev = GENESIS_PREV;
    let mut after = i64::MIN;
    loop {
        let rows = tx.query(
            &format!("SELECT {cols} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"),
            &[Value::Int(after), Value::Int(PAGE)],
        )?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last[0].as_i64().unwrap_or(i64::MAX);
        for row in &rows {
            prev = link(&prev, row);
            tx.exec(
                "UPDATE audit_log SET hash = $1 WHERE id = $2",
                &[Value::Text(hex::encode(prev)), row[0].clone()],
            )?;
        }
    }
}

/// Appends entries, chained to the log's head, inside the caller's transaction (so that
/// they commit together with what they record, e.g. a batch job's checkpoint); returns
/// the new head.
pub(crate) fn insert_audit(
    tx: &mut dyn Tx,
    entries: &[AuditEntry],
) -> Result<Option<AuditHead>, Error> {
    append_entries(tx, entries.iter())
}

/// Persons of group entries per segment of `audit_person_lists`: a batch's checkpoint
/// writes its lists into a B-tree of at most this many persons (a few tens of MB, its
/// pages hot) instead of one that grows without end; the tracker probes one segment per
/// million persons listed (1,750 for the 1.75 billion verifications so far: milliseconds).
pub(crate) const GROUP_SEGMENT_ROWS: i64 = 1 << 20;

/// The bucket of a person's ID number in `audit_person_lists`: the ID without its last
/// six digits (province, century and sex, year of birth), so that a checkpoint of 65,536
/// persons writes a list per bucket (a few thousand rows, not a row per person) and the
/// tracker reads one bucket's lists per segment (about a twelve-thousandth of all the
/// persons listed). Coarser buckets made batches faster still (10⁷: 9% on a file in
/// random order) and the tracker's reads ten times larger. Fixed: the lists already
/// written are keyed by it (the migration that made them spells it as 1000000).
pub(crate) const PERSON_BUCKET: i64 = 1_000_000;

/// The bucket of `person` (a personal ID's number): see [`PERSON_BUCKET`].
fn bucket_of(person: i64) -> i64 {
    person / PERSON_BUCKET
}

/// A person a group entry lists, as the tracker's lists hold it: (person, entry, outcome).
pub(crate) type ListItem<'a> = (i64, i64, &'a str);

/// `items` (sorted) as a list: `person entry outcome`, joined by `,`.
fn encode_list(items: &[ListItem<'_>]) -> String {
    let mut out = String::with_capacity(items.len() * 28);
    let mut digits = itoa::Buffer::new();
    for (i, &(person, entry, outcome)) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(digits.format(person));
        out.push(' ');
        out.push_str(digits.format(entry));
        out.push(' ');
        out.push_str(outcome);
    }
    out
}

/// Calls `f` with each item of a list stored under `bucket` that the tracker can find: an
/// item that does not read as `person entry outcome` (integers, a word), or whose person
/// is of another bucket, is passed over, as the tracker's probes pass it over (so `audit
/// verify` reports the person the log lists as missing from the tracker).
fn decode_list(bucket: i64, persons: &str, mut f: impl FnMut(ListItem<'_>)) {
    for item in persons.split(',') {
        let mut parts = item.split(' ');
        let (Some(person), Some(entry), Some(outcome), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let number = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse::<i64>().ok())
                .flatten()
        };
        if let (Some(person), Some(entry)) = (number(person), number(entry))
            && bucket_of(person) == bucket
            && !outcome.is_empty()
        {
            f((person, entry, outcome));
        }
    }
}

/// [`insert_audit`] of group entries (and single ones, without persons), in order, with
/// the tracker's lists of their persons.
pub(crate) fn insert_audit_groups(
    tx: &mut dyn Tx,
    groups: &[GroupEntry],
) -> Result<Option<AuditHead>, Error> {
    let head = append_entries(tx, groups.iter().map(GroupEntry::entry))?;
    let Some(last) = head.map(|h| h.entry_id) else {
        return Ok(head);
    };
    if groups.iter().all(|g| g.persons.is_empty()) {
        return Ok(head);
    }
    let first = last - groups.len() as i64 + 1;
    let mut items: Vec<ListItem<'static>> = groups
        .iter()
        .zip(first..)
        .flat_map(|(g, entry_id)| {
            g.persons.iter().flat_map(move |&(outcome, ref ids)| {
                ids.iter()
                    .map(move |id| (pid_value(*id), entry_id, outcome))
            })
        })
        .collect();
    items.sort_unstable();
    // A commit's lists go into one segment (the next one once the current is full).
    let state = tx
        .query_one("SELECT segment, row_count FROM audit_persons_segment", &[])?
        .ok_or_else(|| Error::Corrupt("audit_persons_segment has no row".into()))?;
    let (mut segment, mut filled) = (
        state[0].as_i64().unwrap_or_default(),
        state[1].as_i64().unwrap_or_default(),
    );
    if filled > 0 && filled + items.len() as i64 > GROUP_SEGMENT_ROWS {
        (segment, filled) = (segment + 1, 0);
    }
    tx.exec(
        "UPDATE audit_persons_segment SET segment = $1, row_count = $2",
        &[Value::Int(segment), Value::Int(filled + items.len() as i64)],
    )?;
    // Keyed by the commit's first entry, which no other commit has.
    write_lists(tx, segment, first, &items)?;
    Ok(head)
}

/// Items per row of `audit_person_lists` at most (a list is cut into pieces of this many):
/// at most about 800 bytes (an item is 33 bytes with a 10-digit entry id and `mismatch`),
/// within the 984 bytes of text a `WITHOUT ROWID` row keeps in its page (beyond, the rest
/// went to an overflow page left mostly empty). The migration that made the first lists
/// spells it as 24.
pub(crate) const LIST_PIECE: usize = 24;

/// Writes `items` (sorted) into `segment` as a list per bucket, keyed by `first_entry`,
/// in pieces of [`LIST_PIECE`].
pub(crate) fn write_lists(
    tx: &mut dyn Tx,
    segment: i64,
    first_entry: i64,
    items: &[ListItem<'_>],
) -> Result<u64, Error> {
    tx.bulk_insert(
        "audit_person_lists",
        &["segment", "bucket", "first_entry", "piece", "persons"],
        &mut items
            .chunk_by(|a, b| bucket_of(a.0) == bucket_of(b.0))
            .flat_map(|list| list.chunks(LIST_PIECE).enumerate())
            .map(|(piece, items)| {
                vec![
                    Value::Int(segment),
                    Value::Int(bucket_of(items[0].0)),
                    Value::Int(first_entry),
                    Value::Int(piece as i64),
                    Value::Text(encode_list(items)),
                ]
            }),
    )
}

fn append_entries<'e>(
    tx: &mut dyn Tx,
    entries: impl Iterator<Item = &'e AuditEntry>,
) -> Result<Option<AuditHead>, Error> {
    let start = lock_head(tx)?;
    let mut entries = entries.peekable();
    if entries.peek().is_none() {
        return Ok(start);
    }
    let (mut id, mut prev) = start.map_or((0, GENESIS_PREV), |h| (h.entry_id, h.hash));
    let mut columns = CHAINED.to_vec();
    columns.push("hash");
    tx.bulk_insert(
        "audit_log",
        &columns,
        &mut entries.map(|e| {
            id += 1;
            let mut row = entry_row(id, e);
            prev = link(&prev, &row);
            row.push(Value::Text(hex::encode(prev)));
            row
        }),
    )?;
    Ok(Some(AuditHead {
        entry_id: id,
        hash: prev,
    }))
}

impl Store {
    /// Appends entries in one transaction (the server batches concurrent reads into one
    /// call), chained to the log's head; returns the new head.
    pub fn append_audit(&self, entries: &[AuditEntry]) -> Result<Option<AuditHead>, Error> {
        self.write_in(Files::Audit, |tx| insert_audit(tx, entries))
    }

    /// The hash of the first entry, which identifies the chain.
    pub fn audit_genesis(&self) -> Result<Option<Hash>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one("SELECT hash FROM audit_log ORDER BY id LIMIT 1", &[])?
                .and_then(|r| parse_hash(&r[0])))
        })
    }

    /// Signs the chain's head into `audit_checkpoints`, unless the newest checkpoint
    /// already covers it or the log is empty; returns the checkpoint written.
    pub fn checkpoint_audit(&self, key: &SigningKey) -> Result<Option<Checkpoint>, Error> {
        self.write_in(Files::Audit, |tx| {
            let Some(head) = lock_head(tx)? else {
                return Ok(None);
            };
            let covered = tx
                .query_one("SELECT MAX(entry_id) FROM audit_checkpoints", &[])?
                .and_then(|r| r[0].as_i64());
            if covered.is_some_and(|c| c >= head.entry_id) {
                return Ok(None);
            }
            let cp = Checkpoint::sign(key, crate::now_millis(), head);
            tx.exec(
                "INSERT INTO audit_checkpoints (at, entry_id, head_hash, key_id, signature) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    Value::Int(cp.at),
                    Value::Int(cp.entry_id),
                    Value::Text(hex::encode(cp.head_hash)),
                    Value::Text(cp.key_id.clone()),
                    Value::Text(hex::encode(cp.signature)),
                ],
            )?;
            Ok(Some(cp))
        })
    }

    /// Walks the whole chain in id order, a page at a time, in one snapshot: every hash,
    /// every id (no gaps), every checkpoint (signature, and the hash it names), the head
    /// record, and the data tracker's index: `audit_person_lists` must hold exactly the persons
    /// (and outcomes) that each group entry lists, and nothing under other entries.
    /// Returns the number of entries checked, or the first bad entry and why.
    pub fn verify_audit_chain(&self, trust: ChainTrust<'_>) -> Result<ChainVerdict, Error> {
        self.read(|tx| Walk::new(trust)?.run(tx))
    }

    /// Who touched a person's data, newest first: the entries about the person and the
    /// group entries that list them (with the outcome for them, and the first line of the
    /// entry's detail, not the list).
    pub fn audit_for_person(&self, id: PersonalId, limit: u32) -> Result<Vec<AuditEntry>, Error> {
        let (person, bucket) = (pid_value(id), bucket_of(pid_value(id)));
        self.read(|tx| {
            // The group entries that list the person: their bucket's lists in every
            // segment, newest first.
            let mut listed: Vec<(i64, String)> = Vec::new();
            tx.for_each(
                &format!(
                    "WITH RECURSIVE segments (s) AS (SELECT 0 UNION ALL SELECT s + 1 \
                     FROM segments WHERE s < (SELECT segment FROM audit_persons_segment)) \
                     SELECT persons FROM audit_person_lists \
                     WHERE segment IN (SELECT s FROM segments) AND bucket = $1{}",
                    readable_lists(tx.dialect())
                ),
                &[Value::Int(bucket)],
                &mut |r| {
                    decode_list(bucket, r[0].as_str().unwrap_or(""), |item| {
                        if item.0 == person {
                            listed.push((item.1, item.2.to_owned()));
                        }
                    });
                    Ok(())
                },
            )?;
            listed.sort_unstable_by(|a, b| b.cmp(a));
            listed.dedup();
            listed.truncate(limit as usize);
            let columns = "at, actor, actor_role, actor_unit, action, personal_id, purpose, \
                           outcome, ip, user_agent";
            let mut rows = tx.query(
                &format!(
                    "SELECT {columns}, detail, id FROM audit_log \
                     WHERE id IN ({ENTRIES_ABOUT_PERSON}) ORDER BY id DESC LIMIT $2"
                ),
                &[Value::Int(person), Value::Int(limit.into())],
            )?;
            let singles = rows.len();
            let mut ids: Vec<i64> = listed.iter().map(|(entry, _)| *entry).collect();
            ids.dedup();
            for group in ids.chunks(256) {
                let placeholders: Vec<String> =
                    (1..=group.len()).map(|i| format!("${i}")).collect();
                let params: Vec<Value> = group.iter().map(|&e| Value::Int(e)).collect();
                rows.extend(tx.query(
                    &format!(
                        "SELECT {columns}, substr(detail, 1, {GROUP_DETAIL_HEAD}), id \
                         FROM audit_log WHERE id IN ({})",
                        placeholders.join(",")
                    ),
                    &params,
                )?);
            }
            let entry = |mut r: Row, outcome: Option<String>| {
                let at_millis = r[0].as_i64().unwrap_or_default();
                let mut text = |i: usize| std::mem::replace(&mut r[i], Value::Null).into_string();
                AuditEntry {
                    at_millis,
                    actor: text(1).unwrap_or_default(),
                    actor_role: text(2).unwrap_or_default(),
                    actor_unit: text(3).unwrap_or_default(),
                    action: text(4).unwrap_or_default(),
                    purpose: text(6),
                    // A group entry's list of persons starts on its second line.
                    detail: text(10).map(|mut d| {
                        if outcome.is_some() {
                            d.truncate(d.find('\n').unwrap_or(d.len()));
                        }
                        d
                    }),
                    outcome: outcome.or_else(|| text(7)).unwrap_or_default(),
                    ip: text(8),
                    user_agent: text(9),
                    personal_id: Some(id),
                }
            };
            let groups: std::collections::HashMap<i64, Row> = rows
                .split_off(singles)
                .into_iter()
                .map(|r| (r[11].as_i64().unwrap_or_default(), r))
                .collect();
            // Newest first; a group entry that lists the person with two outcomes twice.
            let mut found: Vec<(i64, AuditEntry)> = rows
                .into_iter()
                .map(|r| (r[11].as_i64().unwrap_or_default(), entry(r, None)))
                .collect();
            for (id, outcome) in listed {
                if let Some(r) = groups.get(&id) {
                    found.push((id, entry(r.clone(), Some(outcome))));
                }
            }
            found.sort_by_key(|f| std::cmp::Reverse(f.0));
            found.truncate(limit as usize);
            Ok(found.into_iter().map(|(_, e)| e).collect())
        })
    }

    pub fn audit_count(&self) -> Result<i64, Error> {
        self.read(|tx| tx.query_i64("SELECT COUNT(*) FROM audit_log", &[]))
    }
}

/// The id of the last entry of the walk's page after entry `after`: at most [`PAGE`]
/// entries and [`PAGE_DETAIL_BYTES`] of details, and at least one entry (`None`: none).
fn page_end(tx: &mut dyn Tx, after: i64) -> Result<Option<i64>, Error> {
    // The sizes only: neither backend reads a text to measure it.
    let sizes = tx.query(
        "SELECT id, octet_length(detail) FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
        &[Value::Int(after), Value::Int(PAGE)],
    )?;
    let (mut end, mut bytes) = (None, 0);
    for r in &sizes {
        bytes += r[1].as_i64().unwrap_or_default();
        if end.is_some() && bytes > PAGE_DETAIL_BYTES {
            break;
        }
        end = r[0].as_i64();
    }
    Ok(end)
}

/// Calls `f(segment, item)` for each item of the tracker's lists that the tracker can find
/// (see [`decode_list`]): a scan of the table. Lists the tracker cannot read (numbers that
/// are not integers, which SQLite keeps in a BIGINT column, or persons stored as bytes;
/// [`readable_lists`]) are left out, as the tracker's probes leave them out.
pub(crate) fn for_each_listed(
    tx: &mut dyn Tx,
    mut f: impl FnMut(i64, ListItem<'_>),
) -> Result<(), Error> {
    let sql = format!(
        "SELECT segment, bucket, persons FROM audit_person_lists WHERE TRUE{}",
        readable_lists(tx.dialect())
    );
    tx.for_each(&sql, &[], &mut |r| {
        let (segment, bucket) = (
            r[0].as_i64().unwrap_or_default(),
            r[1].as_i64().unwrap_or_default(),
        );
        decode_list(bucket, r[2].as_str().unwrap_or(""), |item| f(segment, item));
        Ok(())
    })
}

/// The tracker's rows under entries `from..=to`, in order, at most `limit`, for the walk
/// to name a fault it has found.
fn indexed(tx: &mut dyn Tx, from: i64, to: i64, limit: i64) -> Result<Vec<Indexed>, Error> {
    let mut rows = Vec::new();
    for_each_listed(tx, |_, (person, entry, outcome)| {
        if (from..=to).contains(&entry) {
            rows.push((entry, person, outcome.to_owned()));
        }
    })?;
    rows.sort_unstable();
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(rows)
}

/// The first tracker row (by entry) in no segment the tracker probes: hidden from it.
fn outside_segments(tx: &mut dyn Tx) -> Result<Option<Indexed>, Error> {
    let current = tx.query_i64("SELECT segment FROM audit_persons_segment", &[])?;
    let mut first: Option<Indexed> = None;
    for_each_listed(tx, |segment, (person, entry, outcome)| {
        if !(0..=current).contains(&segment)
            && first.as_ref().is_none_or(|f| (entry, person) < (f.0, f.1))
        {
            first = Some((entry, person, outcome.to_owned()));
        }
    })?;
    Ok(first)
}

/// The last entry of bucket `bucket` of [`RowSums`] that the log holds (`last` is its
/// last entry; the bucket past it holds all later ids).
fn bucket_end(bucket: i64, last: i64) -> i64 {
    match bucket {
        -1 => 0,
        i64::MAX => i64::MAX,
        b => bucket_last(b).min(last),
    }
}

/// The last entry id of bucket `bucket` (of any bucket, without overflow).
fn bucket_last(bucket: i64) -> i64 {
    (bucket << BUCKET_BITS) | ((1 << BUCKET_BITS) - 1)
}

/// The numbers of an `audit_person_lists` row.
const LIST_NUMBERS: &[&str] = &["segment", "bucket", "first_entry", "piece"];

/// A condition on `audit_person_lists` rows (after a `WHERE`): those the tracker can read,
/// integers where it keeps numbers and text for the persons (a row altered otherwise is
/// skipped, and `audit verify` names the persons it hid as missing).
fn readable_lists(dialect: Dialect) -> String {
    let text = match dialect {
        Dialect::Sqlite => " AND typeof(persons) = 'text'",
        Dialect::Postgres => "",
    };
    integers_only(dialect, LIST_NUMBERS) + text
}

/// A condition on the tracker's rows (after a `WHERE`): `columns` hold integers. SQLite
/// keeps any number in a BIGINT column, and such a row reads back truncated; PostgreSQL
/// has only integers there.
fn integers_only(dialect: Dialect, columns: &[&str]) -> String {
    match dialect {
        Dialect::Sqlite => columns
            .iter()
            .map(|c| format!(" AND typeof({c}) = 'integer'"))
            .collect(),
        Dialect::Postgres => String::new(),
    }
}

/// A checkpoint as found in the table (its columns may have been tampered with).
struct StoredCheckpoint {
    id: i64,
    entry_id: i64,
    checkpoint: Option<Checkpoint>,
}

struct Walk<'a> {
    trust: ChainTrust<'a>,
    prev: Hash,
    next_id: i64,
    checked: u64,
    checkpoints: std::collections::VecDeque<StoredCheckpoint>,
    checkpoints_after: (i64, i64),
    checkpoints_done: bool,
    checkpoints_checked: u64,
    tracked: u64,
    /// The head record, once its genesis matched this chain.
    head: Option<&'a HeadRecord>,
    /// The last entry the tracker's runs cover, and what they must hold: the single
    /// entries about a person up to it, walked so far.
    runs_upto: i64,
    single: RowSums,
    /// What `audit_person_lists` must hold: the persons group entries list, walked so far.
    listed: RowSums,
    hasher: RowHasher,
}

/// Entries per bucket of [`RowSums`].
const BUCKET_BITS: u32 = 16;

/// The keyed hash of [`RowSums`]: SipHash-1-3 with a 128-bit output under a key drawn
/// from the operating system's generator for each walk, so that whoever edits the tables
/// can neither predict a row's hash nor build a forged set of rows that sums to the same
/// as the true one; a fraction of the cost of SHA-256 over the tens of millions of rows
/// of a batch's tracker. Named, not the standard library's `RandomState`, whose
/// algorithm is left unspecified and may change.
struct RowHasher {
    key: (u64, u64),
}

impl RowHasher {
    fn new() -> Result<Self, Error> {
        let mut key = [0u8; 16];
        getrandom::fill(&mut key)
            .map_err(|e| Error::Io(format!("no random key for the audit walk: {e}")))?;
        let half = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        Ok(RowHasher {
            key: (half(&key[..8]), half(&key[8..])),
        })
    }

    fn hash(&self, row: (i64, i64, &str)) -> u128 {
        use siphasher::sip128::{Hasher128, SipHasher13};
        use std::hash::Hash;
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        row.hash(&mut h);
        let out = h.finish128();
        (u128::from(out.h1) << 64) | u128::from(out.h2)
    }
}

/// A multiset of tracker rows (entry, person, outcome) in bounded memory: per key (a
/// bucket of entries, or an entry), the count of rows and the sum of their hashes.
#[derive(Default, PartialEq)]
struct RowSums(std::collections::BTreeMap<i64, (u64, u128)>);

impl RowSums {
    fn add(&mut self, key: i64, hasher: &RowHasher, row: (i64, i64, &str)) {
        let sums = self.0.entry(key).or_default();
        sums.0 += 1;
        sums.1 = sums.1.wrapping_add(hasher.hash(row));
    }

    /// The first key under which the two differ.
    fn first_difference(&self, other: &RowSums) -> Option<i64> {
        let keys = self.0.keys().chain(other.0.keys());
        keys.filter(|k| self.0.get(k) != other.0.get(k))
            .min()
            .copied()
    }
}

/// The persons a group entry lists, as the items the tracker's lists must hold for it (sorted,
/// without repeats); `None` for an entry that lists no one.
fn listed_rows(id: i64, personal_id: &Value, detail: &Value) -> Option<Vec<Indexed>> {
    let mut rows = Vec::new();
    listed_persons(personal_id, detail, |person, outcome| {
        rows.push((id, person, outcome.to_owned()))
    })
    .then(|| {
        rows.sort_unstable();
        rows.dedup();
        rows
    })
}

/// Which of two sorted lists holds the first element the other lacks, at which index.
enum Unmatched {
    Left(usize),
    Right(usize),
}

fn first_unmatched<T: Ord>(left: &[T], right: &[T]) -> Option<Unmatched> {
    let (mut l, mut r) = (0, 0);
    loop {
        match (left.get(l), right.get(r)) {
            (None, None) => return None,
            (Some(a), Some(b)) if a == b => (l, r) = (l + 1, r + 1),
            (Some(a), Some(b)) if b < a => return Some(Unmatched::Right(r)),
            (Some(_), _) => return Some(Unmatched::Left(l)),
            (None, Some(_)) => return Some(Unmatched::Right(r)),
        }
    }
}

/// An item of the tracker's lists, as the walk compares it: entry id, personal id, outcome.
type Indexed = (i64, i64, String);

fn person_fault(make: fn(IndexedPerson) -> Fault, (_, person, outcome): Indexed) -> Fault {
    make(IndexedPerson {
        person: format!("{person:012}"),
        outcome,
    })
}

type Broken = (i64, Fault);

const HEAD_FILE: &str = "the head file";

impl<'a> Walk<'a> {
    fn new(trust: ChainTrust<'a>) -> Result<Self, Error> {
        Ok(Walk {
            trust,
            prev: GENESIS_PREV,
            next_id: 1,
            checked: 0,
            checkpoints: Default::default(),
            checkpoints_after: (i64::MIN, i64::MIN),
            checkpoints_done: false,
            checkpoints_checked: 0,
            tracked: 0,
            head: None,
            runs_upto: 0,
            single: RowSums::default(),
            listed: RowSums::default(),
            hasher: RowHasher::new()?,
        })
    }

    fn run(mut self, tx: &mut dyn Tx) -> Result<ChainVerdict, Error> {
        Ok(match self.walk(tx)? {
            Ok(()) => ChainVerdict::Intact {
                entries: self.checked,
                checkpoints: self.checkpoints_checked,
                tracked: self.tracked,
                head_checked: self.head.is_some(),
            },
            Err((entry_id, fault)) => ChainVerdict::Broken {
                entry_id,
                fault,
                checked: self.checked,
            },
        })
    }

    fn walk(&mut self, tx: &mut dyn Tx) -> Result<Result<(), Broken>, Error> {
        let mut cols = CHAINED.join(", ");
        cols.push_str(", hash");
        let sql = format!("SELECT {cols} FROM audit_log WHERE id > $1 AND id <= $2 ORDER BY id");
        let mut after = i64::MIN;
        if let Err(broken) = self.checkpoints_before(tx, self.next_id)? {
            return Ok(Err(broken));
        }
        if let Some(row) = outside_segments(tx)? {
            return Ok(Err((row.0, person_fault(Fault::Untracked, row))));
        }
        self.runs_upto = tx.query_i64("SELECT indexed_upto FROM audit_run_state", &[])?;
        while let Some(page_end) = page_end(tx, after)? {
            let mut rows = tx.query(&sql, &[Value::Int(after), Value::Int(page_end)])?;
            let Some(last) = rows.last() else { break };
            after = last[0].as_i64().unwrap_or(i64::MAX);
            for row in rows.iter_mut() {
                let stored = row.pop().and_then(|h| parse_hash(&h));
                let id = row[0].as_i64().unwrap_or_default();
                if id != self.next_id {
                    return Ok(Err((self.next_id, Fault::Deleted)));
                }
                let hash = link(&self.prev, row);
                if stored != Some(hash) {
                    let fault = match stored {
                        Some(stored) => self.classify(tx, id, &stored, row)?,
                        None => Fault::Edited,
                    };
                    return Ok(Err((id, fault)));
                }
                if id == 1 {
                    self.head = self.trust.head.filter(|h| h.genesis == hash);
                }
                if let Some(head) = self.head.filter(|h| h.checkpoint.entry_id == id)
                    && let Some(fault) = self.check(&head.checkpoint, HEAD_FILE, hash)
                {
                    return Ok(Err((id, fault)));
                }
                if let Some(listed) = listed_rows(id, &row[6], &row[11]) {
                    for (entry, person, outcome) in &listed {
                        let key = *entry >> BUCKET_BITS;
                        self.listed
                            .add(key, &self.hasher, (*entry, *person, outcome));
                    }
                    self.tracked += listed.len() as u64;
                } else if let Some(person) = row[6].as_i64().filter(|_| id <= self.runs_upto) {
                    self.single
                        .add(id >> BUCKET_BITS, &self.hasher, (id, person, ""));
                    self.tracked += 1;
                }
                self.prev = hash;
                self.next_id += 1;
                self.checked += 1;
                if let Err(broken) = self.checkpoints_before(tx, self.next_id)? {
                    return Ok(Err(broken));
                }
            }
        }
        if let Err(broken) = self.checkpoints_before(tx, i64::MAX)? {
            return Ok(Err(broken));
        }
        if let Some(head) = self.head.filter(|h| h.checkpoint.entry_id >= self.next_id) {
            return Ok(Err(self.beyond_end(&head.checkpoint, HEAD_FILE)));
        }
        // The first entry at which either index of the tracker is wrong.
        let groups = self.check_groups(tx)?;
        let runs = self.check_runs(tx)?;
        Ok(match groups.into_iter().chain(runs).min_by_key(|b| b.0) {
            Some(broken) => Err(broken),
            None => Ok(()),
        })
    }

    /// Compares the tracker's lists with the persons the group entries list: the multisets of
    /// rows per bucket of entries first (one scan of the table), then, in the first bucket
    /// that differs, per entry (a scan of the bucket's entries and rows), then the rows of
    /// the first entry that differs, to name the first row missing or added. Rows under
    /// no entry of the log (before the first, after the last) are sums of their own.
    fn check_groups(&mut self, tx: &mut dyn Tx) -> Result<Option<Broken>, Error> {
        let last = self.next_id - 1;
        let bucket = |entry: i64| match entry {
            ..1 => -1,
            e if e > last => i64::MAX,
            e => e >> BUCKET_BITS,
        };
        let stored = self.sum_stored(tx, (i64::MIN, i64::MAX), bucket)?;
        let Some(differs) = self.listed.first_difference(&stored) else {
            return Ok(None);
        };
        if differs == -1 || differs == i64::MAX {
            let from = if differs == -1 { i64::MIN } else { last + 1 };
            let row = indexed(tx, from, bucket_end(differs, last), 1)?.pop();
            return match row {
                Some(row) => Ok(Some((row.0, person_fault(Fault::Dangling, row)))),
                None => Err(Error::Corrupt(format!(
                    "the tracker's persons of group entries differ from the log outside its \
                     entries ({from}..) but no row is there"
                ))),
            };
        }
        let (from, to) = ((differs << BUCKET_BITS).max(1), bucket_end(differs, last));
        let mut listed = RowSums::default();
        tx.for_each(
            "SELECT id, personal_id, detail FROM audit_log WHERE id BETWEEN $1 AND $2",
            &[Value::Int(from), Value::Int(to)],
            &mut |r| {
                let id = r[0].as_i64().unwrap_or_default();
                for (entry, person, outcome) in listed_rows(id, &r[1], &r[2]).unwrap_or_default() {
                    listed.add(entry, &self.hasher, (entry, person, &outcome));
                }
                Ok(())
            },
        )?;
        let stored = self.sum_stored(tx, (from, to), |entry| entry)?;
        let Some(entry) = listed.first_difference(&stored) else {
            return Err(Error::Corrupt(format!(
                "the tracker's persons of group entries differ from the log around entries \
                 {from}..{to} but no entry's do"
            )));
        };
        let row = tx
            .query_one(
                "SELECT personal_id, detail FROM audit_log WHERE id = $1",
                &[Value::Int(entry)],
            )?
            .unwrap_or_default();
        let mut listed = listed_rows(entry, &row[0], &row[1]).unwrap_or_default();
        let mut found = indexed(tx, entry, entry, listed.len() as i64 + 1)?;
        // Sorted here too: PostgreSQL may order the outcomes by another collation.
        found.sort_unstable();
        Ok(Some(match first_unmatched(&listed, &found) {
            Some(Unmatched::Left(l)) => {
                (entry, person_fault(Fault::Untracked, listed.swap_remove(l)))
            }
            Some(Unmatched::Right(f)) => {
                (entry, person_fault(Fault::Unlisted, found.swap_remove(f)))
            }
            None => {
                return Err(Error::Corrupt(format!(
                    "the tracker's persons of entry {entry} differ from the log's but no row does"
                )));
            }
        }))
    }

    /// The sums of the tracker's rows of group entries under entries `from..=to`, each
    /// under `key(entry)`: a scan of the lists.
    fn sum_stored(
        &self,
        tx: &mut dyn Tx,
        (from, to): (i64, i64),
        key: impl Fn(i64) -> i64,
    ) -> Result<RowSums, Error> {
        let mut sums = RowSums::default();
        for_each_listed(tx, |_, (person, entry, outcome)| {
            if (from..=to).contains(&entry) {
                sums.add(key(entry), &self.hasher, (entry, person, outcome));
            }
        })?;
        Ok(sums)
    }

    /// Compares the tracker's runs with the single entries the walk found up to the point
    /// the runs cover: the multisets of pairs per bucket of entries first (one scan of the
    /// runs), then, in the first bucket that differs, the pairs themselves, to name the
    /// first entry whose pair is missing or added.
    fn check_runs(&mut self, tx: &mut dyn Tx) -> Result<Option<Broken>, Error> {
        let pair = |r: &Row| {
            (
                r[0].as_i64().unwrap_or_default(),
                r[1].as_i64().unwrap_or_default(),
            )
        };
        let mut stored = RowSums::default();
        let integers = integers_only(tx.dialect(), &["run", "personal_id", "entry_id"]);
        tx.for_each(
            &format!("SELECT personal_id, entry_id FROM audit_run_rows WHERE TRUE{integers}"),
            &[],
            &mut |r| {
                let (person, entry) = pair(&r);
                stored.add(entry >> BUCKET_BITS, &self.hasher, (entry, person, ""));
                Ok(())
            },
        )?;
        let Some(bucket) = self.single.first_difference(&stored) else {
            return Ok(None);
        };
        let (from, to) = (bucket << BUCKET_BITS, bucket_last(bucket));
        // (entry, person, outcome) on both sides, sorted.
        let mut logged: Vec<Indexed> = tx
            .query(
                "SELECT personal_id, id, outcome FROM audit_log \
                 WHERE id BETWEEN $1 AND $2 AND personal_id IS NOT NULL ORDER BY id",
                &[Value::Int(from), Value::Int(to.min(self.runs_upto))],
            )?
            .into_iter()
            .map(|mut r| {
                let (person, entry) = pair(&r);
                (entry, person, r[2].take_text().unwrap_or_default())
            })
            .collect();
        let mut in_runs: Vec<(i64, i64)> = Vec::new();
        tx.for_each(
            &format!(
                "SELECT personal_id, entry_id FROM audit_run_rows \
                 WHERE entry_id BETWEEN $1 AND $2{integers}"
            ),
            &[Value::Int(from), Value::Int(to)],
            &mut |r| {
                let (person, entry) = pair(&r);
                in_runs.push((entry, person));
                Ok(())
            },
        )?;
        in_runs.sort_unstable();
        let keys: Vec<(i64, i64)> = logged.iter().map(|l| (l.0, l.1)).collect();
        let (entry, fault) = match first_unmatched(&keys, &in_runs) {
            Some(Unmatched::Left(l)) => {
                let row = logged.swap_remove(l);
                (row.0, person_fault(Fault::Untracked, row))
            }
            Some(Unmatched::Right(r)) => {
                let (entry, person) = in_runs[r];
                let covered = entry <= self.runs_upto && entry < self.next_id;
                let make = if covered {
                    Fault::Unlisted
                } else {
                    Fault::Dangling
                };
                let outcome = logged.iter().find(|l| l.0 == entry).map(|l| l.2.clone());
                (
                    entry,
                    person_fault(make, (entry, person, outcome.unwrap_or_default())),
                )
            }
            None => {
                return Err(Error::Corrupt(format!(
                    "the tracker's runs differ from the log around entries {from}..{to} \
                     but no pair does"
                )));
            }
        };
        Ok(Some((entry, fault)))
    }

    /// A checkpoint that covers an entry past the end of the log: a truncation if it is
    /// genuine, a forgery otherwise.
    fn beyond_end(&self, cp: &Checkpoint, name: &str) -> Broken {
        if self.signed(cp) {
            (
                self.next_id,
                Fault::Truncated {
                    covered_up_to: cp.entry_id,
                    by: name.to_owned(),
                },
            )
        } else {
            (
                cp.entry_id,
                Fault::BadSignature {
                    checkpoint: name.to_owned(),
                },
            )
        }
    }

    /// Checks every checkpoint that covers an entry before `id`, with the chain hash of
    /// the entry it covers (`self.prev` for the entry just verified).
    fn checkpoints_before(
        &mut self,
        tx: &mut dyn Tx,
        id: i64,
    ) -> Result<Result<(), Broken>, Error> {
        loop {
            if self.checkpoints.is_empty() && !self.checkpoints_done {
                self.fetch_checkpoints(tx)?;
            }
            let Some(front) = self.checkpoints.front() else {
                return Ok(Ok(()));
            };
            if front.entry_id >= id {
                return Ok(Ok(()));
            }
            let sc = self.checkpoints.pop_front().expect("front exists");
            let name = format!("checkpoint {}", sc.id);
            let Some(cp) = sc.checkpoint else {
                return Ok(Err((sc.entry_id, Fault::BadSignature { checkpoint: name })));
            };
            // Entries verified so far end at next_id - 1, whose hash is self.prev.
            let fault = if sc.entry_id >= self.next_id {
                return Ok(Err(self.beyond_end(&cp, &name)));
            } else if sc.entry_id == self.next_id - 1 {
                self.check(&cp, &name, self.prev)
            } else {
                // Covers an entry the walk passed without it: only a forged row can.
                Some(Fault::BadSignature { checkpoint: name })
            };
            if let Some(fault) = fault {
                return Ok(Err((sc.entry_id, fault)));
            }
            self.checkpoints_checked += 1;
        }
    }

    fn signed(&self, cp: &Checkpoint) -> bool {
        self.trust.key.is_some_and(|k| cp.verify(k))
    }

    /// `None` when `cp` is validly signed and names `hash`.
    fn check(&self, cp: &Checkpoint, name: &str, hash: Hash) -> Option<Fault> {
        if !self.signed(cp) {
            return Some(Fault::BadSignature {
                checkpoint: name.to_owned(),
            });
        }
        (cp.head_hash != hash).then(|| Fault::Rewritten {
            checkpoint: name.to_owned(),
        })
    }

    fn fetch_checkpoints(&mut self, tx: &mut dyn Tx) -> Result<(), Error> {
        let (entry, id) = self.checkpoints_after;
        let rows = tx.query(
            "SELECT at, entry_id, head_hash, key_id, signature, id FROM audit_checkpoints \
             WHERE entry_id > $1 OR (entry_id = $1 AND id > $2) ORDER BY entry_id, id LIMIT $3",
            &[Value::Int(entry), Value::Int(id), Value::Int(PAGE)],
        )?;
        self.checkpoints_done = (rows.len() as i64) < PAGE;
        for r in rows {
            let sc = StoredCheckpoint {
                id: r[5].as_i64().unwrap_or_default(),
                entry_id: r[1].as_i64().unwrap_or_default(),
                checkpoint: Checkpoint::from_row(&r),
            };
            self.checkpoints_after = (sc.entry_id, sc.id);
            self.checkpoints.push_back(sc);
        }
        Ok(())
    }

    /// Tells an edited entry from an intact one moved to another id: an intact entry
    /// links to some entry around it when given back the id it was written with.
    fn classify(
        &self,
        tx: &mut dyn Tx,
        id: i64,
        stored: &Hash,
        row: &[Value],
    ) -> Result<Fault, Error> {
        let nearby = tx.query(
            "SELECT id, hash FROM audit_log WHERE id BETWEEN $1 AND $2 ORDER BY id",
            &[
                Value::Int(id - REORDER_WINDOW),
                Value::Int(id + REORDER_WINDOW),
            ],
        )?;
        let mut prevs: Vec<Hash> = nearby.iter().filter_map(|r| parse_hash(&r[1])).collect();
        prevs.push(GENESIS_PREV);
        let mut moved = row.to_vec();
        for written_as in (id - REORDER_WINDOW).max(1)..=id + REORDER_WINDOW {
            if written_as == id {
                continue;
            }
            moved[0] = Value::Int(written_as);
            if prevs.iter().any(|p| link(p, &moved) == *stored) {
                return Ok(Fault::Reordered { written_as });
            }
        }
        Ok(Fault::Edited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each walk hashes under a fresh random key: the sums of a walk cannot be known, so
    /// neither matched by a forged set of rows, before it runs; within a walk the hash is
    /// a function of the row alone.
    #[test]
    fn tracker_row_hashes_are_keyed_afresh_for_each_walk() {
        let row = (7, 1_075_001_234, "match");
        let (first, second) = (RowHasher::new().unwrap(), RowHasher::new().unwrap());
        assert_ne!(first.key, second.key);
        assert_ne!(first.hash(row), second.hash(row));
        assert_eq!(first.hash(row), first.hash(row));
        assert_ne!(first.hash(row), first.hash((7, 1_075_001_234, "mismatch")));
    }

    /// A list reads back as written; an item that is not `person entry outcome` (numbers
    /// as plain digits) or whose person is of another bucket is passed over, as the
    /// tracker passes it over.
    #[test]
    fn tracker_lists_read_back_what_was_written_and_skip_what_the_tracker_cannot_find() {
        let items = [
            (1_075_001_234, 7, "match"),
            (1_075_001_234, 9, "mismatch"),
            (1_075_999_999, 8, "match"),
        ];
        let bucket = bucket_of(1_075_001_234);
        let decoded = |text: &str| {
            let mut out = Vec::new();
            decode_list(bucket, text, |(p, e, o)| out.push((p, e, o.to_owned())));
            out
        };
        let written = encode_list(&items);
        assert_eq!(
            decoded(&written),
            items.map(|(p, e, o)| (p, e, o.to_owned()))
        );
        for broken in [
            "1075001234.5 7 match",
            "1075001234 +7 match",
            "1075001234 7",
            "1075001234 7 match extra",
            "1075001234  7 match",
            "1076001234 7 match",
            "",
        ] {
            assert!(decoded(broken).is_empty(), "{broken:?}");
        }
        assert_eq!(decoded(&format!("x,{written},y")).len(), 3);
    }

    /// The migration that turned the rows into lists bucketed and cut them as the code
    /// does.
    #[test]
    fn the_lists_migration_buckets_and_cuts_as_the_code_does() {
        let migration = crate::schema::GROUP_PERSONS_IN_LISTS;
        let bucketed = format!("personal_id / {PERSON_BUCKET}");
        assert_eq!(migration.matches(bucketed.as_str()).count(), 2);
        assert!(migration.contains(&format!(") - 1) / {LIST_PIECE} AS piece")));
    }
}
