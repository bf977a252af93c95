//! Civil-status digitization (số hóa sổ hộ tịch): register books of a commune, the
//! scans of their pages, entries typed from the pages and checked, the linking of
//! entries to registry persons with a review queue (`link.rs`), and progress.
//!
//! Scope: a book belongs to the commune written on it, in the unit structure of its
//! time; an account reaches it when that commune is inside its unit (an old commune is
//! inside when any commune it became is). Reading entries or scans is audited.

pub mod blobs;
mod link;
pub mod s3;

use dancu_domain::row_lines::RowLines;
use std::collections::BTreeMap;

use dancu_domain::PartialDate;
use dancu_domain::text::validate_name;
use dancu_domain::units::{Level, Structure};
use dancu_store::civil::{
    BookCounts, BookFields, BookRecord, EntryFields, EntryRecord, ScanRecord,
};
use serde::{Deserialize, Serialize};

pub use link::{LinkRun, ReviewItem};

use crate::citizens::{Audited, civil_from_days, today};
use crate::import::RejectedRow;
use crate::policy::{self, Action, Actor, Target};
use crate::{App, Error};
use blobs::{MAX_SCAN_BYTES, content_key, sniff_scan};

/// Register book types.
pub const BOOK_KINDS: [&str; 3] = ["birth", "death", "marriage"];

/// A book to create, as the API and CLI give it.
#[derive(Debug, Clone, Deserialize)]
pub struct BookRequest {
    pub kind: String,
    pub commune_code: String,
    /// `2025` or `pre2025`: the structure the commune code belongs to (the book's time).
    #[serde(default = "default_structure")]
    pub structure: String,
    pub year_from: i32,
    pub year_to: i32,
    pub pages: i64,
}

fn default_structure() -> String {
    "2025".into()
}

/// An entry as typed (API body or CSV row): text fields, validated per book type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    pub page: Option<i64>,
    pub registration_number: Option<String>,
    pub registration_date: Option<String>,
    pub full_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub gender: Option<String>,
    pub place: Option<String>,
    pub father_name: Option<String>,
    pub mother_name: Option<String>,
    pub event_date: Option<String>,
    pub spouse_name: Option<String>,
    pub spouse_date_of_birth: Option<String>,
}

/// CSV columns of an entries file (header row; extra columns are ignored).
pub const ENTRY_COLUMNS: [&str; 12] = [
    "page",
    "registration_number",
    "registration_date",
    "full_name",
    "date_of_birth",
    "gender",
    "place",
    "father_name",
    "mother_name",
    "event_date",
    "spouse_name",
    "spouse_date_of_birth",
];

#[derive(Debug, Clone, Serialize)]
pub struct EntryImportReport {
    pub imported: usize,
    pub entry_ids: Vec<i64>,
    pub rejected: Vec<RejectedRow>,
}

