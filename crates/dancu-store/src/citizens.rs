//! Citizens, households and residences: the projection of current state, its change
//! history and "as of a date" reads.

use std::collections::HashMap;

use dancu_domain::units::Structure;
use dancu_domain::{
    Citizen, Gender, Household, PartialDate, PersonalId, PopulationBatch, Relationship, Residence,
    ResidenceKind,
};
use serde::Serialize;

use crate::events::{self, EVENT_COLUMNS, EventMeta, EventRecord};
use crate::schema::BULK_INDEXES;
use crate::sql::{Row, Tx, Value};
use crate::successions::Resolver;
use crate::{Error, Store};

const CITIZEN_COLUMNS: &[&str] = &[
    "personal_id",
    "full_name",
    "name_folded",
    "date_of_birth",
    "gender",
    "birth_province",
    "hometown",
    "ethnicity",
    "religion",
    "nationality",
    "blood_type",
    "old_id_number",
    "father_id",
    "mother_id",
    "spouse_id",
    "household_id",
    "relationship",
    "commune_code",
    "unit_structure",
    "date_of_death",
    "created_event",
    "updated_event",
];

/// The citizen columns as a select list (without the event references).
/// Starts with the columns of [`SELECT_IDENTITY`], so that one decoder reads both.
const SELECT_CITIZEN: &str = "SELECT personal_id, full_name, date_of_birth, gender, \
     old_id_number, birth_province, hometown, ethnicity, religion, nationality, blood_type, \
     father_id, mother_id, spouse_id, household_id, relationship, commune_code, unit_structure, \
     date_of_death FROM citizens";

const HOUSEHOLD_COLUMNS: &[&str] = &[
    "id",
    "head_id",
    "commune_code",
    "unit_structure",
    "address",
    "created_event",
];

const RESIDENCE_COLUMNS: &[&str] = &[
    "personal_id",
    "seq",
    "kind",
    "commune_code",
    "unit_structure",
    "address",
    "valid_from",
    "valid_to",
    "event_id",
];

/// A residence registration with its history metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResidenceRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub residence: Residence,
    pub unit_structure: Structure,
    pub registered_by: EventRecord,
    pub ended_by: Option<EventRecord>,
    /// A period derived from a unit succession: registration `seq` continuing, from the
    /// reorganization's effective date, in the unit its unit became (`registered_by` is
    /// the re-addressing event, with its legal basis). The registration's earlier period
    /// ends on that date, `ended_by` the same event.
    pub readdressed: bool,
}

/// One field change of a person with its event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub event: EventRecord,
}

/// The fields of a citizen that a correction or enrichment may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CitizenField {
    FullName,
    DateOfBirth,
    Gender,
    Hometown,
    Ethnicity,
    Religion,
    Nationality,
    BloodType,
    OldIdNumber,
    FatherId,
    MotherId,
    SpouseId,
    DateOfDeath,
}

impl CitizenField {
    pub const ALL: [CitizenField; 13] = [
        CitizenField::FullName,
        CitizenField::DateOfBirth,
        CitizenField::Gender,
        CitizenField::Hometown,
        CitizenField::Ethnicity,
        CitizenField::Religion,
        CitizenField::Nationality,
        CitizenField::BloodType,
        CitizenField::OldIdNumber,
        CitizenField::FatherId,
        CitizenField::MotherId,
        CitizenField::SpouseId,
        CitizenField::DateOfDeath,
    ];

