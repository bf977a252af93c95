//! Verification per the contract, field by field; the batch (every input spelling) and
//! the single call agree on every request.

use std::path::Path;

use dancu_app::verify::{
    Agreement, BatchOptions, Field, FieldResult, Verdict, Verification, VerifyRequest,
};
use dancu_app::{Actor, App};
use dancu_domain::legacy::{encode_tcvn3, encode_vni};
use dancu_domain::{Gender, PersonalId};
use dancu_store::testing::{TestStore, sample_communes};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

/// Registered people: (personal ID, name as imported, date of birth, gender, old ID).
fn people() -> Vec<(PersonalId, &'static str, &'static str, Gender, &'static str)> {
    let id = |g, y, s| PersonalId::from_parts(1, g, y, s).unwrap();
    vec![
        (
            id(Gender::Female, 1975, 1),
            "Nguyễn Thị Hoà",
            "1975-03-02",
            Gender::Female,
            "012345678",
        ),
        (
            id(Gender::Male, 1960, 2),
            "Trần Văn Đức",
            "1960",
            Gender::Male,
            "",
        ),
        (
            id(Gender::Male, 1990, 3),
            "Lê Văn Thuỷ",
            "1990-12-05",
            Gender::Male,
            "111111111",
        ),
        (
            id(Gender::Female, 1990, 4),
            "Phạm Thị Thủy",
            "1990-05-12",
            Gender::Female,
            "111111111",
        ),
        (
            id(Gender::Male, 2001, 5),
            "Hoàng Quốc Việt",
            "2001-07-30",
            Gender::Male,
            "022222222",
        ),
    ]
}

fn app_with_people(t: &TestStore) -> App {
    let app = App::open(&t.url).unwrap();
    let (commune, _, _) = sample_communes();
    let mut csv = String::from(
        "personal_id,full_name,date_of_birth,gender,commune_code,household_id,old_id_number\n",
    );
    for (id, name, dob, g, old) in people() {
        csv.push_str(&format!(
            "{id},{name},{dob},{},{commune},,{old}\n",
            g.code()
        ));
    }
    let report = app
        .import_citizens(&Actor::system("import"), csv.as_bytes())
        .unwrap();
    assert_eq!(report.imported, 5, "{:?}", report.rejected);
    app
}

fn request(id: &str, name: &str, dob: &str, gender: &str) -> VerifyRequest {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    VerifyRequest {
        personal_id: id.into(),
        full_name: opt(name),
        date_of_birth: opt(dob),
        gender: opt(gender),
    }
}

fn verify(app: &App, agreement: Agreement, r: &VerifyRequest) -> Verification {
    app.verify(&Actor::system("test"), agreement, r)
        .unwrap()
        .release_blocking()
        .unwrap()
}

use FieldResult::{Match as M, Mismatch as X, NotProvided as N, Partial as P};

