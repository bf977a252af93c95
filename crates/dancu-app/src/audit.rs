//! Group-committed audit writes. Every read of a person's data sends its entry here and
//! waits for the commit before the data is released; concurrent entries share one
//! transaction, so auditing does not become the bottleneck of reads.
//!
//! The store chains the entries (each commits to the one before it). With a signing key
//! the writer also signs the chain head: into `audit_checkpoints` every
//! [`CHECKPOINT_EVERY`] and when the application closes, and after every commit into a
//! head file outside the database, so that a truncation of the newest entries shows too.
//! Signing happens after the waiting requests are released, off their path.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use dancu_store::{
    AuditEntry, AuditHead, ChainTrust, ChainVerdict, Checkpoint, HeadRecord, SigningKey, Store,
    VerifyingKey,
};
use tokio::sync::oneshot;

use crate::Error;

/// Entries per transaction at most; a burst beyond it waits for the next commit.
const MAX_BATCH: usize = 4096;

/// How long the writer waits for more entries before a commit, when the previous batch
/// showed concurrent readers; a lone reader is committed at once.
const GATHER: Duration = Duration::from_micros(500);

/// The writer's sleep while gathering, between looks at the queue.
const GATHER_SLICE: Duration = Duration::from_micros(100);

/// How often the writer signs the chain head into the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

// Entries are nearly every message: boxing them would allocate once per audited read.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Entry(AuditEntry, Option<oneshot::Sender<Result<(), String>>>),
    /// Commit what is queued, sign the head, then answer.
    Checkpoint(mpsc::Sender<()>),
}

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
}

/// A commit that the caller must wait for before releasing the audited data.
#[must_use = "audited data may only be released once its audit entry is committed"]
pub struct AuditTicket(oneshot::Receiver<Result<(), String>>);

impl AuditTicket {
    /// A ticket already resolved, for the `bench-unaudited-reads` measurement build only.
    pub(crate) fn unaudited_for_benchmark() -> Self {
        let (ack, rx) = oneshot::channel();
        let _ = ack.send(Ok(()));
        AuditTicket(rx)
    }

    pub async fn committed(self) -> Result<(), Error> {
        self.0
            .await
            .map_err(|_| Error::Internal("audit writer stopped".into()))?
            .map_err(Error::Internal)
    }

    /// For synchronous callers (CLI, tests); must not be called on an async worker.
    pub fn wait(self) -> Result<(), Error> {
        self.0
            .blocking_recv()
            .map_err(|_| Error::Internal("audit writer stopped".into()))?
            .map_err(Error::Internal)
    }
}

/// The key that signs the chain head, and where the newest head is kept outside the
/// database.
pub struct AuditSigner {
    key: SigningKey,
    head_file: Option<PathBuf>,
    every: Duration,
}

impl AuditSigner {
    /// Loads the signing key from `key_file`, creating it (owner-only, with its public
    /// half in `KEY_FILE.pub`) on first use.
    pub fn load_or_create(key_file: &Path, head_file: Option<PathBuf>) -> Result<Self, Error> {
        Ok(AuditSigner {
            key: load_or_create_key(key_file)?,
            head_file,
            every: CHECKPOINT_EVERY,
        })
    }

    pub fn new(key: SigningKey, head_file: Option<PathBuf>, every: Duration) -> Self {
        AuditSigner {
            key,
            head_file,
            every,
        }
    }
}

fn key_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("audit key {}: {e}", path.display()))
}

fn public_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn read_hex<const N: usize>(path: &Path) -> Result<[u8; N], Error> {
    let text = std::fs::read_to_string(path).map_err(|e| key_error(path, e))?;
    let mut out = [0; N];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|e| key_error(path, e))?;
    Ok(out)
}

fn load_or_create_key(path: &Path) -> Result<SigningKey, Error> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(key_error(
                        path,
                        "readable by others; make it private (chmod 600)",
                    ));
                }
            }
            #[cfg(not(unix))]
            let _ = meta;
            let key = SigningKey::from_bytes(&read_hex::<32>(path)?);
            let public = public_path(path);
            if !public.exists() {
                write_public(&public, &key)?;
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::TryRngCore;
            let mut seed = [0; 32];
            rand::rngs::OsRng
                .try_fill_bytes(&mut seed)
                .map_err(|e| key_error(path, e))?;
            let key = SigningKey::from_bytes(&seed);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| key_error(path, e))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| key_error(path, e))?;
            writeln!(file, "{}", hex::encode(seed)).map_err(|e| key_error(path, e))?;
            file.sync_all().map_err(|e| key_error(path, e))?;
            write_public(&public_path(path), &key)?;
            Ok(key)
        }
        Err(e) => Err(key_error(path, e)),
    }
}

