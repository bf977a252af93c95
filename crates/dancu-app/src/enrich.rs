//! Enrichment by ministries (Đề án 06: "làm giàu dữ liệu dân cư"): a partner with the
//! scope `enrich:FIELD` pushes values of a field it holds (blood type from Health, the
//! driving licence from the police, the health-insurance number from Social Insurance).
//!
//! Each value is validated by the field's entry in [`ATTRIBUTES`]; the applied ones of a
//! call are recorded under one event (actor `partner:NAME`, agency = the partner's), in
//! the same transaction as the decision. The registry never overwrites silently: a
//! value held by the agency that owns the field cannot be replaced by another agency,
//! and an update observed before the value held is refused; both are reported to the
//! caller and kept for the owning agency (`enrich_conflicts`).

use std::collections::HashSet;

use dancu_domain::{PartialDate, PersonalId};
use dancu_store::{
    AttributeVersion, AttributeWrite, CitizenField, ConflictRecord, Decision, EventMeta, Held,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::citizens::{Audited, today};
use crate::partners::{Partner, PartnerScope};
use crate::policy::{Action, Actor};
use crate::{App, Error};

/// An attribute ministries may push: its validator and the agency that owns it.
pub struct AttributeSpec {
    pub name: &'static str,
    /// The agency (a code of `policy::AGENCIES`) whose value no other agency replaces.
    pub owner: &'static str,
    /// The citizen field the attribute also sets, so the citizen view agrees.
    pub mirror: Option<CitizenField>,
    /// Checks a value and returns its canonical form.
    pub validate: fn(&Value) -> Result<Value, String>,
}

/// The enrichable attributes.
pub const ATTRIBUTES: &[AttributeSpec] = &[
    AttributeSpec {
        name: "blood_type",
        owner: "BYT",
        mirror: Some(CitizenField::BloodType),
        validate: blood_type,
    },
    AttributeSpec {
        // Licences moved from the Ministry of Transport to the police on 1 March 2025.
        name: "driving_licence",
        owner: "BCA",
        mirror: None,
        validate: driving_licence,
    },
    AttributeSpec {
        name: "health_insurance_number",
        owner: "BHXH",
        mirror: None,
        validate: health_insurance_number,
    },
];

/// The agency behind values the registry holds itself (set by the police at
/// registration, before any enrichment).
pub const REGISTRY_AGENCY: &str = "BCA";

/// The most items one call may carry (a full call fits the API's 64 KiB body limit).
pub const MAX_ITEMS: usize = 500;

pub fn spec(name: &str) -> Option<&'static AttributeSpec> {
    ATTRIBUTES.iter().find(|a| a.name == name)
}

/// `A`, `B`, `AB` or `O`, with the Rh factor when known: `AB+`, `O-` (also read from
/// `o rh+`, `AB Rh−`).
fn blood_type(v: &Value) -> Result<Value, String> {
    let s = v.as_str().ok_or("blood_type must be a string")?;
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '−' { '-' } else { c })
        .collect::<String>()
        .to_uppercase()
        .replace("RH", "");
    let (abo, rh) = match s.strip_suffix(['+', '-']) {
        Some(abo) => (abo, &s[abo.len()..]),
        None => (s.as_str(), ""),
    };
    if !["A", "B", "AB", "O"].contains(&abo) {
        return Err(format!(
            "blood_type '{s}': expected A, B, AB or O, optionally with + or -"
        ));
    }
    Ok(Value::String(format!("{abo}{rh}")))
}

/// Licence classes of the Law on Road Traffic Order and Safety (2024), and the classes
/// of licences issued before 2025, which stay valid.
const LICENCE_CLASSES: &[&str] = &[
    "A1", "A", "B1", "B", "C1", "C", "D1", "D2", "D", "BE", "C1E", "CE", "D1E", "D2E", "DE", "A2",
    "A3", "A4", "B2", "E", "FB2", "FC", "FD", "FE",
];

