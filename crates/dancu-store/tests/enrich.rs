//! Enrichment storage on both backends: versions under one event per batch, the mirrored
//! citizen field, as-of reads, conflicts, and a failed batch leaving nothing behind.

use dancu_domain::units::Structure;
use dancu_domain::{Citizen, Gender, PartialDate, PersonalId, PopulationBatch};
use dancu_store::testing::{citizen, sample_communes};
use dancu_store::{AttributeWrite, CitizenField, Decision, EventMeta, Store};

fn date(s: &str) -> PartialDate {
    PartialDate::parse(s).unwrap()
}

fn meta(actor: &str, agency: &str, kind: &str) -> EventMeta {
    EventMeta {
        actor: actor.into(),
        agency: agency.into(),
        basis: "test".into(),
        kind: kind.into(),
        summary: "{}".into(),
        effective_date: date("2026-01-01"),
    }
}

fn person(store: &Store) -> PersonalId {
    let id = PersonalId::from_parts(1, Gender::Male, 1980, 1).unwrap();
    let (commune, _, _) = sample_communes();
    let c = Citizen {
        blood_type: Some("O".into()),
        ..citizen(id, "Nguyễn Văn An", "1980-01-01", &commune)
    };
    let batch = PopulationBatch {
        households: vec![],
        citizens: vec![c],
        residences: vec![],
    };
    store
        .load_population(
            &meta("tester", "01", "import"),
            Structure::Y2025,
            &mut std::iter::once(batch),
            false,
        )
        .unwrap();
    id
}

fn blood(id: PersonalId, value: &str, observed: &str) -> AttributeWrite {
    AttributeWrite {
        personal_id: id,
        attribute: "blood_type".into(),
        value: format!("\"{value}\""),
        observed_on: date(observed),
        owner: "BYT".into(),
        mirror: Some((CitizenField::BloodType, value.into())),
    }
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .read(|tx| tx.query_i64(&format!("SELECT COUNT(*) FROM {table}"), &[]))
        .unwrap()
}

fn versions_history_mirror_and_as_of(store: &Store) {
    let id = person(store);
    let missing = PersonalId::from_parts(1, Gender::Female, 1990, 7).unwrap();
    let licence = AttributeWrite {
        personal_id: id,
        attribute: "driving_licence".into(),
        value: r#"{"classes":["B"],"number":"010123456789"}"#.into(),
        observed_on: date("2025-06-01"),
        owner: "BCA".into(),
        mirror: None,
    };
    let writes = [
        blood(id, "O+", "2025-03-01"),
        licence,
        blood(missing, "A+", "2025-03-01"),
    ];
    let mut seen = Vec::new();
    let event = store
        .enrich(
            &meta("partner:byt", "BYT", "enrich"),
            &writes,
            &mut |i, held| {
                seen.push((i, held.citizen_exists, held.mirror_value.map(str::to_owned)));
                if held.citizen_exists {
                    Decision::Apply
                } else {
                    Decision::Skip
                }
            },
        )
        .unwrap()
        .expect("an event");
    assert_eq!(
        seen,
        [
            (0, true, Some("O".to_owned())),
            (1, true, None),
            (2, false, None)
        ]
    );
    // One event for the batch, the partner as its source; the mirrored field changed
    // under it with the old value kept.
    let current = store.attributes(id, None).unwrap();
    assert_eq!(current.len(), 2);
    assert_eq!(current[0].attribute, "blood_type");
    assert_eq!(current[0].value, "\"O+\"");
    assert!(current.iter().all(|v| v.event.id == event));
    assert_eq!(current[0].event.actor, "partner:byt");
    assert_eq!(current[0].event.agency, "BYT");
    assert_eq!(current[0].event.kind, "enrich");
    assert_eq!(
        store.citizen(id).unwrap().unwrap().blood_type.as_deref(),
        Some("O+")
    );
    let changes = store.changes(id).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].old_value.as_deref(), Some("O"));
    assert_eq!(changes[0].event.id, event);

    // A later observation: a second version; as-of reads pick by observation date.
    let second = store
        .enrich(
            &meta("partner:byt", "BYT", "enrich"),
            &[blood(id, "O-", "2025-09-01")],
            &mut |_, held| {
                assert_eq!(held.version.unwrap().value, "\"O+\"");
                Decision::Apply
            },
        )
        .unwrap()
        .unwrap();
    assert!(second > event);
    let history = store.attribute_history(id).unwrap();
    let blood_values: Vec<&str> = history
        .iter()
        .filter(|v| v.attribute == "blood_type")
        .map(|v| v.value.as_str())
        .collect();
    assert_eq!(blood_values, ["\"O+\"", "\"O-\""]);
    let at = |d: &str| {
        store
            .attributes(id, Some(date(d)))
            .unwrap()
            .into_iter()
            .map(|v| (v.attribute, v.value))
            .collect::<Vec<_>>()
    };
    assert!(at("2025-01-01").is_empty());
    assert_eq!(at("2025-04-01"), [("blood_type".into(), "\"O+\"".into())]);
    assert_eq!(at("2025-12-31")[0].1, "\"O-\"");
    assert_eq!(at("2025-12-31").len(), 2);
}