    /// The column name, which is also the field's public name.
    pub fn column(self) -> &'static str {
        match self {
            CitizenField::FullName => "full_name",
            CitizenField::DateOfBirth => "date_of_birth",
            CitizenField::Gender => "gender",
            CitizenField::Hometown => "hometown",
            CitizenField::Ethnicity => "ethnicity",
            CitizenField::Religion => "religion",
            CitizenField::Nationality => "nationality",
            CitizenField::BloodType => "blood_type",
            CitizenField::OldIdNumber => "old_id_number",
            CitizenField::FatherId => "father_id",
            CitizenField::MotherId => "mother_id",
            CitizenField::SpouseId => "spouse_id",
            CitizenField::DateOfDeath => "date_of_death",
        }
    }

    pub fn parse(name: &str) -> Option<CitizenField> {
        CitizenField::ALL.into_iter().find(|f| f.column() == name)
    }

    /// The field's value in a record, in its text form (None when absent).
    pub fn get(self, c: &Citizen) -> Option<String> {
        let id = |p: Option<PersonalId>| p.map(|p| p.to_string());
        match self {
            CitizenField::FullName => Some(c.full_name.clone()),
            CitizenField::DateOfBirth => Some(c.date_of_birth.to_string()),
            CitizenField::Gender => Some(c.gender.code().to_owned()),
            CitizenField::Hometown => c.hometown.clone(),
            CitizenField::Ethnicity => c.ethnicity.clone(),
            CitizenField::Religion => c.religion.clone(),
            CitizenField::Nationality => Some(c.nationality.clone()),
            CitizenField::BloodType => c.blood_type.clone(),
            CitizenField::OldIdNumber => c.old_id_number.clone(),
            CitizenField::FatherId => id(c.father_id),
            CitizenField::MotherId => id(c.mother_id),
            CitizenField::SpouseId => id(c.spouse_id),
            CitizenField::DateOfDeath => c.date_of_death.map(|d| d.to_string()),
        }
    }

    /// Sets the field in a record from its text form; errors name the field.
    pub fn set(self, c: &mut Citizen, value: Option<&str>) -> Result<(), String> {
        let required = || value.ok_or_else(|| format!("{} is required", self.column()));
        let id = |v: Option<&str>| {
            v.map(PersonalId::parse)
                .transpose()
                .map_err(|e| format!("{}: {e}", self.column()))
        };
        let date = |v: &str| PartialDate::parse(v).map_err(|e| format!("{}: {e}", self.column()));
        match self {
            CitizenField::FullName => c.full_name = required()?.to_owned(),
            CitizenField::DateOfBirth => c.date_of_birth = date(required()?)?,
            CitizenField::Gender => {
                c.gender =
                    Gender::parse(required()?).ok_or_else(|| "gender must be M or F".to_owned())?
            }
            CitizenField::Hometown => c.hometown = value.map(str::to_owned),
            CitizenField::Ethnicity => c.ethnicity = value.map(str::to_owned),
            CitizenField::Religion => c.religion = value.map(str::to_owned),
            CitizenField::Nationality => c.nationality = required()?.to_owned(),
            CitizenField::BloodType => c.blood_type = value.map(str::to_owned),
            CitizenField::OldIdNumber => c.old_id_number = value.map(str::to_owned),
            CitizenField::FatherId => c.father_id = id(value)?,
            CitizenField::MotherId => c.mother_id = id(value)?,
            CitizenField::SpouseId => c.spouse_id = id(value)?,
            CitizenField::DateOfDeath => c.date_of_death = value.map(date).transpose()?,
        }
        Ok(())
    }

    fn column_value(self, c: &Citizen) -> Value {
        let id = |p: Option<PersonalId>| Value::from(p.map(pid_value));
        match self {
            CitizenField::DateOfBirth => Value::Int(c.date_of_birth.sort_key().into()),
            CitizenField::DateOfDeath => c
                .date_of_death
                .map_or(Value::Null, |d| Value::Int(d.sort_key().into())),
            CitizenField::FatherId => id(c.father_id),
            CitizenField::MotherId => id(c.mother_id),
            CitizenField::SpouseId => id(c.spouse_id),
            other => other.get(c).into(),
        }
    }
}

/// Where a search may look: everything, or the listed communes of each structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitFilter {
    All,
    Communes {
        current: Vec<String>,
        pre2025: Vec<String>,
    },
}

/// Search by folded name (exact folded full name or prefix) and optional date of birth.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub name_folded: String,
    /// Match names starting with `name_folded` rather than equal to it.
    pub prefix: bool,
    pub date_of_birth: Option<PartialDate>,
    pub units: UnitFilter,
    pub limit: u32,
    /// Keyset pagination: the last personal ID of the previous page.
    pub after: Option<PersonalId>,
}

pub(crate) fn pid_value(p: PersonalId) -> i64 {
    p.as_u64() as i64
}

pub(crate) fn pid_from(v: &Value) -> Result<Option<PersonalId>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::Int(i) => PersonalId::from_u64(*i as u64)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("stored personal ID {i}: {e}"))),
        other => Err(Error::Corrupt(format!("personal ID stored as {other:?}"))),
    }
}

pub(crate) fn date_from(v: &Value) -> Result<Option<PartialDate>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::Int(k) => PartialDate::from_sort_key(*k as i32)
            .map(Some)
            .ok_or_else(|| Error::Corrupt(format!("stored date key {k}"))),
        other => Err(Error::Corrupt(format!("date stored as {other:?}"))),
    }
}

pub(crate) fn date_value(d: Option<PartialDate>) -> Value {
    d.map_or(Value::Null, |d| Value::Int(d.sort_key().into()))
}

fn structure_from(v: Option<&str>) -> Result<Structure, Error> {
    v.and_then(Structure::parse)
        .ok_or_else(|| Error::Corrupt(format!("unknown unit structure {v:?}")))
}

/// What verification compares of a person (a narrow read: a fifth of the columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub personal_id: PersonalId,
    pub full_name: String,
    pub date_of_birth: PartialDate,
    pub gender: Gender,
    pub old_id_number: Option<String>,
}

