//! Bulk re-addressing (tách gộp địa bàn): moving every open residence in a set of old
//! units to their new units in one transaction, so that no household is left half-moved.
//!
//! Each moved residence is closed on the effective date and reopened in the new unit under
//! the re-addressing event, so every person's residence history records the change and
//! its legal basis.

use dancu_domain::PartialDate;
use dancu_domain::units::Structure;
use serde::Serialize;

use crate::events::{self, EventMeta};
use crate::schema::BULK_INDEXES;
use crate::sql::{Dialect, Tx, Value};

/// Open residences from which an apply drops and rebuilds the unit indexes.
const REBUILD_ABOVE: u64 = 1_000_000;
/// The indexes on unit codes, which every moved row would otherwise update.
const UNIT_INDEXES: [&str; 2] = ["citizens_commune", "residences_open_commune"];
use crate::{Error, Store};

/// A reorganization: each old commune code goes to exactly one new code.
#[derive(Debug, Clone)]
pub struct ReaddressPlan {
    pub mapping: Vec<(String, String)>,
    pub from: Structure,
    pub to: Structure,
    pub effective_date: PartialDate,
}

/// What a re-addressing changes (dry run) or changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReaddressReport {
    pub applied: bool,
    pub event_id: Option<i64>,
    /// Open residence registrations moved (permanent, temporary, absence).
    pub residences: u64,
    /// People whose permanent-residence commune changes.
    pub citizens: u64,
    pub households: u64,
    /// Per old unit: (old code, new code, open residences in it).
    pub per_unit: Vec<(String, String, u64)>,
}

impl Store {
    /// Reports (`meta == None`) or applies a re-addressing.
    pub fn readdress(
        &self,
        plan: &ReaddressPlan,
        meta: Option<&EventMeta>,
    ) -> Result<ReaddressReport, Error> {
        self.write(|tx| {
            load_mapping(tx, &plan.mapping)?;
            let from = Value::from(plan.from.code());
            let mut report = ReaddressReport::default();
            for row in tx.query(
                "SELECT m.old_code, m.new_code, COUNT(r.personal_id) FROM readdress_map m \
                 LEFT JOIN residences r ON r.commune_code = m.old_code AND r.valid_to IS NULL \
                 AND r.unit_structure = $1 GROUP BY m.old_code, m.new_code ORDER BY m.old_code",
                std::slice::from_ref(&from),
            )? {
                let n = row[2].as_i64().unwrap_or(0) as u64;
                report.residences += n;
                let text = |i: usize| row[i].as_str().unwrap_or_default().to_owned();
                report.per_unit.push((text(0), text(1), n));
            }
            let Some(meta) = meta else {
                report.citizens = tx.query_i64(
                    "SELECT COUNT(*) FROM citizens WHERE unit_structure = $1 AND \
                     commune_code IN (SELECT old_code FROM readdress_map)",
                    std::slice::from_ref(&from),
                )? as u64;
                report.households = tx.query_i64(
                    "SELECT COUNT(*) FROM households WHERE unit_structure = $1 AND \
                     commune_code IN (SELECT old_code FROM readdress_map)",
                    std::slice::from_ref(&from),
                )? as u64;
                drop_mapping(tx)?;
                return Ok(report);
            };
            let event = events::append(tx, meta)?;
            // A re-addressing of millions is faster as scans with the unit indexes
            // rebuilt once at the end than as millions of index updates.
            let rebuild = report.residences >= REBUILD_ABOVE;
            if rebuild {
                for name in UNIT_INDEXES {
                    tx.exec(&format!("DROP INDEX {name}"), &[])?;
                }
            }
            let to = Value::from(plan.to.code());
            let eff = Value::Int(plan.effective_date.sort_key().into());
            let ev = Value::Int(event);
            // New rows first: seq continues after the person's highest, offset by the old
            // row's seq so that several open registrations of one person stay distinct.
            tx.exec(
                "INSERT INTO residences (personal_id, seq, kind, commune_code, unit_structure, \
                 address, valid_from, valid_to, event_id) \
                 SELECT r.personal_id, r.seq + (SELECT MAX(s.seq) FROM residences s \
                 WHERE s.personal_id = r.personal_id), r.kind, m.new_code, $1, r.address, \
                 CASE WHEN r.valid_from > $2 THEN r.valid_from ELSE $2 END, \
                 NULL, $3 FROM residences r JOIN readdress_map m ON m.old_code = r.commune_code \
                 WHERE r.valid_to IS NULL AND r.unit_structure = $4",
                &[to.clone(), eff.clone(), ev.clone(), from.clone()],
            )?;
            tx.exec(
                // A registration made after the effective date (in the old unit, late) is
                // closed the day it began, never before it.
                "UPDATE residences SET valid_to = CASE WHEN valid_from > $1 THEN valid_from \
                 ELSE $1 END, ended_event = $2 WHERE valid_to IS NULL \
                 AND unit_structure = $3 AND event_id <> $2 \
                 AND commune_code IN (SELECT old_code FROM readdress_map)",
                &[eff, ev.clone(), from.clone()],
            )?;
            report.citizens = tx.exec(
                "UPDATE citizens SET commune_code = m.new_code, unit_structure = $1, \
                 updated_event = $2 FROM readdress_map m \
                 WHERE citizens.commune_code = m.old_code AND citizens.unit_structure = $3",
                &[to.clone(), ev, from.clone()],
            )?;
            report.households = tx.exec(
                "UPDATE households SET commune_code = m.new_code, unit_structure = $1 \
                 FROM readdress_map m \
                 WHERE households.commune_code = m.old_code AND households.unit_structure = $2",
                &[to, from],
            )?;
            drop_mapping(tx)?;
            if rebuild {
                for (name, ddl) in BULK_INDEXES {
                    if UNIT_INDEXES.contains(name) {
                        tx.exec(ddl, &[])?;
                    }
                }
            }
            report.applied = true;
            report.event_id = Some(event);
            Ok(report)
        })
    }
}

fn load_mapping(tx: &mut dyn Tx, mapping: &[(String, String)]) -> Result<(), Error> {
    drop_mapping(tx)?;
    let create = match tx.dialect() {
        Dialect::Sqlite => {
            "CREATE TEMP TABLE readdress_map (old_code TEXT PRIMARY KEY, new_code TEXT NOT NULL)"
        }
        Dialect::Postgres => {
            "CREATE TEMP TABLE readdress_map (old_code TEXT PRIMARY KEY, new_code TEXT NOT NULL) ON COMMIT DROP"
        }
    };
    tx.exec(create, &[])?;
    tx.bulk_insert(
        "readdress_map",
        &["old_code", "new_code"],
        &mut mapping
            .iter()
            .map(|(o, n)| vec![Value::Text(o.clone()), Value::Text(n.clone())]),
    )?;
    tx.exec("ANALYZE readdress_map", &[])?;
    Ok(())
}

fn drop_mapping(tx: &mut dyn Tx) -> Result<(), Error> {
    tx.exec("DROP TABLE IF EXISTS readdress_map", &[])?;
    Ok(())
}
