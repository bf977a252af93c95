//! Resolving a unit through the recorded successions, as every read of a person does:
//! with none recorded, and with every 2025 commune merged into its neighbour (3,321
//! successions), for a unit that moved and one of the other structure that did not.
//! Run: cargo bench -p dancu-domain --bench succession

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dancu_domain::PartialDate;
use dancu_domain::succession::{Succession, Successions};
use dancu_domain::units::{Structure, UnitCatalog};

fn every_commune_merged() -> Successions {
    let units = UnitCatalog::embedded();
    let mut rows = Vec::new();
    for province in units.provinces(Structure::Y2025) {
        let codes: Vec<&str> = units
            .children(Structure::Y2025, &province.code)
            .map(|c| c.code.as_str())
            .collect();
        for (i, code) in codes.iter().enumerate().filter(|_| codes.len() > 1) {
            rows.push(Succession {
                from_structure: Structure::Y2025,
                from_code: (*code).to_owned(),
                to_structure: Structure::Y2025,
                to_code: codes[(i + 1) % codes.len()].to_owned(),
                effective_date: PartialDate::Full(2026, 1, 1),
                event_id: 1,
            });
        }
    }
    Successions::new(rows).unwrap()
}

fn bench(c: &mut Criterion) {
    let today = PartialDate::Full(2026, 11, 30);
    let none = Successions::default();
    let all = every_commune_merged();
    let moved = UnitCatalog::embedded()
        .communes(Structure::Y2025)
        .nth(1000)
        .unwrap()
        .code
        .clone();
    c.bench_function("succession/resolve/none_recorded", |b| {
        b.iter(|| none.resolve(Structure::Y2025, black_box(&moved), today, None))
    });
    c.bench_function("succession/resolve/moved", |b| {
        b.iter(|| all.resolve(Structure::Y2025, black_box(&moved), today, None))
    });
    c.bench_function("succession/resolve/not_moved", |b| {
        b.iter(|| all.resolve(Structure::Pre2025, black_box(&moved), today, None))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
