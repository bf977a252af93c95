//! Data-quality rules of `dancu check` ("đúng, đủ, sạch, sống"): each rule is one query
//! returning the defective subjects; the report keeps the count and a few examples.
//!
//! ID-number rules use integer arithmetic on the stored 12-digit number
//! (`PPP G YY NNNNNN`), so they run inside the database on both backends.

use dancu_domain::personal_id::id_province_codes;
use dancu_domain::units::{Structure, UnitCatalog};
use serde::Serialize;

use crate::sql::Value;
use crate::{Error, Store};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub rule: &'static str,
    pub description: &'static str,
    pub count: u64,
    /// Up to five subjects (personal IDs, household IDs or unit codes).
    pub examples: Vec<String>,
}

const EXAMPLES: usize = 5;

/// (rule, description, query selecting one text or integer subject per defect).
fn rules() -> Vec<(&'static str, &'static str, String)> {
    let provinces: Vec<String> = id_province_codes().iter().map(|c| c.to_string()).collect();
    let g = "((c.personal_id / 100000000) % 10)";
    vec![
        (
            "malformed_personal_id",
            "personal ID number is not 12 digits with a known birth-registration province code",
            format!(
                "SELECT c.personal_id FROM citizens c WHERE c.personal_id < 1000000000 \
                 OR c.personal_id > 999999999999 OR (c.personal_id / 1000000000) NOT IN ({})",
                provinces.join(",")
            ),
        ),
        (
            "gender_mismatch",
            "gender digit of the ID number disagrees with the recorded gender",
            format!("SELECT c.personal_id FROM citizens c WHERE ({g} % 2 = 0) <> (c.gender = 'M')"),
        ),
        (
            "century_mismatch",
            "century digit of the ID number disagrees with the year of birth",
            format!(
                "SELECT c.personal_id FROM citizens c \
                 WHERE 1900 + ({g} / 2) * 100 <> (c.date_of_birth / 1000000) * 100"
            ),
        ),
        (
            "birth_year_mismatch",
            "the two year digits of the ID number disagree with the year of birth",
            "SELECT c.personal_id FROM citizens c \
             WHERE (c.personal_id / 1000000) % 100 <> (c.date_of_birth / 10000) % 100"
                .into(),
        ),
        (
            "household_without_head",
            "household with no member recorded as its head",
            "SELECT h.id FROM households h WHERE NOT EXISTS (SELECT 1 FROM citizens c \
             WHERE c.household_id = h.id AND c.relationship = 'head')"
                .into(),
        ),
        (
            "household_with_several_heads",
            "household with more than one member recorded as head",
            "SELECT c.household_id FROM citizens c WHERE c.relationship = 'head' \
             AND c.household_id IS NOT NULL GROUP BY c.household_id HAVING COUNT(*) > 1"
                .into(),
        ),
        (
            "person_in_two_households",
            "head of a household who is a member of another household",
            "SELECT h.head_id FROM households h JOIN citizens c ON c.personal_id = h.head_id \
             WHERE c.household_id IS NULL OR c.household_id <> h.id"
                .into(),
        ),
        (
            "dangling_household_reference",
            "member of a household that does not exist",
            "SELECT c.personal_id FROM citizens c WHERE c.household_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM households h WHERE h.id = c.household_id)"
                .into(),
        ),
        (
            "dangling_parent_reference",
            "father or mother ID number not in the registry",
            "SELECT c.personal_id FROM citizens c WHERE \
             (c.father_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM citizens p WHERE p.personal_id = c.father_id)) \
             OR (c.mother_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM citizens p WHERE p.personal_id = c.mother_id))"
                .into(),
        ),
        (
            "parent_wrong_gender",
            "recorded father is not male or mother is not female",
            "SELECT c.personal_id FROM citizens c JOIN citizens p \
             ON (p.personal_id = c.father_id AND p.gender <> 'M') \
             OR (p.personal_id = c.mother_id AND p.gender <> 'F')"
                .into(),
        ),
        (
            "parent_too_young",
            "parent born less than 12 years before the child",
            "SELECT c.personal_id FROM citizens c JOIN citizens p \
             ON p.personal_id = c.father_id OR p.personal_id = c.mother_id \
             WHERE c.date_of_birth / 10000 - p.date_of_birth / 10000 < 12"
                .into(),
        ),
        (
            "dangling_spouse_reference",
            "spouse ID number not in the registry",
            "SELECT c.personal_id FROM citizens c WHERE c.spouse_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM citizens s WHERE s.personal_id = c.spouse_id)"
                .into(),
        ),
        (
            "spouse_not_reciprocal",
            "spouse does not record this person as spouse",
            "SELECT c.personal_id FROM citizens c JOIN citizens s ON s.personal_id = c.spouse_id \
             WHERE s.spouse_id IS NULL OR s.spouse_id <> c.personal_id"
                .into(),
        ),
        (
            "death_before_birth",
            "date of death before date of birth",
            "SELECT c.personal_id FROM citizens c WHERE c.date_of_death IS NOT NULL \
             AND c.date_of_death / 10000 < c.date_of_birth / 10000"
                .into(),
        ),
        (
            "duplicate_old_id_number",
            "old 9-digit ID number recorded for more than one person",
            "SELECT c.old_id_number FROM citizens c WHERE c.old_id_number IS NOT NULL \
             GROUP BY c.old_id_number HAVING COUNT(*) > 1"
                .into(),
        ),
        (
            "no_permanent_residence",
            "living person with no open permanent residence registration",
            "SELECT c.personal_id FROM citizens c WHERE c.date_of_death IS NULL \
             AND NOT EXISTS (SELECT 1 FROM residences r WHERE r.personal_id = c.personal_id \
             AND r.kind = 'permanent' AND r.valid_to IS NULL)"
                .into(),
        ),
        (
            "residence_projection_mismatch",
            "commune on the person's record differs from the open permanent residence",
            "SELECT c.personal_id FROM citizens c JOIN residences r ON r.personal_id = c.personal_id \
             AND r.kind = 'permanent' AND r.valid_to IS NULL \
             WHERE r.commune_code <> c.commune_code OR c.commune_code IS NULL"
                .into(),
        ),
    ]
}