fn write_public(path: &Path, key: &SigningKey) -> Result<(), Error> {
    std::fs::write(
        path,
        format!("{}\n", hex::encode(key.verifying_key().as_bytes())),
    )
    .map_err(|e| key_error(path, e))
}

/// The public key that verifies the checkpoints: `KEY_FILE.pub`, else derived from the
/// key file; `None` when neither exists.
pub fn verifying_key(key_file: &Path) -> Result<Option<VerifyingKey>, Error> {
    let public = public_path(key_file);
    if public.exists() {
        let bytes = read_hex::<32>(&public)?;
        return VerifyingKey::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| key_error(&public, e));
    }
    if key_file.exists() {
        return Ok(Some(
            SigningKey::from_bytes(&read_hex::<32>(key_file)?).verifying_key(),
        ));
    }
    Ok(None)
}

const HEAD_TAG: &str = "dancu-audit-head-v1";

/// One fixed-length line, so that each update overwrites the previous one in place.
fn format_head(record: &HeadRecord) -> String {
    let cp = &record.checkpoint;
    format!(
        "{HEAD_TAG} {} {:020} {} {:020} {} {}\n",
        hex::encode(record.genesis),
        cp.entry_id,
        hex::encode(cp.head_hash),
        cp.at,
        cp.key_id,
        hex::encode(cp.signature)
    )
}

/// Reads a head file; `None` when it does not exist.
pub fn read_head_file(path: &Path) -> Result<Option<HeadRecord>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Invalid(format!("{}: {e}", path.display()))),
    };
    let bad = || Error::Invalid(format!("{}: not an audit head file", path.display()));
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [
        HEAD_TAG,
        genesis,
        entry_id,
        head_hash,
        at,
        key_id,
        signature,
    ] = fields[..]
    else {
        return Err(bad());
    };
    let hash = |s: &str| {
        let mut out = [0; 32];
        hex::decode_to_slice(s, &mut out).map(|()| out)
    };
    let mut sig = [0; 64];
    hex::decode_to_slice(signature, &mut sig).map_err(|_| bad())?;
    Ok(Some(HeadRecord {
        genesis: hash(genesis).map_err(|_| bad())?,
        checkpoint: Checkpoint {
            at: at.parse().map_err(|_| bad())?,
            entry_id: entry_id.parse().map_err(|_| bad())?,
            head_hash: hash(head_hash).map_err(|_| bad())?,
            key_id: key_id.to_owned(),
            signature: sig,
        },
    }))
}

/// Verifies the whole chain with the public key of `key_file` and the head file.
pub fn verify(store: &Store, key_file: &Path, head_file: &Path) -> Result<ChainVerdict, Error> {
    let key = verifying_key(key_file)?;
    // Read before the snapshot starts: the head it names is then committed and visible.
    let head = read_head_file(head_file)?;
    Ok(store.verify_audit_chain(ChainTrust {
        key: key.as_ref(),
        head: head.as_ref(),
    })?)
}

/// The writer thread's signing state.
struct Chain {
    store: Arc<Store>,
    signer: AuditSigner,
    genesis: Option<[u8; 32]>,
    head_file: Option<File>,
    last_checkpoint: Instant,
    /// The newest head not yet in the head file, and when the file was last written.
    pending_head: Option<AuditHead>,
    last_head: Instant,
}

/// How often at most the head file is signed and rewritten. Signing after every commit
/// cost a tenth of the server's CPU under read load; the newest 50 ms of entries rely on
/// the chain alone until the next write.
const HEAD_EVERY: Duration = Duration::from_millis(50);

impl Chain {
    fn timeout(&self) -> Duration {
        let checkpoint = self
            .signer
            .every
            .saturating_sub(self.last_checkpoint.elapsed());
        match self.pending_head {
            Some(_) => checkpoint.min(HEAD_EVERY.saturating_sub(self.last_head.elapsed())),
            None => checkpoint,
        }
    }

