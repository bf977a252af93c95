//! Abuse limits: token-bucket rate limits per account and per partner, and partners'
//! daily quotas. Both are counted in memory (a check costs tens of nanoseconds); quotas
//! are flushed to `partner_usage` every second and when the `App` is dropped, so that a
//! restart does not reset them.
//!
//! Several processes sharing one store each enforce the rate limits for the requests
//! they see (a partner spread over N processes gets up to N times the rate), and learn
//! each other's quota use at every flush: the quota can be overshot by what the other
//! processes counted since their last flush (at most their rate × the flush interval).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use dancu_store::{Store, UsageDelta, VerdictCounts};

use crate::Error;

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second; 0 turns the limit off.
    pub per_second: f64,
    pub burst: u32,
}

/// The abuse limits of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Per staff or citizen account.
    pub account: RateLimit,
    /// Per partner (API key).
    pub partner: RateLimit,
    /// How often partners' quota use is written to the store.
    pub usage_flush: Duration,
    /// An alert is raised when an account reads more than this many distinct people…
    pub alert_distinct_people: usize,
    /// …within this window.
    pub alert_window: Duration,
    /// Largest file a partner may upload as one batch job.
    pub job_upload_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            // A commune officer at a desk: a burst of 60 (a household, a page of search
            // results), 10 requests per second sustained.
            account: RateLimit {
                per_second: 10.0,
                burst: 60,
            },
            // A bank's eKYC front end; raise it per deployment (`serve --partner-rate`).
            partner: RateLimit {
                per_second: 200.0,
                burst: 400,
            },
            usage_flush: Duration::from_secs(1),
            alert_distinct_people: 200,
            alert_window: Duration::from_secs(600),
            // 57 million rows of a credit bureau are about 4 GB of CSV.
            job_upload_bytes: 8 << 30,
        }
    }
}

/// Milliseconds of Vietnam's time zone (ICT, UTC+7, no daylight saving): quotas are per
/// calendar day there.
const ICT_OFFSET_MILLIS: i64 = 7 * 3600 * 1000;
const DAY_MILLIS: i64 = 86_400_000;

/// The day number (days since 1970-01-01) in Vietnam at `millis`.
pub fn ict_day(millis: i64) -> i64 {
    (millis + ICT_OFFSET_MILLIS).div_euclid(DAY_MILLIS)
}

/// Whole seconds from `millis` until the next midnight in Vietnam (at least 1).
pub fn seconds_to_ict_midnight(millis: i64) -> u64 {
    let into_day = (millis + ICT_OFFSET_MILLIS).rem_euclid(DAY_MILLIS);
    ((DAY_MILLIS - into_day + 999) / 1000).max(1) as u64
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Nanoseconds since the limiter's epoch at the last refill.
    at: u64,
}

const SHARDS: usize = 16;
/// Buckets per shard before full (idle) ones are dropped.
const PRUNE_AT: usize = 20_000;

/// A map keyed by an already computed (keyed, SipHash) hash: the name is hashed once
/// per check. Two names with the same 64-bit hash would share a bucket (odds 2^-64).
type Prehashed = HashMap<u64, Bucket, BuildHasherDefault<Identity>>;

#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Token buckets keyed by account or partner name, in shards so that concurrent
/// requests of different accounts rarely wait for each other.
pub struct RateLimiter {
    limit: RateLimit,
    epoch: Instant,
    hasher: std::collections::hash_map::RandomState,
    shards: [Mutex<Prehashed>; SHARDS],
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            epoch: Instant::now(),
            hasher: Default::default(),
            shards: Default::default(),
        }
    }

    /// Takes one token of `key`'s bucket, or says how many seconds to wait.
    pub fn check(&self, key: &str) -> Result<(), Error> {
        if self.limit.per_second <= 0.0 {
            return Ok(());
        }
        let now = self.epoch.elapsed().as_nanos() as u64;
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shards[hash as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.limit.per_second;
        if shard.len() >= PRUNE_AT && !shard.contains_key(&hash) {
            shard.retain(|_, b| b.tokens + now.saturating_sub(b.at) as f64 * 1e-9 * rate < burst);
        }
        let bucket = shard.entry(hash).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + (now.saturating_sub(bucket.at)) as f64 * 1e-9 * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Error::TooManyRequests {
                retry_after_secs: ((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64,
                detail: format!(
                    "rate limit of {} requests per second (burst {}) exceeded",
                    self.limit.per_second, self.limit.burst
                ),
            })
        }
    }
}

