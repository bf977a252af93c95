//! Enrichment by ministries over HTTP: scopes, validation, conflicts between agencies,
//! the event with the partner as its source, history and as-of, quotas, the audit and
//! the citizen's data tracker.

mod common;

use common::{CHILD, Server, assert_problem, sqlite, sqlite_with};
use dancu_app::Actor;
use dancu_app::limits::Limits;
use dancu_app::partners::PartnerTerms;
use dancu_store::testing::TestStore;
use reqwest::blocking::Response;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ENRICH: &str = "/api/v1/enrich";
const FAMILY_HEAD: &str = "001080000001";
/// A well-formed number nobody in the test population has.
const NOBODY: &str = "001085000009";

fn ministry(s: &Server, name: &str, agency: &str, scopes: &[&str], quota: i64) -> String {
    s.app
        .add_partner(
            &Actor::system("test"),
            &PartnerTerms {
                name,
                agency,
                scopes,
                daily_quota: quota,
                ..Default::default()
            },
        )
        .unwrap()
        .api_key
}

fn push(s: &Server, key: &str, items: Value) -> Response {
    s.partner_request(Method::POST, &s.base, key, ENRICH)
        .json(&json!({ "basis": "Thông tư 06/2026/TT-BYT", "items": items }))
        .send()
        .unwrap()
}

fn statuses(report: &Value) -> Vec<&str> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

fn attributes(s: &Server, path: &str) -> Value {
    let officer = s.login("officer.commune");
    let res = s.get(&officer, path);
    assert_eq!(res.status(), StatusCode::OK);
    res.json().unwrap()
}

#[test]
fn pushes_are_validated_and_recorded_with_the_partner_as_source() {
    let s = sqlite();
    let key = ministry(&s, "byt", "BYT", &["enrich:blood_type"], 1000);
    let res = push(
        &s,
        &key,
        json!([
            { "personal_id": FAMILY_HEAD, "field": "blood_type", "value": "a rh+", "observed_at": "2025-03-01" },
            { "personal_id": CHILD, "field": "blood_type", "value": "C+" },
            { "personal_id": "001080000", "field": "blood_type", "value": "A+" },
            { "personal_id": NOBODY, "field": "blood_type", "value": "A+" },
            { "personal_id": CHILD, "field": "shoe_size", "value": "38" },
            { "personal_id": FAMILY_HEAD, "field": "blood_type", "value": "B+" },
            { "personal_id": CHILD, "field": "blood_type", "value": "O-", "observed_at": "2099-01-01" },
        ]),
    );
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().unwrap();
    assert_eq!(
        statuses(&report),
        [
            "applied",
            "invalid",
            "invalid",
            "not_found",
            "invalid",
            "invalid",
            "invalid"
        ]
    );
    let reason = |i: usize| report["results"][i]["reason"].as_str().unwrap().to_owned();
    assert!(reason(1).contains("blood_type 'C+'"), "{}", reason(1));
    assert!(reason(2).starts_with("personal_id"), "{}", reason(2));
    assert!(reason(4).contains("not enrichable"), "{}", reason(4));
    assert!(reason(5).contains("already in this call"), "{}", reason(5));
    assert!(reason(6).contains("future"), "{}", reason(6));
    assert_eq!(report["summary"]["applied"], 1);
    assert_eq!(report["summary"]["invalid"], 5);
    let event = report["event_id"].as_i64().unwrap();

    // The officer of the person's unit sees the value with its source.
    let a = attributes(&s, &format!("/api/v1/citizens/{FAMILY_HEAD}/attributes"));
    let blood = &a["attributes"][0];
    assert_eq!(blood["attribute"], "blood_type");
    assert_eq!(blood["value"], "A+");
    assert_eq!(blood["source"], "partner:byt");
    assert_eq!(blood["agency"], "BYT");
    assert_eq!(blood["owner"], "BYT");
    assert_eq!(blood["observed_on"], "2025-03-01");
    assert_eq!(blood["event_id"], event);
    // The citizen record and its change history agree: one event, the partner its source.
    let officer = s.login("officer.commune");
    let citizen: Value = s
        .get(&officer, &format!("/api/v1/citizens/{FAMILY_HEAD}"))
        .json()
        .unwrap();
    assert_eq!(citizen["blood_type"], "A+");
    let history: Value = s
        .get(&officer, &format!("/api/v1/citizens/{FAMILY_HEAD}/history"))
        .json()
        .unwrap();
    let change = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "blood_type")
        .unwrap();
    assert_eq!(change["new_value"], "A+");
    assert_eq!(change["event"]["id"], event);
    assert_eq!(change["event"]["actor"], "partner:byt");
    assert_eq!(change["event"]["agency"], "BYT");
    assert_eq!(change["event"]["kind"], "enrich");
    assert_eq!(change["event"]["basis"], "Thông tư 06/2026/TT-BYT");
    // Nothing was written for the child: every item about them was refused.
    let child = attributes(&s, &format!("/api/v1/citizens/{CHILD}/attributes"));
    assert_eq!(child["attributes"], json!([]));

    // Pushing the same value again changes nothing and writes no event.
    let again: Value = push(
        &s,
        &key,
        json!([{ "personal_id": FAMILY_HEAD, "field": "blood_type", "value": "A+" }]),
    )
    .json()
    .unwrap();
    assert_eq!(statuses(&again), ["unchanged"]);
    assert_eq!(again["event_id"], Value::Null);
}

