//! Alerts on unusual activity: an account that reads more distinct people than a
//! threshold within a sliding window (an officer harvesting the registry, as in finding
//! 4 of the inspection) raises one alert record and one audit entry, not one per read; the
//! next alert for it can come one window later. Auditors read the alerts of their unit.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use dancu_domain::PersonalId;
use dancu_store::AlertRecord;
use serde::Serialize;
use serde_json::json;

use crate::policy::{self, Action, Actor, Scope};
use crate::{App, Error};

pub const MASS_READ: &str = "mass_read";

/// The people one account read within the window.
#[derive(Default)]
struct Window {
    reads: VecDeque<(i64, u64)>,
    distinct: HashMap<u64, u32>,
    /// No new alert before this time (one window after the last one).
    quiet_until: i64,
}

/// Distinct people read per account over a sliding window, in memory.
pub(crate) struct ReadWatch {
    threshold: usize,
    window_millis: i64,
    accounts: Mutex<HashMap<String, Window>>,
}

impl ReadWatch {
    pub(crate) fn new(threshold: usize, window: Duration) -> ReadWatch {
        ReadWatch {
            threshold,
            window_millis: window.as_millis() as i64,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Notes that `account` read `person`; returns the number of distinct people read
    /// in the window when this read makes it cross the threshold and no alert was
    /// raised for the account within the last window.
    fn note(&self, account: &str, person: u64, now: i64) -> Option<usize> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let w = match accounts.get_mut(account) {
            Some(w) => w,
            None => accounts.entry(account.to_owned()).or_default(),
        };
        while let Some(&(at, old)) = w.reads.front() {
            if now - at < self.window_millis {
                break;
            }
            w.reads.pop_front();
            if let Some(n) = w.distinct.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    w.distinct.remove(&old);
                }
            }
        }
        w.reads.push_back((now, person));
        *w.distinct.entry(person).or_default() += 1;
        let distinct = w.distinct.len();
        if distinct > self.threshold && now >= w.quiet_until {
            w.quiet_until = now + self.window_millis;
            Some(distinct)
        } else {
            None
        }
    }
}

/// An alert as auditors see it.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub account: String,
    pub unit: String,
    pub detail: serde_json::Value,
}

impl App {
    /// Watches the reads of staff accounts; called for every audited read of a person.
    pub(crate) fn observe_read(&self, actor: &Actor, person: PersonalId) {
        if !actor.role.is_staff() {
            return;
        }
        let now = dancu_store::now_millis();
        let Some(distinct) = self.reads.note(&actor.username, person.as_u64(), now) else {
            return;
        };
        let detail = json!({
            "distinct_people": distinct,
            "threshold": self.reads.threshold,
            "window_seconds": self.reads.window_millis / 1000,
        })
        .to_string();
        let alert = AlertRecord {
            at: now,
            kind: MASS_READ.into(),
            actor: actor.username.clone(),
            actor_unit: actor.unit.clone(),
            detail: detail.clone(),
            ..Default::default()
        };
        if let Err(e) = self.store.add_alert(&alert) {
            tracing::error!(error = %crate::redact(&e.to_string()), "alert not stored");
        }
        tracing::warn!(account = %actor.username, distinct, "mass-read alert");
        let mut entry = self.audit_entry(actor, "alert.raised", None, Some(MASS_READ), "alert");
        entry.detail = Some(detail);
        self.audit.record_detached(entry);
    }

    /// The newest alerts about accounts of the actor's unit (auditors), up to `limit`.
    pub fn alerts(&self, actor: &Actor, limit: u32) -> Result<Vec<Alert>, Error> {
        self.authorize(actor, Action::ReadAlerts, None, None)?;
        let everywhere = policy::grant(actor.role, Action::ReadAlerts) == Some(Scope::Any);
        let limit = limit.clamp(1, 1000) as usize;
        let mut out = Vec::new();
        let mut before = None;
        while out.len() < limit {
            let page = self.store.alerts(before, 500)?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            out.extend(
                page.into_iter()
                    .filter(|a| {
                        everywhere || policy::is_inside(self.units, &a.actor_unit, &actor.unit)
                    })
                    .map(|a| Alert {
                        id: a.id,
                        at: a.at,
                        kind: a.kind,
                        account: a.actor,
                        unit: a.actor_unit,
                        detail: serde_json::from_str(&a.detail).unwrap_or_default(),
                    }),
            );
        }
        out.truncate(limit);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_alert_per_window_when_distinct_reads_cross_the_threshold() {
        let w = ReadWatch::new(3, Duration::from_secs(10));
        // Re-reading the same people never alerts.
        for t in 0..20i64 {
            assert_eq!(w.note("a", t as u64 % 3, t), None);
        }
        assert_eq!(w.note("a", 3, 20), Some(4));
        assert_eq!(w.note("a", 4, 21), None, "one alert, not one per read");
        assert_eq!(w.note("b", 4, 21), None, "per account");
        // A window later the old reads have left it; a new crossing alerts again.
        assert_eq!(w.note("a", 5, 10_020), None);
        for p in 6..8 {
            assert_eq!(w.note("a", p, 10_021), None);
        }
        assert_eq!(w.note("a", 8, 10_022), Some(4));
    }
}
