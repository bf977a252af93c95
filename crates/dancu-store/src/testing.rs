//! Test support: a fresh, isolated store on each backend. PostgreSQL is real (never a
//! mock): each store gets its own schema, dropped when the handle goes.

use std::sync::atomic::{AtomicU32, Ordering};

use dancu_domain::units::{Structure, UnitCatalog};
use dancu_domain::{Citizen, PartialDate, PersonalId};

use crate::Store;

/// A citizen of the fixtures: `id`'s gender and birth province, born on `dob`
/// (`YYYY[-MM[-DD]]`), living in `commune` of the 2025 structure, Vietnamese, and nothing
/// else known; tests set what else they need with `..citizen(…)`.
pub fn citizen(id: PersonalId, name: &str, dob: &str, commune: &str) -> Citizen {
    Citizen {
        personal_id: id,
        full_name: name.into(),
        date_of_birth: PartialDate::parse(dob).expect("a fixture's date"),
        gender: id.gender(),
        birth_registration_province: Some(id.province_code()),
        hometown: None,
        ethnicity: None,
        religion: None,
        nationality: "VN".into(),
        blood_type: None,
        old_id_number: None,
        father_id: None,
        mother_id: None,
        spouse_id: None,
        household_id: None,
        relationship_to_head: None,
        commune_code: Some(commune.into()),
        commune_structure: Structure::Y2025,
        date_of_death: None,
    }
}

/// Two communes of Hà Nội (province 01) and one commune of another province, from the
/// shipped catalog: the fixtures of scope tests.
pub fn sample_communes() -> (String, String, String) {
    let units = UnitCatalog::embedded();
    let mut hanoi = units
        .children(Structure::Y2025, "01")
        .map(|u| u.code.clone());
    let other = units
        .provinces(Structure::Y2025)
        .find(|p| p.code != "01")
        .and_then(|p| units.children(Structure::Y2025, &p.code).next())
        .map(|u| u.code.clone())
        .expect("a second province");
    (
        hanoi.next().expect("a commune of Hà Nội"),
        hanoi.next().expect("a second commune of Hà Nội"),
        other,
    )
}

/// The PostgreSQL server used by tests: `DANCU_TEST_PG_URL`, or the local server
/// (`.ci/run` starts it when it is not running).
pub fn pg_base_url() -> String {
    std::env::var("DANCU_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// An old (pre-2025) commune that became exactly one 2025 commune, and that commune.
pub fn unsplit_old_commune() -> (String, String) {
    let units = UnitCatalog::embedded();
    units
        .communes(Structure::Pre2025)
        .find_map(|c| match units.map_old_commune(&c.code) {
            [one] => Some((c.code.clone(), one.clone())),
            _ => None,
        })
        .expect("an unsplit old commune")
}

/// The schema version right before the audit tables moved to their own file on SQLite:
/// a store opened at it has the layout of the earlier versions.
pub fn version_before_audit_file() -> i64 {
    crate::schema::version_of(crate::schema::MOVE_AUDIT) - 1
}

/// The schema version right before the persons of group entries were kept in segments.
pub fn version_before_group_segments() -> i64 {
    crate::schema::version_of(crate::schema::GROUP_PERSONS_IN_SEGMENTS) - 1
}

/// The schema version right before SQLite's citizens were keyed by their rowid.
pub fn version_before_citizens_by_rowid() -> i64 {
    crate::schema::version_of(crate::schema::CITIZENS_BY_ROWID) - 1
}

/// The schema version right before the persons of group entries became lists.
pub fn version_before_group_lists() -> i64 {
    crate::schema::version_of(crate::schema::GROUP_PERSONS_IN_LISTS) - 1
}

/// Opens a store (either backend) with the migrations up to `version` only, as an earlier
/// release left it; [`Store::open`] on the same URL then upgrades it.
pub fn open_at_version(url: &str, version: i64) -> Result<Store, crate::Error> {
    Store::open_migrated(url, Some(version))
}

/// Opens a store with every migration applied but not what they leave to do after them
/// (on SQLite: the WAL folded, the file compacted), as a process stopped right after
/// them leaves it; [`Store::open`] does the rest.
pub fn open_unsettled(url: &str) -> Result<Store, crate::Error> {
    Store::open_unsettled(url, None)
}

/// The first half of the audit move (the copy into the audit file) on a store of the
/// earlier layout, as a crash between its two transactions leaves it.
pub fn copy_audit_tables_only(store: &Store) -> Result<(), crate::Error> {
    store.write(crate::schema::copy_audit_tables)
}

/// The schema versions that migrate the audit file (SQLite).
pub fn audit_file_versions() -> Vec<i64> {
    crate::schema::audit_file_versions()
}

/// The last migration of the audit file that releases recorded in the main file only:
/// those up to it must also run a second time over their own result.
pub fn last_audit_file_version_unrecorded_there() -> i64 {
    crate::schema::version_of(crate::schema::GROUP_PERSONS_IN_SEGMENTS)
}

/// The first half of migration `version` of the audit file (SQLite) on a store one
/// version before it: the migration and its version committed in the audit file, as a
/// crash before the main file's version leaves it.
pub fn migrate_audit_file_only(store: &Store, version: i64) -> Result<(), crate::Error> {
    let migration = crate::schema::migration(version)?;
    crate::schema::migrate_audit_file_only(store, version, migration)
}

/// Instantiates test bodies once per backend, in modules `sqlite` and `postgres`: each
/// `name` is a `fn(&Store)` given a fresh store; after a `;`, each `name @ version` is a
/// `fn(&Store, url: &str)` given a fresh store migrated up to `version` (an
/// `Option<i64>`, `None` for all) and its URL, to open it again.
#[macro_export]
macro_rules! on_both_backends {
    (@module $backend:ident; $($name:ident),*; $($at:ident @ $version:expr),*) => {
        mod $backend {
            $(#[test] fn $name() {
                super::$name(&$crate::testing::TestStore::of(stringify!($backend), None).store)
            })*
            $(#[test] fn $at() {
                let t = $crate::testing::TestStore::of(stringify!($backend), $version);
                super::$at(&t.store, &t.url)
            })*
        }
    };
    ($($name:ident),* $(,)? $(; $($at:ident @ $version:expr),* $(,)?)?) => {
        $crate::on_both_backends!(@module sqlite; $($name),*; $($($at @ $version),*)?);
        $crate::on_both_backends!(@module postgres; $($name),*; $($($at @ $version),*)?);
    };
}

