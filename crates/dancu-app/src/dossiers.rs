//! Dossiers of administrative procedures, as far as access to people needs them: an
//! officer of a procedure desk opens one for a person in its own unit, and its lookups
//! of that person (037) name the dossier until it is closed.

use dancu_domain::PersonalId;
use dancu_store::DossierRecord;

use crate::policy::{self, Action, Actor};
use crate::{App, Error};

/// A procedure code of the national catalogue, e.g. `1.001193`.
fn validate_procedure(code: &str) -> Result<(), Error> {
    if code.is_empty()
        || code.len() > 32
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(Error::Invalid(
            "procedure: a procedure code such as 1.001193".into(),
        ));
    }
    Ok(())
}

impl App {
    /// Opens a dossier for `subject`, handled by the actor's own unit.
    pub fn open_dossier(
        &self,
        actor: &Actor,
        procedure: &str,
        subject: PersonalId,
    ) -> Result<DossierRecord, Error> {
        self.authorize(actor, Action::HandleDossiers, None, Some(subject))?;
        validate_procedure(procedure)?;
        let id = self.store.open_dossier(
            &actor.unit,
            procedure,
            subject.as_u64() as i64,
            &actor.username,
        )?;
        self.audit
            .record(self.audit_entry(actor, "dossier.open", Some(subject), Some(procedure), "ok"))
            .wait()?;
        self.store.dossier(id)?.ok_or(Error::NotFound)
    }

    /// A dossier of the actor's unit.
    pub fn dossier(&self, actor: &Actor, id: i64) -> Result<DossierRecord, Error> {
        self.authorize(actor, Action::HandleDossiers, None, None)?;
        match self.store.dossier(id)? {
            Some(d) if policy::is_inside(self.units, &d.unit, &actor.unit) => Ok(d),
            // Another unit's dossier is as invisible as a missing one (finding 4).
            _ => Err(Error::NotFound),
        }
    }

    pub fn close_dossier(&self, actor: &Actor, id: i64) -> Result<DossierRecord, Error> {
        let d = self.dossier(actor, id)?;
        if !self.store.close_dossier(id)? {
            return Err(Error::Conflict(format!("dossier {id} is not in progress")));
        }
        let subject = PersonalId::from_u64(d.subject_id as u64).ok();
        self.audit
            .record(self.audit_entry(actor, "dossier.close", subject, Some(&d.procedure), "ok"))
            .wait()?;
        self.store.dossier(id)?.ok_or(Error::NotFound)
    }
}
