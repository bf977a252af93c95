//! Civil-status register books (sổ hộ tịch) being digitized: the books, the scans of
//! their pages (bytes live in a blob store; here only their hash and key), the entries
//! typed from the pages with their QA state, and the links of entries to registry
//! persons. A link is a registry event (`civil_link`) naming the book and page, and a
//! line of the person's history.

use dancu_domain::{PartialDate, PersonalId};
use serde::Serialize;

use crate::citizens::{date_from, date_value, pid_from, pid_value};
use crate::events::{self, EventMeta};
use crate::sql::{Row, Tx, Value};
use crate::{Error, Store, now_millis};

/// The `citizen_changes.field` of a link: a line in the person's history that changes
/// no field of the record.
pub const CIVIL_LINK_FIELD: &str = "civil_link";

/// QA states of an entry.
pub const ENTRY_TYPED: &str = "typed";
pub const ENTRY_CHECKED: &str = "checked";
pub const ENTRY_LINKED: &str = "linked";
pub const ENTRY_NEW: &str = "new";
pub const ENTRY_NEEDS_REVIEW: &str = "needs_review";

/// What describes a book (given to create one). `commune_2025`/`province_2025` place it
/// in today's units (for scope and progress); `commune_code` is as written on the book,
/// in its structure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookFields {
    pub kind: String,
    pub commune_code: String,
    pub unit_structure: String,
    pub commune_2025: String,
    pub province_2025: String,
    pub year_from: i32,
    pub year_to: i32,
    pub pages: i64,
    pub created_by: String,
}

/// A stored book: its fields, with its id and time (serialized flat).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookRecord {
    pub id: i64,
    #[serde(flatten)]
    pub fields: BookFields,
    pub created_at: i64,
}

/// A stored page scan: its bytes are in the blob store under `blob_key`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanRecord {
    pub book_id: i64,
    pub page: i64,
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    #[serde(skip)]
    pub blob_key: String,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

/// The typed fields of an entry. Which are required depends on the book type (the app
/// validates): birth — child (`full_name`, `date_of_birth`, `gender`, `place`, parents);
/// death — the deceased (`full_name`, `event_date` = date of death, `place`); marriage —
/// husband (`full_name`, `date_of_birth`), wife (`spouse_name`, `spouse_date_of_birth`),
/// `event_date` = date of marriage. Names are canonical NFC.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EntryFields {
    pub page: i64,
    pub registration_number: String,
    pub registration_date: Option<PartialDate>,
    pub full_name: String,
    pub date_of_birth: Option<PartialDate>,
    pub gender: Option<String>,
    pub event_date: Option<PartialDate>,
    pub place: Option<String>,
    pub father_name: Option<String>,
    pub mother_name: Option<String>,
    pub spouse_name: Option<String>,
    pub spouse_date_of_birth: Option<PartialDate>,
}

/// An entry with its QA trail: who typed, checked, decided (linking run) and reviewed
/// it, and when; the linking's candidate, score and explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryRecord {
    pub id: i64,
    pub book_id: i64,
    #[serde(flatten)]
    pub fields: EntryFields,
    pub status: String,
    pub typed_by: String,
    pub typed_at: i64,
    pub checked_by: Option<String>,
    pub checked_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    /// The best registry candidate of the last linking run.
    pub candidate_id: Option<PersonalId>,
    /// Match weight of the candidate (log2 odds).
    pub score: Option<f64>,
    pub explanation: Option<String>,
    /// The person the entry is linked to.
    pub personal_id: Option<PersonalId>,
}

/// The outcome of a linking run for one entry.
#[derive(Debug, Clone)]
pub struct EntryDecision {
    pub entry_id: i64,
    /// `linked`, `new` or `needs_review`.
    pub status: &'static str,
    pub candidate: Option<PersonalId>,
    pub score: Option<f64>,
    pub explanation: String,
}

