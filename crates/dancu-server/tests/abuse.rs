//! Abuse limits over HTTP: partner keys (scopes, allow-lists, quotas that survive a
//! restart), account rate limits, and mass-read alerts.

mod common;

use std::time::Duration;

use common::*;
use dancu_app::limits::{Limits, RateLimit};
use reqwest::StatusCode;
use serde_json::{Value, json};

const USAGE: &str = "/api/v1/partner/usage";

fn retry_after(res: &reqwest::blocking::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_partner_over_its_daily_quota_gets_429_and_a_restart_does_not_reset_it() {
    let s = sqlite();
    let key = s.partner("bank.a", &["verify"], 3, &[]);
    for used in 1..=3 {
        let res = s.partner_get(&s.base, &key, USAGE);
        assert_eq!(res.status(), StatusCode::OK);
        let usage: Value = res.json().unwrap();
        assert_eq!(usage["partner"], "bank.a");
        assert_eq!(usage["used_today"], used);
        assert_eq!(usage["remaining_today"], 3 - used);
    }
    let res = s.partner_get(&s.base, &key, USAGE);
    let wait = retry_after(&res);
    assert!(
        (1..=86_400).contains(&wait),
        "until midnight in Vietnam: {wait}"
    );
    let body = assert_problem(res, StatusCode::TOO_MANY_REQUESTS);
    assert!(body["detail"].as_str().unwrap().contains("daily quota"));

    // What a stopping server does; a new process on the same store still refuses.
    s.app.flush_usage().unwrap();
    let restarted = s.second_instance(&Limits::default());
    let res = s.partner_get(&restarted, &key, USAGE);
    assert!(retry_after(&res) >= 1);
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn a_wrong_or_disabled_key_gets_the_same_401_and_an_outside_address_403() {
    let s = sqlite();
    let key = s.partner("bank.b", &["verify"], 100, &[]);
    let fenced = s.partner("bank.c", &["verify"], 100, &["10.0.0.0/8"]);
    assert_eq!(s.partner_get(&s.base, &key, USAGE).status(), StatusCode::OK);
    let wrong = assert_problem(
        s.partner_get(&s.base, "dcp_not-a-key", USAGE),
        StatusCode::UNAUTHORIZED,
    );
    let missing = assert_problem(
        s.client.get(format!("{}{USAGE}", s.base)).send().unwrap(),
        StatusCode::UNAUTHORIZED,
    );
    s.app
        .set_partner_disabled(&dancu_app::Actor::system("test"), "bank.b", true)
        .unwrap();
    let disabled = assert_problem(
        s.partner_get(&s.base, &key, USAGE),
        StatusCode::UNAUTHORIZED,
    );
    assert_eq!(wrong, disabled, "a disabled key looks like a wrong one");
    assert_eq!(wrong, missing);
    // A staff token is not a partner key, nor a key a staff token.
    let officer = s.login("officer.province");
    assert_problem(
        s.partner_get(&s.base, &officer, USAGE),
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(s.get(&fenced, "/api/v1/me"), StatusCode::UNAUTHORIZED);
    // The test client calls from 127.0.0.1, outside the partner's allow-list.
    let body = assert_problem(
        s.partner_get(&s.base, &fenced, USAGE),
        StatusCode::FORBIDDEN,
    );
    assert!(body["detail"].as_str().unwrap().contains("address"));
    // Refusals are logged without the answer waiting for the commit.
    let refusal = (0..100).find_map(|_| {
        let logged = s
            .app
            .store
            .audit_for_actor("partner:bank.c", &["partner.auth"], 10)
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        logged.into_iter().next()
    });
    assert_eq!(refusal.unwrap().detail.as_deref(), Some("ip_not_allowed"));
}

#[test]
fn partners_are_managed_by_national_admins_and_their_usage_read_by_supervisors() {
    let s = sqlite();
    let create = |user: &str| {
        let token = s.fresh_login(user);
        s.post(
            &token,
            "/api/v1/partners",
            json!({"name": "telco.x", "scopes": ["verify", "enrich:blood_type"], "daily_quota": 50, "agency": "BYT"}),
        )
    };
    assert_problem(create("admin"), StatusCode::FORBIDDEN);
    assert_problem(create("officer.province"), StatusCode::FORBIDDEN);
    let res = create("admin.national");
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().unwrap();
    assert_eq!(created["scopes"], json!(["verify", "enrich:blood_type"]));
    let key = created["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("dcp_"));
    assert_eq!(s.partner_get(&s.base, &key, USAGE).status(), StatusCode::OK);
    assert_problem(create("admin.national"), StatusCode::CONFLICT);

    let usage = "/api/v1/partners/telco.x/usage";
    let res = s.get(&s.login("supervisor"), usage);
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().unwrap();
    assert_eq!(
        (
            report["daily_quota"].as_i64(),
            report["used_today"].as_i64()
        ),
        (Some(50), Some(1))
    );
    assert_eq!(report["days"].as_array().unwrap().len(), 1);
    assert_problem(
        s.get(&s.login("officer.province"), usage),
        StatusCode::FORBIDDEN,
    );
    assert_problem(
        s.get(&s.login("supervisor"), "/api/v1/partners/nobody/usage"),
        StatusCode::NOT_FOUND,
    );

    let admin = s.login("admin.national");
    let res = s.post(&admin, "/api/v1/partners/telco.x/disable", json!({}));
    assert_eq!(res.json::<Value>().unwrap()["disabled"], true);
    assert_problem(
        s.partner_get(&s.base, &key, USAGE),
        StatusCode::UNAUTHORIZED,
    );
    s.post(&admin, "/api/v1/partners/telco.x/enable", json!({}));
    assert_eq!(s.partner_get(&s.base, &key, USAGE).status(), StatusCode::OK);
}

#[test]
fn a_staff_account_over_its_rate_gets_429_with_retry_after() {
    let s = sqlite_with(&Limits {
        account: RateLimit {
            per_second: 0.2,
            burst: 5,
        },
        ..Limits::default()
    });
    let token = s.login("officer.province");
    for _ in 0..5 {
        assert_eq!(s.get(&token, "/api/v1/me").status(), StatusCode::OK);
    }
    let res = s.get(&token, "/api/v1/me");
    assert_eq!(retry_after(&res), 5);
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS);
    // Per account: another officer is not slowed down.
    assert_eq!(
        s.get(&s.login("officer.commune"), "/api/v1/me").status(),
        StatusCode::OK
    );
}

#[test]
fn a_mass_read_raises_one_alert_that_auditors_of_the_unit_see() {
    let s = sqlite_with(&Limits {
        alert_distinct_people: 2,
        alert_window: Duration::from_secs(600),
        ..Limits::default()
    });
    let officer = s.login("officer.province");
    for id in [CHILD, "001080000001", "001182000001", CHILD, "001075000002"] {
        let res = s.get(&officer, &format!("/api/v1/citizens/{id}"));
        assert_eq!(res.status(), StatusCode::OK, "{id}");
    }
    let res = s.get(&s.login("auditor"), "/api/v1/alerts");
    assert_eq!(res.status(), StatusCode::OK);
    let alerts: Value = res.json().unwrap();
    let alerts = alerts["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "one alert, not one per read: {alerts:?}");
    assert_eq!(alerts[0]["kind"], "mass_read");
    assert_eq!(alerts[0]["account"], "officer.province");
    assert_eq!(alerts[0]["unit"], "01");
    assert_eq!(alerts[0]["detail"]["distinct_people"], 3);
    let audited = s
        .app
        .store
        .audit_for_actor("officer.province", &["alert.raised"], 10)
        .unwrap();
    assert_eq!(audited.len(), 1);
    // An auditor of another province sees none; an officer may not look.
    let other: Value = s
        .get(&s.login("auditor.other"), "/api/v1/alerts")
        .json()
        .unwrap();
    assert_eq!(other["alerts"], json!([]));
    assert_problem(s.get(&officer, "/api/v1/alerts"), StatusCode::FORBIDDEN);
}
