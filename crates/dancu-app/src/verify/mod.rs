//! Verification of identity data against the registry: a partner (bank, telco,
//! ministry) sends what it holds about a person and learns, per field, whether the
//! registry agrees — never the record itself, unless its data-sharing agreement allows
//! the registry's canonical value of named fields.
//!
//! The contract's semantics, in one place for the single call and the batch:
//! - names: `match` = equal after canonical normalization (NFC, old/new tone placement,
//!   case, runs of spaces); `partial` = equal only once diacritics are dropped;
//! - dates: `match` = identical; `partial` = equal in the part both know ("1975" vs
//!   "1975-03-02"); anything else, a swapped day and month included, is `mismatch`;
//! - the verdict is `match` iff every provided field is `match`: a `partial` is
//!   information for cleansing, never a match (fuzzy yes/no answers invite probing);
//! - an old 9-digit ID number resolves to the person it is recorded for; a malformed
//!   ID number (or another unreadable field) makes the request `invalid` with a reason.
//!
//! Findings (`full_name.missing_diacritics`, `date_of_birth.swapped_day_month`, …)
//! explain each partial or mismatching field; batch summaries count them.

mod batch;
mod jobs;
mod summary;

use std::borrow::Cow;

use dancu_domain::date::DateAgreement;
use dancu_domain::personal_id::OldIdNumber;
use dancu_domain::text::{self, NameAgreement, fold, is_respelling_of, nfc, validate_name};
use dancu_domain::{Gender, PartialDate, PersonalId};
use dancu_store::{AuditEntry, Identity, Store};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

pub use batch::{BatchOptions, BatchReport, Progress};
pub(crate) use jobs::Jobs;
pub use jobs::{JOB_SCAN, JobFile, JobView};
pub use summary::Summary;

use crate::citizens::Audited;
use crate::partners::{Partner, PartnerScope};
use crate::policy::{Action, Actor};
use crate::{App, Error};

/// The answer for a whole request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Match,
    Mismatch,
    NotFound,
    Invalid,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Match,
        Verdict::Mismatch,
        Verdict::NotFound,
        Verdict::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::Mismatch => "mismatch",
            Verdict::NotFound => "not_found",
            Verdict::Invalid => "invalid",
        }
    }
}

/// The answer for one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldResult {
    Match,
    Partial,
    Mismatch,
    NotProvided,
}

impl FieldResult {
    pub const ALL: [FieldResult; 4] = [
        FieldResult::Match,
        FieldResult::Partial,
        FieldResult::Mismatch,
        FieldResult::NotProvided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldResult::Match => "match",
            FieldResult::Partial => "partial",
            FieldResult::Mismatch => "mismatch",
            FieldResult::NotProvided => "not_provided",
        }
    }
}

/// The fields a partner can verify (and an agreement can return).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    FullName,
    DateOfBirth,
    Gender,
}

impl Field {
    pub const ALL: [Field; 3] = [Field::FullName, Field::DateOfBirth, Field::Gender];

    pub fn name(self) -> &'static str {
        match self {
            Field::FullName => "full_name",
            Field::DateOfBirth => "date_of_birth",
            Field::Gender => "gender",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s.trim())
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A partner's data-sharing agreement: which of the registry's canonical values it may
/// receive back. The default returns nothing but the per-field results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agreement {
    returnable: [bool; 3],
}

impl Agreement {
    pub fn returning(fields: &[Field]) -> Agreement {
        let mut returnable = [false; 3];
        for f in fields {
            returnable[f.index()] = true;
        }
        Agreement { returnable }
    }

