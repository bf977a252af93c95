//! Civil-status digitization use cases: books, scans, entries, linking with twins,
//! review, progress.

use dancu_app::civil::{BookRequest, EntryInput};
use dancu_app::{Actor, App, Error, Role};
use dancu_domain::units::{Structure, UnitCatalog};
use dancu_store::civil::{ENTRY_LINKED, ENTRY_NEEDS_REVIEW, ENTRY_NEW};
use dancu_store::testing::{TestStore, sample_communes, unsplit_old_commune};

const PNG: &[u8] = b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR page one";

fn birth_book(app: &App, actor: &Actor, commune: &str, pages: i64) -> i64 {
    app.create_book(
        actor,
        &BookRequest {
            kind: "birth".into(),
            commune_code: commune.into(),
            structure: "2025".into(),
            year_from: 2010,
            year_to: 2012,
            pages,
        },
    )
    .unwrap()
    .id
}

/// A family of a commune: parents and twin daughters, plus a seeded population.
fn population(app: &App, commune: &str) {
    let system = Actor::system("test");
    app.seed(&system, 3_000, 7, &mut |_| {}).unwrap();
    let csv = format!(
        "personal_id,full_name,date_of_birth,gender,commune_code,household_id,relationship,father_id,mother_id\n\
         001080000901,Nguyễn Văn Hòa,1980-03-02,M,{commune},900001,head,,\n\
         001182000901,Trần Thị Thủy,1982-04-09,F,{commune},900001,spouse,,\n\
         001311000901,Nguyễn Thị Minh Khai,2011-07-15,F,{commune},900001,child,001080000901,001182000901\n\
         001311000902,Nguyễn Thị Minh Khuê,2011-07-15,F,{commune},900001,child,001080000901,001182000901\n"
    );
    let report = app.import_citizens(&system, csv.as_bytes()).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
}

fn birth_entry(page: i64, number: &str, name: &str) -> EntryInput {
    EntryInput {
        page: Some(page),
        registration_number: Some(number.into()),
        registration_date: Some("2011-07-20".into()),
        full_name: Some(name.into()),
        date_of_birth: Some("2011-07-15".into()),
        gender: Some("F".into()),
        place: Some("Bệnh viện Phụ sản".into()),
        father_name: Some("Nguyễn Văn Hòa".into()),
        mother_name: Some("Trần Thị Thủy".into()),
        ..Default::default()
    }
}

#[test]
fn books_are_validated_against_the_structure_of_their_time() {
    let t = TestStore::sqlite();
    let app = App::open(&t.url).unwrap();
    let (a, _, c) = sample_communes();
    let officer = Actor::new("civil", Role::CivilStatusOfficer, &a);
    let req = |commune: &str, structure: &str, kind: &str| BookRequest {
        kind: kind.into(),
        commune_code: commune.into(),
        structure: structure.into(),
        year_from: 1995,
        year_to: 1996,
        pages: 200,
    };
    let err = app
        .create_book(&officer, &req("99999", "2025", "birth"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("commune_code")),
        "{err}"
    );
    let err = app
        .create_book(&officer, &req(&a, "2025", "adoption"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("kind")),
        "{err}"
    );
    // Another province's commune: outside the officer's unit.
    assert!(matches!(
        app.create_book(&officer, &req(&c, "2025", "death")),
        Err(Error::Forbidden(_))
    ));
    // A pre-2025 commune that became the officer's commune is its book.
    let (old, new) = unsplit_old_commune();
    let there = Actor::new("civil.new", Role::CivilStatusOfficer, &new);
    let book = app
        .create_book(&there, &req(&old, "pre2025", "marriage"))
        .unwrap();
    assert_eq!(
        (
            book.fields.commune_code.as_str(),
            book.fields.unit_structure.as_str()
        ),
        (old.as_str(), "pre2025")
    );
    assert_eq!(book.fields.commune_2025, new);
    assert_eq!(
        book.fields.province_2025,
        UnitCatalog::embedded()
            .current_commune(&new)
            .unwrap()
            .province_code
    );
    // A pre-2025 code is not accepted as a 2025 one unless it is one.
    if UnitCatalog::embedded()
        .get(Structure::Y2025, &old)
        .is_none()
    {
        assert!(
            app.create_book(&there, &req(&old, "2025", "birth"))
                .is_err()
        );
    }
}

