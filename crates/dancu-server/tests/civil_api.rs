//! Civil-status digitization over HTTP: books, scans, entries, linking and review,
//! progress, and who may reach them.

mod common;

use std::sync::Arc;

use common::*;
use dancu_app::Actor;
use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const PNG: &[u8] = b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR a scanned page";

fn raw(s: &Server, token: &str, method: reqwest::Method, path: &str, body: &[u8]) -> Response {
    s.client
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(token)
        .body(body.to_vec())
        .send()
        .unwrap()
}

fn new_book(s: &Server, token: &str, commune: &str, pages: i64) -> i64 {
    let res = s.post(
        token,
        "/api/v1/civil/books",
        json!({"kind": "birth", "commune_code": commune, "year_from": 2010, "year_to": 2011, "pages": pages}),
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let book = res.json::<Value>().unwrap();
    // A book as the OpenAPI document's `Book` has it: its fields flat beside id and time.
    let keys: Vec<&str> = book
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "commune_2025",
            "commune_code",
            "created_at",
            "created_by",
            "id",
            "kind",
            "pages",
            "province_2025",
            "unit_structure",
            "year_from",
            "year_to"
        ]
    );
    book["id"].as_i64().unwrap()
}

/// `user` checks each entry, then runs the book's linking; returns the run's report.
fn check_and_link(s: &Server, user: &str, book: i64, ids: &[i64]) -> Value {
    let token = s.login(user);
    for id in ids {
        let res = s.post(
            &token,
            &format!("/api/v1/civil/entries/{id}/check"),
            json!({}),
        );
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().unwrap()["checked_by"], user);
    }
    s.post(
        &token,
        &format!("/api/v1/civil/books/{book}/link"),
        json!({}),
    )
    .json()
    .unwrap()
}

fn child_entry(page: i64, number: &str) -> Value {
    json!({
        "page": page, "registration_number": number, "registration_date": "2010-07-20",
        "full_name": "Nguyễn Thị Minh Khai", "date_of_birth": "2010-07-15", "gender": "F",
        "place": "Trạm y tế xã"
    })
}

#[test]
fn scans_are_images_or_nothing_is_stored() {
    let s = sqlite();
    let (a, _, _) = s.communes.clone();
    let civil = s.login("civil.commune");
    let book = new_book(&s, &civil, &a, 2);
    let path = format!("/api/v1/civil/books/{book}/pages/1/scan");
    let body = assert_problem(
        raw(
            &s,
            &civil,
            reqwest::Method::PUT,
            &path,
            b"%!PS-Adobe not an image",
        ),
        StatusCode::BAD_REQUEST,
    );
    assert!(body["detail"].as_str().unwrap().contains("not an image"));
    assert_problem(s.get(&civil, &path), StatusCode::NOT_FOUND);
    assert_problem(
        raw(
            &s,
            &civil,
            reqwest::Method::PUT,
            &format!("/api/v1/civil/books/{book}/pages/3/scan"),
            PNG,
        ),
        StatusCode::BAD_REQUEST,
    );

    let res = raw(&s, &civil, reqwest::Method::PUT, &path, PNG);
    assert_eq!(res.status(), StatusCode::CREATED);
    let scan: Value = res.json().unwrap();
    assert_eq!(scan["content_type"], "image/png");
    assert!(scan.get("blob_key").is_none(), "storage keys stay inside");
    let res = s.get(&civil, &path);
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().unwrap().as_ref(), PNG);
    // The read is audited.
    let reads = s
        .app
        .store
        .read(|tx| {
            tx.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'civil.scan.read'",
                &[],
            )
        })
        .unwrap();
    assert_eq!(reads, 1);
    // A scan larger than the API's usual body limit is accepted.
    let mut big = PNG.to_vec();
    big.resize(200 * 1024, 0);
    assert_eq!(
        raw(&s, &civil, reqwest::Method::PUT, &path, &big).status(),
        StatusCode::CREATED
    );
}