fn subject(v: &Value) -> String {
    match v {
        Value::Int(i) if *i >= 1_000_000_000 => format!("{i:012}"),
        Value::Int(i) => i.to_string(),
        Value::Text(t) => t.clone(),
        Value::Null => "-".into(),
    }
}

impl Store {
    /// Runs every rule in one snapshot.
    pub fn quality_report(&self, units: &UnitCatalog) -> Result<Vec<RuleResult>, Error> {
        self.read(|tx| {
            let mut results = Vec::new();
            for (rule, description, sql) in rules() {
                let mut r = RuleResult {
                    rule,
                    description,
                    count: 0,
                    examples: Vec::new(),
                };
                tx.for_each(&sql, &[], &mut |row| {
                    r.count += 1;
                    if r.examples.len() < EXAMPLES {
                        r.examples.push(subject(&row[0]));
                    }
                    Ok(())
                })?;
                results.push(r);
            }
            // Unit codes are checked against the catalog once per distinct code.
            let mut unknown = RuleResult {
                rule: "unknown_commune",
                description: "residence in a commune code unknown to its unit structure",
                count: 0,
                examples: Vec::new(),
            };
            for row in tx.query(
                "SELECT commune_code, unit_structure, COUNT(*) FROM residences \
                 WHERE valid_to IS NULL GROUP BY commune_code, unit_structure",
                &[],
            )? {
                let (code, structure) = (row[0].as_str().unwrap_or(""), row[1].as_str());
                let known = structure
                    .and_then(Structure::parse)
                    .is_some_and(|s| units.get(s, code).is_some());
                if !known {
                    unknown.count += row[2].as_i64().unwrap_or(0) as u64;
                    if unknown.examples.len() < EXAMPLES {
                        unknown.examples.push(code.to_owned());
                    }
                }
            }
            results.push(unknown);
            Ok(results)
        })
    }
}
