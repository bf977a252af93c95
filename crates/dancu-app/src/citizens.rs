//! Reading and changing people's records. Each read is authorized against the person's
//! commune, and its data is released only once the audit entry is committed.

use dancu_domain::units::Structure;
use dancu_domain::{Citizen, Household, PartialDate, PersonalId, Residence};
use dancu_store::{ChangeRecord, CitizenField, EventMeta, ResidenceRecord, SearchQuery};
use serde::Serialize;

use crate::policy::{self, Action, Actor, Scope, Target};

use crate::{App, AuditTicket, Error};
/// Days since 1970-01-01 to a civil date (kept here for the callers that use it).
pub use dancu_domain::date::civil_from_days;

/// Data that may be handed out once its audit entries are committed.
#[must_use = "release the data through `release` or `release_blocking`"]
pub struct Audited<T> {
    pub(crate) value: T,
    pub(crate) tickets: Vec<AuditTicket>,
}

impl<T> Audited<T> {
    pub async fn release(self) -> Result<T, Error> {
        for t in self.tickets {
            t.committed().await?;
        }
        Ok(self.value)
    }

    pub fn release_blocking(self) -> Result<T, Error> {
        for t in self.tickets {
            t.wait()?;
        }
        Ok(self.value)
    }
}

/// One page of search results; `next_after` continues the listing.
#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub items: Vec<Listed>,
    /// An opaque cursor: pass it back as `after`.
    pub next_after: Option<String>,
}

/// A person in a list: whole for a caller who handles them, masked otherwise.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Listed {
    Full(Box<Citizen>),
    Masked(MaskedCitizen),
}

/// What a list shows of a person the caller does not handle: the ID number and date of
/// birth are masked (finding 6: the dossier repository leaked name, date of birth and
/// ID number); opening the person needs a dossier for them.
#[derive(Debug, Clone, Serialize)]
pub struct MaskedCitizen {
    pub personal_id: String,
    pub full_name: String,
    /// The year of birth only.
    pub date_of_birth: String,
    pub gender: dancu_domain::Gender,
    pub commune_code: Option<String>,
    pub masked: bool,
}

impl MaskedCitizen {
    fn of(c: Citizen) -> MaskedCitizen {
        let id = c.personal_id.to_string();
        MaskedCitizen {
            personal_id: format!("{}******{}", &id[..4], &id[10..]),
            full_name: c.full_name,
            date_of_birth: c.date_of_birth.year().to_string(),
            gender: c.gender,
            commune_code: c.commune_code,
            masked: true,
        }
    }
}

/// A search request as callers give it.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    pub personal_id: Option<String>,
    /// An old 9-digit ID card number (CMND), kept as an alias.
    pub old_id_number: Option<String>,
    pub name: Option<String>,
    pub date_of_birth: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

pub const MAX_PAGE: u32 = 100;

fn target(c: &Citizen) -> Target<'_> {
    Target {
        structure: c.commune_structure,
        code: c.commune_code.as_deref().unwrap_or(""),
    }
}

pub fn parse_personal_id(s: &str) -> Result<PersonalId, Error> {
    PersonalId::parse(s).map_err(|e| Error::Invalid(format!("personal_id: {e}")))
}

