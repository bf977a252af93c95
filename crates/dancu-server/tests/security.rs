//! Account security over HTTP: two factors, lock-out, allow-lists behind a trusted proxy,
//! re-authentication, password history, login history, dossier-bound lookups (037),
//! masked lists and the data tracker. Findings 1, 5 and 6 of the police inspection.

mod common;

use common::*;
use dancu_app::auth::token_hash;
use dancu_store::testing::TestStore;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FAMILY_HEAD: &str = "001080000001";

fn outcomes_of(s: &Server, user: &str) -> Vec<(String, String, Option<String>)> {
    let token = s.fresh_login("auditor");
    let res = s.get(&token, &format!("/api/v1/accounts/{user}/logins?limit=50"));
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().unwrap();
    body["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["detail"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn two_factor_is_mandatory_and_each_code_works_once() {
    let s = sqlite();
    let user = "officer.commune";
    let no_code = assert_problem(s.try_login(user, PASSWORD, ""), StatusCode::UNAUTHORIZED);
    let wrong = assert_problem(
        s.try_login(user, PASSWORD, "000000"),
        StatusCode::UNAUTHORIZED,
    );
    let bad_password = assert_problem(
        s.try_login(user, "not the password", &s.totp(user)),
        StatusCode::UNAUTHORIZED,
    );
    // Which factor failed is never told to the caller.
    assert_eq!(no_code, wrong);
    assert_eq!(wrong, bad_password);

    let code = s.totp(user);
    assert_eq!(s.try_login(user, PASSWORD, &code).status(), StatusCode::OK);
    assert_problem(s.try_login(user, PASSWORD, &code), StatusCode::UNAUTHORIZED);
    let recovery = s.secrets[user].1[0].clone();
    assert_eq!(
        s.try_login(user, PASSWORD, &recovery).status(),
        StatusCode::OK
    );
    assert_problem(
        s.try_login(user, PASSWORD, &recovery),
        StatusCode::UNAUTHORIZED,
    );
    // The account's history says what happened, factor by factor.
    let history = outcomes_of(&s, user);
    let detail = |d: &str| Some(d.to_owned());
    assert_eq!(
        history,
        [
            ("login".into(), "denied".into(), detail("second_factor")),
            ("login".into(), "denied".into(), detail("second_factor")),
            ("login".into(), "denied".into(), detail("password")),
            ("login".into(), "ok".into(), detail("password+totp")),
            ("login".into(), "denied".into(), detail("second_factor")),
            (
                "login".into(),
                "ok".into(),
                detail("password+recovery_code")
            ),
            ("login".into(), "denied".into(), detail("second_factor")),
        ]
    );
}

#[test]
fn repeated_failures_lock_the_account_until_an_admin_unlocks_it() {
    let s = sqlite();
    let user = "officer.province";
    for _ in 0..5 {
        assert_problem(
            s.try_login(user, "not the password", "123456"),
            StatusCode::UNAUTHORIZED,
        );
    }
    // Locked: even both right factors fail, with the same answer.
    assert_problem(
        s.try_login(user, PASSWORD, &s.totp(user)),
        StatusCode::UNAUTHORIZED,
    );
    let admin = s.login("admin");
    let res = s.get(&admin, &format!("/api/v1/accounts/{user}"));
    assert_eq!(res.json::<Value>().unwrap()["locked"], true);
    let res = s.post(
        &admin,
        &format!("/api/v1/accounts/{user}/unlock"),
        json!({}),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.try_login(user, PASSWORD, &s.totp(user)).status(),
        StatusCode::OK
    );
    let last = outcomes_of(&s, user);
    assert_eq!(
        last[5],
        ("login".into(), "denied".into(), Some("locked".into()))
    );
}

#[test]
fn the_allow_list_applies_at_login_and_on_every_request() {
    let s = sqlite();
    let user = "officer.commune";
    let session = s.login(user);
    let admin = s.login("admin");
    let path = format!("/api/v1/accounts/{user}/allow-ips");
    let res = s.put(&admin, &path, json!({"allow_ips": ["10.0.0.0/8"]}));
    assert_eq!(res.status(), StatusCode::OK);
    // The live session is refused from loopback, and so is a new login.
    assert_problem(
        s.get(&session, &format!("/api/v1/citizens/{CHILD}")),
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        s.try_login(user, PASSWORD, &s.totp(user)),
        StatusCode::UNAUTHORIZED,
    );
    let bad = s.put(&admin, &path, json!({"allow_ips": ["10.0.0.0/33"]}));
    assert_problem(bad, StatusCode::BAD_REQUEST);
    let res = s.put(
        &admin,
        &path,
        json!({"allow_ips": ["127.0.0.1/32", "::1/128"]}),
    );
    assert_eq!(res.status(), StatusCode::OK);
    let token = s.fresh_login(user);
    assert_eq!(
        s.get(&token, &format!("/api/v1/citizens/{CHILD}")).status(),
        StatusCode::OK
    );
    let history = outcomes_of(&s, user);
    assert!(history.contains(&(
        "login".into(),
        "denied".into(),
        Some("ip_not_allowed".into())
    )));
}

#[test]
fn behind_a_proxy_only_the_trusted_proxys_forwarding_header_counts() {
    let edge = dancu_server::EdgeConfig {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Default::default()
    };
    let s = start_with(TestStore::sqlite(), edge, Default::default());
    let user = "officer.commune";
    let admin = s.login("admin");
    s.put(
        &admin,
        &format!("/api/v1/accounts/{user}/allow-ips"),
        json!({"allow_ips": ["203.0.113.0/24"]}),
    );
    let login_from = |forwarded: &str| {
        s.client
            .post(format!("{}/api/v1/auth/login", s.base))
            .header("x-forwarded-for", forwarded)
            .header("user-agent", "desk-browser/1.0")
            .json(&json!({"username": user, "password": PASSWORD, "totp": s.totp(user)}))
            .send()
            .unwrap()
    };
    // The proxy (loopback) forwards for a desk inside the list: admitted. A client that
    // prepends a forged address gains nothing: the right-most untrusted hop counts.
    assert_eq!(login_from("203.0.113.7").status(), StatusCode::OK);
    assert_problem(
        login_from("203.0.113.7, 198.51.100.1"),
        StatusCode::UNAUTHORIZED,
    );
    let token = s.login("auditor");
    let body: Value = s
        .get(&token, &format!("/api/v1/accounts/{user}/logins"))
        .json()
        .unwrap();
    let ok = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["outcome"] == "ok")
        .unwrap();
    assert_eq!(ok["ip"], "203.0.113.7");
    assert_eq!(ok["user_agent"], "desk-browser/1.0");
}

