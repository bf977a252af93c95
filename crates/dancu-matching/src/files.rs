//! `dancu link`: the contract's registry and records files in, the decisions file out.
//! Records stream through in chunks linked in parallel; the output keeps input order.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::engine::{Context, Decision, Linker, Outcome, Thresholds};
use crate::person::{Fields, Record, Registry};

/// Records the weights are fitted on (the first of the file).
const TRAINING_RECORDS: usize = 20_000;
/// Records read (and linked) per step.
const CHUNK: usize = 8_192;
/// Refused registry rows reported one by one; the rest are only counted.
const REPORTED_REFUSALS: usize = 20;

/// A file-level failure (a bad row never is one).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Csv { path: String, source: csv::Error },
    #[error("{path}: missing column {column:?} in the header")]
    MissingColumn { path: String, column: &'static str },
}

/// What a run did.
#[derive(Debug, Default)]
pub struct LinkSummary {
    pub registry_persons: usize,
    /// Refused registry rows: the first few as `(line, reason)`, and their count.
    pub registry_refused: Vec<(u64, String)>,
    pub registry_refused_count: usize,
    pub link: usize,
    pub review: usize,
    pub new: usize,
    pub invalid: usize,
    /// The fitted weights, one line per field.
    pub model: String,
    /// Wall time of each step of the run, in order.
    pub phases: Vec<(&'static str, Duration)>,
}

const FIELDS: [&str; 6] = [
    "full_name",
    "date_of_birth",
    "gender",
    "commune_code",
    "father_name",
    "mother_name",
];

/// Column positions of the key and [`FIELDS`].
struct Columns([usize; 7]);

impl Columns {
    fn find(headers: &csv::ByteRecord, key: &'static str, path: &str) -> Result<Self, LinkError> {
        let names: Vec<String> = headers
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_owned()
            })
            .collect();
        let mut cols = [0; 7];
        for (slot, column) in cols.iter_mut().zip(std::iter::once(key).chain(FIELDS)) {
            *slot =
                names
                    .iter()
                    .position(|n| n == column)
                    .ok_or_else(|| LinkError::MissingColumn {
                        path: path.to_owned(),
                        column,
                    })?;
        }
        Ok(Columns(cols))
    }

    /// The row's fields as text; `Err` names the first one that is not UTF-8.
    fn texts<'a>(&self, row: &'a csv::ByteRecord) -> Result<[&'a str; 7], String> {
        let mut out = [""; 7];
        for (i, (slot, &col)) in out.iter_mut().zip(&self.0).enumerate() {
            let bytes = row.get(col).unwrap_or_default();
            *slot = std::str::from_utf8(bytes).map_err(|_| {
                let name = if i == 0 { "key" } else { FIELDS[i - 1] };
                format!("{name} is not UTF-8")
            })?;
        }
        Ok(out)
    }
}

fn fields<'a>(t: &[&'a str; 7]) -> Fields<'a> {
    Fields {
        full_name: t[1],
        date_of_birth: t[2],
        gender: t[3],
        commune_code: t[4],
        father_name: t[5],
        mother_name: t[6],
    }
}

fn reader(path: &Path) -> Result<csv::Reader<BufReader<File>>, LinkError> {
    let file = File::open(path).map_err(|source| LinkError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file)))
}

fn csv_error(path: &Path) -> impl Fn(csv::Error) -> LinkError + '_ {
    move |source| LinkError::Csv {
        path: path.display().to_string(),
        source,
    }
}

/// Rows a registry chunk carries from the CSV thread to the interning one.
const REGISTRY_CHUNK: usize = 16_384;

/// Reads the registry file; bad rows are refused and reported, never fatal. CSV
/// parsing runs on its own thread, streaming chunks of rows to the thread that interns
/// them (the two halves cost about the same; a 10M-person file is ~1 GB).
pub fn read_registry(path: &Path, summary: &mut LinkSummary) -> Result<Registry, LinkError> {
    let mut rd = reader(path)?;
    let cols = Columns::find(
        rd.byte_headers().map_err(csv_error(path))?,
        "personal_id",
        &path.display().to_string(),
    )?;
    // Rows are ~90 bytes (ids, three names, a date, a commune); room for shorter ones.
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut reg = Registry::with_capacity((bytes / 64) as usize);
    // Full chunks go one way, emptied ones come back to be refilled: no per-row
    // allocation once the first few chunks exist.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<csv::ByteRecord>, usize)>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<csv::ByteRecord>>();
    std::thread::scope(|s| {
        let parser = s.spawn(move || -> Result<(), LinkError> {
            loop {
                let mut chunk = empty_rx.try_recv().unwrap_or_default();
                chunk.resize_with(REGISTRY_CHUNK, csv::ByteRecord::new);
                let mut n = 0;
                while n < REGISTRY_CHUNK
                    && rd
                        .read_byte_record(&mut chunk[n])
                        .map_err(csv_error(path))?
                {
                    n += 1;
                }
                let last = n < REGISTRY_CHUNK;
                if n > 0 && full_tx.send((chunk, n)).is_err() {
                    return Ok(());
                }
                if last {
                    return Ok(());
                }
            }
        });
        for (chunk, n) in full_rx {
            for row in &chunk[..n] {
                let result = cols.texts(row).and_then(|t| reg.push(t[0], &fields(&t)));
                if let Err(reason) = result {
                    summary.registry_refused_count += 1;
                    if summary.registry_refused.len() < REPORTED_REFUSALS {
                        let line = row.position().map_or(0, |p| p.line());
                        summary.registry_refused.push((line, reason));
                    }
                }
            }
            // The parser may have finished: then the chunk is simply dropped.
            let _ = empty_tx.send(chunk);
        }
        parser.join().expect("registry parser thread panicked")
    })?;
    summary.registry_persons = reg.len();
    Ok(reg)
}