/// A partner's use of one day: what the store had at the last flush (including other
/// processes) and what this process counted since.
#[derive(Debug, Clone, Copy)]
struct DayUsage {
    day: i64,
    stored: i64,
    pending: i64,
    /// Verdicts returned since the last flush (match, mismatch, not_found, invalid).
    verdicts: VerdictCounts,
}

/// Partners' daily quotas, counted in memory and flushed to the store.
pub struct Quotas {
    store: Arc<Store>,
    usage: Mutex<HashMap<i64, DayUsage>>,
}

impl Quotas {
    /// Starts the flusher thread; it stops once the quotas are dropped (which flushes).
    pub fn start(store: Arc<Store>, every: Duration) -> Arc<Quotas> {
        let quotas = Arc::new(Quotas {
            store,
            usage: Mutex::new(HashMap::new()),
        });
        let weak: Weak<Quotas> = Arc::downgrade(&quotas);
        std::thread::Builder::new()
            .name("usage-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    match weak.upgrade() {
                        Some(q) => q.flush_logged(),
                        None => break,
                    }
                }
            })
            .expect("spawn usage flusher");
        quotas
    }

    /// The entry of `partner` for `day`; the first use of a day in this process loads
    /// what was used before a restart (or by other processes).
    fn day_entry<'a>(
        &self,
        usage: &'a mut HashMap<i64, DayUsage>,
        partner: i64,
        day: i64,
    ) -> Result<&'a mut DayUsage, Error> {
        if usage.get(&partner).is_none_or(|u| u.day != day) {
            let stored = self
                .store
                .partner_usage(partner, day)?
                .first()
                .map_or(0, |d| d.requests);
            usage.insert(
                partner,
                DayUsage {
                    day,
                    stored,
                    pending: 0,
                    verdicts: [0; 4],
                },
            );
        }
        Ok(usage.get_mut(&partner).expect("just inserted"))
    }

    /// Counts `cost` requests of `partner` against its daily `quota`, or refuses them
    /// (the count is left unchanged) until midnight in Vietnam.
    pub fn charge(
        &self,
        partner: i64,
        quota: i64,
        cost: i64,
        now_millis: i64,
    ) -> Result<(), Error> {
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let u = self.day_entry(&mut usage, partner, ict_day(now_millis))?;
        if u.stored + u.pending + cost > quota {
            return Err(Error::TooManyRequests {
                retry_after_secs: seconds_to_ict_midnight(now_millis),
                detail: format!(
                    "daily quota of {quota} requests used up; it resets at midnight (ICT)"
                ),
            });
        }
        u.pending += cost;
        Ok(())
    }

    /// Counts a verdict returned to `partner` (index in `Verdict::ALL` order), for the
    /// dashboard's statistics; written with the next flush.
    pub fn count_verdict(
        &self,
        partner: i64,
        verdict: usize,
        now_millis: i64,
    ) -> Result<(), Error> {
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        self.day_entry(&mut usage, partner, ict_day(now_millis))?
            .verdicts[verdict] += 1;
        Ok(())
    }

    /// Requests of `partner` counted today, flushed or not.
    pub fn used_today(&self, partner: i64, now_millis: i64) -> Option<i64> {
        self.today(partner, now_millis)
            .map(|(requests, _)| requests)
    }

    /// Requests and verdicts of `partner` counted today, flushed or not, and of these
    /// the verdicts not flushed yet.
    pub fn today(&self, partner: i64, now_millis: i64) -> Option<(i64, VerdictCounts)> {
        let usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        usage
            .get(&partner)
            .filter(|u| u.day == ict_day(now_millis))
            .map(|u| (u.stored + u.pending, u.verdicts))
    }

    /// Writes the counts of the requests admitted since the last flush.
    pub fn flush(&self) -> Result<(), Error> {
        let taken: Vec<UsageDelta> = {
            let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
            usage
                .iter_mut()
                .filter(|(_, u)| u.pending > 0 || u.verdicts != [0; 4])
                .map(|(id, u)| {
                    let n = std::mem::take(&mut u.pending);
                    u.stored += n;
                    UsageDelta {
                        partner_id: *id,
                        day: u.day,
                        requests: n,
                        verdicts: std::mem::take(&mut u.verdicts),
                    }
                })
                .collect()
        };
        let written = self.store.add_partner_usage(&taken);
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        match written {
            Ok(totals) => {
                for (d, total) in taken.iter().zip(totals) {
                    if let Some(u) = usage.get_mut(&d.partner_id).filter(|u| u.day == d.day) {
                        u.stored = u.stored.max(total);
                    }
                }
                Ok(())
            }
            Err(e) => {
                // Nothing was written: count it again at the next flush.
                for d in &taken {
                    if let Some(u) = usage.get_mut(&d.partner_id).filter(|u| u.day == d.day) {
                        u.stored -= d.requests;
                        u.pending += d.requests;
                        for (mine, theirs) in u.verdicts.iter_mut().zip(d.verdicts) {
                            *mine += theirs;
                        }
                    }
                }
                Err(e.into())
            }
        }
    }

    fn flush_logged(&self) {
        if let Err(e) = self.flush() {
            tracing::error!(error = %crate::redact(&e.to_string()), "partner usage flush failed");
        }
    }
}

