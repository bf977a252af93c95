//! Linking a book's checked entries to registry persons with the matching engine
//! (`dancu-matching`, the same one as `dancu link`), over candidates built from the
//! store's citizens; and the review queue where an officer confirms or rejects.

use std::collections::HashMap;

use dancu_domain::units::Structure;
use dancu_domain::{Citizen, PartialDate, PersonalId};
use dancu_matching::person::{Fields, Registry};
use dancu_matching::{Decision, Linker};
use dancu_store::EventMeta;
use dancu_store::civil::{
    BookRecord, ENTRY_CHECKED, ENTRY_LINKED, ENTRY_NEEDS_REVIEW, ENTRY_NEW, EntryDecision,
    EntryRecord,
};
use serde::Serialize;

use crate::citizens::{Audited, today};
use crate::policy::{self, Action, Actor};
use crate::{App, Error};

/// Linking threads: the server shares its cores with requests.
const LINK_THREADS: usize = 2;

/// What a linking run decided.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LinkRun {
    pub book_id: i64,
    pub entries: usize,
    pub linked: usize,
    pub needs_review: usize,
    pub new: usize,
    /// Registry persons the candidates were drawn from.
    pub registry_persons: usize,
}

/// A registry person proposed for an entry, as much as the reviewer needs.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub personal_id: PersonalId,
    pub full_name: String,
    pub date_of_birth: PartialDate,
    pub gender: &'static str,
    pub commune_code: Option<String>,
}

/// An entry waiting for review, with its book, candidate and the explanation.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewItem {
    pub book: BookRecord,
    pub entry: EntryRecord,
    pub candidate: Option<Candidate>,
}

/// The registry as the matching engine wants it: every citizen with the names of its
/// parents, the commune in the 2025 structure.
fn registry_from(app: &App) -> Result<Registry, Error> {
    let mut people: Vec<Citizen> = Vec::new();
    app.store.for_each_citizen(&mut |c| {
        people.push(c);
        Ok(())
    })?;
    let names: HashMap<PersonalId, &str> = people
        .iter()
        .map(|c| (c.personal_id, c.full_name.as_str()))
        .collect();
    let mut reg = Registry::default();
    for c in &people {
        let commune = match (c.commune_structure, c.commune_code.as_deref()) {
            (Structure::Y2025, Some(code)) => code,
            (Structure::Pre2025, Some(code)) => app
                .units
                .map_old_commune(code)
                .first()
                .map_or("", String::as_str),
            (_, None) => "",
        };
        let parent = |id: Option<PersonalId>| id.and_then(|p| names.get(&p).copied()).unwrap_or("");
        let fields = Fields {
            full_name: &c.full_name,
            date_of_birth: &c.date_of_birth.to_string(),
            gender: c.gender.code(),
            commune_code: commune,
            father_name: parent(c.father_id),
            mother_name: parent(c.mother_id),
        };
        // The store's rows are valid; a row the engine cannot read is left out of the
        // candidates rather than stopping every book's linking.
        let _ = reg.push(&c.personal_id.to_string(), &fields);
    }
    Ok(reg)
}

fn date_text(d: Option<PartialDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn kind_vi(kind: &str) -> &'static str {
    match kind {
        "birth" => "khai sinh",
        "death" => "khai tử",
        _ => "kết hôn",
    }
}

/// The source of a link as the history shows it, and its registry event.
fn link_source(
    actor: &Actor,
    book: &BookRecord,
    entry: &EntryRecord,
    decision: &str,
) -> (String, EventMeta) {
    let f = &entry.fields;
    let source = format!(
        "book:{} page:{} entry:{} registration:{}",
        book.id, f.page, entry.id, f.registration_number
    );
    let meta = EventMeta {
        actor: actor.username.clone(),
        agency: actor.unit.clone(),
        basis: format!(
            "Sổ đăng ký {} số {} ({} {}, {}–{}), trang {}, số {}",
            kind_vi(&book.fields.kind),
            book.id,
            book.fields.unit_structure,
            book.fields.commune_code,
            book.fields.year_from,
            book.fields.year_to,
            f.page,
            f.registration_number
        ),
        kind: "civil_link".into(),
        summary: serde_json::json!({
            "book": book.id,
            "page": f.page,
            "entry": entry.id,
            "registration_number": f.registration_number,
            "decision": decision,
        })
        .to_string(),
        effective_date: f.registration_date.unwrap_or_else(today),
    };
    (source, meta)
}

