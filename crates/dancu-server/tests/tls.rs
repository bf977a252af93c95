//! Transport: the API over HTTPS (finding 7: login data sent unencrypted over HTTP).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dancu_app::auth::totp;
use dancu_app::{Actor, App, Role};
use dancu_server::{EdgeConfig, Tls};
use dancu_store::testing::TestStore;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

#[test]
fn finding_7_login_goes_over_tls() {
    let store = TestStore::sqlite();
    let app = Arc::new(App::open(&store.url).unwrap());
    let enrollment = app
        .add_user(
            &Actor::system("test"),
            "officer",
            PASSWORD,
            Role::Officer,
            "01",
            &[],
        )
        .unwrap();
    let secret = enrollment
        .totp_url
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap()
        .to_owned();

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tls = Tls::new(
        vec![CertificateDer::from_pem_slice(cert.cert.pem().as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(cert.signing_key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    let server = std::thread::spawn(move || {
        runtime.block_on(dancu_server::serve(
            served,
            listener,
            &EdgeConfig {
                tls: Some(tls),
                ..EdgeConfig::default()
            },
            async {
                let _ = stopped.await;
            },
        ))
    });

    // A client that connects and never speaks holds no one up: handshakes run off the
    // accept loop.
    let _silent = TcpStream::connect(addr).unwrap();

    let client = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", addr)
        .https_only(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let code = totp::current_code(&secret, dancu_store::now_millis() / 1000).unwrap();
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "officer", "password": PASSWORD, "totp": code}))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(
        h["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h.get("set-cookie").is_none(), "the API sets no cookie");
    let token = res.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert!(me.headers().contains_key("strict-transport-security"));

    // The login history records the client address seen through TLS.
    let history = client
        .get(format!("{base}/api/v1/me/logins"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(history.contains("127.0.0.1"), "{history}");

    // No plain-HTTP answer on the TLS port: the bytes of a request are not a handshake.
    let mut plain = TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(
        &mut plain,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("\"ok\""),
        "answered over plain HTTP"
    );

    // Shutdown: serve returns promptly, the keep-alive connection notwithstanding.
    let asked = Instant::now();
    stop.send(()).unwrap();
    server.join().unwrap().unwrap();
    assert!(
        asked.elapsed() < dancu_server::DRAIN,
        "{:?}",
        asked.elapsed()
    );
}
