//! Verification over HTTP: `POST /api/v1/verify` per the contract (keys, scopes,
//! quotas, agreements, audit, statistics) and batch jobs (upload, progress, result,
//! summary, isolation between partners, resume after a stop).

mod common;

use std::time::{Duration, Instant};

use common::{Server, assert_problem, sqlite, sqlite_with};
use dancu_app::limits::Limits;
use reqwest::blocking::Response;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VERIFY: &str = "/api/v1/verify";
const JOBS: &str = "/api/v1/verify/jobs";

fn verify(s: &Server, key: &str, body: &Value) -> Response {
    s.partner_request(Method::POST, &s.base, key, VERIFY)
        .json(body)
        .send()
        .unwrap()
}

fn verified(s: &Server, key: &str, body: Value) -> Value {
    let res = verify(s, key, &body);
    assert_eq!(res.status(), StatusCode::OK, "{body}");
    res.json().unwrap()
}

fn upload(base: &str, s: &Server, key: &str, file: &str) -> Response {
    upload_as(base, s, key, "text/csv", file)
}

fn upload_as(base: &str, s: &Server, key: &str, content_type: &str, file: &str) -> Response {
    s.partner_request(Method::POST, base, key, JOBS)
        .header("content-type", content_type)
        .body(file.to_owned())
        .send()
        .unwrap()
}

/// Polls a job until it is no longer running.
fn finished(base: &str, s: &Server, key: &str, id: i64) -> Value {
    let started = Instant::now();
    loop {
        let res = s.partner_get(base, key, &format!("{JOBS}/{id}"));
        assert_eq!(res.status(), StatusCode::OK);
        let job: Value = res.json().unwrap();
        if job["state"] != "running" {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "job {id} hangs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn verify_answers_per_field_by_the_contract_audited_and_counted() {
    let s = sqlite();
    let key = s.partner("bank", &["verify"], 1000, &[]);
    let all = |v: &str| json!({"full_name": v, "date_of_birth": v, "gender": v});
    // Lower case, old tone placement, runs of spaces: still the same name.
    let v = verified(
        &s,
        &key,
        json!({"personal_id": "001080000001", "full_name": "  nguyễn  văn hoà", "date_of_birth": "1980-03-02", "gender": "M"}),
    );
    assert_eq!(v, json!({"verdict": "match", "fields": all("match")}));
    // No diacritics is only partial, and so never a match; a swapped day and month is a
    // mismatch; the answer does not say why (no findings for a live yes/no service).
    let v = verified(
        &s,
        &key,
        json!({"personal_id": "001080000001", "full_name": "Nguyen Van Hoa", "date_of_birth": "1980-02-03"}),
    );
    assert_eq!(
        v,
        json!({"verdict": "mismatch", "fields": {"full_name": "partial", "date_of_birth": "mismatch", "gender": "not_provided"}})
    );
    // Year only against a full date: partial.
    let v = verified(
        &s,
        &key,
        json!({"personal_id": "001080000001", "date_of_birth": "1980"}),
    );
    assert_eq!(v["verdict"], "mismatch");
    assert_eq!(v["fields"]["date_of_birth"], "partial");
    // The old 9-digit ID number resolves to the person.
    let v = verified(
        &s,
        &key,
        json!({"personal_id": "012345678", "full_name": "Nguyễn Văn Hòa"}),
    );
    assert_eq!(v["verdict"], "match");
    // Unknown and malformed numbers.
    let v = verified(&s, &key, json!({"personal_id": "001099000009"}));
    assert_eq!(v["verdict"], "not_found");
    let v = verified(&s, &key, json!({"personal_id": "00108000000"}));
    assert_eq!(v["verdict"], "invalid");
    assert!(v["reason"].as_str().unwrap().starts_with("personal_id"));

    // Every call is audited under the partner's name, with the person when resolved.
    let audit = s
        .app
        .store
        .audit_for_actor("partner:bank", &["verify"], 100)
        .unwrap();
    let outcomes: Vec<&str> = audit.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "invalid",
            "not_found",
            "match",
            "mismatch",
            "mismatch",
            "match"
        ]
    );
    assert!(audit.iter().all(|e| e.actor_role == "partner"));
    let with_person = s
        .app
        .store
        .read(|tx| {
            tx.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE actor = 'partner:bank' \
                 AND action = 'verify' AND personal_id IS NOT NULL",
                &[],
            )
        })
        .unwrap();
    assert_eq!(with_person, 4);

    // …and counted: requests (6 calls and this usage call) and verdicts of the day,
    // the partner's own view.
    let usage: Value = s
        .partner_get(&s.base, &key, "/api/v1/partner/usage")
        .json()
        .unwrap();
    let today = usage["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            &today["requests"],
            &today["matched"],
            &today["mismatched"],
            &today["not_found"],
            &today["invalid"]
        ),
        (&json!(7), &json!(2), &json!(2), &json!(1), &json!(1))
    );
}