impl App {
    /// Links the checked entries of a book: `link` decisions are stored as links (with
    /// their registry event), `review` ones wait in the review queue with their
    /// candidate and explanation, the rest are `new`. In a birth book two entries never
    /// link the same person (twins, siblings, a duplicate): all such go to review.
    pub fn link_book(&self, actor: &Actor, book_id: i64) -> Result<LinkRun, Error> {
        let book = self.book_for(actor, Action::ManageCivilBooks, book_id)?;
        let entries = self.store.entries(book_id, Some(ENTRY_CHECKED))?;
        let registry = registry_from(self)?;
        let mut run = LinkRun {
            book_id,
            entries: entries.len(),
            registry_persons: registry.len(),
            ..LinkRun::default()
        };
        if entries.is_empty() {
            return Ok(run);
        }
        let mut decisions = Vec::with_capacity(entries.len());
        let mut parsed = Vec::new();
        for e in &entries {
            let f = &e.fields;
            let fields = Fields {
                full_name: &f.full_name,
                date_of_birth: &date_text(f.date_of_birth),
                gender: f.gender.as_deref().unwrap_or(""),
                commune_code: &book.fields.commune_code,
                father_name: f.father_name.as_deref().unwrap_or(""),
                mother_name: f.mother_name.as_deref().unwrap_or(""),
            };
            match registry.record(&fields) {
                Ok(r) => parsed.push((e.id, r)),
                Err(why) => decisions.push(EntryDecision {
                    entry_id: e.id,
                    status: ENTRY_NEEDS_REVIEW,
                    candidate: None,
                    score: None,
                    explanation: format!("cannot be linked automatically: {why}"),
                }),
            }
        }
        if registry.is_empty() {
            decisions.extend(parsed.iter().map(|(id, _)| EntryDecision {
                entry_id: *id,
                status: ENTRY_NEW,
                candidate: None,
                score: None,
                explanation: "the registry is empty".into(),
            }));
        } else {
            let records: Vec<_> = parsed.iter().map(|(_, r)| r.clone()).collect();
            let linker = Linker::new(registry, &records, LINK_THREADS);
            let mut cx = Default::default();
            for (id, rec) in &parsed {
                let o = linker.link(rec, &mut cx);
                let candidate = o
                    .person
                    .and_then(|i| linker.registry.personal_id(i as usize).parse().ok());
                decisions.push(EntryDecision {
                    entry_id: *id,
                    status: match o.decision {
                        Decision::Link => ENTRY_LINKED,
                        Decision::New => ENTRY_NEW,
                        Decision::Review | Decision::Invalid => ENTRY_NEEDS_REVIEW,
                    },
                    candidate,
                    score: Some(o.score),
                    explanation: o.explanation,
                });
            }
        }
        if book.fields.kind == "birth" {
            self.one_birth_per_person(&mut decisions)?;
        }
        let by_id: HashMap<i64, &EntryRecord> = entries.iter().map(|e| (e.id, e)).collect();
        self.store
            .record_decisions(&decisions, &actor.username, &|id| {
                by_id
                    .get(&id)
                    .map(|e| link_source(actor, &book, e, "automatic"))
            })?;
        for d in &decisions {
            match d.status {
                ENTRY_LINKED => run.linked += 1,
                ENTRY_NEW => run.new += 1,
                _ => run.needs_review += 1,
            }
        }
        self.civil_audit(
            actor,
            "civil.link.run",
            format!(
                "book:{book_id} linked:{} review:{} new:{}",
                run.linked, run.needs_review, run.new
            ),
        )
        .wait()?;
        Ok(run)
    }

    /// Sends to review every decision naming a person that another entry of this run,
    /// or an already linked birth entry, also names.
    fn one_birth_per_person(&self, decisions: &mut [EntryDecision]) -> Result<(), Error> {
        let mut named: HashMap<PersonalId, Vec<i64>> = HashMap::new();
        for d in decisions.iter().filter(|d| d.status != ENTRY_NEW) {
            if let Some(p) = d.candidate {
                named.entry(p).or_default().push(d.entry_id);
            }
        }
        let people: Vec<PersonalId> = named.keys().copied().collect();
        for (p, entry) in self.store.linked_entries_of("birth", &people)? {
            named.entry(p).or_default().push(entry);
        }
        for d in decisions.iter_mut() {
            let Some(p) = d.candidate else { continue };
            let Some(others) = named.get(&p) else {
                continue;
            };
            let others: Vec<String> = others
                .iter()
                .filter(|e| **e != d.entry_id)
                .map(i64::to_string)
                .collect();
            if d.status != ENTRY_NEW && !others.is_empty() {
                d.status = ENTRY_NEEDS_REVIEW;
                d.explanation.push_str(&format!(
                    " review: birth entries {} name the same person (twins, siblings or a duplicate registration)",
                    others.join(",")
                ));
            }
        }
        Ok(())
    }

