//! What auditing costs a read, in the server's execution model: concurrent tasks on a
//! two-worker async runtime (the server's GET handler reads the store on its worker and
//! awaits the audit commit), reading random citizens for a fixed time, once through the
//! use case (policy, store read, audit entry committed before the data is released) and
//! once with the same policy check and store read but no audit.
//! Prints reads/s of both and their ratio (issue 3: auditing loses < 20%), then the
//! unaudited reads again once every commune is re-addressed (issue 2: resolving units
//! through the successions must not slow reads).
//! Run: cargo bench -p dancu-app --bench audited_read [-- CITIZENS TASKS SECONDS]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dancu_app::App;
use dancu_app::policy::{self, Action, Actor, Role, Target};
use dancu_domain::PersonalId;

/// Runs `tasks` tasks calling `read(i)` in a loop for `seconds`; returns reads/s.
fn run<F, R>(tasks: usize, seconds: u64, read: F) -> f64
where
    F: Fn(usize) -> R + Send + Sync + 'static,
    R: Future<Output = ()> + Send,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let read = Arc::new(read);
    let start = Instant::now();
    runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (stop, done, read) = (stop.clone(), done.clone(), read.clone());
                tokio::spawn(async move {
                    let mut i = t * 7919;
                    while !stop.load(Ordering::Relaxed) {
                        read(i).await;
                        i += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                        // A request is a task of its own in the server: let the others in.
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.await.unwrap();
        }
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (citizens, tasks, seconds) = match args[..] {
        [c, t, s] => (c, t as usize, s),
        _ => (300_000, 64, 10),
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let app = Arc::new(App::open(&url).unwrap());
    app.seed(&Actor::system("bench"), citizens, 1, &mut |_| {})
        .unwrap();
    let ids: Arc<Vec<PersonalId>> = Arc::new(
        app.store
            .read(|tx| {
                tx.query(
                    "SELECT personal_id FROM citizens ORDER BY random() LIMIT 100000",
                    &[],
                )
            })
            .unwrap()
            .iter()
            .map(|r| PersonalId::from_u64(r[0].as_i64().unwrap() as u64).unwrap())
            .collect(),
    );
    let officer = Actor::new("bench.officer", Role::Officer, policy::NATIONAL_UNIT);
    let audited = run(tasks, seconds, {
        let (app, ids, officer) = (app.clone(), ids.clone(), officer.clone());
        move |i| {
            let read = app.citizen(&officer, ids[i % ids.len()]).unwrap();
            async move {
                read.release().await.unwrap();
            }
        }
    });
    let unaudited_read = {
        let app = app.clone();
        move |i: usize| {
            unaudited(&app, &officer, ids[i % ids.len()]);
            std::future::ready(())
        }
    };
    let unaudited = run(tasks, seconds, unaudited_read.clone());
    println!(
        "{citizens} citizens, {tasks} tasks on 2 workers, {seconds} s each: audited {audited:.0} \
         reads/s, unaudited {unaudited:.0} reads/s, audited/unaudited = {:.2}",
        audited / unaudited
    );
    // The same unaudited reads once every commune has a succession (each merged into its
    // neighbour, as scripts/bench-readdress.sh does): every read resolves its unit.
    merge_every_commune(&app);
    let resolved = run(tasks, seconds, unaudited_read);
    println!(
        "after re-addressing every commune: unaudited {resolved:.0} reads/s \
         ({:.2} of before)",
        resolved / unaudited
    );
}

/// The read without its audit entry: the same store read and policy check.
fn unaudited(app: &App, officer: &Actor, id: PersonalId) {
    let c = app.store.citizen(id).unwrap().unwrap();
    let target = Target {
        structure: c.commune_structure,
        code: c.commune_code.as_deref().unwrap_or(""),
    };
    let successions = app.store.successions().unwrap();
    policy::authorize(
        app.units,
        &successions,
        officer,
        Action::ReadCitizen,
        Some(target),
    )
    .unwrap();
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
