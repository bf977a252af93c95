//! HTTP tests: the server runs on a random loopback port against a fresh store; requests
//! go through a real HTTP client.

mod common;

use common::*;
use dancu_app::{Actor, Role};
use dancu_store::testing::TestStore;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[test]
fn health_and_openapi_document_every_route() {
    let s = sqlite();
    let res = s.client.get(format!("{}/healthz", s.base)).send().unwrap();
    assert_eq!(res.json::<Value>().unwrap(), json!({"status": "ok"}));
    let doc: Value = s
        .client
        .get(format!("{}/api/openapi.json", s.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            documented += 1;
            // Every documented route exists: without credentials it is 401 or public,
            // never the router's 404/405.
            let url = format!(
                "{}{}",
                s.base,
                path.replace("{personal_id}", CHILD)
                    .replace("{date}", "2020")
                    .replace("{household_id}", "1")
                    .replace("{structure}", "2025")
                    .replace("{code}", "01")
                    .replace("{username}", "admin")
                    .replace("{action}", "unlock")
                    .replace("{dossier_id}", "1")
                    .replace("{name}", "bank")
            );
            let req = match method.as_str() {
                "get" => s.client.get(&url),
                "post" => s.client.post(&url).json(&json!({})),
                "patch" => s.client.patch(&url).json(&json!({})),
                "put" => s.client.put(&url).json(&json!({})),
                other => panic!("unexpected method {other}"),
            };
            let status = req.send().unwrap().status();
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} → {status}"
            );
        }
    }
    assert!(documented >= 16);
}

#[test]
fn login_failures_look_the_same() {
    let s = sqlite();
    let attempt = |user: &str, password: &str| {
        s.client
            .post(format!("{}/api/v1/auth/login", s.base))
            .json(&json!({"username": user, "password": password}))
            .send()
            .unwrap()
    };
    let wrong_password = assert_problem(
        attempt("officer.province", "wrong password!!"),
        StatusCode::UNAUTHORIZED,
    );
    let unknown_user = assert_problem(attempt("nobody", PASSWORD), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_user);
    assert_problem(
        s.client
            .get(format!("{}/api/v1/citizens/{CHILD}", s.base))
            .send()
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        s.get("forged-token", &format!("/api/v1/citizens/{CHILD}")),
        StatusCode::UNAUTHORIZED,
    );
    // Logout revokes the token at once.
    let token = s.login("officer.province");
    assert_eq!(
        s.get(&token, &format!("/api/v1/citizens/{CHILD}")).status(),
        StatusCode::OK
    );
    let res = s
        .client
        .post(format!("{}/api/v1/auth/logout", s.base))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        s.get(&token, &format!("/api/v1/citizens/{CHILD}")),
        StatusCode::UNAUTHORIZED,
    );
}

#[test]
fn officer_reads_a_citizen_in_its_unit_and_the_read_is_audited() {
    let s = sqlite();
    let token = s.login("officer.province");
    let res = s.get(&token, &format!("/api/v1/citizens/{CHILD}"));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let c: Value = res.json().unwrap();
    assert_eq!(c["personal_id"], CHILD);
    assert_eq!(c["full_name"], "Nguyễn Thị Minh Khai");
    assert_eq!(c["date_of_birth"], "2010-07-15");
    assert_eq!(c["gender"], "F");
    assert_eq!(c["commune_code"], s.communes.0.as_str());
    let audit = s
        .app
        .store
        .audit_for_person(CHILD.parse().unwrap(), 10)
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "officer.province");
    assert_eq!(audit[0].action, "citizen.read");
    // Outside the unit: 403; unknown: 404; malformed: 400.
    assert_problem(
        s.get(&token, &format!("/api/v1/citizens/{OTHER_PROVINCE}")),
        StatusCode::FORBIDDEN,
    );
    assert_problem(
        s.get(&token, "/api/v1/citizens/001099123456"),
        StatusCode::NOT_FOUND,
    );
    let bad = assert_problem(
        s.get(&token, "/api/v1/citizens/12345"),
        StatusCode::BAD_REQUEST,
    );
    assert!(bad["detail"].as_str().unwrap().contains("personal_id"));
}