    /// Notes a new head; signs it into the head file unless that was done < 50 ms ago.
    fn note_head(&mut self, head: AuditHead) {
        self.pending_head = Some(head);
        if self.last_head.elapsed() >= HEAD_EVERY {
            self.flush_head();
        }
    }

    fn flush_head(&mut self) {
        if let Some(head) = self.pending_head.take() {
            self.last_head = Instant::now();
            self.record_head(head);
        }
    }

    /// Writes what is due: the pending head, and a checkpoint when its period is over.
    fn on_timeout(&mut self) {
        if self.last_head.elapsed() >= HEAD_EVERY {
            self.flush_head();
        }
        if self.last_checkpoint.elapsed() >= self.signer.every {
            self.checkpoint();
        }
    }

    fn checkpoint(&mut self) {
        self.flush_head();
        self.last_checkpoint = Instant::now();
        if let Err(e) = self.store.checkpoint_audit(&self.signer.key) {
            tracing::error!(error = %crate::redact(&e.to_string()), "audit checkpoint failed");
        }
    }

    /// Overwrites the head file with the signed `head`.
    fn record_head(&mut self, head: AuditHead) {
        let Some(path) = &self.signer.head_file else {
            return;
        };
        let result = (|| -> Result<(), String> {
            if self.genesis.is_none() {
                self.genesis = self.store.audit_genesis().map_err(|e| e.to_string())?;
            }
            let Some(genesis) = self.genesis else {
                return Ok(());
            };
            if self.head_file.is_none() {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path)
                    .map_err(|e| e.to_string())?;
                self.head_file = Some(file);
            }
            let record = HeadRecord {
                genesis,
                checkpoint: Checkpoint::sign(&self.signer.key, dancu_store::now_millis(), head),
            };
            let file = self.head_file.as_mut().expect("opened above");
            file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
            file.write_all(format_head(&record).as_bytes())
                .map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, file = %path.display(), "audit head file not written");
        }
    }
}

/// When the writer indexes the log for the data tracker (`Store::index_audit_step`):
/// between commits while no reader waits, and, once the unindexed tail is long, after
/// every commit, so that a steady load cannot leave the tracker scanning an ever longer
/// tail.
struct Indexer {
    /// Entries appended since the indexer last found nothing to do (an upper bound of the
    /// tail beyond what it left, which is shorter than a run).
    appended: usize,
    /// The last step found more to do (a merge under way, or runs due); true at start,
    /// for the tail that earlier processes left.
    busy: bool,
}

/// The tail, in entries, past which the writer indexes after every commit.
const INDEX_BACKLOG: usize = 64 * dancu_store::RUN_SHAPE.first_run as usize;

impl Indexer {
    fn appended(&mut self, entries: usize) {
        self.appended += entries;
    }

    fn due(&self) -> bool {
        self.busy || self.appended >= dancu_store::RUN_SHAPE.first_run as usize
    }

    fn overdue(&self) -> bool {
        self.appended >= INDEX_BACKLOG
    }

    fn step(&mut self, store: &Store) {
        match store.index_audit_step(dancu_store::RUN_SHAPE) {
            Ok(dancu_store::IndexStep::Idle) => {
                self.busy = false;
                self.appended = 0;
            }
            Ok(dancu_store::IndexStep::Indexed) => {
                self.busy = true;
                self.appended = self
                    .appended
                    .saturating_sub(dancu_store::RUN_SHAPE.first_run as usize);
            }
            Ok(dancu_store::IndexStep::Merged) => self.busy = true,
            Err(e) => {
                // Retried after the next run's worth of entries; the tracker scans the
                // tail meanwhile, so nothing is hidden from it.
                tracing::error!(error = %crate::redact(&e.to_string()), "audit indexing failed");
                self.busy = false;
                self.appended = 0;
            }
        }
    }
}

