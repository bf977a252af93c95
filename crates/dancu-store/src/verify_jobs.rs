//! Batch verification jobs: where a job stands, so that a killed or crashed run resumes
//! at its last checkpoint. A checkpoint commits together with the audit entries of the
//! rows it covers, so a resumed job neither loses nor repeats an entry.

use crate::audit::{GroupEntry, insert_audit_groups};
use crate::partners::{UsageDelta, add_usage};
use crate::sql::{Row, Tx, Value};
use crate::{Error, Files, Store, now_millis};

pub const JOB_RUNNING: &str = "running";
pub const JOB_DONE: &str = "done";
/// A job whose input or output changed under it: it can never be resumed.
pub const JOB_ABANDONED: &str = "abandoned";
/// A job that stopped on an error that a retry would repeat (its `error` says which).
pub const JOB_FAILED: &str = "failed";

/// How far a job got: everything before these offsets is verified, written, flushed to
/// disk and audited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCheckpoint {
    pub rows_done: u64,
    /// Byte offset in the input of the first row not yet verified.
    pub input_offset: u64,
    /// Line number (1-based) in the input at `input_offset`.
    pub input_line: u64,
    /// Length of the output file written so far.
    pub output_offset: u64,
    /// The job's running summary (JSON, owned by the application).
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyJob {
    pub id: i64,
    pub actor: String,
    pub input: String,
    pub input_fingerprint: String,
    pub output: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub checkpoint: JobCheckpoint,
    /// The partner that submitted the job over the API (None: a `verify-batch` run).
    pub partner_id: Option<i64>,
    /// Rows of the input, counted when it was submitted (0 if not counted).
    pub rows_total: u64,
    /// The data-sharing agreement the job runs under (comma-separated fields).
    pub agreement: String,
    pub error: Option<String>,
    /// The identity of the data directory that holds a partner's job files (None: a
    /// `verify-batch` run, or a job submitted before it was recorded).
    pub files_at: Option<String>,
}

/// A job submitted by a partner: its files are in the data dir, its rows counted.
#[derive(Debug, Clone)]
pub struct NewVerifyJob<'a> {
    pub actor: &'a str,
    pub input: &'a str,
    pub input_fingerprint: &'a str,
    pub output: &'a str,
    pub partner_id: Option<i64>,
    pub rows_total: u64,
    pub agreement: &'a str,
    pub files_at: Option<&'a str>,
}

const JOB_COLUMNS: &str = "id, actor, input, input_fingerprint, output, status, created_at, \
     updated_at, rows_done, input_offset, input_line, output_offset, summary, partner_id, \
     rows_total, agreement, error, files_at";

fn job_from(mut r: Row) -> Result<VerifyJob, Error> {
    let int = |r: &Row, i: usize| {
        r[i].as_i64()
            .ok_or_else(|| Error::Corrupt(format!("verify job column {i}")))
    };
    let mut text = |i: usize| std::mem::replace(&mut r[i], Value::Null).into_string();
    let (actor, input, input_fingerprint, output, status, summary) =
        (text(1), text(2), text(3), text(4), text(5), text(12));
    let (agreement, error, files_at) = (text(15), text(16), text(17));
    Ok(VerifyJob {
        id: int(&r, 0)?,
        actor: actor.unwrap_or_default(),
        input: input.unwrap_or_default(),
        input_fingerprint: input_fingerprint.unwrap_or_default(),
        output: output.unwrap_or_default(),
        status: status.unwrap_or_default(),
        created_at: int(&r, 6)?,
        updated_at: int(&r, 7)?,
        checkpoint: JobCheckpoint {
            rows_done: int(&r, 8)? as u64,
            input_offset: int(&r, 9)? as u64,
            input_line: int(&r, 10)? as u64,
            output_offset: int(&r, 11)? as u64,
            summary: summary.unwrap_or_default(),
        },
        partner_id: r[13].as_i64(),
        rows_total: int(&r, 14)? as u64,
        agreement: agreement.unwrap_or_default(),
        error,
        files_at,
    })
}

fn insert_job(tx: &mut dyn Tx, job: &NewVerifyJob<'_>) -> Result<VerifyJob, Error> {
    let now = now_millis();
    let id = tx.query_i64(
        "INSERT INTO verify_jobs (actor, input, input_fingerprint, output, status, \
         created_at, updated_at, partner_id, rows_total, agreement, files_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10) RETURNING id",
        &[
            job.actor.into(),
            job.input.into(),
            job.input_fingerprint.into(),
            job.output.into(),
            Value::Code(JOB_RUNNING),
            Value::Int(now),
            job.partner_id.map_or(Value::Null, Value::Int),
            Value::Int(job.rows_total as i64),
            job.agreement.into(),
            job.files_at.map_or(Value::Null, Into::into),
        ],
    )?;
    tx.query_one(
        &format!("SELECT {JOB_COLUMNS} FROM verify_jobs WHERE id = $1"),
        &[Value::Int(id)],
    )?
    .ok_or_else(|| Error::Corrupt("verify job not inserted".into()))
    .and_then(job_from)
}

/// Marks a running job abandoned (its files or terms changed: it can never be resumed).
fn abandon(tx: &mut dyn Tx, id: i64, reason: &str) -> Result<(), Error> {
    tx.exec(
        "UPDATE verify_jobs SET status = $1, error = $2, updated_at = $3 \
         WHERE id = $4 AND status = $5",
        &[
            Value::Code(JOB_ABANDONED),
            reason.into(),
            Value::Int(now_millis()),
            Value::Int(id),
            Value::Code(JOB_RUNNING),
        ],
    )?;
    Ok(())
}

