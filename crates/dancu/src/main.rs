//! `dancu`: the one binary. Parses the command line and calls `dancu-app` or
//! `dancu-server`; no business rule lives here.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use dancu_app::audit::AuditSigner;
use dancu_app::partners::PartnerTerms;
use dancu_app::readdress::MappingSource;
use dancu_app::verify::{Agreement, BatchOptions, Field, FieldResult, Verdict};
use dancu_app::{Actor, App, Role};
use dancu_domain::units::Structure;

/// mimalloc, which also replaces `malloc` for SQLite (the `override` feature): glibc's
/// allocator took a fifth of the CPU of a seed and of a batch verification.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "dancu", version, about = "Population registry of Đề án 06")]
struct Cli {
    /// Directory of the embedded store (SQLite file) and file blobs.
    #[arg(
        long,
        env = "DANCU_DATA_DIR",
        default_value = "./dancu-data",
        global = true
    )]
    data_dir: PathBuf,
    /// sqlite://PATH or postgres://…; overrides the data dir's database.
    #[arg(long, env = "DANCU_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Ed25519 key that signs the audit chain's checkpoints (created, owner-only, on first
    /// use; its public half is KEY.pub). Default: DATA_DIR/audit-signing.key.
    #[arg(long, env = "DANCU_AUDIT_KEY_FILE", global = true)]
    audit_key_file: Option<PathBuf>,
    /// Where page scans' bytes go: a directory, or s3://BUCKET[/PREFIX] with the endpoint,
    /// region and credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY (never on the command line). Default: DATA_DIR/blobs.
    #[arg(long, env = "DANCU_BLOB_STORE", global = true)]
    blob_store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates or migrates the store.
    Init,
    /// Adds N synthetic citizens in households with residences in real communes.
    Seed {
        #[arg(long)]
        citizens: u64,
        #[arg(long, default_value_t = 1)]
        rng_seed: u64,
    },
    /// Imports records from a file.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Exports records to a file.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Verifies a partner file (CSV or JSONL) against the registry: one result row per
    /// input row, in order, and a summary. A killed run restarted with the same
    /// arguments resumes at its last checkpoint.
    VerifyBatch {
        /// `ref,personal_id,full_name,date_of_birth,gender` as CSV, or JSON lines.
        #[arg(long)]
        input: PathBuf,
        /// CSV `ref,verdict,full_name,date_of_birth,gender,line,reason,findings`
        /// (JSON lines if it ends in .jsonl); the summary goes to OUTPUT.summary.json.
        #[arg(long)]
        output: PathBuf,
        /// Fields whose registry value the partner's data-sharing agreement allows to
        /// return (comma-separated: full_name, date_of_birth, gender). Default: none.
        #[arg(long, default_value = "")]
        return_fields: String,
        /// Rows between checkpoints (an fsync and a commit each).
        #[arg(long, default_value_t = 65_536, hide = true)]
        checkpoint_rows: u64,
        /// Rows per chunk (one multi-get each).
        #[arg(long, default_value_t = 4096, hide = true)]
        chunk_rows: usize,
    },
    /// Data-quality report: one line per rule with its count and examples.
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serves the API.
    Serve(ServeArgs),
    /// Creates a demo store if absent (seeded population, demo accounts), then serves it.
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Citizens to seed in a new demo store.
        #[arg(long, default_value_t = 200_000)]
        citizens: u64,
    },
    /// Manages staff accounts.
    User {
        #[command(subcommand)]
        what: UserWhat,
    },
    /// Manages partner accounts (banks, telcos, ministries calling the API with a key).
    Partner {
        #[command(subcommand)]
        what: PartnerWhat,
    },
    /// One-time codes of the second factor.
    Totp {
        #[command(subcommand)]
        what: TotpWhat,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        what: AuditWhat,
    },
    /// Links digitized civil-status entries to registry persons (files only, no store).
    Link(LinkArgs),
    /// Re-addresses every open residence of reorganized units (dry run unless --apply): the
    /// apply records one unit succession per old unit, through which residences resolve.
    Readdress {
        /// CSV `old_commune_code,new_commune_code` with a header row.
        #[arg(
            long,
            conflicts_with = "shipped_2025",
            required_unless_present = "shipped_2025"
        )]
        mapping: Option<PathBuf>,
        /// Use the shipped mapping of the 1 July 2025 reorganization (pre-2025 → 2025).
        #[arg(long)]
        shipped_2025: bool,
        /// Unit structure of the mapping file's codes: 2025 or pre2025.
        #[arg(long, default_value = "2025")]
        structure: String,
        /// Date from which the new units hold (YYYY-MM-DD).
        #[arg(long)]
        effective_date: String,
        /// Legal basis (resolution or decision), required with --apply.
        #[arg(long)]
        basis: Option<String>,
        /// Apply the change; without it only the report is printed.
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Args)]
struct LinkArgs {
    /// CSV `personal_id,full_name,date_of_birth,gender,commune_code,father_name,mother_name`.
    #[arg(long)]
    registry: PathBuf,
    /// CSV `record_id,full_name,date_of_birth,gender,commune_code,father_name,mother_name`.
    #[arg(long)]
    records: PathBuf,
    /// CSV `record_id,personal_id,score,decision,explanation`, one row per record.
    #[arg(long)]
    output: PathBuf,
    /// Posterior log2 odds of the best candidate (against no one and every other
    /// candidate) from which a record is linked.
    #[arg(long, default_value_t = dancu_matching::Thresholds::default().link)]
    link_threshold: f64,
    /// Posterior log2 odds that the record is one of its candidates (whichever) from
    /// which the best one goes to review rather than `new`.
    #[arg(long, default_value_t = dancu_matching::Thresholds::default().review)]
    review_threshold: f64,
    /// Worker threads (default: the available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the fitted weights to standard error.
    #[arg(long)]
    print_model: bool,
    /// Print the wall time of each step (reading, indexing, fitting, linking) to
    /// standard error.
    #[arg(long)]
    timings: bool,
}

