//! `dancu verify-batch`: a partner file (CSV or JSONL; UTF-8 with or without BOM, or
//! TCVN3/VNI converted) verified row by row into an output file in input order.
//!
//! Streaming with bounded memory: the input is read in chunks; each chunk is parsed,
//! looked up with one multi-get and compared on a worker thread, and the main thread
//! writes results in input order, at most a few chunks ahead of the writer.
//!
//! Resume: every `checkpoint_rows` rows the output is flushed and fsynced, then one
//! transaction records the checkpoint (input and output offsets, the running summary)
//! together with the audit entries of the rows it covers. A killed run restarted with
//! the same input and output truncates the output to the checkpoint and continues there:
//! no row is lost or written twice, and no audit entry is lost or repeated. A run holds
//! an exclusive lock on its output file (`flock`, released by the system when the process
//! dies), so two processes never run one job at once: the second is refused.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

use dancu_domain::legacy::{SourceEncoding, decode_as, detect_encoding};
use dancu_domain::row_lines::LineTap;
use dancu_domain::text::nfc_cow;
use dancu_store::{
    AuditEntry, GroupEntry, JOB_DONE, JOB_RUNNING, JobCheckpoint, UsageDelta, VerifyJob,
};
use sha2::{Digest, Sha256};

use super::{Agreement, Field, People, Summary, Verdict, Verification};
use super::{Invalid, RequestText, parse_id, verify_request};
use crate::policy::{Action, Actor};
use crate::{App, Error};

#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Rows per chunk: one multi-get each.
    pub chunk_rows: usize,
    /// Rows between checkpoints (each one an fsync and a commit).
    pub checkpoint_rows: u64,
    /// Threads that parse, look up and compare chunks.
    pub workers: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            chunk_rows: 4096,
            checkpoint_rows: 65_536,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4)),
        }
    }
}

/// A checkpoint on its way to the committer thread.
struct Commit {
    checkpoint: JobCheckpoint,
    audit: Vec<GroupEntry>,
    verdicts: [i64; 4],
}

/// Where a run stands, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub rows: u64,
    pub input_offset: u64,
    pub input_len: u64,
}

#[derive(Debug, Clone)]
pub struct BatchReport {
    pub job_id: i64,
    /// Rows already done by an earlier, interrupted run of this job.
    pub resumed_at_row: u64,
    pub encoding: SourceEncoding,
    pub summary: Summary,
    pub summary_path: PathBuf,
    /// A partner's job stopped at a checkpoint because the server is stopping; it is
    /// still running (resumed at the next start) and has no summary file yet.
    pub stopped: bool,
}

/// Bytes read to detect the format and the encoding, and to fingerprint the input.
const SAMPLE_BYTES: usize = 1 << 20;
const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Jsonl,
}

impl Format {
    fn of_output(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

struct Inspected {
    len: u64,
    fingerprint: String,
    format: Format,
    encoding: SourceEncoding,
    body_start: u64,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: {e}", path.display()))
}

/// The input file failing to be read in the middle of a run.
fn input_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("reading the input: {e}"))
}

/// What a job records of its input before it runs: the fingerprint (length and first
/// MiB), whether it is JSON lines, and its rows, counted by the reader the run uses (so
/// the count is exactly what the run will verify). Fails as the run would on an input
/// it cannot read at all (unknown encoding, missing columns).
pub(super) fn survey(path: &Path) -> Result<(String, bool, u64), Error> {
    let inspected = inspect(path)?;
    let mut source = Source::open(path, &inspected, None)?;
    let (mut rows, mut spare) = (0u64, Vec::new());
    while let Some(chunk) = source.next_chunk(0, 4096, &mut spare)? {
        rows += chunk.rows.len() as u64;
        spare.extend(chunk.into_records());
    }
    Ok((
        inspected.fingerprint,
        inspected.format == Format::Jsonl,
        rows,
    ))
}

fn inspect(path: &Path) -> Result<Inspected, Error> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut sample = Vec::with_capacity(SAMPLE_BYTES.min(len as usize));
    (&mut file)
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(|e| io_error(path, e))?;
    let mut hash = Sha256::new();
    hash.update(len.to_le_bytes());
    hash.update(&sample);
    // Detect on whole lines: a cut multi-byte character is not an encoding error.
    let whole = if (sample.len() as u64) < len {
        sample
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(&sample[..], |i| &sample[..=i])
    } else {
        &sample[..]
    };
    let encoding = match detect_encoding(whole) {
        Ok(encoding) => encoding,
        // A few broken lines in a UTF-8 file are bad rows, not a bad file.
        Err(_) if mostly_utf8(whole) => SourceEncoding::Utf8,
        Err(e) => return Err(io_error(path, e)),
    };
    let body_start = if sample.starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    let first = sample[body_start..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied();
    Ok(Inspected {
        len,
        fingerprint: hex::encode(hash.finalize()),
        format: if first == Some(b'{') {
            Format::Jsonl
        } else {
            Format::Csv
        },
        encoding,
        body_start: body_start as u64,
    })
}