    /// Parses a comma-separated list of field names (`full_name,gender`); empty = none.
    pub fn parse(list: &str) -> Result<Agreement, String> {
        let fields = list
            .split(',')
            .filter(|f| !f.trim().is_empty())
            .map(|f| {
                Field::parse(f).ok_or_else(|| {
                    format!("unknown field '{f}' (full_name, date_of_birth or gender)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Agreement::returning(&fields))
    }

    pub fn allows(self, field: Field) -> bool {
        self.returnable[field.index()]
    }

    /// The stored form: the allowed fields' names, comma-separated ("" for none).
    pub fn code(self) -> String {
        self.fields().map(Field::name).collect::<Vec<_>>().join(",")
    }

    /// The allowed fields, in [`Field::ALL`] order.
    pub fn fields(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.allows(*f))
    }

    /// What of `c` this agreement lets the partner learn (`None` if nothing).
    fn values(self, c: &Identity) -> Option<RegistryValues> {
        self.returnable.contains(&true).then(|| RegistryValues {
            full_name: self.allows(Field::FullName).then(|| c.full_name.clone()),
            date_of_birth: self
                .allows(Field::DateOfBirth)
                .then(|| c.date_of_birth.to_string()),
            gender: self
                .allows(Field::Gender)
                .then(|| c.gender.code().to_owned()),
        })
    }
}

/// What a partner sends: the contract's `{"personal_id","full_name","date_of_birth",
/// "gender"}`, all but `personal_id` optional; an empty value is not provided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct VerifyRequest {
    #[serde(default)]
    pub personal_id: String,
    pub full_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub gender: Option<String>,
}

/// Per-field results; `None` where nothing was compared (`not_found`, `invalid`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldResults {
    pub full_name: Option<FieldResult>,
    pub date_of_birth: Option<FieldResult>,
    pub gender: Option<FieldResult>,
}

impl FieldResults {
    pub fn get(&self, field: Field) -> Option<FieldResult> {
        match field {
            Field::FullName => self.full_name,
            Field::DateOfBirth => self.date_of_birth,
            Field::Gender => self.gender,
        }
    }
}

/// The registry's canonical values an agreement allows to return.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegistryValues {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
}

impl RegistryValues {
    pub fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::FullName => self.full_name.as_deref(),
            Field::DateOfBirth => self.date_of_birth.as_deref(),
            Field::Gender => self.gender.as_deref(),
        }
    }
}

/// The result of one verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub verdict: Verdict,
    pub fields: FieldResults,
    /// What explains the result: `full_name.missing_diacritics`,
    /// `date_of_birth.swapped_day_month`, `personal_id.old_id_number`, `invalid.gender`…
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<&'static str>,
    /// Why the request is `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The registry's values, as far as the agreement allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryValues>,
    /// The person verified against (for the audit log; never sent).
    #[serde(skip)]
    pub person: Option<PersonalId>,
}

impl Verification {
    fn unanswered(verdict: Verdict, findings: Vec<&'static str>, reason: Option<String>) -> Self {
        Verification {
            verdict,
            fields: FieldResults::default(),
            findings,
            reason,
            registry: None,
            person: None,
        }
    }
}

/// How the request names the person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum IdKey {
    Current(PersonalId),
    /// An old 9-digit ID card number (CMND), an alias of the personal ID number.
    Old(OldIdNumber),
}

/// A well-formed request, its values normalized.
#[derive(Debug, Clone)]
struct Parsed<'r> {
    key: IdKey,
    /// Canonical form: borrowed when it is the registry's name (the common case).
    full_name: Option<Cow<'r, str>>,
    date_of_birth: Option<PartialDate>,
    gender: Option<Gender>,
}

/// Why a request is `invalid`: a finding kind and a sentence.
#[derive(Debug, Clone)]
struct Invalid {
    kind: &'static str,
    reason: String,
}

/// A request's fields as text: borrowed from a [`VerifyRequest`], or from a row of a
/// partner's file when it is NFC UTF-8 already (nearly always), so that a batch row
/// costs no allocation per field.
#[derive(Debug, Clone, Default)]
struct RequestText<'a> {
    personal_id: Cow<'a, str>,
    full_name: Option<Cow<'a, str>>,
    date_of_birth: Option<Cow<'a, str>>,
    gender: Option<Cow<'a, str>>,
}

impl VerifyRequest {
    fn text(&self) -> RequestText<'_> {
        fn borrow(v: &Option<String>) -> Option<Cow<'_, str>> {
            v.as_deref().map(Cow::Borrowed)
        }
        RequestText {
            personal_id: Cow::Borrowed(&self.personal_id),
            full_name: borrow(&self.full_name),
            date_of_birth: borrow(&self.date_of_birth),
            gender: borrow(&self.gender),
        }
    }
}

fn provided<'a>(v: &'a Option<Cow<'_, str>>) -> Option<&'a str> {
    v.as_deref().map(text::trim).filter(|v| !v.is_empty())
}

fn invalid(kind: &'static str, field: &str, e: &dyn std::fmt::Display) -> Invalid {
    Invalid {
        kind,
        reason: format!("{field}: {e}"),
    }
}

/// The ID number of a request: what the multi-get needs.
fn parse_id(req: &RequestText) -> Result<IdKey, Invalid> {
    let id = text::trim(&req.personal_id);
    if id.len() == 9 && id.bytes().all(|b| b.is_ascii_digit()) {
        OldIdNumber::parse(id).map(IdKey::Old)
    } else {
        PersonalId::parse(id).map(IdKey::Current)
    }
    .map_err(|e| invalid("invalid.personal_id", "personal_id", &e))
}