fn conflicts_are_kept_and_nothing_else_written(store: &Store) {
    let id = person(store);
    let events_before = count(store, "events");
    let event = store
        .enrich(
            &meta("partner:hospital", "BXD", "enrich"),
            &[blood(id, "A+", "2025-03-01")],
            &mut |_, _| Decision::Conflict {
                reason: "owned_by_other_agency".into(),
                held_value: Some("\"O\"".into()),
                held_agency: Some("BYT".into()),
            },
        )
        .unwrap();
    assert_eq!(event, None);
    assert_eq!(count(store, "events"), events_before);
    assert_eq!(count(store, "citizen_attributes"), 0);
    let for_owner = store.enrich_conflicts("BYT", "", None, 10).unwrap();
    assert_eq!(for_owner.len(), 1);
    let c = &for_owner[0];
    assert_eq!(
        (c.personal_id, c.partner.as_str(), c.agency.as_str()),
        (id, "partner:hospital", "BXD")
    );
    assert_eq!(c.value, "\"A+\"");
    assert_eq!(c.held_agency.as_deref(), Some("BYT"));
    assert_eq!(c.reason, "owned_by_other_agency");
    // The pushing partner sees it too; another agency does not.
    assert_eq!(
        store
            .enrich_conflicts("BCA", "partner:hospital", None, 10)
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .enrich_conflicts("BCA", "partner:x", None, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .enrich_conflicts("BYT", "", Some(c.id), 10)
            .unwrap()
            .is_empty()
    );
}

/// A batch whose mirrored value cannot be set fails whole: no event, no version, no
/// conflict row, no change of the citizen.
fn a_failed_batch_leaves_no_half_state(store: &Store) {
    let id = person(store);
    let events_before = count(store, "events");
    let mut bad = blood(id, "B+", "2025-03-01");
    // A mirror that cannot be set (a required field to nothing) aborts the transaction
    // after the first write was made.
    bad.mirror = Some((CitizenField::DateOfBirth, "not a date".into()));
    let writes = [blood(id, "A+", "2025-03-01"), bad];
    let mut n = 0;
    let result = store.enrich(
        &meta("partner:byt", "BYT", "enrich"),
        &writes,
        &mut |_, _| {
            n += 1;
            Decision::Apply
        },
    );
    assert!(result.is_err());
    assert_eq!(n, 2);
    assert_eq!(count(store, "events"), events_before);
    assert_eq!(count(store, "citizen_attributes"), 0);
    assert_eq!(count(store, "citizen_changes"), 0);
    assert_eq!(
        store.citizen(id).unwrap().unwrap().blood_type.as_deref(),
        Some("O")
    );
}

dancu_store::on_both_backends!(
    versions_history_mirror_and_as_of,
    conflicts_are_kept_and_nothing_else_written,
    a_failed_batch_leaves_no_half_state,
);