const SELECT_IDENTITY: &str =
    "SELECT personal_id, full_name, date_of_birth, gender, old_id_number FROM citizens";

/// Reads an identity from the first columns of [`SELECT_IDENTITY`] or [`SELECT_CITIZEN`]
/// (taking its texts out of the row).
fn identity_from(row: &mut Row) -> Result<Identity, Error> {
    let personal_id =
        pid_from(&row[0])?.ok_or_else(|| Error::Corrupt("citizen without ID".into()))?;
    let corrupt = |what: &str| Error::Corrupt(format!("citizen {personal_id}: bad {what}"));
    Ok(Identity {
        personal_id,
        full_name: row[1].take_text().ok_or_else(|| corrupt("name"))?,
        date_of_birth: date_from(&row[2])?.ok_or_else(|| corrupt("date of birth"))?,
        gender: row[3]
            .as_str()
            .and_then(Gender::parse)
            .ok_or_else(|| corrupt("gender"))?,
        old_id_number: row[4].take_text(),
    })
}

/// Reads a citizen from the columns of [`SELECT_CITIZEN`].
fn citizen_from(mut row: Row) -> Result<Citizen, Error> {
    let Identity {
        personal_id,
        full_name,
        date_of_birth,
        gender,
        old_id_number,
    } = identity_from(&mut row)?;
    Ok(Citizen {
        personal_id,
        full_name,
        date_of_birth,
        gender,
        old_id_number,
        birth_registration_province: row[5].as_i64().map(|v| v as u16),
        hometown: row[6].take_text(),
        ethnicity: row[7].take_text(),
        religion: row[8].take_text(),
        nationality: row[9].take_text().unwrap_or_default(),
        blood_type: row[10].take_text(),
        father_id: pid_from(&row[11])?,
        mother_id: pid_from(&row[12])?,
        spouse_id: pid_from(&row[13])?,
        household_id: row[14].as_i64().map(|v| v as u64),
        relationship_to_head: match row[15].as_str() {
            None => None,
            Some(r) => Some(Relationship::parse(r).ok_or_else(|| {
                Error::Corrupt(format!("citizen {personal_id}: bad relationship"))
            })?),
        },
        commune_code: row[16].take_text(),
        commune_structure: structure_from(row[17].as_str())?,
        date_of_death: date_from(&row[18])?,
    })
}

/// The row of a new citizen; consumes the record so that its strings move, not copy.
fn citizen_row(c: Citizen, event: i64) -> Row {
    let folded = dancu_domain::text::fold(&c.full_name);
    vec![
        Value::Int(pid_value(c.personal_id)),
        Value::Text(c.full_name),
        Value::Text(folded),
        Value::Int(c.date_of_birth.sort_key().into()),
        Value::Code(c.gender.code()),
        Value::from(c.birth_registration_province.map(i64::from)),
        c.hometown.into(),
        c.ethnicity.into(),
        c.religion.into(),
        Value::Text(c.nationality),
        c.blood_type.into(),
        c.old_id_number.into(),
        Value::from(c.father_id.map(pid_value)),
        Value::from(c.mother_id.map(pid_value)),
        Value::from(c.spouse_id.map(pid_value)),
        Value::from(c.household_id.map(|h| h as i64)),
        c.relationship_to_head
            .map_or(Value::Null, |r| Value::Code(r.code())),
        c.commune_code.into(),
        Value::Code(c.commune_structure.code()),
        date_value(c.date_of_death),
        Value::Int(event),
        Value::Int(event),
    ]
}

fn residence_from(mut row: Row) -> Result<ResidenceRecord, Error> {
    // Columns: seq, kind, commune_code, unit_structure, address, valid_from, valid_to,
    // then the registering and (optional) ending events.
    let kind = row[1]
        .as_str()
        .and_then(ResidenceKind::parse)
        .ok_or_else(|| Error::Corrupt("residence kind".into()))?;
    let registered_by = events::from_row(&mut row, 7)?;
    let ended_by = if row[15].as_i64().is_some() {
        Some(events::from_row(&mut row, 15)?)
    } else {
        None
    };
    Ok(ResidenceRecord {
        seq: row[0].as_i64().unwrap_or_default(),
        unit_structure: structure_from(row[3].as_str())?,
        residence: Residence {
            kind,
            commune_code: row[2].take_text().unwrap_or_default(),
            address: row[4].take_text().unwrap_or_default(),
            valid_from: date_from(&row[5])?
                .ok_or_else(|| Error::Corrupt("residence start".into()))?,
            valid_to: date_from(&row[6])?,
        },
        registered_by,
        ended_by,
        readdressed: false,
    })
}