#[test]
fn scans_go_to_the_s3_store_when_one_is_configured() {
    use dancu_app::civil::blobs::content_key;
    use dancu_app::civil::s3::{S3, testing::Moto};
    let moto = Moto::start(false);
    moto.create_bucket("scans");
    let bucket = || S3::new(moto.config("scans/hanoi", "secret")).unwrap();
    let s = sqlite_with_blobs(Arc::new(bucket()));
    let (a, _, _) = s.communes.clone();
    let civil = s.login("civil.commune");
    let book = new_book(&s, &civil, &a, 1);
    let path = format!("/api/v1/civil/books/{book}/pages/1/scan");
    let res = raw(&s, &civil, reqwest::Method::PUT, &path, PNG);
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, key) = content_key(PNG);
    assert!(bucket().exists(&key).unwrap(), "the scan is in the bucket");
    assert!(
        !s.data_dir.path().join("blobs").exists(),
        "and not in the data dir"
    );
    let res = s.get(&civil, &path);
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().unwrap().as_ref(), PNG);
}

#[test]
fn an_entries_csv_reports_the_line_of_each_bad_row() {
    let s = sqlite();
    let (a, _, _) = s.communes.clone();
    let civil = s.login("civil.commune");
    let book = new_book(&s, &civil, &a, 5);
    let csv = "page,registration_number,registration_date,full_name,date_of_birth,gender\n\
               1,1/2010,2010-07-20,Nguyễn Thị Minh Khai,2010-07-15,F\n\
               1,2/2010,2010-07-20,Lê Văn Tám,2010-13-01,M\n\
               2,3/2010,2010-07-20,   ,2010-01-01,M\n";
    let res = raw(
        &s,
        &civil,
        reqwest::Method::POST,
        &format!("/api/v1/civil/books/{book}/entries/import"),
        csv.as_bytes(),
    );
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().unwrap();
    assert_eq!(report["imported"], 1);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["line"], 3);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("date_of_birth")
    );
    assert_eq!(rejected[1]["line"], 4);
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("full_name: empty")
    );
    let entries: Value = s
        .get(&civil, &format!("/api/v1/civil/books/{book}/entries"))
        .json()
        .unwrap();
    assert_eq!(entries["entries"].as_array().unwrap().len(), 1);
    // A JSON entry with an impossible date is a problem naming the field.
    let mut bad = child_entry(1, "9/2010");
    bad["date_of_birth"] = json!("2010-02-30");
    let body = assert_problem(
        s.post(&civil, &format!("/api/v1/civil/books/{book}/entries"), bad),
        StatusCode::BAD_REQUEST,
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("date_of_birth")
    );
}

#[test]
fn a_confirmed_review_is_an_event_in_the_citizens_history() {
    let s = sqlite();
    s.app
        .seed(&Actor::system("test"), 2_000, 11, &mut |_| {})
        .unwrap();
    let (a, _, _) = s.communes.clone();
    let civil = s.login("civil.commune");
    let book = new_book(&s, &civil, &a, 4);
    // The same birth typed twice: one person, so the engine may link neither.
    let mut ids = Vec::new();
    for (page, number) in [(1, "7/2010"), (2, "8/2010")] {
        let res = s.post(
            &civil,
            &format!("/api/v1/civil/books/{book}/entries"),
            child_entry(page, number),
        );
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.push(res.json::<Value>().unwrap()["id"].as_i64().unwrap());
    }
    let run = check_and_link(&s, "civil.commune", book, &ids);
    assert_eq!(run["needs_review"], 2, "{run}");

    let queue: Value = s.get(&civil, "/api/v1/civil/review").json().unwrap();
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["candidate"]["personal_id"], CHILD);
    assert!(
        items[0]["entry"]["explanation"]
            .as_str()
            .unwrap()
            .contains("same person")
    );
    // Outside the unit: refused.
    let other = s.login("civil.other");
    assert_problem(
        s.post(
            &other,
            &format!("/api/v1/civil/entries/{}/confirm", ids[0]),
            json!({}),
        ),
        StatusCode::FORBIDDEN,
    );
    assert_eq!(
        s.get(&other, "/api/v1/civil/review")
            .json::<Value>()
            .unwrap()["items"],
        json!([])
    );

    let res = s.post(
        &civil,
        &format!("/api/v1/civil/entries/{}/confirm", ids[0]),
        json!({}),
    );
    assert_eq!(res.status(), StatusCode::OK);
    let linked: Value = res.json().unwrap();
    assert_eq!(
        (linked["status"].as_str(), linked["personal_id"].as_str()),
        (Some("linked"), Some(CHILD))
    );
    // The second copy would merge one birth twice: conflict, then rejected.
    assert_problem(
        s.post(
            &civil,
            &format!("/api/v1/civil/entries/{}/confirm", ids[1]),
            json!({}),
        ),
        StatusCode::CONFLICT,
    );
    let res = s.post(
        &civil,
        &format!("/api/v1/civil/entries/{}/reject", ids[1]),
        json!({}),
    );
    assert_eq!(res.json::<Value>().unwrap()["status"], "new");

    let officer = s.login("officer.commune");
    let history: Value = s
        .get(&officer, &format!("/api/v1/citizens/{CHILD}/history"))
        .json()
        .unwrap();
    let text = history.to_string();
    assert!(text.contains("civil_link"), "{text}");
    assert!(text.contains(&format!("book:{book} page:1")), "{text}");
    assert!(text.contains("trang 1"), "{text}");
}