/// At most one line, or one line in ten, is not valid UTF-8.
fn mostly_utf8(sample: &[u8]) -> bool {
    let (mut lines, mut bad) = (0usize, 0usize);
    for line in sample.split(|&b| b == b'\n') {
        lines += 1;
        bad += usize::from(std::str::from_utf8(line).is_err());
    }
    bad <= 1 || bad * 10 <= lines
}

/// A place in the input: byte offset and the (1-based) line that byte is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    offset: u64,
    line: u64,
}

/// Columns of a CSV input.
#[derive(Debug, Clone, Copy)]
struct Columns {
    reference: usize,
    personal_id: usize,
    fields: [Option<usize>; 3],
}

impl Columns {
    fn from_header(header: &csv::ByteRecord, encoding: SourceEncoding) -> Result<Columns, Error> {
        let names: Vec<String> = header
            .iter()
            .map(|h| decode_as(h, encoding).unwrap_or_default().trim().to_owned())
            .collect();
        let find = |name: &str| names.iter().position(|h| h == name);
        let required = |name: &str| {
            find(name).ok_or_else(|| {
                Error::Invalid(format!(
                    "line 1: missing column {name} (expected header \
                     ref,personal_id,full_name,date_of_birth,gender)"
                ))
            })
        };
        Ok(Columns {
            reference: required("ref")?,
            personal_id: required("personal_id")?,
            fields: Field::ALL.map(|f| find(f.name())),
        })
    }
}

enum RawRow {
    Csv(csv::ByteRecord),
    Json(Vec<u8>),
    Unreadable(String),
}

struct RawChunk {
    seq: u64,
    rows: Vec<(u64, RawRow)>,
    /// Where the row after this chunk starts.
    end: Position,
}

impl RawChunk {
    /// The chunk's CSV records, to read other rows into.
    fn into_records(self) -> impl Iterator<Item = csv::ByteRecord> {
        self.rows.into_iter().filter_map(|(_, raw)| match raw {
            RawRow::Csv(record) => Some(record),
            RawRow::Json(_) | RawRow::Unreadable(_) => None,
        })
    }
}

enum Source {
    Csv {
        /// Over a [`LineTap`]: the CSV reader's own line numbers are wrong after a CRLF
        /// or a blank line.
        reader: csv::Reader<LineTap<File>>,
        /// Where the reader started: its positions count from there.
        start: u64,
        columns: Columns,
    },
    Jsonl {
        reader: BufReader<File>,
        at: Position,
    },
}