/// Whether `s` holds a character of U+0300–U+037F (the combining diacritics, which
/// decomposed text has): their UTF-8 lead bytes are 0xCC and 0xCD, which start no other
/// characters.
fn has_combining_mark(s: &str) -> bool {
    s.bytes().any(|b| b == 0xCC || b == 0xCD)
}

/// The other fields of a request. `registry_name` is the (canonical) name of the person
/// the ID resolves to, if any: a name spelled exactly so needs no normalization, which
/// saves most of the parsing time of a batch.
fn parse_fields<'r>(
    key: IdKey,
    req: &RequestText,
    registry_name: Option<&'r str>,
) -> Result<Parsed<'r>, Invalid> {
    let full_name = provided(&req.full_name)
        .map(|n| match registry_name {
            // The registry's names are canonical: the same text, the same once composed
            // (a decomposed file) or respelled in upper case or with other spaces has the
            // registry's name as its canonical form, without the syllable-by-syllable
            // work of `validate_name`.
            Some(r)
                if r == n || is_respelling_of(n, r) || (has_combining_mark(n) && nfc(n) == r) =>
            {
                Ok(Cow::Borrowed(r))
            }
            _ => validate_name(n).map(Cow::Owned),
        })
        .transpose()
        .map_err(|e| invalid("invalid.full_name", "full_name", &e))?;
    let date_of_birth = provided(&req.date_of_birth)
        .map(PartialDate::parse_lenient)
        .transpose()
        .map_err(|e| invalid("invalid.date_of_birth", "date_of_birth", &e))?;
    let gender = provided(&req.gender)
        .map(|g| {
            Gender::parse(g).ok_or_else(|| {
                invalid(
                    "invalid.gender",
                    "gender",
                    &format_args!("'{g}' is not M or F"),
                )
            })
        })
        .transpose()?;
    Ok(Parsed {
        key,
        full_name,
        date_of_birth,
        gender,
    })
}

/// The registry records a set of requests refers to, read by one multi-get.
#[derive(Default)]
struct People {
    /// Sorted by personal ID: a chunk's few thousand records as the store returned them
    /// (in key order already), not moved into a hash map, whose growth showed in the
    /// batch's profile (a fresh half-megabyte table a chunk).
    by_id: Vec<Identity>,
    /// The IDs of `by_id`, in its order, searched instead of it: a binary search over the
    /// records themselves touched a cache line of a 300 KB array at each step.
    ids: Vec<PersonalId>,
    by_old_id: FxHashMap<String, Vec<PersonalId>>,
}

enum Resolved<'a> {
    Found(&'a Identity),
    NotFound,
    /// An old ID number recorded for several people.
    Ambiguous,
}

impl People {
    fn fetch<'k>(store: &Store, keys: impl Iterator<Item = &'k IdKey>) -> Result<People, Error> {
        let (mut current, mut old) = (Vec::new(), Vec::new());
        for key in keys {
            match key {
                IdKey::Current(id) => current.push(*id),
                IdKey::Old(o) => old.push(o.as_str()),
            }
        }
        let mut people = People {
            by_id: store.identities_by_ids(&current)?,
            ids: Vec::new(),
            by_old_id: FxHashMap::default(),
        };
        if !old.is_empty() {
            for c in store.identities_by_old_ids(&old)? {
                if let Some(o) = &c.old_id_number {
                    people
                        .by_old_id
                        .entry(o.clone())
                        .or_default()
                        .push(c.personal_id);
                }
                people.by_id.push(c);
            }
        }
        // Nearly sorted already (by the multi-get's order): a linear pass when so.
        people.by_id.sort_by_key(|c| c.personal_id);
        people.by_id.dedup_by_key(|c| c.personal_id);
        people.ids = people.by_id.iter().map(|c| c.personal_id).collect();
        Ok(people)
    }

    fn resolve(&self, key: &IdKey) -> Resolved<'_> {
        let id = match key {
            IdKey::Current(id) => *id,
            IdKey::Old(o) => match self.by_old_id.get(o.as_str()).map(Vec::as_slice) {
                None | Some([]) => return Resolved::NotFound,
                Some([id]) => *id,
                Some(_) => return Resolved::Ambiguous,
            },
        };
        match self.ids.binary_search(&id) {
            Ok(i) => Resolved::Found(&self.by_id[i]),
            Err(_) => Resolved::NotFound,
        }
    }
}