impl App {
    /// Loads a person and checks that `actor` may do `action` on them; returns the
    /// person and the purpose the audit entry records. A person outside the actor's
    /// reach is a 403 (refusal audited); an unknown ID is a 404 — but only to a caller
    /// who could have read that person had it existed, so that refusals reveal nothing.
    pub(crate) fn person_for(
        &self,
        actor: &Actor,
        action: Action,
        id: PersonalId,
    ) -> Result<(Citizen, String), Error> {
        let dossier = match actor.dossier {
            Some(d) => self.store.dossier(d)?,
            None => None,
        };
        let pre_check = match policy::grant(actor.role, action) {
            None => false,
            Some(Scope::Dossier) => dossier
                .as_ref()
                .is_some_and(|d| policy::handles_dossier(self.units, actor, d, id)),
            Some(Scope::Own) => actor.personal_id == Some(id),
            Some(Scope::Any | Scope::OwnUnit) => true,
        };
        // Refusals and probes for numbers are themselves worth an auditor's attention.
        let note = |outcome: &str| {
            self.audit.record_detached(self.audit_entry(
                actor,
                &format!("{action:?}"),
                Some(id),
                None,
                outcome,
            ))
        };
        if !pre_check {
            note("denied");
            return Err(Error::Forbidden(policy::Denied {
                role: actor.role,
                action,
            }));
        }
        let Some(c) = self.store.citizen(id)? else {
            note("not_found");
            return Err(Error::NotFound);
        };
        let subject = policy::Subject {
            unit: target(&c),
            person: id,
            dossier: dossier.as_ref(),
        };
        let successions = self.store.successions()?;
        policy::authorize_subject(self.units, &successions, actor, action, &subject).map_err(
            |denied| {
                note("denied");
                Error::Forbidden(denied)
            },
        )?;
        let purpose = match (&dossier, policy::grant(actor.role, action)) {
            (Some(d), Some(Scope::Dossier)) => {
                format!("dossier:{} procedure:{}", d.id, d.procedure)
            }
            (_, Some(Scope::Own)) => "own_record".to_owned(),
            _ => "registry_management".to_owned(),
        };
        Ok((c, purpose))
    }

    pub(crate) fn read_ticket(
        &self,
        actor: &Actor,
        what: &str,
        id: PersonalId,
        purpose: &str,
    ) -> AuditTicket {
        self.observe_read(actor, id);
        if cfg!(feature = "bench-unaudited-reads") {
            return AuditTicket::unaudited_for_benchmark();
        }
        self.audit
            .record(self.audit_entry(actor, what, Some(id), Some(purpose), "ok"))
    }

    pub fn citizen(&self, actor: &Actor, id: PersonalId) -> Result<Audited<Citizen>, Error> {
        let (c, purpose) = self.person_for(actor, Action::ReadCitizen, id)?;
        Ok(Audited {
            value: c,
            tickets: vec![self.read_ticket(actor, "citizen.read", id, &purpose)],
        })
    }

    pub fn residences(
        &self,
        actor: &Actor,
        id: PersonalId,
    ) -> Result<Audited<Vec<ResidenceRecord>>, Error> {
        let (_, purpose) = self.person_for(actor, Action::ReadCitizen, id)?;
        Ok(Audited {
            value: self.store.residences(id)?,
            tickets: vec![self.read_ticket(actor, "citizen.residences", id, &purpose)],
        })
    }

    pub fn changes(
        &self,
        actor: &Actor,
        id: PersonalId,
    ) -> Result<Audited<Vec<ChangeRecord>>, Error> {
        let (_, purpose) = self.person_for(actor, Action::ReadCitizen, id)?;
        Ok(Audited {
            value: self.store.changes(id)?,
            tickets: vec![self.read_ticket(actor, "citizen.history", id, &purpose)],
        })
    }

    /// The person as of a past date; the scope check uses today's commune (who may read
    /// the person now), the answer shows the commune of that date.
    pub fn citizen_as_of(
        &self,
        actor: &Actor,
        id: PersonalId,
        date: &str,
    ) -> Result<Audited<Citizen>, Error> {
        let date = PartialDate::parse(date).map_err(|e| Error::Invalid(format!("date: {e}")))?;
        let (_, purpose) = self.person_for(actor, Action::ReadCitizen, id)?;
        let c = self.store.citizen_as_of(id, date)?.ok_or(Error::NotFound)?;
        Ok(Audited {
            value: c,
            tickets: vec![self.read_ticket(actor, "citizen.as_of", id, &purpose)],
        })
    }

    /// A household with its members, if its commune is in the actor's units.
    pub fn household(
        &self,
        actor: &Actor,
        id: u64,
    ) -> Result<Audited<(Household, Vec<Citizen>)>, Error> {
        // A household lists several people: only roles that read by unit may open one.
        if policy::grant(actor.role, Action::ReadCitizen) != Some(Scope::OwnUnit) {
            return Err(Error::Forbidden(policy::Denied {
                role: actor.role,
                action: Action::ReadCitizen,
            }));
        }
        let (h, structure, members) = self.store.household(id)?.ok_or(Error::NotFound)?;
        let t = Target {
            structure,
            code: &h.commune_code,
        };
        self.authorize(actor, Action::ReadCitizen, Some(t), None)?;
        let tickets = members
            .iter()
            .map(|m| {
                self.read_ticket(
                    actor,
                    "household.read",
                    m.personal_id,
                    "registry_management",
                )
            })
            .collect();
        Ok(Audited {
            value: (h, members),
            tickets,
        })
    }