/// `{"number": 12 digits, "classes": [...], "issued_on"?: date, "expires_on"?: date}`;
/// a licence without `expires_on` does not expire (classes A1, A, B1).
fn driving_licence(v: &Value) -> Result<Value, String> {
    let o = v
        .as_object()
        .ok_or("driving_licence must be an object {number, classes, issued_on?, expires_on?}")?;
    if let Some(k) = o
        .keys()
        .find(|k| !["number", "classes", "issued_on", "expires_on"].contains(&k.as_str()))
    {
        return Err(format!("driving_licence: unknown key '{k}'"));
    }
    let number = o
        .get("number")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or("driving_licence.number must be the 12-digit licence number")?;
    let mut classes = Vec::new();
    for c in o
        .get("classes")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or("driving_licence.classes must be a non-empty list")?
    {
        let c = c
            .as_str()
            .map(|c| c.trim().to_uppercase())
            .filter(|c| LICENCE_CLASSES.contains(&c.as_str()))
            .ok_or_else(|| format!("driving_licence.classes: unknown class {c}"))?;
        if !classes.contains(&c) {
            classes.push(c);
        }
    }
    classes.sort();
    let date = |key: &str| -> Result<Option<PartialDate>, String> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => full_date(s)
                .map(Some)
                .map_err(|e| format!("driving_licence.{key}: {e}")),
            Some(_) => Err(format!("driving_licence.{key} must be a date YYYY-MM-DD")),
        }
    };
    let (issued, expires) = (date("issued_on")?, date("expires_on")?);
    if let (Some(i), Some(e)) = (issued, expires)
        && e.sort_key() <= i.sort_key()
    {
        return Err("driving_licence: expires_on must be after issued_on".into());
    }
    let mut out = json!({ "number": number, "classes": classes });
    if let Some(i) = issued {
        out["issued_on"] = Value::String(i.to_string());
    }
    if let Some(e) = expires {
        out["expires_on"] = Value::String(e.to_string());
    }
    Ok(out)
}

/// The 15-character health-insurance card code: beneficiary group (2 letters), benefit
/// level (1–5), issuing province (2 digits), social-insurance number (10 digits).
fn health_insurance_number(v: &Value) -> Result<Value, String> {
    let s = v
        .as_str()
        .ok_or("health_insurance_number must be a string")?
        .trim()
        .to_uppercase();
    let b = s.as_bytes();
    let ok = b.len() == 15
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && (b'1'..=b'5').contains(&b[2])
        && b[3..].iter().all(u8::is_ascii_digit)
        && &s[3..5] != "00";
    if !ok {
        return Err(format!(
            "health_insurance_number '{s}': expected 2 letters, a level 1-5, a 2-digit province \
             and the 10-digit social-insurance number (e.g. DN4010123456789)"
        ));
    }
    Ok(Value::String(s))
}

fn full_date(s: &str) -> Result<PartialDate, String> {
    match PartialDate::parse(s).map_err(|e| e.to_string())? {
        d @ PartialDate::Full(..) => Ok(d),
        _ => Err(format!("'{s}' must be a full date YYYY-MM-DD")),
    }
}

/// One update as a partner sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct EnrichItem {
    pub personal_id: String,
    pub field: String,
    pub value: Value,
    /// The day the agency observed the value (default: today).
    pub observed_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Applied,
    Unchanged,
    Conflict,
    Invalid,
    NotFound,
}

/// The answer for one item, in request order.
#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    pub index: usize,
    pub field: String,
    pub status: ItemStatus,
    /// Why an item is `invalid` or a `conflict` (`owned_by_other_agency`,
    /// `newer_value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The agency holding the value a conflict is about (never the value itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EnrichSummary {
    pub applied: usize,
    pub unchanged: usize,
    pub conflict: usize,
    pub invalid: usize,
    pub not_found: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnrichReport {
    /// The event the applied items were recorded under (none if nothing applied).
    pub event_id: Option<i64>,
    pub results: Vec<ItemResult>,
    pub summary: EnrichSummary,
}

/// An attribute as staff and the citizen see it, with its source.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeView {
    pub attribute: String,
    pub value: Value,
    pub observed_on: PartialDate,
    /// The partner (`partner:NAME`) and agency that pushed it.
    pub source: String,
    pub agency: String,
    pub owner: Option<&'static str>,
    pub event_id: i64,
    pub recorded_at: i64,
}

impl AttributeView {
    fn of(v: AttributeVersion) -> AttributeView {
        AttributeView {
            owner: spec(&v.attribute).map(|s| s.owner),
            value: serde_json::from_str(&v.value).unwrap_or(Value::String(v.value)),
            attribute: v.attribute,
            observed_on: v.observed_on,
            source: v.event.actor,
            agency: v.event.agency,
            event_id: v.event.id,
            recorded_at: v.event.at_millis,
        }
    }
}

