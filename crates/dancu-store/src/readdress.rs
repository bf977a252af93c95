//! Bulk re-addressing (tách gộp địa bàn) as unit successions: applying a reorganization
//! records, in one transaction under its event, one `unit_successions` row per old unit
//! (old unit → new unit from the effective date). No residence, citizen or household row
//! is written: their units are resolved through the successions when read, so the apply
//! costs O(units), a household can never be half-moved (its members and its own row share
//! the unit they resolve from), and each person's residence history shows the change with
//! its legal basis, derived from the succession.
//!
//! The report (dry run or apply) counts, per old → new unit, the open residences, people
//! and households that resolve to the old unit on the effective date, with SQL aggregates
//! over the unit indexes.

use std::collections::{BTreeMap, HashMap, HashSet};

use dancu_domain::PartialDate;
use dancu_domain::succession::Successions;
use dancu_domain::units::Structure;
use serde::Serialize;

use crate::events::{self, EventMeta};
use crate::sql::{Dialect, Tx, Value};
use crate::successions::{self, SUCCESSION_COLUMNS};
use crate::{Error, Store};

/// A reorganization: each old commune code goes to exactly one new code.
#[derive(Debug, Clone)]
pub struct ReaddressPlan {
    pub mapping: Vec<(String, String)>,
    pub from: Structure,
    pub to: Structure,
    pub effective_date: PartialDate,
}

/// What a re-addressing moves (dry run) or moved.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReaddressReport {
    pub applied: bool,
    pub event_id: Option<i64>,
    /// Open residence registrations moved (permanent, temporary, absence).
    pub residences: u64,
    /// People whose permanent-residence commune changes.
    pub citizens: u64,
    pub households: u64,
    /// Per old unit: (old code, new code, open residences, citizens, households).
    pub per_unit: Vec<(String, String, u64, u64, u64)>,
}

impl Store {
    /// Reports (`meta == None`) or applies a re-addressing. Refused (nothing recorded)
    /// when it contradicts a recorded one: an old unit already succeeded, a new unit that
    /// no longer exists on the effective date, or an old unit that a recorded
    /// reorganization still sends residents to after that date.
    pub fn readdress(
        &self,
        plan: &ReaddressPlan,
        meta: Option<&EventMeta>,
    ) -> Result<ReaddressReport, Error> {
        let report = self.write(|tx| {
            // Read in this transaction: the checks see every committed reorganization.
            let (_, recorded) = successions::load(tx)?;
            check(&recorded, plan)?;
            let sources = sources(&recorded, plan);
            load_mapping(tx, &sources)?;
            let mut report = count(tx, &sources)?;
            drop_mapping(tx)?;
            if let Some(meta) = meta {
                let event = events::append(tx, meta)?;
                let eff = Value::Int(plan.effective_date.sort_key().into());
                tx.bulk_insert(
                    "unit_successions",
                    SUCCESSION_COLUMNS,
                    &mut plan.mapping.iter().map(|(old, new)| {
                        vec![
                            Value::Code(plan.from.code()),
                            Value::Text(old.clone()),
                            Value::Code(plan.to.code()),
                            Value::Text(new.clone()),
                            eff.clone(),
                            Value::Int(event),
                        ]
                    }),
                )?;
                report.applied = true;
                report.event_id = Some(event);
            }
            Ok(report)
        })?;
        if report.applied {
            self.load_successions()?;
        }
        Ok(report)
    }
}

fn check(recorded: &Successions, plan: &ReaddressPlan) -> Result<(), Error> {
    let olds: HashSet<&str> = plan.mapping.iter().map(|(o, _)| o.as_str()).collect();
    for (old, new) in &plan.mapping {
        if let Some(s) = recorded.of(plan.from, old) {
            return Err(Error::Conflict(format!(
                "unit {old} was already re-addressed to {} from {} (event {})",
                s.to_code, s.effective_date, s.event_id
            )));
        }
        if let Some(s) = recorded
            .of(plan.to, new)
            .filter(|s| s.effective_date <= plan.effective_date)
        {
            return Err(Error::Conflict(format!(
                "new unit {new} no longer exists on {}: it became {} from {} (event {})",
                plan.effective_date, s.to_code, s.effective_date, s.event_id
            )));
        }
    }
    if let Some(s) = recorded.iter().find(|s| {
        s.to_structure == plan.from
            && olds.contains(s.to_code.as_str())
            && s.effective_date > plan.effective_date
    }) {
        return Err(Error::Conflict(format!(
            "unit {} receives the residents of {} from {} (event {}), after the date it would be re-addressed",
            s.to_code, s.from_code, s.effective_date, s.event_id
        )));
    }
    Ok(())
}

