//! Times the citizen's data tracker (`Store::audit_for_person`, newest 100 entries) on an
//! existing store, three times per person (the first may read cold pages). For
//! BENCHMARKS.md, after a batch verification has listed people:
//! `cargo run --release -p dancu-store --example tracker_time -- sqlite://D/dancu.db ID…`

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: tracker_time STORE_URL PERSONAL_ID…");
        std::process::exit(2);
    };
    let store = dancu_store::Store::open(&url).expect("open the store");
    for id in args {
        let person: dancu_domain::PersonalId = id.parse().expect("a personal ID number");
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let entries = store.audit_for_person(person, 100).expect("tracker").len();
            let ms = started.elapsed().as_secs_f64() * 1e3;
            println!("{id}: {entries} entries in {ms:.2} ms");
        }
    }
}