fn unit_filter_sql(units: &UnitFilter, params: &mut Vec<Value>) -> String {
    let UnitFilter::Communes { current, pre2025 } = units else {
        return String::new();
    };
    let mut list = |codes: &[String], structure: Structure| {
        if codes.is_empty() {
            return None;
        }
        params.push(Value::from(structure.code()));
        let s = params.len();
        let first = params.len() + 1;
        params.extend(codes.iter().map(|c| Value::Text(c.clone())));
        let placeholders: Vec<String> = (first..=params.len()).map(|i| format!("${i}")).collect();
        Some(format!(
            "(unit_structure = ${s} AND commune_code IN ({}))",
            placeholders.join(",")
        ))
    };
    let parts: Vec<String> = [
        list(current, Structure::Y2025),
        list(pre2025, Structure::Pre2025),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        " AND 1 = 0".to_owned()
    } else {
        format!(" AND ({})", parts.join(" OR "))
    }
}

impl Store {
    /// Loads batches of new households, citizens and residences under one event, in one
    /// transaction: either everything is stored or nothing is. With `rebuild_indexes`
    /// (for loads as large as the store itself) the secondary indexes are dropped and
    /// rebuilt at the end, which readers of PostgreSQL wait for.
    pub fn load_population(
        &self,
        meta: &EventMeta,
        structure: Structure,
        batches: &mut dyn Iterator<Item = PopulationBatch>,
        rebuild_indexes: bool,
    ) -> Result<(i64, u64), Error> {
        self.write(|tx| {
            let event = events::append(tx, meta)?;
            if rebuild_indexes {
                for (name, _) in BULK_INDEXES {
                    tx.exec(&format!("DROP INDEX {name}"), &[])?;
                }
            }
            let mut citizens = 0;
            for batch in batches {
                citizens += insert_batch(tx, batch, structure, event)?;
            }
            if rebuild_indexes {
                if tx.dialect() == crate::Dialect::Postgres {
                    // Index builds sort in memory when allowed to; the default 64 MB spills.
                    tx.exec("SET LOCAL maintenance_work_mem = '1GB'", &[])?;
                }
                for (_, ddl) in BULK_INDEXES {
                    tx.exec(ddl, &[])?;
                }
            }
            Ok((event, citizens))
        })
    }

    /// Which of `ids` are already registered.
    pub fn existing_ids(&self, ids: &[PersonalId]) -> Result<Vec<PersonalId>, Error> {
        let mut found = Vec::new();
        self.read(|tx| {
            for id in ids {
                if tx
                    .query_one(
                        "SELECT 1 FROM citizens WHERE personal_id = $1",
                        &[Value::Int(pid_value(*id))],
                    )?
                    .is_some()
                {
                    found.push(*id);
                }
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// A person, with the commune resolved to today's unit (as every read below).
    pub fn citizen(&self, id: PersonalId) -> Result<Option<Citizen>, Error> {
        self.read(|tx| {
            let units = self.resolver(tx)?;
            Ok(citizen_in(tx, id)?.map(|c| units.citizen(c)))
        })
    }

    /// The people recorded with an old 9-digit ID number (an alias; normally one).
    pub fn citizens_by_old_id(&self, old_id_number: &str) -> Result<Vec<Citizen>, Error> {
        self.read(|tx| {
            let units = self.resolver(tx)?;
            tx.query(
                &format!("{SELECT_CITIZEN} WHERE old_id_number = $1 ORDER BY personal_id"),
                &[Value::Text(old_id_number.to_owned())],
            )?
            .into_iter()
            .map(|row| Ok(units.citizen(citizen_from(row)?)))
            .collect()
        })
    }

    /// The identities of the registered people among `ids`, in no particular order
    /// (unknown IDs are absent), read in one snapshot: the multi-get of verification.
    pub fn identities_by_ids(&self, ids: &[PersonalId]) -> Result<Vec<Identity>, Error> {
        let mut keys: Vec<Value> = ids.iter().map(|id| Value::Int(pid_value(*id))).collect();
        // Neighbouring keys share B-tree pages: sorted, each `IN` group is a narrow range.
        // Once each: a key repeated in two groups would be answered twice.
        keys.sort_unstable_by_key(|k| k.as_i64());
        keys.dedup();
        self.read(|tx| identities_where_in(tx, "personal_id", &keys))
    }

    /// The identities of the people recorded with any of the old 9-digit ID numbers
    /// `old_ids` (an alias of the personal ID number; normally one person each), in no
    /// particular order, each once.
    pub fn identities_by_old_ids(&self, old_ids: &[&str]) -> Result<Vec<Identity>, Error> {
        let mut keys: Vec<&str> = old_ids.to_vec();
        keys.sort_unstable();
        keys.dedup();
        let keys: Vec<Value> = keys.into_iter().map(Value::from).collect();
        self.read(|tx| identities_where_in(tx, "old_id_number", &keys))
    }

    pub fn count_citizens(&self) -> Result<i64, Error> {
        self.read(|tx| tx.query_i64("SELECT COUNT(*) FROM citizens", &[]))
    }

    /// Largest household id in use (new households are numbered after it).
    pub fn max_household_id(&self) -> Result<u64, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one("SELECT MAX(id) FROM households", &[])?
                .and_then(|r| r[0].as_i64())
                .unwrap_or(0) as u64)
        })
    }

