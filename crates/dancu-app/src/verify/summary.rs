//! The summary of a batch: counts per verdict and per field result, and how often each
//! finding (kind of mismatch) occurred. It survives a resume as JSON in the job's row.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Field, FieldResult, Verdict, Verification};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    verdicts: [u64; 4],
    fields: [[u64; 4]; 3],
    findings: BTreeMap<String, u64>,
}

/// The JSON form (`OUTPUT.summary.json`, the job's checkpoint).
#[derive(Debug, Default, Serialize, Deserialize)]
struct SummaryDoc {
    rows: u64,
    verdicts: BTreeMap<String, u64>,
    fields: BTreeMap<String, BTreeMap<String, u64>>,
    findings: BTreeMap<String, u64>,
    /// The findings by decreasing count (derived; ignored when read back).
    #[serde(default, skip_deserializing)]
    most_common: Vec<(String, u64)>,
}

fn position<T: PartialEq>(all: &[T], x: &T) -> usize {
    all.iter().position(|a| a == x).expect("listed in ALL")
}

impl Summary {
    pub fn add(&mut self, v: &Verification) {
        self.rows += 1;
        self.verdicts[position(&Verdict::ALL, &v.verdict)] += 1;
        for field in Field::ALL {
            if let Some(r) = v.fields.get(field) {
                self.fields[field.index()][position(&FieldResult::ALL, &r)] += 1;
            }
        }
        for kind in &v.findings {
            match self.findings.get_mut(*kind) {
                Some(n) => *n += 1,
                None => {
                    self.findings.insert((*kind).to_owned(), 1);
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Summary) {
        self.rows += other.rows;
        for (a, b) in self.verdicts.iter_mut().zip(other.verdicts) {
            *a += b;
        }
        for (fa, fb) in self.fields.iter_mut().zip(other.fields) {
            for (a, b) in fa.iter_mut().zip(fb) {
                *a += b;
            }
        }
        for (kind, n) in &other.findings {
            *self.findings.entry(kind.clone()).or_default() += n;
        }
    }

    pub fn verdict(&self, v: Verdict) -> u64 {
        self.verdicts[position(&Verdict::ALL, &v)]
    }

    pub fn field(&self, field: Field, r: FieldResult) -> u64 {
        self.fields[field.index()][position(&FieldResult::ALL, &r)]
    }

    /// Findings by decreasing count (ties by name).
    pub fn most_common(&self) -> Vec<(&str, u64)> {
        let mut all: Vec<(&str, u64)> = self
            .findings
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        all
    }

    pub fn to_json(&self) -> serde_json::Value {
        let doc = SummaryDoc {
            rows: self.rows,
            verdicts: Verdict::ALL
                .iter()
                .map(|v| (v.as_str().to_owned(), self.verdict(*v)))
                .collect(),
            fields: Field::ALL
                .iter()
                .map(|f| {
                    let counts = FieldResult::ALL
                        .iter()
                        .map(|r| (r.as_str().to_owned(), self.field(*f, *r)))
                        .collect();
                    (f.name().to_owned(), counts)
                })
                .collect(),
            findings: self.findings.clone(),
            most_common: self
                .most_common()
                .into_iter()
                .map(|(k, n)| (k.to_owned(), n))
                .collect(),
        };
        serde_json::to_value(doc).expect("a summary serializes")
    }

    pub fn from_json(s: &str) -> Result<Summary, String> {
        let doc: SummaryDoc = serde_json::from_str(s).map_err(|e| e.to_string())?;
        let mut summary = Summary {
            rows: doc.rows,
            findings: doc.findings,
            ..Summary::default()
        };
        for v in Verdict::ALL {
            summary.verdicts[position(&Verdict::ALL, &v)] =
                doc.verdicts.get(v.as_str()).copied().unwrap_or(0);
        }
        for f in Field::ALL {
            for r in FieldResult::ALL {
                summary.fields[f.index()][position(&FieldResult::ALL, &r)] = doc
                    .fields
                    .get(f.name())
                    .and_then(|c| c.get(r.as_str()))
                    .copied()
                    .unwrap_or(0);
            }
        }
        Ok(summary)
    }
}
