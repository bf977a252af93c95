//! Partner accounts: banks, telcos and ministries calling the API with a key
//! (`X-Api-Key`). A key is 256 random bits shown once at creation; only its SHA-256 hash
//! is stored. Each partner has scopes (what it may call), a daily quota (every call
//! counts one request, a batch one per row) and an optional IP allow-list; every call is
//! audited under `partner:NAME`.
//!
//! Scopes: `verify` (`POST /api/v1/verify`, one request per call), `verify_batch`
//! (batch cleansing, one request per row), `enrich:FIELD` (push updates of one field,
//! e.g. `enrich:blood_type` for the Ministry of Health).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use dancu_store::{AuditEntry, NewPartner, PartnerRecord};
use ipnet::IpNet;
use serde::Serialize;

use crate::auth;
use crate::limits::ict_day;
use crate::policy::{self, Action, Actor};
use crate::verify::{Agreement, Verdict};
use crate::{App, Error};

/// What a partner may call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PartnerScope {
    /// Single verification of a person's data (lookup 037 for partners).
    Verify,
    /// Batch cleansing of a partner's file.
    VerifyBatch,
    /// Pushing updates of one named field (a ministry's enrichment).
    Enrich(String),
}

impl PartnerScope {
    pub fn parse(s: &str) -> Result<PartnerScope, Error> {
        match s {
            "verify" => Ok(PartnerScope::Verify),
            "verify_batch" => Ok(PartnerScope::VerifyBatch),
            _ => match s.strip_prefix("enrich:") {
                Some(field)
                    if !field.is_empty()
                        && field.len() <= 64
                        && field.starts_with(|c: char| c.is_ascii_lowercase())
                        && field
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
                {
                    Ok(PartnerScope::Enrich(field.to_owned()))
                }
                _ => Err(Error::Invalid(format!(
                    "unknown scope '{s}': use verify, verify_batch or enrich:FIELD"
                ))),
            },
        }
    }

    pub fn code(&self) -> String {
        match self {
            PartnerScope::Verify => "verify".into(),
            PartnerScope::VerifyBatch => "verify_batch".into(),
            PartnerScope::Enrich(field) => format!("enrich:{field}"),
        }
    }
}

/// Scopes given as a list whose items may themselves be comma- or space-separated.
fn parse_scopes<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<PartnerScope>, Error> {
    let mut scopes: Vec<PartnerScope> = Vec::new();
    for s in items
        .into_iter()
        .flat_map(|s| s.split([',', ' ']))
        .filter(|s| !s.is_empty())
    {
        let scope = PartnerScope::parse(s)?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// Daily quota of a partner created without one.
pub const DEFAULT_DAILY_QUOTA: i64 = 100_000;

/// An authenticated partner, for the duration of one request.
#[derive(Debug, Clone)]
pub struct Partner {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<PartnerScope>,
    pub daily_quota: i64,
    /// What its data-sharing agreement lets it learn beyond per-field results.
    pub agreement: Agreement,
    /// The agency it speaks for (`BYT`…), empty for banks and telcos.
    pub agency: String,
    /// The client address of the current request (after trusted proxies).
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl Partner {
    /// The principal the policy sees (audited as `partner:NAME`).
    pub fn actor(&self) -> Actor {
        Actor::partner(&self.name, self.ip, self.user_agent.clone())
    }
}

/// A partner as administrators see it (no key).
#[derive(Debug, Clone, Serialize)]
pub struct PartnerView {
    pub name: String,
    pub scopes: Vec<String>,
    pub daily_quota: i64,
    pub allow_ips: Vec<String>,
    /// Fields whose registry value its data-sharing agreement lets it receive.
    pub returns: Vec<String>,
    pub created_by: String,
    pub disabled: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub agency: String,
}

/// What a partner is created with: its name and its agreement.
#[derive(Debug, Clone, Copy, Default)]
pub struct PartnerTerms<'a> {
    pub name: &'a str,
    /// The agency it speaks for (one of [`policy::AGENCIES`]), or empty for banks and
    /// telcos; an `enrich:FIELD` scope needs one, which becomes the source of what the
    /// partner pushes.
    pub agency: &'a str,
    pub scopes: &'a [&'a str],
    pub daily_quota: i64,
    pub allow_ips: &'a [&'a str],
    /// The fields whose registry value verification returns (comma-separated, see
    /// [`Agreement::parse`]; empty: none).
    pub returns: &'a str,
}

/// A new partner and its key, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct NewPartnerKey {
    #[serde(flatten)]
    pub partner: PartnerView,
    pub api_key: String,
}

