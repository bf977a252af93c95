//! What auditing costs a read: many threads read random citizens for a fixed time,
//! once through the use case (policy, store read, audit entry committed before the data
//! is released) and once with the same policy check and store read but no audit.
//! Prints reads/s of both and their ratio (issue 3: auditing loses < 20%), then the
//! unaudited reads again once every commune is re-addressed (issue 2: resolving units
//! through the successions must not slow reads).
//! Run: cargo bench -p dancu-app --bench audited_read [-- CITIZENS THREADS SECONDS]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dancu_app::App;
use dancu_app::policy::{self, Action, Actor, Role, Target};
use dancu_domain::PersonalId;

fn run(threads: usize, seconds: u64, read: impl Fn(usize) + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (stop, done, read) = (&stop, &done, &read);
            s.spawn(move || {
                let mut i = t * 7919;
                while !stop.load(Ordering::Relaxed) {
                    read(i);
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (citizens, threads, seconds) = match args[..] {
        [c, t, s] => (c, t as usize, s),
        _ => (300_000, 32, 10),
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let app = Arc::new(App::open(&url).unwrap());
    app.seed(&Actor::system("bench"), citizens, 1, &mut |_| {})
        .unwrap();
    let ids: Vec<PersonalId> = app
        .store
        .read(|tx| {
            tx.query(
                "SELECT personal_id FROM citizens ORDER BY random() LIMIT 100000",
                &[],
            )
        })
        .unwrap()
        .iter()
        .map(|r| PersonalId::from_u64(r[0].as_i64().unwrap() as u64).unwrap())
        .collect();
    let officer = Actor::new("bench.officer", Role::Officer, policy::NATIONAL_UNIT);
    let audited = run(threads, seconds, |i| {
        let read = app.citizen(&officer, ids[i % ids.len()]).unwrap();
        read.release_blocking().unwrap();
    });
    let unaudited_read = |i: usize| {
        let c = app.store.citizen(ids[i % ids.len()]).unwrap().unwrap();
        let target = Target {
            structure: c.commune_structure,
            code: c.commune_code.as_deref().unwrap_or(""),
        };
        let successions = app.store.successions().unwrap();
        policy::authorize(
            app.units,
            &successions,
            &officer,
            Action::ReadCitizen,
            Some(target),
        )
        .unwrap();
    };
    let unaudited = run(threads, seconds, unaudited_read);
    println!(
        "{citizens} citizens, {threads} threads, {seconds} s each: audited {audited:.0} reads/s, \
         unaudited {unaudited:.0} reads/s, audited/unaudited = {:.2}",
        audited / unaudited
    );
    // The same unaudited reads once every commune has a succession (each merged into its
    // neighbour, as scripts/bench-readdress.sh does): every read resolves its unit.
    merge_every_commune(&app);
    let resolved = run(threads, seconds, unaudited_read);
    println!(
        "after re-addressing every commune: unaudited {resolved:.0} reads/s \
         ({:.2} of before)",
        resolved / unaudited
    );
}

fn merge_every_commune(app: &App) {
    use dancu_app::readdress::MappingSource;
    use dancu_domain::units::Structure;
    let mut mapping = String::from("old_commune_code,new_commune_code\n");
    for province in app.units.provinces(Structure::Y2025) {
        let codes: Vec<&str> = app
            .units
            .children(Structure::Y2025, &province.code)
            .map(|c| c.code.as_str())
            .collect();
        for (i, code) in codes.iter().enumerate() {
            if codes.len() > 1 {
                mapping.push_str(&format!("{code},{}\n", codes[(i + 1) % codes.len()]));
            }
        }
    }
    let source = MappingSource::File {
        bytes: mapping.as_bytes(),
        structure: Structure::Y2025,
    };
    let (plan, splits) = app.readdress_plan(source, "2026-01-01").unwrap();
    app.readdress(&Actor::system("bench"), &plan, splits, Some("benchmark"))
        .unwrap();
}
