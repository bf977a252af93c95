//! Bulk re-addressing after a reorganization of units (tách gộp địa bàn): validate the
//! mapping, report what it would change, then apply it atomically under a legal basis.

use dancu_domain::row_lines::RowLines;
use std::collections::HashMap;

use dancu_domain::PartialDate;
use dancu_domain::units::Structure;
use dancu_store::{EventMeta, ReaddressPlan, ReaddressReport};
use serde::Serialize;

use crate::policy::{Action, Actor, Target};
use crate::{App, Error};

/// Where the mapping comes from.
pub enum MappingSource<'a> {
    /// CSV `old_commune_code,new_commune_code` (header row), both in `structure`.
    File {
        bytes: &'a [u8],
        structure: Structure,
    },
    /// The shipped mapping of the 1 July 2025 reorganization (pre-2025 → 2025).
    Shipped2025,
}

/// Old communes split across several new ones, with the communes they became.
pub type SplitUnits = Vec<(String, Vec<String>)>;

/// A validated mapping plus what could not be mapped automatically.
#[derive(Debug, Clone, Serialize)]
pub struct Readdressing {
    pub report: ReaddressReport,
    /// Old communes split across several new ones: residents there need an address-level
    /// decision and are left unchanged.
    pub split_units: SplitUnits,
}

impl App {
    /// Builds and checks the plan; errors name the line of the mapping file.
    pub fn readdress_plan(
        &self,
        source: MappingSource<'_>,
        effective_date: &str,
    ) -> Result<(ReaddressPlan, SplitUnits), Error> {
        let effective_date = PartialDate::parse(effective_date)
            .map_err(|e| Error::Invalid(format!("effective_date: {e}")))?;
        let mut targets: HashMap<String, Vec<String>> = HashMap::new();
        let (from, to) = match source {
            MappingSource::Shipped2025 => {
                for old in self.units.communes(Structure::Pre2025) {
                    let new = self.units.map_old_commune(&old.code);
                    if !new.is_empty() {
                        targets.insert(old.code.clone(), new.to_vec());
                    }
                }
                (Structure::Pre2025, Structure::Y2025)
            }
            MappingSource::File { bytes, structure } => {
                let text = dancu_domain::legacy::decode_text(bytes)
                    .map_err(|e| Error::Invalid(e.to_string()))?
                    .text;
                let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
                let mut lines = RowLines::new(text.as_bytes());
                for rec in reader.records() {
                    let rec = rec.map_err(|e| Error::Invalid(format!("mapping: {e}")))?;
                    let line = lines.line(rec.position().map_or(0, csv::Position::byte));
                    let (Some(old), Some(new)) =
                        (rec.get(0).map(str::trim), rec.get(1).map(str::trim))
                    else {
                        return Err(Error::Invalid(format!(
                            "mapping line {line}: expected old_commune_code,new_commune_code"
                        )));
                    };
                    for (what, code) in [("old", old), ("new", new)] {
                        if self.units.get(structure, code).is_none() {
                            return Err(Error::Invalid(format!(
                                "mapping line {line}: unknown {what} commune code '{code}' in the {} structure",
                                structure.code()
                            )));
                        }
                    }
                    let entry = targets.entry(old.to_owned()).or_default();
                    if !entry.iter().any(|n| n == new) {
                        entry.push(new.to_owned());
                    }
                }
                (structure, structure)
            }
        };
        let mut mapping = Vec::new();
        let mut split_units = Vec::new();
        for (old, new) in targets {
            match new.as_slice() {
                [one] if *one == old && from == to => {}
                [one] => mapping.push((old, one.clone())),
                _ => split_units.push((old, new)),
            }
        }
        mapping.sort();
        split_units.sort();
        if mapping.is_empty() {
            return Err(Error::Invalid("the mapping moves no unit".into()));
        }
        Ok((
            ReaddressPlan {
                mapping,
                from,
                to,
                effective_date,
            },
            split_units,
        ))
    }

    /// Reports (`basis == None`) or applies a re-addressing. Every unit it touches, old or
    /// new, must be inside the actor's units.
    pub fn readdress(
        &self,
        actor: &Actor,
        plan: &ReaddressPlan,
        split_units: SplitUnits,
        basis: Option<&str>,
    ) -> Result<Readdressing, Error> {
        self.authorize(actor, Action::Readdress, None, None)?;
        for (old, new) in &plan.mapping {
            for (structure, code) in [(plan.from, old), (plan.to, new)] {
                self.authorize(
                    actor,
                    Action::Readdress,
                    Some(Target { structure, code }),
                    None,
                )?;
            }
        }
        let meta = match basis {
            Some(b) if b.trim().is_empty() => {
                return Err(Error::Invalid(
                    "basis (legal basis of the reorganization) is required".into(),
                ));
            }
            Some(b) => Some(EventMeta {
                actor: actor.username.clone(),
                agency: actor.unit.clone(),
                basis: b.to_owned(),
                kind: "readdress".into(),
                summary: serde_json::json!({
                    "units": plan.mapping.len(),
                    "from": plan.from.code(),
                    "to": plan.to.code(),
                })
                .to_string(),
                effective_date: plan.effective_date,
            }),
            None => None,
        };
        let report = self.store.readdress(plan, meta.as_ref())?;
        if report.applied {
            self.audit
                .record(self.audit_entry(actor, "readdress.apply", None, basis, "ok"))
                .wait()?;
        }
        Ok(Readdressing {
            report,
            split_units,
        })
    }
}