/// Finding 1: an officer of one unit must not see another unit's citizens, by lookup or
/// by search.
#[test]
fn finding_1_officer_sees_only_its_units_subtree() {
    let s = sqlite();
    let commune = s.login("officer.commune");
    assert_eq!(
        s.get(&commune, &format!("/api/v1/citizens/{CHILD}"))
            .status(),
        StatusCode::OK
    );
    // Same province, other commune.
    assert_problem(
        s.get(&commune, "/api/v1/citizens/001075000002"),
        StatusCode::FORBIDDEN,
    );
    let found: Value = s
        .get(&commune, "/api/v1/citizens?name=nguyen")
        .json()
        .unwrap();
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["personal_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["001080000001", "001310000001"]);
    let by_id: Value = s
        .get(&commune, "/api/v1/citizens?personal_id=001075000002")
        .json()
        .unwrap();
    assert!(by_id["items"].as_array().unwrap().is_empty());
    let province = s.login("officer.province");
    let found: Value = s
        .get(&province, "/api/v1/citizens?name=nguyen")
        .json()
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 3);
    assert_problem(
        s.get(&province, "/api/v1/households/3"),
        StatusCode::FORBIDDEN,
    );
}

/// Finding 2: administrator (and auditor, supervisor) accounts never read population data.
#[test]
fn finding_2_admins_auditors_and_supervisors_get_403_on_personal_data() {
    let s = sqlite();
    for user in ["admin", "auditor", "supervisor"] {
        let token = s.login(user);
        for path in [
            format!("/api/v1/citizens/{CHILD}"),
            format!("/api/v1/citizens/{CHILD}/residences"),
            format!("/api/v1/citizens/{CHILD}/history"),
            format!("/api/v1/citizens/{CHILD}/as-of/2020"),
            "/api/v1/citizens?name=nguyen".into(),
            format!("/api/v1/citizens?personal_id={CHILD}"),
            "/api/v1/households/1".into(),
        ] {
            assert_problem(s.get(&token, &path), StatusCode::FORBIDDEN);
        }
        let res = s
            .client
            .patch(format!("{}/api/v1/citizens/{CHILD}", s.base))
            .bearer_auth(&token)
            .json(&json!({"basis": "x", "changes": {"blood_type": "O"}}))
            .send()
            .unwrap();
        assert_problem(res, StatusCode::FORBIDDEN);
    }
    assert!(
        s.app
            .store
            .audit_for_person(CHILD.parse().unwrap(), 100)
            .unwrap()
            .iter()
            .all(|e| e.outcome == "denied")
    );
}

#[test]
fn search_is_accent_insensitive_and_paginated() {
    let s = sqlite();
    let token = s.login("officer.province");
    // "Hòa" and "Hoà" (old/new tone placement) and no diacritics all find both people.
    for q in ["Nguyễn Văn Hòa", "nguyen van hoa", "NGUYỄN VĂN HOÀ"] {
        let page: Value = s
            .get(&token, &format!("/api/v1/citizens?name={q}"))
            .json()
            .unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 2, "{q}");
    }
    let page: Value = s
        .get(
            &token,
            "/api/v1/citizens?name=nguyen van hoa&date_of_birth=1980",
        )
        .json()
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let first: Value = s
        .get(&token, "/api/v1/citizens?name=nguyen&limit=2")
        .json()
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let after = first["next_after"].as_str().unwrap();
    let second: Value = s
        .get(
            &token,
            &format!("/api/v1/citizens?name=nguyen&limit=2&after={after}"),
        )
        .json()
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    let by_old: Value = s
        .get(&token, "/api/v1/citizens?old_id_number=012345678")
        .json()
        .unwrap();
    assert_eq!(by_old["items"][0]["personal_id"], "001080000001");
    let other = s.login("officer.other");
    let hidden: Value = s
        .get(&other, "/api/v1/citizens?old_id_number=012345678")
        .json()
        .unwrap();
    assert!(
        hidden["items"].as_array().unwrap().is_empty(),
        "aliases obey scope too"
    );
    assert_problem(
        s.get(&token, "/api/v1/citizens?old_id_number=12"),
        StatusCode::BAD_REQUEST,
    );
    assert_problem(
        s.get(&token, "/api/v1/citizens?name=a"),
        StatusCode::BAD_REQUEST,
    );
    assert_problem(
        s.get(
            &token,
            "/api/v1/citizens?name=nguyen&date_of_birth=1990-02-30",
        ),
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn household_residences_history_and_as_of() {
    let s = sqlite();
    let token = s.login("officer.province");
    let h: Value = s.get(&token, "/api/v1/households/1").json().unwrap();
    assert_eq!(h["members"].as_array().unwrap().len(), 3);
    assert_eq!(h["members"][0]["relationship_to_head"], "head");
    let res = s
        .client
        .patch(format!("{}/api/v1/citizens/{CHILD}", s.base))
        .bearer_auth(&token)
        .json(&json!({"basis": "Quyết định cải chính hộ tịch 12/QĐ", "changes": {"full_name": "nguyễn thị  minh khuê"}}))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let c: Value = s
        .get(&token, &format!("/api/v1/citizens/{CHILD}"))
        .json()
        .unwrap();
    assert_eq!(c["full_name"], "Nguyễn Thị Minh Khuê");
    let history: Value = s
        .get(&token, &format!("/api/v1/citizens/{CHILD}/history"))
        .json()
        .unwrap();
    assert_eq!(history["changes"][0]["old_value"], "Nguyễn Thị Minh Khai");
    assert_eq!(
        history["changes"][0]["event"]["basis"],
        "Quyết định cải chính hộ tịch 12/QĐ"
    );
    let res = s
        .client
        .post(format!("{}/api/v1/citizens/{CHILD}/residences", s.base))
        .bearer_auth(&token)
        .json(&json!({"basis": "Luật Cư trú 2020", "kind": "temporary", "commune_code": s.communes.1, "address": "Số 3 ngõ 5", "valid_from": "2024-09-01"}))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = s
        .get(&token, &format!("/api/v1/citizens/{CHILD}/residences"))
        .json()
        .unwrap();
    assert_eq!(r["residences"].as_array().unwrap().len(), 2);
    assert_eq!(r["residences"][1]["kind"], "temporary");
    let old: Value = s
        .get(
            &token,
            &format!("/api/v1/citizens/{CHILD}/as-of/2000-01-01"),
        )
        .json()
        .unwrap_or(Value::Null);
    assert_eq!(old["status"], 404, "not born in 2000");
    // A residence outside the officer's units is refused.
    let res = s
        .client
        .post(format!("{}/api/v1/citizens/{CHILD}/residences", s.base))
        .bearer_auth(&token)
        .json(&json!({"basis": "x", "kind": "temporary", "commune_code": s.communes.2, "address": "x", "valid_from": "2024-09-01"}))
        .send()
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN);
}

