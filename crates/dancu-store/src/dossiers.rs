//! Dossiers (hồ sơ) of administrative procedures, as far as the registry needs them: a
//! lookup of a person for a procedure ("037") is allowed only for a dossier in progress
//! in the officer's own unit, and names that dossier in the audit log.

use serde::Serialize;

use crate::sql::Value;
use crate::{Error, Store, now_millis};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DossierRecord {
    pub id: i64,
    /// The unit (commune, province or agency code) that handles it.
    pub unit: String,
    /// The procedure's code, e.g. `1.001193` (birth registration).
    pub procedure: String,
    pub subject_id: i64,
    /// `in_progress` or `closed`.
    pub status: String,
    pub opened_by: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
}

pub const DOSSIER_IN_PROGRESS: &str = "in_progress";
pub const DOSSIER_CLOSED: &str = "closed";

impl Store {
    pub fn open_dossier(
        &self,
        unit: &str,
        procedure: &str,
        subject_id: i64,
        opened_by: &str,
    ) -> Result<i64, Error> {
        self.write(|tx| {
            tx.query_i64(
                "INSERT INTO dossiers (unit, procedure, subject_id, status, opened_by, opened_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    Value::Text(unit.into()),
                    Value::Text(procedure.into()),
                    Value::Int(subject_id),
                    Value::Code(DOSSIER_IN_PROGRESS),
                    Value::Text(opened_by.into()),
                    Value::Int(now_millis()),
                ],
            )
        })
    }

    pub fn dossier(&self, id: i64) -> Result<Option<DossierRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    "SELECT id, unit, procedure, subject_id, status, opened_by, opened_at, \
                     closed_at FROM dossiers WHERE id = $1",
                    &[Value::Int(id)],
                )?
                .map(|mut r| {
                    let mut text =
                        |i: usize| std::mem::replace(&mut r[i], Value::Null).into_string();
                    let (unit, procedure, status, opened_by) = (
                        text(1).unwrap_or_default(),
                        text(2).unwrap_or_default(),
                        text(4).unwrap_or_default(),
                        text(5).unwrap_or_default(),
                    );
                    DossierRecord {
                        id: r[0].as_i64().unwrap_or_default(),
                        unit,
                        procedure,
                        subject_id: r[3].as_i64().unwrap_or_default(),
                        status,
                        opened_by,
                        opened_at: r[6].as_i64().unwrap_or_default(),
                        closed_at: r[7].as_i64(),
                    }
                }))
        })
    }

    /// Closes a dossier in progress; false if it was not in progress.
    pub fn close_dossier(&self, id: i64) -> Result<bool, Error> {
        self.write(|tx| {
            Ok(tx.exec(
                "UPDATE dossiers SET status = $2, closed_at = $3 WHERE id = $1 AND status = $4",
                &[
                    Value::Int(id),
                    Value::Code(DOSSIER_CLOSED),
                    Value::Int(now_millis()),
                    Value::Code(DOSSIER_IN_PROGRESS),
                ],
            )? == 1)
        })
    }

    /// The subjects among `ids` that have a dossier in progress handled by `unit`.
    pub fn subjects_with_open_dossier(&self, unit: &str, ids: &[i64]) -> Result<Vec<i64>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        self.read(|tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT DISTINCT subject_id FROM dossiers WHERE unit = $1 AND status = $2 \
                         AND subject_id IN ({})",
                        list.join(",")
                    ),
                    &[Value::Text(unit.into()), Value::Code(DOSSIER_IN_PROGRESS)],
                )?
                .into_iter()
                .filter_map(|r| r[0].as_i64())
                .collect())
        })
    }
}
