//! Civil-status books, scans, entries, links and progress counts, on both backends.

use dancu_domain::units::Structure;
use dancu_domain::{Gender, PartialDate, PersonalId, PopulationBatch};
use dancu_store::civil::{
    BookFields, CIVIL_LINK_FIELD, ENTRY_CHECKED, ENTRY_LINKED, ENTRY_NEEDS_REVIEW, ENTRY_NEW,
    EntryDecision, EntryFields, ScanRecord,
};
use dancu_store::testing::{citizen, sample_communes};
use dancu_store::{EventMeta, Store};

fn date(s: &str) -> PartialDate {
    PartialDate::parse(s).unwrap()
}

fn meta(kind: &str, summary: &str) -> EventMeta {
    EventMeta {
        actor: "tester".into(),
        agency: "01".into(),
        basis: "Sổ khai sinh 1, trang 2".into(),
        kind: kind.into(),
        summary: summary.into(),
        effective_date: date("2010-07-20"),
    }
}

fn child(store: &Store, commune: &str) -> PersonalId {
    let id = PersonalId::from_parts(1, Gender::Female, 2010, 7).unwrap();
    let c = citizen(id, "Nguyễn Thị Minh Khai", "2010-07-15", commune);
    let batch = PopulationBatch {
        citizens: vec![c],
        ..Default::default()
    };
    store
        .load_population(
            &meta("import", "{}"),
            Structure::Y2025,
            &mut std::iter::once(batch),
            false,
        )
        .unwrap();
    id
}

fn book(store: &Store, commune: &str, province: &str, pages: i64) -> i64 {
    store
        .create_book(&BookFields {
            kind: "birth".into(),
            commune_code: commune.into(),
            unit_structure: "2025".into(),
            commune_2025: commune.into(),
            province_2025: province.into(),
            year_from: 2010,
            year_to: 2011,
            pages,
            created_by: "tester".into(),
        })
        .unwrap()
        .id
}

fn entry(page: i64, name: &str) -> EntryFields {
    EntryFields {
        page,
        registration_number: format!("{page}/2010"),
        registration_date: Some(date("2010-07-20")),
        full_name: name.into(),
        date_of_birth: Some(date("2010-07-15")),
        gender: Some("F".into()),
        place: Some("Trạm y tế".into()),
        father_name: Some("Nguyễn Văn Hòa".into()),
        mother_name: Some("Trần Thị Thủy".into()),
        ..Default::default()
    }
}

