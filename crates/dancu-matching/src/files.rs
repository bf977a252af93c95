//! `dancu link`: the contract's registry and records files in, the decisions file out.
//! Records stream through in chunks linked in parallel; the output keeps input order.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use dancu_domain::row_lines::LineTap;

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
        // The fields lie end to end in the row's buffer: one check of the whole row
        // (~14 ns a field otherwise, 70M fields in a 10M-person file), then each field
        // is a slice of it if it starts and ends on a character boundary.
        if let Ok(all) = std::str::from_utf8(row.as_slice()) {
            let field = |col| row.range(col).map_or(Some(""), |r| all.get(r));
            let mut out = [""; 7];
            if out
                .iter_mut()
                .zip(&self.0)
                .all(|(slot, &col)| field(col).map(|t| *slot = t).is_some())
            {
                return Ok(out);
            }
        }
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

/// Bytes that passed through a reader: its newlines and quotes.
struct Counting<R> {
    inner: R,
    newlines: u64,
    quotes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.newlines += u64::from(b == b'\n');
            self.quotes += u64::from(b == b'"');
        }
        Ok(n)
    }
}

/// One part of the registry file read on its own: its persons (word ids of its own
/// interner), its refused rows (lines counted from the part's start), its newlines
/// and whether it held a quote.
struct Part {
    reg: Registry,
    refused: Vec<(u64, String)>,
    refused_count: usize,
    newlines: u64,
    quotes: bool,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> LinkError + '_ {
    move |source| LinkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the rows of `path` from byte `start` to `end` (row boundaries).
fn read_part(path: &Path, cols: &Columns, start: u64, end: u64) -> Result<Part, LinkError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(start)).map_err(io_error(path))?;
    let counting = Counting {
        inner: file.take(end - start),
        newlines: 0,
        quotes: 0,
    };
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(BufReader::with_capacity(1 << 20, counting));
    // Rows are ~90 bytes (ids, three names, a date, a commune); room for shorter ones.
    let mut part = Part {
        reg: Registry::with_capacity(((end - start) / 64) as usize),
        refused: Vec::new(),
        refused_count: 0,
        newlines: 0,
        quotes: false,
    };
    let mut row = csv::ByteRecord::new();
    while rd.read_byte_record(&mut row).map_err(csv_error(path))? {
        let result = cols
            .texts(&row)
            .and_then(|t| part.reg.push(t[0], &fields(&t)));
        if let Err(reason) = result {
            part.refused_count += 1;
            if part.refused.len() < REPORTED_REFUSALS {
                let at = row.position().map_or(0, |p| p.byte());
                part.refused.push((at, reason));
            }
        }
    }
    let counting = rd.into_inner().into_inner();
    part.newlines = counting.newlines;
    part.quotes = counting.quotes > 0;
    let at: Vec<u64> = part.refused.iter().map(|r| start + r.0).collect();
    for (r, line) in part.refused.iter_mut().zip(lines_at(path, start, &at)?) {
        r.0 = line;
    }
    Ok(part)
}

/// The line, counted from 1 at byte `start`, of the row at each of the ascending byte
/// offsets `at` that the CSV reader gave (not the reader's own line number, which is
/// wrong after a CRLF or a blank line: see `dancu_domain::row_lines`).
fn lines_at(path: &Path, start: u64, at: &[u64]) -> Result<Vec<u64>, LinkError> {
    if at.is_empty() {
        return Ok(Vec::new());
    }
    let mut file = File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(start)).map_err(io_error(path))?;
    let mut tap = LineTap::new(file, start, 1);
    let mut scratch = vec![0u8; 1 << 16];
    let mut lines = Vec::with_capacity(at.len());
    for &offset in at {
        lines.push(loop {
            if let Some(line) = tap.row_line(offset) {
                break line;
            }
            tap.read(&mut scratch).map_err(io_error(path))?;
        });
    }
    Ok(lines)
}