#[test]
fn a_scan_that_is_not_an_image_is_refused_and_nothing_is_stored() {
    let t = TestStore::sqlite();
    let app = App::open(&t.url).unwrap();
    let (a, _, _) = sample_communes();
    let officer = Actor::new("civil", Role::CivilStatusOfficer, &a);
    let book = birth_book(&app, &officer, &a, 3);
    let err = app
        .upload_scan(&officer, book, 1, b"name,date\nnot,a scan")
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("not an image")),
        "{err}"
    );
    assert!(app.store.scan(book, 1).unwrap().is_none());
    let blobs = std::path::Path::new(t.url.strip_prefix("sqlite://").unwrap())
        .parent()
        .unwrap()
        .join("blobs");
    assert!(!blobs.exists(), "no blob written for a refused scan");
    assert!(matches!(
        app.upload_scan(&officer, book, 4, PNG),
        Err(Error::Invalid(_))
    ));

    let scan = app.upload_scan(&officer, book, 1, PNG).unwrap();
    assert_eq!(scan.content_type, "image/png");
    assert_eq!(scan.size, PNG.len() as i64);
    let (meta, bytes) = app
        .scan(&officer, book, 1)
        .unwrap()
        .release_blocking()
        .unwrap();
    assert_eq!((meta.sha256, bytes.as_slice()), (scan.sha256, PNG));
    let (_, _, other) = sample_communes();
    let outsider = Actor::new("civil.other", Role::CivilStatusOfficer, &other);
    assert!(matches!(
        app.scan(&outsider, book, 1),
        Err(Error::Forbidden(_))
    ));
    let auditor = Actor::new("auditor", Role::Auditor, "VN");
    assert!(matches!(
        app.scan(&auditor, book, 1),
        Err(Error::Forbidden(_))
    ));
}

#[test]
fn an_entries_file_reports_bad_rows_by_line_and_stores_the_good_ones() {
    let t = TestStore::sqlite();
    let app = App::open(&t.url).unwrap();
    let (a, _, _) = sample_communes();
    let officer = Actor::new("civil", Role::CivilStatusOfficer, &a);
    let book = birth_book(&app, &officer, &a, 5);
    // NFD input must come out NFC.
    let nfd = "Nguye\u{302}\u{303}n Thi\u{323} Minh Khai";
    let csv = format!(
        "\u{FEFF}page,registration_number,registration_date,full_name,date_of_birth,gender,father_name,mother_name,extra\n\
         1,1/2011,2011-07-20,{nfd},2011-07-15,F,Nguyễn Văn Hòa,Trần Thị Thủy,x\n\
         1,2/2011,2011-07-20,,2011-07-15,F,,,\n\
         2,3/2011,2011-07-20,Lê Văn Tám,2011-02-30,M,,,\n\
         9,4/2011,2011-07-20,Lê Văn Tư,2011-02-01,M,,,\n\
         2,5/2011,2011-07-20,Lê Văn Năm,2011-08-01,M,,,\n\
         2,6/2011,1990-01-01,Lê Văn Sáu,1990-01-01,M,,,\n\
         \"3,7/2011\n"
    );
    let report = app.import_entries(&officer, book, csv.as_bytes()).unwrap();
    assert_eq!(report.imported, 1);
    let lines: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(
        lines[0].0 == 3 && lines[0].1.starts_with("full_name: empty"),
        "{lines:?}"
    );
    assert!(
        lines[1].0 == 4 && lines[1].1.starts_with("date_of_birth"),
        "{lines:?}"
    );
    assert!(
        lines[2].0 == 5 && lines[2].1.starts_with("page"),
        "{lines:?}"
    );
    assert!(
        lines[3].0 == 6 && lines[3].1.contains("after the registration"),
        "{lines:?}"
    );
    assert!(
        lines[4].0 == 7 && lines[4].1.contains("outside the book's years"),
        "{lines:?}"
    );
    assert_eq!(lines[5].0, 8, "{lines:?}");
    let stored = app
        .entries(&officer, book, None)
        .unwrap()
        .release_blocking()
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].fields.full_name, "Nguyễn Thị Minh Khai");
    assert_eq!(stored[0].status, "typed");
    assert_eq!(stored[0].typed_by, "civil");

    // Death and marriage books take their own fields.
    for (kind, input, missing) in [
        (
            "death",
            EntryInput {
                page: Some(1),
                registration_number: Some("1".into()),
                registration_date: Some("2011-01-05".into()),
                full_name: Some("Phạm Văn Đồng".into()),
                event_date: Some("2011-01-02".into()),
                ..Default::default()
            },
            "event_date",
        ),
        (
            "marriage",
            EntryInput {
                page: Some(1),
                registration_number: Some("1".into()),
                registration_date: Some("2011-01-05".into()),
                full_name: Some("Phạm Văn Đồng".into()),
                spouse_name: Some("Lê Thị Hồng".into()),
                ..Default::default()
            },
            "spouse_name",
        ),
    ] {
        let id = app
            .create_book(
                &officer,
                &BookRequest {
                    kind: kind.into(),
                    commune_code: a.clone(),
                    structure: "2025".into(),
                    year_from: 2011,
                    year_to: 2011,
                    pages: 2,
                },
            )
            .unwrap()
            .id;
        let typed = app
            .add_entries(&officer, id, std::slice::from_ref(&input))
            .unwrap();
        assert_eq!(typed.len(), 1);
        let mut bad = input;
        match missing {
            "event_date" => bad.event_date = None,
            _ => bad.spouse_name = None,
        }
        let err = app.add_entries(&officer, id, &[bad]).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(m) if m.starts_with(missing)),
            "{err}"
        );
    }
}