#[test]
fn a_field_outside_the_partners_scopes_is_refused_whole() {
    let s = sqlite();
    let byt = ministry(&s, "byt", "BYT", &["enrich:blood_type"], 1000);
    let res = push(
        &s,
        &byt,
        json!([
            { "personal_id": FAMILY_HEAD, "field": "blood_type", "value": "A+" },
            { "personal_id": FAMILY_HEAD, "field": "driving_licence",
              "value": { "number": "010123456789", "classes": ["B"] } },
        ]),
    );
    let problem = assert_problem(res, StatusCode::FORBIDDEN);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("enrich:driving_licence")
    );
    // Nothing of the call was applied.
    let a = attributes(&s, &format!("/api/v1/citizens/{FAMILY_HEAD}/attributes"));
    assert_eq!(a["attributes"], json!([]));
    // A verify-only key (a bank) may not push anything.
    let bank = s.partner("bank", &["verify"], 1000, &[]);
    assert_problem(
        push(
            &s,
            &bank,
            json!([{ "personal_id": FAMILY_HEAD, "field": "blood_type", "value": "A+" }]),
        ),
        StatusCode::FORBIDDEN,
    );
    // Without a key: 401.
    let res = s
        .client
        .post(format!("{}{ENRICH}", s.base))
        .json(&json!({ "items": [] }))
        .send()
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED);
    // A ministry key must name its agency.
    assert!(
        s.app
            .add_partner(
                &Actor::system("test"),
                &PartnerTerms {
                    name: "nameless",
                    scopes: &["enrich:blood_type"],
                    daily_quota: 10,
                    ..Default::default()
                },
            )
            .is_err()
    );
}

#[test]
fn the_owning_agencys_value_is_never_overwritten_and_conflicts_are_reported() {
    owner_value_is_kept_and_conflicts_reported(&sqlite());
}

#[test]
fn conflicts_work_on_postgresql_too() {
    owner_value_is_kept_and_conflicts_reported(&common::start(TestStore::postgres()));
}