/// Compares two canonical names (the registry stores canonical names; `parse_fields`
/// canonicalizes the input): as `compare_names`, whose canonical forms of canonical names
/// are the names themselves, so it is not asked to build them again.
fn compare_name(input: &str, registry: &str) -> (FieldResult, Option<&'static str>) {
    let agreement = if input == registry {
        NameAgreement::Match
    } else if fold(input) == fold(registry) {
        NameAgreement::Partial
    } else {
        NameAgreement::Mismatch
    };
    match agreement {
        NameAgreement::Match => (FieldResult::Match, None),
        NameAgreement::Partial if input.is_ascii() => {
            (FieldResult::Partial, Some("full_name.missing_diacritics"))
        }
        NameAgreement::Partial => (FieldResult::Partial, Some("full_name.different_diacritics")),
        NameAgreement::Mismatch => {
            let words = |s: &str| {
                let folded = fold(s);
                let mut w: Vec<String> = folded.split(' ').map(str::to_owned).collect();
                w.sort_unstable();
                w
            };
            let kind = if words(input) == words(registry) {
                "full_name.word_order"
            } else {
                "full_name.different_name"
            };
            (FieldResult::Mismatch, Some(kind))
        }
    }
}

fn precision(d: PartialDate) -> u8 {
    u8::from(d.month().is_some()) + u8::from(d.day().is_some())
}

fn compare_date(input: PartialDate, registry: PartialDate) -> (FieldResult, Option<&'static str>) {
    match input.agreement(registry) {
        DateAgreement::Match => (FieldResult::Match, None),
        DateAgreement::Partial if precision(input) < precision(registry) => {
            (FieldResult::Partial, Some("date_of_birth.less_precise"))
        }
        DateAgreement::Partial => (
            FieldResult::Partial,
            Some("date_of_birth.registry_less_precise"),
        ),
        DateAgreement::Mismatch => {
            let kind = if input.is_day_month_swap_of(registry) {
                "date_of_birth.swapped_day_month"
            } else if input.year() != registry.year()
                && (input.month(), input.day()) == (registry.month(), registry.day())
            {
                "date_of_birth.different_year"
            } else {
                "date_of_birth.different_date"
            };
            (FieldResult::Mismatch, Some(kind))
        }
    }
}

/// Compares a parsed request with the person it names.
fn compare(p: &Parsed<'_>, c: &Identity, agreement: Agreement) -> Verification {
    let mut findings = Vec::new();
    if matches!(p.key, IdKey::Old(_)) {
        findings.push("personal_id.old_id_number");
    }
    let mut field = |outcome: Option<(FieldResult, Option<&'static str>)>| {
        let (result, finding) = outcome.unwrap_or((FieldResult::NotProvided, None));
        findings.extend(finding);
        result
    };
    let full_name = field(
        p.full_name
            .as_deref()
            .map(|n| compare_name(n, &c.full_name)),
    );
    let date_of_birth = field(p.date_of_birth.map(|d| compare_date(d, c.date_of_birth)));
    let gender = field(p.gender.map(|g| {
        if g == c.gender {
            (FieldResult::Match, None)
        } else {
            (FieldResult::Mismatch, Some("gender.different"))
        }
    }));
    let all_match = [full_name, date_of_birth, gender]
        .iter()
        .all(|r| matches!(r, FieldResult::Match | FieldResult::NotProvided));
    Verification {
        verdict: if all_match {
            Verdict::Match
        } else {
            Verdict::Mismatch
        },
        fields: FieldResults {
            full_name: Some(full_name),
            date_of_birth: Some(date_of_birth),
            gender: Some(gender),
        },
        findings,
        reason: None,
        registry: agreement.values(c),
        person: Some(c.personal_id),
    }
}

