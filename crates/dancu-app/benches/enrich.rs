//! Throughput of enrichment: a ministry's key pushes calls of 500 blood types (every
//! item applied: one event per call, one version and one citizen change per item, one
//! audit entry per item committed before the answer) into a seeded SQLite store.
//! Run: cargo bench -p dancu-app --bench enrich [-- CITIZENS CALLS]

use std::time::Instant;

use dancu_app::App;
use dancu_app::enrich::{EnrichItem, MAX_ITEMS};
use dancu_app::partners::PartnerTerms;
use dancu_app::policy::Actor;
use serde_json::json;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (citizens, calls) = match args[..] {
        [c, n] => (c, n),
        _ => (100_000, 200),
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let app = App::open(&url).unwrap();
    let system = Actor::system("bench");
    app.seed(&system, citizens as u64, 1, &mut |_| {}).unwrap();
    let ids: Vec<String> = app
        .store
        .read(|tx| tx.query("SELECT personal_id FROM citizens ORDER BY personal_id", &[]))
        .unwrap()
        .iter()
        .map(|r| format!("{:012}", r[0].as_i64().unwrap()))
        .collect();
    let key = app
        .add_partner(
            &system,
            &PartnerTerms {
                name: "byt",
                agency: "BYT",
                scopes: &["enrich:blood_type"],
                daily_quota: i64::MAX / 2,
                ..Default::default()
            },
        )
        .unwrap()
        .api_key;
    let partner = app.authenticate_partner(&key, None, None).unwrap();
    let mut latencies = Vec::with_capacity(calls);
    let start = Instant::now();
    let mut applied = 0;
    for call in 0..calls {
        // Successive rounds over the population alternate the value, so every item applies.
        let first = call * MAX_ITEMS;
        let value = ["A+", "B+"][(first / ids.len()) % 2];
        let items: Vec<EnrichItem> = (first..first + MAX_ITEMS)
            .map(|i| EnrichItem {
                personal_id: ids[i % ids.len()].clone(),
                field: "blood_type".into(),
                value: json!(value),
                observed_at: None,
            })
            .collect();
        let t = Instant::now();
        let report = app.enrich(&partner, None, &items).unwrap();
        latencies.push(t.elapsed());
        applied += report.summary.applied;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let items = calls * MAX_ITEMS;
    println!(
        "{citizens} citizens, {calls} calls of {MAX_ITEMS} items: {:.0} items/s ({applied} applied), \
         call p50 {:.1} ms, p99 {:.1} ms",
        items as f64 / elapsed,
        latencies[calls / 2].as_secs_f64() * 1e3,
        latencies[calls * 99 / 100].as_secs_f64() * 1e3,
    );
}