    /// Search by ID number, or by name (accent-insensitive) and optional date of birth,
    /// within the actor's units. Each person listed is an audited read.
    pub fn search(&self, actor: &Actor, p: &SearchParams) -> Result<Audited<SearchPage>, Error> {
        self.authorize(actor, Action::SearchCitizens, None, None)?;
        let limit = p.limit.unwrap_or(20).clamp(1, MAX_PAGE);
        let successions = self.store.successions()?;
        let in_scope =
            |c: &Citizen| policy::unit_contains(self.units, &successions, &actor.unit, target(c));
        let items = if let Some(id) = p.personal_id.as_deref() {
            let id = parse_personal_id(id)?;
            self.store
                .citizen(id)?
                .into_iter()
                .filter(in_scope)
                .collect()
        } else if let Some(old) = p.old_id_number.as_deref() {
            let old = dancu_domain::personal_id::OldIdNumber::parse(old)
                .map_err(|e| Error::Invalid(format!("old_id_number: {e}")))?;
            self.store
                .citizens_by_old_id(old.as_str())?
                .into_iter()
                .filter(in_scope)
                .collect()
        } else {
            let name = p.name.as_deref().map(str::trim).unwrap_or("");
            let folded = dancu_domain::text::fold(name);
            if folded.len() < 2 {
                return Err(Error::Invalid(
                    "give personal_id, or a name of at least 2 letters".into(),
                ));
            }
            let date_of_birth = p
                .date_of_birth
                .as_deref()
                .map(PartialDate::parse)
                .transpose()
                .map_err(|e| Error::Invalid(format!("date_of_birth: {e}")))?;
            let after = p
                .after
                .as_deref()
                .map(|a| {
                    self.cursor
                        .open(a)
                        .ok_or_else(|| Error::Invalid("after: not a cursor of this search".into()))
                })
                .transpose()?;
            self.store.search(&SearchQuery {
                // Prefix: "nguyen van" lists every Nguyễn Văn …; a full name its namesakes.
                prefix: true,
                name_folded: folded,
                date_of_birth,
                units: policy::unit_filter(self.units, &successions, actor),
                limit,
                after,
            })?
        };
        let next_after = (items.len() as u32 == limit)
            .then(|| items.last().map(|c| self.cursor.seal(c.personal_id)))
            .flatten();
        let tickets = items
            .iter()
            .map(|c| self.read_ticket(actor, "citizen.search", c.personal_id, "search"))
            .collect();
        // Roles that read by unit handle everyone their search may list; roles that read
        // through dossiers see in full only the people of their unit's open dossiers.
        let handled: Vec<i64> =
            if policy::grant(actor.role, Action::ReadCitizen) == Some(Scope::OwnUnit) {
                items
                    .iter()
                    .map(|c| c.personal_id.as_u64() as i64)
                    .collect()
            } else {
                let ids: Vec<i64> = items
                    .iter()
                    .map(|c| c.personal_id.as_u64() as i64)
                    .collect();
                self.store.subjects_with_open_dossier(&actor.unit, &ids)?
            };
        let items = items
            .into_iter()
            .map(|c| {
                if handled.contains(&(c.personal_id.as_u64() as i64)) {
                    Listed::Full(Box::new(c))
                } else {
                    Listed::Masked(MaskedCitizen::of(c))
                }
            })
            .collect();
        Ok(Audited {
            value: SearchPage { items, next_after },
            tickets,
        })
    }