#[test]
fn entries_are_for_civil_status_officers_of_the_unit_only() {
    let s = sqlite();
    let (a, _, _) = s.communes.clone();
    let civil = s.login("civil.commune");
    let book = new_book(&s, &civil, &a, 3);
    let scan = format!("/api/v1/civil/books/{book}/pages/1/scan");
    assert_eq!(
        raw(&s, &civil, reqwest::Method::PUT, &scan, PNG).status(),
        StatusCode::CREATED
    );
    let paths = [
        format!("/api/v1/civil/books/{book}"),
        format!("/api/v1/civil/books/{book}/entries"),
        scan,
    ];
    for user in [
        "civil.other",
        "auditor",
        "admin",
        "admin.national",
        "supervisor",
        "officer.commune",
    ] {
        let token = s.login(user);
        for p in &paths {
            assert_problem(s.get(&token, p), StatusCode::FORBIDDEN);
        }
        assert_problem(
            s.post(
                &token,
                &format!("/api/v1/civil/books/{book}/link"),
                json!({}),
            ),
            StatusCode::FORBIDDEN,
        );
    }
    for p in &paths {
        assert_eq!(s.get(&civil, p).status(), StatusCode::OK, "{p}");
    }
    assert_problem(
        s.get(&civil, "/api/v1/civil/books/999999"),
        StatusCode::NOT_FOUND,
    );
}

#[test]
fn progress_counts_pages_and_entries_for_supervisors() {
    let s = sqlite();
    let (a, _, _) = s.communes.clone();
    let civil = s.login("civil.commune");
    let book = new_book(&s, &civil, &a, 10);
    for page in 1..=3 {
        let path = format!("/api/v1/civil/books/{book}/pages/{page}/scan");
        assert_eq!(
            raw(&s, &civil, reqwest::Method::PUT, &path, PNG).status(),
            StatusCode::CREATED
        );
    }
    s.post(
        &civil,
        &format!("/api/v1/civil/books/{book}/entries"),
        child_entry(1, "1/2010"),
    );
    let supervisor = s.login("supervisor");
    let p: Value = s
        .get(
            &supervisor,
            "/api/v1/civil/progress?unit=01&target=2099&days=7",
        )
        .json()
        .unwrap();
    let total = &p["total"];
    assert_eq!(total["books"], 1);
    assert_eq!(total["pages"], 10);
    assert_eq!(total["pages_scanned"], 3);
    assert_eq!(total["entries_typed"], 1);
    assert_eq!(total["percent_scanned"], 30.0);
    assert_eq!(total["at_risk"], false);
    assert!(total["projected_completion"].is_string());
    assert_eq!(p["by_commune"][0]["key"], a.as_str());
    assert_eq!(p["by_province"][0]["key"], "01");
    // No names in an aggregate.
    assert!(!p.to_string().contains("Minh Khai"));
    let late: Value = s
        .get(&supervisor, "/api/v1/civil/progress?unit=01&target=2000")
        .json()
        .unwrap();
    assert_eq!(late["total"]["at_risk"], true);
    assert_problem(
        s.get(&supervisor, "/api/v1/civil/progress?target=someday"),
        StatusCode::BAD_REQUEST,
    );
    // The officer of another commune does not see this commune's progress.
    assert_problem(
        s.get(
            &s.login("civil.other"),
            &format!("/api/v1/civil/progress?unit={a}"),
        ),
        StatusCode::FORBIDDEN,
    );
}

