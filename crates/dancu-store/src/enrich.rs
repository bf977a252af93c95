//! Attributes that ministries push (enrichment): every applied value is a row of
//! `citizen_attributes` referencing its event (the event names the partner and its
//! agency), so the current value, the history and "as of a date" are reads of one
//! table. Updates the registry refuses are kept in `enrich_conflicts` for the agency that
//! owns the attribute.

use dancu_domain::{PartialDate, PersonalId};
use serde::Serialize;

use crate::citizens::{CitizenField, citizen_in, date_from, pid_from, pid_value, write_change};
use crate::events::{self, EVENT_COLUMNS, EventMeta, EventRecord};
use crate::sql::{Row, Tx, Value};
use crate::{Error, Store, now_millis};

/// One update of a person's attribute, validated by the caller.
#[derive(Debug, Clone)]
pub struct AttributeWrite {
    pub personal_id: PersonalId,
    pub attribute: String,
    /// The value in its canonical JSON text.
    pub value: String,
    pub observed_on: PartialDate,
    /// The agency that owns the attribute (recorded with a conflict).
    pub owner: String,
    /// The citizen field the attribute also sets (blood type), with its text value:
    /// changed under the same event, so the citizen view and its history agree.
    pub mirror: Option<(CitizenField, String)>,
}

/// One applied value of an attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeVersion {
    pub attribute: String,
    /// Canonical JSON text.
    pub value: String,
    pub observed_on: PartialDate,
    /// Who pushed it (`actor` = `partner:NAME`, `agency`) and when.
    pub event: EventRecord,
}

/// What the registry holds when an update arrives.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    pub citizen_exists: bool,
    /// The latest applied value of the attribute.
    pub version: Option<&'a AttributeVersion>,
    /// The mirrored citizen field's current value (it may have been set by the registry
    /// itself, before or after the last enrichment).
    pub mirror_value: Option<&'a str>,
}

/// The caller's decision on one update, taken inside the write transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Apply,
    /// Nothing to write (unchanged, not found).
    Skip,
    /// Refused: recorded in `enrich_conflicts` with the value held and its agency.
    Conflict {
        reason: String,
        held_value: Option<String>,
        held_agency: Option<String>,
    },
}

/// A refused update, for the agency that owns the attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictRecord {
    pub id: i64,
    pub at: i64,
    pub personal_id: PersonalId,
    pub attribute: String,
    pub owner: String,
    /// The partner that pushed the refused value, and its agency.
    pub partner: String,
    pub agency: String,
    pub value: String,
    pub observed_on: PartialDate,
    pub held_value: Option<String>,
    pub held_agency: Option<String>,
    pub reason: String,
}

fn version_from(mut row: Row) -> Result<AttributeVersion, Error> {
    let mut text = |i: usize| {
        std::mem::replace(&mut row[i], Value::Null)
            .into_string()
            .unwrap_or_default()
    };
    let (attribute, value) = (text(0), text(1));
    Ok(AttributeVersion {
        attribute,
        value,
        observed_on: date_from(&row[2])?
            .ok_or_else(|| Error::Corrupt("attribute without observation date".into()))?,
        event: events::from_row(&mut row, 3)?,
    })
}

/// Every applied value of a person's attributes, by attribute then in the order applied.
fn versions_in(tx: &mut dyn Tx, id: PersonalId) -> Result<Vec<AttributeVersion>, Error> {
    tx.query(
        &format!(
            "SELECT a.attribute, a.value, a.observed_on, {EVENT_COLUMNS} FROM citizen_attributes a \
             JOIN events e ON e.id = a.event_id WHERE a.personal_id = $1 \
             ORDER BY a.attribute, a.event_id"
        ),
        &[Value::Int(pid_value(id))],
    )?
    .into_iter()
    .map(version_from)
    .collect()
}

fn latest_in(
    tx: &mut dyn Tx,
    id: PersonalId,
    attribute: &str,
) -> Result<Option<AttributeVersion>, Error> {
    tx.query_one(
        &format!(
            "SELECT a.attribute, a.value, a.observed_on, {EVENT_COLUMNS} FROM citizen_attributes a \
             JOIN events e ON e.id = a.event_id WHERE a.personal_id = $1 AND a.attribute = $2 \
             ORDER BY a.event_id DESC LIMIT 1"
        ),
        &[Value::Int(pid_value(id)), attribute.into()],
    )?
    .map(version_from)
    .transpose()
}

