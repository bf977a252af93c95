//! `dancu verify-batch` killed mid-run (SIGKILL) and restarted with the same arguments:
//! the output and the audit log are exactly those of an uninterrupted run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dancu_store::Store;
use dancu_store::testing::{edit_listed_persons, listed_persons};

fn dancu(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dancu"));
    c.arg("--data-dir")
        .arg(dir)
        .env_remove("DANCU_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sql_count(store: &Store, sql: &str) -> i64 {
    store.read(|tx| tx.query_i64(sql, &[])).unwrap()
}

/// A partner file of `rows` rows over the exported people, in several spellings, with
/// CRLF line ends (as Excel writes them) and a bad row now and then.
fn partner_file(export: &str, rows: usize) -> String {
    let people: Vec<Vec<&str>> = export
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(4).collect())
        .collect();
    let mut out = String::from("ref,personal_id,full_name,date_of_birth,gender\r\n");
    for i in 0..rows {
        let p = &people[i % people.len()];
        let (id, name, dob, gender) = (p[0], p[1], p[2], p[3]);
        let row = match i % 7 {
            0 => format!("{id},{},{dob},{gender}", name.to_uppercase()),
            1 => format!("{id},{name},{},{gender}", &dob[..4]),
            2 => format!("{},{name},,", &id[..11]),
            3 => format!("{id},\"{name}\",,{}", if gender == "M" { "F" } else { "M" }),
            _ => format!("{id},{name},{dob},{gender}"),
        };
        out.push_str(&format!("r{i},{row}\r\n"));
    }
    out
}

#[test]
fn a_killed_run_resumes_without_losing_or_repeating_rows_or_audit_entries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(dancu(d).args(["seed", "--citizens", "2000"]));
    let export = d.join("all.csv");
    run(dancu(d)
        .args(["export", "citizens", "--output"])
        .arg(&export));
    let input = d.join("partner.csv");
    let rows = 20_000;
    std::fs::write(
        &input,
        partner_file(&std::fs::read_to_string(&export).unwrap(), rows),
    )
    .unwrap();
    let store = Store::open(&format!("sqlite://{}", d.join("dancu.db").display())).unwrap();
    // The persons the chained chunk entries list (the data tracker's index of them: only
    // the chunks' entries list persons).
    let per_row = || listed_persons(&store).len() as i64;
    let batch = |output: &Path| {
        let mut c = dancu(d);
        c.args([
            "verify-batch",
            "--checkpoint-rows",
            "1000",
            "--chunk-rows",
            "250",
        ])
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(output);
        c
    };

    let reference = d.join("reference.csv");
    run(&mut batch(&reference));
    let audited_once = per_row();
    assert!(audited_once > 0);

    let output = d.join("out.csv");
    let mut child = batch(&output).spawn().unwrap();
    let started = Instant::now();
    let running = "SELECT COALESCE(MAX(rows_done), 0) FROM verify_jobs WHERE status = 'running'";
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        if sql_count(&store, running) >= 2000 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before_kill = sql_count(&store, running);
    assert!(
        (2000..rows as i64).contains(&done_before_kill),
        "{done_before_kill}"
    );

    let stdout = run(&mut batch(&output));
    assert!(stdout.contains("resumed job"), "{stdout}");
    assert_eq!(
        std::fs::read(&output).unwrap(),
        std::fs::read(&reference).unwrap(),
        "the resumed output differs from an uninterrupted run"
    );
    assert_eq!(per_row(), 2 * audited_once);
    let summary = |p: &Path| {
        let mut s: serde_json::Value = serde_json::from_slice(
            &std::fs::read(format!("{}.summary.json", p.display())).unwrap(),
        )
        .unwrap();
        s["job"] = serde_json::Value::Null;
        s
    };
    assert_eq!(summary(&output), summary(&reference));
    assert_eq!(summary(&output)["rows"], rows);

    // `audit verify` finds every listed person in the tracker's index, and names the
    // first chunk entry whose person was struck from it.
    let stdout = run(dancu(d).args(["audit", "verify"]));
    assert!(
        stdout.contains(&format!(
            "persons of group entries in the tracker index: {}",
            2 * audited_once
        )),
        "{stdout}"
    );
    let first = listed_persons(&store)[0].entry;
    edit_listed_persons(&store, |persons| {
        let last = persons.iter().rposition(|p| p.entry == first).unwrap();
        persons.remove(last);
    });
    let out = dancu(d).args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "the data tracker's index broken at entry #{first}"
        )),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("audit entry #{first} untracked")),
        "{stderr}"
    );
}