impl Store {
    /// The running job of `actor` over the same input (same fingerprint) and output under
    /// the same `agreement`, to resume; otherwise a new job (a running one over the same
    /// files whose input or agreement changed is abandoned).
    pub fn open_verify_job(
        &self,
        actor: &str,
        input: &str,
        input_fingerprint: &str,
        output: &str,
        agreement: &str,
    ) -> Result<VerifyJob, Error> {
        self.write_in(Files::Audit, |tx| {
            let running = tx.query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM verify_jobs \
                     WHERE input = $1 AND output = $2 AND status = $3 ORDER BY id"
                ),
                &[input.into(), output.into(), Value::Code(JOB_RUNNING)],
            )?;
            for job in running.into_iter().map(job_from) {
                let job = job?;
                if job.actor == actor
                    && job.input_fingerprint == input_fingerprint
                    && job.agreement == agreement
                {
                    return Ok(job);
                }
                abandon(
                    tx,
                    job.id,
                    "another run over its files, with another input, caller or agreement",
                )?;
            }
            insert_job(
                tx,
                &NewVerifyJob {
                    actor,
                    input,
                    input_fingerprint,
                    output,
                    partner_id: None,
                    rows_total: 0,
                    agreement,
                    files_at: None,
                },
            )
        })
    }

    /// Creates a job submitted over the API (its files are new, so nothing to resume).
    pub fn create_verify_job(&self, job: &NewVerifyJob<'_>) -> Result<VerifyJob, Error> {
        self.write_in(Files::Audit, |tx| insert_job(tx, job))
    }

    /// The running jobs submitted by partners whose files are at `files_at` (or not
    /// recorded), oldest first: what a server with that data directory runs.
    pub fn pending_partner_verify_jobs(&self, files_at: &str) -> Result<Vec<VerifyJob>, Error> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM verify_jobs \
                     WHERE partner_id IS NOT NULL AND status = $1 \
                     AND (files_at = $2 OR files_at IS NULL) ORDER BY id"
                ),
                &[Value::Code(JOB_RUNNING), files_at.into()],
            )?
            .into_iter()
            .map(job_from)
            .collect()
        })
    }

    /// Marks a running job failed, with the reason.
    pub fn fail_verify_job(&self, id: i64, error: &str) -> Result<(), Error> {
        self.write_in(Files::Audit, |tx| {
            tx.exec(
                "UPDATE verify_jobs SET status = $1, error = $2, updated_at = $3 \
                 WHERE id = $4 AND status = $5",
                &[
                    Value::Code(JOB_FAILED),
                    error.into(),
                    Value::Int(now_millis()),
                    Value::Int(id),
                    Value::Code(JOB_RUNNING),
                ],
            )?;
            Ok(())
        })
    }

    /// The inputs of every job partners submitted, of any state.
    pub fn partner_verify_job_inputs(&self) -> Result<Vec<String>, Error> {
        self.read(|tx| {
            tx.query(
                "SELECT input FROM verify_jobs WHERE partner_id IS NOT NULL",
                &[],
            )?
            .into_iter()
            .map(|mut r| {
                std::mem::replace(&mut r[0], Value::Null)
                    .into_string()
                    .ok_or_else(|| Error::Corrupt("a verify job's input".into()))
            })
            .collect()
        })
    }

    /// Whether a job (of any state) reads `input`.
    pub fn verify_job_reads(&self, input: &str) -> Result<bool, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    "SELECT 1 FROM verify_jobs WHERE input = $1 LIMIT 1",
                    &[input.into()],
                )?
                .is_some())
        })
    }

    pub fn verify_job(&self, id: i64) -> Result<Option<VerifyJob>, Error> {
        self.read(|tx| {
            tx.query_one(
                &format!("SELECT {JOB_COLUMNS} FROM verify_jobs WHERE id = $1"),
                &[Value::Int(id)],
            )?
            .map(job_from)
            .transpose()
        })
    }

    /// Records a checkpoint, the audit entries of the rows it covers (group entries that
    /// list their persons) and their verdict counts (a partner's job) in one transaction;
    /// `status` is [`JOB_RUNNING`], or [`JOB_DONE`] for the last one.
    pub fn checkpoint_verify_job(
        &self,
        id: i64,
        checkpoint: &JobCheckpoint,
        status: &'static str,
        audit: &[GroupEntry],
        usage: Option<&UsageDelta>,
    ) -> Result<(), Error> {
        let record = |tx: &mut dyn Tx| {
            insert_audit_groups(tx, audit)?;
            if let Some(u) = usage {
                add_usage(tx, u)?;
            }
            let updated = tx.exec(
                "UPDATE verify_jobs SET rows_done = $1, input_offset = $2, input_line = $3, \
                 output_offset = $4, summary = $5, status = $6, updated_at = $7 \
                 WHERE id = $8 AND status = $9",
                &[
                    Value::Int(checkpoint.rows_done as i64),
                    Value::Int(checkpoint.input_offset as i64),
                    Value::Int(checkpoint.input_line as i64),
                    Value::Int(checkpoint.output_offset as i64),
                    checkpoint.summary.as_str().into(),
                    Value::Code(status),
                    Value::Int(now_millis()),
                    Value::Int(id),
                    Value::Code(JOB_RUNNING),
                ],
            )?;
            if updated == 1 {
                Ok(())
            } else {
                Err(Error::Conflict(format!("verify job {id} is not running")))
            }
        };
        // A partner's verdict counts are registry rows: the transaction spans both files.
        match usage {
            Some(_) => self.write_in(Files::Both, record),
            None => self.write_in(Files::Audit, record),
        }
    }

    /// Marks a running job abandoned (its files changed under it: it can no longer be
    /// resumed), with the reason.
    pub fn abandon_verify_job(&self, id: i64, reason: &str) -> Result<(), Error> {
        self.write_in(Files::Audit, |tx| abandon(tx, id, reason))
    }
}