/// Counts of one book, computed by SQL.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookCounts {
    pub book_id: i64,
    pub kind: String,
    pub commune_code: String,
    pub unit_structure: String,
    pub commune_2025: String,
    pub province_2025: String,
    pub pages: i64,
    pub pages_scanned: i64,
    /// Pages scanned since the start of the pace window.
    pub pages_scanned_recently: i64,
    pub entries_typed: i64,
    /// Entries that passed the check (checked or decided since).
    pub entries_checked: i64,
    pub entries_linked: i64,
    pub entries_new: i64,
    pub entries_needs_review: i64,
    /// Entries a person confirmed or rejected in the review queue.
    pub entries_reviewed: i64,
}

const BOOK_COLUMNS: &str = "id, kind, commune_code, unit_structure, commune_2025, province_2025, \
     year_from, year_to, pages, created_by, created_at";

/// The number of [`BOOK_COLUMNS`]: a joined row's own columns follow them.
const BOOK_WIDTH: usize = 11;

/// [`BOOK_COLUMNS`] of the table named `b` in a join.
fn joined_book_columns() -> String {
    BOOK_COLUMNS
        .split(", ")
        .map(|c| format!("b.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const ENTRY_COLUMNS: &str = "e.id, e.book_id, e.page, e.registration_number, \
     e.registration_date, e.full_name, e.date_of_birth, e.gender, e.event_date, e.place, \
     e.father_name, e.mother_name, e.spouse_name, e.spouse_date_of_birth, e.status, \
     e.typed_by, e.typed_at, e.checked_by, e.checked_at, e.decided_by, e.decided_at, \
     e.reviewed_by, e.reviewed_at, e.candidate_id, e.score_milli, e.explanation, l.personal_id";

/// The number of [`ENTRY_COLUMNS`].
const ENTRY_WIDTH: usize = 27;

const ENTRY_FROM: &str = "civil_entries e LEFT JOIN civil_links l ON l.entry_id = e.id";

fn book_from(mut r: Row) -> BookRecord {
    BookRecord {
        id: r[0].as_i64().unwrap_or_default(),
        fields: BookFields {
            kind: r[1].take_text().unwrap_or_default(),
            commune_code: r[2].take_text().unwrap_or_default(),
            unit_structure: r[3].take_text().unwrap_or_default(),
            commune_2025: r[4].take_text().unwrap_or_default(),
            province_2025: r[5].take_text().unwrap_or_default(),
            year_from: r[6].as_i64().unwrap_or_default() as i32,
            year_to: r[7].as_i64().unwrap_or_default() as i32,
            pages: r[8].as_i64().unwrap_or_default(),
            created_by: r[9].take_text().unwrap_or_default(),
        },
        created_at: r[10].as_i64().unwrap_or_default(),
    }
}

fn entry_from(mut r: Row) -> Result<EntryRecord, Error> {
    let fields = EntryFields {
        page: r[2].as_i64().unwrap_or_default(),
        registration_number: r[3].take_text().unwrap_or_default(),
        registration_date: date_from(&r[4])?,
        full_name: r[5].take_text().unwrap_or_default(),
        date_of_birth: date_from(&r[6])?,
        gender: r[7].take_text(),
        event_date: date_from(&r[8])?,
        place: r[9].take_text(),
        father_name: r[10].take_text(),
        mother_name: r[11].take_text(),
        spouse_name: r[12].take_text(),
        spouse_date_of_birth: date_from(&r[13])?,
    };
    Ok(EntryRecord {
        id: r[0].as_i64().unwrap_or_default(),
        book_id: r[1].as_i64().unwrap_or_default(),
        fields,
        status: r[14].take_text().unwrap_or_default(),
        typed_by: r[15].take_text().unwrap_or_default(),
        typed_at: r[16].as_i64().unwrap_or_default(),
        checked_by: r[17].take_text(),
        checked_at: r[18].as_i64(),
        decided_by: r[19].take_text(),
        decided_at: r[20].as_i64(),
        reviewed_by: r[21].take_text(),
        reviewed_at: r[22].as_i64(),
        candidate_id: pid_from(&r[23])?,
        score: r[24].as_i64().map(|m| m as f64 / 1000.0),
        explanation: r[25].take_text(),
        personal_id: pid_from(&r[26])?,
    })
}

fn entries_where(
    tx: &mut dyn Tx,
    filter: &str,
    params: &[Value],
) -> Result<Vec<EntryRecord>, Error> {
    tx.query(
        &format!("SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE {filter} ORDER BY e.id"),
        params,
    )?
    .into_iter()
    .map(entry_from)
    .collect()
}

fn opt_text(v: &Option<String>) -> Value {
    v.clone().into()
}

/// Links an entry to a person inside the caller's transaction: the registry event
/// (`meta`, kind `civil_link`), the history line, the link row and the entry's state.
fn link_entry_in(
    tx: &mut dyn Tx,
    entry_id: i64,
    person: PersonalId,
    source: &str,
    meta: &EventMeta,
) -> Result<i64, Error> {
    let event = events::append(tx, meta)?;
    tx.exec(
        "INSERT INTO citizen_changes (personal_id, event_id, field, old_value, new_value) \
         VALUES ($1, $2, $3, NULL, $4)",
        &[
            Value::Int(pid_value(person)),
            Value::Int(event),
            Value::Code(CIVIL_LINK_FIELD),
            Value::Text(source.into()),
        ],
    )?;
    tx.exec(
        "INSERT INTO civil_links (entry_id, personal_id, event_id) VALUES ($1, $2, $3)",
        &[
            Value::Int(entry_id),
            Value::Int(pid_value(person)),
            Value::Int(event),
        ],
    )?;
    Ok(event)
}

impl Store {
    pub fn create_book(&self, b: &BookFields) -> Result<BookRecord, Error> {
        self.write(|tx| {
            let id = tx.query_i64(
                "INSERT INTO civil_books (kind, commune_code, unit_structure, commune_2025, \
                 province_2025, year_from, year_to, pages, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    b.kind.as_str().into(),
                    b.commune_code.as_str().into(),
                    b.unit_structure.as_str().into(),
                    b.commune_2025.as_str().into(),
                    b.province_2025.as_str().into(),
                    Value::Int(b.year_from.into()),
                    Value::Int(b.year_to.into()),
                    Value::Int(b.pages),
                    b.created_by.as_str().into(),
                    Value::Int(now_millis()),
                ],
            )?;
            book_in(tx, id)?.ok_or_else(|| Error::Corrupt("book just created is missing".into()))
        })
    }

    pub fn book(&self, id: i64) -> Result<Option<BookRecord>, Error> {
        self.read(|tx| book_in(tx, id))
    }

    /// Books of a province of the 2025 structure (`None`: all), by id.
    pub fn books(&self, province_2025: Option<&str>) -> Result<Vec<BookRecord>, Error> {
        self.read(|tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {BOOK_COLUMNS} FROM civil_books \
                     WHERE ($1 = '' OR province_2025 = $1) ORDER BY id"
                ),
                &[province_2025.unwrap_or("").into()],
            )?;
            Ok(rows.into_iter().map(book_from).collect())
        })
    }

    /// Records a page's scan (replacing an earlier scan of the page). The blob must be
    /// stored before: a crash in between leaves an unreferenced blob, never a row
    /// without its bytes.
    pub fn put_scan(&self, s: &ScanRecord) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "INSERT INTO civil_scans (book_id, page, sha256, size, content_type, blob_key, \
                 uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (book_id, page) DO UPDATE SET sha256 = excluded.sha256, \
                 size = excluded.size, content_type = excluded.content_type, \
                 blob_key = excluded.blob_key, uploaded_by = excluded.uploaded_by, \
                 uploaded_at = excluded.uploaded_at",
                &[
                    Value::Int(s.book_id),
                    Value::Int(s.page),
                    s.sha256.as_str().into(),
                    Value::Int(s.size),
                    s.content_type.as_str().into(),
                    s.blob_key.as_str().into(),
                    s.uploaded_by.as_str().into(),
                    Value::Int(s.uploaded_at),
                ],
            )?;
            Ok(())
        })
    }

    pub fn scan(&self, book_id: i64, page: i64) -> Result<Option<ScanRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    "SELECT book_id, page, sha256, size, content_type, blob_key, uploaded_by, \
                     uploaded_at FROM civil_scans WHERE book_id = $1 AND page = $2",
                    &[Value::Int(book_id), Value::Int(page)],
                )?
                .map(|mut r| ScanRecord {
                    book_id: r[0].as_i64().unwrap_or_default(),
                    page: r[1].as_i64().unwrap_or_default(),
                    sha256: r[2].take_text().unwrap_or_default(),
                    size: r[3].as_i64().unwrap_or_default(),
                    content_type: r[4].take_text().unwrap_or_default(),
                    blob_key: r[5].take_text().unwrap_or_default(),
                    uploaded_by: r[6].take_text().unwrap_or_default(),
                    uploaded_at: r[7].as_i64().unwrap_or_default(),
                }))
        })
    }

    /// Stores typed entries of a book in one transaction (all or none); their ids.
    pub fn insert_entries(
        &self,
        book_id: i64,
        entries: &[EntryFields],
        typed_by: &str,
    ) -> Result<Vec<i64>, Error> {
        let now = now_millis();
        self.write(|tx| {
            entries
                .iter()
                .map(|e| {
                    tx.query_i64(
                        "INSERT INTO civil_entries (book_id, page, registration_number, \
                         registration_date, full_name, date_of_birth, gender, event_date, place, \
                         father_name, mother_name, spouse_name, spouse_date_of_birth, status, \
                         typed_by, typed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                         $11, $12, $13, $14, $15, $16) RETURNING id",
                        &[
                            Value::Int(book_id),
                            Value::Int(e.page),
                            e.registration_number.as_str().into(),
                            date_value(e.registration_date),
                            e.full_name.as_str().into(),
                            date_value(e.date_of_birth),
                            opt_text(&e.gender),
                            date_value(e.event_date),
                            opt_text(&e.place),
                            opt_text(&e.father_name),
                            opt_text(&e.mother_name),
                            opt_text(&e.spouse_name),
                            date_value(e.spouse_date_of_birth),
                            Value::Code(ENTRY_TYPED),
                            typed_by.into(),
                            Value::Int(now),
                        ],
                    )
                })
                .collect()
        })
    }

    pub fn entry(&self, id: i64) -> Result<Option<EntryRecord>, Error> {
        self.read(|tx| Ok(entries_where(tx, "e.id = $1", &[Value::Int(id)])?.pop()))
    }

    /// Entries of a book, optionally only those in one state.
    pub fn entries(&self, book_id: i64, status: Option<&str>) -> Result<Vec<EntryRecord>, Error> {
        self.read(|tx| match status {
            Some(s) => entries_where(
                tx,
                "e.book_id = $1 AND e.status = $2",
                &[Value::Int(book_id), s.into()],
            ),
            None => entries_where(tx, "e.book_id = $1", &[Value::Int(book_id)]),
        })
    }

    /// typed → checked; false if the entry was not in the typed state.
    pub fn check_entry(&self, id: i64, by: &str) -> Result<bool, Error> {
        self.write(|tx| {
            Ok(tx.exec(
                "UPDATE civil_entries SET status = $2, checked_by = $3, checked_at = $4 \
                 WHERE id = $1 AND status = $5",
                &[
                    Value::Int(id),
                    Value::Code(ENTRY_CHECKED),
                    by.into(),
                    Value::Int(now_millis()),
                    Value::Code(ENTRY_TYPED),
                ],
            )? == 1)
        })
    }

    /// Entries needing review in books of a 2025 province (`None`: all), oldest first.
    pub fn review_queue(
        &self,
        province_2025: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(BookRecord, EntryRecord)>, Error> {
        self.read(|tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {ENTRY_COLUMNS}, {} FROM {ENTRY_FROM} \
                     JOIN civil_books b ON b.id = e.book_id WHERE e.status = $1 \
                     AND ($2 = '' OR b.province_2025 = $2) ORDER BY e.id LIMIT $3",
                    joined_book_columns()
                ),
                &[
                    Value::Code(ENTRY_NEEDS_REVIEW),
                    province_2025.unwrap_or("").into(),
                    Value::Int(limit),
                ],
            )?;
            rows.into_iter()
                .map(|mut r| {
                    let book = book_from(r.split_off(ENTRY_WIDTH));
                    Ok((book, entry_from(r)?))
                })
                .collect()
        })
    }

    /// Of `people`, those already linked from an entry of a book of `kind` other than
    /// the entries in `except`: (person, entry).
    pub fn linked_entries_of(
        &self,
        kind: &str,
        people: &[PersonalId],
    ) -> Result<Vec<(PersonalId, i64)>, Error> {
        self.read(|tx| linked_in(tx, kind, people))
    }

    /// Stores the decisions of a linking run in one transaction. A `linked` decision
    /// links (event `meta_for(entry)`); each decision only applies to an entry still
    /// `checked` (a concurrent run or review wins, the entry is skipped).
    pub fn record_decisions(
        &self,
        decisions: &[EntryDecision],
        by: &str,
        meta_for: &dyn Fn(i64) -> Option<(String, EventMeta)>,
    ) -> Result<usize, Error> {
        let now = now_millis();
        self.write(|tx| {
            let mut applied = 0;
            for d in decisions {
                let n = tx.exec(
                    "UPDATE civil_entries SET status = $2, decided_by = $3, decided_at = $4, \
                     candidate_id = $5, score_milli = $6, explanation = $7 \
                     WHERE id = $1 AND status = $8",
                    &[
                        Value::Int(d.entry_id),
                        Value::Code(d.status),
                        by.into(),
                        Value::Int(now),
                        d.candidate.map(pid_value).into(),
                        d.score.map(|s| (s * 1000.0).round() as i64).into(),
                        d.explanation.as_str().into(),
                        Value::Code(ENTRY_CHECKED),
                    ],
                )?;
                if n == 0 {
                    continue;
                }
                applied += 1;
                if d.status == ENTRY_LINKED {
                    let person = d
                        .candidate
                        .ok_or_else(|| Error::Corrupt("a link without its person".into()))?;
                    let (source, meta) = meta_for(d.entry_id)
                        .ok_or_else(|| Error::Corrupt("a link without its source".into()))?;
                    link_entry_in(tx, d.entry_id, person, &source, &meta)?;
                }
            }
            Ok(applied)
        })
    }

    /// A reviewer's confirmation: needs_review → linked to `person`, with its event.
    /// Refuses (Conflict) when the entry is no longer in review, or when `unique_kind`
    /// is set (birth books) and another entry of such a book already links the person.
    pub fn confirm_link(
        &self,
        entry_id: i64,
        person: PersonalId,
        by: &str,
        unique_kind: Option<&str>,
        source: &str,
        meta: &EventMeta,
    ) -> Result<i64, Error> {
        self.write(|tx| {
            if let Some(kind) = unique_kind
                && let Some((_, other)) = linked_in(tx, kind, &[person])?.first()
            {
                return Err(Error::Conflict(format!(
                    "entry {other} of another birth registration is already linked to this \
                     person: twins or a duplicate registration, not the same birth"
                )));
            }
            review_in(tx, entry_id, ENTRY_LINKED, by)?;
            link_entry_in(tx, entry_id, person, source, meta)
        })
    }

    /// A reviewer's rejection: needs_review → new (no one in the registry).
    pub fn reject_link(&self, entry_id: i64, by: &str) -> Result<(), Error> {
        self.write(|tx| review_in(tx, entry_id, ENTRY_NEW, by))
    }

    /// Per-book counts of the books of a 2025 province (`None`: all); scans uploaded at
    /// or after `since_millis` count as recent.
    pub fn book_counts(
        &self,
        province_2025: Option<&str>,
        since_millis: i64,
    ) -> Result<Vec<BookCounts>, Error> {
        let count_status = |s: &str| format!("COUNT(CASE WHEN status = '{s}' THEN 1 END)");
        let sql = format!(
            "SELECT {}, COALESCE(s.scanned, 0), COALESCE(s.recent, 0), \
             COALESCE(e.typed, 0), COALESCE(e.checked, 0), COALESCE(e.linked, 0), \
             COALESCE(e.new_, 0), COALESCE(e.review, 0), COALESCE(e.reviewed, 0) \
             FROM civil_books b \
             LEFT JOIN (SELECT book_id, COUNT(*) AS scanned, \
                 COUNT(CASE WHEN uploaded_at >= $1 THEN 1 END) AS recent \
                 FROM civil_scans GROUP BY book_id) s ON s.book_id = b.id \
             LEFT JOIN (SELECT book_id, COUNT(*) AS typed, \
                 COUNT(CASE WHEN status <> '{ENTRY_TYPED}' THEN 1 END) AS checked, \
                 {} AS linked, {} AS new_, {} AS review, \
                 COUNT(reviewed_by) AS reviewed \
                 FROM civil_entries GROUP BY book_id) e ON e.book_id = b.id \
             WHERE ($2 = '' OR b.province_2025 = $2) ORDER BY b.id",
            joined_book_columns(),
            count_status(ENTRY_LINKED),
            count_status(ENTRY_NEW),
            count_status(ENTRY_NEEDS_REVIEW),
        );
        self.read(|tx| {
            Ok(tx
                .query(
                    &sql,
                    &[Value::Int(since_millis), province_2025.unwrap_or("").into()],
                )?
                .into_iter()
                .map(|mut r| {
                    let counts = r.split_off(BOOK_WIDTH);
                    let n = |i: usize| counts[i].as_i64().unwrap_or_default();
                    let BookRecord {
                        id, fields: book, ..
                    } = book_from(r);
                    BookCounts {
                        book_id: id,
                        kind: book.kind,
                        commune_code: book.commune_code,
                        unit_structure: book.unit_structure,
                        commune_2025: book.commune_2025,
                        province_2025: book.province_2025,
                        pages: book.pages,
                        pages_scanned: n(0),
                        pages_scanned_recently: n(1),
                        entries_typed: n(2),
                        entries_checked: n(3),
                        entries_linked: n(4),
                        entries_new: n(5),
                        entries_needs_review: n(6),
                        entries_reviewed: n(7),
                    }
                })
                .collect())
        })
    }
}