#[test]
fn field_semantics_case_by_case() {
    let t = TestStore::sqlite();
    let app = app_with_people(&t);
    let hoa = people()[0].0.to_string();
    let duc = people()[1].0.to_string();
    let nfd: String = "Nguyễn Thị Hoà".nfd().collect();
    // (request, verdict, [name, date, gender], findings)
    let cases: Vec<(VerifyRequest, Verdict, [FieldResult; 3], &[&str])> = vec![
        (
            request(&hoa, "Nguyễn Thị Hoà", "1975-03-02", "F"),
            Verdict::Match,
            [M, M, M],
            &[],
        ),
        (request(&hoa, &nfd, "", ""), Verdict::Match, [M, N, N], &[]),
        // Old and new tone placement are the same name.
        (
            request(&hoa, "Nguyễn Thị Hòa", "", ""),
            Verdict::Match,
            [M, N, N],
            &[],
        ),
        (
            request(&hoa, "NGUYỄN THỊ HOÀ", "", ""),
            Verdict::Match,
            [M, N, N],
            &[],
        ),
        (
            request(&hoa, "  nguyễn   thị  hoà ", "", ""),
            Verdict::Match,
            [M, N, N],
            &[],
        ),
        (
            request(&hoa, "Nguyen Thi Hoa", "", ""),
            Verdict::Mismatch,
            [P, N, N],
            &["full_name.missing_diacritics"],
        ),
        (
            request(&hoa, "Nguyễn Thị Hóa", "", ""),
            Verdict::Mismatch,
            [P, N, N],
            &["full_name.different_diacritics"],
        ),
        (
            request(&hoa, "Hoà Nguyễn Thị", "", ""),
            Verdict::Mismatch,
            [X, N, N],
            &["full_name.word_order"],
        ),
        (
            request(&hoa, "Nguyễn Thị Hoa Lan", "", ""),
            Verdict::Mismatch,
            [X, N, N],
            &["full_name.different_name"],
        ),
        (
            request(&hoa, "", "02/03/1975", ""),
            Verdict::Match,
            [N, M, N],
            &[],
        ),
        (
            request(&hoa, "", "1975", ""),
            Verdict::Mismatch,
            [N, P, N],
            &["date_of_birth.less_precise"],
        ),
        (
            request(&duc, "", "1960-05-01", ""),
            Verdict::Mismatch,
            [N, P, N],
            &["date_of_birth.registry_less_precise"],
        ),
        (
            request(&hoa, "", "1975-02-03", ""),
            Verdict::Mismatch,
            [N, X, N],
            &["date_of_birth.swapped_day_month"],
        ),
        (
            request(&hoa, "", "1976-03-02", ""),
            Verdict::Mismatch,
            [N, X, N],
            &["date_of_birth.different_year"],
        ),
        (
            request(&hoa, "", "", "M"),
            Verdict::Mismatch,
            [N, N, X],
            &["gender.different"],
        ),
        (request(&hoa, "", "", ""), Verdict::Match, [N, N, N], &[]),
        // Old 9-digit ID: resolves to the person it is recorded for.
        (
            request("012345678", "Nguyễn Thị Hoà", "1975-03-02", "F"),
            Verdict::Match,
            [M, M, M],
            &["personal_id.old_id_number"],
        ),
    ];
    for (req, verdict, fields, findings) in &cases {
        let v = verify(&app, Agreement::default(), req);
        assert_eq!(v.verdict, *verdict, "{req:?} → {v:?}");
        let got = Field::ALL.map(|f| v.fields.get(f).unwrap());
        assert_eq!(got, *fields, "{req:?}");
        assert_eq!(v.findings, *findings, "{req:?}");
        assert_eq!(v.registry, None, "the default agreement returns nothing");
    }
}

#[test]
fn unknown_malformed_and_ambiguous_ids() {
    let t = TestStore::sqlite();
    let app = app_with_people(&t);
    let unknown = PersonalId::from_parts(1, Gender::Male, 1980, 999_999).unwrap();
    let cases = [
        (unknown.to_string(), Verdict::NotFound, None),
        ("099999999".to_owned(), Verdict::NotFound, None),
        (
            "12345".into(),
            Verdict::Invalid,
            Some("must have 12 digits"),
        ),
        (
            "00119000000A".into(),
            Verdict::Invalid,
            Some("non-digit 'A'"),
        ),
        ("999190000001".into(), Verdict::Invalid, Some("province")),
        ("".into(), Verdict::Invalid, Some("empty")),
        ("111111111".into(), Verdict::Invalid, Some("several people")),
    ];
    for (id, verdict, reason) in cases {
        let v = verify(
            &app,
            Agreement::default(),
            &request(&id, "Nguyễn Thị Hoà", "", ""),
        );
        assert_eq!(v.verdict, verdict, "{id}: {v:?}");
        assert_eq!(v.fields.full_name, None, "nothing compared for {id}");
        match reason {
            Some(r) => assert!(v.reason.as_deref().unwrap().contains(r), "{id}: {v:?}"),
            None => assert_eq!(v.reason, None),
        }
    }
    let hoa = people()[0].0.to_string();
    for (req, reason) in [
        (request(&hoa, "Nguyễn 3", "", ""), "full_name:"),
        (request(&hoa, "", "1975-02-30", ""), "date_of_birth:"),
        (request(&hoa, "", "", "X"), "gender:"),
    ] {
        let v = verify(&app, Agreement::default(), &req);
        assert_eq!(v.verdict, Verdict::Invalid);
        assert!(v.reason.as_deref().unwrap().starts_with(reason), "{v:?}");
    }
}

