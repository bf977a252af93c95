//! Batch cleansing as an API job: a partner uploads a file (the HTTP edge streams it
//! into a fresh directory under `DATA_DIR/verify-jobs/`), the job is created with its
//! rows counted and charged against the partner's quota, and a background runner verifies
//! it with the engine of `dancu verify-batch`. The job's record (`verify_jobs`) is the
//! engine's resume checkpoint, so a server restarted after a crash continues every
//! running job of its data directory where its last checkpoint left it: no row lost or
//! written twice.
//!
//! A partner sees only its own jobs: another partner's job id is "not found".

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use dancu_store::{JOB_DONE, JOB_RUNNING, NewVerifyJob, VerifyJob};
use serde::Serialize;

use super::Agreement;
use super::batch::{absolute, survey};
use crate::partners::{Partner, PartnerScope};
use crate::policy::Actor;
use crate::{App, Error};

/// The background runner's state in one process.
#[derive(Default)]
pub(crate) struct Jobs {
    /// A runner thread is draining the pending jobs.
    running: AtomicBool,
    /// The process is stopping: running jobs stop at their next checkpoint.
    stop: AtomicBool,
    /// Rows done of the jobs running now (finer than their checkpoints).
    progress: Mutex<HashMap<i64, u64>>,
    /// The jobs stopped at a checkpoint since the stop: they resume at the next start,
    /// not in a runner of this process (which would run them to one more checkpoint).
    stopped: Mutex<HashSet<i64>>,
    /// The identity of the data directory (see [`App::files_at`]), once read.
    files_at: OnceLock<String>,
}

/// A job as its partner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: i64,
    /// `running`, `done`, `failed` or `abandoned` (for both, see `error`).
    pub state: String,
    pub rows_done: u64,
    pub rows_total: u64,
    /// `csv` or `jsonl`: the format of the result file (that of the input).
    pub format: &'static str,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Jobs {
    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The files of a finished job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFile {
    /// One row per input row, in input order (the format of `dancu verify-batch`).
    Result,
    /// Counts per verdict and per field, and the most common kinds of mismatch.
    Summary,
}

const JOBS_DIR: &str = "verify-jobs";
/// The name of an upload's directory in `JOBS_DIR`, before its random part.
const UPLOAD_PREFIX: &str = "upload-";
const INPUT: &str = "input";
/// How long an upload that became no job is kept (see [`App::sweep_abandoned_uploads`]).
const ABANDONED_UPLOAD: std::time::Duration = std::time::Duration::from_secs(3600);
/// The data directory's identity, in it.
const IDENTITY: &str = "dancu-data-dir.id";
/// How often a server looks for pending jobs besides its start and each submission:
/// jobs left to another process of its data directory (which may have died since), or
/// left running by an error it could not record.
pub const JOB_SCAN: std::time::Duration = std::time::Duration::from_secs(5);

/// How a runner's turn at a job ended.
enum Turn {
    /// Done or failed: on to the next job.
    Ended,
    /// Another process runs it (it holds the output), or it was left running by an
    /// error the runner could not record: on to the next job, back to this one at the
    /// next scan.
    Left,
    /// Stopped: no more jobs.
    Halt,
}