/// Progress of a book or a group of books.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Progress {
    pub books: i64,
    pub pages: i64,
    pub pages_scanned: i64,
    pub entries_typed: i64,
    pub entries_checked: i64,
    pub entries_linked: i64,
    pub entries_new: i64,
    pub entries_needs_review: i64,
    pub entries_reviewed: i64,
    /// Pages scanned over pages, in percent.
    pub percent_scanned: f64,
    /// Entries decided (linked or new) over entries typed, in percent.
    pub percent_linked: f64,
    /// Pages scanned per day over the pace window.
    pub pages_per_day: f64,
    /// When the last page is scanned at that pace (`None`: no pace, work left).
    pub projected_completion: Option<PartialDate>,
    /// The projection falls after the target date, or there is no pace and work left.
    pub at_risk: bool,
    #[serde(skip)]
    recent: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgressRow {
    /// Book id, commune code or province code.
    pub key: String,
    #[serde(flatten)]
    pub progress: Progress,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgressReport {
    pub unit: String,
    pub target_date: Option<PartialDate>,
    pub pace_days: u32,
    pub total: Progress,
    pub by_province: Vec<ProgressRow>,
    pub by_commune: Vec<ProgressRow>,
    pub by_book: Vec<ProgressRow>,
}

impl Progress {
    fn add(&mut self, c: &BookCounts) {
        self.books += 1;
        self.pages += c.pages;
        self.pages_scanned += c.pages_scanned;
        self.recent += c.pages_scanned_recently;
        self.entries_typed += c.entries_typed;
        self.entries_checked += c.entries_checked;
        self.entries_linked += c.entries_linked;
        self.entries_new += c.entries_new;
        self.entries_needs_review += c.entries_needs_review;
        self.entries_reviewed += c.entries_reviewed;
    }

    /// Percentages and the projection at the pace of the last `days` days.
    fn finish(&mut self, days: u32, today_days: i64, target: Option<PartialDate>) {
        let pct = |n: i64, d: i64| {
            if d == 0 {
                0.0
            } else {
                (n as f64 * 1000.0 / d as f64).round() / 10.0
            }
        };
        self.percent_scanned = pct(self.pages_scanned, self.pages);
        self.percent_linked = pct(self.entries_linked + self.entries_new, self.entries_typed);
        self.pages_per_day = self.recent as f64 / f64::from(days.max(1));
        let left = (self.pages - self.pages_scanned).max(0);
        self.projected_completion = if left == 0 {
            Some(date_of_days(today_days))
        } else if self.pages_per_day > 0.0 {
            let more = (left as f64 / self.pages_per_day).ceil() as i64;
            Some(date_of_days(today_days + more))
        } else {
            None
        };
        self.at_risk = match (target, self.projected_completion) {
            (_, _) if left == 0 => false,
            (Some(t), Some(p)) => p.earliest() > t.latest(),
            (Some(_), None) => true,
            (None, p) => p.is_none(),
        };
    }
}

fn date_of_days(days: i64) -> PartialDate {
    let (y, m, d) = civil_from_days(days);
    PartialDate::Full(y, m, d)
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

/// A name field: required or optional, canonical NFC.
fn name_field(what: &str, v: &Option<String>, required: bool) -> Result<Option<String>, String> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None if required => Err(format!("{what}: empty")),
        None => Ok(None),
        Some(s) => validate_name(s)
            .map(Some)
            .map_err(|e| format!("{what}: {e}")),
    }
}

fn date_field(
    what: &str,
    v: &Option<String>,
    required: bool,
) -> Result<Option<PartialDate>, String> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None if required => Err(format!("{what}: empty")),
        None => Ok(None),
        Some(s) => PartialDate::parse(s)
            .map(Some)
            .map_err(|e| format!("{what}: {e}")),
    }
}

fn text_field(what: &str, v: &Option<String>, max: usize) -> Result<Option<String>, String> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => Err(format!(
            "{what}: at most {max} characters, no control characters"
        )),
        Some(s) => Ok(Some(dancu_domain::text::nfc(s))),
    }
}

