//! JSON request bodies of the API, through the whole router in-process (tower's
//! `oneshot`): the first byte picks the endpoint, the rest is the body. Whatever the
//! body, the answer is never a 5xx. Staff endpoints are called with a session, the
//! partner ones (verify, verify jobs, enrich) with a BYT ministry key.
#![no_main]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use dancu_app::accounts::LoginAttempt;
use dancu_app::auth::totp;
use dancu_app::civil::BookRequest;
use dancu_app::partners::PartnerTerms;
use dancu_app::{Actor, Role};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const PASSWORD: &str = "fuzzing is patient 1";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    router: Router,
    officer: String,
    admin: String,
    civil: String,
    api_key: String,
    book: i64,
}

fn session(app: &dancu_app::App, username: &str, role: Role, unit: &str) -> String {
    let enrollment = app
        .add_user(&Actor::system("fuzz"), username, PASSWORD, role, unit, &[])
        .expect("account");
    let secret = enrollment
        .totp_url
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .expect("secret")
        .to_owned();
    let attempt = LoginAttempt {
        username: username.into(),
        password: PASSWORD.into(),
        second_factor: totp::current_code(&secret, now_secs()).expect("code"),
        ip: None,
        user_agent: None,
    };
    app.login(&attempt).expect("login").0
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let app = dancu_fuzz::app();
        let (a, _) = dancu_fuzz::communes(&app);
        let officer = session(&app, "officer", Role::Officer, &a);
        let admin = session(&app, "admin", Role::Admin, "01");
        let civil = session(&app, "civil", Role::CivilStatusOfficer, &a);
        let system = Actor::system("fuzz");
        let api_key = app
            .add_partner(
                &system,
                &PartnerTerms {
                    name: "byt",
                    agency: "BYT",
                    scopes: &["verify", "verify_batch", "enrich:blood_type"],
                    daily_quota: 1_000_000_000,
                    allow_ips: &[],
                    returns: "full_name,date_of_birth,gender",
                },
            )
            .expect("partner")
            .api_key;
        // The book the entries endpoint writes into.
        let request = BookRequest {
            kind: "birth".into(),
            commune_code: a.clone(),
            structure: "2025".into(),
            year_from: 1990,
            year_to: 2020,
            pages: 50,
        };
        let book = app
            .create_book(&Actor::new("civil", Role::CivilStatusOfficer, &a), &request)
            .expect("book")
            .id;
        // The account whose allow-list the fuzzer may rewrite (not one it uses).
        app.add_user(
            &Actor::system("fuzz"),
            "clerk",
            PASSWORD,
            Role::Officer,
            &a,
            &[],
        )
        .expect("account");
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            router: dancu_server::router(app),
            officer,
            admin,
            civil,
            api_key,
            book,
        }
    })
}

/// The endpoints that take a JSON body, and whose session they are called with.
enum Caller {
    Nobody,
    Officer,
    Admin,
    Civil,
    Partner,
}

fn endpoint(pick: u8, book: i64) -> (Method, String, Caller) {
    let person = dancu_fuzz::PERSON;
    let all = [
        (Method::POST, "/api/v1/auth/login".into(), Caller::Nobody),
        (Method::POST, "/api/v1/auth/reauth".into(), Caller::Officer),
        (
            Method::POST,
            "/api/v1/auth/password".into(),
            Caller::Officer,
        ),
        (Method::POST, "/api/v1/accounts".into(), Caller::Admin),
        (
            Method::PUT,
            "/api/v1/accounts/clerk/allow-ips".into(),
            Caller::Admin,
        ),
        (Method::POST, "/api/v1/dossiers".into(), Caller::Officer),
        (
            Method::PATCH,
            format!("/api/v1/citizens/{person}"),
            Caller::Officer,
        ),
        (
            Method::POST,
            format!("/api/v1/citizens/{person}/residences"),
            Caller::Officer,
        ),
        (Method::POST, "/api/v1/readdress".into(), Caller::Officer),
        (Method::POST, "/api/v1/verify".into(), Caller::Partner),
        (Method::POST, "/api/v1/verify/jobs".into(), Caller::Partner),
        (Method::POST, "/api/v1/enrich".into(), Caller::Partner),
        (Method::POST, "/api/v1/civil/books".into(), Caller::Civil),
        (
            Method::POST,
            format!("/api/v1/civil/books/{book}/entries"),
            Caller::Civil,
        ),
    ];
    let n = all.len();
    all.into_iter()
        .nth(usize::from(pick) % n)
        .expect("in range")
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let (method, path, caller) = endpoint(pick, f.book);
    let mut req = Request::builder()
        .method(method)
        .uri(&path)
        .header(header::CONTENT_TYPE, "application/json");
    match caller {
        Caller::Nobody => {}
        Caller::Officer => req = req.header(header::AUTHORIZATION, format!("Bearer {}", f.officer)),
        Caller::Admin => req = req.header(header::AUTHORIZATION, format!("Bearer {}", f.admin)),
        Caller::Civil => req = req.header(header::AUTHORIZATION, format!("Bearer {}", f.civil)),
        Caller::Partner => req = req.header("x-api-key", &f.api_key),
    }
    let req = req.body(Body::from(body.to_vec())).expect("request");
    let res = f
        .runtime
        .block_on(f.router.clone().oneshot(req))
        .expect("infallible");
    assert!(
        !res.status().is_server_error(),
        "{path}: {} for body {:?}",
        res.status(),
        String::from_utf8_lossy(body)
    );
});