impl Store {
    /// Applies a batch of updates under one event (appended only if something applies),
    /// asking `decide` about each with what the registry holds, in the same transaction:
    /// no half-applied batch, and no update decided on a value another writer replaced.
    /// Returns the event, if one was written.
    pub fn enrich(
        &self,
        meta: &EventMeta,
        writes: &[AttributeWrite],
        decide: &mut dyn FnMut(usize, Held<'_>) -> Decision,
    ) -> Result<Option<i64>, Error> {
        self.write(|tx| {
            let mut applied = Vec::new();
            let mut conflicts = Vec::new();
            for (i, w) in writes.iter().enumerate() {
                let citizen = citizen_in(tx, w.personal_id)?;
                let version = match citizen {
                    Some(_) => latest_in(tx, w.personal_id, &w.attribute)?,
                    None => None,
                };
                let mirror_value = match (&citizen, &w.mirror) {
                    (Some(c), Some((field, _))) => field.get(c),
                    _ => None,
                };
                let held = Held {
                    citizen_exists: citizen.is_some(),
                    version: version.as_ref(),
                    mirror_value: mirror_value.as_deref(),
                };
                match decide(i, held) {
                    Decision::Apply if citizen.is_some() => applied.push((w, citizen)),
                    Decision::Apply | Decision::Skip => {}
                    Decision::Conflict {
                        reason,
                        held_value,
                        held_agency,
                    } => conflicts.push((w, reason, held_value, held_agency)),
                }
            }
            let at = now_millis();
            for (w, reason, held_value, held_agency) in conflicts {
                tx.exec(
                    "INSERT INTO enrich_conflicts (at, personal_id, attribute, owner, partner, \
                     agency, value, observed_on, held_value, held_agency, reason) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &[
                        Value::Int(at),
                        Value::Int(pid_value(w.personal_id)),
                        w.attribute.as_str().into(),
                        w.owner.as_str().into(),
                        meta.actor.as_str().into(),
                        meta.agency.as_str().into(),
                        w.value.as_str().into(),
                        Value::Int(w.observed_on.sort_key().into()),
                        held_value.into(),
                        held_agency.into(),
                        reason.into(),
                    ],
                )?;
            }
            if applied.is_empty() {
                return Ok(None);
            }
            let event = events::append(tx, meta)?;
            for (w, citizen) in applied {
                tx.exec(
                    "INSERT INTO citizen_attributes (personal_id, attribute, event_id, value, \
                     observed_on) VALUES ($1, $2, $3, $4, $5)",
                    &[
                        Value::Int(pid_value(w.personal_id)),
                        w.attribute.as_str().into(),
                        Value::Int(event),
                        w.value.as_str().into(),
                        Value::Int(w.observed_on.sort_key().into()),
                    ],
                )?;
                if let (Some((field, text)), Some(before)) = (&w.mirror, citizen) {
                    let mut after = before.clone();
                    field.set(&mut after, Some(text)).map_err(Error::Conflict)?;
                    if field.get(&before) != field.get(&after) {
                        write_change(tx, *field, &before, &after, event)?;
                    }
                }
            }
            Ok(Some(event))
        })
    }

    /// A person's attributes: the latest value of each, or with `as_of` the latest
    /// observed on or before that day.
    pub fn attributes(
        &self,
        id: PersonalId,
        as_of: Option<PartialDate>,
    ) -> Result<Vec<AttributeVersion>, Error> {
        let day = as_of.map(|d| i64::from(d.sort_key()));
        let versions = self.read(|tx| versions_in(tx, id))?;
        let mut out: Vec<AttributeVersion> = Vec::new();
        for v in versions {
            if day.is_some_and(|day| i64::from(v.observed_on.sort_key()) > day) {
                continue;
            }
            // Versions come by attribute, oldest first: a later one replaces the last.
            match out.last_mut() {
                Some(last) if last.attribute == v.attribute => *last = v,
                _ => out.push(v),
            }
        }
        Ok(out)
    }

    /// Every applied value of a person's attributes, by attribute, oldest first.
    pub fn attribute_history(&self, id: PersonalId) -> Result<Vec<AttributeVersion>, Error> {
        self.read(|tx| versions_in(tx, id))
    }

    /// Up to `limit` refused updates older than `before_id` (None: the newest), newest
    /// first, of attributes `owner` owns or pushed by `partner`.
    pub fn enrich_conflicts(
        &self,
        owner: &str,
        partner: &str,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConflictRecord>, Error> {
        self.read(|tx| {
            tx.query(
                "SELECT id, at, personal_id, attribute, owner, partner, agency, value, \
                 observed_on, held_value, held_agency, reason FROM enrich_conflicts \
                 WHERE (owner = $1 OR partner = $2) AND id < $3 ORDER BY id DESC LIMIT $4",
                &[
                    owner.into(),
                    partner.into(),
                    Value::Int(before_id.unwrap_or(i64::MAX)),
                    Value::Int(limit.into()),
                ],
            )?
            .into_iter()
            .map(|mut r| {
                let personal_id =
                    pid_from(&r[2])?.ok_or_else(|| Error::Corrupt("conflict without ID".into()))?;
                let observed_on = date_from(&r[8])?
                    .ok_or_else(|| Error::Corrupt("conflict without observation".into()))?;
                let (id, at) = (
                    r[0].as_i64().unwrap_or_default(),
                    r[1].as_i64().unwrap_or_default(),
                );
                let mut text = |i: usize| std::mem::replace(&mut r[i], Value::Null).into_string();
                Ok(ConflictRecord {
                    id,
                    at,
                    personal_id,
                    attribute: text(3).unwrap_or_default(),
                    owner: text(4).unwrap_or_default(),
                    partner: text(5).unwrap_or_default(),
                    agency: text(6).unwrap_or_default(),
                    value: text(7).unwrap_or_default(),
                    observed_on,
                    held_value: text(9),
                    held_agency: text(10),
                    reason: text(11).unwrap_or_default(),
                })
            })
            .collect()
        })
    }
}
