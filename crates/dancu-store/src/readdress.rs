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

use std::collections::{HashMap, HashSet};

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
            load_mapping(tx, &sources(&recorded, plan))?;
            let mut report = count(tx)?;
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

/// Per old unit, the rows of `table` (`extra`: more join conditions) in the units that
/// resolve to it.
fn grouped(tx: &mut dyn Tx, table: &str, extra: &str) -> Result<HashMap<String, u64>, Error> {
    let rows = tx.query(
        &format!(
            "SELECT m.old_code, COUNT(*) FROM readdress_map m JOIN {table} t \
             ON t.commune_code = m.raw_code AND t.unit_structure = m.raw_structure{extra} \
             GROUP BY m.old_code"
        ),
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            let n = r[1].as_i64().unwrap_or(0) as u64;
            (take_text(&mut r, 0), n)
        })
        .collect())
}

fn take_text(r: &mut [Value], i: usize) -> String {
    std::mem::replace(&mut r[i], Value::Null)
        .into_string()
        .unwrap_or_default()
}

/// Counts per old unit over the mapping table, one grouped join per table.
fn count(tx: &mut dyn Tx) -> Result<ReaddressReport, Error> {
    let residences = grouped(tx, "residences", " AND t.valid_to IS NULL")?;
    let citizens = grouped(tx, "citizens", "")?;
    let households = grouped(tx, "households", "")?;
    let mut report = ReaddressReport::default();
    for mut r in tx.query(
        "SELECT DISTINCT old_code, new_code FROM readdress_map ORDER BY old_code",
        &[],
    )? {
        let (old, new) = (take_text(&mut r, 0), take_text(&mut r, 1));
        let n = |m: &HashMap<String, u64>| m.get(&old).copied().unwrap_or(0);
        let (res, cit, hh) = (n(&residences), n(&citizens), n(&households));
        report.residences += res;
        report.citizens += cit;
        report.households += hh;
        report.per_unit.push((old, new, res, cit, hh));
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
