//! Partner accounts (banks, telcos, ministries calling the API with a key), their daily
//! usage, and the alerts raised on unusual activity. Only the SHA-256 hash of an API key
//! is stored.

use serde::Serialize;

use crate::sql::{Row, Tx, Value};
use crate::{Error, Store, now_millis};

#[derive(Debug, Clone, Default)]
pub struct NewPartner {
    pub name: String,
    pub api_key_hash: String,
    /// Space-separated scopes (`verify verify_batch enrich:blood_type`).
    pub scopes: String,
    pub daily_quota: i64,
    /// Comma-separated CIDR list; empty = any address.
    pub allow_ips: String,
    pub created_by: String,
    /// The agency the partner speaks for (`BYT`, `BHXH`…), empty for banks and telcos:
    /// enrichment records it as the source of what the partner pushes.
    pub agency: String,
    /// The data-sharing agreement (see [`PartnerRecord::returns`]).
    pub returns: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerRecord {
    pub id: i64,
    pub name: String,
    pub scopes: String,
    pub daily_quota: i64,
    pub allow_ips: String,
    pub created_at: i64,
    pub created_by: String,
    pub disabled: bool,
    /// The agency the partner speaks for (see [`NewPartner::agency`]).
    pub agency: String,
    /// The data-sharing agreement: comma-separated fields whose registry value the
    /// partner may receive back (empty: none).
    pub returns: String,
}

/// Verdict counts in the order match, mismatch, not_found, invalid.
pub type VerdictCounts = [i64; 4];

/// Counts to add to one partner's day: requests (quota use) and verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageDelta {
    pub partner_id: i64,
    pub day: i64,
    pub requests: i64,
    pub verdicts: VerdictCounts,
}

/// One partner's day: requests counted against its quota and verdicts returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UsageDay {
    pub day: i64,
    pub requests: i64,
    pub verdicts: VerdictCounts,
}

/// An alert on unusual activity of an account (`kind` e.g. `mass_read`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertRecord {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub actor_unit: String,
    /// JSON with what the auditor needs (counts, window).
    pub detail: String,
}

const PARTNER_COLUMNS: &str =
    "id, name, scopes, daily_quota, allow_ips, created_at, created_by, disabled, returns, agency";

fn partner_from(mut r: Row) -> PartnerRecord {
    let int = |r: &Row, i: usize| r[i].as_i64().unwrap_or_default();
    let (id, daily_quota, created_at, disabled) = (int(&r, 0), int(&r, 3), int(&r, 5), int(&r, 7));
    let mut text = |i: usize| {
        std::mem::replace(&mut r[i], Value::Null)
            .into_string()
            .unwrap_or_default()
    };
    PartnerRecord {
        id,
        name: text(1),
        scopes: text(2),
        daily_quota,
        allow_ips: text(4),
        created_at,
        created_by: text(6),
        disabled: disabled != 0,
        returns: text(8),
        agency: text(9),
    }
}

/// Adds one delta to `partner_usage`; returns the day's new request total.
pub(crate) fn add_usage(tx: &mut dyn Tx, d: &UsageDelta) -> Result<i64, Error> {
    let [matched, mismatched, not_found, invalid] = d.verdicts;
    tx.query_i64(
        "INSERT INTO partner_usage (partner_id, day, requests, matched, mismatched, \
         not_found, invalid) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (partner_id, day) DO UPDATE SET \
         requests = partner_usage.requests + excluded.requests, \
         matched = partner_usage.matched + excluded.matched, \
         mismatched = partner_usage.mismatched + excluded.mismatched, \
         not_found = partner_usage.not_found + excluded.not_found, \
         invalid = partner_usage.invalid + excluded.invalid \
         RETURNING requests",
        &[
            Value::Int(d.partner_id),
            Value::Int(d.day),
            Value::Int(d.requests),
            Value::Int(matched),
            Value::Int(mismatched),
            Value::Int(not_found),
            Value::Int(invalid),
        ],
    )
}

impl Store {
    /// Creates a partner; its name and key hash are unique.
    pub fn create_partner(&self, p: &NewPartner) -> Result<i64, Error> {
        self.write(|tx| {
            if tx
                .query_one(
                    "SELECT 1 FROM partners WHERE name = $1",
                    &[p.name.as_str().into()],
                )?
                .is_some()
            {
                return Err(Error::Conflict(format!(
                    "partner {} already exists",
                    p.name
                )));
            }
            tx.query_i64(
                "INSERT INTO partners (name, api_key_hash, scopes, daily_quota, allow_ips, \
                 created_at, created_by, agency, returns) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 RETURNING id",
                &[
                    p.name.as_str().into(),
                    p.api_key_hash.as_str().into(),
                    p.scopes.as_str().into(),
                    Value::Int(p.daily_quota),
                    p.allow_ips.as_str().into(),
                    Value::Int(now_millis()),
                    p.created_by.as_str().into(),
                    p.agency.as_str().into(),
                    p.returns.as_str().into(),
                ],
            )
        })
    }

