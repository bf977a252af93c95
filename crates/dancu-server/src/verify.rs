//! Verification for partners (lookup 037 over the API): `POST /api/v1/verify`, and batch
//! cleansing as jobs — upload a CSV or JSONL file, poll its progress, download the result
//! and the summary. Every route takes a partner key (`X-Api-Key`); staff tokens are not
//! partners and get 401.

use std::io::{Read, Write};
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use dancu_app::verify::{FieldResults, JobFile, RegistryValues, Verdict, VerifyRequest};
use dancu_app::{App, Error};
use http_body::{Body as _, Frame};
use serde::{Deserialize, Serialize};

use crate::{ApiResult, JsonBody, PartnerKey, Problem, Shared, blocking, ok_json, quick};

/// The partner-facing routes, merged into the router.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/verify", post(verify))
        .route("/api/v1/verify/jobs", post(submit_job))
        .route("/api/v1/verify/jobs/{job_id}", get(job_status))
        .route("/api/v1/verify/jobs/{job_id}/result", get(job_result))
        .route("/api/v1/verify/jobs/{job_id}/summary", get(job_summary))
}

/// Looks for pending jobs while serving: at once (the jobs a stop or crash interrupted),
/// then every [`dancu_app::verify::JOB_SCAN`] (jobs another process of the data directory
/// held, which may have died since); and removes the uploads a crash left, at start and
/// every [`UPLOAD_SWEEP`].
pub(crate) async fn scan_jobs(app: Shared) {
    let mut scans = tokio::time::interval(dancu_app::verify::JOB_SCAN);
    let mut sweeps = tokio::time::interval(UPLOAD_SWEEP);
    for every in [&mut scans, &mut sweeps] {
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    }
    loop {
        tokio::select! {
            _ = scans.tick() => start_job_runner(&app),
            _ = sweeps.tick() => {
                let a = app.clone();
                tokio::task::spawn_blocking(move || match a.sweep_abandoned_uploads() {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "removed uploads that became no job"),
                    Err(e) => {
                        tracing::error!(error = %dancu_app::redact(&e.to_string()), "sweeping uploads");
                    }
                });
            }
        }
    }
}

/// How often a server sweeps the uploads that became no job (at its start, then hourly).
const UPLOAD_SWEEP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Runs the pending jobs on a blocking thread (returns at once if a runner is running).
pub(crate) fn start_job_runner(app: &Shared) {
    let app = app.clone();
    tokio::task::spawn_blocking(move || app.run_verify_jobs());
}

/// The contract's body: `personal_id` required, the rest optional.
#[derive(Deserialize)]
struct VerifyBody {
    personal_id: String,
    full_name: Option<String>,
    date_of_birth: Option<String>,
    gender: Option<String>,
}

/// The answer: the verdict, per-field results and, if the partner's agreement allows,
/// the registry's values. The findings behind a mismatch are not sent: a live yes/no
/// service that names them ("the year differs") helps whoever probes it.
#[derive(Serialize)]
struct VerifyAnswer {
    verdict: Verdict,
    fields: FieldResults,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: Option<RegistryValues>,
}

async fn verify(
    State(app): State<Shared>,
    PartnerKey(partner): PartnerKey,
    JsonBody(b): JsonBody<VerifyBody>,
) -> ApiResult {
    let request = VerifyRequest {
        personal_id: b.personal_id,
        full_name: b.full_name,
        date_of_birth: b.date_of_birth,
        gender: b.gender,
    };
    let v = quick(&app.clone(), move || app.partner_verify(&partner, &request))
        .await?
        .release()
        .await?;
    ok_json(VerifyAnswer {
        verdict: v.verdict,
        fields: v.fields,
        reason: v.reason,
        registry: v.registry,
    })
}

fn job_id(s: &str) -> Result<i64, Problem> {
    s.parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "job id must be a number"))
}

/// Frames in flight between the connection and the file: bounds an upload's memory.
const UPLOAD_FRAMES_IN_FLIGHT: usize = 8;

/// Streams `body` into the upload's file on a blocking thread, refusing more than
/// `limit` bytes; returns the upload once its file is whole and synced.
async fn receive(body: Body, upload: Upload, limit: u64) -> Result<Upload, Problem> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(UPLOAD_FRAMES_IN_FLIGHT);
    // The writer holds the upload: if the request is dropped mid-body, the directory is
    // removed when the writer ends, not while it may still be creating the file.
    let writer = tokio::task::spawn_blocking(move || {
        let written = (|| -> std::io::Result<()> {
            let file = std::fs::File::create(App::upload_path(upload.dir()))?;
            // Held while receiving: a sweep of abandoned uploads passes over this one.
            file.lock()?;
            let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
            while let Some(bytes) = rx.blocking_recv() {
                file.write_all(&bytes)?;
            }
            file.into_inner().map_err(|e| e.into_error())?.sync_all()
        })();
        (upload, written)
    });
    let mut body = body;
    let mut total = 0u64;
    let streamed: Result<(), Problem> = loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break Ok(()),
            Some(Err(e)) => {
                break Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("reading the upload: {e}"),
                ));
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                total += data.len() as u64;
                if total > limit {
                    break Err(too_large(limit));
                }
                if tx.send(data).await.is_err() {
                    // The writer stopped: its error is reported below.
                    break Ok(());
                }
            }
        }
    };
    drop(tx);
    let (upload, written) = writer
        .await
        .map_err(|e| Problem::from(Error::Internal(format!("upload writer: {e}"))))?;
    let refused = match (streamed, written) {
        (Err(p), _) => p,
        (Ok(()), Err(e)) => Problem::from(Error::Internal(format!("writing an upload: {e}"))),
        (Ok(()), Ok(())) => return Ok(upload),
    };
    upload.discard().await;
    Err(refused)
}

