//! Generation speed of `dancu seed`: the population must be produced far faster than
//! SQLite can insert it (10M citizens in < 2 min), so generation should stay ≳1M/s.
//! `generate` times producing the batches only (the inserter thread drops them in
//! `dancu seed`); `generate_and_drop` includes freeing them.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dancu_app::seed::{SeedConfig, generate};
use dancu_domain::units::UnitCatalog;

const CITIZENS: u64 = 200_000;

fn config() -> SeedConfig {
    SeedConfig {
        citizens: CITIZENS,
        rng_seed: 42,
        batch_size: 10_000,
        ..SeedConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let catalog = UnitCatalog::embedded();
    let mut group = c.benchmark_group("seed");
    group.throughput(Throughput::Elements(CITIZENS));
    group.sample_size(10);
    group.bench_function("generate", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let batches: Vec<_> = generate(config(), catalog).collect();
                total += start.elapsed();
                drop(batches);
            }
            total
        })
    });
    group.bench_function("generate_and_drop", |b| {
        b.iter(|| {
            generate(config(), catalog).fold(0usize, |n, batch| {
                n + batch.citizens.len() + batch.residences.len() + batch.households.len()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