/// Requests of one day (Vietnam's calendar), and the verdicts of the verifications
/// among them (single calls and batch rows).
#[derive(Debug, Clone, Serialize)]
pub struct DayUsage {
    pub day: String,
    pub requests: i64,
    pub matched: i64,
    pub mismatched: i64,
    pub not_found: i64,
    pub invalid: i64,
}

/// A partner's use of its quota: today and the previous days.
#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub partner: String,
    pub daily_quota: i64,
    pub used_today: i64,
    pub remaining_today: i64,
    /// Oldest first; days without requests are left out.
    pub days: Vec<DayUsage>,
}

/// How long a validated key is trusted without asking the store again. Disabling a
/// partner on this node takes effect at once; other nodes see it within this delay.
const CACHE_MILLIS: i64 = 30_000;

#[derive(Clone)]
struct CachedPartner {
    record: PartnerRecord,
    scopes: Vec<PartnerScope>,
    allow: Vec<IpNet>,
    agreement: Agreement,
    checked: i64,
}

/// Validated keys, by key hash.
#[derive(Default)]
pub(crate) struct PartnerCache {
    entries: Mutex<HashMap<String, CachedPartner>>,
}

impl PartnerCache {
    fn get(&self, hash: &str, now: i64) -> Option<CachedPartner> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|c| now - c.checked < CACHE_MILLIS)
            .cloned()
    }

    fn put(&self, hash: String, c: CachedPartner) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 10_000 {
            entries.retain(|_, e| c.checked - e.checked < CACHE_MILLIS);
        }
        entries.insert(hash, c);
    }

    fn remove_partner(&self, name: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, c| c.record.name != name);
    }
}

fn view(r: &PartnerRecord) -> PartnerView {
    PartnerView {
        name: r.name.clone(),
        scopes: r
            .scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        daily_quota: r.daily_quota,
        allow_ips: r
            .allow_ips
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        returns: r
            .returns
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_by: r.created_by.clone(),
        disabled: r.disabled,
        agency: r.agency.clone(),
    }
}

/// Prefix of partner keys, so that a leaked key is recognizable (secret scanners).
const KEY_PREFIX: &str = "dcp_";

impl App {
    /// Partners are national: only a national principal manages them.
    fn authorize_partner_admin(&self, actor: &Actor) -> Result<(), Error> {
        self.authorize(
            actor,
            Action::ManagePartners,
            Some(policy::national()),
            None,
        )
    }

