//! The cost of the audit hash chain: `append_audit` (locks the head, hashes in Rust,
//! inserts in bulk) against the same bulk insert without chaining, per batch size and
//! backend; and the Ed25519 signature of a chain head that the audit writer makes after
//! each commit (head file) and at each checkpoint. `cargo bench -p dancu-store --bench audit`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dancu_store::testing::TestStore;
use dancu_store::{AuditEntry, AuditHead, Checkpoint, SigningKey, Value};

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        at_millis: 1_750_000_000_000 + i as i64,
        actor: "officer.hanoi".into(),
        actor_role: "officer".into(),
        actor_unit: "01".into(),
        action: "citizen.read".into(),
        purpose: Some("037".into()),
        outcome: "ok".into(),
        ip: Some("10.1.2.3".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        detail: Some("dossier 42".into()),
        ..Default::default()
    }
}

/// What `append_audit` did before the chain: one bulk insert, ids from the database.
fn append_unchained(store: &dancu_store::Store, entries: &[AuditEntry]) {
    store
        .write(|tx| {
            tx.bulk_insert(
                "audit_log",
                &[
                    "at",
                    "actor",
                    "actor_role",
                    "actor_unit",
                    "action",
                    "purpose",
                    "outcome",
                    "ip",
                    "user_agent",
                    "detail",
                ],
                &mut entries.iter().map(|e| {
                    vec![
                        Value::Int(e.at_millis),
                        Value::Text(e.actor.clone()),
                        Value::Text(e.actor_role.clone()),
                        Value::Text(e.actor_unit.clone()),
                        Value::Text(e.action.clone()),
                        e.purpose.clone().into(),
                        Value::Text(e.outcome.clone()),
                        e.ip.clone().into(),
                        e.user_agent.clone().into(),
                        e.detail.clone().into(),
                    ]
                }),
            )
        })
        .unwrap();
}

fn bench(c: &mut Criterion) {
    type Open = fn() -> TestStore;
    let backends: [(&str, Open); 2] = [
        ("sqlite", TestStore::sqlite),
        ("postgres", TestStore::postgres),
    ];
    for (backend, open) in backends {
        let mut group = c.benchmark_group(format!("audit_append/{backend}"));
        group.sample_size(20);
        for batch in [1usize, 64, 1024] {
            let entries: Vec<AuditEntry> = (0..batch).map(entry).collect();
            group.throughput(Throughput::Elements(batch as u64));
            // Separate stores: the unchained rows would break the chained store's ids.
            let chained = open();
            group.bench_with_input(BenchmarkId::new("chained", batch), &entries, |b, e| {
                b.iter(|| chained.store.append_audit(e).unwrap())
            });
            let plain = open();
            group.bench_with_input(BenchmarkId::new("unchained", batch), &entries, |b, e| {
                b.iter(|| append_unchained(&plain.store, e))
            });
        }
        group.finish();
    }
}

fn signing(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let head = AuditHead {
        entry_id: 1_000_000,
        hash: [3; 32],
    };
    let signed = Checkpoint::sign(&key, 1, head);
    let public = key.verifying_key();
    let mut group = c.benchmark_group("audit_head");
    group.bench_function("sign", |b| b.iter(|| Checkpoint::sign(&key, 1, head)));
    group.bench_function("verify", |b| b.iter(|| signed.verify(&public)));
    group.finish();
}

criterion_group!(benches, bench, signing);
criterion_main!(benches);
