//! Loading people: CSV import and export in the contract format, and the synthetic
//! population of `dancu seed`.
//!
//! Contract columns: `personal_id,full_name,date_of_birth,gender,commune_code,household_id`;
//! optional extra columns (ours, after the contract's): `relationship,father_id,mother_id,
//! spouse_id,ethnicity,religion,blood_type,old_id_number,hometown,address,residence_since`.

use dancu_domain::row_lines::RowLines;
use std::collections::{HashMap, HashSet};
use std::io::Write;

use dancu_domain::legacy::decode_text;
use dancu_domain::units::Structure;
use dancu_domain::{
    Citizen, Gender, Household, PartialDate, PersonalId, PopulationBatch, Relationship, Residence,
    ResidenceKind,
};
use dancu_store::EventMeta;
use serde::Serialize;

use crate::citizens::today;
use crate::policy::{Action, Actor};
use crate::{App, Error};

pub const CONTRACT_COLUMNS: [&str; 6] = [
    "personal_id",
    "full_name",
    "date_of_birth",
    "gender",
    "commune_code",
    "household_id",
];
const EXTRA_COLUMNS: [&str; 11] = [
    "relationship",
    "father_id",
    "mother_id",
    "spouse_id",
    "ethnicity",
    "religion",
    "blood_type",
    "old_id_number",
    "hometown",
    "address",
    "residence_since",
];

/// Household numbers stay far below the store's 64-bit signed integers, so that the
/// numbering of later households (max + 1) can never overflow.
pub const MAX_HOUSEHOLD_ID: u64 = 999_999_999_999;

/// A row the import refused, with its line in the file (the header is line 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedRow {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub encoding: String,
    pub imported: u64,
    pub households_created: u64,
    pub rejected: Vec<RejectedRow>,
}

struct ParsedRow {
    citizen: Citizen,
    address: String,
    since: PartialDate,
}

fn column_index(headers: &csv::StringRecord) -> Result<HashMap<&'static str, usize>, Error> {
    let mut idx = HashMap::new();
    for name in CONTRACT_COLUMNS.iter().chain(EXTRA_COLUMNS.iter()) {
        if let Some(i) = headers.iter().position(|h| h.trim() == *name) {
            idx.insert(*name, i);
        }
    }
    let missing: Vec<&str> = CONTRACT_COLUMNS
        .iter()
        .filter(|c| !idx.contains_key(*c))
        .copied()
        .collect();
    if missing.is_empty() {
        Ok(idx)
    } else {
        Err(Error::Invalid(format!(
            "line 1: missing column(s) {} (expected header {})",
            missing.join(", "),
            CONTRACT_COLUMNS.join(",")
        )))
    }
}