/// The verification of one request (`key`: its ID number, read or not) against the people
/// fetched for it, for the single call and the batch alike: the ID resolved once, the
/// registry's name telling [`parse_fields`] the canonical spelling, and a request that
/// cannot be read `invalid` whether or not its person exists.
fn verify_request(
    key: Result<IdKey, Invalid>,
    request: &RequestText,
    people: &People,
    agreement: Agreement,
) -> Verification {
    let unreadable =
        |inv: Invalid| Verification::unanswered(Verdict::Invalid, vec![inv.kind], Some(inv.reason));
    let key = match key {
        Ok(key) => key,
        Err(inv) => return unreadable(inv),
    };
    let resolved = people.resolve(&key);
    let registry_name = match resolved {
        Resolved::Found(c) => Some(c.full_name.as_str()),
        Resolved::NotFound | Resolved::Ambiguous => None,
    };
    let parsed = match parse_fields(key, request, registry_name) {
        Ok(p) => p,
        Err(inv) => return unreadable(inv),
    };
    match resolved {
        Resolved::Found(c) => compare(&parsed, c, agreement),
        Resolved::NotFound => Verification::unanswered(Verdict::NotFound, Vec::new(), None),
        Resolved::Ambiguous => Verification::unanswered(
            Verdict::Invalid,
            vec!["invalid.ambiguous_old_id"],
            Some(
                "personal_id: this old ID number is recorded for several people; \
                 give the 12-digit personal ID number"
                    .into(),
            ),
        ),
    }
}

impl App {
    /// Verifies one request (the contract's `POST /api/v1/verify`). Audited whatever the
    /// outcome: the result is released once its entry is committed.
    pub fn verify(
        &self,
        actor: &Actor,
        agreement: Agreement,
        request: &VerifyRequest,
    ) -> Result<Audited<Verification>, Error> {
        self.authorize(actor, Action::VerifyIdentity, None, None)?;
        let text = request.text();
        let key = parse_id(&text);
        let people = match &key {
            Ok(key) => People::fetch(&self.store, std::iter::once(key))?,
            Err(_) => People::default(),
        };
        let verification = verify_request(key, &text, &people, agreement);
        let entry = self.verification_audit(actor, &verification);
        Ok(Audited {
            tickets: vec![self.audit.record(entry)],
            value: verification,
        })
    }

    /// A partner's `POST /api/v1/verify`: scope `verify`, one request of its daily quota,
    /// its agreement deciding what registry values come back; audited as `partner:NAME`
    /// and counted in its statistics.
    pub fn partner_verify(
        &self,
        partner: &Partner,
        request: &VerifyRequest,
    ) -> Result<Audited<Verification>, Error> {
        self.admit_partner(partner, "verify", Some(&PartnerScope::Verify), 1)?;
        let verified = self.verify(&partner.actor(), partner.agreement, request)?;
        self.quotas.count_verdict(
            partner.id,
            verified.value.verdict as usize,
            dancu_store::now_millis(),
        )?;
        Ok(verified)
    }

    /// The audit entry of one verification: the person (if resolved) and the verdict.
    fn verification_audit(&self, actor: &Actor, v: &Verification) -> AuditEntry {
        self.audit_entry(
            actor,
            "verify",
            v.person,
            Some("verification"),
            v.verdict.as_str(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dancu_domain::text::canonical_name;
    use unicode_normalization::UnicodeNormalization;

    /// The shortcuts for decomposed and respelled names (upper case, other spaces) give
    /// what `validate_name` gives, for either tone-mark convention, hyphens and
    /// apostrophes; text that is none of these takes the full path.
    #[test]
    fn a_decomposed_or_respelled_name_parses_as_validate_name_does() {
        let id = IdKey::Current(PersonalId::from_parts(1, Gender::Female, 1990, 1).unwrap());
        for spelling in [
            "Nguyễn Thị Hoà",
            "Nguyễn Thị Hòa",
            "Đặng Thuỷ",
            "Trần Ngọc Quý",
            "H'Hen Niê",
            "Nguyễn-Phạm Khuê",
            "ĐỖ THỊ THUỶ TIÊN",
        ] {
            let registry = canonical_name(spelling);
            for input in [
                spelling.nfd().collect::<String>(),
                registry.nfd().collect::<String>(),
                spelling.to_owned(),
                spelling.to_uppercase().nfd().collect::<String>(),
                spelling.to_uppercase(),
                registry.to_uppercase(),
                format!("  {}\t", registry.replace(' ', "   ")),
            ] {
                let request = VerifyRequest {
                    personal_id: String::new(),
                    full_name: Some(input.clone()),
                    ..Default::default()
                };
                let parsed = parse_fields(id.clone(), &request.text(), Some(&registry))
                    .unwrap_or_else(|e| panic!("{input:?}: {}", e.reason));
                assert_eq!(
                    parsed.full_name.as_deref(),
                    Some(validate_name(&input).unwrap().as_str()),
                    "{input:?} against {registry:?}"
                );
            }
        }
        assert!(has_combining_mark(&"ễ".nfd().collect::<String>()));
        assert!(!has_combining_mark("Nguyễn Thị Hoà ʼ"));
    }
}