fn owner_value_is_kept_and_conflicts_reported(s: &Server) {
    let byt = ministry(s, "byt", "BYT", &["enrich:blood_type"], 1000);
    let hospital = ministry(s, "xd-hospital", "BXD", &["enrich:blood_type"], 1000);
    let police = ministry(s, "csgt", "BCA", &["enrich:driving_licence"], 1000);
    let item = |value: &str, observed: &str| json!([{ "personal_id": FAMILY_HEAD, "field": "blood_type", "value": value, "observed_at": observed }]);
    let first: Value = push(s, &byt, item("A+", "2025-05-01")).json().unwrap();
    assert_eq!(statuses(&first), ["applied"]);
    // Another agency, even with a later observation: a conflict naming the holder.
    let other: Value = push(s, &hospital, item("B+", "2025-06-01")).json().unwrap();
    assert_eq!(statuses(&other), ["conflict"]);
    assert_eq!(other["results"][0]["reason"], "owned_by_other_agency");
    assert_eq!(other["results"][0]["held_by"], "BYT");
    assert!(other["results"][0].get("held_value").is_none());
    assert_eq!(other["event_id"], Value::Null);
    // An observation older than the value held: a conflict, even for the owner.
    let stale: Value = push(s, &byt, item("O+", "2025-01-01")).json().unwrap();
    assert_eq!(statuses(&stale), ["conflict"]);
    assert_eq!(stale["results"][0]["reason"], "newer_value");
    let a = attributes(s, &format!("/api/v1/citizens/{FAMILY_HEAD}/attributes"));
    assert_eq!(a["attributes"][0]["value"], "A+");

    // The owner sees both conflicts on its field, newest first, with both values.
    let list: Value = s
        .partner_get(&s.base, &byt, "/api/v1/enrich/conflicts")
        .json()
        .unwrap();
    let conflicts = list["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 2);
    assert_eq!(conflicts[1]["partner"], "partner:xd-hospital");
    assert_eq!(conflicts[1]["agency"], "BXD");
    assert_eq!(conflicts[1]["value"], "B+");
    assert_eq!(conflicts[1]["held_value"], "A+");
    assert_eq!(conflicts[1]["personal_id"], FAMILY_HEAD);
    assert_eq!(conflicts[0]["reason"], "newer_value");
    // The pushing partner sees its own refusal; an unrelated agency sees none.
    let mine: Value = s
        .partner_get(&s.base, &hospital, "/api/v1/enrich/conflicts")
        .json()
        .unwrap();
    assert_eq!(mine["conflicts"].as_array().unwrap().len(), 1);
    let none: Value = s
        .partner_get(&s.base, &police, "/api/v1/enrich/conflicts")
        .json()
        .unwrap();
    assert_eq!(none["conflicts"], json!([]));
    // Reading conflicts is a read of those people: audited under the partner.
    let entries = s
        .app
        .store
        .audit_for_person(FAMILY_HEAD.parse().unwrap(), 100)
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action == "enrich.conflicts" && e.actor == "partner:byt")
    );
}

#[test]
fn history_and_as_of_follow_the_observation_dates() {
    let s = sqlite();
    let police = ministry(&s, "csgt", "BCA", &["enrich:driving_licence"], 1000);
    let licence = |classes: Value, observed: &str| {
        json!([{ "personal_id": FAMILY_HEAD, "field": "driving_licence", "observed_at": observed,
                 "value": { "number": "010123456789", "classes": classes, "issued_on": "2020-01-02" } }])
    };
    let one: Value = push(&s, &police, licence(json!(["A1"]), "2020-01-02"))
        .json()
        .unwrap();
    let two: Value = push(&s, &police, licence(json!(["b", "A1"]), "2024-06-01"))
        .json()
        .unwrap();
    assert_eq!(statuses(&one), ["applied"]);
    assert_eq!(statuses(&two), ["applied"]);
    assert_ne!(one["event_id"], two["event_id"]);
    let path = format!("/api/v1/citizens/{FAMILY_HEAD}/attributes");
    let now = attributes(&s, &path);
    assert_eq!(now["attributes"][0]["value"]["classes"], json!(["A1", "B"]));
    let then = attributes(&s, &format!("{path}?as_of=2022-12-31"));
    assert_eq!(then["attributes"][0]["value"]["classes"], json!(["A1"]));
    let before = attributes(&s, &format!("{path}?as_of=2019"));
    assert_eq!(before["attributes"], json!([]));
    let history = attributes(&s, &format!("{path}/history"));
    let events: Vec<&Value> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["event_id"])
        .collect();
    assert_eq!(events, [&one["event_id"], &two["event_id"]]);
    // A bad date is a 400 problem.
    let officer = s.login("officer.commune");
    assert_problem(
        s.get(&officer, &format!("{path}?as_of=2022-13-01")),
        StatusCode::BAD_REQUEST,
    );
    // Invalid licences are reported item by item.
    let bad: Value = push(
        &s,
        &police,
        json!([{ "personal_id": FAMILY_HEAD, "field": "driving_licence",
                 "value": { "number": "12", "classes": ["B"] } }]),
    )
    .json()
    .unwrap();
    assert_eq!(statuses(&bad), ["invalid"]);
    assert!(
        bad["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("12-digit")
    );
}