    fn partner_where(&self, column: &str, value: &str) -> Result<Option<PartnerRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE {column} = $1"),
                    &[value.into()],
                )?
                .map(partner_from))
        })
    }

    /// The partner holding the key of this hash (disabled ones included: the caller
    /// decides).
    pub fn partner_by_key_hash(&self, api_key_hash: &str) -> Result<Option<PartnerRecord>, Error> {
        self.partner_where("api_key_hash", api_key_hash)
    }

    pub fn partner_by_name(&self, name: &str) -> Result<Option<PartnerRecord>, Error> {
        self.partner_where("name", name)
    }

    /// Disables or re-enables a partner; false if there is no such partner.
    pub fn set_partner_disabled(&self, name: &str, disabled: bool) -> Result<bool, Error> {
        self.write(|tx| {
            Ok(tx.exec(
                "UPDATE partners SET disabled = $2 WHERE name = $1",
                &[name.into(), Value::Int(disabled.into())],
            )? == 1)
        })
    }

    /// Sets a partner's data-sharing agreement; false if there is no such partner.
    pub fn set_partner_returns(&self, name: &str, returns: &str) -> Result<bool, Error> {
        self.write(|tx| {
            Ok(tx.exec(
                "UPDATE partners SET returns = $2 WHERE name = $1",
                &[name.into(), returns.into()],
            )? == 1)
        })
    }

    /// Adds usage counts to the partners' days in one transaction; returns each day's new
    /// request total (which includes what other processes sharing the store have added).
    pub fn add_partner_usage(&self, deltas: &[UsageDelta]) -> Result<Vec<i64>, Error> {
        if deltas.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| deltas.iter().map(|d| add_usage(tx, d)).collect())
    }

    /// The days of a partner from `first_day` on, oldest first.
    pub fn partner_usage(&self, partner_id: i64, first_day: i64) -> Result<Vec<UsageDay>, Error> {
        self.read(|tx| {
            Ok(tx
                .query(
                    "SELECT day, requests, matched, mismatched, not_found, invalid \
                     FROM partner_usage WHERE partner_id = $1 AND day >= $2 ORDER BY day",
                    &[Value::Int(partner_id), Value::Int(first_day)],
                )?
                .into_iter()
                .map(|r| {
                    let int = |i: usize| r[i].as_i64().unwrap_or_default();
                    UsageDay {
                        day: int(0),
                        requests: int(1),
                        verdicts: [int(2), int(3), int(4), int(5)],
                    }
                })
                .collect())
        })
    }

    pub fn add_alert(&self, alert: &AlertRecord) -> Result<i64, Error> {
        self.write(|tx| {
            tx.query_i64(
                "INSERT INTO alerts (at, kind, actor, actor_unit, detail) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    Value::Int(alert.at),
                    alert.kind.as_str().into(),
                    alert.actor.as_str().into(),
                    alert.actor_unit.as_str().into(),
                    alert.detail.as_str().into(),
                ],
            )
        })
    }

    /// Up to `limit` alerts older than `before_id` (None: the newest), newest first.
    pub fn alerts(&self, before_id: Option<i64>, limit: u32) -> Result<Vec<AlertRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query(
                    "SELECT id, at, kind, actor, actor_unit, detail FROM alerts \
                     WHERE id < $1 ORDER BY id DESC LIMIT $2",
                    &[
                        Value::Int(before_id.unwrap_or(i64::MAX)),
                        Value::Int(limit.into()),
                    ],
                )?
                .into_iter()
                .map(|mut r| {
                    let (id, at) = (
                        r[0].as_i64().unwrap_or_default(),
                        r[1].as_i64().unwrap_or_default(),
                    );
                    let mut text = |i: usize| {
                        std::mem::replace(&mut r[i], Value::Null)
                            .into_string()
                            .unwrap_or_default()
                    };
                    AlertRecord {
                        id,
                        at,
                        kind: text(2),
                        actor: text(3),
                        actor_unit: text(4),
                        detail: text(5),
                    }
                })
                .collect())
        })
    }
}