    /// Corrects fields of a person's record under a legal basis; old values are kept.
    pub fn update_citizen(
        &self,
        actor: &Actor,
        id: PersonalId,
        basis: &str,
        updates: &[(String, Option<String>)],
    ) -> Result<Vec<CitizenField>, Error> {
        self.person_for(actor, Action::WriteCitizen, id)?;
        if basis.trim().is_empty() {
            return Err(Error::Invalid(
                "basis (procedure or legal basis) is required".into(),
            ));
        }
        let mut parsed = Vec::new();
        for (name, value) in updates {
            let field = CitizenField::parse(name)
                .ok_or_else(|| Error::Invalid(format!("unknown or read-only field '{name}'")))?;
            let value = match (field, value.as_deref()) {
                (CitizenField::FullName, Some(v)) => Some(
                    dancu_domain::text::validate_name(v)
                        .map_err(|e| Error::Invalid(format!("full_name: {e}")))?,
                ),
                (_, v) => v.map(str::to_owned),
            };
            parsed.push((field, value));
        }
        let meta = EventMeta {
            actor: actor.username.clone(),
            agency: actor.unit.clone(),
            basis: basis.into(),
            kind: "update".into(),
            summary:
                serde_json::json!({ "fields": updates.iter().map(|(f, _)| f).collect::<Vec<_>>() })
                    .to_string(),
            effective_date: today(),
        };
        let changed = self
            .store
            .update_citizen(id, &meta, &parsed)
            .map_err(|e| match e {
                dancu_store::Error::Conflict(m) => Error::Invalid(m),
                other => other.into(),
            })?;
        self.audit
            .record(self.audit_entry(actor, "citizen.update", Some(id), Some(basis), "ok"))
            .wait()?;
        Ok(changed)
    }

    /// Registers a residence (permanent, temporary or absence) in a 2025 commune that is
    /// inside the actor's units, for a person inside them.
    pub fn register_residence(
        &self,
        actor: &Actor,
        id: PersonalId,
        basis: &str,
        residence: &Residence,
    ) -> Result<i64, Error> {
        self.person_for(actor, Action::WriteCitizen, id)?;
        if basis.trim().is_empty() {
            return Err(Error::Invalid(
                "basis (procedure or legal basis) is required".into(),
            ));
        }
        if self
            .units
            .current_commune(&residence.commune_code)
            .is_none()
        {
            return Err(Error::Invalid(format!(
                "unknown commune code '{}' in the 2025 structure",
                residence.commune_code
            )));
        }
        let successions = self.store.successions()?;
        if let Some(s) = successions
            .of(Structure::Y2025, &residence.commune_code)
            .filter(|s| s.effective_date <= residence.valid_from)
        {
            return Err(Error::Invalid(format!(
                "commune '{}' became '{}' on {}: register the residence there",
                residence.commune_code, s.to_code, s.effective_date
            )));
        }
        self.authorize(
            actor,
            Action::WriteCitizen,
            Some(Target {
                structure: Structure::Y2025,
                code: &residence.commune_code,
            }),
            Some(id),
        )?;
        let meta = EventMeta {
            actor: actor.username.clone(),
            agency: actor.unit.clone(),
            basis: basis.into(),
            kind: "residence".into(),
            summary: serde_json::json!({ "kind": residence.kind.code() }).to_string(),
            effective_date: residence.valid_from,
        };
        let event = self
            .store
            .register_residence(id, &meta, residence)
            .map_err(|e| match e {
                dancu_store::Error::Conflict(m) => Error::Invalid(m),
                other => other.into(),
            })?;
        self.audit
            .record(self.audit_entry(actor, "citizen.residence", Some(id), Some(basis), "ok"))
            .wait()?;
        Ok(event)
    }
}

/// Seals search cursors so that a masked list does not reveal its last ID number in
/// `next_after`. The key lives for the process: a cursor from before a restart (or from
/// another node) is refused and the search starts again.
pub(crate) struct CursorKey(u64);

impl CursorKey {
    pub(crate) fn random() -> CursorKey {
        CursorKey(rand::random())
    }

    fn seal(&self, id: PersonalId) -> String {
        format!("{:016x}", id.as_u64() ^ self.0)
    }

    fn open(&self, cursor: &str) -> Option<PersonalId> {
        let v = u64::from_str_radix(cursor, 16).ok()?;
        PersonalId::from_u64(v ^ self.0).ok()
    }
}

/// Today's date (UTC) as a full partial date.
pub fn today() -> PartialDate {
    PartialDate::from_unix_millis(dancu_store::now_millis())
}