fn books_scans_entries_and_their_qa_trail(store: &Store) {
    let (a, _, _) = sample_communes();
    let id = book(store, &a, "01", 10);
    let b = store.book(id).unwrap().unwrap();
    assert_eq!(
        (b.fields.kind.as_str(), b.fields.pages, b.fields.year_from),
        ("birth", 10, 2010)
    );
    assert!(store.scan(id, 1).unwrap().is_none());
    let scan = ScanRecord {
        book_id: id,
        page: 1,
        sha256: "ab".repeat(32),
        size: 100,
        content_type: "image/png".into(),
        blob_key: "ab/abab".into(),
        uploaded_by: "tester".into(),
        uploaded_at: 5,
    };
    store.put_scan(&scan).unwrap();
    // A second upload of the page replaces the first.
    store
        .put_scan(&ScanRecord {
            size: 200,
            ..scan.clone()
        })
        .unwrap();
    assert_eq!(store.scan(id, 1).unwrap().unwrap().size, 200);

    let ids = store
        .insert_entries(
            id,
            &[entry(1, "Nguyễn Thị Minh Khai"), entry(2, "Lê Văn Tám")],
            "typist",
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    let e = store.entry(ids[0]).unwrap().unwrap();
    assert_eq!(e.status, "typed");
    assert_eq!(e.typed_by, "typist");
    assert_eq!(e.fields, entry(1, "Nguyễn Thị Minh Khai"));
    assert!(store.check_entry(ids[0], "checker").unwrap());
    assert!(
        !store.check_entry(ids[0], "checker").unwrap(),
        "checked once"
    );
    let e = store.entry(ids[0]).unwrap().unwrap();
    assert_eq!(
        (e.status.as_str(), e.checked_by.as_deref()),
        (ENTRY_CHECKED, Some("checker"))
    );
    assert_eq!(store.entries(id, Some(ENTRY_CHECKED)).unwrap().len(), 1);
    assert_eq!(store.entries(id, None).unwrap().len(), 2);
}

fn links_write_an_event_and_a_history_line(store: &Store) {
    let (a, _, _) = sample_communes();
    let person = child(store, &a);
    let id = book(store, &a, "01", 4);
    let ids = store
        .insert_entries(
            id,
            &[
                entry(1, "Nguyễn Thị Minh Khai"),
                entry(1, "Nguyễn Thị Minh Khai"),
                entry(2, "Lê Văn Tám"),
            ],
            "typist",
        )
        .unwrap();
    for e in &ids {
        store.check_entry(*e, "checker").unwrap();
    }
    let decide = |entry_id, status, candidate| EntryDecision {
        entry_id,
        status,
        candidate,
        score: Some(12.5),
        explanation: "given=exact+5.0".into(),
    };
    let applied = store
        .record_decisions(
            &[
                decide(ids[0], ENTRY_LINKED, Some(person)),
                decide(ids[1], ENTRY_NEEDS_REVIEW, Some(person)),
                decide(ids[2], ENTRY_NEW, None),
            ],
            "linker",
            &|e| {
                Some((
                    format!("book:{id} page:1 entry:{e}"),
                    meta("civil_link", "{}"),
                ))
            },
        )
        .unwrap();
    assert_eq!(applied, 3);
    let linked = store.entry(ids[0]).unwrap().unwrap();
    assert_eq!(linked.personal_id, Some(person));
    assert_eq!(linked.score, Some(12.5));
    assert_eq!(linked.decided_by.as_deref(), Some("linker"));
    let history = store.changes(person).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].field, CIVIL_LINK_FIELD);
    assert_eq!(history[0].event.kind, "civil_link");
    // The history line changes no field: the past state still reads.
    assert!(
        store
            .citizen_as_of(person, date("2010-07-16"))
            .unwrap()
            .is_some()
    );

    // The second entry names the same person: a birth registers one person once.
    let queue = store.review_queue(Some("01"), 10).unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].1.id, ids[1]);
    assert!(store.review_queue(Some("79"), 10).unwrap().is_empty());
    let err = store
        .confirm_link(
            ids[1],
            person,
            "reviewer",
            Some("birth"),
            "src",
            &meta("civil_link", "{}"),
        )
        .unwrap_err();
    assert!(err.to_string().contains("twins"), "{err}");
    assert_eq!(
        store.entry(ids[1]).unwrap().unwrap().status,
        ENTRY_NEEDS_REVIEW,
        "a refused confirmation changes nothing"
    );
    store.reject_link(ids[1], "reviewer").unwrap();
    let rejected = store.entry(ids[1]).unwrap().unwrap();
    assert_eq!(
        (rejected.status.as_str(), rejected.reviewed_by.as_deref()),
        (ENTRY_NEW, Some("reviewer"))
    );
    assert!(
        store.reject_link(ids[1], "reviewer").is_err(),
        "no longer in review"
    );
    assert_eq!(store.changes(person).unwrap().len(), 1);
}

fn progress_counts_come_from_the_data(store: &Store) {
    let (a, _, c) = sample_communes();
    let one = book(store, &a, "01", 4);
    let other = book(store, &c, "99", 2);
    for (page, at) in [(1, 100), (2, 5_000), (3, 6_000)] {
        store
            .put_scan(&ScanRecord {
                book_id: one,
                page,
                sha256: "00".repeat(32),
                size: 1,
                content_type: "image/jpeg".into(),
                blob_key: "k".into(),
                uploaded_by: "t".into(),
                uploaded_at: at,
            })
            .unwrap();
    }
    let ids = store
        .insert_entries(one, &[entry(1, "A Bê"), entry(2, "Cê Đê")], "t")
        .unwrap();
    store.check_entry(ids[0], "c").unwrap();
    store
        .record_decisions(
            &[EntryDecision {
                entry_id: ids[0],
                status: ENTRY_NEW,
                candidate: None,
                score: None,
                explanation: "no candidate".into(),
            }],
            "l",
            &|_| None,
        )
        .unwrap();
    let all = store.book_counts(None, 1_000).unwrap();
    assert_eq!(all.len(), 2);
    let counts = store.book_counts(Some("01"), 1_000).unwrap();
    assert_eq!(counts.len(), 1);
    let b = &counts[0];
    assert_eq!(
        (
            b.book_id,
            b.pages,
            b.pages_scanned,
            b.pages_scanned_recently
        ),
        (one, 4, 3, 2)
    );
    assert_eq!(
        (
            b.entries_typed,
            b.entries_checked,
            b.entries_new,
            b.entries_linked
        ),
        (2, 1, 1, 0)
    );
    let o = all.iter().find(|b| b.book_id == other).unwrap();
    assert_eq!((o.pages_scanned, o.entries_typed), (0, 0));
}

dancu_store::on_both_backends!(
    books_scans_entries_and_their_qa_trail,
    links_write_an_event_and_a_history_line,
    progress_counts_come_from_the_data,
);