#[test]
fn an_agreement_returns_the_named_canonical_values_and_nothing_more() {
    let s = sqlite();
    let plain = s.partner("bank.plain", &["verify"], 100, &[]);
    let corrector = s.partner("bank.names", &["verify"], 100, &[]);
    s.app
        .set_partner_agreement(&dancu_app::Actor::system("test"), "bank.names", "full_name")
        .unwrap();
    let body = json!({"personal_id": "001080000001", "full_name": "Nguyen Van Hoa"});
    let v = verified(&s, &plain, body.clone());
    assert!(v.get("registry").is_none(), "{v}");
    let v = verified(&s, &corrector, body);
    assert_eq!(v["registry"], json!({"full_name": "Nguyễn Văn Hòa"}));
    // Not found: nothing to return.
    let v = verified(&s, &corrector, json!({"personal_id": "001099000009"}));
    assert!(v.get("registry").is_none(), "{v}");
    // An unknown field is refused when the agreement is set.
    assert!(
        s.app
            .set_partner_agreement(&dancu_app::Actor::system("test"), "bank.names", "address")
            .is_err()
    );
}

#[test]
fn keys_scopes_quotas_and_bad_bodies() {
    let s = sqlite();
    let body = json!({"personal_id": "001080000001"});
    // No key, an unknown key, a staff token: 401.
    let res = s
        .client
        .post(format!("{}{VERIFY}", s.base))
        .json(&body)
        .send()
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED);
    assert_problem(verify(&s, "dcp_nope", &body), StatusCode::UNAUTHORIZED);
    let officer = s.login("officer.province");
    assert_problem(
        s.post(&officer, VERIFY, body.clone()),
        StatusCode::UNAUTHORIZED,
    );
    // A key without the `verify` scope: 403, audited.
    let batch_only = s.partner("bank.batch", &["verify_batch"], 100, &[]);
    assert_problem(verify(&s, &batch_only, &body), StatusCode::FORBIDDEN);
    // Refusals are queued to the audit writer without waiting for the commit.
    let started = Instant::now();
    let refused = loop {
        let refused = s
            .app
            .store
            .audit_for_actor("partner:bank.batch", &["verify"], 10)
            .unwrap();
        if !refused.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break refused;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].outcome, "denied");
    // Bad bodies: problem+json, charged nothing.
    let key = s.partner("bank", &["verify"], 2, &[]);
    let res = s
        .partner_request(Method::POST, &s.base, &key, VERIFY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST);
    assert_problem(
        verify(&s, &key, &json!({"full_name": "A"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_problem(
        verify(&s, &key, &json!({"personal_id": 1})),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    // A daily quota of 2: the third call is 429 with Retry-After.
    for _ in 0..2 {
        assert_eq!(verify(&s, &key, &body).status(), StatusCode::OK);
    }
    let res = verify(&s, &key, &body);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn usage_statistics_go_to_supervisors_and_national_admins_only() {
    let s = sqlite();
    let key = s.partner("bank", &["verify"], 100, &[]);
    verified(
        &s,
        &key,
        json!({"personal_id": "001080000001", "gender": "M"}),
    );
    verified(
        &s,
        &key,
        json!({"personal_id": "001080000001", "gender": "F"}),
    );
    for user in ["supervisor", "admin.national"] {
        let res = s.get(&s.login(user), "/api/v1/partners/bank/usage");
        assert_eq!(res.status(), StatusCode::OK, "{user}");
        let usage: Value = res.json().unwrap();
        let today = usage["days"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (&today["matched"], &today["mismatched"]),
            (&json!(1), &json!(1))
        );
    }
    for user in ["officer.province", "auditor", "admin"] {
        let res = s.get(&s.login(user), "/api/v1/partners/bank/usage");
        assert_problem(res, StatusCode::FORBIDDEN);
    }
}

/// A file exercising the contract's cases, bad rows included.
fn sample_file() -> String {
    [
        "ref,personal_id,full_name,date_of_birth,gender",
        "a,001080000001,Nguyễn Văn Hoà,02/03/1980,M",
        "b,001080000001,NGUYEN VAN HOA,1980,M",
        "c,012345678,Nguyễn Văn Hòa,1980-02-03,",
        "d,001099000009,Ai Đó,,",
        "e,12345,Nguyễn Văn Hòa,1980-03-02,M",
        "f,001182000001,Trần Thị Thủy,1982,X",
        "g,001310000001,\"Nguyễn Thị Minh Khai\",2010-07-15,F",
    ]
    .join("\n")
        + "\n"
}

#[test]
fn a_batch_job_agrees_with_single_calls_and_is_private_to_its_partner() {
    let s = sqlite();
    let key = s.partner("bank", &["verify", "verify_batch"], 1000, &[]);
    let file = sample_file();
    let res = upload(&s.base, &s, &key, &file);
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let job: Value = res.json().unwrap();
    let id = job["id"].as_i64().unwrap();
    assert_eq!(location, format!("{JOBS}/{id}"));
    assert_eq!(job["rows_total"], 7);
    assert_eq!(job["format"], "csv");
    let done = finished(&s.base, &s, &key, id);
    assert_eq!(
        (&done["state"], &done["rows_done"]),
        (&json!("done"), &json!(7))
    );

    let res = s.partner_get(&s.base, &key, &format!("{JOBS}/{id}/result"));
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let rows = csv_rows(&res.text().unwrap());
    assert_eq!(
        rows[0][..5],
        ["ref", "verdict", "full_name", "date_of_birth", "gender"]
    );
    assert_eq!(rows.len(), 8);
    // Every row is what the single call answers for the same fields.
    let input = csv_rows(&file);
    for (row, fields) in rows[1..].iter().zip(&input[1..]) {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let single = verified(
            &s,
            &key,
            json!({"personal_id": fields[1], "full_name": opt(&fields[2]),
                   "date_of_birth": opt(&fields[3]), "gender": opt(&fields[4])}),
        );
        assert_eq!(row[0], fields[0]);
        assert_eq!(row[1], single["verdict"], "row {}", fields[0]);
        for (i, field) in ["full_name", "date_of_birth", "gender"].iter().enumerate() {
            assert_eq!(
                row[2 + i],
                single["fields"][field].as_str().unwrap_or(""),
                "row {} {field}",
                fields[0]
            );
        }
    }
    // Bad rows are invalid with their reason and did not stop the job.
    assert_eq!(rows[5][1], "invalid");
    assert_eq!(rows[6][1], "invalid");
    assert!(rows[6][6].starts_with("gender"), "{:?}", rows[6]);

    let summary: Value = s
        .partner_get(&s.base, &key, &format!("{JOBS}/{id}/summary"))
        .json()
        .unwrap();
    assert_eq!(summary["rows"], 7);

    // Another partner sees no such job; the rows were charged to the owner and the
    // verdicts counted in its statistics.
    let other = s.partner("telco", &["verify_batch"], 1000, &[]);
    for path in ["", "/result", "/summary"] {
        let res = s.partner_get(&s.base, &other, &format!("{JOBS}/{id}{path}"));
        assert_problem(res, StatusCode::NOT_FOUND);
    }
    let usage: Value = s
        .partner_get(&s.base, &key, "/api/v1/partner/usage")
        .json()
        .unwrap();
    let today = usage["days"].as_array().unwrap().last().unwrap().clone();
    // 7 rows of the job, 7 single calls and this usage call; the verdicts of the 14.
    assert_eq!(today["requests"], 15);
    let verdicts: i64 = ["matched", "mismatched", "not_found", "invalid"]
        .iter()
        .map(|v| today[v].as_i64().unwrap())
        .sum();
    assert_eq!(verdicts, 14);
    // Fetching the result is audited.
    let fetched = s
        .app
        .store
        .audit_for_actor("partner:bank", &["verify.job.result"], 10)
        .unwrap();
    assert_eq!(fetched.len(), 1);
}

#[test]
fn jobs_need_the_scope_a_quota_for_every_row_and_a_readable_file() {
    let s = sqlite_with(&Limits {
        job_upload_bytes: 4096,
        ..Limits::default()
    });
    let file = sample_file();
    let single_only = s.partner("bank.single", &["verify"], 1000, &[]);
    assert_problem(
        upload(&s.base, &s, &single_only, &file),
        StatusCode::FORBIDDEN,
    );
    // 7 rows do not fit in a quota of 5: refused whole, nothing charged or left behind.
    let small = s.partner("bank.small", &["verify_batch"], 5, &[]);
    assert_problem(
        upload(&s.base, &s, &small, &file),
        StatusCode::TOO_MANY_REQUESTS,
    );
    let usage: Value = s
        .partner_get(&s.base, &small, "/api/v1/partner/usage")
        .json()
        .unwrap();
    assert_eq!(usage["used_today"], 1);
    let key = s.partner("bank", &["verify_batch"], 1000, &[]);
    // Too large, and a CSV without the required columns.
    let big = format!("{file}{}", "x,001080000001,,,\n".repeat(300));
    assert_problem(
        upload(&s.base, &s, &key, &big),
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    let body = assert_problem(
        upload(&s.base, &s, &key, "id,name\n1,A\n"),
        StatusCode::BAD_REQUEST,
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("missing column ref")
    );
    let leftovers = std::fs::read_dir(s.data_dir.path().join("verify-jobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0);
    // JSON lines in, JSON lines out.
    let jsonl = "{\"ref\":\"x\",\"personal_id\":\"001080000001\",\"gender\":\"M\"}\n\
                 {\"ref\":\"y\",\"personal_id\":\"bad\"}\n";
    let job: Value = upload_as(&s.base, &s, &key, "application/x-ndjson", jsonl)
        .json()
        .unwrap();
    let id = job["id"].as_i64().unwrap();
    assert_eq!(job["format"], "jsonl");
    assert_eq!(finished(&s.base, &s, &key, id)["state"], "done");
    let res = s.partner_get(&s.base, &key, &format!("{JOBS}/{id}/result"));
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = res
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        (&lines[0]["ref"], &lines[0]["verdict"]),
        (&json!("x"), &json!("match"))
    );
    assert_eq!(
        (&lines[1]["ref"], &lines[1]["verdict"]),
        (&json!("y"), &json!("invalid"))
    );
    // A bad job id.
    assert_problem(
        s.partner_get(&s.base, &key, &format!("{JOBS}/abc")),
        StatusCode::BAD_REQUEST,
    );
}

/// A job of `file` submitted to the test server once it is stopping, then run: it
/// stops at its first checkpoint (128 rows with the test's options), and no runner of
/// this server takes it again. Returns its id and directory.
fn stopped_at_first_checkpoint(
    s: &Server,
    partner: &dancu_app::partners::Partner,
    file: &str,
) -> (i64, std::path::PathBuf) {
    // The stop comes first: the server's own runner (started with it, looking for jobs
    // to resume) may take the job as soon as it is submitted.
    s.app.stop_verify_jobs();
    let dir = s.app.begin_verify_job(partner).unwrap();
    std::fs::write(dancu_app::App::upload_path(&dir), file).unwrap();
    let job = s.app.submit_verify_job(partner, &dir, None).unwrap();
    // If the server's runner is running (it takes the job, or made its last look just
    // before the submission), the call returns at once: call it until the job's first
    // checkpoint is written, whichever runner writes it.
    let started = Instant::now();
    loop {
        s.app.run_verify_jobs();
        let stored = s.app.store.verify_job(job.id).unwrap().unwrap();
        if stored.checkpoint.rows_done > 0 {
            assert_eq!(
                (stored.status.as_str(), stored.checkpoint.rows_done),
                ("running", 128)
            );
            return (job.id, dir);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the job never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stopped_job_resumes_on_restart_without_losing_or_repeating_a_row() {
    let s = sqlite();
    let key = s.partner("bank", &["verify_batch"], 100_000, &[]);
    let partner = s.app.authenticate_partner(&key, None, None).unwrap();
    // 2,000 rows (~90 kB: more than the JSON body limit, which an upload does not have):
    // people found, variants, unknown and malformed numbers.
    let people = [
        "001080000001",
        "001182000001",
        "012345678",
        "001099000009",
        "0010",
    ];
    let mut file = String::from("ref,personal_id,full_name,date_of_birth,gender\n");
    for i in 0..2000 {
        let name = if i % 3 == 0 {
            "Nguyen Van Hoa"
        } else {
            "Nguyễn Văn Hòa"
        };
        file.push_str(&format!(
            "r{i},{},{name},1980,M\n",
            people[i % people.len()]
        ));
    }
    let (job, _) = stopped_at_first_checkpoint(&s, &partner, &file);
    let stored = s.app.store.verify_job(job).unwrap().unwrap();
    // A crash would leave rows written past the checkpoint: the resume must drop them.
    let output = std::path::PathBuf::from(&stored.output);
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .open(&output)
        .unwrap();
    std::io::Write::write_all(&mut out, b"r128,match,match,match,match,130,,\nr129,mat").unwrap();
    drop(out);
    let status: Value = s
        .partner_get(&s.base, &key, &format!("{JOBS}/{}", job))
        .json()
        .unwrap();
    assert_eq!(
        (
            &status["state"],
            &status["rows_done"],
            &status["rows_total"]
        ),
        (&json!("running"), &json!(128), &json!(2000))
    );
    assert_problem(
        s.partner_get(&s.base, &key, &format!("{JOBS}/{}/result", job)),
        StatusCode::CONFLICT,
    );

    // The restarted server picks the job up by itself.
    let (_, restarted) = s.second_app(&Limits::default());
    let done = finished(&restarted, &s, &key, job);
    assert_eq!(
        (&done["state"], &done["rows_done"]),
        (&json!("done"), &json!(2000))
    );
    let resumed = s
        .partner_get(&restarted, &key, &format!("{JOBS}/{}/result", job))
        .text()
        .unwrap();

    // The same file run in one go gives the same bytes.
    let again: Value = upload(&restarted, &s, &key, &file).json().unwrap();
    let again = again["id"].as_i64().unwrap();
    finished(&restarted, &s, &key, again);
    let whole = s
        .partner_get(&restarted, &key, &format!("{JOBS}/{again}/result"))
        .text()
        .unwrap();
    assert_eq!(resumed, whole);
    let rows = csv_rows(&resumed);
    assert_eq!(rows.len(), 2001);
    assert!(
        rows[1..]
            .iter()
            .enumerate()
            .all(|(i, r)| r[0] == format!("r{i}"))
    );

    // One chained entry per chunk (64 rows here) listing the persons found with their
    // verdicts, none lost or repeated across the restart: the lists of the job run in one
    // go.
    let entries = s
        .app
        .store
        .audit_for_actor("partner:bank", &["verify.batch"], 10_000)
        .unwrap();
    let lists = |id: i64| -> Vec<String> {
        let head = format!("job {id}\n");
        entries
            .iter()
            .filter_map(|e| e.detail.as_deref()?.strip_prefix(&head).map(str::to_owned))
            .collect()
    };
    let listed = lists(job);
    assert_eq!(listed.len(), 2000_usize.div_ceil(64));
    assert_eq!(listed, lists(again));
    assert_eq!(
        listed.last().unwrap(),
        "mismatch 001080000001 001182000001",
        "the persons of the rows found (the old ID number's too), each once per verdict"
    );
    // The verdicts of both jobs are in the statistics once each.
    let usage: Value = s
        .partner_get(&restarted, &key, "/api/v1/partner/usage")
        .json()
        .unwrap();
    let today = usage["days"].as_array().unwrap().last().unwrap().clone();
    let verdicts: i64 = ["matched", "mismatched", "not_found", "invalid"]
        .iter()
        .map(|v| today[v].as_i64().unwrap())
        .sum();
    assert_eq!(verdicts, 4000);
}

/// Found by schemathesis: `null` for an optional field was read as not provided but the
/// document allowed only a string. The document now says what the server does.
#[test]
fn null_optional_fields_are_not_provided_as_documented() {
    let s = sqlite();
    let key = s.partner("bank", &["verify"], 100, &[]);
    let answer = verified(
        &s,
        &key,
        json!({"personal_id": "001080000001", "full_name": null, "date_of_birth": null, "gender": null}),
    );
    assert_eq!(
        answer["fields"],
        json!({"full_name": "not_provided", "date_of_birth": "not_provided", "gender": "not_provided"})
    );
    let request = &s.openapi()["components"]["schemas"]["VerifyRequest"]["properties"];
    for field in ["full_name", "date_of_birth", "gender"] {
        assert_eq!(request[field]["type"], json!(["string", "null"]), "{field}");
    }
    // A gender other than M or F is the verdict `invalid`, so the document has no enum.
    let answer = verified(
        &s,
        &key,
        json!({"personal_id": "001080000001", "gender": "AAA"}),
    );
    assert_eq!(answer["verdict"], "invalid");
    assert!(request["gender"]["enum"].is_null());
}

/// Found by schemathesis: a body sent as `text/csv` that was JSON lines was accepted and
/// run as JSON lines. The declared type now has to match the file (400, nothing charged);
/// a body sent without a known type is still recognised by its content.
#[test]
fn an_upload_of_the_other_format_than_declared_is_refused() {
    let s = sqlite();
    let key = s.partner("bank", &["verify_batch"], 3, &[]);
    let jsonl = r#"{"ref":"1","personal_id":"001080000001"}"#;
    let body = assert_problem(upload(&s.base, &s, &key, jsonl), StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().unwrap().contains("sent as CSV"),
        "{body}"
    );
    let send = |content_type: &str, file: &str| upload_as(&s.base, &s, &key, content_type, file);
    assert_problem(
        send("application/x-ndjson", "ref,personal_id\n1,001080000001\n"),
        StatusCode::BAD_REQUEST,
    );
    // The quota (3 rows) fits the three accepted uploads only if the refused weren't charged.
    for (content_type, file) in [
        ("application/x-ndjson", jsonl),
        ("application/octet-stream", jsonl),
        (
            "text/csv; charset=utf-8",
            "ref,personal_id\n1,001080000001\n",
        ),
    ] {
        assert_eq!(
            send(content_type, file).status(),
            StatusCode::ACCEPTED,
            "{content_type}"
        );
    }
}

/// How many verify jobs the store has.
fn job_count(s: &Server) -> i64 {
    s.app
        .store
        .read(|tx| tx.query_i64("SELECT COUNT(*) FROM verify_jobs", &[]))
        .unwrap()
}

/// 300 rows of one person, for jobs that cross two checkpoints (128 rows each).
fn three_hundred_rows() -> String {
    let mut file = String::from("ref,personal_id,full_name\n");
    for i in 0..300 {
        file.push_str(&format!("r{i},001080000001,Nguyễn Văn Hòa\n"));
    }
    file
}

#[test]
fn a_job_is_run_and_served_only_where_its_files_are() {
    let s = sqlite();
    let key = s.partner("bank", &["verify_batch"], 100_000, &[]);
    let partner = s.app.authenticate_partner(&key, None, None).unwrap();
    // Another node: the same store, a data directory of its own.
    let elsewhere = tempfile::tempdir().unwrap();
    let (other, other_base) = s.instance_on(&Limits::default(), elsewhere.path());
    // A job of this server, stopped at its first checkpoint (the server is stopping).
    let (job, _) = stopped_at_first_checkpoint(&s, &partner, &three_hundred_rows());
    let stopped_at = || {
        let stored = s.app.store.verify_job(job).unwrap().unwrap();
        (stored.status, stored.checkpoint.rows_done)
    };
    // A job submitted before jobs recorded their directory, whose input is not here.
    let unrecorded = s
        .app
        .store
        .create_verify_job(&dancu_store::NewVerifyJob {
            actor: "partner:bank",
            input: "/nonexistent/input",
            input_fingerprint: "f",
            output: "/nonexistent/output.csv",
            partner_id: Some(partner.id),
            rows_total: 1,
            agreement: "",
            files_at: None,
        })
        .unwrap();
    // The other node neither runs nor fails them, and does not serve the job's files.
    other.run_verify_jobs();
    assert_eq!(stopped_at(), ("running".to_owned(), 128));
    let status = |id| s.app.store.verify_job(id).unwrap().unwrap().status;
    assert_eq!(status(unrecorded.id), "running");
    let refused = assert_problem(
        s.partner_get(&other_base, &key, &format!("{JOBS}/{}/result", job)),
        StatusCode::CONFLICT,
    );
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("another server")
    );
    // The server on this data directory, restarted, finishes it and serves it.
    let (_, restarted) = s.second_app(&Limits::default());
    assert_eq!(finished(&restarted, &s, &key, job)["state"], "done");
    let result = s.partner_get(&restarted, &key, &format!("{JOBS}/{}/result", job));
    assert_eq!(result.status(), StatusCode::OK);
    assert_eq!(result.text().unwrap().lines().count(), 301);
    assert_problem(
        s.partner_get(&other_base, &key, &format!("{JOBS}/{}/summary", job)),
        StatusCode::CONFLICT,
    );
}

#[test]
fn a_job_whose_output_another_process_holds_is_left_to_it_then_resumed() {
    let s = sqlite();
    let key = s.partner("bank", &["verify_batch"], 100_000, &[]);
    let partner = s.app.authenticate_partner(&key, None, None).unwrap();
    let dir = s.app.begin_verify_job(&partner).unwrap();
    std::fs::write(dancu_app::App::upload_path(&dir), three_hundred_rows()).unwrap();
    // Another process runs the job: it holds the output's lock.
    let held = std::fs::File::create(dir.join("output.csv")).unwrap();
    held.lock().unwrap();
    let job = s.app.submit_verify_job(&partner, &dir, None).unwrap();
    // This server passes over it (or its own runner, running now, does).
    s.app.run_verify_jobs();
    let stored = s.app.store.verify_job(job.id).unwrap().unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.checkpoint.rows_done),
        ("running", 0)
    );
    // That process dies: the lock goes with it, and the server's next scan resumes it.
    drop(held);
    assert_eq!(finished(&s.base, &s, &key, job.id)["state"], "done");
    let result = s.partner_get(&s.base, &key, &format!("{JOBS}/{}/result", job.id));
    assert_eq!(result.text().unwrap().lines().count(), 301);
}

#[test]
fn an_upload_cut_off_by_its_client_leaves_nothing() {
    let s = sqlite();
    let key = s.partner("bank", &["verify_batch"], 100_000, &[]);
    let addr = s.base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    // A megabyte announced, a line sent.
    std::io::Write::write_all(
        &mut conn,
        format!(
            "POST {JOBS} HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {key}\r\n\
             content-type: text/csv\r\ncontent-length: 1000000\r\n\r\nref,personal_id\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let jobs_dir = s.data_dir.path().join("verify-jobs");
    let uploads = || std::fs::read_dir(&jobs_dir).map_or(0, |d| d.count());
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    until("the upload begins", &|| uploads() == 1);
    drop(conn);
    until("the upload's directory is removed", &|| uploads() == 0);
    let jobs = job_count(&s);
    assert_eq!(jobs, 0);
}

#[test]
fn a_job_whose_input_was_changed_is_abandoned_not_replaced() {
    let s = sqlite();
    let key = s.partner("bank", &["verify_batch"], 100_000, &[]);
    let partner = s.app.authenticate_partner(&key, None, None).unwrap();
    let (job, dir) = stopped_at_first_checkpoint(&s, &partner, &three_hundred_rows());
    std::fs::write(
        dancu_app::App::upload_path(&dir),
        "ref,personal_id\nx,001080000001\n",
    )
    .unwrap();
    let (_, restarted) = s.second_app(&Limits::default());
    let abandoned = finished(&restarted, &s, &key, job);
    assert_eq!(abandoned["state"], "abandoned");
    assert!(
        abandoned["error"]
            .as_str()
            .unwrap()
            .contains("input file was changed")
    );
    let jobs = job_count(&s);
    assert_eq!(jobs, 1, "no other job in its place");
}

#[test]
fn uploads_that_became_no_job_are_swept_once_untouched_for_an_hour() {
    let s = sqlite();
    let key = s.partner("bank", &["verify_batch"], 100_000, &[]);
    let partner = s.app.authenticate_partner(&key, None, None).unwrap();
    let upload = || {
        let dir = s.app.begin_verify_job(&partner).unwrap();
        std::fs::write(dancu_app::App::upload_path(&dir), three_hundred_rows()).unwrap();
        dir
    };
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    let age = |dir: &std::path::Path| {
        // The file first: creating it changed the directory's time.
        for path in [dancu_app::App::upload_path(dir), dir.to_owned()] {
            let file = std::fs::File::open(&path).unwrap();
            file.set_modified(two_hours_ago).unwrap();
        }
    };
    // A crash left an upload before its job was created; two are being received (by
    // another server of the data directory), one of them stalled for two hours (its
    // receiver holds its file's lock); the last is a job's.
    let (orphan, receiving, stalled, submitted) = (upload(), upload(), upload(), upload());
    s.app.submit_verify_job(&partner, &submitted, None).unwrap();
    let receiver = std::fs::File::open(dancu_app::App::upload_path(&stalled)).unwrap();
    receiver.lock().unwrap();
    for dir in [&orphan, &stalled, &submitted] {
        age(dir);
    }
    // (The server's own sweep at its start may have run late and taken the orphan.)
    assert!(s.app.sweep_abandoned_uploads().unwrap() <= 1);
    assert!(!orphan.exists());
    assert!(receiving.exists() && stalled.exists() && submitted.exists());
    drop(receiver);
    assert_eq!(s.app.sweep_abandoned_uploads().unwrap(), 1);
    assert!(!stalled.exists() && submitted.exists());
}