#[test]
fn bad_input_gets_problem_json_and_changes_nothing() {
    let s = sqlite();
    let token = s.login("officer.province");
    let big = "x".repeat(dancu_server::MAX_BODY_BYTES + 1);
    let res = s
        .client
        .post(format!("{}/api/v1/auth/login", s.base))
        .header("content-type", "application/json")
        .body(format!("{{\"username\":\"{big}\",\"password\":\"p\"}}"))
        .send()
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE);
    let res = s
        .client
        .post(format!("{}/api/v1/auth/login", s.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST);
    assert_problem(
        s.get(&token, "/api/v1/no-such-thing"),
        StatusCode::NOT_FOUND,
    );
    let res = s
        .client
        .patch(format!("{}/api/v1/citizens/{CHILD}", s.base))
        .bearer_auth(&token)
        .json(&json!({"basis": "x", "changes": {"date_of_birth": "2010-02-30", "blood_type": "A"}}))
        .send()
        .unwrap();
    let p = assert_problem(res, StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("date_of_birth"));
    let c: Value = s
        .get(&token, &format!("/api/v1/citizens/{CHILD}"))
        .json()
        .unwrap();
    assert_eq!(
        c["blood_type"],
        Value::Null,
        "nothing of a rejected change is applied"
    );
}

#[test]
fn readdress_reports_then_applies_within_the_officers_units() {
    let s = sqlite();
    let token = s.login("officer.province");
    let (a, b, c) = s.communes.clone();
    let body = |apply: bool, to: &str| {
        json!({
            "mapping": [{"old_commune_code": a, "new_commune_code": to}],
            "effective_date": "2026-01-01",
            "basis": "Nghị quyết sáp nhập",
            "apply": apply
        })
    };
    let post = |b: Value| {
        s.client
            .post(format!("{}/api/v1/readdress", s.base))
            .bearer_auth(&token)
            .json(&b)
            .send()
            .unwrap()
    };
    let dry: Value = post(body(false, &b)).json().unwrap();
    assert_eq!(dry["report"]["applied"], false);
    assert_eq!(dry["report"]["citizens"], 3);
    assert_problem(post(body(true, &c)), StatusCode::FORBIDDEN);
    let done: Value = post(body(true, &b)).json().unwrap();
    assert_eq!(done["report"]["applied"], true);
    assert_eq!(done["report"]["residences"], 3);
    let child: Value = s
        .get(&token, &format!("/api/v1/citizens/{CHILD}"))
        .json()
        .unwrap();
    assert_eq!(child["commune_code"], b.as_str());
    // The history shows the move under the reorganization's legal basis.
    let history: Value = s
        .get(&token, &format!("/api/v1/citizens/{CHILD}/residences"))
        .json()
        .unwrap();
    let last = history["residences"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["commune_code"], b.as_str());
    assert_eq!(last["readdressed"], true);
    assert_eq!(last["registered_by"]["basis"], "Nghị quyết sáp nhập");
    // A unit is re-addressed once.
    assert_problem(post(body(true, &b)), StatusCode::CONFLICT);
    let unknown = json!({"mapping": [{"old_commune_code": "99999", "new_commune_code": b}], "effective_date": "2026-01-01"});
    let p = assert_problem(post(unknown), StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("99999"));
}