/// One records row: its id and the parsed record or why it is refused.
type Parsed = (String, Result<Record, String>);

fn parse_row(reg: &Registry, cols: &Columns, row: &csv::ByteRecord) -> Parsed {
    match cols.texts(row) {
        Err(e) => (
            String::from_utf8_lossy(row.get(cols.0[0]).unwrap_or_default()).into_owned(),
            Err(e),
        ),
        Ok(t) => {
            let id = t[0].trim().to_owned();
            if id.is_empty() {
                return (id, Err("record_id is empty".into()));
            }
            (id, reg.record(&fields(&t)))
        }
    }
}

/// Records a linking thread takes at a time: small enough that the threads finish a
/// chunk together, large enough that taking costs nothing.
const SLICE: usize = 256;

/// Parses and links `rows` on `threads` threads, each taking the next slice of rows
/// until none is left; outputs in input order.
fn link_chunk(
    linker: &Linker,
    cols: &Columns,
    rows: &[csv::ByteRecord],
    threads: usize,
) -> Vec<(String, Outcome)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Vec<(String, Outcome)>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut cx = Context::default();
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i * SLICE >= rows.len() {
                            return out;
                        }
                        let part = &rows[i * SLICE..rows.len().min((i + 1) * SLICE)];
                        let linked = part.iter().map(|row| {
                            let (id, rec) = parse_row(&linker.registry, cols, row);
                            let outcome = match rec {
                                Ok(rec) => linker.link(&rec, &mut cx),
                                Err(reason) => Outcome {
                                    decision: Decision::Invalid,
                                    person: None,
                                    score: f64::NAN,
                                    explanation: reason,
                                },
                            };
                            (id, outcome)
                        });
                        out.push((i, linked.collect()));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("linking thread panicked"))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().flat_map(|(_, part)| part).collect()
}

/// Links every record of `records` to `registry`, writing `output`
/// (`record_id,personal_id,score,decision,explanation`).
pub fn link_files(
    registry: &Path,
    records: &Path,
    output: &Path,
    thresholds: Thresholds,
    threads: usize,
) -> Result<LinkSummary, LinkError> {
    let mut summary = LinkSummary::default();
    let mut phase = Instant::now();
    let reg = read_registry(registry, &mut summary)?;
    summary.phases.push(("read registry", phase.elapsed()));
    let mut rd = reader(records)?;
    let cols = Columns::find(
        rd.byte_headers().map_err(csv_error(records))?,
        "record_id",
        &records.display().to_string(),
    )?;
    let read_chunk = |rd: &mut csv::Reader<BufReader<File>>, n: usize| {
        let mut rows = Vec::with_capacity(n.min(CHUNK));
        let mut row = csv::ByteRecord::new();
        while rows.len() < n && rd.read_byte_record(&mut row).map_err(csv_error(records))? {
            rows.push(row.clone());
        }
        Ok::<_, LinkError>(rows)
    };
    let first = read_chunk(&mut rd, TRAINING_RECORDS)?;
    let training: Vec<Record> = first
        .iter()
        .filter_map(|row| parse_row(&reg, &cols, row).1.ok())
        .collect();
    let mut linker = Linker::new(reg, &training, threads);
    linker.thresholds = thresholds;
    summary.model = linker.model.describe();
    summary.phases.extend(linker.phases.iter().copied());
    phase = Instant::now();
    drop(training);

    let out_file = File::create(output).map_err(|source| LinkError::Io {
        path: output.display().to_string(),
        source,
    })?;
    let mut out = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, out_file));
    let write_error = csv_error(output);
    out.write_record([
        "record_id",
        "personal_id",
        "score",
        "decision",
        "explanation",
    ])
    .map_err(&write_error)?;
    let mut write = |linked: Vec<(String, Outcome)>| -> Result<(), LinkError> {
        for (id, o) in linked {
            match o.decision {
                Decision::Link => summary.link += 1,
                Decision::Review => summary.review += 1,
                Decision::New => summary.new += 1,
                Decision::Invalid => summary.invalid += 1,
            }
            let pid = o
                .person
                .map_or("", |p| linker.registry.personal_id(p as usize));
            let score = if o.score.is_nan() {
                String::new()
            } else {
                format!("{:.2}", o.score)
            };
            out.write_record([
                id.as_str(),
                pid,
                &score,
                o.decision.as_str(),
                &o.explanation,
            ])
            .map_err(&write_error)?;
        }
        Ok(())
    };
    // While the linking threads work on one chunk, this thread writes the chunk before
    // and reads the next: the linking threads never wait for the files.
    let mut rows = first;
    let mut linked = Vec::new();
    while !rows.is_empty() {
        let (done, next) = std::thread::scope(|s| {
            let worker = s.spawn(|| link_chunk(&linker, &cols, &rows, threads));
            write(std::mem::take(&mut linked))?;
            let next = read_chunk(&mut rd, CHUNK)?;
            let done = worker.join().expect("linking thread panicked");
            Ok::<_, LinkError>((done, next))
        })?;
        linked = done;
        rows = next;
    }
    write(linked)?;
    let mut inner = out.into_inner().map_err(|e| LinkError::Io {
        path: output.display().to_string(),
        source: e.into_error(),
    })?;
    inner.flush().map_err(|source| LinkError::Io {
        path: output.display().to_string(),
        source,
    })?;
    summary.phases.push(("link records", phase.elapsed()));
    Ok(summary)
}
