//! Hot paths of every import, search and verification: ID parsing, name canonicalization
//! and folding, date parsing.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dancu_domain::text::{canonical_name, fold, fold_into};
use dancu_domain::{PartialDate, PersonalId};

fn bench(c: &mut Criterion) {
    let names = [
        "Nguyễn Thị Minh Khai",
        "NGUYỄN VĂN HOÀ",
        "tran  thi thuy",
        "Huỳnh Ngọc Thuỷ Tiên",
    ];
    c.bench_function("personal_id/parse", |b| {
        b.iter(|| PersonalId::parse(black_box("001090123456")))
    });
    c.bench_function("date/parse", |b| {
        b.iter(|| PartialDate::parse(black_box("1990-02-28")))
    });
    c.bench_function("text/canonical_name", |b| {
        b.iter(|| {
            names
                .iter()
                .map(|n| canonical_name(black_box(n)).len())
                .sum::<usize>()
        })
    });
    c.bench_function("text/fold", |b| {
        b.iter(|| {
            names
                .iter()
                .map(|n| fold(black_box(n)).len())
                .sum::<usize>()
        })
    });
    c.bench_function("text/fold_into", |b| {
        let mut out = String::new();
        b.iter(|| {
            for n in &names {
                fold_into(black_box(n), &mut out);
            }
            out.len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