impl Drop for Quotas {
    fn drop(&mut self) {
        self.flush_logged();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_the_rate() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 0.5,
            burst: 3,
        });
        for _ in 0..3 {
            limiter.check("a").unwrap();
        }
        match limiter.check("a") {
            Err(Error::TooManyRequests {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 2),
            other => panic!("expected a refusal, got {other:?}"),
        }
        limiter.check("b").unwrap();
        let off = RateLimiter::new(RateLimit {
            per_second: 0.0,
            burst: 0,
        });
        for _ in 0..1000 {
            off.check("a").unwrap();
        }
    }

    #[test]
    fn days_are_vietnamese_calendar_days() {
        // 2026-01-01T16:59:59Z is 23:59:59 in Hà Nội; a second later the day changes.
        let before = 1_767_286_799_000;
        assert_eq!(ict_day(before) + 1, ict_day(before + 1000));
        assert_eq!(seconds_to_ict_midnight(before), 1);
        assert_eq!(seconds_to_ict_midnight(before + 1000), 86_400);
    }

    #[test]
    fn quotas_count_and_survive_a_restart() {
        let t = dancu_store::testing::TestStore::sqlite();
        let store = Arc::new(dancu_store::Store::open(&t.url).unwrap());
        let id = store
            .create_partner(&dancu_store::NewPartner {
                name: "p".into(),
                api_key_hash: "h".into(),
                scopes: "verify".into(),
                daily_quota: 3,
                ..Default::default()
            })
            .unwrap();
        let now = dancu_store::now_millis();
        let q = Quotas::start(store.clone(), Duration::from_secs(3600));
        q.charge(id, 3, 2, now).unwrap();
        assert!(q.charge(id, 3, 2, now).is_err(), "a charge over the quota");
        assert_eq!(q.used_today(id, now), Some(2));
        drop(q);
        let again = Quotas::start(store, Duration::from_secs(3600));
        again.charge(id, 3, 1, now).unwrap();
        assert!(again.charge(id, 3, 1, now).is_err());
        // The next day starts afresh.
        again.charge(id, 3, 3, now + DAY_MILLIS).unwrap();
    }
}