/// A store that cleans up after itself.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempdir::TempDir>,
}

mod tempdir {
    /// A directory removed on drop (keeps the store crate free of a tempfile dependency).
    pub struct TempDir(pub std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestStore {
    pub fn sqlite() -> TestStore {
        Self::sqlite_at(None)
    }

    fn sqlite_at(version: Option<i64>) -> TestStore {
        let dir = std::env::temp_dir().join(unique("dancu_test"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("dancu.db").display());
        TestStore {
            store: Store::open_migrated(&url, version).expect("open SQLite store"),
            url,
            cleanup: None,
            _dir: Some(tempdir::TempDir(dir)),
        }
    }

    /// Panics with instructions when no PostgreSQL server is reachable: the store tests
    /// must run against a real server.
    pub fn postgres() -> TestStore {
        Self::postgres_at(None)
    }

    /// A store of `backend` (`sqlite` or `postgres`, as [`on_both_backends!`] names its
    /// modules) with the migrations up to `version` (all when `None`), as an earlier
    /// release left it.
    pub fn of(backend: &str, version: Option<i64>) -> TestStore {
        match backend {
            "sqlite" => Self::sqlite_at(version),
            "postgres" => Self::postgres_at(version),
            other => panic!("no backend {other}"),
        }
    }

    fn postgres_at(version: Option<i64>) -> TestStore {
        let base = pg_base_url();
        let schema = unique("t");
        let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {base} ({e}). Start it (e.g. `pg_ctlcluster \
                 --skip-systemctl-redirect $(ls /etc/postgresql) main start`, as .ci/run does) \
                 or set DANCU_TEST_PG_URL"
            )
        });
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
        TestStore {
            store: Store::open_migrated(&url, version).expect("open PostgreSQL store"),
            url,
            cleanup: Some((base, schema)),
            _dir: None,
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some((base, schema)) = self.cleanup.take()
            && let Ok(mut c) = postgres::Client::connect(&base, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}

/// A person a group entry lists, as the data tracker's lists hold them (tests tamper with
/// them as whoever edits the table could).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedPerson {
    pub segment: i64,
    pub entry: i64,
    pub person: i64,
    pub outcome: String,
}

/// The tracker's lists of the persons of group entries, item by item (those the tracker
/// can find).
pub fn listed_persons(store: &Store) -> Vec<ListedPerson> {
    let mut out = Vec::new();
    store
        .read(|tx| {
            crate::audit::for_each_listed(tx, |segment, (person, entry, outcome)| {
                out.push(ListedPerson {
                    segment,
                    entry,
                    person,
                    outcome: outcome.to_owned(),
                })
            })
        })
        .expect("read the tracker's lists");
    out.sort_unstable();
    out
}

/// Replaces the tracker's lists of group persons with `persons`: a list per segment and
/// bucket of ID numbers, keyed by its first entry.
pub fn rewrite_listed_persons(store: &Store, persons: &[ListedPerson]) {
    let mut persons = persons.to_vec();
    persons.sort_unstable_by_key(|p| (p.segment, p.person, p.entry, p.outcome.clone()));
    store
        .write(|tx| {
            tx.exec("DELETE FROM audit_person_lists", &[])?;
            for segment in persons.chunk_by(|a, b| a.segment == b.segment) {
                let items: Vec<_> = segment
                    .iter()
                    .map(|p| (p.person, p.entry, p.outcome.as_str()))
                    .collect();
                let first = items.iter().map(|i| i.1).min().unwrap_or_default();
                crate::audit::write_lists(tx, segment[0].segment, first, &items)?;
            }
            Ok(())
        })
        .expect("rewrite the tracker's lists");
}

/// Edits the tracker's lists of group persons item by item.
pub fn edit_listed_persons(store: &Store, edit: impl FnOnce(&mut Vec<ListedPerson>)) {
    let mut persons = listed_persons(store);
    edit(&mut persons);
    rewrite_listed_persons(store, &persons);
}