impl Source {
    /// Opens the input at `resume` (a checkpoint), or after the header.
    fn open(path: &Path, inspected: &Inspected, resume: Option<Position>) -> Result<Source, Error> {
        let open_at = |offset: u64| -> Result<File, Error> {
            let mut f = File::open(path).map_err(|e| io_error(path, e))?;
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| io_error(path, e))?;
            Ok(f)
        };
        let body = Position {
            offset: inspected.body_start,
            line: 1,
        };
        if inspected.format == Format::Jsonl {
            return Ok(Source::Jsonl {
                reader: BufReader::with_capacity(1 << 16, open_at(resume.unwrap_or(body).offset)?),
                at: resume.unwrap_or(body),
            });
        }
        let csv_at = |at: Position| -> Result<csv::Reader<LineTap<File>>, Error> {
            Ok(csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .buffer_capacity(1 << 16)
                .from_reader(LineTap::new(open_at(at.offset)?, at.offset, at.line)))
        };
        let mut header_reader = csv_at(body)?;
        let mut header = csv::ByteRecord::new();
        if !header_reader
            .read_byte_record(&mut header)
            .map_err(|e| io_error(path, e))?
        {
            return Err(Error::Invalid(format!("{}: empty file", path.display())));
        }
        let columns = Columns::from_header(&header, inspected.encoding)?;
        let (reader, start) = match resume {
            Some(at) => (csv_at(at)?, at),
            None => (header_reader, body),
        };
        Ok(Source::Csv {
            reader,
            start: start.offset,
            columns,
        })
    }

    /// The next chunk of at most `max_rows` rows; CSV rows are read into records from
    /// `spare` (those of chunks already verified) before new ones are made.
    fn next_chunk(
        &mut self,
        seq: u64,
        max_rows: usize,
        spare: &mut Vec<csv::ByteRecord>,
    ) -> Result<Option<RawChunk>, Error> {
        let mut rows = Vec::with_capacity(max_rows);
        let end = match self {
            Source::Csv { reader, start, .. } => {
                let start = *start;
                // The reader has read a row it returns, so the tap can place it.
                let line = |reader: &mut csv::Reader<LineTap<File>>, p: Option<&csv::Position>| {
                    p.and_then(|p| reader.get_mut().row_line(start + p.byte()))
                        .unwrap_or(0)
                };
                while rows.len() < max_rows {
                    // Sized for a typical row: growing from empty reallocates several times.
                    let mut record = spare
                        .pop()
                        .unwrap_or_else(|| csv::ByteRecord::with_capacity(96, 8));
                    match reader.read_byte_record(&mut record) {
                        Ok(false) => {
                            spare.push(record);
                            break;
                        }
                        Ok(true) => {
                            let line = line(reader, record.position());
                            rows.push((line, RawRow::Csv(record)));
                        }
                        // The file failing (not a row): the same error would come for
                        // every row after it, as rows without end.
                        Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                            return Err(input_error(e));
                        }
                        Err(e) => {
                            let line = line(reader, e.position());
                            rows.push((line, RawRow::Unreadable(format!("unreadable row: {e}"))));
                            spare.push(record);
                        }
                    }
                }
                let offset = start + reader.position().byte();
                Position {
                    offset,
                    line: reader.get_mut().line_at(offset),
                }
            }
            Source::Jsonl { reader, at } => {
                while rows.len() < max_rows {
                    let mut line = Vec::new();
                    let n = reader.read_until(b'\n', &mut line).map_err(input_error)?;
                    if n == 0 {
                        break;
                    }
                    let number = at.line;
                    at.offset += n as u64;
                    at.line += 1;
                    if !line.iter().all(u8::is_ascii_whitespace) {
                        rows.push((number, RawRow::Json(line)));
                    }
                }
                *at
            }
        };
        Ok((!rows.is_empty()).then_some(RawChunk { seq, rows, end }))
    }
}

/// A JSONL row: scalar values, taken as text.
#[derive(serde::Deserialize)]
struct JsonRow {
    #[serde(rename = "ref")]
    reference: Option<serde_json::Value>,
    personal_id: Option<serde_json::Value>,
    full_name: Option<serde_json::Value>,
    date_of_birth: Option<serde_json::Value>,
    gender: Option<serde_json::Value>,
}

fn json_text(field: &str, v: Option<serde_json::Value>) -> Result<Option<String>, Invalid> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(Invalid {
            kind: "invalid.row",
            reason: format!("{field}: must be a string"),
        }),
    }
}

/// What a worker needs to turn raw rows into output.
struct Context {
    encoding: SourceEncoding,
    columns: Option<Columns>,
    agreement: Agreement,
    output: Format,
    job_detail: String,
}