/// Validates an entry against its book: the fields its type requires, names, dates that
/// can be (none after registration, registration within the book's years, none in the
/// future).
pub fn validate_entry(book: &BookRecord, e: &EntryInput) -> Result<EntryFields, String> {
    let page = e.page.ok_or("page: empty")?;
    if page < 1 || page > book.fields.pages {
        return Err(format!(
            "page: {page} is not a page of this book (1-{})",
            book.fields.pages
        ));
    }
    let registration_number = text_field("registration_number", &e.registration_number, 32)?
        .ok_or("registration_number: empty")?;
    let birth = book.fields.kind == "birth";
    let registration_date = date_field("registration_date", &e.registration_date, true)?;
    let gender = match e.gender.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None if birth => return Err("gender: empty".into()),
        None => None,
        Some(g) => Some(
            dancu_domain::Gender::parse(g)
                .ok_or_else(|| format!("gender: {g:?} is not M or F"))?
                .code()
                .to_owned(),
        ),
    };
    let f = EntryFields {
        page,
        registration_number,
        registration_date,
        full_name: name_field("full_name", &e.full_name, true)?.unwrap_or_default(),
        date_of_birth: date_field("date_of_birth", &e.date_of_birth, birth)?,
        gender,
        event_date: date_field("event_date", &e.event_date, book.fields.kind == "death")?,
        place: text_field("place", &e.place, 200)?,
        father_name: name_field("father_name", &e.father_name, false)?,
        mother_name: name_field("mother_name", &e.mother_name, false)?,
        spouse_name: name_field(
            "spouse_name",
            &e.spouse_name,
            book.fields.kind == "marriage",
        )?,
        spouse_date_of_birth: date_field("spouse_date_of_birth", &e.spouse_date_of_birth, false)?,
    };
    let reg = f.registration_date.ok_or("registration_date: empty")?;
    if reg.year() < book.fields.year_from || reg.year() > book.fields.year_to {
        return Err(format!(
            "registration_date: {reg} is outside the book's years {}-{}",
            book.fields.year_from, book.fields.year_to
        ));
    }
    let now = today().latest();
    for (what, d) in [
        ("date_of_birth", f.date_of_birth),
        ("event_date", f.event_date),
        ("spouse_date_of_birth", f.spouse_date_of_birth),
        ("registration_date", f.registration_date),
    ] {
        if let Some(d) = d {
            if d.earliest() > now {
                return Err(format!("{what}: {d} is in the future"));
            }
            if what != "registration_date" && d.earliest() > reg.latest() {
                return Err(format!("{what}: {d} is after the registration date {reg}"));
            }
        }
    }
    if let (Some(b), Some(ev)) = (f.date_of_birth, f.event_date)
        && b.earliest() > ev.latest()
    {
        return Err(format!("date_of_birth: {b} is after event_date {ev}"));
    }
    Ok(f)
}