/// An upload's directory, removed unless kept: a refused upload's before the answer
/// ([`Upload::discard`]), and one dropped otherwise (a client gone mid-body drops the
/// handler) when it is dropped.
struct Upload(Option<PathBuf>);

impl Upload {
    /// Removes the directory of a refused upload.
    async fn discard(mut self) {
        if let Some(dir) = self.0.take() {
            // Best effort: the upload of a refused job has no use.
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        }
    }

    fn dir(&self) -> &FsPath {
        self.0.as_deref().expect("not kept yet")
    }

    /// The directory, handed to the submission.
    fn keep(mut self) -> PathBuf {
        self.0.take().expect("kept once")
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            // Best effort, and off the async worker: the file may be gigabytes.
            std::thread::spawn(move || std::fs::remove_dir_all(dir));
        }
    }
}

fn too_large(limit: u64) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("a job file may have at most {limit} bytes"),
    )
}

/// `POST /api/v1/verify/jobs`: the body is the file (CSV or JSON lines), streamed to the
/// data dir; 202 with the job once its rows are counted and charged.
async fn submit_job(
    State(app): State<Shared>,
    PartnerKey(partner): PartnerKey,
    req: Request,
) -> ApiResult {
    let limit = app.job_upload_bytes();
    // The declared format, checked against the file; other types are sniffed.
    let declared_jsonl = match req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("text/csv") => Some(false),
        Some("application/x-ndjson" | "application/jsonl") => Some(true),
        _ => None,
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (a, p) = (app.clone(), partner.clone());
    // Made on the blocking thread: a request dropped during the await drops it there.
    let upload = blocking(move || a.begin_verify_job(&p).map(|dir| Upload(Some(dir)))).await?;
    if declared.is_some_and(|n| n > limit) {
        upload.discard().await;
        return Err(too_large(limit));
    }
    let upload = receive(req.into_body(), upload, limit).await?;
    let a = app.clone();
    let job = blocking(move || {
        // From here the submission removes the directory of a refused job.
        let job = a.submit_verify_job(&partner, &upload.keep(), declared_jsonl)?;
        // Here rather than after the await: a client gone meanwhile still has its job run.
        start_job_runner(&a);
        Ok(job)
    })
    .await?;
    let location = format!("/api/v1/verify/jobs/{}", job.id);
    let mut res = (StatusCode::ACCEPTED, Json(job)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

async fn job_status(
    State(app): State<Shared>,
    PartnerKey(partner): PartnerKey,
    Path(id): Path<String>,
) -> ApiResult {
    let id = job_id(&id)?;
    ok_json(blocking(move || app.verify_job_status(&partner, id)).await?)
}

async fn job_result(
    State(app): State<Shared>,
    PartnerKey(partner): PartnerKey,
    Path(id): Path<String>,
) -> ApiResult {
    let id = job_id(&id)?;
    let path = blocking(move || app.verify_job_file(&partner, id, JobFile::Result)).await?;
    let content_type = if path.extension().is_some_and(|e| e == "jsonl") {
        "application/x-ndjson"
    } else {
        "text/csv; charset=utf-8"
    };
    send_file(path, content_type).await
}

async fn job_summary(
    State(app): State<Shared>,
    PartnerKey(partner): PartnerKey,
    Path(id): Path<String>,
) -> ApiResult {
    let id = job_id(&id)?;
    let path = blocking(move || app.verify_job_file(&partner, id, JobFile::Summary)).await?;
    send_file(path, "application/json").await
}

/// A response body fed by a blocking thread reading a file: large results stream with
/// bounded memory.
struct FileBody {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }
}

async fn send_file(path: PathBuf, content_type: &'static str) -> ApiResult {
    let file = {
        let p = path.clone();
        blocking(move || open_file(&p)).await?
    };
    let (len, mut file) = file;
    let (tx, rx) = tokio::sync::mpsc::channel(UPLOAD_FRAMES_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let chunk = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                break;
            }
        }
    });
    let mut res = Body::new(FileBody { rx }).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(res)
}

fn open_file(path: &FsPath) -> Result<(u64, std::fs::File), Error> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Internal(format!("opening a job file: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| Error::Internal(format!("opening a job file: {e}")))?
        .len();
    Ok((len, file))
}