    /// Entries waiting for review in books of the actor's unit, with their candidates
    /// (each candidate shown is a read of that person, audited).
    pub fn review_queue(
        &self,
        actor: &Actor,
        limit: u32,
    ) -> Result<Audited<Vec<ReviewItem>>, Error> {
        self.authorize(actor, Action::ReviewCivilLinks, None, None)?;
        let limit = limit.clamp(1, 500);
        let province = if actor.unit == policy::NATIONAL_UNIT {
            None
        } else {
            Some(
                self.units
                    .current_commune(&actor.unit)
                    .map_or(actor.unit.clone(), |c| c.province_code.clone()),
            )
        };
        let mut items = Vec::new();
        let mut tickets = Vec::new();
        let successions = self.store.successions()?;
        for (book, entry) in self
            .store
            .review_queue(province.as_deref(), i64::from(limit))?
        {
            let target = Self::book_target(&book);
            if !policy::unit_contains(self.units, &successions, &actor.unit, target) {
                continue;
            }
            let candidate = match entry.candidate_id {
                Some(p) => self.store.citizen(p)?.map(|c| {
                    tickets.push(self.read_ticket(
                        actor,
                        "civil.review.candidate",
                        p,
                        &format!("civil_review entry:{}", entry.id),
                    ));
                    Candidate {
                        personal_id: c.personal_id,
                        full_name: c.full_name,
                        date_of_birth: c.date_of_birth,
                        gender: c.gender.code(),
                        commune_code: c.commune_code,
                    }
                }),
                None => None,
            };
            items.push(ReviewItem {
                book,
                entry,
                candidate,
            });
        }
        Ok(Audited {
            value: items,
            tickets,
        })
    }

    fn entry_in_review(
        &self,
        actor: &Actor,
        entry_id: i64,
    ) -> Result<(BookRecord, EntryRecord), Error> {
        self.authorize(actor, Action::ReviewCivilLinks, None, None)?;
        let entry = self.store.entry(entry_id)?.ok_or(Error::NotFound)?;
        let book = self.book_for(actor, Action::ReviewCivilLinks, entry.book_id)?;
        if entry.status != ENTRY_NEEDS_REVIEW {
            return Err(Error::Conflict(format!(
                "entry {entry_id} is {}, not waiting for review",
                entry.status
            )));
        }
        Ok((book, entry))
    }

    /// Confirms an entry's link to `person` (default: its candidate): the entry becomes
    /// linked, and the registry records a `civil_link` event naming the book and page.
    pub fn confirm_link(
        &self,
        actor: &Actor,
        entry_id: i64,
        person: Option<PersonalId>,
    ) -> Result<EntryRecord, Error> {
        let (book, entry) = self.entry_in_review(actor, entry_id)?;
        let person = person.or(entry.candidate_id).ok_or_else(|| {
            Error::Invalid("personal_id: this entry has no candidate, name one".into())
        })?;
        if self.store.citizen(person)?.is_none() {
            return Err(Error::Invalid(format!(
                "personal_id: {person} is not in the registry"
            )));
        }
        let (source, meta) = link_source(actor, &book, &entry, "confirmed");
        let unique = (book.fields.kind == "birth").then_some("birth");
        self.store
            .confirm_link(entry_id, person, &actor.username, unique, &source, &meta)?;
        self.audit
            .record(self.audit_entry(
                actor,
                "civil.link.confirm",
                Some(person),
                Some(&format!("entry:{entry_id}")),
                "ok",
            ))
            .wait()?;
        self.store.entry(entry_id)?.ok_or(Error::NotFound)
    }

    /// Rejects an entry's proposed link: the person is not in the registry (new).
    pub fn reject_link(&self, actor: &Actor, entry_id: i64) -> Result<EntryRecord, Error> {
        self.entry_in_review(actor, entry_id)?;
        self.store.reject_link(entry_id, &actor.username)?;
        self.civil_audit(actor, "civil.link.reject", format!("entry:{entry_id}"))
            .wait()?;
        self.store.entry(entry_id)?.ok_or(Error::NotFound)
    }
}