/// Reads the identity in `root`, or creates it: written whole and synced under a
/// temporary name, then linked, so that no process (nor a restart after a power loss)
/// reads half of it, and of two processes creating it at once, one link wins and both
/// read the winner.
fn identity_in(root: &Path) -> Result<String, Error> {
    let path = root.join(IDENTITY);
    let fail = |e: std::io::Error| Error::Internal(format!("the data directory's identity: {e}"));
    let read = |p: &Path| -> Result<Option<String>, Error> {
        match std::fs::read_to_string(p) {
            Ok(id) if id.trim().is_empty() => Err(Error::Internal(format!(
                "{} is empty: remove it to give this data directory a new identity",
                p.display()
            ))),
            Ok(id) => Ok(Some(id.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fail(e)),
        }
    };
    if let Some(id) = read(&path)? {
        return Ok(id);
    }
    std::fs::create_dir_all(root).map_err(fail)?;
    let tmp = root.join(format!("{IDENTITY}-{}", crate::auth::new_token()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        std::io::Write::write_all(&mut f, format!("{}\n", crate::auth::new_token()).as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
    // Best effort: a leftover temporary file is a few bytes.
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(fail(e)),
        _ => read(&path)?
            .ok_or_else(|| Error::Internal("the data directory's identity vanished".into())),
    }
}

/// Whether neither `dir` nor its upload was changed for `age` (an upload being received
/// changes its file; an unreadable time counts as a change).
fn untouched_for(dir: &Path, age: std::time::Duration) -> bool {
    [dir.to_owned(), App::upload_path(dir)].iter().all(|p| {
        match std::fs::metadata(p).and_then(|m| m.modified()) {
            Ok(at) => at.elapsed().is_ok_and(|e| e >= age),
            // No upload file yet: the directory's time says it all.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => p != dir,
            Err(_) => false,
        }
    })
}

/// Whether a process is receiving the upload of `dir` now (it holds its file's lock).
fn being_received(dir: &Path) -> bool {
    std::fs::File::open(App::upload_path(dir))
        .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
}

fn output_path(input: &Path, jsonl: bool) -> PathBuf {
    input.with_file_name(if jsonl { "output.jsonl" } else { "output.csv" })
}

fn summary_path(output: &str) -> PathBuf {
    // As the engine names it.
    PathBuf::from(format!("{output}.summary.json"))
}

fn partner_name(job: &VerifyJob) -> Option<&str> {
    job.actor.strip_prefix("partner:")
}

impl App {
    /// Checks that `partner` may submit a batch job (scope `verify_batch`, quota left)
    /// and returns a fresh directory for its upload, whose file goes to
    /// [`App::upload_path`]. Nothing is charged yet: rows are counted on submission.
    pub fn begin_verify_job(&self, partner: &Partner) -> Result<PathBuf, Error> {
        self.admit_partner(
            partner,
            "verify.job.submit",
            Some(&PartnerScope::VerifyBatch),
            0,
        )?;
        // A server opened without a data dir (an embedding, a test) cannot keep job
        // files: a state of this server, not a fault (409, as scans without a blob store).
        let root = self.data_dir.as_ref().ok_or_else(|| {
            Error::Conflict("this server has no data directory for job files".into())
        })?;
        let dir = root
            .join(JOBS_DIR)
            .join(format!("{UPLOAD_PREFIX}{}", crate::auth::new_token()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Internal(format!("creating a job directory: {e}")))?;
        Ok(dir)
    }

    /// Where the upload of a directory from [`App::begin_verify_job`] is written.
    pub fn upload_path(dir: &Path) -> PathBuf {
        dir.join(INPUT)
    }

    /// Removes the upload directories that became no job (a server killed while it
    /// received or counted an upload left them, with a partner's file of people in
    /// them), once untouched for [`ABANDONED_UPLOAD`] and not being received (the
    /// receiver locks its file). Jobs are known by their directory's random name, not its
    /// path, which changes with a moved or otherwise mounted data directory. Returns how
    /// many were removed.
    pub fn sweep_abandoned_uploads(&self) -> Result<usize, Error> {
        let Some(root) = &self.data_dir else {
            return Ok(0);
        };
        let fail = |e: std::io::Error| Error::Internal(format!("sweeping uploads: {e}"));
        let entries = match std::fs::read_dir(root.join(JOBS_DIR)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(fail(e)),
        };
        let jobs: HashSet<String> = self
            .store
            .partner_verify_job_inputs()?
            .iter()
            .filter_map(|input| Path::new(input).parent()?.file_name()?.to_str())
            .map(str::to_owned)
            .collect();
        let mut removed = 0;
        for entry in entries {
            let dir = entry.map_err(fail)?.path();
            let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !name.starts_with(UPLOAD_PREFIX)
                || jobs.contains(name)
                || !untouched_for(&dir, ABANDONED_UPLOAD)
                || being_received(&dir)
            {
                continue;
            }
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => removed += 1,
                // Swept by another server meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(fail(e)),
            }
        }
        Ok(removed)
    }

    /// Creates the job of an uploaded file: counts its rows, charges them against the
    /// partner's daily quota (429 when they do not fit: nothing is run), and queues it for
    /// [`App::run_verify_jobs`]. An unreadable file (unknown encoding, a CSV without the
    /// `ref` and `personal_id` columns) is refused here; bad rows are not: they are
    /// `invalid` in the result. `declared_jsonl` is the format the upload was sent as
    /// (its content type), if any: a file of the other format is refused. The directory
    /// is removed when the job is refused.
    pub fn submit_verify_job(
        &self,
        partner: &Partner,
        dir: &Path,
        declared_jsonl: Option<bool>,
    ) -> Result<JobView, Error> {
        let created = self.create_job(partner, dir, declared_jsonl);
        // Best effort: the upload of a refused job has no use. One whose job was created
        // (an error after it, such as its audit entry's) stays with its job.
        if created.is_err()
            && !absolute(&App::upload_path(dir))
                .and_then(|input| Ok(self.store.verify_job_reads(&input)?))
                .unwrap_or(true)
        {
            let _ = std::fs::remove_dir_all(dir);
        }
        created
    }

    fn create_job(
        &self,
        partner: &Partner,
        dir: &Path,
        declared_jsonl: Option<bool>,
    ) -> Result<JobView, Error> {
        const SUBMIT: &str = "verify.job.submit";
        let input = App::upload_path(dir);
        let (fingerprint, jsonl, rows) = survey(&input)?;
        // Before the quota is charged: a mislabelled file would be read as the wrong kind.
        if declared_jsonl.is_some_and(|d| d != jsonl) {
            let name = |j: bool| if j { "JSON lines" } else { "CSV" };
            return Err(Error::Invalid(format!(
                "the file is {} but was sent as {}",
                name(jsonl),
                name(!jsonl)
            )));
        }
        // Everything that can fail before the job is created comes before the charge.
        let (input_key, output_key) = (absolute(&input)?, absolute(&output_path(&input, jsonl))?);
        let files_at = self.files_at()?;
        self.admit_partner(
            partner,
            SUBMIT,
            Some(&PartnerScope::VerifyBatch),
            rows as i64,
        )?;
        let actor = partner.actor();
        let job = self.store.create_verify_job(&NewVerifyJob {
            actor: &actor.username,
            input: &input_key,
            input_fingerprint: &fingerprint,
            output: &output_key,
            partner_id: Some(partner.id),
            rows_total: rows,
            agreement: &partner.agreement.code(),
            files_at,
        })?;
        let mut entry = self.partner_entry(partner, SUBMIT, "ok");
        entry.detail = Some(format!("job {}; {rows} rows", job.id));
        self.audit.record(entry).wait()?;
        Ok(self.job_view(&job))
    }

    fn job_view(&self, job: &VerifyJob) -> JobView {
        let live = self
            .jobs
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&job.id)
            .copied();
        JobView {
            id: job.id,
            state: job.status.clone(),
            rows_done: live.unwrap_or(0).max(job.checkpoint.rows_done),
            rows_total: job.rows_total,
            format: if job.output.ends_with(".jsonl") {
                "jsonl"
            } else {
                "csv"
            },
            created_at: job.created_at,
            updated_at: job.updated_at,
            error: job.error.clone(),
        }
    }

    /// The job `id` if `partner` submitted it (anyone else's: not found).
    fn own_job(&self, partner: &Partner, id: i64) -> Result<VerifyJob, Error> {
        self.store
            .verify_job(id)?
            .filter(|j| j.partner_id == Some(partner.id))
            .ok_or(Error::NotFound)
    }

    /// Where a partner's job stands.
    pub fn verify_job_status(&self, partner: &Partner, id: i64) -> Result<JobView, Error> {
        self.admit_partner(partner, "verify.job.status", None, 0)?;
        Ok(self.job_view(&self.own_job(partner, id)?))
    }

    /// A file of a partner's finished job (409 while it runs). Fetching the result is
    /// audited: it is the partner learning about the people of its file.
    pub fn verify_job_file(
        &self,
        partner: &Partner,
        id: i64,
        file: JobFile,
    ) -> Result<PathBuf, Error> {
        let action = match file {
            JobFile::Result => "verify.job.result",
            JobFile::Summary => "verify.job.summary",
        };
        self.admit_partner(partner, action, None, 0)?;
        let job = self.own_job(partner, id)?;
        if let Some(at) = &job.files_at
            && Some(at.as_str()) != self.files_at()?
        {
            return Err(Error::Conflict(format!(
                "job {id}'s files are kept by another server of this service (another data \
                 directory): ask that server, or give the servers one shared data directory"
            )));
        }
        if job.status != JOB_DONE {
            return Err(Error::Conflict(format!(
                "job {id} is {}: its files are ready once it is done",
                job.status
            )));
        }
        let mut entry = self.partner_entry(partner, action, "ok");
        entry.detail = Some(format!("job {id}"));
        self.audit.record(entry).wait()?;
        Ok(match file {
            JobFile::Result => PathBuf::from(&job.output),
            JobFile::Summary => summary_path(&job.output),
        })
    }

    /// Runs the partners' pending jobs, oldest first, until none is left; returns at
    /// once if another thread of this process is already doing so (it will see the new
    /// job). Call it on a blocking thread after a submission, at start-up (which resumes
    /// the jobs a stop or crash interrupted) and every [`JOB_SCAN`].
    ///
    /// A server runs only the jobs whose files are in its data directory (see
    /// [`App::files_at`]); of servers sharing one, a job is run by one at a time, the one
    /// holding its output, and the others pass over it: a scan after that process died
    /// resumes it.
    pub fn run_verify_jobs(&self) {
        let files_at = match self.files_at() {
            Ok(Some(at)) => at,
            // No data directory: no job was submitted here.
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %crate::redact(&e.to_string()), "reading the data directory");
                return;
            }
        };
        let mut left = HashSet::new();
        loop {
            if self.jobs.running.swap(true, Ordering::AcqRel) {
                return;
            }
            while let Some(job) = self.next_pending_job(files_at, &left) {
                match self.run_job(&job) {
                    Turn::Ended => {}
                    Turn::Left => {
                        left.insert(job.id);
                    }
                    Turn::Halt => break,
                }
            }
            self.jobs.running.store(false, Ordering::Release);
            // A job submitted after the last look, while this runner was still marked
            // running, was left to it: look once more.
            if self.jobs.stopping() || self.next_pending_job(files_at, &left).is_none() {
                return;
            }
        }
    }

    /// The identity of this server's data directory (a random name kept in it), recorded
    /// with each job submitted here; None without a data directory. Servers with
    /// directories of their own (nodes behind one address) each run their own jobs; a
    /// job's files are served by the server that holds them.
    fn files_at(&self) -> Result<Option<&str>, Error> {
        let Some(root) = &self.data_dir else {
            return Ok(None);
        };
        if let Some(id) = self.jobs.files_at.get() {
            return Ok(Some(id));
        }
        let id = identity_in(root)?;
        Ok(Some(self.jobs.files_at.get_or_init(|| id)))
    }

    /// Stops the partners' jobs at their next checkpoint (a graceful stop of the
    /// server); they stay running in the store and resume at the next start. A runner
    /// started afterwards runs each job it has not stopped yet to its first checkpoint.
    pub fn stop_verify_jobs(&self) {
        self.jobs.stop.store(true, Ordering::Release);
    }

    /// The oldest job of the data directory `files_at` that is neither stopped in this
    /// process nor `left`. A job submitted before jobs recorded their directory is taken
    /// if its input is here: another server's would fail for want of its files.
    fn next_pending_job(&self, files_at: &str, left: &HashSet<i64>) -> Option<VerifyJob> {
        match self.store.pending_partner_verify_jobs(files_at) {
            Ok(jobs) => {
                let stopped = self.jobs.stopped.lock().unwrap_or_else(|e| e.into_inner());
                jobs.into_iter().find(|j| {
                    !stopped.contains(&j.id)
                        && !left.contains(&j.id)
                        && (j.files_at.is_some() || Path::new(&j.input).exists())
                })
            }
            Err(e) => {
                tracing::error!(error = %crate::redact(&e.to_string()), "listing verify jobs");
                None
            }
        }
    }

    /// Runs one job to its end, unless another process runs it.
    fn run_job(&self, job: &VerifyJob) -> Turn {
        let outcome = (|| {
            let name = partner_name(job)
                .ok_or_else(|| Error::Internal(format!("job {}: no partner", job.id)))?;
            let agreement = Agreement::parse(&job.agreement).map_err(Error::Internal)?;
            let progress = |p: super::Progress| {
                self.jobs
                    .progress
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(job.id, p.rows);
            };
            self.run_batch(
                &Actor::partner(name, None, None),
                agreement,
                Path::new(&job.input),
                Path::new(&job.output),
                &self.job_options,
                &progress,
                Some(job),
            )
        })();
        self.jobs
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&job.id);
        match outcome {
            // Another process holds it: passed over, unless this one is stopping.
            Ok(None) if !self.jobs.stopping() => return Turn::Left,
            Ok(None) => return Turn::Halt,
            Ok(Some(report)) if report.stopped => {
                self.jobs
                    .stopped
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(job.id);
            }
            Ok(_) => {}
            Err(e) => {
                let reason = crate::redact(&e.to_string());
                tracing::error!(job = job.id, error = %reason, "verify job failed");
                if let Err(e) = self.store.fail_verify_job(job.id, &reason) {
                    tracing::error!(job = job.id, error = %crate::redact(&e.to_string()), "marking a verify job failed");
                }
            }
        }
        if self.jobs.stopping() {
            Turn::Halt
        } else if matches!(self.store.verify_job(job.id), Ok(Some(j)) if j.status == JOB_RUNNING) {
            // Not settled (its failure could not be recorded): not again at once.
            Turn::Left
        } else {
            Turn::Ended
        }
    }
}