impl AuditSink {
    /// Starts the writer thread; it stops when every sink clone is dropped, signing a last
    /// checkpoint when it has a signer.
    pub fn start(store: Arc<Store>, signer: Option<AuditSigner>) -> AuditSink {
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut chain = signer.map(|signer| Chain {
            store: store.clone(),
            signer,
            genesis: None,
            head_file: None,
            last_checkpoint: Instant::now(),
            pending_head: None,
            last_head: Instant::now(),
        });
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                let mut last_batch = 0;
                let mut indexer = Indexer {
                    appended: 0,
                    busy: true,
                };
                let mut pending = None;
                loop {
                    // Index when no reader waits (or when the backlog has grown too long).
                    if pending.is_none() && indexer.due() {
                        match rx.try_recv() {
                            Ok(m) => pending = Some(m),
                            Err(mpsc::TryRecvError::Empty) => {
                                indexer.step(&store);
                                continue;
                            }
                            Err(mpsc::TryRecvError::Disconnected) => break,
                        }
                    }
                    let first = match pending.take() {
                        Some(m) => m,
                        None => match &chain {
                        Some(c) => match rx.recv_timeout(c.timeout()) {
                            Ok(m) => m,
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                if let Some(c) = &mut chain {
                                    c.on_timeout();
                                }
                                continue;
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        },
                        None => match rx.recv() {
                            Ok(m) => m,
                            Err(_) => break,
                        },
                        },
                    };
                    let mut entries = Vec::new();
                    let mut acks = Vec::new();
                    let mut asked = Vec::new();
                    // Under concurrent load, gather for a moment: commits of one or two
                    // entries cost nearly as much as commits of twenty. The wait ends
                    // once as many entries as last time are in (as many readers as were
                    // waiting then), so a steady load does not pay the whole window. It
                    // sleeps in short slices rather than waiting on the channel: a
                    // receiver waiting there is woken by every send (a futex wake and a
                    // context switch per audited read, a quarter of the CPU under load).
                    let gather_until = (last_batch > 1).then(|| Instant::now() + GATHER);
                    let mut next = Some(first);
                    loop {
                        while let Some(msg) = next.take() {
                            match msg {
                                Msg::Entry(entry, ack) => {
                                    entries.push(entry);
                                    acks.extend(ack);
                                }
                                Msg::Checkpoint(done) => asked.push(done),
                            }
                            if entries.len() < MAX_BATCH && asked.is_empty() {
                                next = rx.try_recv().ok();
                            }
                        }
                        let waiting = entries.len() < last_batch.min(MAX_BATCH) && asked.is_empty();
                        match gather_until {
                            Some(until) if waiting && Instant::now() < until => {
                                std::thread::sleep(GATHER_SLICE);
                                next = rx.try_recv().ok();
                            }
                            _ => break,
                        }
                    }
                    last_batch = entries.len();
                    let appended = store.append_audit(&entries);
                    indexer.appended(entries.len());
                    if indexer.overdue() {
                        indexer.step(&store);
                    }
                    let result = appended.as_ref().map(drop).map_err(|e| {
                        tracing::error!(error = %crate::redact(&e.to_string()), "audit commit failed");
                        "the audit log could not be written".to_owned()
                    });
                    for ack in acks {
                        let _ = ack.send(result.clone());
                    }
                    if let Some(c) = &mut chain {
                        if let Ok(Some(head)) = appended
                            && !entries.is_empty()
                        {
                            c.note_head(head);
                        }
                        if !asked.is_empty() || c.last_checkpoint.elapsed() >= c.signer.every {
                            c.checkpoint();
                        }
                    }
                    for done in asked {
                        let _ = done.send(());
                    }
                }
                if let Some(c) = &mut chain {
                    c.checkpoint();
                }
            })
            .expect("spawn audit writer");
        AuditSink { tx }
    }

    /// Queues an entry; the ticket resolves when it is committed.
    pub fn record(&self, entry: AuditEntry) -> AuditTicket {
        let (ack, rx) = oneshot::channel();
        if self.tx.send(Msg::Entry(entry, Some(ack))).is_err() {
            let (fail, rx) = oneshot::channel();
            let _ = fail.send(Err("audit writer stopped".into()));
            return AuditTicket(rx);
        }
        AuditTicket(rx)
    }

    /// Queues an entry nobody waits for (refusals: the answer reveals nothing).
    pub fn record_detached(&self, entry: AuditEntry) {
        let _ = self.tx.send(Msg::Entry(entry, None));
    }

    /// Commits every entry queued so far and signs the chain head (when the writer has a
    /// signer); returns once done. Blocking.
    pub fn checkpoint(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Msg::Checkpoint(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}