#[test]
fn linking_keeps_twins_apart_and_a_confirmed_review_is_a_registry_event() {
    let t = TestStore::sqlite();
    let app = App::open(&t.url).unwrap();
    let (a, _, _) = sample_communes();
    population(&app, &a);
    let officer = Actor::new("civil", Role::CivilStatusOfficer, &a);
    let book = birth_book(&app, &officer, &a, 10);
    let typed = app
        .add_entries(
            &officer,
            book,
            &[
                birth_entry(1, "11/2011", "Nguyễn Thị Minh Khai"),
                birth_entry(1, "12/2011", "Nguyễn Thị Minh Khuê"),
                // The same birth typed twice (page 2): the registry has one person.
                birth_entry(2, "13/2011", "Nguyen Thi Minh Khue"),
                EntryInput {
                    full_name: Some("Hoàng Văn Thụ".into()),
                    gender: Some("M".into()),
                    date_of_birth: Some("2011-01-03".into()),
                    father_name: Some("Hoàng Văn Bốn".into()),
                    mother_name: Some("Vi Thị Năm".into()),
                    ..birth_entry(3, "14/2011", "")
                },
            ],
        )
        .unwrap();
    let ids: Vec<i64> = typed.iter().map(|e| e.id).collect();
    // Only checked entries are linked.
    let run = app.link_book(&officer, book).unwrap();
    assert_eq!(run.entries, 0);
    for id in &ids {
        app.check_entry(&officer, *id).unwrap();
    }
    assert!(matches!(
        app.check_entry(&officer, ids[0]),
        Err(Error::Conflict(_))
    ));
    let run = app.link_book(&officer, book).unwrap();
    assert_eq!(run.entries, 4);
    assert!(run.registry_persons > 3_000);
    let entry = |i: usize| app.store.entry(ids[i]).unwrap().unwrap();
    let khai = entry(0);
    assert_eq!(khai.status, ENTRY_LINKED, "{:?}", khai.explanation);
    assert_eq!(khai.personal_id.unwrap().to_string(), "001311000901");
    assert!(khai.explanation.as_deref().unwrap().contains("given=exact"));
    // Khuê typed twice: neither copy is linked, both wait for a person.
    for i in [1, 2] {
        let e = entry(i);
        assert_eq!(e.status, ENTRY_NEEDS_REVIEW, "{:?}", e.explanation);
        assert_eq!(e.candidate_id.unwrap().to_string(), "001311000902");
        assert!(e.explanation.as_deref().unwrap().contains("same person"));
    }
    assert_eq!(entry(3).status, ENTRY_NEW, "{:?}", entry(3).explanation);

    let queue = app
        .review_queue(&officer, 50)
        .unwrap()
        .release_blocking()
        .unwrap();
    assert_eq!(queue.len(), 2);
    assert_eq!(
        queue[0].candidate.as_ref().unwrap().full_name,
        "Nguyễn Thị Minh Khuê"
    );
    let (_, _, other) = sample_communes();
    let outsider = Actor::new("civil.other", Role::CivilStatusOfficer, &other);
    assert!(
        app.review_queue(&outsider, 50)
            .unwrap()
            .release_blocking()
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        app.confirm_link(&outsider, ids[1], None),
        Err(Error::Forbidden(_))
    ));

    let confirmed = app.confirm_link(&officer, ids[1], None).unwrap();
    assert_eq!(confirmed.status, ENTRY_LINKED);
    assert_eq!(confirmed.reviewed_by.as_deref(), Some("civil"));
    // The other copy cannot link the same person: it is rejected as a duplicate.
    assert!(matches!(
        app.confirm_link(&officer, ids[2], None),
        Err(Error::Conflict(_))
    ));
    assert_eq!(app.reject_link(&officer, ids[2]).unwrap().status, ENTRY_NEW);

    let khue = "001311000902".parse().unwrap();
    let history = app.store.changes(khue).unwrap();
    assert_eq!(history.len(), 1);
    let event = &history[0].event;
    assert_eq!(event.kind, "civil_link");
    assert!(event.basis.contains(&format!("số {book}")) && event.basis.contains("trang 1"));
    let summary: serde_json::Value = serde_json::from_str(&event.summary).unwrap();
    assert_eq!(summary["page"], 1);
    assert_eq!(summary["book"], book);
    assert_eq!(summary["decision"], "confirmed");

    let progress = app.civil_progress(&officer, &a, None, 30).unwrap();
    assert_eq!(progress.total.entries_typed, 4);
    assert_eq!(progress.total.entries_linked, 2);
    assert_eq!(progress.total.entries_new, 2);
    assert_eq!(progress.total.entries_reviewed, 2);
    assert_eq!(progress.total.percent_linked, 100.0);
}

