//! The append-only audit log of every read and write of a person's data.

use serde::Serialize;

use crate::citizens::pid_value;
use crate::sql::{Tx, Value};
use crate::{Error, Store};
use dancu_domain::PersonalId;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at_millis: i64,
    pub actor: String,
    pub actor_role: String,
    pub actor_unit: String,
    /// What was done, e.g. `citizen.read`, `citizen.search`, `readdress.apply`.
    pub action: String,
    pub personal_id: Option<PersonalId>,
    pub purpose: Option<String>,
    /// `ok`, `denied`, `not_found`.
    pub outcome: String,
    /// Where the request came from (the client address after trusted proxies).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// What the log's reader needs beyond the action: the factor of a login, the reason
    /// of a refusal, the dossier of a lookup. Never shown to the client that failed.
    pub detail: Option<String>,
}

impl Store {
    /// Appends entries in one transaction (the server batches concurrent reads into one call).
    pub fn append_audit(&self, entries: &[AuditEntry]) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(|tx| insert_audit(tx, entries))
    }

    /// Who touched a person's data, newest first.
    pub fn audit_for_person(&self, id: PersonalId, limit: u32) -> Result<Vec<AuditEntry>, Error> {
        self.read(|tx| {
            tx.query(
                "SELECT at, actor, actor_role, actor_unit, action, personal_id, purpose, outcome, \
                 ip, user_agent, detail \
                 FROM audit_log WHERE personal_id = $1 ORDER BY id DESC LIMIT $2",
                &[Value::Int(pid_value(id)), Value::Int(limit.into())],
            )?
            .into_iter()
            .map(|mut r| {
                let at_millis = r[0].as_i64().unwrap_or_default();
                let mut text = |i: usize| std::mem::replace(&mut r[i], Value::Null).into_string();
                Ok(AuditEntry {
                    at_millis,
                    actor: text(1).unwrap_or_default(),
                    actor_role: text(2).unwrap_or_default(),
                    actor_unit: text(3).unwrap_or_default(),
                    action: text(4).unwrap_or_default(),
                    purpose: text(6),
                    outcome: text(7).unwrap_or_default(),
                    ip: text(8),
                    user_agent: text(9),
                    detail: text(10),
                    personal_id: Some(id),
                })
            })
            .collect()
        })
    }

    pub fn audit_count(&self) -> Result<i64, Error> {
        self.read(|tx| tx.query_i64("SELECT COUNT(*) FROM audit_log", &[]))
    }
}

/// Inserts audit entries inside the caller's transaction (so that they commit together
/// with what they record, e.g. a batch job's checkpoint).
pub(crate) fn insert_audit(tx: &mut dyn Tx, entries: &[AuditEntry]) -> Result<(), Error> {
    tx.bulk_insert(
        "audit_log",
        &[
            "at",
            "actor",
            "actor_role",
            "actor_unit",
            "action",
            "personal_id",
            "purpose",
            "outcome",
            "ip",
            "user_agent",
            "detail",
        ],
        &mut entries.iter().map(|e| {
            vec![
                Value::Int(e.at_millis),
                Value::Text(e.actor.clone()),
                Value::Text(e.actor_role.clone()),
                Value::Text(e.actor_unit.clone()),
                Value::Text(e.action.clone()),
                Value::from(e.personal_id.map(pid_value)),
                e.purpose.clone().into(),
                Value::Text(e.outcome.clone()),
                e.ip.clone().into(),
                e.user_agent.clone().into(),
                e.detail.clone().into(),
            ]
        }),
    )?;
    Ok(())
}
