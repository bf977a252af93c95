//! The test server: a fresh store with a small population and one account per role,
//! served on a random loopback port; requests go through a real HTTP client.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use dancu_app::auth::totp;
use dancu_app::limits::Limits;
use dancu_app::{Actor, App, AppConfig, Role};
use dancu_server::EdgeConfig;
use dancu_store::testing::{TestStore, sample_communes as communes};
use reqwest::Method;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

pub struct Server {
    pub base: String,
    pub client: Client,
    pub app: Arc<App>,
    _store: TestStore,
    /// The data dir (partners' job files), shared by a second instance.
    pub data_dir: tempfile::TempDir,
    pub communes: (String, String, String),
    /// TOTP secret and recovery codes per account.
    pub secrets: HashMap<String, (String, Vec<String>)>,
    /// The next TOTP step each account may use (each step logs in once).
    next_step: RefCell<HashMap<String, i64>>,
    tokens: RefCell<HashMap<String, String>>,
}

pub const PASSWORD: &str = "correct horse battery";
pub const CHILD: &str = "001310000001";
pub const OTHER_PROVINCE: &str = "079090000003";

pub fn sqlite() -> Server {
    start(TestStore::sqlite())
}

pub fn start(store: TestStore) -> Server {
    start_with(store, EdgeConfig::default(), Limits::default())
}

/// A SQLite test server with the given rate limits, quotas and alert thresholds.
pub fn sqlite_with(limits: &Limits) -> Server {
    start_with(TestStore::sqlite(), EdgeConfig::default(), limits.clone())
}

pub fn start_with(store: TestStore, edge: EdgeConfig, limits: Limits) -> Server {
    start_configured(store, edge, limits, None)
}

/// A SQLite test server whose page scans go to `blobs` (not the data dir).
pub fn sqlite_with_blobs(blobs: Arc<dyn dancu_app::civil::blobs::BlobStore>) -> Server {
    start_configured(
        TestStore::sqlite(),
        EdgeConfig::default(),
        Limits::default(),
        Some(blobs),
    )
}

fn start_configured(
    store: TestStore,
    edge: EdgeConfig,
    limits: Limits,
    blobs: Option<Arc<dyn dancu_app::civil::blobs::BlobStore>>,
) -> Server {
    let data_dir = tempfile::tempdir().unwrap();
    let config = AppConfig {
        blobs,
        ..app_config(limits, data_dir.path())
    };
    let app = Arc::new(App::open_with(&store.url, config).unwrap());
    let (a, b, c) = communes();
    let csv = format!(
        "personal_id,full_name,date_of_birth,gender,commune_code,household_id,relationship,old_id_number\n\
         001080000001,Nguyễn Văn Hòa,1980-03-02,M,{a},1,head,012345678\n\
         001182000001,Trần Thị Thủy,1982,F,{a},1,spouse\n\
         001310000001,Nguyễn Thị Minh Khai,2010-07-15,F,{a},1,child\n\
         001075000002,Nguyễn Văn Hoà,1975-01-01,M,{b},2,head\n\
         079090000003,Lê Văn Tám,1990-05-05,M,{c},3,head\n"
    );
    let report = app
        .import_citizens(&Actor::system("test"), csv.as_bytes())
        .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let system = Actor::system("test");
    let mut secrets = HashMap::new();
    for (user, role, unit) in [
        ("officer.province", Role::Officer, "01".to_owned()),
        ("officer.commune", Role::Officer, a.clone()),
        ("officer.other", Role::Officer, c.clone()),
        ("civil.commune", Role::CivilStatusOfficer, a.clone()),
        ("civil.other", Role::CivilStatusOfficer, c.clone()),
        ("insurance", Role::SocialInsuranceOfficer, "BHXH".to_owned()),
        ("admin", Role::Admin, "01".to_owned()),
        ("admin.national", Role::Admin, "VN".to_owned()),
        ("auditor", Role::Auditor, "VN".to_owned()),
        ("auditor.other", Role::Auditor, province_of(&c)),
        ("supervisor", Role::Supervisor, "VN".to_owned()),
    ] {
        let e = app
            .add_user(&system, user, PASSWORD, role, &unit, &[])
            .unwrap();
        secrets.insert(user.to_owned(), (secret_of(&e.totp_url), e.recovery_codes));
    }
    let e = app
        .add_citizen_account(&system, "001080000001".parse().unwrap(), PASSWORD)
        .unwrap();
    secrets.insert(
        "001080000001".to_owned(),
        (secret_of(&e.totp_url), e.recovery_codes),
    );
    let base = serve(app.clone(), edge);
    Server {
        base,
        client: Client::new(),
        app,
        _store: store,
        data_dir,
        communes: (a, b, c),
        secrets,
        next_step: RefCell::new(HashMap::new()),
        tokens: RefCell::new(HashMap::new()),
    }
}

/// The test app; partners' batch jobs checkpoint every 128 rows so that small files
/// cross several checkpoints.
pub fn open_app(url: &str, limits: Limits, data_dir: &std::path::Path) -> App {
    App::open_with(url, app_config(limits, data_dir)).unwrap()
}

