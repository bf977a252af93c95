//! `dancu link`: files in, one decision per record out, bad rows reported per row.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use dancu_domain::units::{Structure, UnitCatalog};

const FAMILIES: [&str; 6] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Võ"];
const MIDDLES: [&str; 4] = ["Văn", "Đức", "Minh", "Quang"];
const GIVENS: [&str; 10] = [
    "Hùng", "Dũng", "Nam", "Hải", "Long", "Sơn", "Tuấn", "Hòa", "Khánh", "Phúc",
];
const MOTHERS: [&str; 5] = ["Lan", "Mai", "Hoa", "Cúc", "Thủy"];

fn communes() -> Vec<String> {
    UnitCatalog::embedded()
        .communes(Structure::Y2025)
        .take(50)
        .map(|u| u.code.clone())
        .collect()
}

/// 241 persons; `T1` (Dũng) has a twin brother who is not in the registry.
fn registry(dir: &Path) -> String {
    let communes = communes();
    let mut s = String::from(
        "personal_id,full_name,date_of_birth,gender,commune_code,father_name,mother_name\n",
    );
    s.push_str(&format!(
        "T1,Nguyễn Văn Dũng,2001-03-09,M,{},Nguyễn Văn Bình,Lê Thị Thanh\n",
        communes[0]
    ));
    for i in 0..240usize {
        let family = FAMILIES[i % 6];
        let _ = writeln!(
            s,
            "P{i},{family} {} {},{}-{:02}-{:02},M,{},{family} Văn {},{} Thị {}",
            MIDDLES[i / 6 % 4],
            GIVENS[i / 24 % 10],
            1950 + i % 60,
            1 + i % 12,
            1 + i % 28,
            communes[i % 50],
            GIVENS[(i + 3) % 10],
            FAMILIES[(i + 1) % 6],
            MOTHERS[i % 5],
        );
    }
    let path = dir.join("registry.csv");
    std::fs::write(&path, s).unwrap();
    path.display().to_string()
}

#[test]
fn link_decides_every_record_and_reports_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let c0 = &communes()[0];
    // P7: Trần Đức Hùng, 1957-08-08, commune 7, father Trần Văn Hùng, mother Lê Thị Hoa.
    let c7 = &communes()[7];
    let old_of_c0 = UnitCatalog::embedded().old_communes_of(c0)[0].to_owned();
    let records = format!(
        "record_id,full_name,date_of_birth,gender,commune_code,father_name,mother_name\n\
         twin-in-registry,NGUYEN VAN DUNG,2001-09-03,M,{old_of_c0},Nguyen Van Binh,Lê Thị Thanh\n\
         twin-not-in-registry,Nguyễn Văn Tuấn,2001-03-09,M,{c0},Nguyễn Văn Bình,Lê Thị Thanh\n\
         twin-with-a-name-alike,Nguyễn Văn Hùng,2001-03-09,M,{c0},Nguyễn Văn Bình,Lê Thị Thanh\n\
         typo-and-year-only,Trần Đức Hunq,1957,M,{c7},Tran Van Hung,LÊ THỊ HOA\n\
         stranger,Đinh Công Tráng,1980-05-05,M,{c7},Đinh Công Mão,Bùi Thị Xuân\n\
         empty-name,,1990-01-01,M,{c0},,\n\
         impossible-date,Lê Văn An,2019-02-30,M,{c0},,\n\
         unknown-commune,Lê Văn An,1990-01-01,M,99999,,\n"
    );
    let rec_path = dir.path().join("records.csv");
    std::fs::write(&rec_path, records).unwrap();
    let out_path = dir.path().join("out.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_dancu"))
        .args(["link", "--registry", &registry, "--records"])
        .arg(&rec_path)
        .arg("--output")
        .arg(&out_path)
        .arg("--timings")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("8 records: 2 link, 1 review, 2 new, 3 invalid"),
        "{stdout}"
    );
    // Every step's wall time, in order.
    let steps: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_suffix(" s")?.split_once(": "))
        .map(|(step, secs)| {
            assert!(secs.parse::<f64>().is_ok(), "{l}", l = stderr);
            step
        })
        .collect();
    assert_eq!(
        steps,
        ["read registry", "index", "fit", "link records"],
        "{stderr}"
    );

    let text = std::fs::read_to_string(&out_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("record_id,personal_id,score,decision,explanation")
    );
    let rows: HashMap<String, Vec<String>> = csv_rows(&text);
    let decision = |id: &str| (rows[id][1].as_str(), rows[id][3].as_str());
    assert_eq!(decision("twin-in-registry"), ("T1", "link"));
    assert!(rows["twin-in-registry"][4].contains("dob=swapped_day_month"));
    assert_eq!(decision("typo-and-year-only"), ("P7", "link"));
    assert!(rows["typo-and-year-only"][4].contains("given=close"));
    // Same parents, commune, family name and birth date: still not merged.
    assert_eq!(decision("twin-not-in-registry"), ("", "new"));
    assert!(rows["twin-not-in-registry"][4].contains("sibling_rule"));
    // Hùng and Dũng differ by one letter: a typo or the twin; a person decides.
    assert_eq!(decision("twin-with-a-name-alike"), ("T1", "review"));
    assert!(rows["twin-with-a-name-alike"][4].contains("other_name_alike"));
    assert_eq!(decision("stranger"), ("", "new"));
    for (id, why) in [
        ("empty-name", "full_name is empty"),
        ("impossible-date", "date_of_birth"),
        ("unknown-commune", "99999"),
    ] {
        assert_eq!(decision(id), ("", "invalid"), "{id}");
        assert!(rows[id][4].contains(why), "{id}: {}", rows[id][4]);
    }
    let order: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(order[0], "twin-in-registry", "output keeps input order");
    assert_eq!(order[7], "unknown-commune");
}

#[test]
fn link_fails_with_a_reason_on_a_missing_column() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let rec_path = dir.path().join("records.csv");
    std::fs::write(&rec_path, "record_id,full_name\nR1,Lê Văn An\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dancu"))
        .args(["link", "--registry", &registry, "--records"])
        .arg(&rec_path)
        .arg("--output")
        .arg(dir.path().join("out.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing column \"date_of_birth\""),
        "{stderr}"
    );
}

/// Rows by record id.
fn csv_rows(text: &str) -> HashMap<String, Vec<String>> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| {
            let fields: Vec<String> = r.unwrap().iter().map(str::to_owned).collect();
            (fields[0].clone(), fields)
        })
        .collect()
}