    /// Search by folded name and optional date of birth within the given units, ordered by
    /// personal ID, one page at a time.
    pub fn search(&self, q: &SearchQuery) -> Result<Vec<Citizen>, Error> {
        let mut params = Vec::new();
        let mut sql = String::from(SELECT_CITIZEN);
        if q.prefix {
            // Folded names are ASCII: the range [prefix, prefix + '\x7f') is the prefix set
            // and uses the (name_folded, date_of_birth) index on both backends.
            params.push(Value::Text(q.name_folded.clone()));
            params.push(Value::Text(format!("{}\u{7f}", q.name_folded)));
            sql.push_str(" WHERE name_folded >= $1 AND name_folded < $2");
        } else {
            params.push(Value::Text(q.name_folded.clone()));
            sql.push_str(" WHERE name_folded = $1");
        }
        if let Some(d) = q.date_of_birth {
            // A partial date matches every date it covers, and records that only know
            // the same or a coarser part.
            let (lo, hi) = date_range(d);
            params.push(Value::Int(lo));
            params.push(Value::Int(hi));
            let (a, b) = (params.len() - 1, params.len());
            params.push(Value::Int(i64::from(d.year()) * 10_000));
            params.push(Value::Int(
                i64::from(d.year()) * 10_000 + i64::from(d.month().unwrap_or(0)) * 100,
            ));
            let (c, e) = (params.len() - 1, params.len());
            sql.push_str(&format!(
                " AND (date_of_birth BETWEEN ${a} AND ${b} OR date_of_birth IN (${c}, ${e}))"
            ));
        }
        if let Some(after) = q.after {
            params.push(Value::Int(pid_value(after)));
            sql.push_str(&format!(" AND personal_id > ${}", params.len()));
        }
        sql.push_str(&unit_filter_sql(&q.units, &mut params));
        params.push(Value::Int(i64::from(q.limit)));
        sql.push_str(&format!(" ORDER BY personal_id LIMIT ${}", params.len()));
        self.read(|tx| {
            let units = self.resolver(tx)?;
            tx.query(&sql, &params)?
                .into_iter()
                .map(|row| Ok(units.citizen(citizen_from(row)?)))
                .collect()
        })
    }

    /// A household, the unit structure of its commune code, and its members (head
    /// first, then by personal ID), their units resolved to today's.
    pub fn household(
        &self,
        id: u64,
    ) -> Result<Option<(Household, Structure, Vec<Citizen>)>, Error> {
        self.read(|tx| {
            let units = self.resolver(tx)?;
            let Some(row) = tx.query_one(
                "SELECT id, head_id, commune_code, address, unit_structure FROM households \
                 WHERE id = $1",
                &[Value::Int(id as i64)],
            )?
            else {
                return Ok(None);
            };
            let mut members: Vec<Citizen> = tx
                .query(
                    &format!("{SELECT_CITIZEN} WHERE household_id = $1 ORDER BY personal_id"),
                    &[Value::Int(id as i64)],
                )?
                .into_iter()
                .map(|row| Ok(units.citizen(citizen_from(row)?)))
                .collect::<Result<_, Error>>()?;
            members.sort_by_key(|m| m.relationship_to_head != Some(Relationship::Head));
            let recorded = (
                structure_from(row[4].as_str())?,
                row[2].as_str().unwrap_or_default().to_owned(),
            );
            let (structure, commune_code) = units.unit(recorded.0, &recorded.1).unwrap_or(recorded);
            let household = Household {
                id,
                head_id: pid_from(&row[1])?
                    .ok_or_else(|| Error::Corrupt(format!("household {id} without head")))?,
                commune_code,
                address: row[3].as_str().unwrap_or_default().to_owned(),
            };
            Ok(Some((household, structure, members)))
        })
    }

    /// All residence registrations of a person, oldest first, with the periods the unit
    /// successions derive from them (see [`ResidenceRecord::readdressed`]).
    pub fn residences(&self, id: PersonalId) -> Result<Vec<ResidenceRecord>, Error> {
        self.read(|tx| {
            let units = self.resolver(tx)?;
            let recorded = residences_in(tx, id)?;
            with_successions(tx, &units, recorded)
        })
    }

    /// Field changes of a person, oldest first.
    pub fn changes(&self, id: PersonalId) -> Result<Vec<ChangeRecord>, Error> {
        self.read(|tx| changes_in(tx, id))
    }

