//! The citizen's data tracker (as Estonia's andmejälgija): who read or changed a
//! person's data, when, from which unit and for what purpose — fed by the audit log, so
//! by every read from day one.

use dancu_domain::PersonalId;
use serde::Serialize;

use crate::policy::{self, Action, Actor, Role, Scope};
use crate::{App, Error};

#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub at: i64,
    /// `citizen.read`, `citizen.update`, `citizen.search`, …
    pub action: String,
    /// The unit (or agency) of the person who accessed the data.
    pub unit: String,
    pub role: String,
    /// Registry management, a dossier and its procedure, the person's own access…
    pub purpose: Option<String>,
    pub outcome: String,
    /// The account, for auditors; a citizen sees the unit and role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl App {
    /// Who accessed `person`, newest first: for the person's own account and for
    /// auditors of the person's unit.
    pub fn data_access(
        &self,
        actor: &Actor,
        person: PersonalId,
        limit: u32,
    ) -> Result<Vec<Access>, Error> {
        let grant = policy::grant(actor.role, Action::ReadAudit);
        let citizen = match grant {
            // A citizen's own tracker needs no lookup of where they live.
            Some(Scope::Own) | None => None,
            _ => Some(self.store.citizen(person)?.ok_or(Error::NotFound)?),
        };
        let unit = citizen.as_ref().map_or(
            policy::Target {
                structure: dancu_domain::units::Structure::Y2025,
                code: "",
            },
            |c| policy::Target {
                structure: c.commune_structure,
                code: c.commune_code.as_deref().unwrap_or(""),
            },
        );
        let subject = policy::Subject {
            unit,
            person,
            dossier: None,
        };
        let successions = self.store.successions()?;
        policy::authorize_subject(self.units, &successions, actor, Action::ReadAudit, &subject)
            .map_err(|d| {
                self.audit.record_detached(self.audit_entry(
                    actor,
                    "tracker.read",
                    Some(person),
                    None,
                    "denied",
                ));
                Error::Forbidden(d)
            })?;
        let show_account = actor.role != Role::Citizen;
        let entries = self
            .store
            .audit_for_person(person, limit.clamp(1, 1000))?
            .into_iter()
            .map(|e| Access {
                at: e.at_millis,
                action: e.action,
                unit: e.actor_unit,
                role: e.actor_role,
                purpose: e.purpose,
                outcome: e.outcome,
                account: show_account.then_some(e.actor),
            })
            .collect();
        self.audit
            .record(self.audit_entry(actor, "tracker.read", Some(person), None, "ok"))
            .wait()?;
        Ok(entries)
    }
}