#[test]
fn progress_projects_the_completion_date_from_the_pace() {
    let t = TestStore::sqlite();
    let app = App::open(&t.url).unwrap();
    let (a, b, c) = sample_communes();
    let officer = Actor::new("civil", Role::CivilStatusOfficer, &a);
    let book = birth_book(&app, &officer, &a, 40);
    let second = Actor::new("civil.b", Role::CivilStatusOfficer, &b);
    birth_book(&app, &second, &b, 10);
    for page in 1..=4 {
        app.upload_scan(&officer, book, page, PNG).unwrap();
    }
    // 4 pages in the last 2 days: 2 a day, 36 left → 18 days from today.
    let target_far = dancu_domain::PartialDate::parse("2099").unwrap();
    let supervisor = Actor::new("sup", Role::Supervisor, "01");
    let p = app
        .civil_progress(&supervisor, "01", Some(target_far), 2)
        .unwrap();
    assert_eq!(
        (p.total.books, p.total.pages, p.total.pages_scanned),
        (2, 50, 4)
    );
    assert_eq!(p.total.percent_scanned, 8.0);
    assert_eq!(p.by_commune.len(), 2);
    assert_eq!(p.by_book.len(), 2);
    let this = p
        .by_book
        .iter()
        .find(|r| r.key == book.to_string())
        .unwrap();
    assert_eq!(this.progress.pages_per_day, 2.0);
    assert_eq!(this.progress.percent_scanned, 10.0);
    let today = dancu_store::now_millis().div_euclid(86_400_000);
    let (y, m, d) = dancu_app::citizens::civil_from_days(today + 18);
    assert_eq!(
        this.progress.projected_completion,
        Some(dancu_domain::PartialDate::Full(y, m, d))
    );
    assert!(!this.progress.at_risk);
    let other_book = p
        .by_book
        .iter()
        .find(|r| r.key != book.to_string())
        .unwrap();
    assert!(other_book.progress.at_risk, "no pace, pages left");
    let soon = dancu_domain::PartialDate::parse("2000").unwrap();
    let p = app.civil_progress(&officer, &a, Some(soon), 2).unwrap();
    assert_eq!(p.total.books, 1, "the commune's own books only");
    assert!(p.total.at_risk);
    // Outside the unit, and roles without the grant.
    assert!(matches!(
        app.civil_progress(&officer, &b, None, 30),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        app.civil_progress(&Actor::new("x", Role::Admin, "VN"), "VN", None, 30),
        Err(Error::Forbidden(_))
    ));
    let elsewhere = Actor::new("sup.c", Role::Supervisor, &c);
    assert!(matches!(
        app.civil_progress(&elsewhere, "01", None, 30),
        Err(Error::Forbidden(_))
    ));
}