    /// The person as the registry knew them on `date`: later field changes are undone and
    /// the commune is the permanent residence valid on that day. `None` if not yet born
    /// (or not registered) by then.
    pub fn citizen_as_of(
        &self,
        id: PersonalId,
        date: PartialDate,
    ) -> Result<Option<Citizen>, Error> {
        self.read(|tx| {
            let Some(mut c) = citizen_in(tx, id)? else {
                return Ok(None);
            };
            let day = i64::from(date.sort_key());
            for change in changes_in(tx, id)?.iter().rev() {
                // A civil-status link names its source in the history; it changes no field.
                if i64::from(change.event.effective_date.sort_key()) > day
                    && change.field != crate::civil::CIVIL_LINK_FIELD
                {
                    let field = CitizenField::parse(&change.field).ok_or_else(|| {
                        Error::Corrupt(format!("unknown changed field {}", change.field))
                    })?;
                    field
                        .set(&mut c, change.old_value.as_deref())
                        .map_err(Error::Corrupt)?;
                }
            }
            if i64::from(c.date_of_birth.sort_key()) > day {
                return Ok(None);
            }
            let residence = residences_in(tx, id)?
                .into_iter()
                .filter(|r| r.residence.kind == ResidenceKind::Permanent)
                .filter(|r| i64::from(r.residence.valid_from.sort_key()) <= day)
                .find(|r| {
                    r.residence
                        .valid_to
                        .is_none_or(|to| i64::from(to.sort_key()) > day)
                });
            // The unit of that day: successions effective by then, during the registration.
            let succ = self.resolver(tx)?.successions;
            c.commune_code = None;
            if let Some(r) = residence {
                let code = r.residence.commune_code.as_str();
                let (s, code) = succ
                    .resolve(r.unit_structure, code, date, r.residence.valid_to)
                    .unwrap_or((r.unit_structure, code));
                c.commune_structure = s;
                c.commune_code = Some(code.to_owned());
            }
            Ok(Some(c))
        })
    }

    /// Changes fields of a person under one event, keeping the old values for history.
    /// Returns the fields that actually changed.
    pub fn update_citizen(
        &self,
        id: PersonalId,
        meta: &EventMeta,
        updates: &[(CitizenField, Option<String>)],
    ) -> Result<Vec<CitizenField>, Error> {
        self.write(|tx| {
            let mut c =
                citizen_in(tx, id)?.ok_or_else(|| Error::NotFound(format!("citizen {id}")))?;
            let before = c.clone();
            for (field, value) in updates {
                field
                    .set(&mut c, value.as_deref())
                    .map_err(Error::Conflict)?;
            }
            let changed: Vec<CitizenField> = updates
                .iter()
                .map(|(f, _)| *f)
                .filter(|f| f.get(&before) != f.get(&c))
                .collect();
            if changed.is_empty() {
                return Ok(changed);
            }
            let event = events::append(tx, meta)?;
            for field in &changed {
                write_change(tx, *field, &before, &c, event)?;
            }
            Ok(changed)
        })
    }

    /// Registers a new residence of a kind, ending the person's open one of that kind the
    /// day the new one starts. A permanent residence also moves the person's commune.
    pub fn register_residence(
        &self,
        id: PersonalId,
        meta: &EventMeta,
        residence: &Residence,
    ) -> Result<i64, Error> {
        self.write(|tx| {
            if citizen_in(tx, id)?.is_none() {
                return Err(Error::NotFound(format!("citizen {id}")));
            }
            let pid = Value::Int(pid_value(id));
            let new_start = i64::from(residence.valid_from.sort_key());
            let open_since = tx
                .query_one(
                    "SELECT MAX(valid_from) FROM residences \
                     WHERE personal_id = $1 AND kind = $2 AND valid_to IS NULL",
                    &[pid.clone(), Value::Code(residence.kind.code())],
                )?
                .and_then(|r| r[0].as_i64());
            if open_since.is_some_and(|since| since > new_start) {
                return Err(Error::Conflict(
                    "valid_from: a registration cannot start before the one it ends".into(),
                ));
            }
            let event = events::append(tx, meta)?;
            tx.exec(
                "UPDATE residences SET valid_to = $1, ended_event = $2 \
                 WHERE personal_id = $3 AND kind = $4 AND valid_to IS NULL",
                &[
                    Value::Int(residence.valid_from.sort_key().into()),
                    Value::Int(event),
                    pid.clone(),
                    Value::from(residence.kind.code()),
                ],
            )?;
            let seq = tx.query_i64(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM residences WHERE personal_id = $1",
                std::slice::from_ref(&pid),
            )?;
            tx.bulk_insert(
                "residences",
                RESIDENCE_COLUMNS,
                &mut std::iter::once(residence_row(
                    id,
                    seq,
                    residence.clone(),
                    Structure::Y2025,
                    event,
                )),
            )?;
            if residence.kind == ResidenceKind::Permanent {
                tx.exec(
                    "UPDATE citizens SET commune_code = $1, unit_structure = $2, updated_event = $3 \
                     WHERE personal_id = $4",
                    &[
                        Value::Text(residence.commune_code.clone()),
                        Value::from(Structure::Y2025.code()),
                        Value::Int(event),
                        pid,
                    ],
                )?;
            }
            Ok(event)
        })
    }