impl Context {
    /// The row's `ref` and its fields (or why it cannot be read).
    fn request<'a>(&self, raw: &'a RawRow) -> (Cow<'a, str>, Result<RequestText<'a>, Invalid>) {
        let unreadable = |reason: String| Invalid {
            kind: "invalid.row",
            reason,
        };
        match raw {
            RawRow::Unreadable(reason) => (Cow::Borrowed(""), Err(unreadable(reason.clone()))),
            RawRow::Csv(record) => {
                let columns = self.columns.expect("a CSV input has columns");
                // A UTF-8 record is validated once, whole; a field is then its slice of
                // it, valid when cut at character boundaries. Otherwise (another
                // encoding, or a bad byte somewhere) field by field, naming the bad one.
                let utf8 = matches!(
                    self.encoding,
                    SourceEncoding::Utf8 | SourceEncoding::Utf8Bom
                );
                let whole = if utf8 {
                    std::str::from_utf8(record.as_slice()).ok()
                } else {
                    None
                };
                let text = |i: usize| -> Result<Option<Cow<'a, str>>, Invalid> {
                    let Some(range) = record.range(i) else {
                        return Ok(None);
                    };
                    match whole {
                        Some(whole) => whole.get(range).map(nfc_cow),
                        None => decode_as(&record.as_slice()[range], self.encoding),
                    }
                    .map(Some)
                    .ok_or_else(|| unreadable(format!("column {}: not valid UTF-8", i + 1)))
                };
                let reference = text(columns.reference).ok().flatten().unwrap_or_default();
                let request = (|| {
                    let [full_name, date_of_birth, gender] = columns
                        .fields
                        .map(|c| c.map(text).transpose().map(Option::flatten));
                    Ok(RequestText {
                        personal_id: text(columns.personal_id)?.unwrap_or_default(),
                        full_name: full_name?,
                        date_of_birth: date_of_birth?,
                        gender: gender?,
                    })
                })();
                (reference, request)
            }
            RawRow::Json(line) => {
                let Some(text) = decode_as(line, self.encoding) else {
                    return (Cow::Borrowed(""), Err(unreadable("not valid UTF-8".into())));
                };
                let row: JsonRow = match serde_json::from_str(&text) {
                    Ok(r) => r,
                    Err(e) => {
                        return (
                            Cow::Borrowed(""),
                            Err(unreadable(format!("not a JSON object: {e}"))),
                        );
                    }
                };
                let owned = |field, v| json_text(field, v).map(|t| t.map(Cow::Owned));
                let reference = owned("ref", row.reference)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let request = (|| {
                    Ok(RequestText {
                        personal_id: owned("personal_id", row.personal_id)?.unwrap_or_default(),
                        full_name: owned("full_name", row.full_name)?,
                        date_of_birth: owned("date_of_birth", row.date_of_birth)?,
                        gender: owned("gender", row.gender)?,
                    })
                })();
                (reference, request)
            }
        }
    }

    fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.output == Format::Jsonl {
            return out;
        }
        let registry_columns: Vec<String> = self
            .agreement
            .fields()
            .map(|f| format!("registry_{}", f.name()))
            .collect();
        let columns = [
            "ref",
            "verdict",
            "full_name",
            "date_of_birth",
            "gender",
            "line",
            "reason",
            "findings",
        ]
        .into_iter()
        .chain(registry_columns.iter().map(String::as_str));
        push_csv_fields(&mut out, columns);
        out.push(b'\n');
        out
    }

    /// A buffer for `rows` output rows, sized for them: grown from empty, it was copied
    /// several times into freshly faulted pages per chunk.
    fn output_buffer(&self, rows: usize) -> Vec<u8> {
        Vec::with_capacity(rows * OUTPUT_ROW_BYTES)
    }

    fn write_row(&self, out: &mut Vec<u8>, line: u64, reference: &str, v: &Verification) {
        match self.output {
            Format::Jsonl => {
                #[derive(serde::Serialize)]
                struct OutRow<'a> {
                    #[serde(rename = "ref")]
                    reference: &'a str,
                    line: u64,
                    #[serde(flatten)]
                    v: &'a Verification,
                }
                serde_json::to_writer(&mut *out, &OutRow { reference, line, v })
                    .expect("writing to memory");
                out.push(b'\n');
            }
            Format::Csv => {
                let mut line_digits = itoa::Buffer::new();
                let fields = [reference, v.verdict.as_str()]
                    .into_iter()
                    .chain(Field::ALL.map(|f| v.fields.get(f).map_or("", |r| r.as_str())))
                    .chain([line_digits.format(line), v.reason.as_deref().unwrap_or("")]);
                push_csv_fields(out, fields);
                // Finding kinds are plain words (`full_name.missing_diacritics`): never
                // quoted.
                out.push(b',');
                for (i, kind) in v.findings.iter().enumerate() {
                    if i > 0 {
                        out.push(b';');
                    }
                    debug_assert!(!needs_quotes(kind));
                    out.extend_from_slice(kind.as_bytes());
                }
                for f in self.agreement.fields() {
                    out.push(b',');
                    push_csv_field(
                        out,
                        v.registry.as_ref().and_then(|r| r.get(f)).unwrap_or(""),
                    );
                }
                out.push(b'\n');
            }
        }
    }
}

/// Appends CSV fields, comma-separated (RFC 4180, as the `csv` crate writes them: a
/// field is quoted, its quotes doubled, only if it holds a comma, a quote or a line
/// break). Written by hand: the crate's writer steps a state machine per byte, and a
/// row's fields are a few short words.
fn push_csv_fields<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = &'a str>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_csv_field(out, field);
    }
}

fn needs_quotes(field: &str) -> bool {
    field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

fn push_csv_field(out: &mut Vec<u8>, field: &str) {
    if !needs_quotes(field) {
        out.extend_from_slice(field.as_bytes());
        return;
    }
    out.push(b'"');
    for b in field.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Bytes of a typical output row (CSV, no registry values: 45–60), to size a chunk's
/// buffer.
const OUTPUT_ROW_BYTES: usize = 64;

/// A chunk verified: its output bytes, counts and audit entry (none if no row named a
/// registered person).
struct ChunkOut {
    seq: u64,
    rows: u64,
    /// The chunk's CSV records, for the reader to read later rows into.
    records: Vec<csv::ByteRecord>,
    bytes: Vec<u8>,
    summary: Summary,
    audit: Option<GroupEntry>,
    end: Position,
}

fn output_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("output: {e}"))
}