/// The recorded units whose residents the plan moves, with the plan's old and new unit:
/// each old unit itself, and every unit that resolves to one on the effective date.
fn sources(recorded: &Successions, plan: &ReaddressPlan) -> Vec<[Value; 4]> {
    let by_old: HashMap<&str, &(String, String)> =
        plan.mapping.iter().map(|m| (m.0.as_str(), m)).collect();
    let row = |structure: Structure, code: &str, (old, new): &(String, String)| {
        [
            Value::Text(code.to_owned()),
            Value::Code(structure.code()),
            Value::Text(old.clone()),
            Value::Text(new.clone()),
        ]
    };
    let mut rows: Vec<[Value; 4]> = plan
        .mapping
        .iter()
        .map(|m| row(plan.from, &m.0, m))
        .collect();
    for s in recorded.iter() {
        if let Some(m) = recorded
            .resolve(s.from_structure, &s.from_code, plan.effective_date, None)
            .filter(|(structure, _)| *structure == plan.from)
            .and_then(|(_, code)| by_old.get(code).copied())
        {
            rows.push(row(s.from_structure, &s.from_code, m));
        }
    }
    rows
}

/// Per recorded unit of the mapping table, its open residences, citizens and households.
/// The unit indexes of the first two are walked in key order per recorded unit, so the
/// counts stream (grouping the joined rows by old unit sorted 11 M rows for minutes);
/// households have no unit index and are scanned once.
const COUNTS: [&str; 3] = [
    "SELECT m.raw_code, m.raw_structure, COUNT(*) FROM readdress_map m JOIN residences t \
     ON t.commune_code = m.raw_code AND t.unit_structure = m.raw_structure \
     AND t.valid_to IS NULL GROUP BY m.raw_code, m.raw_structure",
    "SELECT m.raw_code, m.raw_structure, COUNT(*) FROM readdress_map m JOIN citizens t \
     ON t.commune_code = m.raw_code AND t.unit_structure = m.raw_structure \
     GROUP BY m.raw_code, m.raw_structure",
    "SELECT commune_code, unit_structure, COUNT(*) FROM households \
     WHERE (commune_code, unit_structure) IN (SELECT raw_code, raw_structure FROM readdress_map) \
     GROUP BY commune_code, unit_structure",
];

fn grouped(tx: &mut dyn Tx, sql: &str) -> Result<HashMap<(String, String), u64>, Error> {
    Ok(tx
        .query(sql, &[])?
        .into_iter()
        .map(|mut r| {
            let n = r[2].as_i64().unwrap_or(0) as u64;
            (
                (
                    r[0].take_text().unwrap_or_default(),
                    r[1].take_text().unwrap_or_default(),
                ),
                n,
            )
        })
        .collect())
}

/// Counts per old unit: the counts of the recorded units that resolve to it, summed.
fn count(tx: &mut dyn Tx, sources: &[[Value; 4]]) -> Result<ReaddressReport, Error> {
    let counts = [
        grouped(tx, COUNTS[0])?,
        grouped(tx, COUNTS[1])?,
        grouped(tx, COUNTS[2])?,
    ];
    let mut per_old: BTreeMap<&str, (&str, [u64; 3])> = BTreeMap::new();
    for [raw, structure, old, new] in sources {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let key = (text(raw), text(structure));
        let entry = per_old
            .entry(old.as_str().unwrap_or_default())
            .or_insert((new.as_str().unwrap_or_default(), [0; 3]));
        for (sum, table) in entry.1.iter_mut().zip(&counts) {
            *sum += table.get(&key).copied().unwrap_or(0);
        }
    }
    let mut report = ReaddressReport::default();
    for (old, (new, [res, cit, hh])) in per_old {
        report.residences += res;
        report.citizens += cit;
        report.households += hh;
        report
            .per_unit
            .push((old.to_owned(), new.to_owned(), res, cit, hh));
    }
    Ok(report)
}

fn load_mapping(tx: &mut dyn Tx, rows: &[[Value; 4]]) -> Result<(), Error> {
    drop_mapping(tx)?;
    let columns = "raw_code TEXT NOT NULL, raw_structure TEXT NOT NULL, old_code TEXT NOT NULL, \
                   new_code TEXT NOT NULL, PRIMARY KEY (raw_code, raw_structure)";
    let create = match tx.dialect() {
        Dialect::Sqlite => format!("CREATE TEMP TABLE readdress_map ({columns})"),
        Dialect::Postgres => {
            format!("CREATE TEMP TABLE readdress_map ({columns}) ON COMMIT DROP")
        }
    };
    tx.exec(&create, &[])?;
    tx.bulk_insert(
        "readdress_map",
        &["raw_code", "raw_structure", "old_code", "new_code"],
        &mut rows.iter().map(|r| r.to_vec()),
    )?;
    tx.exec("ANALYZE readdress_map", &[])?;
    Ok(())
}

fn drop_mapping(tx: &mut dyn Tx) -> Result<(), Error> {
    tx.exec("DROP TABLE IF EXISTS readdress_map", &[])?;
    Ok(())
}