impl App {
    fn book_target(book: &BookRecord) -> Target<'_> {
        Target {
            structure: Structure::parse(&book.fields.unit_structure).unwrap_or(Structure::Y2025),
            code: &book.fields.commune_code,
        }
    }

    /// A book the actor may do `action` on; another unit's book is refused (and the
    /// refusal audited), a missing one is 404.
    pub(crate) fn book_for(
        &self,
        actor: &Actor,
        action: Action,
        id: i64,
    ) -> Result<BookRecord, Error> {
        self.authorize(actor, action, None, None)?;
        let book = self.store.book(id)?.ok_or(Error::NotFound)?;
        self.authorize(actor, action, Some(Self::book_target(&book)), None)?;
        Ok(book)
    }

    fn civil_audit(&self, actor: &Actor, action: &str, detail: String) -> crate::AuditTicket {
        let mut e = self.audit_entry(actor, action, None, None, "ok");
        e.detail = Some(detail);
        self.audit.record(e)
    }

    /// Creates a register book of a commune (in the structure of its time).
    pub fn create_book(&self, actor: &Actor, r: &BookRequest) -> Result<BookRecord, Error> {
        self.authorize(actor, Action::ManageCivilBooks, None, None)?;
        if !BOOK_KINDS.contains(&r.kind.as_str()) {
            return Err(invalid("kind: birth, death or marriage"));
        }
        let structure =
            Structure::parse(&r.structure).ok_or_else(|| invalid("structure: 2025 or pre2025"))?;
        let commune = self
            .units
            .get(structure, r.commune_code.trim())
            .filter(|u| u.level == Level::Commune)
            .ok_or_else(|| {
                invalid(format!(
                    "commune_code: {:?} is not a commune of the {} structure",
                    r.commune_code,
                    structure.code()
                ))
            })?;
        let current = match structure {
            Structure::Y2025 => commune.code.clone(),
            // A split commune's book is placed (for progress) in the first commune it
            // became; its scope covers all of them (`policy::unit_contains`).
            Structure::Pre2025 => self
                .units
                .map_old_commune(&commune.code)
                .first()
                .cloned()
                .ok_or_else(|| invalid("commune_code: this old commune has no 2025 commune"))?,
        };
        let province = self
            .units
            .current_commune(&current)
            .map(|u| u.province_code.clone())
            .ok_or_else(|| Error::Internal(format!("2025 commune {current} without province")))?;
        let this_year = today().year();
        if r.year_from < 1900 || r.year_from > r.year_to || r.year_to > this_year {
            return Err(invalid(format!(
                "year_from, year_to: a range within 1900-{this_year}, from before to"
            )));
        }
        if !(1..=10_000).contains(&r.pages) {
            return Err(invalid("pages: 1 to 10000"));
        }
        self.authorize(
            actor,
            Action::ManageCivilBooks,
            Some(Target {
                structure,
                code: &commune.code,
            }),
            None,
        )?;
        let book = self.store.create_book(&BookFields {
            kind: r.kind.clone(),
            commune_code: commune.code.clone(),
            unit_structure: structure.code().into(),
            commune_2025: current,
            province_2025: province,
            year_from: r.year_from,
            year_to: r.year_to,
            pages: r.pages,
            created_by: actor.username.clone(),
        })?;
        self.civil_audit(actor, "civil.book.create", format!("book:{}", book.id))
            .wait()?;
        Ok(book)
    }

    pub fn book(&self, actor: &Actor, id: i64) -> Result<BookRecord, Error> {
        self.book_for(actor, Action::ReadCivilEntries, id)
    }

    /// Stores a page's scan: refused unless it is an image (JPEG, PNG, TIFF) or PDF by
    /// its magic bytes and within [`MAX_SCAN_BYTES`]; nothing is stored when refused.
    pub fn upload_scan(
        &self,
        actor: &Actor,
        book_id: i64,
        page: i64,
        bytes: &[u8],
    ) -> Result<ScanRecord, Error> {
        let book = self.book_for(actor, Action::ManageCivilBooks, book_id)?;
        if page < 1 || page > book.fields.pages {
            return Err(invalid(format!(
                "page: {page} is not a page of book {book_id} (1-{})",
                book.fields.pages
            )));
        }
        if bytes.len() > MAX_SCAN_BYTES {
            return Err(invalid(format!("scan larger than {MAX_SCAN_BYTES} bytes")));
        }
        let content_type = sniff_scan(bytes).ok_or_else(|| {
            invalid("scan: not an image (expected JPEG, PNG, TIFF or PDF by its first bytes)")
        })?;
        let blobs = self
            .blobs
            .as_ref()
            .ok_or_else(|| Error::Conflict("no blob store is configured for page scans".into()))?;
        let (sha256, blob_key) = content_key(bytes);
        blobs.put(&blob_key, bytes)?;
        let scan = ScanRecord {
            book_id,
            page,
            sha256,
            size: bytes.len() as i64,
            content_type: content_type.into(),
            blob_key,
            uploaded_by: actor.username.clone(),
            uploaded_at: dancu_store::now_millis(),
        };
        self.store.put_scan(&scan)?;
        self.civil_audit(
            actor,
            "civil.scan.upload",
            format!("book:{book_id} page:{page}"),
        )
        .wait()?;
        Ok(scan)
    }

    /// A page's scan and its bytes; the read is audited.
    pub fn scan(
        &self,
        actor: &Actor,
        book_id: i64,
        page: i64,
    ) -> Result<Audited<(ScanRecord, Vec<u8>)>, Error> {
        self.book_for(actor, Action::ReadCivilEntries, book_id)?;
        let scan = self.store.scan(book_id, page)?.ok_or(Error::NotFound)?;
        let blobs = self
            .blobs
            .as_ref()
            .ok_or_else(|| Error::Conflict("no blob store is configured".into()))?;
        let bytes = blobs.get(&scan.blob_key)?;
        Ok(Audited {
            value: (scan, bytes),
            tickets: vec![self.civil_audit(
                actor,
                "civil.scan.read",
                format!("book:{book_id} page:{page}"),
            )],
        })
    }

    /// Types entries into a book: all valid, or none stored (the first error says which
    /// entry and field).
    pub fn add_entries(
        &self,
        actor: &Actor,
        book_id: i64,
        entries: &[EntryInput],
    ) -> Result<Vec<EntryRecord>, Error> {
        let book = self.book_for(actor, Action::ManageCivilBooks, book_id)?;
        let fields = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                validate_entry(&book, e).map_err(|m| {
                    invalid(if entries.len() == 1 {
                        m
                    } else {
                        format!("entry {}: {m}", i + 1)
                    })
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ids = self
            .store
            .insert_entries(book_id, &fields, &actor.username)?;
        self.civil_audit(
            actor,
            "civil.entries.type",
            format!("book:{book_id} entries:{}", ids.len()),
        )
        .wait()?;
        ids.into_iter()
            .map(|id| self.store.entry(id)?.ok_or(Error::NotFound))
            .collect()
    }

    /// Imports a CSV of entries ([`ENTRY_COLUMNS`]; UTF-8, BOM accepted). Each bad row
    /// is reported with its line (the header is line 1) and nothing of it is stored;
    /// the good rows are stored in one transaction.
    pub fn import_entries(
        &self,
        actor: &Actor,
        book_id: i64,
        bytes: &[u8],
    ) -> Result<EntryImportReport, Error> {
        let book = self.book_for(actor, Action::ManageCivilBooks, book_id)?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut rd = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let headers = rd
            .headers()
            .map_err(|e| invalid(format!("line 1: {e}")))?
            .clone();
        let idx: BTreeMap<&str, usize> = ENTRY_COLUMNS
            .iter()
            .filter_map(|c| headers.iter().position(|h| h.trim() == *c).map(|i| (*c, i)))
            .collect();
        for required in ["page", "registration_number", "full_name"] {
            if !idx.contains_key(required) {
                return Err(invalid(format!(
                    "line 1: missing column {required} (columns: {})",
                    ENTRY_COLUMNS.join(",")
                )));
            }
        }
        let mut good = Vec::new();
        let mut rejected = Vec::new();
        let mut lines = RowLines::new(bytes);
        for rec in rd.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    rejected.push(RejectedRow {
                        line: lines.line(e.position().map_or(0, csv::Position::byte)),
                        reason: format!("unreadable CSV row: {e}"),
                    });
                    continue;
                }
            };
            let line = lines.line(rec.position().map_or(0, csv::Position::byte));
            let get = |c: &str| {
                idx.get(c)
                    .and_then(|&i| rec.get(i))
                    .map(str::to_owned)
                    .filter(|s| !s.trim().is_empty())
            };
            let page = match get("page").map(|p| p.trim().parse::<i64>()) {
                Some(Err(_)) => {
                    rejected.push(RejectedRow {
                        line,
                        reason: "page: not a number".into(),
                    });
                    continue;
                }
                p => p.and_then(Result::ok),
            };
            let input = EntryInput {
                page,
                registration_number: get("registration_number"),
                registration_date: get("registration_date"),
                full_name: get("full_name"),
                date_of_birth: get("date_of_birth"),
                gender: get("gender"),
                place: get("place"),
                father_name: get("father_name"),
                mother_name: get("mother_name"),
                event_date: get("event_date"),
                spouse_name: get("spouse_name"),
                spouse_date_of_birth: get("spouse_date_of_birth"),
            };
            match validate_entry(&book, &input) {
                Ok(f) => good.push(f),
                Err(reason) => rejected.push(RejectedRow { line, reason }),
            }
        }
        let entry_ids = self.store.insert_entries(book_id, &good, &actor.username)?;
        self.civil_audit(
            actor,
            "civil.entries.import",
            format!(
                "book:{book_id} imported:{} rejected:{}",
                entry_ids.len(),
                rejected.len()
            ),
        )
        .wait()?;
        Ok(EntryImportReport {
            imported: entry_ids.len(),
            entry_ids,
            rejected,
        })
    }

    /// A book's entries (optionally in one state); the read is audited.
    pub fn entries(
        &self,
        actor: &Actor,
        book_id: i64,
        status: Option<&str>,
    ) -> Result<Audited<Vec<EntryRecord>>, Error> {
        self.book_for(actor, Action::ReadCivilEntries, book_id)?;
        let entries = self.store.entries(book_id, status)?;
        Ok(Audited {
            tickets: vec![self.civil_audit(
                actor,
                "civil.entries.read",
                format!("book:{book_id} entries:{}", entries.len()),
            )],
            value: entries,
        })
    }

    /// The QA check of a typed entry (typed → checked), by someone who may manage the
    /// book.
    pub fn check_entry(&self, actor: &Actor, entry_id: i64) -> Result<EntryRecord, Error> {
        self.authorize(actor, Action::ManageCivilBooks, None, None)?;
        let entry = self.store.entry(entry_id)?.ok_or(Error::NotFound)?;
        self.book_for(actor, Action::ManageCivilBooks, entry.book_id)?;
        if !self.store.check_entry(entry_id, &actor.username)? {
            return Err(Error::Conflict(format!(
                "entry {entry_id} is {}, not typed",
                entry.status
            )));
        }
        self.civil_audit(actor, "civil.entry.check", format!("entry:{entry_id}"))
            .wait()?;
        self.store.entry(entry_id)?.ok_or(Error::NotFound)
    }

    /// Digitization progress of a unit (`VN`, a province or a commune of 2025) per
    /// book, commune and province, with the completion date projected from the pace of
    /// the last `days` days and the at-risk flag against `target`.
    pub fn civil_progress(
        &self,
        actor: &Actor,
        unit: &str,
        target: Option<PartialDate>,
        days: u32,
    ) -> Result<ProgressReport, Error> {
        self.authorize(actor, Action::ReadCivilProgress, None, None)?;
        if !(1..=366).contains(&days) {
            return Err(invalid("days: 1 to 366"));
        }
        let province = if unit == policy::NATIONAL_UNIT {
            None
        } else {
            let u = self
                .units
                .get(Structure::Y2025, unit)
                .ok_or_else(|| invalid(format!("unit: {unit:?} is not a 2025 unit or VN")))?;
            Some(if u.level == Level::Province {
                u.code.clone()
            } else {
                u.province_code.clone()
            })
        };
        self.authorize(
            actor,
            Action::ReadCivilProgress,
            Some(Target {
                structure: Structure::Y2025,
                code: unit,
            }),
            None,
        )?;
        let now = dancu_store::now_millis();
        let since = now - i64::from(days) * 86_400_000;
        let counts: Vec<BookCounts> = self
            .store
            .book_counts(province.as_deref(), since)?
            .into_iter()
            .filter(|c| {
                unit == policy::NATIONAL_UNIT || c.province_2025 == unit || c.commune_2025 == unit
            })
            .collect();
        let today_days = now.div_euclid(86_400_000);
        let mut total = Progress::default();
        let mut provinces: BTreeMap<String, Progress> = BTreeMap::new();
        let mut communes: BTreeMap<String, Progress> = BTreeMap::new();
        let mut by_book = Vec::new();
        for c in &counts {
            total.add(c);
            provinces.entry(c.province_2025.clone()).or_default().add(c);
            communes.entry(c.commune_2025.clone()).or_default().add(c);
            let mut p = Progress::default();
            p.add(c);
            p.finish(days, today_days, target);
            by_book.push(ProgressRow {
                key: c.book_id.to_string(),
                progress: p,
            });
        }
        total.finish(days, today_days, target);
        let rows = |m: BTreeMap<String, Progress>| {
            m.into_iter()
                .map(|(key, mut progress)| {
                    progress.finish(days, today_days, target);
                    ProgressRow { key, progress }
                })
                .collect()
        };
        Ok(ProgressReport {
            unit: unit.into(),
            target_date: target,
            pace_days: days,
            total,
            by_province: rows(provinces),
            by_commune: rows(communes),
            by_book,
        })
    }
}
