//! The unit successions recorded by re-addressing, held in memory: every read that shows
//! or filters by unit resolves through them (`dancu_domain::succession`).
//!
//! The index is loaded when the store opens and replaced after a re-addressing commits.
//! Another process may add rows (a `dancu readdress --apply` beside a running server), so
//! a read re-checks the table at most once per [`RECHECK_MILLIS`]: one indexed `MAX(id)`,
//! and a reload only when it moved (rows are only ever appended).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use dancu_domain::succession::{Succession, Successions};
use dancu_domain::units::Structure;
use dancu_domain::{Citizen, PartialDate};

use crate::sql::{Tx, Value};
use crate::{Error, Store, now_millis};

const RECHECK_MILLIS: i64 = 1_000;

#[derive(Default)]
pub(crate) struct Cache {
    current: RwLock<Arc<Successions>>,
    /// Largest row id loaded.
    loaded: AtomicI64,
    /// When the table was last checked (Unix ms).
    checked: AtomicI64,
}

impl Cache {
    pub(crate) fn never_recheck(&self) {
        self.checked.store(i64::MAX, Ordering::Relaxed);
    }
}

/// The successions and the day units are resolved on (today, or an as-of date).
pub(crate) struct Resolver {
    pub(crate) successions: Arc<Successions>,
    pub(crate) on: PartialDate,
}

impl Resolver {
    /// The unit `(structure, code)` has become on the resolver's day, when it changed.
    pub(crate) fn unit(&self, structure: Structure, code: &str) -> Option<(Structure, String)> {
        self.successions
            .resolve(structure, code, self.on, None)
            .map(|(s, c)| (s, c.to_owned()))
    }

    /// Replaces the citizen's commune of permanent residence by the unit it has become.
    pub(crate) fn citizen(&self, mut c: Citizen) -> Citizen {
        if let Some((s, code)) = c
            .commune_code
            .as_deref()
            .and_then(|code| self.unit(c.commune_structure, code))
        {
            c.commune_structure = s;
            c.commune_code = Some(code);
        }
        c
    }
}

pub(crate) const SUCCESSION_COLUMNS: &[&str] = &[
    "from_structure",
    "from_code",
    "to_structure",
    "to_code",
    "effective_date",
    "event_id",
];

fn structure(v: &Value) -> Result<Structure, Error> {
    v.as_str()
        .and_then(Structure::parse)
        .ok_or_else(|| Error::Corrupt(format!("unit structure {v:?} of a succession")))
}

/// Every succession, read in `tx`.
pub(crate) fn load(tx: &mut dyn Tx) -> Result<(i64, Successions), Error> {
    let mut max = 0;
    let mut rows = Vec::new();
    tx.for_each(
        &format!(
            "SELECT id, {} FROM unit_successions ORDER BY id",
            SUCCESSION_COLUMNS.join(", ")
        ),
        &[],
        &mut |mut r| {
            max = r[0].as_i64().unwrap_or_default();
            let text = |r: &mut Vec<Value>, i: usize| {
                std::mem::replace(&mut r[i], Value::Null)
                    .into_string()
                    .unwrap_or_default()
            };
            rows.push(Succession {
                from_structure: structure(&r[1])?,
                from_code: text(&mut r, 2),
                to_structure: structure(&r[3])?,
                to_code: text(&mut r, 4),
                effective_date: crate::citizens::date_from(&r[5])?
                    .ok_or_else(|| Error::Corrupt("succession without date".into()))?,
                event_id: r[6].as_i64().unwrap_or_default(),
            });
            Ok(())
        },
    )?;
    Ok((max, Successions::new(rows).map_err(Error::Corrupt)?))
}

impl Store {
    /// The successions every unit is resolved through (see the module comment).
    pub fn successions(&self) -> Result<Arc<Successions>, Error> {
        if self.recheck_due() {
            return self.read(|tx| self.refresh(tx));
        }
        Ok(self.cached())
    }

    /// A resolver to today's units, inside a read of `tx`.
    pub(crate) fn resolver(&self, tx: &mut dyn Tx) -> Result<Resolver, Error> {
        let successions = if self.recheck_due() {
            self.refresh(tx)?
        } else {
            self.cached()
        };
        Ok(Resolver {
            successions,
            on: PartialDate::from_unix_millis(now_millis()),
        })
    }

    /// Loads the successions now (at open, and after a re-addressing commits).
    pub(crate) fn load_successions(&self) -> Result<(), Error> {
        self.successions
            .checked
            .store(now_millis(), Ordering::Relaxed);
        self.read(|tx| self.refresh(tx))?;
        Ok(())
    }

    fn cached(&self) -> Arc<Successions> {
        let guard = self.successions.current.read();
        // A panic elsewhere while replacing the Arc cannot leave it half-written.
        guard.unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Claims the next re-check (one reader does it; the others use the cache meanwhile).
    fn recheck_due(&self) -> bool {
        let now = now_millis();
        let last = self.successions.checked.load(Ordering::Relaxed);
        now - last >= RECHECK_MILLIS
            && self
                .successions
                .checked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Reloads the successions if rows were added since the last load.
    pub(crate) fn refresh(&self, tx: &mut dyn Tx) -> Result<Arc<Successions>, Error> {
        let max = tx.query_i64("SELECT COALESCE(MAX(id), 0) FROM unit_successions", &[])?;
        if max == self.successions.loaded.load(Ordering::Acquire) {
            return Ok(self.cached());
        }
        let (max, loaded) = load(tx)?;
        let loaded = Arc::new(loaded);
        let mut current = self
            .successions
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        // Another thread may have loaded a newer snapshot meanwhile: never go back.
        if max >= self.successions.loaded.load(Ordering::Acquire) {
            *current = loaded.clone();
            self.successions.loaded.store(max, Ordering::Release);
        }
        Ok(current.clone())
    }
}