#[test]
fn the_forwarding_header_is_ignored_without_a_trusted_proxy() {
    let s = sqlite();
    let user = "officer.commune";
    let admin = s.login("admin");
    s.put(
        &admin,
        &format!("/api/v1/accounts/{user}/allow-ips"),
        json!({"allow_ips": ["203.0.113.0/24"]}),
    );
    let res = s
        .client
        .post(format!("{}/api/v1/auth/login", s.base))
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({"username": user, "password": PASSWORD, "totp": s.totp(user)}))
        .send()
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED);
}

#[test]
fn sensitive_actions_need_a_recent_reauthentication() {
    let s = sqlite();
    let admin = s.fresh_login("admin");
    s.app.store.set_reauth(&token_hash(&admin), 0).unwrap();
    let create = || {
        s.post(
            &admin,
            "/api/v1/accounts",
            json!({"username": "desk.new", "role": "officer", "unit": s.communes.0,
                   "password": "sông Hồng chảy về biển"}),
        )
    };
    let p = assert_problem(create(), StatusCode::UNAUTHORIZED);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("recent authentication"),
        "{p}"
    );
    let wrong = s.post(
        &admin,
        "/api/v1/auth/reauth",
        json!({"password": "not the password", "totp": s.totp("admin")}),
    );
    assert_problem(wrong, StatusCode::UNAUTHORIZED);
    let ok = s.post(
        &admin,
        "/api/v1/auth/reauth",
        json!({"password": PASSWORD, "totp": s.totp("admin")}),
    );
    assert_eq!(ok.status(), StatusCode::OK);
    let made = create();
    assert_eq!(made.status(), StatusCode::CREATED);
    let enrollment: Value = made.json().unwrap();
    assert!(
        enrollment["totp_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert_eq!(enrollment["recovery_codes"].as_array().unwrap().len(), 10);
    // An admin cannot mint another admin (separation of duties), nor an account
    // outside its unit.
    let peer = s.post(
        &admin,
        "/api/v1/accounts",
        json!({"username": "admin.two", "role": "admin", "unit": "01",
               "password": "sông Hồng chảy về biển"}),
    );
    assert_problem(peer, StatusCode::FORBIDDEN);
    let outside = s.post(
        &admin,
        "/api/v1/accounts",
        json!({"username": "desk.hcm", "role": "officer", "unit": "79",
               "password": "sông Hồng chảy về biển"}),
    );
    assert_problem(outside, StatusCode::FORBIDDEN);
}

#[test]
fn passwords_follow_the_policy_and_are_not_reused() {
    let s = sqlite();
    let user = "officer.commune";
    let recovery = &s.secrets[user].1;
    let old_session = s
        .try_login(user, PASSWORD, &recovery[0])
        .json::<Value>()
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = s.fresh_login(user);
    let change = |current: &str, new: &str, second_factor: &str| {
        s.post(
            &session,
            "/api/v1/auth/password",
            json!({"current_password": current, "new_password": new, "totp": second_factor}),
        )
    };
    // Rejected before the factors are checked: no code is spent.
    let weak = assert_problem(change(PASSWORD, "12345678", "-"), StatusCode::BAD_REQUEST);
    assert!(weak["detail"].as_str().unwrap().contains("at least 12"));
    assert_problem(
        change("not the password", "mưa rơi trên phố cổ", "-"),
        StatusCode::UNAUTHORIZED,
    );
    assert_eq!(
        change(PASSWORD, "mưa rơi trên phố cổ", &s.totp(user)).status(),
        StatusCode::NO_CONTENT
    );
    // The other sessions end; this one goes on.
    assert_problem(s.get(&old_session, "/api/v1/me"), StatusCode::UNAUTHORIZED);
    assert_eq!(s.get(&session, "/api/v1/me").status(), StatusCode::OK);
    let reuse = assert_problem(
        change("mưa rơi trên phố cổ", PASSWORD, &recovery[1]),
        StatusCode::BAD_REQUEST,
    );
    assert!(
        reuse["detail"].as_str().unwrap().contains("last 5"),
        "{reuse}"
    );
    let history = outcomes_of(&s, user);
    assert!(
        history
            .iter()
            .any(|(e, o, _)| e == "password_change" && o == "ok")
    );
}

/// Finding 5: no IP restriction, no multi-factor authentication, no history of logins
/// or password changes for admin and officer accounts.
#[test]
fn finding_5_staff_accounts_have_ip_restriction_two_factors_and_login_history() {
    let s = sqlite();
    for user in ["officer.commune", "admin", "auditor", "civil.commune"] {
        // No second factor, no session.
        assert_problem(s.try_login(user, PASSWORD, ""), StatusCode::UNAUTHORIZED);
    }
    let user = "officer.commune";
    let token = s.fresh_login(user);
    // The account reads its own history; its admin and the auditors read it; other
    // accounts do not.
    let mine: Value = s.get(&token, "/api/v1/me/logins").json().unwrap();
    let entries = mine["history"].as_array().unwrap();
    assert!(entries.len() >= 2);
    assert!(entries.iter().all(|e| e["ip"] == "127.0.0.1"));
    let path = format!("/api/v1/accounts/{user}/logins");
    for reader in ["admin", "admin.national", "auditor"] {
        assert_eq!(
            s.get(&s.login(reader), &path).status(),
            StatusCode::OK,
            "{reader}"
        );
    }
    for outsider in [
        "auditor.other",
        "officer.province",
        "supervisor",
        "civil.commune",
    ] {
        assert_problem(s.get(&s.login(outsider), &path), StatusCode::FORBIDDEN);
    }
    // An allow-list binds the account to its office's network.
    let admin = s.login("admin");
    s.put(
        &admin,
        &format!("/api/v1/accounts/{user}/allow-ips"),
        json!({"allow_ips": ["192.0.2.0/24"]}),
    );
    assert_problem(s.get(&token, "/api/v1/me"), StatusCode::UNAUTHORIZED);
}

#[test]
fn finding_1_lookup_037_needs_a_dossier_in_progress_in_the_officers_unit() {
    let s = sqlite();
    let civil = s.login("civil.commune");
    let path = format!("/api/v1/citizens/{OTHER_PROVINCE}");
    // Without a dossier a one-stop official reads nobody, even in its own commune.
    assert_problem(s.get(&civil, &path), StatusCode::FORBIDDEN);
    assert_problem(
        s.get(&civil, &format!("/api/v1/citizens/{CHILD}")),
        StatusCode::FORBIDDEN,
    );
    let opened = s.post(
        &civil,
        "/api/v1/dossiers",
        json!({"procedure": "1.001193", "subject_personal_id": OTHER_PROVINCE}),
    );
    assert_eq!(opened.status(), StatusCode::CREATED);
    let dossier = opened.json::<Value>().unwrap()["id"].as_i64().unwrap();
    let read = |token: &str, who: &str| {
        s.client
            .get(format!("{}/api/v1/citizens/{who}", s.base))
            .bearer_auth(token)
            .header("x-dossier", dossier.to_string())
            .send()
            .unwrap()
    };
    // The person lives in another province: the dossier is what allows the lookup.
    assert_eq!(read(&civil, OTHER_PROVINCE).status(), StatusCode::OK);
    // Not for anybody else, and not for another unit's official.
    assert_problem(read(&civil, CHILD), StatusCode::FORBIDDEN);
    assert_problem(
        read(&s.login("civil.other"), OTHER_PROVINCE),
        StatusCode::FORBIDDEN,
    );
    assert_problem(
        s.get(
            &s.login("civil.other"),
            &format!("/api/v1/dossiers/{dossier}"),
        ),
        StatusCode::NOT_FOUND,
    );
    // The tracker shows the purpose of the read.
    let auditor = s.login("auditor");
    let tracker: Value = s
        .get(&auditor, &format!("{path}/data-access"))
        .json()
        .unwrap();
    let purposes: Vec<&str> = tracker["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "ok" && a["action"] == "citizen.read")
        .filter_map(|a| a["purpose"].as_str())
        .collect();
    assert_eq!(purposes, [format!("dossier:{dossier} procedure:1.001193")]);
    // A closed dossier allows nothing more.
    let closed = s.post(
        &civil,
        &format!("/api/v1/dossiers/{dossier}/close"),
        json!({}),
    );
    assert_eq!(closed.status(), StatusCode::OK);
    assert_problem(read(&civil, OTHER_PROVINCE), StatusCode::FORBIDDEN);
}

#[test]
fn finding_6_lists_mask_people_the_caller_does_not_handle() {
    let s = sqlite();
    let civil = s.login("civil.commune");
    let search = |token: &str| -> Vec<Value> {
        let res = s.get(token, "/api/v1/citizens?name=Nguyen");
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let masked = search(&civil);
    assert!(!masked.is_empty());
    for item in &masked {
        assert_eq!(item["masked"], true);
        let id = item["personal_id"].as_str().unwrap();
        assert!(id.contains("******"), "{id}");
        assert_eq!(item["date_of_birth"].as_str().unwrap().len(), 4);
    }
    let opened = s.post(
        &civil,
        "/api/v1/dossiers",
        json!({"procedure": "1.000894", "subject_personal_id": CHILD}),
    );
    assert_eq!(opened.status(), StatusCode::CREATED);
    let handled: Vec<Value> = search(&civil)
        .into_iter()
        .filter(|i| i["masked"] != true)
        .collect();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0]["personal_id"], CHILD);
    // The registry's own officer sees its unit in full.
    let officer = search(&s.login("officer.commune"));
    assert!(officer.iter().all(|i| i["masked"] != true));
}

#[test]
fn a_citizen_reads_its_own_record_and_who_accessed_it() {
    let s = sqlite();
    let officer = s.login("officer.commune");
    assert_eq!(
        s.get(&officer, &format!("/api/v1/citizens/{FAMILY_HEAD}"))
            .status(),
        StatusCode::OK
    );
    let me = s.login(FAMILY_HEAD);
    let own = s.get(&me, &format!("/api/v1/citizens/{FAMILY_HEAD}"));
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(own.json::<Value>().unwrap()["personal_id"], FAMILY_HEAD);
    // Not even the child of the household, not a search.
    assert_problem(
        s.get(&me, &format!("/api/v1/citizens/{CHILD}")),
        StatusCode::FORBIDDEN,
    );
    assert_problem(
        s.get(&me, "/api/v1/citizens?name=Nguyen"),
        StatusCode::FORBIDDEN,
    );
    let tracker: Value = s.get(&me, "/api/v1/me/data-access").json().unwrap();
    let reads: Vec<&Value> = tracker["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "citizen.read" && a["outcome"] == "ok")
        .collect();
    let officer_read = reads.iter().find(|a| a["role"] == "officer").unwrap();
    assert_eq!(officer_read["unit"], s.communes.0.as_str());
    assert_eq!(officer_read["purpose"], "registry_management");
    // A citizen sees the unit and role, not the officer's account name.
    assert!(officer_read.get("account").is_none());
    assert!(reads.iter().any(|a| a["purpose"] == "own_record"));
    // Staff have no own tracker; another person's tracker is for auditors.
    assert_problem(
        s.get(&officer, "/api/v1/me/data-access"),
        StatusCode::FORBIDDEN,
    );
    assert_problem(
        s.get(&me, &format!("/api/v1/citizens/{CHILD}/data-access")),
        StatusCode::FORBIDDEN,
    );
}

#[test]
fn auditors_read_the_tracker_of_people_in_their_unit_only() {
    let s = sqlite();
    let officer = s.login("officer.province");
    s.get(&officer, &format!("/api/v1/citizens/{CHILD}"));
    let path = format!("/api/v1/citizens/{CHILD}/data-access");
    let tracker: Value = s.get(&s.login("auditor"), &path).json().unwrap();
    let read = tracker["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "citizen.read")
        .unwrap()
        .clone();
    assert_eq!(read["account"], "officer.province");
    assert_problem(
        s.get(&s.login("auditor.other"), &path),
        StatusCode::FORBIDDEN,
    );
    assert_problem(s.get(&officer, &path), StatusCode::FORBIDDEN);
    assert_problem(s.get(&s.login("admin"), &path), StatusCode::FORBIDDEN);
}

#[test]
fn forged_and_revoked_tokens_are_refused_and_logged() {
    let s = sqlite();
    assert_problem(
        s.get("forged-token", "/api/v1/me"),
        StatusCode::UNAUTHORIZED,
    );
    let token = s.fresh_login("officer.commune");
    let admin = s.login("admin");
    let res = s.post(
        &admin,
        "/api/v1/accounts/officer.commune/revoke-sessions",
        json!({}),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_problem(s.get(&token, "/api/v1/me"), StatusCode::UNAUTHORIZED);
    s.login("auditor");
    let denied = s
        .app
        .store
        .read(|tx| {
            tx.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'session.use' \
                 AND outcome = 'denied'",
                &[],
            )
        })
        .unwrap();
    assert_eq!(denied, 2);
}

/// The policy over HTTP: every account role against every person endpoint, for its own
/// record (citizen), a person inside its unit and one outside, then the endpoints that
/// touch no person. `2` = 200, `3` = 403; one character per endpoint.
#[test]
fn every_role_against_every_endpoint_inside_and_outside_its_unit() {
    let s = sqlite();
    // FAMILY_HEAD and CHILD live in commune a of Hà Nội (household 1); OTHER_PROVINCE in
    // commune c of another province (household 3), where officer.other and auditor.other
    // work.
    let targets = [(FAMILY_HEAD, 1), (CHILD, 1), (OTHER_PROVINCE, 3)];
    use reqwest::Method;
    // {p}: the person, {h}: their household.
    let person_endpoints = [
        (Method::GET, "/api/v1/citizens/{p}"),
        (Method::GET, "/api/v1/citizens/{p}/residences"),
        (Method::GET, "/api/v1/citizens/{p}/history"),
        (Method::GET, "/api/v1/citizens/{p}/as-of/2020"),
        (Method::GET, "/api/v1/households/{h}"),
        (Method::GET, "/api/v1/citizens/{p}/data-access"),
        (Method::GET, "/api/v1/citizens?personal_id={p}"),
        (Method::PATCH, "/api/v1/citizens/{p}"),
        (Method::GET, "/api/v1/citizens/{p}/attributes"),
        (Method::GET, "/api/v1/citizens/{p}/attributes/history"),
    ];
    const OFFICER_IN: &str = "2222232222";
    const OFFICER_OUT: &str = "3333332333";
    const SEARCH_ONLY: &str = "3333332333";
    const NOTHING: &str = "3333333333";
    const TRACKER_ONLY: &str = "3333323333";
    let person_table: [(&str, [&str; 3]); 12] = [
        ("officer.province", [OFFICER_IN, OFFICER_IN, OFFICER_OUT]),
        ("officer.commune", [OFFICER_IN, OFFICER_IN, OFFICER_OUT]),
        ("officer.other", [OFFICER_OUT, OFFICER_OUT, OFFICER_IN]),
        ("civil.commune", [SEARCH_ONLY; 3]),
        ("civil.other", [SEARCH_ONLY; 3]),
        ("insurance", [NOTHING; 3]),
        ("admin", [NOTHING; 3]),
        ("admin.national", [NOTHING; 3]),
        ("auditor", [TRACKER_ONLY; 3]),
        ("auditor.other", [NOTHING, NOTHING, TRACKER_ONLY]),
        ("supervisor", [NOTHING; 3]),
        (FAMILY_HEAD, ["2222323322", NOTHING, NOTHING]),
    ];
    // quality, accounts, alerts, units, me, civil review queue, civil progress
    let other_endpoints = [
        "/api/v1/quality",
        "/api/v1/accounts",
        "/api/v1/alerts",
        "/api/v1/units",
        "/api/v1/me",
        "/api/v1/civil/review",
        "/api/v1/civil/progress",
    ];
    let other_table = [
        ("officer.province", "3332233"),
        ("officer.commune", "3332233"),
        ("officer.other", "3332233"),
        ("civil.commune", "3332222"),
        ("civil.other", "3332222"),
        ("insurance", "3332233"),
        ("admin", "3232233"),
        ("admin.national", "3232233"),
        ("auditor", "3322233"),
        ("auditor.other", "3322233"),
        ("supervisor", "2332232"),
        (FAMILY_HEAD, "3332233"),
    ];
    let code = |status: StatusCode| match status {
        StatusCode::OK => '2',
        StatusCode::FORBIDDEN => '3',
        other => panic!("unexpected {other}"),
    };
    let mut mismatches = Vec::new();
    for (account, expected) in person_table {
        let token = s.login(account);
        for ((person, household), want) in targets.iter().zip(expected) {
            let got: String = person_endpoints
                .iter()
                .map(|(method, template)| {
                    let path = template
                        .replace("{p}", person)
                        .replace("{h}", &household.to_string());
                    let res = s
                        .client
                        .request(method.clone(), format!("{}{path}", s.base))
                        .bearer_auth(&token)
                        .json(&json!({"basis": "QĐ 1/2026", "changes": {"blood_type": "O"}}))
                        .send()
                        .unwrap();
                    code(res.status())
                })
                .collect();
            if got != want {
                mismatches.push(format!("{account} on {person}: got {got}, want {want}"));
            }
        }
    }
    for (account, want) in other_table {
        let token = s.login(account);
        let got: String = other_endpoints
            .iter()
            .map(|path| code(s.get(&token, path).status()))
            .collect();
        if got != want {
            mismatches.push(format!("{account}: got {got}, want {want}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