    /// Streams every citizen in personal-ID order (export), units resolved to today's.
    pub fn for_each_citizen(
        &self,
        f: &mut dyn FnMut(Citizen) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.read(|tx| {
            let units = self.resolver(tx)?;
            tx.for_each(
                &format!("{SELECT_CITIZEN} ORDER BY personal_id"),
                &[],
                &mut |row| f(units.citizen(citizen_from(row)?)),
            )
        })
    }
}

/// The inclusive range of sort keys of the dates a partial date covers (including records
/// that know only some of its finer parts, as those sort inside the same range).
fn date_range(d: PartialDate) -> (i64, i64) {
    let y = i64::from(d.year()) * 10_000;
    match (d.month(), d.day()) {
        (None, _) => (y, y + 9_999),
        (Some(m), None) => (y + i64::from(m) * 100, y + i64::from(m) * 100 + 99),
        (Some(m), Some(dd)) => {
            let k = y + i64::from(m) * 100 + i64::from(dd);
            (k, k)
        }
    }
}

fn residence_row(id: PersonalId, seq: i64, r: Residence, structure: Structure, event: i64) -> Row {
    vec![
        Value::Int(pid_value(id)),
        Value::Int(seq),
        Value::Code(r.kind.code()),
        Value::Text(r.commune_code),
        Value::Code(structure.code()),
        Value::Text(r.address),
        Value::Int(r.valid_from.sort_key().into()),
        date_value(r.valid_to),
        Value::Int(event),
    ]
}

fn insert_batch(
    tx: &mut dyn Tx,
    batch: PopulationBatch,
    structure: Structure,
    event: i64,
) -> Result<u64, Error> {
    tx.bulk_insert(
        "households",
        HOUSEHOLD_COLUMNS,
        &mut batch.households.into_iter().map(|h| {
            vec![
                Value::Int(h.id as i64),
                Value::Int(pid_value(h.head_id)),
                Value::Text(h.commune_code),
                Value::Code(structure.code()),
                Value::Text(h.address),
                Value::Int(event),
            ]
        }),
    )?;
    let n = tx.bulk_insert(
        "citizens",
        CITIZEN_COLUMNS,
        &mut batch.citizens.into_iter().map(|c| citizen_row(c, event)),
    )?;
    let mut seq = 0;
    let mut last = None;
    tx.bulk_insert(
        "residences",
        RESIDENCE_COLUMNS,
        &mut batch.residences.into_iter().map(|(id, r)| {
            seq = if last == Some(id) { seq + 1 } else { 1 };
            last = Some(id);
            residence_row(id, seq, r, structure, event)
        }),
    )?;
    Ok(n)
}

/// Keys per `IN (…)` query, largest first: a few prepared statements of fixed widths
/// serve every chunk (a short group is padded by repeating a key, which `IN` ignores), so
/// that a single verification binds one key, not 256.
const IN_WIDTHS: [usize; 3] = [256, 16, 1];

/// The identities of the citizens whose `column` is one of `keys`, in groups of at most
/// 256.
fn identities_where_in(
    tx: &mut dyn Tx,
    column: &str,
    keys: &[Value],
) -> Result<Vec<Identity>, Error> {
    let sql_of = |width: usize| {
        let placeholders: Vec<String> = (1..=width).map(|i| format!("${i}")).collect();
        format!(
            "{SELECT_IDENTITY} WHERE {column} IN ({})",
            placeholders.join(",")
        )
    };
    let mut sqls: [Option<String>; IN_WIDTHS.len()] = Default::default();
    let mut out = Vec::with_capacity(keys.len());
    let mut params = Vec::with_capacity(IN_WIDTHS[0]);
    for group in keys.chunks(IN_WIDTHS[0]) {
        let w = IN_WIDTHS
            .iter()
            .rposition(|&w| w >= group.len())
            .expect("a group is at most the largest width");
        let sql = sqls[w].get_or_insert_with(|| sql_of(IN_WIDTHS[w]));
        params.clear();
        params.extend_from_slice(group);
        params.resize(IN_WIDTHS[w], group[0].clone());
        tx.for_each(sql, &params, &mut |mut row| {
            out.push(identity_from(&mut row)?);
            Ok(())
        })?;
    }
    Ok(out)
}

