//! The ceiling of `verify-batch`: raw primary-key multi-gets of the personal IDs of a
//! partner file on a store (the batch's own multi-get, `Store::identities_by_ids`), with
//! the batch's chunk size and worker threads, and nothing else (no parsing of other
//! fields, comparison, output or audit). Run by
//! `scripts/bench-verify-batch.sh`, which sets DANCU_BENCH_DB and DANCU_BENCH_INPUT.
//! With the `dancu` binary's allocator (also SQLite's): under glibc's the same multi-gets
//! ran 7–10% slower, which flattered the batch's ratio to them.

use std::sync::atomic::{AtomicUsize, Ordering};

use dancu_app::verify::BatchOptions;
use dancu_domain::PersonalId;
use dancu_store::Store;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let (Ok(url), Ok(input)) = (
        std::env::var("DANCU_BENCH_DB"),
        std::env::var("DANCU_BENCH_INPUT"),
    ) else {
        eprintln!("set DANCU_BENCH_DB and DANCU_BENCH_INPUT (see scripts/bench-verify-batch.sh)");
        return;
    };
    let store = Store::open(&url).expect("open store");
    // As `dancu verify-batch` reads it.
    store.map_registry_file();
    let mut reader = csv::Reader::from_path(&input).expect("open input");
    let column = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "personal_id")
        .expect("personal_id column");
    let ids: Vec<PersonalId> = reader
        .records()
        .filter_map(|r| PersonalId::parse(r.ok()?.get(column)?).ok())
        .collect();
    let options = BatchOptions::default();
    let chunks: Vec<&[PersonalId]> = ids.chunks(options.chunk_rows).collect();
    let next = AtomicUsize::new(0);
    let found = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..options.workers {
            s.spawn(|| {
                while let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let n = store.identities_by_ids(chunk).expect("multi-get").len();
                    found.fetch_add(n, Ordering::Relaxed);
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} IDs ({} found), {} threads: {:.0} rows/s",
        ids.len(),
        found.load(Ordering::Relaxed),
        options.workers,
        ids.len() as f64 / secs
    );
}