#[test]
fn every_item_counts_against_the_daily_quota() {
    let s = sqlite_with(&Limits::default());
    let key = ministry(&s, "bhxh", "BHXH", &["enrich:health_insurance_number"], 3);
    let items = |n: usize| {
        Value::Array(
            [FAMILY_HEAD, CHILD, NOBODY][..n]
                .iter()
                .map(|p| json!({ "personal_id": p, "field": "health_insurance_number", "value": "DN4010123456789" }))
                .collect(),
        )
    };
    let res = push(&s, &key, items(2));
    assert_eq!(res.status(), StatusCode::OK);
    let res = push(&s, &key, items(2));
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS);
    // The one request left still fits.
    let res: Value = push(&s, &key, items(1)).json().unwrap();
    assert_eq!(statuses(&res), ["unchanged"]);
}

#[test]
fn the_citizen_sees_the_enrichment_in_their_data_tracker() {
    let s = sqlite();
    let key = ministry(&s, "byt", "BYT", &["enrich:blood_type"], 1000);
    let report: Value = push(
        &s,
        &key,
        json!([{ "personal_id": FAMILY_HEAD, "field": "blood_type", "value": "AB-" }]),
    )
    .json()
    .unwrap();
    assert_eq!(statuses(&report), ["applied"]);
    let me = s.login(FAMILY_HEAD);
    let tracker: Value = s.get(&me, "/api/v1/me/data-access").json().unwrap();
    let write = tracker["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "citizen.enrich")
        .expect("the enrichment is in the tracker");
    assert_eq!(write["unit"], "BYT");
    assert_eq!(write["role"], "partner");
    assert_eq!(write["purpose"], "enrichment:blood_type");
    assert_eq!(write["outcome"], "applied");
    // The citizen reads their own attributes; another person's are refused.
    let own: Value = s
        .get(&me, &format!("/api/v1/citizens/{FAMILY_HEAD}/attributes"))
        .json()
        .unwrap();
    assert_eq!(own["attributes"][0]["value"], "AB-");
    assert_problem(
        s.get(&me, &format!("/api/v1/citizens/{CHILD}/attributes")),
        StatusCode::FORBIDDEN,
    );
    // The audit chain holds the write with the partner as actor.
    let entries = s
        .app
        .store
        .audit_for_person(FAMILY_HEAD.parse().unwrap(), 100)
        .unwrap();
    let entry = entries
        .iter()
        .find(|e| e.action == "citizen.enrich")
        .unwrap();
    assert_eq!(entry.actor, "partner:byt");
    assert_eq!(
        entry.detail.as_deref(),
        Some(format!("event={}", report["event_id"]).as_str())
    );
}

/// Found by schemathesis: a malformed personal ID in one item is that item's `invalid`
/// (the others still apply), while the document declared the 12-digit pattern for the
/// whole request. The document now describes the per-item check.
#[test]
fn a_malformed_id_is_an_invalid_item_as_documented() {
    let s = sqlite();
    let key = ministry(&s, "byt", "BYT", &["enrich:blood_type"], 1000);
    let res = push(
        &s,
        &key,
        json!([
            {"personal_id": "", "field": "blood_type", "value": "A+"},
            {"personal_id": FAMILY_HEAD, "field": "AAA", "value": "A+"},
            {"personal_id": FAMILY_HEAD, "field": "blood_type", "value": "O-", "observed_at": null}
        ]),
    );
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().unwrap();
    assert_eq!(statuses(&report), ["invalid", "invalid", "applied"]);
    let doc = s.openapi();
    let item = &doc["components"]["schemas"]["Enrichment"]["properties"]["items"]["items"];
    assert!(item["properties"]["personal_id"]["pattern"].is_null());
    // An unknown field is that item's `invalid` too: no enum.
    assert!(item["properties"]["field"]["enum"].is_null());
    // A null observation date is today's, as absent is.
    assert_eq!(
        item["properties"]["observed_at"]["type"],
        json!(["string", "null"])
    );
    // A null basis is the default one, as absent is.
    let res = s
        .partner_request(Method::POST, &s.base, &key, ENRICH)
        .json(&json!({ "basis": null, "items": [
            {"personal_id": FAMILY_HEAD, "field": "blood_type", "value": "O-"}] }))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(statuses(&res.json().unwrap()), ["unchanged"]);
    let basis = &doc["components"]["schemas"]["Enrichment"]["properties"]["basis"];
    assert_eq!(basis["type"], json!(["string", "null"]));
}