#[test]
fn agreements_return_only_the_named_canonical_values_and_every_call_is_audited() {
    let t = TestStore::sqlite();
    let app = app_with_people(&t);
    let hoa = people()[0].0.to_string();
    let before = app.store.audit_count().unwrap();
    let req = request(&hoa, "Nguyen Thi Hoa", "", "");
    let v = verify(&app, Agreement::parse("full_name").unwrap(), &req);
    let registry = v.registry.unwrap();
    assert_eq!(registry.full_name.as_deref(), Some("Nguyễn Thị Hòa"));
    assert_eq!((registry.date_of_birth, registry.gender), (None, None));
    let v = verify(&app, Agreement::default(), &request("12345", "", "", ""));
    assert_eq!(v.registry, None);
    assert!(Agreement::parse("address").is_err());
    assert_eq!(app.store.audit_count().unwrap(), before + 2);
    let entries = app.store.audit_for_person(people()[0].0, 10).unwrap();
    assert_eq!(entries[0].action, "verify");
    assert_eq!(entries[0].outcome, "mismatch");
}

/// Runs a batch over `input` and returns the output rows (header first) as fields.
fn run_batch(app: &App, input: &Path, output: &Path, options: &BatchOptions) -> Vec<Vec<String>> {
    let report = app
        .verify_batch(
            &Actor::system("test"),
            Agreement::parse("full_name").unwrap(),
            input,
            output,
            options,
            &|_| {},
        )
        .unwrap();
    let job = app.store.verify_job(report.job_id).unwrap().unwrap();
    assert_eq!(job.status, dancu_store::JOB_DONE);
    assert_eq!(job.checkpoint.rows_done, report.summary.rows);
    read_csv(output)
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// The output row the batch must write for a single call's result.
fn expected_row(reference: &str, line: u64, v: &Verification) -> Vec<String> {
    let mut row = vec![reference.to_owned(), v.verdict.as_str().to_owned()];
    row.extend(Field::ALL.map(|f| {
        v.fields
            .get(f)
            .map_or(String::new(), |r| r.as_str().to_owned())
    }));
    row.push(line.to_string());
    row.push(v.reason.clone().unwrap_or_default());
    row.push(v.findings.join(";"));
    row.push(
        v.registry
            .as_ref()
            .and_then(|r| r.full_name.clone())
            .unwrap_or_default(),
    );
    row
}

fn csv_file(requests: &[VerifyRequest]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["ref", "personal_id", "full_name", "date_of_birth", "gender"])
        .unwrap();
    for (i, r) in requests.iter().enumerate() {
        let f = |v: &Option<String>| v.clone().unwrap_or_default();
        w.write_record([
            format!("r{i}"),
            r.personal_id.clone(),
            f(&r.full_name),
            f(&r.date_of_birth),
            f(&r.gender),
        ])
        .unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

fn jsonl_file(requests: &[VerifyRequest]) -> String {
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            serde_json::json!({
                "ref": format!("r{i}"),
                "personal_id": r.personal_id,
                "full_name": r.full_name,
                "date_of_birth": r.date_of_birth,
                "gender": r.gender,
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// The name with its tone marks placed by the other convention (old "oà", "uỷ" vs new
/// "òa", "ủy").
fn other_tone_placement(name: &str) -> String {
    const PAIRS: [(&str, &str); 6] = [
        ("oà", "òa"),
        ("oá", "óa"),
        ("oả", "ỏa"),
        ("uỷ", "ủy"),
        ("uý", "úy"),
        ("uỳ", "ùy"),
    ];
    let mut out = name.nfc().collect::<String>();
    for (old, new) in PAIRS {
        if out.contains(old) {
            out = out.replace(old, new);
        } else if out.contains(new) {
            out = out.replace(new, old);
        }
    }
    out
}

/// Spellings partners send, built from the registered people.
fn request_strategy() -> impl Strategy<Value = VerifyRequest> {
    let n = people().len();
    (0..n, 0..8usize, 0..6usize, 0..3usize, 0..5usize).prop_map(
        move |(who, name_kind, date_kind, gender_kind, id_kind)| {
            let (id, name, dob, gender, old) = people()[who];
            let other = people()[(who + 1) % n];
            let name = match name_kind {
                0 => name.to_owned(),
                1 => name.nfd().collect(),
                2 => name.to_uppercase(),
                3 => name
                    .nfd()
                    .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
                    .collect::<String>()
                    .replace('Đ', "D"),
                4 => other.1.to_owned(),
                // The other tone-mark convention ("Hoà" ↔ "Hòa", "Thuỷ" ↔ "Thủy"),
                // lower case with runs of spaces.
                5 => format!(
                    " {} ",
                    other_tone_placement(name).to_lowercase().replace(' ', "  ")
                ),
                // The other convention in NFD.
                6 => other_tone_placement(name).nfd().collect(),
                _ => String::new(),
            };
            let date = match date_kind {
                0 => dob.to_owned(),
                1 => dob[..4].to_owned(),
                2 if dob.len() == 10 => format!("{}/{}/{}", &dob[8..], &dob[5..7], &dob[..4]),
                3 if dob.len() == 10 => format!("{}-{}-{}", &dob[..4], &dob[8..], &dob[5..7]),
                4 => "31/02/1990".to_owned(),
                _ => String::new(),
            };
            let gender = match gender_kind {
                0 => gender.code(),
                1 => other.3.code(),
                _ => "",
            };
            let id = match id_kind {
                0 | 1 => id.to_string(),
                2 if !old.is_empty() => old.to_owned(),
                3 => PersonalId::from_parts(1, Gender::Male, 1985, 777)
                    .unwrap()
                    .to_string(),
                _ => id.to_string()[..11].to_owned(),
            };
            request(&id, &name, &date, gender)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the requests and however the file is spelled (CSV with LF or CRLF line
    /// ends, or JSONL; UTF-8, BOM, TCVN3, VNI; blank lines between rows; any chunk
    /// size), each output row is what the single call answers, with its true line.
    #[test]
    fn the_batch_and_the_single_call_always_agree(
        requests in proptest::collection::vec(request_strategy(), 1..40),
        chunk_rows in 1..8usize,
        spelling in 0..6usize,
        blank_before in proptest::collection::vec(0..3usize, 40),
    ) {
        let t = TestStore::sqlite();
        let app = app_with_people(&t);
        let dir = tempfile::tempdir().unwrap();
        let agreement = Agreement::parse("full_name").unwrap();
        let singles: Vec<Verification> =
            requests.iter().map(|r| verify(&app, agreement, r)).collect();
        // JSONL has no header line.
        let header_lines = usize::from(spelling != 4);
        // Blank lines before each row (none before the header).
        let with_blank_lines = |text: String| -> String {
            text.split_inclusive('\n')
                .enumerate()
                .map(|(i, line)| {
                    let row = i.wrapping_sub(header_lines);
                    "\n".repeat(blank_before.get(row).copied().unwrap_or(0)) + line
                })
                .collect()
        };
        let csv = with_blank_lines(csv_file(&requests).replace("\r\n", "\n"));
        let bytes = match spelling {
            0 => csv.into_bytes(),
            5 => csv.replace('\n', "\r\n").into_bytes(),
            1 => [b"\xEF\xBB\xBF".as_slice(), csv.as_bytes()].concat(),
            2 => encode_tcvn3(&csv).unwrap(),
            3 => encode_vni(&csv).unwrap(),
            _ => with_blank_lines(jsonl_file(&requests)).into_bytes(),
        };
        let input = dir.path().join("in");
        std::fs::write(&input, bytes).unwrap();
        let options = BatchOptions { chunk_rows, checkpoint_rows: 5, workers: 2 };
        let rows = run_batch(&app, &input, &dir.path().join("out.csv"), &options);
        prop_assert_eq!(rows.len(), requests.len() + 1);
        for (i, v) in singles.iter().enumerate() {
            let line = header_lines + i + 1 + blank_before[..=i].iter().sum::<usize>();
            prop_assert_eq!(&rows[i + 1], &expected_row(&format!("r{i}"), line as u64, v));
        }
    }
}

#[test]
fn bad_rows_are_invalid_with_their_line_and_never_stop_the_job() {
    let t = TestStore::sqlite();
    let app = app_with_people(&t);
    let dir = tempfile::tempdir().unwrap();
    let hoa = people()[0].0;
    let input = dir.path().join("in.csv");
    let mut bytes = format!(
        "ref,personal_id,full_name,date_of_birth,gender\n\
         a,{hoa},Nguyễn Thị Hoà,1975-03-02,F\n\
         b,12345,,,\n\
         c,{hoa},,1975-13-01,\n"
    )
    .into_bytes();
    bytes.extend_from_slice(b"d,");
    bytes.extend_from_slice(hoa.to_string().as_bytes());
    bytes.extend_from_slice(b",Nguy\xFFn,,\n");
    bytes.extend_from_slice(format!("e,{hoa},,,F\n").as_bytes());
    std::fs::write(&input, bytes).unwrap();
    let output = dir.path().join("out.csv");
    let rows = run_batch(&app, &input, &output, &BatchOptions::default());
    let got: Vec<(&str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[5].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("a", "match", "2"),
            ("b", "invalid", "3"),
            ("c", "invalid", "4"),
            ("d", "invalid", "5"),
            ("e", "match", "6"),
        ]
    );
    assert!(rows[3][6].contains("month 13"), "{:?}", rows[3]);
    assert!(rows[4][6].contains("not valid UTF-8"), "{:?}", rows[4]);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.csv.summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["rows"], 5);
    assert_eq!(summary["verdicts"]["invalid"], 3);
    assert_eq!(summary["findings"]["invalid.date_of_birth"], 1);
}

/// Two runs of one job never write its output at once: while one holds the output (the
/// lock goes with its process), another is refused and changes nothing, not even when
/// its terms would abandon the job (another agreement).
#[test]
fn a_second_run_of_a_running_job_is_refused() {
    let r = SmallRun::new();
    assert!(r.killed_at("full_name", Some(10)).is_err());
    let job = r.last_job();
    let before = std::fs::read(&r.output).unwrap();
    // Another process resumes the job: it holds the output.
    let held = std::fs::OpenOptions::new()
        .append(true)
        .open(&r.output)
        .unwrap();
    held.lock().unwrap();
    for agreement in ["full_name", ""] {
        let refused = r.run(agreement, &|_| {});
        assert!(
            matches!(&refused, Err(dancu_app::Error::Conflict(m)) if m.contains("another run")),
            "{refused:?}"
        );
    }
    assert_eq!(std::fs::read(&r.output).unwrap(), before);
    let stored = r.app.store.verify_job(job).unwrap().unwrap();
    assert_eq!(stored.status, dancu_store::JOB_RUNNING);
    drop(held);
    let resumed = r.killed_at("full_name", None).unwrap();
    assert_eq!(
        (resumed.job_id, resumed.resumed_at_row),
        (job, stored.checkpoint.rows_done)
    );
    assert_eq!(read_csv(&r.output).len(), 41);
}

/// A `verify-batch` run of 40 rows naming the five people in turn, checkpointed every 4
/// rows (chunks of 2), on a store of its own.
struct SmallRun {
    app: App,
    input: std::path::PathBuf,
    output: std::path::PathBuf,
    options: BatchOptions,
    _dir: tempfile::TempDir,
    _store: TestStore,
}

impl SmallRun {
    fn new() -> SmallRun {
        let store = TestStore::sqlite();
        let app = app_with_people(&store);
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
        let p = people();
        let requests: Vec<_> = (0..40)
            .map(|i| request(&p[i % 5].0.to_string(), p[i % 5].1, "", ""))
            .collect();
        std::fs::write(&input, csv_file(&requests)).unwrap();
        let options = BatchOptions {
            chunk_rows: 2,
            checkpoint_rows: 4,
            workers: 1,
        };
        SmallRun {
            app,
            input,
            output,
            options,
            _dir: dir,
            _store: store,
        }
    }

    /// A run under `agreement`, calling `progress`.
    fn run(
        &self,
        agreement: &str,
        progress: &(dyn Fn(dancu_app::verify::Progress) + Sync),
    ) -> Result<dancu_app::verify::BatchReport, dancu_app::Error> {
        self.app.verify_batch(
            &Actor::system("test"),
            Agreement::parse(agreement).unwrap(),
            &self.input,
            &self.output,
            &self.options,
            progress,
        )
    }

    /// A run under `agreement`, killed (a panic, as a crash leaves it: rows past the last
    /// checkpoint on disk) once `kill_at` rows are written.
    fn killed_at(
        &self,
        agreement: &str,
        kill_at: Option<u64>,
    ) -> std::thread::Result<dancu_app::verify::BatchReport> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run(agreement, &|progress| {
                assert!(kill_at.is_none_or(|k| progress.rows < k), "killed")
            })
            .unwrap()
        }))
    }

    /// The id of the last job.
    fn last_job(&self) -> i64 {
        self.app
            .store
            .read(|tx| tx.query_i64("SELECT MAX(id) FROM verify_jobs", &[]))
            .unwrap()
    }
}

/// A run that fails leaves no row past its last recorded checkpoint on disk: those rows
/// have no audit entry yet (and may hold registry values the agreement returns).
#[test]
fn a_failed_run_cuts_its_output_back_to_the_recorded_checkpoint() {
    let r = SmallRun::new();
    // The job is failed under the run (as by another process) once rows are written past
    // a checkpoint: its next checkpoint cannot be recorded.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let outcome = r.run("full_name", &|progress| {
        if progress.rows >= 6 && !failed.swap(true, std::sync::atomic::Ordering::Relaxed) {
            r.app
                .store
                .fail_verify_job(r.last_job(), "stopped by the test")
                .unwrap();
        }
    });
    assert!(
        matches!(outcome, Err(dancu_app::Error::Conflict(_))),
        "{outcome:?}"
    );
    let job = r.app.store.verify_job(r.last_job()).unwrap().unwrap();
    let written = std::fs::read(&r.output).unwrap();
    assert_eq!(written.len() as u64, job.checkpoint.output_offset);
    // The header and the recorded rows (nothing at all if no checkpoint was recorded).
    let recorded_lines = match job.checkpoint.rows_done {
        0 => 0,
        rows => rows + 1,
    };
    assert_eq!(read_csv(&r.output).len() as u64, recorded_lines);
    assert!(job.checkpoint.rows_done < 40);
}