/// Writes one changed field of a person (`before` → `after`) under `event`, keeping the
/// old value in `citizen_changes` for history and as-of reads.
pub(crate) fn write_change(
    tx: &mut dyn Tx,
    field: CitizenField,
    before: &Citizen,
    after: &Citizen,
    event: i64,
) -> Result<(), Error> {
    let id = after.personal_id;
    let col = field.column();
    let mut sql = format!("UPDATE citizens SET {col} = $1, updated_event = $2");
    if field == CitizenField::FullName {
        sql.push_str(", name_folded = $4");
    }
    sql.push_str(" WHERE personal_id = $3");
    let mut params = vec![
        field.column_value(after),
        Value::Int(event),
        Value::Int(pid_value(id)),
    ];
    if field == CitizenField::FullName {
        params.push(Value::Text(dancu_domain::text::fold(&after.full_name)));
    }
    tx.exec(&sql, &params)?;
    tx.exec(
        "INSERT INTO citizen_changes (personal_id, event_id, field, old_value, new_value) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            Value::Int(pid_value(id)),
            Value::Int(event),
            Value::from(col),
            field.get(before).into(),
            field.get(after).into(),
        ],
    )?;
    Ok(())
}

pub(crate) fn citizen_in(tx: &mut dyn Tx, id: PersonalId) -> Result<Option<Citizen>, Error> {
    tx.query_one(
        &format!("{SELECT_CITIZEN} WHERE personal_id = $1"),
        &[Value::Int(pid_value(id))],
    )?
    .map(citizen_from)
    .transpose()
}

fn residences_in(tx: &mut dyn Tx, id: PersonalId) -> Result<Vec<ResidenceRecord>, Error> {
    let ended = EVENT_COLUMNS.replace("e.", "x.");
    tx.query(
        &format!(
            "SELECT r.seq, r.kind, r.commune_code, r.unit_structure, r.address, r.valid_from, \
             r.valid_to, {EVENT_COLUMNS}, {ended} FROM residences r \
             JOIN events e ON e.id = r.event_id LEFT JOIN events x ON x.id = r.ended_event \
             WHERE r.personal_id = $1 ORDER BY r.seq"
        ),
        &[Value::Int(pid_value(id))],
    )?
    .into_iter()
    .map(residence_from)
    .collect()
}

/// The recorded registrations with, after each one a succession concerns, the periods it
/// derives: the registration ends on the succession's effective date (never before it
/// began) and continues in the new unit under the re-addressing event.
fn with_successions(
    tx: &mut dyn Tx,
    units: &Resolver,
    recorded: Vec<ResidenceRecord>,
) -> Result<Vec<ResidenceRecord>, Error> {
    if units.successions.is_empty() {
        return Ok(recorded);
    }
    let mut seen: HashMap<i64, EventRecord> = HashMap::new();
    let mut out = Vec::with_capacity(recorded.len());
    for mut current in recorded {
        let steps = units.successions.chain(
            current.unit_structure,
            &current.residence.commune_code,
            units.on,
            current.residence.valid_to,
        );
        for step in steps {
            let event = match seen.get(&step.event_id) {
                Some(e) => e.clone(),
                None => {
                    let e = events::by_id(tx, step.event_id)?;
                    seen.insert(step.event_id, e.clone());
                    e
                }
            };
            let from = current.residence.valid_from.max(step.effective_date);
            let next = ResidenceRecord {
                seq: current.seq,
                residence: Residence {
                    kind: current.residence.kind,
                    commune_code: step.to_code.clone(),
                    address: current.residence.address.clone(),
                    valid_from: from,
                    valid_to: current.residence.valid_to,
                },
                unit_structure: step.to_structure,
                registered_by: event.clone(),
                ended_by: current.ended_by.take(),
                readdressed: true,
            };
            current.residence.valid_to = Some(from);
            current.ended_by = Some(event);
            out.push(std::mem::replace(&mut current, next));
        }
        out.push(current);
    }
    Ok(out)
}

fn changes_in(tx: &mut dyn Tx, id: PersonalId) -> Result<Vec<ChangeRecord>, Error> {
    tx.query(
        &format!(
            "SELECT c.field, c.old_value, c.new_value, {EVENT_COLUMNS} FROM citizen_changes c \
             JOIN events e ON e.id = c.event_id WHERE c.personal_id = $1 ORDER BY e.id, c.field"
        ),
        &[Value::Int(pid_value(id))],
    )?
    .into_iter()
    .map(|mut row| {
        Ok(ChangeRecord {
            field: row[0].take_text().unwrap_or_default(),
            old_value: row[1].take_text(),
            new_value: row[2].take_text(),
            event: events::from_row(&mut row, 3)?,
        })
    })
    .collect()
}
