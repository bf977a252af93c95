//! The `dancu` binary as operators use it: exit codes, messages and files.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use dancu_domain::units::{Structure, UnitCatalog};

fn dancu(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dancu"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("DANCU_DATABASE_URL")
        .env_remove("DANCU_AUDIT_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        // A command that rejects its arguments exits without reading its input.
        let written = child.stdin.take().unwrap().write_all(input.as_bytes());
        if let Err(e) = written {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn commune(province: &str, nth: usize) -> String {
    UnitCatalog::embedded()
        .children(Structure::Y2025, province)
        .nth(nth)
        .unwrap()
        .code
        .clone()
}

#[test]
fn import_rejects_bad_rows_with_line_numbers_and_loads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let a = commune("01", 0);
    let file = dir.path().join("citizens.csv");
    std::fs::write(
        &file,
        format!(
            "\u{feff}personal_id,full_name,date_of_birth,gender,commune_code,household_id\n\
             001080000001,Nguyễn Văn Hòa,1980-03-02,M,{a},1\n\
             00108000000X,Bad Id,1980-03-02,M,{a},\n\
             001090000002,Trần Thị Lan,1990-02-30,F,{a},\n\
             001190000003,Lê Thị Mai,1990-01-01,F,99999,\n\
             001090000004,Phạm Văn Đức,1991-01-01,M,{a},\n\
             001080000001,Nguyễn Văn Hòa,1980-03-02,M,{a},1\n\
             001190000005,\"Đỗ Thị, Hạnh\",1990-01-01,F,{a},\n"
        ),
    )
    .unwrap();
    let out = dancu(
        dir.path(),
        &["import", "citizens", "--input", file.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("line 3: personal_id"), "{err}");
    assert!(err.contains("line 4: date_of_birth"), "{err}");
    assert!(err.contains("line 5: commune_code: '99999'"), "{err}");
    assert!(
        err.contains("line 6: personal_id"),
        "birth-year digits 90 vs 1991: {err}"
    );
    assert!(
        err.contains("line 7: personal_id: 001080000001 appears earlier"),
        "{err}"
    );
    assert!(err.contains("line 8: full_name"), "{err}");
    assert!(text(&out.stdout).contains("imported 1 citizens"));
    // Importing the same file again adds nothing: the good row is now a duplicate. Saved
    // with Windows line ends and a blank line after the header, its row is on line 3.
    let saved = std::fs::read_to_string(&file).unwrap();
    let (header, rows) = saved.split_once('\n').unwrap();
    let windows = format!("{header}\n\n{rows}").replace('\n', "\r\n");
    std::fs::write(&file, windows).unwrap();
    let again = dancu(
        dir.path(),
        &["import", "citizens", "--input", file.to_str().unwrap()],
        None,
    );
    assert!(
        text(&again.stderr).contains("line 3: personal_id: 001080000001 is already registered"),
        "{}",
        text(&again.stderr)
    );
    assert!(
        text(&again.stderr).contains("line 9: full_name"),
        "{}",
        text(&again.stderr)
    );
    assert!(text(&again.stdout).contains("imported 0 citizens"));
}

#[test]
fn legacy_encoded_files_are_converted_and_binary_files_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = commune("01", 0);
    let csv = format!(
        "personal_id,full_name,date_of_birth,gender,commune_code,household_id\n\
         001080000001,Nguyễn Văn Hòa,1980-03-02,M,{a},\n"
    );
    let vni = dir.path().join("vni.csv");
    std::fs::write(&vni, dancu_domain::legacy::encode_vni(&csv).unwrap()).unwrap();
    let out = dancu(
        dir.path(),
        &["import", "citizens", "--input", vni.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("VNI-Windows"));
    let export = dir.path().join("out.csv");
    let out = dancu(
        dir.path(),
        &["export", "citizens", "--output", export.to_str().unwrap()],
        None,
    );
    assert!(out.status.success());
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(
        exported
            .starts_with("personal_id,full_name,date_of_birth,gender,commune_code,household_id")
    );
    assert!(exported.contains("001080000001,Nguyễn Văn Hòa,1980-03-02,M,"));

    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41, 0x00, 0x42, 0x00]).unwrap();
    let out = dancu(
        dir.path(),
        &["import", "citizens", "--input", binary.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("dancu: "),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("UTF-8"));
}

#[test]
fn seed_check_and_readdress_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dancu(
        dir.path(),
        &["seed", "--citizens", "3000", "--rng-seed", "7"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = dancu(dir.path(), &["check"], None);
    assert!(out.status.success());
    let report = text(&out.stdout);
    for rule in [
        "malformed_personal_id",
        "gender_mismatch",
        "birth_year_mismatch",
        "household_without_head",
        "dangling_parent_reference",
    ] {
        let line = report
            .lines()
            .find(|l| l.starts_with(rule))
            .unwrap_or_else(|| panic!("{rule} missing:\n{report}"));
        assert_eq!(
            line.split_whitespace().nth(1),
            Some("0"),
            "seeded data is clean: {line}"
        );
    }
    // Merge the two most populated communes of the seed into a third.
    let export = dir.path().join("all.csv");
    dancu(
        dir.path(),
        &["export", "citizens", "--output", export.to_str().unwrap()],
        None,
    );
    let exported = std::fs::read_to_string(&export).unwrap();
    let first_commune = exported
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(4)
        .unwrap()
        .to_owned();
    let people_there = exported
        .lines()
        .filter(|l| l.split(',').nth(4) == Some(&first_commune))
        .count();
    let target = UnitCatalog::embedded()
        .communes(Structure::Y2025)
        .find(|c| c.code != first_commune)
        .unwrap()
        .code
        .clone();
    let mapping = dir.path().join("mapping.csv");
    std::fs::write(
        &mapping,
        format!("old_commune_code,new_commune_code\n{first_commune},{target}\n"),
    )
    .unwrap();
    let readdress = |mapping: &std::path::Path, more: &[&str]| {
        let mut args = vec![
            "readdress",
            "--mapping",
            mapping.to_str().unwrap(),
            "--effective-date",
            "2026-01-01",
        ];
        args.extend_from_slice(more);
        dancu(dir.path(), &args, None)
    };
    let out = readdress(&mapping, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("dry run: 1 units, {people_there} open residences"))
            || text(&out.stdout).contains("dry run")
    );
    let out = readdress(&mapping, &["--apply"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "apply without a legal basis is refused"
    );
    let out = readdress(&mapping, &["--apply", "--basis", "Nghị quyết 01/NQ-HĐND"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("{people_there} citizens")),
        "{}",
        text(&out.stdout)
    );
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "old_commune_code,new_commune_code\n00001x,00004\n").unwrap();
    let out = readdress(&bad, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("mapping line 2"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn user_add_validates_role_unit_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let add = |username: &str, role: &str, unit: &str, password: &str| {
        let out = dancu(
            dir.path(),
            &[
                "user",
                "add",
                "--username",
                username,
                "--role",
                role,
                "--unit",
                unit,
                "--password-stdin",
            ],
            Some(password),
        );
        (out.status.success(), text(&out.stderr))
    };
    let long = "sông Hồng chảy về biển\n";
    let (ok, err) = add("cb.motcua", "officer", "01", long);
    assert!(ok, "{err}");
    assert!(
        add("cb.motcua", "officer", "01", long)
            .1
            .contains("already exists")
    );
    assert!(add("x", "system", "01", long).1.contains("unknown role"));
    assert!(add("x", "officer", "999", long).1.contains("unknown unit"));
    assert!(
        add("x", "officer", "01", "short\n")
            .1
            .contains("at least 12")
    );
}

#[test]
fn audit_verify_names_the_first_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    for username in ["officer.a", "officer.b", "officer.c"] {
        let out = dancu(
            dir.path(),
            &[
                "user",
                "add",
                "--username",
                username,
                "--role",
                "officer",
                "--unit",
                "01",
                "--password-stdin",
            ],
            Some("sông Hồng chảy về biển\n"),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("audit-signing.key");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    }
    let out = dancu(dir.path(), &["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "3 entries checked, chain intact; signed checkpoints verified: 3; head file matches"
        ),
        "each command signs its head on exit: {stdout}"
    );

    let db = format!("sqlite://{}", dir.path().join("dancu.db").display());
    let store = dancu_store::Store::open(&db).unwrap();
    store
        .write(|tx| {
            tx.exec(
                "UPDATE audit_log SET actor = 'someone.else' WHERE id = 2",
                &[],
            )
        })
        .unwrap();
    let out = dancu(dir.path(), &["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("1 entries checked, chain broken at entry #2"),
        "{}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(err.contains("audit entry #2 edited"), "{err}");

    // Verification needs only the public key.
    std::fs::remove_file(dir.path().join("audit-signing.key")).unwrap();
    store
        .write(|tx| tx.exec("DELETE FROM audit_log WHERE id = 3", &[]))
        .unwrap();
    let out = dancu(dir.path(), &["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("audit entry #2 edited"),
        "still the first: {err}"
    );
}

/// A store of the versions that kept the audit log in the registry's file, written by the
/// application with its signed head: the next command moves the log to `dancu.audit.db`
/// and `dancu audit verify` still finds the chain, its checkpoint and head file intact.
#[test]
fn audit_verify_passes_after_the_log_moves_to_its_own_file() {
    use dancu_app::policy::{Actor, NATIONAL_UNIT, Role};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dancu.db");
    let url = format!("sqlite://{}", db.display());
    let store = dancu_store::testing::open_at_version(
        &url,
        dancu_store::testing::version_before_audit_file(),
    )
    .unwrap();
    let signer = dancu_app::audit::AuditSigner::load_or_create(
        &dir.path().join("audit-signing.key"),
        Some(dir.path().join("audit-head")),
    )
    .unwrap();
    let app = dancu_app::App::with_config(
        store,
        dancu_app::AppConfig {
            signer: Some(signer),
            ..Default::default()
        },
    );
    app.seed(&Actor::system("test"), 20, 1, &mut |_| {})
        .unwrap();
    let officer = Actor::new("officer.a", Role::Officer, NATIONAL_UNIT);
    let ids = app
        .store
        .read(|tx| tx.query("SELECT personal_id FROM citizens LIMIT 3", &[]))
        .unwrap();
    for row in ids {
        let id = dancu_domain::PersonalId::from_u64(row[0].as_i64().unwrap() as u64).unwrap();
        app.citizen(&officer, id)
            .unwrap()
            .release_blocking()
            .unwrap();
    }
    let in_main = app
        .store
        .read(|tx| {
            tx.query_i64(
                "SELECT COUNT(*) FROM main.sqlite_master WHERE name = 'audit_log'",
                &[],
            )
        })
        .unwrap();
    assert_eq!(in_main, 1, "the earlier layout");
    // Closing signs the head; wait for the writer thread to let the store go.
    let store = std::sync::Arc::downgrade(&app.store);
    drop(app);
    while store.upgrade().is_some() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // That layout had no audit file (opening it at that version attached an empty one).
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("dancu.audit.db{suffix}")));
    }

    let out = dancu(dir.path(), &["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("chain intact") && stdout.contains("head file matches"),
        "{stdout}"
    );
    assert!(dir.path().join("dancu.audit.db").exists());
}

#[test]
fn partner_add_prints_the_key_once_and_disable_enable_work() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = dancu(dir.path(), args, None);
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, out, err) = run(&[
        "partner",
        "add",
        "--name",
        "vietcombank",
        "--scopes",
        "verify,verify_batch",
        "--daily-quota",
        "5000",
        "--allow-ip",
        "203.0.113.0/24",
    ]);
    assert!(ok, "{err}");
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("api_key: "))
        .expect("an api_key line");
    assert!(key.starts_with("dcp_") && key.len() > 40);
    let (ok, _, err) = run(&[
        "partner",
        "add",
        "--name",
        "vietcombank",
        "--scope",
        "verify",
    ]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(&["partner", "add", "--name", "x", "--scope", "read_all"]);
    assert!(!ok && err.contains("unknown scope"), "{err}");
    assert!(
        run(&["partner", "disable", "--name", "vietcombank"])
            .1
            .contains("disabled")
    );
    assert!(
        run(&["partner", "enable", "--name", "vietcombank"])
            .1
            .contains("enabled")
    );
    assert!(!run(&["partner", "disable", "--name", "nobody"]).0);
}

/// Finding 7: login data must not travel unencrypted over a network.
#[test]
fn finding_7_serve_refuses_plain_http_on_a_network_address() {
    let dir = tempfile::tempdir().unwrap();
    let out = dancu(dir.path(), &["serve", "--listen", "0.0.0.0:0"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("refusing to serve plain HTTP"));
}

/// Starts `dancu serve` and waits for its "serving …" line.
fn start_serving(dir: &Path, args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dancu"))
        .arg("--data-dir")
        .arg(dir)
        .arg("serve")
        .args(args)
        .env_remove("DANCU_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let line = match lines.next() {
        Some(Ok(line)) => line,
        _ => {
            let out = child.wait_with_output().unwrap();
            panic!("serve did not start: {}", text(&out.stderr));
        }
    };
    // Keep reading so that the server's later lines never block on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, line)
}

/// SIGTERM: the server stops accepting, finishes, and exits 0.
fn stop(mut child: std::process::Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn finding_7_serve_uses_tls_on_a_network_address() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let (child, line) = start_serving(
        dir.path(),
        &[
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    assert!(line.starts_with("serving https://0.0.0.0:"), "{line}");
    stop(child);

    // A key that is not one is refused before anything listens.
    let out = dancu(
        dir.path(),
        &[
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            cert_file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cert.pem"),
        "{}",
        text(&out.stderr)
    );

    // --tls-cert needs --tls-key.
    let out = dancu(
        dir.path(),
        &["serve", "--tls-cert", cert_file.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn serve_honours_insecure_http_behind_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let (child, line) = start_serving(dir.path(), &["--listen", "0.0.0.0:0", "--insecure-http"]);
    assert!(line.starts_with("serving http://0.0.0.0:"), "{line}");
    stop(child);
}

/// The server's heap is never backed by transparent huge pages: a first touch of one
/// stalled the audit writer, and every read waiting on it, for tens of milliseconds.
#[cfg(target_os = "linux")]
#[test]
fn serve_runs_without_transparent_huge_pages() {
    let huge_kb = |pid: u32| -> Option<u64> {
        std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("AnonHugePages:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    };
    let dir = tempfile::tempdir().unwrap();
    let (child, line) = start_serving(dir.path(), &["--listen", "127.0.0.1:0"]);
    let addr = line
        .trim_start_matches("serving http://")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    // Some work for the heap.
    for _ in 0..50 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(
            &mut s,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        std::io::Read::read_to_end(&mut s, &mut Vec::new()).unwrap();
    }
    let huge = huge_kb(child.id());
    stop(child);
    // Kernels without huge pages, or that do not report them, have nothing to check.
    assert!(huge.is_none_or(|kb| kb == 0), "{huge:?} kB in huge pages");
}