fn app_config(limits: Limits, data_dir: &std::path::Path) -> AppConfig {
    AppConfig {
        limits,
        data_dir: Some(data_dir.to_owned()),
        job_options: dancu_app::verify::BatchOptions {
            chunk_rows: 64,
            checkpoint_rows: 128,
            workers: 2,
        },
        ..Default::default()
    }
}

/// Serves `app` on a random loopback port; returns its base URL.
pub fn serve(app: Arc<App>, edge: EdgeConfig) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        runtime.block_on(dancu_server::serve(
            app,
            listener,
            &edge,
            std::future::pending(),
        ))
    });
    base
}

/// The province of a 2025 commune.
pub fn province_of(commune: &str) -> String {
    dancu_domain::units::UnitCatalog::embedded()
        .current_commune(commune)
        .expect("a 2025 commune")
        .province_code
        .clone()
}

pub fn secret_of(totp_url: &str) -> String {
    totp_url
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap()
        .to_owned()
}

pub fn now_secs() -> i64 {
    dancu_store::now_millis() / 1000
}

impl Server {
    /// Another server process on the same store (a restart, or a second node); returns
    /// its base URL.
    pub fn second_instance(&self, limits: &Limits) -> String {
        self.second_app(limits).1
    }

    /// [`Server::second_instance`] with its app.
    pub fn second_app(&self, limits: &Limits) -> (Arc<App>, String) {
        self.instance_on(limits, self.data_dir.path())
    }

    /// A server process on the same store with the data directory `data_dir` (another
    /// node, when it is not this server's).
    pub fn instance_on(&self, limits: &Limits, data_dir: &std::path::Path) -> (Arc<App>, String) {
        let app = Arc::new(open_app(&self._store.url, limits.clone(), data_dir));
        (app.clone(), serve(app, EdgeConfig::default()))
    }

    /// A new partner's API key.
    pub fn partner(&self, name: &str, scopes: &[&str], quota: i64, allow_ips: &[&str]) -> String {
        self.app
            .add_partner(
                &Actor::system("test"),
                &dancu_app::partners::PartnerTerms {
                    name,
                    scopes,
                    daily_quota: quota,
                    allow_ips,
                    ..Default::default()
                },
            )
            .unwrap()
            .api_key
    }

    /// A GET with a partner's key.
    pub fn partner_get(&self, base: &str, key: &str, path: &str) -> Response {
        self.partner_request(Method::GET, base, key, path)
            .send()
            .unwrap()
    }

    /// A request with a partner's key, to give a body and send.
    pub fn partner_request(
        &self,
        method: Method,
        base: &str,
        key: &str,
        path: &str,
    ) -> RequestBuilder {
        self.client
            .request(method, format!("{base}{path}"))
            .header("x-api-key", key)
    }

    /// The server's OpenAPI document.
    pub fn openapi(&self) -> Value {
        let res = self
            .client
            .get(format!("{}/api/openapi.json", self.base))
            .send()
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().unwrap()
    }

    /// A valid, unused TOTP code of `user` (a step is accepted once; one step of drift
    /// either way is allowed, so up to three logins fit in 30 seconds).
    pub fn totp(&self, user: &str) -> String {
        let secret = &self.secrets[user].0;
        let now_step = now_secs() / totp::STEP_SECONDS;
        let mut steps = self.next_step.borrow_mut();
        let step = steps.entry(user.to_owned()).or_insert(now_step - 1);
        if *step < now_step - 1 {
            *step = now_step - 1;
        }
        if *step > now_step + 1 {
            std::thread::sleep(std::time::Duration::from_secs(
                (totp::STEP_SECONDS - now_secs() % totp::STEP_SECONDS + 1) as u64,
            ));
            return {
                drop(steps);
                self.totp(user)
            };
        }
        let code = totp::current_code(secret, *step * totp::STEP_SECONDS).unwrap();
        *step += 1;
        code
    }

    pub fn try_login(&self, user: &str, password: &str, second_factor: &str) -> Response {
        self.client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": user, "password": password, "totp": second_factor}))
            .send()
            .unwrap()
    }

    /// A new session of `user`.
    pub fn fresh_login(&self, user: &str) -> String {
        let res = self.try_login(user, PASSWORD, &self.totp(user));
        assert_eq!(res.status(), StatusCode::OK, "login of {user}");
        let token = res.json::<Value>().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        self.tokens
            .borrow_mut()
            .insert(user.to_owned(), token.clone());
        token
    }

    /// A session of `user` (reused within a test).
    pub fn login(&self, user: &str) -> String {
        if let Some(t) = self.tokens.borrow().get(user) {
            return t.clone();
        }
        self.fresh_login(user)
    }

    pub fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .unwrap()
    }

    pub fn put(&self, token: &str, path: &str, body: Value) -> Response {
        self.client
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap()
    }

    pub fn post(&self, token: &str, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap()
    }
}

pub fn assert_problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = res.json().unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}