/// A killed run resumes only under the agreement it started with: under another, the
/// output's columns would change in the middle of the file, so it is a new run.
#[test]
fn a_run_resumes_only_under_the_agreement_it_started_with() {
    let r = SmallRun::new();
    let whole = |header: &dyn Fn(&[String]) -> bool| {
        let rows = read_csv(&r.output);
        assert_eq!(rows.len(), 41);
        assert!(rows.iter().all(|row| row.len() == rows[0].len()));
        assert!(header(&rows[0]), "{:?}", rows[0]);
    };
    assert!(r.killed_at("full_name", Some(10)).is_err());
    assert_eq!(r.killed_at("", None).unwrap().resumed_at_row, 0);
    whole(&|h| !h.iter().any(|c| c.starts_with("registry_")));
    // The same agreement resumes.
    assert!(r.killed_at("full_name", Some(10)).is_err());
    let resumed = r.killed_at("full_name", None).unwrap();
    assert!(resumed.resumed_at_row >= 8, "{}", resumed.resumed_at_row);
    whole(&|h| h.iter().any(|c| c == "registry_full_name"));
}

/// The citizen's data tracker finds every person a batch read, with the verdict for them,
/// though the batch writes one chained entry per chunk rather than one per row.
#[test]
fn the_tracker_finds_every_person_a_batch_read() {
    let t = TestStore::sqlite();
    let app = app_with_people(&t);
    let dir = tempfile::tempdir().unwrap();
    let p = people();
    let id = |i: usize| p[i].0.to_string();
    let requests = [
        request(&id(0), p[0].1, p[0].2, ""),
        request(&id(1), "Trần Văn Đúc", "", ""),
        request(&id(4), "Hoang Quoc Viet", "", ""),
        request(&id(3)[..11], "", "", ""),
    ];
    let input = dir.path().join("in.csv");
    std::fs::write(&input, csv_file(&requests)).unwrap();
    let options = BatchOptions {
        chunk_rows: 2,
        checkpoint_rows: 2,
        workers: 2,
    };
    run_batch(&app, &input, &dir.path().join("out.csv"), &options);
    for (who, verdict) in [(0, "match"), (1, "mismatch"), (4, "mismatch")] {
        let seen = app.store.audit_for_person(p[who].0, 10).unwrap();
        let e = &seen[0];
        assert_eq!(
            (e.action.as_str(), e.outcome.as_str(), e.purpose.as_deref()),
            ("verify.batch", verdict, Some("verification")),
            "{seen:?}"
        );
        assert!(e.detail.as_deref().unwrap().starts_with("job "), "{e:?}");
    }
    for unread in [2, 3] {
        assert!(
            app.store
                .audit_for_person(p[unread].0, 10)
                .unwrap()
                .is_empty(),
            "person {unread} was not read"
        );
    }
}

#[test]
fn the_batch_runs_on_postgresql() {
    let t = TestStore::postgres();
    let app = app_with_people(&t);
    let dir = tempfile::tempdir().unwrap();
    let requests: Vec<VerifyRequest> = people()
        .into_iter()
        .map(|(id, name, dob, g, _)| request(&id.to_string(), name, dob, g.code()))
        .chain([request("012345678", "", "", "")])
        .collect();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, csv_file(&requests)).unwrap();
    let rows = run_batch(
        &app,
        &input,
        &dir.path().join("out.csv"),
        &BatchOptions::default(),
    );
    let verdicts: Vec<&str> = rows[1..].iter().map(|r| r[1].as_str()).collect();
    assert_eq!(verdicts, ["match"; 6]);
    for (id, ..) in people() {
        let seen = app.store.audit_for_person(id, 10).unwrap();
        assert_eq!(
            (seen[0].action.as_str(), seen[0].outcome.as_str()),
            ("verify.batch", "match")
        );
    }
}