#[test]
fn units_are_reference_data_for_every_role() {
    let s = sqlite();
    for user in ["officer.commune", "admin", "auditor", "supervisor"] {
        let token = s.login(user);
        let list: Value = s.get(&token, "/api/v1/units").json().unwrap();
        assert_eq!(list["units"].as_array().unwrap().len(), 34);
    }
    let token = s.login("auditor");
    let found: Value = s.get(&token, "/api/v1/units?q=ha%20noi").json().unwrap();
    assert!(
        found["units"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["code"] == "01")
    );
    let old: Value = s
        .get(&token, "/api/v1/units?structure=pre2025")
        .json()
        .unwrap();
    assert_eq!(old["units"].as_array().unwrap().len(), 63);
    let quality = s.get(&s.login("supervisor"), "/api/v1/quality");
    assert_eq!(quality.status(), StatusCode::OK);
    let rules: Value = quality.json().unwrap();
    assert!(
        rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["examples"].as_array().unwrap().is_empty()),
        "a supervisor sees counts, never a person"
    );
    assert_problem(
        s.get(&s.login("officer.commune"), "/api/v1/quality"),
        StatusCode::FORBIDDEN,
    );
}

#[test]
fn the_api_works_on_postgresql_too() {
    let s = start(TestStore::postgres());
    let token = s.login("officer.province");
    let c: Value = s
        .get(&token, &format!("/api/v1/citizens/{CHILD}"))
        .json()
        .unwrap();
    assert_eq!(c["full_name"], "Nguyễn Thị Minh Khai");
    let page: Value = s
        .get(&token, "/api/v1/citizens?name=nguyen van hoa")
        .json()
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_problem(
        s.get(&token, &format!("/api/v1/citizens/{OTHER_PROVINCE}")),
        StatusCode::FORBIDDEN,
    );
}

/// Finding 3: every login, failed or not, leaves a record.
#[test]
fn finding_3_every_login_attempt_is_logged() {
    let s = sqlite();
    let fail = s
        .client
        .post(format!("{}/api/v1/auth/login", s.base))
        .json(&json!({"username": "officer.province", "password": "not the password"}))
        .send()
        .unwrap();
    assert_eq!(fail.status(), StatusCode::UNAUTHORIZED);
    s.login("officer.province");
    let rows = s
        .app
        .store
        .read(|tx| {
            tx.query(
                "SELECT outcome FROM audit_log WHERE actor = 'officer.province' \
                 AND action = 'session.login' ORDER BY id",
                &[],
            )
        })
        .unwrap();
    let outcomes: Vec<_> = rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, vec!["denied", "ok"]);
}

/// Finding 4: a one-stop officer must not perform admin functions, nor see another
/// unit's records.
#[test]
fn finding_4_officers_cannot_perform_admin_functions() {
    let s = sqlite();
    let officer = Actor::new("officer.province", Role::Officer, "01");
    let made = s
        .app
        .add_user(&officer, "new.admin", PASSWORD, Role::Admin, "01", &[]);
    assert!(matches!(made, Err(dancu_app::Error::Forbidden(_))));
    let quality = s.get(&s.login("officer.province"), "/api/v1/quality");
    assert_problem(quality, StatusCode::FORBIDDEN);
    let other = s.login("officer.other");
    assert_problem(s.get(&other, "/api/v1/households/1"), StatusCode::FORBIDDEN);
}

/// Finding 6: the repository of people (name, date of birth, ID number) is not open:
/// listing it needs a session and returns only the caller's units.
#[test]
fn finding_6_the_population_repository_is_access_controlled() {
    let s = sqlite();
    let anonymous = s
        .client
        .get(format!("{}/api/v1/citizens?name=nguyen", s.base))
        .send()
        .unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED);
    let other = s.login("officer.other");
    let page: Value = s
        .get(&other, "/api/v1/citizens?name=nguyen")
        .json()
        .unwrap();
    assert!(page["items"].as_array().unwrap().is_empty());
    let page: Value = s
        .get(&other, "/api/v1/citizens?name=le van tam")
        .json()
        .unwrap();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "its own unit only"
    );
}