/// The file's absolute path (its directory resolved), as the job's key.
pub(super) fn absolute(path: &Path) -> Result<String, Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: not a file name", path.display())))?;
    let dir = std::fs::canonicalize(dir).map_err(|e| io_error(dir, e))?;
    Ok(dir.join(name).display().to_string())
}

/// Cuts the output of a failed run back to `recorded`, its length at the last recorded
/// checkpoint, and returns the run's error: the rows after it have no audit entry (a
/// resume would cut them too), so they are not left on disk for a run never resumed.
fn cut_back(writer: BufWriter<File>, recorded: u64, error: Error) -> Error {
    // Without flushing: the buffered rows are dropped.
    let (file, _) = writer.into_parts();
    if let Err(e) = file.set_len(recorded) {
        tracing::error!(error = %e, "cutting a failed run's output back to its checkpoint");
    }
    error
}

/// Where the output and the job stand when the run starts.
struct Start {
    resume: Option<Position>,
    checkpoint: JobCheckpoint,
    summary: Summary,
}

impl App {
    /// Verifies every row of `input` into `output` (see the module documentation).
    pub fn verify_batch(
        &self,
        actor: &Actor,
        agreement: Agreement,
        input: &Path,
        output: &Path,
        options: &BatchOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<BatchReport, Error> {
        self.run_batch(actor, agreement, input, output, options, progress, None)?
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "{} is being written by another run of this job; wait for it to end",
                    output.display()
                ))
            })
    }

    /// [`App::verify_batch`], for a job a partner submitted (`submitted`: its record,
    /// whose files are `input` and `output`): the verdict counts of the rows each
    /// checkpoint covers go to the partner's statistics in the checkpoint's transaction.
    /// None: another process holds the output (it runs this job now), or ran the job to
    /// its end while this one waited.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_batch(
        &self,
        actor: &Actor,
        agreement: Agreement,
        input: &Path,
        output: &Path,
        options: &BatchOptions,
        progress: &(dyn Fn(Progress) + Sync),
        submitted: Option<&VerifyJob>,
    ) -> Result<Option<BatchReport>, Error> {
        self.authorize(actor, Action::VerifyIdentity, None, None)?;
        let inspected = inspect(input)?;
        let (input_key, output_key) = (absolute(input)?, absolute(output)?);
        if input_key == output_key {
            return Err(Error::Invalid("the output must not be the input".into()));
        }
        // A run of `verify-batch` resumes the running job of the same caller, files and
        // agreement (another agreement would change the output's columns mid-file).
        let agreement_code = agreement.code();
        let open_job = || {
            self.store.open_verify_job(
                &actor.username,
                &input_key,
                &inspected.fingerprint,
                &output_key,
                &agreement_code,
            )
        };
        // The output is locked before the job is looked at: a run refused because another
        // holds it changes nothing, and the job read next is the job as it is.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(output)
            .map_err(|e| io_error(output, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::Internal(format!(
                    "{}: cannot be locked (the data directory's file system must support \
                     locks): {e}",
                    output.display()
                )));
            }
        }
        let mut job = match submitted {
            Some(s) => match self.store.verify_job(s.id)? {
                Some(now) if now.status == JOB_RUNNING => now,
                // Run to its end meanwhile, by another process of the data directory.
                _ => return Ok(None),
            },
            None => open_job()?,
        };
        if submitted.is_some() && job.input_fingerprint != inspected.fingerprint {
            return Err(self.abandon(job.id, "input")?);
        }
        let existing = file.metadata().map_err(output_error)?.len();
        let mut source;
        let start = loop {
            let cp = job.checkpoint.clone();
            if cp.output_offset == 0 {
                source = Source::open(input, &inspected, None)?;
                break Start {
                    resume: None,
                    checkpoint: cp,
                    summary: Summary::default(),
                };
            }
            let summary = Summary::from_json(&cp.summary);
            if existing >= cp.output_offset
                && let Ok(summary) = summary
            {
                let at = Position {
                    offset: cp.input_offset,
                    line: cp.input_line,
                };
                source = Source::open(input, &inspected, Some(at))?;
                break Start {
                    resume: Some(at),
                    checkpoint: cp,
                    summary,
                };
            }
            // The output was cut or replaced since the checkpoint.
            let abandoned = self.abandon(job.id, "output")?;
            if submitted.is_some() {
                // A partner's job is known by its id: it cannot silently become another.
                return Err(abandoned);
            }
            // A `verify-batch` run starts over.
            job = open_job()?;
        };
        let context = Context {
            encoding: inspected.encoding,
            columns: match &source {
                Source::Csv { columns, .. } => Some(*columns),
                Source::Jsonl { .. } => None,
            },
            agreement,
            output: Format::of_output(output),
            job_detail: format!("job {}", job.id),
        };
        let Start {
            resume,
            mut checkpoint,
            mut summary,
        } = start;
        file.set_len(checkpoint.output_offset)
            .map_err(output_error)?;
        // The output's length at the last recorded checkpoint (see `cut_back`).
        let recorded = AtomicU64::new(checkpoint.output_offset);
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        writer
            .seek(SeekFrom::Start(checkpoint.output_offset))
            .map_err(output_error)?;
        let resumed_at_row = checkpoint.rows_done;
        let mut pending_audit = vec![GroupEntry::from(self.batch_audit(
            actor,
            "verify.batch.start",
            format!(
                "job {}; input {input_key}; resumed at row {resumed_at_row}",
                job.id
            ),
        ))];
        if resume.is_none() {
            let header = context.header();
            writer.write_all(&header).map_err(output_error)?;
            checkpoint.output_offset = header.len() as u64;
        }
        let mut rows_since_checkpoint = 0u64;
        // Verdicts of the rows since the last checkpoint (a partner's statistics).
        let mut verdicts = [0i64; 4];
        // Records a checkpoint whose output is on disk: its offsets, the running summary,
        // the audit entries of the rows it covers and the partner's verdict counts, in one
        // transaction.
        let record = |checkpoint: &JobCheckpoint,
                      audit: &[GroupEntry],
                      verdicts: [i64; 4],
                      status: &'static str|
         -> Result<(), Error> {
            let usage = submitted
                .and_then(|s| s.partner_id)
                .map(|partner_id| UsageDelta {
                    partner_id,
                    day: crate::limits::ict_day(dancu_store::now_millis()),
                    // The rows were charged against the quota when the job was submitted.
                    requests: 0,
                    verdicts,
                });
            Ok(self.store.checkpoint_verify_job(
                job.id,
                checkpoint,
                status,
                audit,
                usage.as_ref(),
            )?)
        };

        let in_flight_max = options.workers.max(1) * 4;
        let (work_tx, work_rx) = mpsc::channel::<RawChunk>();
        let work_rx = Mutex::new(work_rx);
        // A second descriptor of the output for the committer's fsyncs, kept open until the
        // run ends: closing any descriptor of the file would release a lock that the file
        // system keeps per process (NFS emulates `flock` with POSIX locks).
        let synced_file = writer.get_ref().try_clone().map_err(output_error)?;
        let (synced, recorded_at) = (&synced_file, &recorded);
        let outcome = std::thread::scope(|scope| -> Result<bool, Error> {
            // Checkpoints are committed on their own thread, in order: the workers keep
            // verifying meanwhile (a commit writes the audit index of 65,536 persons, and
            // the workers stood idle through it). One commit waits at most, so memory stays
            // bounded. The output is flushed before a checkpoint is sent, and fsynced
            // there before it is recorded.
            let (commit_tx, commit_rx) = mpsc::sync_channel::<Commit>(1);
            let committer = scope.spawn(move || -> Result<(), Error> {
                for c in commit_rx {
                    synced.sync_data().map_err(output_error)?;
                    record(&c.checkpoint, &c.audit, c.verdicts, JOB_RUNNING)?;
                    recorded_at.store(c.checkpoint.output_offset, Ordering::Release);
                }
                Ok(())
            });
            let verified = (|| -> Result<bool, Error> {
                // Dropped when this closure returns, which stops the workers.
                let work_tx = work_tx;
                let (done_tx, done_rx) = mpsc::channel::<Result<ChunkOut, Error>>();
                for _ in 0..options.workers.max(1) {
                    let (work_rx, done_tx, context) = (&work_rx, done_tx.clone(), &context);
                    scope.spawn(move || {
                        loop {
                            let next = work_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                            let Ok(chunk) = next else { break };
                            if done_tx
                                .send(self.verify_chunk(actor, context, chunk))
                                .is_err()
                            {
                                break;
                            }
                        }
                    });
                }
                drop(done_tx);
                let (mut read, mut written, mut eof) = (0u64, 0u64, false);
                let mut ready: BTreeMap<u64, ChunkOut> = BTreeMap::new();
                // Records of verified chunks: rows are read into them again instead of
                // each row allocating two buffers that another thread frees.
                let mut spare: Vec<csv::ByteRecord> = Vec::new();
                loop {
                    while !eof && read - written < in_flight_max as u64 {
                        match source.next_chunk(read, options.chunk_rows.max(1), &mut spare)? {
                            Some(chunk) => {
                                work_tx.send(chunk).map_err(|_| {
                                    Error::Internal("verification workers stopped".into())
                                })?;
                                read += 1;
                            }
                            None => eof = true,
                        }
                    }
                    if written == read {
                        break;
                    }
                    let mut out = done_rx
                        .recv()
                        .map_err(|_| Error::Internal("verification workers stopped".into()))??;
                    spare.append(&mut out.records);
                    ready.insert(out.seq, out);
                    while let Some(out) = ready.remove(&written) {
                        writer.write_all(&out.bytes).map_err(output_error)?;
                        written += 1;
                        summary.merge(&out.summary);
                        for v in Verdict::ALL {
                            verdicts[v as usize] += out.summary.verdict(v) as i64;
                        }
                        pending_audit.extend(out.audit);
                        checkpoint.rows_done += out.rows;
                        checkpoint.output_offset += out.bytes.len() as u64;
                        checkpoint.input_offset = out.end.offset;
                        checkpoint.input_line = out.end.line;
                        rows_since_checkpoint += out.rows;
                        if rows_since_checkpoint >= options.checkpoint_rows {
                            checkpoint.summary = summary.to_json().to_string();
                            writer.flush().map_err(output_error)?;
                            let c = Commit {
                                checkpoint: checkpoint.clone(),
                                audit: std::mem::take(&mut pending_audit),
                                verdicts: std::mem::take(&mut verdicts),
                            };
                            // A refusal means the committer failed: its error is reported below.
                            if commit_tx.send(c).is_err() {
                                return Ok(false);
                            }
                            rows_since_checkpoint = 0;
                            if submitted.is_some() && self.jobs.stopping() {
                                return Ok(true);
                            }
                        }
                        progress(Progress {
                            rows: checkpoint.rows_done,
                            input_offset: out.end.offset,
                            input_len: inspected.len,
                        });
                    }
                }
                Ok(false)
            })();
            drop(commit_tx);
            let committed = committer
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("checkpoint committer panicked".into())));
            // The committer's error first: a failed commit also stops the loop.
            committed.and(verified)
        });
        let stopped = match outcome {
            Ok(stopped) => stopped,
            Err(e) => return Err(cut_back(writer, recorded.into_inner(), e)),
        };

        let summary_path = PathBuf::from(format!("{}.summary.json", output.display()));
        let report = |summary| BatchReport {
            job_id: job.id,
            resumed_at_row,
            encoding: inspected.encoding,
            summary,
            summary_path: summary_path.clone(),
            stopped,
        };
        if stopped {
            return Ok(Some(report(summary)));
        }
        let mut doc = summary.to_json();
        doc["job"] = job.id.into();
        doc["input_encoding"] = inspected.encoding.label().into();
        checkpoint.summary = summary.to_json().to_string();
        pending_audit.push(GroupEntry::from(self.batch_audit(
            actor,
            "verify.batch.finish",
            format!("job {}; {} rows", job.id, checkpoint.rows_done),
        )));
        // The summary is in place before the job is done (a done job has one).
        let tmp = summary_path.with_extension("json.tmp");
        let finished = std::fs::write(&tmp, format!("{doc:#}\n"))
            .and_then(|()| std::fs::rename(&tmp, &summary_path))
            .and_then(|()| writer.flush())
            .and_then(|()| writer.get_ref().sync_data())
            .map_err(output_error)
            .and_then(|()| record(&checkpoint, &pending_audit, verdicts, JOB_DONE));
        match finished {
            Ok(()) => Ok(Some(report(summary))),
            Err(e) => {
                // Best effort: no summary beside an output that is not whole.
                let _ = std::fs::remove_file(&summary_path);
                Err(cut_back(writer, recorded.into_inner(), e))
            }
        }
    }

    /// Marks job `id` abandoned because its `file` (input or output) was changed under it,
    /// with the reason; returns the error to report to its partner.
    fn abandon(&self, id: i64, file: &str) -> Result<Error, Error> {
        let reason = format!("job {id}: its {file} file was changed; submit the file again");
        self.store.abandon_verify_job(id, &reason)?;
        Ok(Error::Conflict(reason))
    }

    fn batch_audit(&self, actor: &Actor, action: &str, detail: String) -> AuditEntry {
        AuditEntry {
            detail: Some(detail),
            ..self.audit_entry(actor, action, None, Some("data_cleansing"), "ok")
        }
    }

    /// Parses, looks up (one multi-get) and compares one chunk.
    fn verify_chunk(
        &self,
        actor: &Actor,
        context: &Context,
        chunk: RawChunk,
    ) -> Result<ChunkOut, Error> {
        // Each row's line, `ref`, ID number (read or not) and fields.
        let requests: Vec<(u64, Cow<str>, Result<_, Invalid>, RequestText)> = chunk
            .rows
            .iter()
            .map(|&(line, ref raw)| {
                let (reference, request) = context.request(raw);
                match request {
                    Ok(r) => (line, reference, parse_id(&r), r),
                    Err(inv) => (line, reference, Err(inv), RequestText::default()),
                }
            })
            .collect();
        let people = People::fetch(
            &self.store,
            requests
                .iter()
                .filter_map(|(_, _, key, _)| key.as_ref().ok()),
        )?;
        let mut bytes = context.output_buffer(requests.len());
        let mut summary = Summary::default();
        let mut persons = Vec::with_capacity(requests.len());
        let rows = requests.len() as u64;
        for (line, reference, key, request) in requests {
            let v = verify_request(key, &request, &people, context.agreement);
            context.write_row(&mut bytes, line, &reference, &v);
            summary.add(&v);
            if let Some(person) = v.person {
                persons.push((v.verdict.as_str(), person));
            }
        }
        // One chained entry for the chunk's persons, not one per row: per-person entries
        // (eleven columns, two indexes, a hash each) cost three quarters of the lookups.
        let audit = (!persons.is_empty()).then(|| {
            let entry = AuditEntry {
                detail: Some(context.job_detail.clone()),
                ..self.audit_entry(actor, "verify.batch", None, Some("verification"), "ok")
            };
            GroupEntry::new(entry, persons)
        });
        let (seq, end) = (chunk.seq, chunk.end);
        Ok(ChunkOut {
            seq,
            rows,
            records: chunk.into_records().collect(),
            bytes,
            summary,
            audit,
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the `csv` crate writes for a record (the writer the output used before).
    fn csv_crate(fields: &[String]) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(fields).expect("writing to memory");
        w.into_inner().expect("writing to memory")
    }

    fn csv_context() -> Context {
        Context {
            encoding: SourceEncoding::Utf8,
            columns: Some(Columns {
                reference: 0,
                personal_id: 1,
                fields: [Some(2), Some(3), None],
            }),
            agreement: Agreement::default(),
            output: Format::Csv,
            job_detail: String::new(),
        }
    }

    /// A UTF-8 record is validated whole: its fields come out as NFC text, and a field
    /// whose bytes are valid only together with its neighbour's (a character cut by the
    /// comma) is refused, naming its column.
    #[test]
    fn csv_fields_are_nfc_and_a_character_cut_by_a_comma_is_refused() {
        let context = csv_context();
        let record = |fields: &[&[u8]]| RawRow::Csv(csv::ByteRecord::from(fields.to_vec()));
        let good = record(&[
            b"r1",
            b"079085001234",
            "Le\u{302}\u{300} Va\u{306}n".as_bytes(),
            b"1985",
        ]);
        let (reference, request) = context.request(&good);
        let request = request.expect("a readable row");
        assert_eq!(reference, "r1");
        assert_eq!(request.personal_id, "079085001234");
        assert_eq!(request.full_name.as_deref(), Some("Lề Văn"));
        assert_eq!(request.gender, None);
        // "é" is C3 A9: the name ends with its first byte, the date starts with the other.
        let cut = record(&[b"r2", b"079085001234", b"Le\xC3", b"\xA91985"]);
        let (reference, request) = context.request(&cut);
        assert_eq!(reference, "r2");
        let refused = request.expect_err("a cut character");
        assert_eq!(refused.kind, "invalid.row");
        assert_eq!(refused.reason, "column 3: not valid UTF-8");
        // A bad byte in a column no one reads: the row is read field by field, and its
        // fields are fine.
        let extra = record(&[
            b"r3",
            b"079085001234",
            "Lê Văn".as_bytes(),
            b"1985",
            b"\xFF",
        ]);
        let (_, request) = context.request(&extra);
        let request = request.expect("the columns read are valid");
        assert_eq!(request.full_name.as_deref(), Some("Lê Văn"));
        assert_eq!(request.date_of_birth.as_deref(), Some("1985"));
    }

    proptest! {
        /// The hand-written output rows are byte for byte what the `csv` crate writes,
        /// quotes, commas, line breaks and Vietnamese text included (two fields or more,
        /// as every output row has).
        #[test]
        fn output_fields_are_written_as_the_csv_crate_writes_them(
            fields in prop::collection::vec("[a-zA-Z0-9 ,\"\r\n;ăđơư'-]{0,12}", 2..10)
        ) {
            let mut out = Vec::new();
            push_csv_fields(&mut out, fields.iter().map(String::as_str));
            out.push(b'\n');
            prop_assert_eq!(out, csv_crate(&fields));
        }
    }
}
