//! The cost of the abuse checks on every request: a token-bucket rate check (one hot
//! account, and 10,000 accounts in turn) and a daily-quota charge.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dancu_app::limits::{Quotas, RateLimit, RateLimiter};

fn limits(c: &mut Criterion) {
    // High enough that the benchmark measures admitted requests, not refusals.
    let limit = RateLimit {
        per_second: 1e12,
        burst: u32::MAX,
    };
    let limiter = RateLimiter::new(limit);
    c.bench_function("rate check, one account", |b| {
        b.iter(|| limiter.check(black_box("officer.commune")).unwrap())
    });
    let names: Vec<String> = (0..10_000).map(|i| format!("officer.{i:05}")).collect();
    let mut i = 0;
    c.bench_function("rate check, 10,000 accounts", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            limiter.check(black_box(&names[i])).unwrap()
        })
    });

    let t = dancu_store::testing::TestStore::sqlite();
    let store = Arc::new(dancu_store::Store::open(&t.url).unwrap());
    let quotas = Quotas::start(store, Duration::from_secs(1));
    let now = dancu_store::now_millis();
    c.bench_function("daily quota charge", |b| {
        b.iter(|| quotas.charge(black_box(1), i64::MAX, 1, now).unwrap())
    });
}

criterion_group!(benches, limits);
criterion_main!(benches);
