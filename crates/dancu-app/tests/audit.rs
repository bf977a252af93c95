//! The audit chain as the application writes it: signed checkpoints, the head file, and
//! tampering found by `audit::verify`.

use dancu_app::accounts::LoginAttempt;
use dancu_app::audit::{self, AuditSigner};
use dancu_app::{Actor, App, Role};
use dancu_store::testing::TestStore;
use dancu_store::{ChainVerdict, Fault, Store};

fn login(app: &App, username: &str, password: &str, totp: &str) -> bool {
    app.login(&LoginAttempt {
        username: username.into(),
        password: password.into(),
        second_factor: totp.into(),
        ip: Some("192.0.2.10".parse().unwrap()),
        user_agent: Some("test".into()),
    })
    .is_ok()
}

fn first_id(store: &Store, condition: &str) -> i64 {
    store
        .read(|tx| {
            tx.query_i64(
                &format!(
                    "SELECT MIN(id) FROM audit_log WHERE action = 'session.login' AND {condition}"
                ),
                &[],
            )
        })
        .unwrap()
}

fn tamper(store: &Store, statement: &str) {
    store.write(|tx| tx.exec(statement, &[])).unwrap();
}

/// Finding 3 (domain.md §8): officers' login logs could be edited or deleted unnoticed.
#[test]
fn finding_3_login_log_is_tamper_evident() {
    let t = TestStore::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let head = dir.path().join("audit-head");
    let signer = AuditSigner::load_or_create(&key, Some(head.clone())).unwrap();
    let config = dancu_app::AppConfig {
        signer: Some(signer),
        ..Default::default()
    };
    let app = App::open_with(&t.url, config).unwrap();
    let enrollment = app
        .add_user(
            &Actor::system("test"),
            "officer.x",
            "correct horse battery staple",
            Role::Officer,
            "01",
            &[],
        )
        .unwrap();
    let secret = enrollment.totp_url.split("secret=").nth(1).unwrap();
    let secret = secret.split('&').next().unwrap();
    let code =
        dancu_app::auth::totp::current_code(secret, dancu_store::now_millis() / 1000).unwrap();
    assert!(!login(&app, "officer.x", "wrong password", &code));
    assert!(!login(
        &app,
        "officer.x",
        "correct horse battery staple",
        "000000x"
    ));
    assert!(login(
        &app,
        "officer.x",
        "correct horse battery staple",
        &code
    ));
    assert!(!login(&app, "nobody", "guess", "123456"));
    drop(app); // commits the refusals nobody waited for and signs a last checkpoint

    let verify = || audit::verify(&t.store, &key, &head).unwrap();
    let entries = match verify() {
        ChainVerdict::Intact {
            entries,
            checkpoints,
            head_checked,
            ..
        } => {
            assert!(checkpoints >= 1, "closing the app signs the head");
            assert!(head_checked, "the head file belongs to this chain");
            entries
        }
        broken => panic!("{broken:?}"),
    };
    assert!(entries >= 5, "account creation and four login attempts");

    let broken = |verdict| match verdict {
        ChainVerdict::Broken {
            entry_id, fault, ..
        } => (entry_id, fault),
        intact => panic!("tampering went unnoticed: {intact:?}"),
    };

    // A failed login made to look successful.
    let failed = first_id(&t.store, "outcome = 'denied'");
    tamper(
        &t.store,
        &format!("UPDATE audit_log SET outcome = 'ok' WHERE id = {failed}"),
    );
    assert_eq!(broken(verify()), (failed, Fault::Edited));
    tamper(
        &t.store,
        &format!("UPDATE audit_log SET outcome = 'denied' WHERE id = {failed}"),
    );
    assert!(matches!(verify(), ChainVerdict::Intact { .. }));

    // The successful login erased.
    let success = first_id(&t.store, "outcome = 'ok'");
    tamper(
        &t.store,
        &format!("DELETE FROM audit_log WHERE id = {success}"),
    );
    assert_eq!(broken(verify()), (success, Fault::Deleted));

    // The newest attempts cut off the end of the log.
    tamper(
        &t.store,
        &format!("DELETE FROM audit_log WHERE id >= {success}"),
    );
    let (id, fault) = broken(verify());
    assert_eq!(id, success);
    assert!(matches!(fault, Fault::Truncated { .. }), "{fault}");
}

#[test]
fn the_signing_key_is_private_and_its_public_half_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keys").join("audit.key");
    let signer = AuditSigner::load_or_create(&key, None).unwrap();
    drop(signer);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = AuditSigner::load_or_create(&key, None).err().unwrap();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let public = audit::verifying_key(&key).unwrap().unwrap();
    std::fs::remove_file(&key).unwrap();
    assert_eq!(
        audit::verifying_key(&key).unwrap(),
        Some(public),
        "verification needs only KEY.pub"
    );
}