/// A refused update, as the owning agency (or the partner that pushed it) sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    pub id: i64,
    pub at: i64,
    pub personal_id: String,
    pub attribute: String,
    pub owner: String,
    pub partner: String,
    pub agency: String,
    pub value: Value,
    pub observed_on: PartialDate,
    pub held_value: Option<Value>,
    pub held_agency: Option<String>,
    pub reason: String,
}

fn json_of(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

impl ConflictView {
    fn of(c: ConflictRecord) -> ConflictView {
        ConflictView {
            id: c.id,
            at: c.at,
            personal_id: c.personal_id.to_string(),
            attribute: c.attribute,
            owner: c.owner,
            partner: c.partner,
            agency: c.agency,
            value: json_of(c.value),
            observed_on: c.observed_on,
            held_value: c.held_value.map(json_of),
            held_agency: c.held_agency,
            reason: c.reason,
        }
    }
}

/// What the registry holds, as the rules compare it: value (canonical JSON), agency,
/// day observed (None: the registry's own value, of unknown date).
struct HeldValue {
    value: String,
    agency: String,
    observed: Option<i64>,
}

fn held_value(held: &Held<'_>) -> Option<HeldValue> {
    let version = held.version.map(|v| HeldValue {
        value: v.value.clone(),
        agency: v.event.agency.clone(),
        observed: Some(v.observed_on.sort_key().into()),
    });
    match held.mirror_value {
        // The mirrored field was set by the registry itself (before any enrichment, or
        // changed by an officer since): that is what is held.
        Some(m)
            if version
                .as_ref()
                .is_none_or(|v| json_of(v.value.clone()) != m) =>
        {
            Some(HeldValue {
                value: Value::String(m.to_owned()).to_string(),
                agency: REGISTRY_AGENCY.into(),
                observed: None,
            })
        }
        _ => version,
    }
}

/// The rules: unchanged if equal; a conflict if another agency's value is the owner's,
/// or if the value held was observed later; otherwise applied.
fn decide(
    spec: &AttributeSpec,
    agency: &str,
    value: &str,
    observed: PartialDate,
    held: &Held<'_>,
) -> (ItemStatus, Decision, Option<String>) {
    if !held.citizen_exists {
        return (ItemStatus::NotFound, Decision::Skip, None);
    }
    let Some(h) = held_value(held) else {
        return (ItemStatus::Applied, Decision::Apply, None);
    };
    if h.value == value {
        return (ItemStatus::Unchanged, Decision::Skip, None);
    }
    let reason = if h.agency != agency && h.agency == spec.owner {
        "owned_by_other_agency"
    } else if h.observed.is_some_and(|o| o > observed.sort_key().into()) {
        "newer_value"
    } else {
        return (ItemStatus::Applied, Decision::Apply, None);
    };
    (
        ItemStatus::Conflict,
        Decision::Conflict {
            reason: reason.into(),
            held_value: Some(h.value),
            held_agency: Some(h.agency.clone()),
        },
        Some(h.agency),
    )
}

const ENRICH: &str = "enrich";

impl App {
    /// Applies a partner's batch of updates; see the module documentation for the rules.
    /// A field the partner has no scope for refuses the whole call (403) before anything
    /// is charged; otherwise every item counts one request against the daily quota.
    pub fn enrich(
        &self,
        partner: &Partner,
        basis: Option<&str>,
        items: &[EnrichItem],
    ) -> Result<EnrichReport, Error> {
        let mut scopes: Vec<PartnerScope> = Vec::new();
        for item in items {
            let scope = PartnerScope::Enrich(item.field.clone());
            if spec(&item.field).is_some() && !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        // A key without any enrich scope, or without the scope of one of the fields, is
        // refused whole (and the refusal audited) before anything is read or charged.
        let any_enrich = partner
            .scopes
            .iter()
            .any(|s| matches!(s, PartnerScope::Enrich(_)));
        let fallback = PartnerScope::Enrich(items.first().map_or("*", |i| &i.field).to_owned());
        let missing = scopes
            .iter()
            .find(|s| !partner.scopes.contains(s))
            .or((!any_enrich).then_some(&fallback));
        if let Some(scope) = missing {
            self.admit_partner(partner, ENRICH, Some(scope), 0)?;
        }
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(Error::Invalid(format!(
                "items: send between 1 and {MAX_ITEMS} updates"
            )));
        }
        self.admit_partner(partner, ENRICH, None, items.len() as i64)?;

        let today = today();
        let mut results: Vec<ItemResult> = items
            .iter()
            .enumerate()
            .map(|(index, item)| ItemResult {
                index,
                field: item.field.clone(),
                status: ItemStatus::Invalid,
                reason: None,
                held_by: None,
            })
            .collect();
        // Valid items: their index in the request and their spec, in step with `writes`.
        let mut valid: Vec<(usize, &AttributeSpec)> = Vec::new();
        let mut writes: Vec<AttributeWrite> = Vec::new();
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            match self.parse_item(item, today) {
                Err(reason) => results[i].reason = Some(reason),
                Ok((spec, write)) => {
                    if !seen.insert((write.personal_id, spec.name)) {
                        results[i].reason = Some(format!(
                            "{}: this person's field is already in this call",
                            spec.name
                        ));
                        continue;
                    }
                    valid.push((i, spec));
                    writes.push(write);
                }
            }
        }
        let meta = EventMeta {
            actor: format!("partner:{}", partner.name),
            agency: partner.agency.clone(),
            basis: basis
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .unwrap_or("enrichment")
                .to_owned(),
            kind: ENRICH.into(),
            summary: json!({ "fields": scopes.iter().map(PartnerScope::code).collect::<Vec<_>>() })
                .to_string(),
            effective_date: today,
        };
        let event_id = self.store.enrich(&meta, &writes, &mut |k, held| {
            let (i, spec) = valid[k];
            let w = &writes[k];
            let (status, decision, held_by) =
                decide(spec, &partner.agency, &w.value, w.observed_on, &held);
            let r = &mut results[i];
            r.status = status;
            r.held_by = held_by;
            if let Decision::Conflict { reason, .. } = &decision {
                r.reason = Some(reason.clone());
            }
            decision
        })?;

        // Every item about an existing person is a write (or attempted write) of their
        // data: it goes to the audit log, and so to the person's data tracker.
        let mut tickets = Vec::new();
        let mut summary = EnrichSummary::default();
        for r in &results {
            match r.status {
                ItemStatus::Applied => summary.applied += 1,
                ItemStatus::Unchanged => summary.unchanged += 1,
                ItemStatus::Conflict => summary.conflict += 1,
                ItemStatus::Invalid => summary.invalid += 1,
                ItemStatus::NotFound => summary.not_found += 1,
            }
        }
        for (k, (i, spec)) in valid.iter().enumerate() {
            let r = &results[*i];
            if r.status == ItemStatus::NotFound {
                continue;
            }
            let mut entry = self.partner_entry(partner, "citizen.enrich", status_code(r.status));
            entry.actor_unit = partner.agency.clone();
            entry.personal_id = Some(writes[k].personal_id);
            entry.purpose = Some(format!("enrichment:{}", spec.name));
            entry.detail = event_id.map(|e| format!("event={e}"));
            tickets.push(self.audit.record(entry));
        }
        let mut entry = self.partner_entry(partner, ENRICH, "ok");
        entry.actor_unit = partner.agency.clone();
        entry.detail = Some(json!({ "event": event_id, "summary": &summary }).to_string());
        tickets.push(self.audit.record(entry));
        for t in tickets {
            t.wait()?;
        }
        Ok(EnrichReport {
            event_id,
            results,
            summary,
        })
    }

    fn parse_item(
        &self,
        item: &EnrichItem,
        today: PartialDate,
    ) -> Result<(&'static AttributeSpec, AttributeWrite), String> {
        let personal_id: PersonalId =
            PersonalId::parse(&item.personal_id).map_err(|e| format!("personal_id: {e}"))?;
        let spec = spec(&item.field).ok_or_else(|| {
            format!(
                "field '{}' is not enrichable: use one of {}",
                item.field,
                ATTRIBUTES
                    .iter()
                    .map(|a| a.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let value = (spec.validate)(&item.value)?;
        let observed_on = match item.observed_at.as_deref() {
            None => today,
            Some(s) => full_date(s).map_err(|e| format!("observed_at: {e}"))?,
        };
        if observed_on.sort_key() > today.sort_key() {
            return Err("observed_at: a value cannot be observed in the future".into());
        }
        Ok((
            spec,
            AttributeWrite {
                personal_id,
                attribute: spec.name.into(),
                mirror: spec.mirror.map(|f| {
                    (
                        f,
                        value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned),
                    )
                }),
                value: value.to_string(),
                observed_on,
                owner: spec.owner.into(),
            },
        ))
    }

    /// A person's enriched attributes (the latest of each, or the latest observed by
    /// `as_of`), for the officers of the person's unit and the person.
    pub fn attributes(
        &self,
        actor: &Actor,
        id: PersonalId,
        as_of: Option<&str>,
    ) -> Result<Audited<Vec<AttributeView>>, Error> {
        let as_of = as_of
            .map(PartialDate::parse)
            .transpose()
            .map_err(|e| Error::Invalid(format!("as_of: {e}")))?;
        let (_, purpose) = self.person_for(actor, Action::ReadAttributes, id)?;
        let value = self
            .store
            .attributes(id, as_of)?
            .into_iter()
            .map(AttributeView::of)
            .collect();
        Ok(Audited {
            value,
            tickets: vec![self.read_ticket(actor, "citizen.attributes", id, &purpose)],
        })
    }

    /// Every value pushed for a person's attributes, oldest first per attribute.
    pub fn attribute_history(
        &self,
        actor: &Actor,
        id: PersonalId,
    ) -> Result<Audited<Vec<AttributeView>>, Error> {
        let (_, purpose) = self.person_for(actor, Action::ReadAttributes, id)?;
        let value = self
            .store
            .attribute_history(id)?
            .into_iter()
            .map(AttributeView::of)
            .collect();
        Ok(Audited {
            value,
            tickets: vec![self.read_ticket(actor, "citizen.attributes.history", id, &purpose)],
        })
    }

    /// Refused updates of the fields the partner's agency owns, and those the partner
    /// pushed, newest first. Each conflict names a person: each is an audited read.
    pub fn enrich_conflicts(
        &self,
        partner: &Partner,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConflictView>, Error> {
        const ACTION: &str = "enrich.conflicts";
        let owns_or_pushes = !partner.agency.is_empty()
            && partner
                .scopes
                .iter()
                .any(|s| matches!(s, PartnerScope::Enrich(_)));
        let scope = (!owns_or_pushes).then(|| PartnerScope::Enrich("*".into()));
        self.admit_partner(partner, ACTION, scope.as_ref(), 1)?;
        let conflicts = self.store.enrich_conflicts(
            &partner.agency,
            &format!("partner:{}", partner.name),
            before_id,
            limit.clamp(1, 1000),
        )?;
        let mut tickets = Vec::new();
        for c in &conflicts {
            let mut entry = self.partner_entry(partner, ACTION, "ok");
            entry.actor_unit = partner.agency.clone();
            entry.personal_id = Some(c.personal_id);
            entry.purpose = Some(format!("enrichment_conflict:{}", c.attribute));
            tickets.push(self.audit.record(entry));
        }
        if conflicts.is_empty() {
            tickets.push(self.audit.record(self.partner_entry(partner, ACTION, "ok")));
        }
        for t in tickets {
            t.wait()?;
        }
        Ok(conflicts.into_iter().map(ConflictView::of).collect())
    }
}

fn status_code(s: ItemStatus) -> &'static str {
    match s {
        ItemStatus::Applied => "applied",
        ItemStatus::Unchanged => "unchanged",
        ItemStatus::Conflict => "conflict",
        ItemStatus::Invalid => "invalid",
        ItemStatus::NotFound => "not_found",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dancu_store::EventRecord;

    fn day(s: &str) -> PartialDate {
        PartialDate::parse(s).unwrap()
    }

    #[test]
    fn blood_types_are_canonical() {
        for (input, want) in [
            ("a+", "A+"),
            ("AB Rh-", "AB-"),
            ("o rh+", "O+"),
            ("B−", "B-"),
            ("O", "O"),
        ] {
            assert_eq!(blood_type(&json!(input)).unwrap(), json!(want), "{input}");
        }
        for bad in [json!("C+"), json!("A++"), json!(""), json!(1), json!("ABO")] {
            assert!(blood_type(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn driving_licences_are_checked_and_canonical() {
        let v = driving_licence(&json!({
            "number": " 010123456789 ", "classes": ["b", "A1", "B"], "issued_on": "2020-01-02",
            "expires_on": "2030-01-02"
        }))
        .unwrap();
        assert_eq!(
            v,
            json!({"number": "010123456789", "classes": ["A1", "B"],
                   "issued_on": "2020-01-02", "expires_on": "2030-01-02"})
        );
        for bad in [
            json!("010123456789"),
            json!({"number": "0101234567", "classes": ["B"]}),
            json!({"number": "010123456789", "classes": []}),
            json!({"number": "010123456789", "classes": ["Z9"]}),
            json!({"number": "010123456789", "classes": ["B"], "expires_on": "2030"}),
            json!({"number": "010123456789", "classes": ["B"], "issued_on": "2030-01-01",
                   "expires_on": "2020-01-01"}),
            json!({"number": "010123456789", "classes": ["B"], "colour": "pink"}),
        ] {
            assert!(driving_licence(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn health_insurance_numbers_have_the_card_format() {
        assert_eq!(
            health_insurance_number(&json!("dn4010123456789")).unwrap(),
            json!("DN4010123456789")
        );
        for bad in [
            "DN401012345678",
            "DN6010123456789",
            "D14010123456789",
            "DN4000123456789",
            "DN40101234567890",
        ] {
            assert!(health_insurance_number(&json!(bad)).is_err(), "{bad}");
        }
    }

    fn version(value: &str, agency: &str, observed: &str) -> AttributeVersion {
        AttributeVersion {
            attribute: "blood_type".into(),
            value: value.into(),
            observed_on: day(observed),
            event: EventRecord {
                id: 1,
                at_millis: 0,
                effective_date: day(observed),
                actor: format!("partner:{agency}"),
                agency: agency.into(),
                basis: String::new(),
                kind: "enrich".into(),
                summary: String::new(),
            },
        }
    }

    #[test]
    fn the_rules_never_overwrite_the_owner_or_a_newer_value() {
        let blood = spec("blood_type").unwrap();
        fn held<'a>(v: Option<&'a AttributeVersion>, mirror: Option<&'a str>) -> Held<'a> {
            Held {
                citizen_exists: true,
                version: v,
                mirror_value: mirror,
            }
        }
        let status = |agency: &str, value: &str, observed: &str, h: Held<'_>| {
            let (s, _, by) = decide(blood, agency, value, day(observed), &h);
            (s, by)
        };
        let owner_value = version("\"A+\"", "BYT", "2025-05-01");
        let other_value = version("\"A+\"", "BXD", "2025-05-01");
        // Nothing held: applied, by anyone with the scope.
        assert_eq!(
            status("BXD", "\"B+\"", "2025-01-01", held(None, None)).0,
            ItemStatus::Applied
        );
        // The registry's own value (no date) is replaced by the owner.
        assert_eq!(
            status("BYT", "\"O+\"", "2025-01-01", held(None, Some("O"))).0,
            ItemStatus::Applied
        );
        // Equal: unchanged, whoever sends it.
        assert_eq!(
            status(
                "BXD",
                "\"A+\"",
                "2026-01-01",
                held(Some(&owner_value), Some("A+"))
            )
            .0,
            ItemStatus::Unchanged
        );
        // Another agency never replaces the owner's value, however recent.
        assert_eq!(
            status(
                "BXD",
                "\"B+\"",
                "2026-01-01",
                held(Some(&owner_value), Some("A+"))
            ),
            (ItemStatus::Conflict, Some("BYT".into()))
        );
        // The owner replaces another agency's value if not older.
        assert_eq!(
            status(
                "BYT",
                "\"B+\"",
                "2025-05-01",
                held(Some(&other_value), Some("A+"))
            )
            .0,
            ItemStatus::Applied
        );
        // An older observation never replaces a newer one, even the owner's own.
        assert_eq!(
            status(
                "BYT",
                "\"B+\"",
                "2025-04-30",
                held(Some(&owner_value), Some("A+"))
            ),
            (ItemStatus::Conflict, Some("BYT".into()))
        );
        // An officer changed the mirrored field since: the registry's value is held.
        assert_eq!(
            status(
                "BXD",
                "\"B+\"",
                "2025-01-01",
                held(Some(&owner_value), Some("AB"))
            )
            .0,
            ItemStatus::Applied
        );
        let gone = Held {
            citizen_exists: false,
            version: None,
            mirror_value: None,
        };
        assert_eq!(
            status("BYT", "\"B+\"", "2025-01-01", gone).0,
            ItemStatus::NotFound
        );
    }
}