fn parse_row(
    app: &App,
    rec: &csv::StringRecord,
    idx: &HashMap<&'static str, usize>,
) -> Result<ParsedRow, String> {
    let get = |name: &str| {
        idx.get(name)
            .and_then(|i| rec.get(*i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let pid = |name: &str| {
        get(name)
            .map(PersonalId::parse)
            .transpose()
            .map_err(|e| format!("{name}: {e}"))
    };
    let personal_id = pid("personal_id")?.ok_or("personal_id: missing")?;
    let full_name = dancu_domain::text::validate_name(get("full_name").unwrap_or(""))
        .map_err(|e| format!("full_name: {e}"))?;
    let date_of_birth = PartialDate::parse(get("date_of_birth").ok_or("date_of_birth: missing")?)
        .map_err(|e| format!("date_of_birth: {e}"))?;
    let gender = get("gender")
        .and_then(Gender::parse)
        .ok_or("gender: must be M or F")?;
    if let Some(problem) = personal_id.check_against(gender, &date_of_birth).first() {
        return Err(format!("personal_id: {problem}"));
    }
    let commune = get("commune_code").ok_or("commune_code: missing")?;
    if app.units.current_commune(commune).is_none() {
        return Err(format!(
            "commune_code: '{commune}' is not a commune of the 2025 structure"
        ));
    }
    let household_id = get("household_id")
        .map(|h| {
            h.parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_HOUSEHOLD_ID).contains(n))
                .ok_or_else(|| {
                    format!("household_id: '{h}' is not a number from 1 to {MAX_HOUSEHOLD_ID}")
                })
        })
        .transpose()?;
    let relationship = get("relationship")
        .map(|r| Relationship::parse(r).ok_or_else(|| format!("relationship: unknown '{r}'")))
        .transpose()?;
    let since = get("residence_since")
        .map(PartialDate::parse)
        .transpose()
        .map_err(|e| format!("residence_since: {e}"))?
        .unwrap_or_else(today);
    let text = |name: &str| get(name).map(dancu_domain::text::nfc);
    let old_id_number = get("old_id_number")
        .map(|o| {
            dancu_domain::personal_id::OldIdNumber::parse(o)
                .map(|o| o.as_str().to_owned())
                .map_err(|e| format!("old_id_number: {e}"))
        })
        .transpose()?;
    Ok(ParsedRow {
        citizen: Citizen {
            personal_id,
            full_name,
            date_of_birth,
            gender,
            birth_registration_province: Some(personal_id.province_code()),
            hometown: text("hometown"),
            ethnicity: text("ethnicity"),
            religion: text("religion"),
            nationality: "VN".into(),
            blood_type: text("blood_type"),
            old_id_number,
            father_id: pid("father_id")?,
            mother_id: pid("mother_id")?,
            spouse_id: pid("spouse_id")?,
            household_id,
            relationship_to_head: relationship.or(household_id.map(|_| Relationship::Other)),
            commune_code: Some(commune.to_owned()),
            commune_structure: Structure::Y2025,
            date_of_death: None,
        },
        address: text("address").unwrap_or_default(),
        since,
    })
}

impl App {
    /// Imports a citizens CSV (UTF-8 with or without BOM; TCVN3 and VNI files are
    /// detected and converted). Valid rows are applied in one transaction; each invalid
    /// row is reported with its line number and nothing from it is applied.
    pub fn import_citizens(&self, actor: &Actor, bytes: &[u8]) -> Result<ImportReport, Error> {
        self.authorize(actor, Action::ImportCitizens, None, None)?;
        let decoded = decode_text(bytes).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(decoded.text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| Error::Invalid(format!("line 1: {e}")))?
            .clone();
        let idx = column_index(&headers)?;
        let mut rows: Vec<(u64, ParsedRow)> = Vec::new();
        let mut rejected = Vec::new();
        let mut seen = HashSet::new();
        let successions = self.store.successions()?;
        let mut lines = RowLines::new(decoded.text.as_bytes());
        for rec in reader.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = lines.line(e.position().map_or(0, csv::Position::byte));
                    rejected.push(RejectedRow {
                        line,
                        reason: format!("unreadable CSV row: {e}"),
                    });
                    continue;
                }
            };
            let line = lines.line(rec.position().map_or(0, csv::Position::byte));
            match parse_row(self, &rec, &idx) {
                Ok(row) if !seen.insert(row.citizen.personal_id) => rejected.push(RejectedRow {
                    line,
                    reason: format!(
                        "personal_id: {} appears earlier in the file",
                        row.citizen.personal_id
                    ),
                }),
                Ok(row) => {
                    let target = crate::policy::Target {
                        structure: Structure::Y2025,
                        code: row.citizen.commune_code.as_deref().unwrap_or(""),
                    };
                    if crate::policy::authorize(
                        self.units,
                        &successions,
                        actor,
                        Action::ImportCitizens,
                        Some(target),
                    )
                    .is_err()
                    {
                        rejected.push(RejectedRow {
                            line,
                            reason: "commune_code: outside your unit".into(),
                        });
                    } else {
                        rows.push((line, row));
                    }
                }
                Err(reason) => rejected.push(RejectedRow { line, reason }),
            }
        }
        let ids: Vec<PersonalId> = rows.iter().map(|(_, r)| r.citizen.personal_id).collect();
        let existing: HashSet<PersonalId> = self.store.existing_ids(&ids)?.into_iter().collect();
        rows.retain(|(line, r)| {
            let dup = existing.contains(&r.citizen.personal_id);
            if dup {
                rejected.push(RejectedRow {
                    line: *line,
                    reason: format!(
                        "personal_id: {} is already registered",
                        r.citizen.personal_id
                    ),
                });
            }
            !dup
        });
        let batch = self.batch_from_rows(&mut rows, &mut rejected)?;
        rejected.sort_by_key(|r| r.line);
        let imported = batch.citizens.len() as u64;
        let households_created = batch.households.len() as u64;
        if !batch.is_empty() {
            let meta = EventMeta {
                actor: actor.username.clone(),
                agency: actor.unit.clone(),
                basis: "import".into(),
                kind: "import".into(),
                summary: serde_json::json!({ "citizens": imported, "rejected": rejected.len() })
                    .to_string(),
                effective_date: today(),
            };
            self.store.load_population(
                &meta,
                Structure::Y2025,
                &mut std::iter::once(batch),
                false,
            )?;
        }
        Ok(ImportReport {
            encoding: decoded.encoding.label().into(),
            imported,
            households_created,
            rejected,
        })
    }

    /// Groups rows into households: a household in the file must be new to the store and
    /// all its members in one commune; its head is the member marked `head`, else the first.
    fn batch_from_rows(
        &self,
        rows: &mut Vec<(u64, ParsedRow)>,
        rejected: &mut Vec<RejectedRow>,
    ) -> Result<PopulationBatch, Error> {
        let max_existing = self.store.max_household_id()?;
        let mut groups: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, (_, r)) in rows.iter().enumerate() {
            if let Some(h) = r.citizen.household_id {
                groups.entry(h).or_default().push(i);
            }
        }
        let mut bad = HashSet::new();
        let mut batch = PopulationBatch::default();
        let mut group_ids: Vec<u64> = groups.keys().copied().collect();
        group_ids.sort_unstable();
        for h in group_ids {
            let members = &groups[&h];
            let commune = rows[members[0]].1.citizen.commune_code.clone();
            let problem = if h <= max_existing {
                Some(format!(
                    "household_id: {h} already exists (new households are numbered above {max_existing})"
                ))
            } else if members
                .iter()
                .any(|i| rows[*i].1.citizen.commune_code != commune)
            {
                Some(format!(
                    "household_id: members of household {h} are in different communes"
                ))
            } else if members
                .iter()
                .filter(|i| rows[**i].1.citizen.relationship_to_head == Some(Relationship::Head))
                .count()
                > 1
            {
                Some(format!(
                    "household_id: household {h} has more than one head"
                ))
            } else {
                None
            };
            if let Some(reason) = problem {
                for i in members {
                    bad.insert(*i);
                    rejected.push(RejectedRow {
                        line: rows[*i].0,
                        reason: reason.clone(),
                    });
                }
                continue;
            }
            let head = members
                .iter()
                .copied()
                .find(|i| rows[*i].1.citizen.relationship_to_head == Some(Relationship::Head))
                .unwrap_or(members[0]);
            rows[head].1.citizen.relationship_to_head = Some(Relationship::Head);
            batch.households.push(Household {
                id: h,
                head_id: rows[head].1.citizen.personal_id,
                commune_code: commune.unwrap_or_default(),
                address: rows[head].1.address.clone(),
            });
        }
        for (i, (_, r)) in rows.drain(..).enumerate() {
            if bad.contains(&i) {
                continue;
            }
            batch.residences.push((
                r.citizen.personal_id,
                Residence {
                    kind: ResidenceKind::Permanent,
                    commune_code: r.citizen.commune_code.clone().unwrap_or_default(),
                    address: r.address,
                    valid_from: r.since,
                    valid_to: None,
                },
            ));
            batch.citizens.push(r.citizen);
        }
        Ok(batch)
    }

    /// Writes every citizen as CSV: the contract's columns, then ours.
    pub fn export_citizens(&self, actor: &Actor, out: &mut dyn Write) -> Result<u64, Error> {
        self.authorize(actor, Action::ExportCitizens, None, None)?;
        let mut w = csv::Writer::from_writer(out);
        let io = |e: csv::Error| Error::Internal(format!("writing export: {e}"));
        w.write_record(CONTRACT_COLUMNS.iter().chain(EXTRA_COLUMNS.iter().take(9)))
            .map_err(io)?;
        let mut n = 0;
        let id = |p: Option<PersonalId>| p.map(|p| p.to_string()).unwrap_or_default();
        self.store.for_each_citizen(&mut |c| {
            n += 1;
            w.write_record([
                c.personal_id.to_string(),
                c.full_name,
                c.date_of_birth.to_string(),
                c.gender.code().into(),
                c.commune_code.unwrap_or_default(),
                c.household_id.map(|h| h.to_string()).unwrap_or_default(),
                c.relationship_to_head
                    .map(|r| r.code().to_owned())
                    .unwrap_or_default(),
                id(c.father_id),
                id(c.mother_id),
                id(c.spouse_id),
                c.ethnicity.unwrap_or_default(),
                c.religion.unwrap_or_default(),
                c.blood_type.unwrap_or_default(),
                c.old_id_number.unwrap_or_default(),
                c.hometown.unwrap_or_default(),
            ])
            .map_err(|e| dancu_store::Error::Io(e.to_string()))
        })?;
        w.flush().map_err(|e| Error::Internal(e.to_string()))?;
        Ok(n)
    }

    /// Adds `citizens` synthetic people (deterministic per `rng_seed`) in one transaction.
    pub fn seed(
        &self,
        actor: &Actor,
        citizens: u64,
        rng_seed: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, Error> {
        self.authorize(actor, Action::ImportCitizens, None, None)?;
        let runs = self
            .store
            .read(|tx| tx.query_i64("SELECT COUNT(*) FROM events WHERE kind = 'seed'", &[]))?;
        let slot = u8::try_from(runs)
            .ok()
            .filter(|s| *s <= 9)
            .ok_or_else(|| Error::Conflict("a store takes at most 10 seed runs".into()))?;
        let (y, m, d) = today().earliest();
        let config = crate::seed::SeedConfig {
            citizens,
            rng_seed,
            first_household_id: self.store.max_household_id()? + 1,
            serial_slot: slot,
            today: (y, m, d),
            batch_size: 1_000_000,
        };
        let meta = EventMeta {
            actor: actor.username.clone(),
            agency: actor.unit.clone(),
            basis: "synthetic population (dancu seed)".into(),
            kind: "seed".into(),
            summary: serde_json::json!({ "citizens": citizens, "rng_seed": rng_seed }).to_string(),
            effective_date: today(),
        };
        // Generation runs on its own thread (one core) while this one writes (the other).
        let (send, batches) = std::sync::mpsc::sync_channel(1);
        let generator = crate::seed::generate(config, self.units);
        std::thread::spawn(move || {
            for mut batch in generator {
                // Inserting in key order keeps the B-tree pages being written hot.
                batch.citizens.sort_unstable_by_key(|c| c.personal_id);
                batch.residences.sort_by_key(|(id, _)| *id);
                if send.send(batch).is_err() {
                    break;
                }
            }
        });
        let mut done = 0;
        let mut batches = batches.into_iter().inspect(|b| {
            done += b.citizens.len() as u64;
            progress(done);
        });
        // A load as large as the store rebuilds the secondary indexes once at the end.
        let rebuild = citizens >= 100_000 && citizens as i64 >= self.store.count_citizens()?;
        self.store.set_bulk_mode(true)?;
        let result = self
            .store
            .load_population(&meta, Structure::Y2025, &mut batches, rebuild);
        self.store.set_bulk_mode(false)?;
        Ok(result?.1)
    }
}
