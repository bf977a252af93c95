//! The S3 blob store against a real S3-protocol server (`moto_server`, started here on a
//! free loopback port), held to the same contract as the local directory.

use dancu_app::civil::blobs::{BlobStore, LocalDir, content_key};
use dancu_app::civil::s3::S3;
use dancu_app::civil::s3::testing::Moto;

/// What every blob store promises: whole blobs by key, idempotent re-puts of the same
/// content, any bytes round-trip, a missing key is an error.
fn contract(store: &dyn BlobStore) {
    let page = b"\xFF\xD8\xFF\xE0 a scanned page".to_vec();
    let (_, key) = content_key(&page);
    assert!(store.get(&key).is_err(), "missing before the put");
    store.put(&key, &page).unwrap();
    store.put(&key, &page).unwrap();
    assert_eq!(store.get(&key).unwrap(), page);

    // Every byte value, and a blob larger than one network buffer.
    let all: Vec<u8> = (0..=255u8).cycle().take(3 * 1024 * 1024 + 7).collect();
    let (_, big) = content_key(&all);
    store.put(&big, &all).unwrap();
    assert_eq!(store.get(&big).unwrap(), all);

    let (_, missing) = content_key(b"never stored");
    assert!(store.get(&missing).is_err());
    assert!(store.put("../escape", b"x").is_err());
    assert!(store.get("scans//x").is_err());
}

#[test]
fn local_dir_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&LocalDir::new(dir.path()));
}

#[test]
fn s3_keeps_the_contract_with_and_without_a_prefix() {
    let moto = Moto::start(false);
    moto.create_bucket("scans");
    for place in ["scans", "scans/province-01/books"] {
        let store = S3::new(moto.config(place, "secret")).unwrap();
        contract(&store);
    }
    // The prefix keeps the two stores' objects apart, and delete/exists see them.
    let plain = S3::new(moto.config("scans", "secret")).unwrap();
    let prefixed = S3::new(moto.config("scans/province-01/books", "secret")).unwrap();
    let (_, key) = content_key(b"\xFF\xD8\xFF\xE0 a scanned page");
    assert!(plain.exists(&key).unwrap());
    assert!(plain.exists(&format!("province-01/books/{key}")).unwrap());
    prefixed.delete(&key).unwrap();
    assert!(!prefixed.exists(&key).unwrap());
    assert!(plain.exists(&key).unwrap(), "only the prefixed object went");
    prefixed.delete(&key).unwrap();
}

#[test]
fn s3_names_the_cause_of_a_refusal() {
    let moto = Moto::start(false);
    let store = S3::new(moto.config("no-such-bucket", "secret")).unwrap();
    let err = store.put("scans/00/abc", b"x").unwrap_err().to_string();
    assert!(err.contains("NoSuchBucket"), "{err}");

    let moto = Moto::start(true);
    let store = S3::new(moto.config("scans", "wrong")).unwrap();
    let err = store.get("scans/00/abc").unwrap_err().to_string();
    assert!(err.contains("403"), "{err}");
    assert!(
        err.contains("check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    assert!(
        !err.contains("wrong"),
        "the secret is never in an error: {err}"
    );

    let closed = S3::new(moto.config("scans", "secret")).unwrap();
    drop(moto);
    let err = closed.get("scans/00/abc").unwrap_err().to_string();
    assert!(
        err.starts_with("internal error: S3 GET scans/00/abc:"),
        "{err}"
    );
}