#[test]
fn the_civil_flow_works_on_postgresql_too() {
    let s = start(dancu_store::testing::TestStore::postgres());
    let (a, _, _) = s.communes.clone();
    let civil = s.login("civil.commune");
    let book = new_book(&s, &civil, &a, 2);
    // This server has no blob store (the CLI always gives one in the data dir; a
    // PostgreSQL store has no file beside which to put it): scans are refused, clearly.
    let scan = format!("/api/v1/civil/books/{book}/pages/1/scan");
    let body = assert_problem(
        raw(&s, &civil, reqwest::Method::PUT, &scan, PNG),
        StatusCode::CONFLICT,
    );
    assert!(body["detail"].as_str().unwrap().contains("blob store"));
    let csv = "page,registration_number,registration_date,full_name,date_of_birth,gender\n\
               1,1/2010,2010-07-20,Nguyễn Thị Minh Khai,2010-07-15,F\n\
               1,2/2010,2010-07-20,Nguyễn Thị Minh Khai,2010-07-15,F\n";
    let report: Value = raw(
        &s,
        &civil,
        reqwest::Method::POST,
        &format!("/api/v1/civil/books/{book}/entries/import"),
        csv.as_bytes(),
    )
    .json()
    .unwrap();
    assert_eq!(report["imported"], 2);
    let ids: Vec<i64> = report["entry_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_i64().unwrap())
        .collect();
    let run = check_and_link(&s, "civil.commune", book, &ids);
    assert_eq!(run["entries"], 2, "{run}");
    assert_eq!(run["linked"], 0, "one birth never links twice: {run}");
    let p: Value = s
        .get(&civil, &format!("/api/v1/civil/progress?unit={a}"))
        .json()
        .unwrap();
    assert_eq!(p["total"]["pages_scanned"], 0);
    assert_eq!(p["total"]["entries_checked"], 2);
    assert_eq!(p["total"]["entries_needs_review"], 2);
}

/// Found by schemathesis: the optional confirm body answered 422 to bytes that are not
/// JSON, a status its document did not list. Now as every JSON body: 400 for bad JSON,
/// 422 for JSON of the wrong shape, and both are documented.
#[test]
fn a_bad_confirm_body_is_a_documented_problem() {
    let s = sqlite();
    let (a, _, _) = s.communes.clone();
    let civil = s.login("civil.commune");
    let book = new_book(&s, &civil, &a, 1);
    let res = s.post(
        &civil,
        &format!("/api/v1/civil/books/{book}/entries"),
        child_entry(1, "9/2010"),
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().unwrap()["id"].as_i64().unwrap();
    let path = format!("/api/v1/civil/entries/{id}/confirm");
    let post = reqwest::Method::POST;
    assert_problem(
        raw(&s, &civil, post.clone(), &path, b"\0"),
        StatusCode::BAD_REQUEST,
    );
    for wrong in [
        &br#"{"personal_id": 5}"#[..],
        br#"{"person": "001080000001"}"#,
    ] {
        assert_problem(
            raw(&s, &civil, post.clone(), &path, wrong),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let doc = s.openapi();
    let responses = &doc["paths"]["/api/v1/civil/entries/{entry_id}/confirm"]["post"]["responses"];
    for code in ["400", "413", "422"] {
        assert!(responses[code].is_object(), "{code} not documented");
    }
}