#[derive(Subcommand)]
enum ImportWhat {
    /// CSV `personal_id,full_name,date_of_birth,gender,commune_code,household_id`.
    Citizens {
        #[arg(long)]
        input: PathBuf,
    },
}

#[derive(Subcommand)]
enum ExportWhat {
    Citizens {
        #[arg(long)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserWhat {
    /// Creates a staff account; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// officer, civil_status_officer, social_insurance_officer, admin, auditor or
        /// supervisor.
        #[arg(long)]
        role: String,
        /// VN, a province or commune code of the 2025 structure, or an agency (BCA, BTP,
        /// BHXH, BYT, BXD).
        #[arg(long)]
        unit: String,
        /// Addresses the account may be used from (CIDR); repeat for several. Default: any.
        #[arg(long = "allow-ip")]
        allow_ip: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Creates a citizen's own account (username: the personal ID number); the password is
    /// read from standard input.
    AddCitizen {
        #[arg(long)]
        personal_id: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum AuditWhat {
    /// Checks the hash chain, the signed checkpoints and the head file; exit 0 iff intact,
    /// else 1 naming the first bad entry. Needs only the public key (KEY.pub).
    Verify,
}

#[derive(Subcommand)]
enum PartnerWhat {
    /// Creates a partner and prints its API key (`api_key: …`), shown this once.
    Add {
        #[arg(long)]
        name: String,
        /// What the partner may call: verify, verify_batch, enrich:FIELD; comma-separated
        /// or repeated.
        #[arg(long, alias = "scope", required = true)]
        scopes: Vec<String>,
        /// Requests per day (Vietnam's calendar day); a batch counts one per row.
        #[arg(long, default_value_t = dancu_app::partners::DEFAULT_DAILY_QUOTA)]
        daily_quota: i64,
        /// Addresses the key may be used from (CIDR); repeat for several. Default: any.
        #[arg(long = "allow-ip")]
        allow_ip: Vec<String>,
        /// Its data-sharing agreement: fields whose registry value verification returns
        /// (comma-separated: full_name, date_of_birth, gender). Default: none.
        #[arg(long, default_value = "")]
        return_fields: String,
        /// The agency a ministry's key speaks for (BCA, BTP, BHXH, BYT, BXD): needed by
        /// enrich:FIELD scopes, and recorded as the source of what it pushes.
        #[arg(long, default_value = "")]
        agency: String,
    },
    /// Disables a partner: its key is refused (401) from now on.
    Disable {
        #[arg(long)]
        name: String,
    },
    /// Enables a disabled partner again.
    Enable {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum TotpWhat {
    /// Prints the current code of a TOTP secret (as `oathtool --totp -b`), for the demo
    /// accounts and scripts.
    Code {
        #[arg(long)]
        secret: String,
    },
}

#[derive(Args, Clone)]
struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy only).
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_http: bool,
    /// A reverse proxy (CIDR) whose X-Forwarded-For names the client; repeat for several.
    /// Without one the header is ignored and the peer address is the client.
    #[arg(long = "trusted-proxy")]
    trusted_proxy: Vec<String>,
    /// Sustained requests per second of one staff or citizen account (0: no limit).
    #[arg(long, default_value_t = 10.0)]
    account_rate: f64,
    /// Requests one account may make at once before the rate applies.
    #[arg(long, default_value_t = 60)]
    account_burst: u32,
    /// Sustained requests per second of one partner key (0: no limit).
    #[arg(long, default_value_t = 200.0)]
    partner_rate: f64,
    /// Requests one partner key may make at once before the rate applies.
    #[arg(long, default_value_t = 400)]
    partner_burst: u32,
    /// An alert is raised when an account reads more distinct people than this…
    #[arg(long, default_value_t = 200)]
    alert_distinct_people: usize,
    /// …within this many seconds.
    #[arg(long, default_value_t = 600)]
    alert_window_secs: u64,
}

impl ServeArgs {
    fn limits(&self) -> dancu_app::limits::Limits {
        use dancu_app::limits::{Limits, RateLimit};
        Limits {
            account: RateLimit {
                per_second: self.account_rate,
                burst: self.account_burst,
            },
            partner: RateLimit {
                per_second: self.partner_rate,
                burst: self.partner_burst,
            },
            alert_distinct_people: self.alert_distinct_people,
            alert_window: std::time::Duration::from_secs(self.alert_window_secs),
            ..Limits::default()
        }
    }
}

fn database_url(cli: &Cli) -> String {
    cli.database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", cli.data_dir.join("dancu.db").display()))
}

fn audit_key_file(cli: &Cli) -> PathBuf {
    cli.audit_key_file
        .clone()
        .unwrap_or_else(|| cli.data_dir.join("audit-signing.key"))
}

/// The newest signed chain head, kept outside the database.
fn audit_head_file(cli: &Cli) -> PathBuf {
    cli.data_dir.join("audit-head")
}

/// Opens the store with an audit writer that signs the chain.
fn open_app(cli: &Cli) -> Result<App, String> {
    open_app_with(cli, dancu_app::limits::Limits::default())
}

/// Opens the store with the audit signing key of the data dir (or `--audit-key-file`).
fn open_app_with(cli: &Cli, limits: dancu_app::limits::Limits) -> Result<App, String> {
    std::fs::create_dir_all(&cli.data_dir)
        .map_err(|e| format!("{}: {e}", cli.data_dir.display()))?;
    let signer = AuditSigner::load_or_create(&audit_key_file(cli), Some(audit_head_file(cli)))
        .map_err(fail)?;
    let config = dancu_app::AppConfig {
        signer: Some(signer),
        limits,
        data_dir: Some(cli.data_dir.clone()),
        blobs: Some(blob_store(cli)?),
        ..Default::default()
    };
    App::open_with(&database_url(cli), config).map_err(fail)
}

/// The page scans' store of `--blob-store`; by default the data dir, whichever database
/// holds the scans' records.
fn blob_store(cli: &Cli) -> Result<Arc<dyn dancu_app::civil::blobs::BlobStore>, String> {
    use dancu_app::civil::{blobs::LocalDir, s3};
    Ok(match cli.blob_store.as_deref() {
        Some(url) if url.starts_with("s3://") => {
            Arc::new(s3::S3::new(s3::S3Config::from_url_and_env(url).map_err(fail)?).map_err(fail)?)
        }
        Some(dir) => Arc::new(LocalDir::new(dir)),
        None => Arc::new(LocalDir::new(cli.data_dir.join("blobs"))),
    })
}

fn fail(msg: impl std::fmt::Display) -> String {
    msg.to_string()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DANCU_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if cfg!(feature = "bench-unaudited-reads") {
        eprintln!(
            "dancu: MEASUREMENT BUILD (feature bench-unaudited-reads): reads of persons are \
             NOT audited; never deploy this binary"
        );
    }
    match run(&cli) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("dancu: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, String> {
    let url = database_url(cli);
    match &cli.command {
        Command::Init => {
            open_app(cli)?;
            println!("store ready: {}", redact(&url));
        }
        Command::Seed { citizens, rng_seed } => {
            let app = open_app(cli)?;
            seed(&app, *citizens, *rng_seed)?;
        }
        Command::Import {
            what: ImportWhat::Citizens { input },
        } => {
            let app = open_app(cli)?;
            let bytes = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
            let report = app
                .import_citizens(&Actor::system("import"), &bytes)
                .map_err(fail)?;
            println!(
                "imported {} citizens ({} households) from {} [{}]",
                report.imported,
                report.households_created,
                input.display(),
                report.encoding
            );
            for r in &report.rejected {
                eprintln!("line {}: {}", r.line, r.reason);
            }
            if !report.rejected.is_empty() {
                eprintln!(
                    "dancu: {} rows rejected (nothing from them was applied)",
                    report.rejected.len()
                );
                return Ok(ExitCode::from(2));
            }
        }
        Command::Export {
            what: ExportWhat::Citizens { output },
        } => {
            let app = open_app(cli)?;
            let file =
                std::fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
            let mut w = std::io::BufWriter::new(file);
            let n = app
                .export_citizens(&Actor::system("export"), &mut w)
                .map_err(fail)?;
            w.flush().map_err(fail)?;
            println!("exported {n} citizens to {}", output.display());
        }
        Command::VerifyBatch {
            input,
            output,
            return_fields,
            checkpoint_rows,
            chunk_rows,
        } => {
            let app = App::open(&url).map_err(fail)?;
            app.map_registry_file();
            let agreement = Agreement::parse(return_fields)?;
            let options = BatchOptions {
                checkpoint_rows: *checkpoint_rows,
                chunk_rows: *chunk_rows,
                ..BatchOptions::default()
            };
            verify_batch(&app, agreement, input, output, &options)?;
        }
        Command::Check { json } => {
            let app = open_app(cli)?;
            let report = app.quality_report(&Actor::system("check")).map_err(fail)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(fail)?);
            } else {
                for r in &report {
                    println!(
                        "{:<32} {:>10}  {}{}",
                        r.rule,
                        r.count,
                        r.description,
                        if r.examples.is_empty() {
                            String::new()
                        } else {
                            format!(" (e.g. {})", r.examples.join(", "))
                        }
                    );
                }
            }
        }
        Command::Serve(args) => {
            no_huge_pages_for_server();
            let app = open_app_with(cli, args.limits())?;
            serve(app, args)?;
        }
        Command::Demo {
            serve: args,
            citizens,
        } => {
            no_huge_pages_for_server();
            let app = open_app_with(cli, args.limits())?;
            let creds = demo_setup(&app, &cli.data_dir, *citizens)?;
            println!(
                "\ndemo logins (also in {}):",
                cli.data_dir.join("demo-logins.txt").display()
            );
            print!("{creds}");
            serve(app, args)?;
        }
        Command::User {
            what:
                UserWhat::Add {
                    username,
                    role,
                    unit,
                    allow_ip,
                    password_stdin,
                },
        } => {
            let role = Role::parse(role).filter(|r| r.is_staff()).ok_or_else(|| {
                let roles: Vec<&str> = Role::ALL
                    .iter()
                    .filter(|r| r.is_staff())
                    .map(|r| r.code())
                    .collect();
                format!("unknown role '{role}' ({})", roles.join(", "))
            })?;
            let password = read_password(*password_stdin)?;
            let app = open_app(cli)?;
            let ips: Vec<&str> = allow_ip.iter().map(String::as_str).collect();
            let enrollment = app
                .add_user(
                    &Actor::system("user-add"),
                    username,
                    &password,
                    role,
                    unit,
                    &ips,
                )
                .map_err(fail)?;
            println!("user {username} created ({}, unit {unit})", role.code());
            print_enrollment(&enrollment);
        }
        Command::User {
            what:
                UserWhat::AddCitizen {
                    personal_id,
                    password_stdin,
                },
        } => {
            let person = dancu_app::citizens::parse_personal_id(personal_id).map_err(fail)?;
            let password = read_password(*password_stdin)?;
            let app = open_app(cli)?;
            let enrollment = app
                .add_citizen_account(&Actor::system("user-add-citizen"), person, &password)
                .map_err(fail)?;
            println!("citizen account {person} created");
            print_enrollment(&enrollment);
        }
        Command::Audit {
            what: AuditWhat::Verify,
        } => return audit_verify(cli, &url),
        Command::Partner {
            what:
                PartnerWhat::Add {
                    name,
                    scopes,
                    daily_quota,
                    allow_ip,
                    return_fields,
                    agency,
                },
        } => {
            let app = open_app(cli)?;
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let ips: Vec<&str> = allow_ip.iter().map(String::as_str).collect();
            let system = Actor::system("partner-add");
            let created = app
                .add_partner(
                    &system,
                    &PartnerTerms {
                        name,
                        agency,
                        scopes: &scopes,
                        daily_quota: *daily_quota,
                        allow_ips: &ips,
                        returns: return_fields,
                    },
                )
                .map_err(fail)?;
            println!(
                "partner {name} created (scopes {}, daily quota {daily_quota})",
                created.partner.scopes.join(" ")
            );
            println!("api_key: {}", created.api_key);
        }
        Command::Partner {
            what: PartnerWhat::Disable { name },
        } => set_partner_disabled(cli, name, true)?,
        Command::Partner {
            what: PartnerWhat::Enable { name },
        } => set_partner_disabled(cli, name, false)?,
        Command::Totp {
            what: TotpWhat::Code { secret },
        } => {
            let now = dancu_store::now_millis() / 1000;
            let code = dancu_app::auth::totp::current_code(secret, now)
                .ok_or("--secret must be a Base32 TOTP secret")?;
            println!("{code}");
        }
        Command::Link(args) => link(args)?,
        Command::Readdress {
            mapping,
            shipped_2025,
            structure,
            effective_date,
            basis,
            apply,
        } => {
            let app = open_app(cli)?;
            let bytes;
            let source = if *shipped_2025 {
                MappingSource::Shipped2025
            } else {
                let path = mapping.as_ref().expect("clap requires --mapping");
                bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let structure =
                    Structure::parse(structure).ok_or("--structure must be 2025 or pre2025")?;
                MappingSource::File {
                    bytes: &bytes,
                    structure,
                }
            };
            if *apply && basis.is_none() {
                return Err("--apply needs --basis (the legal basis of the reorganization)".into());
            }
            let (plan, splits) = app.readdress_plan(source, effective_date).map_err(fail)?;
            let started = std::time::Instant::now();
            let result = app
                .readdress(
                    &Actor::system("readdress"),
                    &plan,
                    splits,
                    if *apply { basis.as_deref() } else { None },
                )
                .map_err(fail)?;
            let r = &result.report;
            println!(
                "{}: {} units, {} open residences, {} citizens, {} households ({:.1} s)",
                if r.applied { "applied" } else { "dry run" },
                plan.mapping.len(),
                r.residences,
                r.citizens,
                r.households,
                started.elapsed().as_secs_f64()
            );
            if !result.split_units.is_empty() {
                println!(
                    "{} old units were split across several new ones and are left for an address-level decision",
                    result.split_units.len()
                );
            }
            if !r.applied {
                for (old, new, residences, citizens, households) in &r.per_unit {
                    println!(
                        "  {old} -> {new}: {residences} open residences, {citizens} citizens, \
                         {households} households"
                    );
                }
                println!("nothing changed; run again with --apply --basis \"…\" to apply");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn audit_verify(cli: &Cli, url: &str) -> Result<ExitCode, String> {
    let store = dancu_store::Store::open(url).map_err(fail)?;
    let key_file = audit_key_file(cli);
    let verdict =
        dancu_app::audit::verify(&store, &key_file, &audit_head_file(cli)).map_err(fail)?;
    match verdict {
        dancu_store::ChainVerdict::Intact {
            entries,
            checkpoints,
            tracked,
            head_checked,
        } => {
            println!(
                "{entries} entries checked, chain intact; signed checkpoints verified: \
                 {checkpoints}{}; persons of group entries in the tracker index: {tracked}",
                if head_checked {
                    "; head file matches"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        dancu_store::ChainVerdict::Broken {
            entry_id,
            fault,
            checked,
        } => {
            let broken = if fault.in_tracker_index() {
                "the data tracker's index"
            } else {
                "chain"
            };
            println!("{checked} entries checked, {broken} broken at entry #{entry_id}");
            eprintln!("dancu: audit entry #{entry_id} {fault}");
            if matches!(fault, dancu_store::Fault::BadSignature { .. })
                && dancu_app::audit::verifying_key(&key_file)
                    .map_err(fail)?
                    .is_none()
            {
                eprintln!(
                    "dancu: no audit public key at {}.pub (give --audit-key-file)",
                    key_file.display()
                );
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn set_partner_disabled(cli: &Cli, name: &str, disabled: bool) -> Result<(), String> {
    let app = open_app(cli)?;
    app.set_partner_disabled(&Actor::system("partner"), name, disabled)
        .map_err(fail)?;
    println!(
        "partner {name} {}",
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

fn link(args: &LinkArgs) -> Result<(), String> {
    let started = std::time::Instant::now();
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let thresholds = dancu_matching::Thresholds {
        link: args.link_threshold,
        review: args.review_threshold,
        ..dancu_matching::Thresholds::default()
    };
    let s = dancu_matching::link_files(
        &args.registry,
        &args.records,
        &args.output,
        thresholds,
        threads,
    )
    .map_err(fail)?;
    for (line, reason) in &s.registry_refused {
        eprintln!("registry line {line}: {reason}");
    }
    if s.registry_refused_count > 0 {
        eprintln!("{} registry rows refused", s.registry_refused_count);
    }
    if args.print_model {
        eprint!("{}", s.model);
    }
    if args.timings {
        for (step, took) in &s.phases {
            eprintln!("{step}: {:.2} s", took.as_secs_f64());
        }
    }
    println!(
        "{} records: {} link, {} review, {} new, {} invalid; registry {} persons ({:.1} s)",
        s.link + s.review + s.new + s.invalid,
        s.link,
        s.review,
        s.new,
        s.invalid,
        s.registry_persons,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn read_password(password_stdin: bool) -> Result<String, String> {
    if !password_stdin {
        return Err("give the password on standard input with --password-stdin".into());
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(fail)?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

/// The second factor of a new account, shown once: enroll the URI in an authenticator
/// app (or `dancu totp code --secret …`) and keep the recovery codes offline.
fn totp_secret(e: &dancu_app::accounts::Enrollment) -> &str {
    e.totp_url
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap_or_default()
}

fn print_enrollment(e: &dancu_app::accounts::Enrollment) {
    println!("totp: {}", e.totp_url);
    println!("recovery codes: {}", e.recovery_codes.join(" "));
}

fn redact(url: &str) -> String {
    match url.find('@') {
        Some(at) if url.starts_with("postgres") => format!("postgres://…{}", &url[at..]),
        _ => url.to_owned(),
    }
}

fn seed(app: &App, citizens: u64, rng_seed: u64) -> Result<(), String> {
    let bar = indicatif::ProgressBar::new(citizens);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} citizens ({per_sec}, eta {eta})",
        )
        .map_err(fail)?,
    );
    let started = std::time::Instant::now();
    let n = app
        .seed(&Actor::system("seed"), citizens, rng_seed, &mut |done| {
            bar.set_position(done)
        })
        .map_err(fail)?;
    bar.finish_and_clear();
    println!(
        "seeded {n} citizens in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn verify_batch(
    app: &App,
    agreement: Agreement,
    input: &Path,
    output: &Path,
    options: &BatchOptions,
) -> Result<(), String> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {percent}% {msg} ({bytes_per_sec}, eta {eta})",
        )
        .map_err(fail)?,
    );
    let started = std::time::Instant::now();
    let report = app
        .verify_batch(
            &Actor::system("verify-batch"),
            agreement,
            input,
            output,
            options,
            &|p| {
                bar.set_length(p.input_len);
                bar.set_position(p.input_offset);
                bar.set_message(format!("{} rows", p.rows));
            },
        )
        .map_err(fail)?;
    bar.finish_and_clear();
    let s = &report.summary;
    let secs = started.elapsed().as_secs_f64();
    let done_now = s.rows - report.resumed_at_row;
    println!(
        "verified {} rows into {} in {secs:.1} s ({:.0} rows/s){} [{}]",
        s.rows,
        output.display(),
        done_now as f64 / secs.max(1e-9),
        if report.resumed_at_row > 0 {
            format!(
                "; resumed job {} at row {}",
                report.job_id, report.resumed_at_row
            )
        } else {
            String::new()
        },
        report.encoding.label(),
    );
    let verdicts: Vec<String> = Verdict::ALL
        .iter()
        .map(|v| format!("{} {}", v.as_str(), s.verdict(*v)))
        .collect();
    println!("verdicts: {}", verdicts.join(", "));
    for field in Field::ALL {
        let counts: Vec<String> = FieldResult::ALL
            .iter()
            .map(|r| format!("{} {}", r.as_str(), s.field(field, *r)))
            .collect();
        println!("{}: {}", field.name(), counts.join(", "));
    }
    for (kind, n) in s.most_common().into_iter().take(10) {
        println!("  {n:>10}  {kind}");
    }
    println!("summary: {}", report.summary_path.display());
    Ok(())
}

/// Demo accounts: (username, role, unit). Units are 2025 codes: Hà Nội (01) and one of
/// its communes, so that the officer's scope shows.
fn demo_accounts(app: &App) -> Vec<(String, Role, String)> {
    let commune = app
        .units
        .children(Structure::Y2025, "01")
        .next()
        .map(|c| c.code.clone())
        .unwrap_or_else(|| "01".into());
    vec![
        ("officer.hanoi".into(), Role::Officer, "01".into()),
        ("officer.commune".into(), Role::Officer, commune.clone()),
        (
            "civil.status.commune".into(),
            Role::CivilStatusOfficer,
            commune,
        ),
        ("admin.hanoi".into(), Role::Admin, "01".into()),
        ("auditor".into(), Role::Auditor, "VN".into()),
        ("supervisor".into(), Role::Supervisor, "VN".into()),
    ]
}

fn demo_setup(app: &App, data_dir: &Path, citizens: u64) -> Result<String, String> {
    let creds_path = data_dir.join("demo-logins.txt");
    if let Ok(existing) = std::fs::read_to_string(&creds_path) {
        return Ok(existing);
    }
    if app.store.count_citizens().map_err(fail)? == 0 {
        println!("seeding a demo population of {citizens} citizens…");
        seed(app, citizens, 2025)?;
    }
    let mut creds = String::from(
        "  every account has a second factor: its current code is printed by\n  \
         `dancu totp code --secret SECRET` (or enroll the otpauth URI in an app)\n\n",
    );
    for (username, role, unit) in demo_accounts(app) {
        let password = random_password();
        let e = app
            .add_user(
                &Actor::system("demo"),
                &username,
                &password,
                role,
                &unit,
                &[],
            )
            .map_err(fail)?;
        creds.push_str(&format!(
            "  {username:<22} {password}  totp secret {}  ({}, unit {unit})\n",
            totp_secret(&e),
            role.code()
        ));
    }
    if let Some(example) = demo_example(app) {
        let password = random_password();
        let person = dancu_app::citizens::parse_personal_id(&example).map_err(fail)?;
        let e = app
            .add_citizen_account(&Actor::system("demo"), person, &password)
            .map_err(fail)?;
        creds.push_str(&format!(
            "  {example:<22} {password}  totp secret {}  (citizen: own record and data tracker)\n\n  \
             a person in Hà Nội to look up: GET /api/v1/citizens/{example}\n",
            totp_secret(&e)
        ));
    }
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    write_private(&creds_path, &creds)?;
    Ok(creds)
}

/// One seeded person inside the province officer's scope, to try the API with.
fn demo_example(app: &App) -> Option<String> {
    let officer = Actor::new("officer.hanoi", Role::Officer, "01");
    let successions = app.store.successions().ok()?;
    let query = dancu_store::SearchQuery {
        name_folded: "nguyen".into(),
        prefix: true,
        date_of_birth: None,
        units: dancu_app::policy::unit_filter(app.units, &successions, &officer),
        limit: 1,
        after: None,
    };
    let found = app.store.search(&query).ok()?;
    found.first().map(|c| c.personal_id.to_string())
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Writes a file readable only by its owner (it holds passwords).
fn write_private(path: &Path, content: &str) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(content.as_bytes()).map_err(fail)
}

/// No transparent huge pages for the server's heap. On the project's VM the first touch
/// of a fresh 2 MiB page stalled the touching thread for 15–30 ms: when that was the
/// audit writer, every read waiting on its commit, which was the p99 of the read
/// benchmark (BENCHMARKS.md, session 12: 10.5–13.8 ms, then 2.7–3.5 ms). mimalloc is
/// built not to ask for them (`no_thp`), which suffices where the system gives huge
/// pages only to memory that asks (`madvise`, the usual setting); where it gives them to
/// all memory (`always`), Linux 6.18 and later can be told to give them only to memory
/// that asks, which the matching engine's large tables still do (a book's linking in the
/// server). Best effort: older kernels refuse the flag and nothing changes.
fn no_huge_pages_for_server() {
    #[cfg(target_os = "linux")]
    {
        /// `PR_THP_DISABLE_EXCEPT_ADVISED` (Linux 6.18), not yet in `libc`.
        const EXCEPT_ADVISED: libc::c_ulong = 1 << 1;
        // SAFETY: PR_SET_THP_DISABLE takes no pointers; it only changes how this
        // process's later page faults are backed.
        unsafe {
            libc::prctl(
                libc::PR_SET_THP_DISABLE,
                1 as libc::c_ulong,
                EXCEPT_ADVISED,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            );
        }
    }
}

fn serve(app: App, args: &ServeArgs) -> Result<(), String> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(dancu_server::Tls::from_pem_files(cert, key)?),
        _ => None,
    };
    if cfg!(feature = "bench-unaudited-reads") && !dancu_server::is_loopback(&args.listen) {
        return Err(
            "this is a measurement build (feature bench-unaudited-reads): reads of \
                    persons are not audited, so it serves loopback only"
                .into(),
        );
    }
    if tls.is_none() && !dancu_server::is_loopback(&args.listen) && !args.insecure_http {
        return Err(format!(
            "refusing to serve plain HTTP on non-loopback address {}: login data would travel \
             unencrypted; pass --tls-cert and --tls-key, or put a TLS-terminating proxy in \
             front and pass --insecure-http",
            args.listen
        ));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = dancu_server::EdgeConfig {
        trusted_proxies: dancu_app::auth::parse_allow_list(
            args.trusted_proxy.iter().map(String::as_str),
        )
        .map_err(|e| format!("--trusted-proxy: {e}"))?,
        tls,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(fail)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        // Before the line that tells scripts the server is up.
        let stop = stop_signal()?;
        println!(
            "serving {scheme}://{} (API under /api/v1, OpenAPI at /api/openapi.json)",
            listener.local_addr().map_err(fail)?
        );
        dancu_server::serve(Arc::new(app), listener, &config, stop)
            .await
            .map_err(fail)?;
        println!("stopped");
        Ok(())
    })
}

/// Listens for Ctrl-C (SIGINT) and SIGTERM from now on: the future completes on either.
#[cfg(unix)]
fn stop_signal() -> Result<impl Future<Output = ()> + Send + 'static, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(fail)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(fail)?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> Result<impl Future<Output = ()> + Send + 'static, String> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
