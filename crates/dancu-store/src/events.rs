//! The event log: one row per change operation (a registration, an import, a seed run,
//! a re-addressing), referenced by every row it changed.

use dancu_domain::PartialDate;
use serde::Serialize;

use crate::sql::{Tx, Value};
use crate::{Error, now_millis};

/// Who changed what, on what basis. `kind` names the operation (`seed`, `import`,
/// `readdress`, `update`, `residence`…); `summary` is a short JSON description.
#[derive(Debug, Clone)]
pub struct EventMeta {
    pub actor: String,
    pub agency: String,
    /// Procedure or legal basis (e.g. "Nghị quyết 1685/NQ-UBTVQH15").
    pub basis: String,
    pub kind: String,
    pub summary: String,
    /// The date from which the change holds in law (defaults to today for most changes).
    pub effective_date: PartialDate,
}

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub id: i64,
    pub at_millis: i64,
    pub effective_date: PartialDate,
    pub actor: String,
    pub agency: String,
    pub basis: String,
    pub kind: String,
    pub summary: String,
}

/// Appends an event inside the caller's transaction and returns its id.
pub fn append(tx: &mut dyn Tx, meta: &EventMeta) -> Result<i64, Error> {
    tx.query_i64(
        "INSERT INTO events (at, effective_date, actor, agency, basis, kind, summary) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[
            Value::Int(now_millis()),
            Value::Int(meta.effective_date.sort_key().into()),
            meta.actor.as_str().into(),
            meta.agency.as_str().into(),
            meta.basis.as_str().into(),
            meta.kind.as_str().into(),
            meta.summary.as_str().into(),
        ],
    )
}

/// One event by id.
pub(crate) fn by_id(tx: &mut dyn Tx, id: i64) -> Result<EventRecord, Error> {
    let mut row = tx
        .query_one(
            &format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.id = $1"),
            &[Value::Int(id)],
        )?
        .ok_or_else(|| Error::Corrupt(format!("event {id} is missing")))?;
    from_row(&mut row, 0)
}

pub(crate) const EVENT_COLUMNS: &str =
    "e.id, e.at, e.effective_date, e.actor, e.agency, e.basis, e.kind, e.summary";

/// Reads an event from the 8 columns of [`EVENT_COLUMNS`] starting at `at`.
pub(crate) fn from_row(row: &mut [Value], at: usize) -> Result<EventRecord, Error> {
    let text = |row: &mut [Value], i: usize| {
        std::mem::replace(&mut row[at + i], Value::Null)
            .into_string()
            .unwrap_or_default()
    };
    Ok(EventRecord {
        id: row[at].as_i64().unwrap_or_default(),
        at_millis: row[at + 1].as_i64().unwrap_or_default(),
        effective_date: crate::citizens::date_from(&row[at + 2])?
            .ok_or_else(|| Error::Corrupt("event without effective date".into()))?,
        actor: text(row, 3),
        agency: text(row, 4),
        basis: text(row, 5),
        kind: text(row, 6),
        summary: text(row, 7),
    })
}
