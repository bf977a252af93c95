//! Where page scans' bytes live: a [`BlobStore`]. The default is a local directory
//! (under the data dir); blobs are content-addressed by SHA-256, so a key never changes
//! meaning and an upload of the same bytes twice stores them once.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// Largest accepted page scan (a 600 dpi A3 colour JPEG stays well below).
pub const MAX_SCAN_BYTES: usize = 20 * 1024 * 1024;

/// Storage of immutable blobs by key.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, whole or not at all.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), Error>;
    fn get(&self, key: &str) -> Result<Vec<u8>, Error>;
}

/// Blobs as files under a root directory.
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> LocalDir {
        LocalDir { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, Error> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

/// Keys are ours (`scans/ab/abcd…`), but a key must never leave the root or prefix, and
/// needs no escaping in a path or URL.
pub(crate) fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-')
        || key.split('/').any(str::is_empty)
    {
        return Err(Error::Internal(format!("invalid blob key {key:?}")));
    }
    Ok(())
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Internal(format!("blob store {}: {e}", path.display()))
}

impl BlobStore for LocalDir {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        // Written to a temporary file, synced, then renamed: a crash leaves either no
        // blob or the whole blob, never a half-written one under its key.
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| io(&path, e))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, Error> {
        let path = self.path(key)?;
        std::fs::read(&path).map_err(|e| io(&path, e))
    }
}

/// The media type of a scan from its first bytes (magic numbers), or `None` when it is
/// not an image. PDF is accepted: scanners commonly write one PDF per page.
pub fn sniff_scan(bytes: &[u8]) -> Option<&'static str> {
    const KINDS: [(&[u8], &str); 5] = [
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"\x89PNG\r\n\x1A\n", "image/png"),
        (b"II*\0", "image/tiff"),
        (b"MM\0*", "image/tiff"),
        (b"%PDF-", "application/pdf"),
    ];
    KINDS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, kind)| *kind)
}

/// The content address of `bytes`: (SHA-256 hex, blob key).
pub fn content_key(bytes: &[u8]) -> (String, String) {
    let sha = hex::encode(Sha256::digest(bytes));
    let key = format!("scans/{}/{sha}", &sha[..2]);
    (sha, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_accepts_images_and_pdf_only() {
        assert_eq!(sniff_scan(b"\xFF\xD8\xFF\xE0rest"), Some("image/jpeg"));
        assert_eq!(sniff_scan(b"\x89PNG\r\n\x1A\nIHDR"), Some("image/png"));
        assert_eq!(sniff_scan(b"II*\0...."), Some("image/tiff"));
        assert_eq!(sniff_scan(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff_scan(b"GIF89a"), None);
        assert_eq!(sniff_scan(b"hello, not a scan"), None);
        assert_eq!(sniff_scan(b""), None);
    }

    #[test]
    fn local_dir_round_trips_and_refuses_escaping_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::new(dir.path());
        let (sha, key) = content_key(b"page");
        assert_eq!(sha.len(), 64);
        store.put(&key, b"page").unwrap();
        store.put(&key, b"page").unwrap();
        assert_eq!(store.get(&key).unwrap(), b"page");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(&key[..8]))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file left behind");
        assert!(store.put("../x", b"x").is_err());
        assert!(store.get("scans//x").is_err());
        assert!(store.get("scans/00/missing").is_err());
    }
}
