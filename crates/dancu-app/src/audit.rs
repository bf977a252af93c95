//! Group-committed audit writes. Every read of a person's data sends its entry here and
//! waits for the commit before the data is released; concurrent entries share one
//! transaction, so auditing does not become the bottleneck of reads.

use std::sync::Arc;
use std::sync::mpsc;

use dancu_store::{AuditEntry, Store};
use tokio::sync::oneshot;

use crate::Error;

/// Entries per transaction at most; a burst beyond it waits for the next commit.
const MAX_BATCH: usize = 4096;

type Pending = (AuditEntry, Option<oneshot::Sender<Result<(), String>>>);

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Pending>,
}

/// A commit that the caller must wait for before releasing the audited data.
#[must_use = "audited data may only be released once its audit entry is committed"]
pub struct AuditTicket(oneshot::Receiver<Result<(), String>>);

impl AuditTicket {
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

impl AuditSink {
    /// Starts the writer thread; it stops when every sink clone is dropped.
    pub fn start(store: Arc<Store>) -> AuditSink {
        let (tx, rx) = mpsc::channel::<Pending>();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(p) => batch.push(p),
                            Err(_) => break,
                        }
                    }
                    let (entries, acks): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    let result = store.append_audit(&entries).map_err(|e| {
                        tracing::error!(error = %crate::redact(&e.to_string()), "audit commit failed");
                        "the audit log could not be written".to_owned()
                    });
                    for ack in acks.into_iter().flatten() {
                        let _ = ack.send(result.clone());
                    }
                }
            })
            .expect("spawn audit writer");
        AuditSink { tx }
    }

    /// Queues an entry; the ticket resolves when it is committed.
    pub fn record(&self, entry: AuditEntry) -> AuditTicket {
        let (ack, rx) = oneshot::channel();
        if self.tx.send((entry, Some(ack))).is_err() {
            let (fail, rx) = oneshot::channel();
            let _ = fail.send(Err("audit writer stopped".into()));
            return AuditTicket(rx);
        }
        AuditTicket(rx)
    }

    /// Queues an entry nobody waits for (refusals: the answer reveals nothing).
    pub fn record_detached(&self, entry: AuditEntry) {
        let _ = self.tx.send((entry, None));
    }
}