/// Where the row holding byte `at` ends: just past the next newline (or the end).
fn next_row(path: &Path, at: u64) -> Result<u64, LinkError> {
    let mut file = BufReader::new(File::open(path).map_err(io_error(path))?);
    file.seek(SeekFrom::Start(at)).map_err(io_error(path))?;
    let mut skipped = Vec::new();
    let n = file
        .read_until(b'\n', &mut skipped)
        .map_err(io_error(path))?;
    Ok(at + n as u64)
}

/// Reads the registry file; bad rows are refused and reported, never fatal. The file
/// (~1 GB for 10M persons) is cut at newlines into one part per thread, each parsed and
/// interned on its own; the parts are then joined in file order, which gives every
/// word the id a reading from start to end would. A quote anywhere may hide a newline
/// inside a field: such a file is read again as one part.
pub fn read_registry(
    path: &Path,
    summary: &mut LinkSummary,
    threads: usize,
) -> Result<Registry, LinkError> {
    let mut rd = reader(path)?;
    let cols = Columns::find(
        rd.byte_headers().map_err(csv_error(path))?,
        "personal_id",
        &path.display().to_string(),
    )?;
    let start = rd.position().byte();
    drop(rd);
    let len = std::fs::metadata(path).map_err(io_error(path))?.len();
    let size = len.saturating_sub(start);
    let mut bounds = vec![start];
    for k in 1..threads.max(1) as u64 {
        let at = next_row(path, (start + size * k / threads as u64).saturating_sub(1))?;
        bounds.push(at.max(*bounds.last().expect("a start")));
    }
    bounds.push(len.max(start));
    let read = |bounds: &[u64]| -> Result<Vec<Part>, LinkError> {
        std::thread::scope(|s| {
            let handles: Vec<_> = bounds
                .windows(2)
                .map(|w| s.spawn(|| read_part(path, &cols, w[0], w[1])))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("registry reading thread panicked"))
                .collect()
        })
    };
    let mut parts = read(&bounds)?;
    if parts.len() > 1 && parts.iter().any(|p| p.quotes) {
        parts = read(&[start, len.max(start)])?;
    }
    // Lines before each part: the header's, then each part's newlines.
    let mut header = Vec::new();
    File::open(path)
        .and_then(|f| f.take(start).read_to_end(&mut header))
        .map_err(io_error(path))?;
    let mut lines = header.iter().filter(|&&b| b == b'\n').count() as u64;
    let mut reg: Option<Registry> = None;
    for part in parts {
        for (line, reason) in part.refused {
            if summary.registry_refused.len() < REPORTED_REFUSALS {
                summary.registry_refused.push((lines + line, reason));
            }
        }
        summary.registry_refused_count += part.refused_count;
        lines += part.newlines;
        match &mut reg {
            None => reg = Some(part.reg),
            Some(reg) => reg.append(part.reg),
        }
    }
    let reg = reg.expect("one part at least");
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
    let reg = read_registry(registry, &mut summary, threads)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[&[u8]]) -> csv::ByteRecord {
        let mut r = csv::ByteRecord::new();
        for f in fields {
            r.push_field(f);
        }
        r
    }

    /// Everything a registry holds, by person, with each word spelt and its ids.
    fn contents(reg: &Registry) -> Vec<String> {
        (0..reg.len())
            .map(|i| {
                let p = &reg.people[i];
                let words: Vec<String> = [p.name, p.father, p.mother]
                    .iter()
                    .flat_map(|&s| reg.name(s).iter())
                    .map(|&w| {
                        format!(
                            "{w}:{}:{}",
                            reg.ix.canon[w as usize], reg.ix.fold_of[w as usize]
                        )
                    })
                    .collect();
                format!(
                    "{} {words:?} {} {} {}",
                    reg.personal_id(i),
                    p.dob,
                    p.commune,
                    p.gender
                )
            })
            .collect()
    }

    #[test]
    fn a_registry_read_in_parts_is_the_registry_read_at_once() {
        let commune = dancu_domain::units::UnitCatalog::embedded()
            .communes(dancu_domain::units::Structure::Y2025)
            .next()
            .unwrap()
            .code
            .clone();
        let names = [
            "Nguyễn Văn Hùng",
            "LÊ THỊ HOÀ",
            "Trần Hòa",
            "Phạm Thị Lan",
            "Võ Ksor",
        ];
        let mut text = String::from(
            "personal_id,full_name,date_of_birth,gender,commune_code,father_name,mother_name\n",
        );
        for i in 0..500 {
            if i % 97 == 5 {
                // Refused: a digit in a name; its line must be reported as such.
                text.push_str(&format!("B{i},Lê V4n,1990-01-01,M,{commune},,\n"));
            } else if i % 89 == 7 {
                text.push('\n');
            }
            text.push_str(&format!(
                "P{i},{} {},19{:02}-01-0{},{},{commune},{},{}\n",
                names[i % 5],
                names[i * 7 % 5].rsplit(' ').next().unwrap(),
                i % 100,
                1 + i % 9,
                ["M", "F"][i % 2],
                names[(i + 1) % 5],
                names[(i + 3) % 5]
            ));
        }
        let dir = std::env::temp_dir().join(format!("dancu-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let read = |text: &str, threads| {
            let path = dir.join("registry.csv");
            std::fs::write(&path, text).unwrap();
            let mut summary = LinkSummary::default();
            let reg = read_registry(&path, &mut summary, threads).unwrap();
            (
                contents(&reg),
                summary.registry_refused,
                summary.registry_refused_count,
            )
        };
        let once = read(&text, 1);
        assert_eq!(once.0.len(), 500);
        assert_eq!(once.2, 6);
        // Line 7: the header, five persons, then the first refused row; the blank lines
        // count too.
        let lines = |r: &[(u64, String)]| r.iter().map(|l| l.0).collect::<Vec<_>>();
        assert_eq!(lines(&once.1), [7, 107, 206, 305, 404, 503]);
        for threads in [2, 3, 7] {
            assert_eq!(read(&text, threads), once, "{threads} threads");
        }
        // Windows line ends: the same persons, refused rows at the same lines.
        let crlf = text.replace('\n', "\r\n");
        for threads in [1, 3] {
            let got = read(&crlf, threads);
            assert_eq!(lines(&got.1), lines(&once.1), "CRLF, {threads} threads");
            assert!(got == once, "CRLF, {threads} threads: other persons");
        }
        // A quoted field holding a newline: read as one part, still the same persons.
        let quoted = text.replacen("P3,", "\"P\n3\",", 1);
        let (people, _, refused) = read(&quoted, 3);
        assert_eq!((people.len(), refused), (500, 6));
        assert!(people[3].starts_with("P\n3 "), "{}", people[3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fields_are_text_only_when_each_one_is() {
        let cols = Columns([0, 1, 2, 3, 4, 5, 6]);
        let ok = row(&[
            b"P1",
            "Lê Văn An".as_bytes(),
            b"1990",
            b"M",
            b"00004",
            b"",
            b"",
        ]);
        assert_eq!(cols.texts(&ok).unwrap()[..3], ["P1", "Lê Văn An", "1990"]);
        // "ê" is C3 AA: the name ends with its first byte, the date starts with the
        // second; the row's buffer as a whole is valid UTF-8.
        let cut = row(&[b"P1", b"L\xC3", b"\xAA1990", b"M", b"00004", b"", b""]);
        assert!(std::str::from_utf8(cut.as_slice()).is_ok());
        assert_eq!(cols.texts(&cut), Err("full_name is not UTF-8".into()));
        let bad = row(&[b"P1", b"An", b"1990", b"M", b"00004", b"\xFF", b""]);
        assert_eq!(cols.texts(&bad), Err("father_name is not UTF-8".into()));
        // A short row: the missing fields are empty.
        assert_eq!(cols.texts(&row(&[b"P1", b"An"])).unwrap()[1..3], ["An", ""]);
    }
}