    /// Creates a partner with its whole agreement in one step; returns its API key, which
    /// is shown this once.
    pub fn add_partner(
        &self,
        actor: &Actor,
        terms: &PartnerTerms<'_>,
    ) -> Result<NewPartnerKey, Error> {
        let PartnerTerms {
            name,
            agency,
            scopes,
            daily_quota,
            allow_ips,
            returns,
        } = *terms;
        self.authorize_partner_admin(actor)?;
        let returns = Agreement::parse(returns).map_err(Error::Invalid)?.code();
        crate::accounts::validate_name("partner name", name)?;
        let scopes = parse_scopes(scopes.iter().copied())?;
        if scopes.is_empty() {
            return Err(Error::Invalid(
                "a partner needs at least one scope (verify, verify_batch, enrich:FIELD)".into(),
            ));
        }
        if !agency.is_empty() && !policy::AGENCIES.iter().any(|(code, _)| *code == agency) {
            return Err(Error::Invalid(format!(
                "unknown agency '{agency}': use one of {}",
                policy::AGENCIES
                    .iter()
                    .map(|(code, _)| *code)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if agency.is_empty() && scopes.iter().any(|s| matches!(s, PartnerScope::Enrich(_))) {
            return Err(Error::Invalid(
                "an enrich:FIELD scope needs the agency the partner speaks for".into(),
            ));
        }
        if daily_quota < 1 {
            return Err(Error::Invalid("daily quota must be at least 1".into()));
        }
        let allow = auth::format_allow_list(&auth::parse_allow_list(allow_ips.iter().copied())?);
        let api_key = format!("{KEY_PREFIX}{}", auth::new_token());
        let new = NewPartner {
            name: name.into(),
            api_key_hash: auth::token_hash(&api_key),
            scopes: scopes
                .iter()
                .map(PartnerScope::code)
                .collect::<Vec<_>>()
                .join(" "),
            daily_quota,
            allow_ips: allow,
            created_by: actor.username.clone(),
            agency: agency.into(),
            returns,
        };
        self.store.create_partner(&new)?;
        let mut entry = self.audit_entry(actor, "partner.create", None, Some(name), "ok");
        entry.detail = Some(format!(
            "scopes={} daily_quota={daily_quota} allow_ips={} agency={agency} returns={}",
            new.scopes, new.allow_ips, new.returns
        ));
        self.audit.record(entry).wait()?;
        let record = self.store.partner_by_name(name)?.ok_or(Error::NotFound)?;
        Ok(NewPartnerKey {
            partner: view(&record),
            api_key,
        })
    }

    /// Sets what a partner's data-sharing agreement lets it receive back: the registry's
    /// canonical value of `fields` (comma-separated: full_name, date_of_birth, gender;
    /// empty: nothing but the per-field results).
    pub fn set_partner_agreement(
        &self,
        actor: &Actor,
        name: &str,
        fields: &str,
    ) -> Result<PartnerView, Error> {
        self.authorize_partner_admin(actor)?;
        let returns = Agreement::parse(fields).map_err(Error::Invalid)?.code();
        let found = self.store.set_partner_returns(name, &returns)?;
        self.partner_changed(actor, name, found, format!("returns={returns}"))
    }

    /// Disables (every key use answers 401) or re-enables a partner.
    pub fn set_partner_disabled(
        &self,
        actor: &Actor,
        name: &str,
        disabled: bool,
    ) -> Result<PartnerView, Error> {
        self.authorize_partner_admin(actor)?;
        let found = self.store.set_partner_disabled(name, disabled)?;
        let detail = if disabled { "disabled" } else { "enabled" };
        self.partner_changed(actor, name, found, detail.into())
    }

    /// After a change of partner `name` (`found`: it exists): drops its cached terms,
    /// audits the change and returns the partner as it now stands.
    fn partner_changed(
        &self,
        actor: &Actor,
        name: &str,
        found: bool,
        detail: String,
    ) -> Result<PartnerView, Error> {
        if !found {
            return Err(Error::NotFound);
        }
        self.partners.remove_partner(name);
        let mut entry = self.audit_entry(actor, "partner.change", None, Some(name), "ok");
        entry.detail = Some(detail);
        self.audit.record(entry).wait()?;
        Ok(view(
            &self.store.partner_by_name(name)?.ok_or(Error::NotFound)?,
        ))
    }

    /// The partner holding `api_key`, calling from `ip`, within its rate limit. An
    /// unknown or disabled key is `Unauthenticated` (the same answer either way); a key
    /// used from outside its allow-list is refused. Refusals of a real key are audited.
    pub fn authenticate_partner(
        &self,
        api_key: &str,
        ip: Option<IpAddr>,
        user_agent: Option<String>,
    ) -> Result<Partner, Error> {
        let hash = auth::token_hash(api_key);
        let now = dancu_store::now_millis();
        let cached = match self.partners.get(&hash, now) {
            Some(c) => c,
            None => {
                let record = self
                    .store
                    .partner_by_key_hash(&hash)?
                    .ok_or(Error::Unauthenticated)?;
                let c = CachedPartner {
                    scopes: parse_scopes(record.scopes.split(' '))?,
                    agreement: Agreement::parse(&record.returns).map_err(Error::Internal)?,
                    allow: auth::parse_allow_list([record.allow_ips.as_str()])?,
                    record,
                    checked: now,
                };
                self.partners.put(hash, c.clone());
                c
            }
        };
        let partner = Partner {
            id: cached.record.id,
            name: cached.record.name.clone(),
            scopes: cached.scopes,
            daily_quota: cached.record.daily_quota,
            agreement: cached.agreement,
            agency: cached.record.agency.clone(),
            ip,
            user_agent,
        };
        let refusal = if cached.record.disabled {
            Some(("disabled", Error::Unauthenticated))
        } else if !auth::ip_allowed(&cached.allow, ip) {
            Some((
                "ip_not_allowed",
                Error::Refused("this API key may not be used from this address".into()),
            ))
        } else {
            None
        };
        if let Some((reason, error)) = refusal {
            let mut entry = self.partner_entry(&partner, "partner.auth", "denied");
            entry.detail = Some(reason.into());
            self.audit.record_detached(entry);
            return Err(error);
        }
        self.partner_rate.check(&partner.name)?;
        Ok(partner)
    }

    /// Admits a call of `partner` for `action`, which needs `scope` (None: any key may
    /// call it), and counts `cost` requests (one per call, one per row of a batch)
    /// against its daily quota. A refusal is audited.
    pub fn admit_partner(
        &self,
        partner: &Partner,
        action: &str,
        scope: Option<&PartnerScope>,
        cost: i64,
    ) -> Result<(), Error> {
        let refused = match scope {
            Some(scope) if !partner.scopes.contains(scope) => Err(Error::Refused(format!(
                "this API key lacks the scope '{}'",
                scope.code()
            ))),
            _ => self.quotas.charge(
                partner.id,
                partner.daily_quota,
                cost,
                dancu_store::now_millis(),
            ),
        };
        refused.inspect_err(|e| {
            let mut entry = self.partner_entry(partner, action, "denied");
            entry.detail = Some(match e {
                Error::TooManyRequests { .. } => "daily_quota".into(),
                other => other.to_string(),
            });
            self.audit.record_detached(entry);
        })
    }

    /// The audit entry of a partner's call.
    pub(crate) fn partner_entry(
        &self,
        partner: &Partner,
        action: &str,
        outcome: &str,
    ) -> AuditEntry {
        AuditEntry {
            at_millis: dancu_store::now_millis(),
            actor: format!("partner:{}", partner.name),
            actor_role: "partner".into(),
            actor_unit: "partner".into(),
            action: action.into(),
            outcome: outcome.into(),
            ip: partner.ip.map(|ip| ip.to_string()),
            user_agent: partner.user_agent.clone(),
            ..Default::default()
        }
    }

    /// A partner's own usage over the last `days` days.
    pub fn own_partner_usage(&self, partner: &Partner, days: u32) -> Result<UsageReport, Error> {
        const USAGE: &str = "partner.usage";
        self.admit_partner(partner, USAGE, None, 1)?;
        self.audit
            .record_detached(self.partner_entry(partner, USAGE, "ok"));
        let record = self
            .store
            .partner_by_name(&partner.name)?
            .ok_or(Error::Unauthenticated)?;
        self.usage_report(&record, days)
    }

    /// A partner's usage, for national admins and supervisors.
    pub fn partner_usage(
        &self,
        actor: &Actor,
        name: &str,
        days: u32,
    ) -> Result<UsageReport, Error> {
        self.authorize(
            actor,
            Action::ReadPartnerUsage,
            Some(policy::national()),
            None,
        )?;
        let record = self.store.partner_by_name(name)?.ok_or(Error::NotFound)?;
        self.audit.record_detached(self.audit_entry(
            actor,
            "partner.usage",
            None,
            Some(name),
            "ok",
        ));
        self.usage_report(&record, days)
    }

    fn usage_report(&self, record: &PartnerRecord, days: u32) -> Result<UsageReport, Error> {
        let now = dancu_store::now_millis();
        let today = ict_day(now);
        let mut rows = self
            .store
            .partner_usage(record.id, today - i64::from(days.clamp(1, 366)) + 1)?;
        // What was counted in memory since the last flush belongs to today as well.
        if let Some((requests, unflushed)) = self.quotas.today(record.id, now) {
            if rows.last().is_none_or(|d| d.day != today) {
                rows.push(dancu_store::UsageDay {
                    day: today,
                    ..Default::default()
                });
            }
            let d = rows.last_mut().expect("today's row");
            d.requests = d.requests.max(requests);
            for (stored, pending) in d.verdicts.iter_mut().zip(unflushed) {
                *stored += pending;
            }
        }
        let used_today = rows
            .last()
            .filter(|d| d.day == today)
            .map_or(0, |d| d.requests);
        rows.retain(|d| d.requests > 0 || d.verdicts != [0; 4]);
        let count = |d: &dancu_store::UsageDay, v: Verdict| d.verdicts[v as usize];
        Ok(UsageReport {
            partner: record.name.clone(),
            daily_quota: record.daily_quota,
            used_today,
            remaining_today: (record.daily_quota - used_today).max(0),
            days: rows
                .iter()
                .map(|d| {
                    let (y, m, dd) = crate::citizens::civil_from_days(d.day);
                    DayUsage {
                        day: format!("{y:04}-{m:02}-{dd:02}"),
                        requests: d.requests,
                        matched: count(d, Verdict::Match),
                        mismatched: count(d, Verdict::Mismatch),
                        not_found: count(d, Verdict::NotFound),
                        invalid: count(d, Verdict::Invalid),
                    }
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print() {
        let s = parse_scopes(["verify,verify_batch", "enrich:blood_type verify"]).unwrap();
        assert_eq!(
            s.iter().map(PartnerScope::code).collect::<Vec<_>>(),
            ["verify", "verify_batch", "enrich:blood_type"]
        );
        for bad in [
            "read",
            "enrich:",
            "enrich:Blood",
            "enrich:a-b",
            "verify;drop",
        ] {
            assert!(PartnerScope::parse(bad).is_err(), "{bad}");
        }
    }
}