fn book_in(tx: &mut dyn Tx, id: i64) -> Result<Option<BookRecord>, Error> {
    Ok(tx
        .query_one(
            &format!("SELECT {BOOK_COLUMNS} FROM civil_books WHERE id = $1"),
            &[Value::Int(id)],
        )?
        .map(book_from))
}

fn linked_in(
    tx: &mut dyn Tx,
    kind: &str,
    people: &[PersonalId],
) -> Result<Vec<(PersonalId, i64)>, Error> {
    let mut out = Vec::new();
    for p in people {
        for r in tx.query(
            "SELECT l.entry_id FROM civil_links l JOIN civil_entries e ON e.id = l.entry_id \
             JOIN civil_books b ON b.id = e.book_id WHERE l.personal_id = $1 AND b.kind = $2",
            &[Value::Int(pid_value(*p)), kind.into()],
        )? {
            out.push((*p, r[0].as_i64().unwrap_or_default()));
        }
    }
    Ok(out)
}

fn review_in(tx: &mut dyn Tx, entry_id: i64, status: &'static str, by: &str) -> Result<(), Error> {
    let n = tx.exec(
        "UPDATE civil_entries SET status = $2, reviewed_by = $3, reviewed_at = $4 \
         WHERE id = $1 AND status = $5",
        &[
            Value::Int(entry_id),
            Value::Code(status),
            by.into(),
            Value::Int(now_millis()),
            Value::Code(ENTRY_NEEDS_REVIEW),
        ],
    )?;
    if n == 0 {
        return Err(Error::Conflict(format!(
            "entry {entry_id} is not waiting for review"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widths_count_the_columns() {
        assert_eq!(BOOK_COLUMNS.split(", ").count(), BOOK_WIDTH);
        assert_eq!(ENTRY_COLUMNS.split(", ").count(), ENTRY_WIDTH);
    }
}
