//! The embedded default: one SQLite file in WAL mode, plus the audit tables in a second
//! file beside it ([`audit_file`]), attached to every connection as `audit`. One writer
//! connection (SQLite serializes writers anyway) and a pool of readers that see committed
//! snapshots.
//!
//! Why two files: in WAL mode every commit changes the file's WAL index, and each reader
//! connection then drops its whole page cache at its next read transaction. With the
//! audit log in the registry's file, every audited read's commit emptied the caches of
//! all the citizen readers. An audit commit now writes the audit file only (a write
//! transaction that changes no page of `main` leaves its WAL untouched), so the
//! registry's readers keep their caches.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::pool::Pool;
use crate::sql::{Dialect, Row, Tx, Value};
use crate::{Error, Files};

pub(crate) struct SqliteBackend {
    path: PathBuf,
    audit_path: PathBuf,
    writer: Mutex<Connection>,
    /// The audit log's own writer: the audit file alone, not attached to the registry, so
    /// that an audit commit neither takes the registry's write lock nor ends a
    /// transaction on it. The checkpointer thread holds it weakly and stops when the
    /// backend is dropped.
    audit_writer: std::sync::Arc<Mutex<Connection>>,
    readers: Pool<Connection>,
    /// Whether readers map the registry file ([`SqliteBackend::map_readers`]).
    map_readers: std::sync::atomic::AtomicBool,
}

/// How often the WAL is folded into the database, off the commit path: with SQLite's
/// automatic checkpoint, the writer that crosses the threshold copies the pages while
/// every waiting audit commit stalls behind it.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Folds both WALs into their files every [`CHECKPOINT_EVERY`] while the backend lives.
///
/// A checkpoint that runs beside a stream of commits never catches up with it, and a
/// WAL is only started over once it has been folded whole: under a sustained read load
/// the audit file's WAL grew by every audit commit (1.3 GB in a 20 s benchmark). So the
/// audit file is folded in two steps: the bulk beside the commits, then the few frames
/// committed meanwhile while holding the audit writer (a stall of a few milliseconds),
/// after which its next commit starts the WAL over.
fn start_checkpointer(
    path: &Path,
    audit: &Path,
    audit_writer: std::sync::Weak<Mutex<Connection>>,
) -> Result<(), Error> {
    let conn = open_connection(path, audit, false)?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Some(writer) = audit_writer.upgrade() {
                drop(writer);
                std::thread::sleep(CHECKPOINT_EVERY);
                let result = conn
                    .execute_batch("PRAGMA main.wal_checkpoint(PASSIVE);")
                    .and_then(|()| fold_audit_wal(&conn, &audit_writer, AUDIT_WAL_TAIL));
                if let Err(e) = result {
                    eprintln!("dancu: WAL checkpoint failed: {e}");
                }
            }
        })
        .map_err(|e| Error::Io(e.to_string()))?;
    Ok(())
}

/// The length of the audit file's WAL (in frames, 128 MiB) past which the checkpointer
/// holds the audit writer to fold the WAL whole. The stall includes the checkpoint's
/// fsyncs, which this VM's disk takes tens to hundreds of milliseconds to do under other
/// writes: holding the writer at every pass (at 4 MiB) put such a stall in every 500 ms
/// of a read load, and into its p99. At 30,000 verifications/s the WAL passes 128 MiB
/// every few seconds (each commit rewrites whole pages at the right edges of the log's
/// B-trees: ~1.5 KB of WAL per entry), which is the verify endpoint's p99 (BENCHMARKS.md).
/// The WAL stays under `journal_size_limit`.
const AUDIT_WAL_TAIL: i64 = 32_768;

fn fold_audit_wal(
    conn: &Connection,
    audit_writer: &std::sync::Weak<Mutex<Connection>>,
    tail: i64,
) -> rusqlite::Result<()> {
    // The result row is (busy, frames in the WAL, frames folded). The pass folds the
    // frames that were there when it began (it may report all of them folded), but a
    // commit made while it ran keeps the WAL from starting over: under a steady load it
    // never would. So past the limit, fold the rest while no commit can come in. What
    // came in during a pass over 128 MiB (tens of MiB under load: a 20 ms stall of every
    // audited read, the p99 of the read benchmark) is first folded by further passes
    // beside the commits, each over what came in during the one before, so that the
    // writer is held for about a mebibyte.
    let pass = || conn.query_row("PRAGMA audit.wal_checkpoint(PASSIVE)", [], |r| r.get(1));
    let mut frames: i64 = pass()?;
    if frames < tail {
        return Ok(());
    }
    for _ in 0..AUDIT_WAL_CATCH_UP_PASSES {
        let before = frames;
        frames = pass()?;
        if frames - before <= AUDIT_WAL_HELD_FRAMES {
            break;
        }
    }
    if let Some(writer) = audit_writer.upgrade() {
        let writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// Passes beside the commits after the one that found the audit WAL past its limit, at
/// most: each folds what came in during the one before.
const AUDIT_WAL_CATCH_UP_PASSES: usize = 4;

/// New frames (1 MiB) few enough to fold while holding the audit writer.
const AUDIT_WAL_HELD_FRAMES: i64 = 256;

impl SqliteBackend {
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        let audit_path = audit_file(path);
        check_audit_file(path, &audit_path)?;
        let writer = open_connection(path, &audit_path, false)?;
        writer.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
        // `LOCK_MAIN` writes to it.
        writer.execute_batch(crate::schema::SCHEMA_VERSION_TABLE)?;
        let audit_writer = std::sync::Arc::new(Mutex::new(open_audit_writer(&audit_path)?));
        start_checkpointer(path, &audit_path, std::sync::Arc::downgrade(&audit_writer))?;
        Ok(SqliteBackend {
            path: path.to_owned(),
            audit_path,
            writer: Mutex::new(writer),
            audit_writer,
            readers: Pool::new(16),
            map_readers: false.into(),
        })
    }

    pub(crate) fn audit_path(&self) -> &Path {
        &self.audit_path
    }

    /// A write transaction on `files`. A transaction on both files takes both write
    /// locks first, `main`'s then the audit file's: one that read the audit file before
    /// writing it would fail at once if the audit writer had committed meanwhile (SQLite
    /// cannot upgrade a stale snapshot). The audit file alone has its own writer.
    pub(crate) fn write<T>(
        &self,
        files: Files,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match files {
            Files::Registry => write_on(&self.writer, &[LOCK_MAIN], f),
            Files::Audit => write_on(&self.audit_writer, &[], f),
            Files::Both => write_on(&self.writer, &[LOCK_MAIN, LOCK_AUDIT], f),
        }
    }

    /// Has readers opened from now on map the registry file ([`READER_MMAP_BYTES`]), and
    /// closes the idle ones.
    pub(crate) fn map_readers(&self) {
        self.map_readers
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.readers.drop_idle();
    }

    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.readers.with(
            || {
                let conn = open_connection(&self.path, &self.audit_path, true)?;
                if self.map_readers.load(std::sync::atomic::Ordering::Relaxed) {
                    conn.execute_batch(&format!("PRAGMA main.mmap_size={READER_MMAP_BYTES};"))?;
                }
                Ok(conn)
            },
            |conn| {
                // A deferred transaction gives multi-statement reads one snapshot. Cached
                // statements: `execute_batch` would parse BEGIN and COMMIT on every read.
                conn.prepare_cached("BEGIN")?.execute([])?;
                let out = f(&mut SqliteTx { conn });
                // Ends the read snapshot (a read-only connection has nothing to commit).
                conn.prepare_cached("COMMIT")?.execute([])?;
                out
            },
            |_| false,
        )
    }

    /// Whether the writer's sorts and temporary tables go to files (for migrations, which
    /// may sort a whole table: the lists migration sorted 51 M rows in 2.5 GB of memory)
    /// or stay in memory (the default, for the small ones of everyday writes).
    pub(crate) fn temp_on_disk(&self, on: bool) -> Result<(), Error> {
        let conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let store = if on { "FILE" } else { "MEMORY" };
        conn.execute_batch(&format!("PRAGMA temp_store={store}"))?;
        Ok(())
    }

    /// Settings for a bulk load on the writer: durability is traded for speed, as the load
    /// is one transaction and either commits whole or not at all.
    pub(crate) fn bulk_mode(&self, on: bool) -> Result<(), Error> {
        let conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            // Index builds sort on worker threads only with temporary files on disk
            // (SQLite runs the sorter single-threaded when temp_store is MEMORY).
            conn.execute_batch(
                "PRAGMA synchronous=OFF; PRAGMA cache_size=-4000000; \
                 PRAGMA temp_store=FILE; PRAGMA threads=2;",
            )?;
        } else {
            // Fold the load's WAL into the database now, not in the first commits after it
            // (readers would search a WAL of gigabytes, and a writer would stall on it).
            conn.execute_batch(
                "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; \
                 PRAGMA temp_store=MEMORY; PRAGMA threads=0;",
            )?;
            fold_whole_wal(&conn, "main")?;
        }
        Ok(())
    }

    /// After migrations that changed a file (they mark it, see [`mark_unsettled`]), for
    /// the registry file and the audit file alike: its WAL folded (readers would search
    /// gigabytes of it until then), and the file compacted when an eighth or more of its
    /// pages are free (a rebuilt table leaves the old one's: 30% of a 10 M province's
    /// registry, 40% of an audit file after 57 M batch rows). `VACUUM` keeps its temporary
    /// copy on disk, not in memory. The mark is cleared at the end, so a process stopped
    /// before that, or a WAL that readers of another process held for a minute, leaves
    /// the work to the next open.
    pub(crate) fn settle_after_migration(&self) -> Result<(), Error> {
        let conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        for file in ["main", "audit"] {
            settle_file(&conn, file)?;
        }
        Ok(())
    }
}

/// [`SqliteBackend::settle_after_migration`] of one file (`main` or `audit`).
fn settle_file(conn: &Connection, file: &str) -> Result<(), Error> {
    let pragma =
        |name: &str| conn.query_row(&format!("PRAGMA {file}.{name}"), [], |r| r.get::<_, i64>(0));
    if pragma("user_version")? != UNSETTLED || !fold_whole_wal(conn, file)? {
        return Ok(());
    }
    let (free, pages) = (pragma("freelist_count")?, pragma("page_count")?);
    if free > 0 && free * 8 >= pages {
        conn.execute_batch("PRAGMA temp_store=FILE")?;
        let vacuumed = conn.execute_batch(&format!("VACUUM {file}"));
        conn.execute_batch("PRAGMA temp_store=MEMORY")?;
        // A failure (e.g. no room for the copy) is not tried again: the store works as
        // it is, and its free pages are reused as it grows.
        if let Err(e) = vacuumed {
            eprintln!("dancu: the {file} database file was not compacted: {e}");
        }
    }
    conn.execute_batch(&format!("PRAGMA {file}.user_version = 0"))?;
    fold_whole_wal(conn, file)?;
    Ok(())
}

/// A file's `user_version` while a migration's aftermath is pending.
const UNSETTLED: i64 = 1;

/// Marks `file` (`main`, the registry, or `audit`) as changed by a migration, in the
/// migration's transaction (SQLite; see [`SqliteBackend::settle_after_migration`]).
pub(crate) fn mark_unsettled(tx: &mut dyn Tx, file: &str) -> Result<(), Error> {
    tx.exec(&format!("PRAGMA {file}.user_version = {UNSETTLED}"), &[])?;
    Ok(())
}

/// Takes the registry file's write lock, and only that one, at the start of a registry
/// write. `BEGIN IMMEDIATE` would lock every attached file, the audit file too, so that
/// each registry write (a login, a change) held up the audit commits of all the reads
/// served meanwhile (they waited in SQLite's busy handler, which sleeps in steps of up to
/// 100 ms). A write that changes nothing still begins a write transaction on its file.
const LOCK_MAIN: &str = "UPDATE main.schema_version SET version = version WHERE 0";

/// The same for the attached audit file.
const LOCK_AUDIT: &str = "UPDATE audit.verify_jobs SET status = status WHERE 0";

/// Folds the WAL of `file` (`main`, the registry, or `audit`) whole and truncates it;
/// returns whether it could within a minute. The background checkpointer may be folding it at the same moment, and SQLite
/// then answers "busy" at once (as a result, not an error): a seed's 3 GB WAL was left
/// unfolded that way. So try again, a while; each try waits at most 100 ms for readers
/// of other processes (not the connection's 30 s), so that a long reader costs a minute.
fn fold_whole_wal(conn: &Connection, file: &str) -> Result<bool, Error> {
    conn.busy_timeout(std::time::Duration::from_millis(100))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let folded = loop {
        let busy = conn.query_row(
            &format!("PRAGMA {file}.wal_checkpoint(TRUNCATE)"),
            [],
            |r| r.get::<_, i64>(0),
        );
        match busy {
            Ok(0) => break Ok(true),
            Ok(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            // Readers held the WAL for a minute: the checkpointer folds it later.
            Ok(_) => break Ok(false),
            Err(e) => break Err(e),
        }
    };
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    Ok(folded?)
}

/// A write transaction: `IMMEDIATE` on a connection to one file (no `locks`), else
/// deferred with the write locks taken by `locks` (statements that write nothing to the
/// files to lock), in order.
fn write_on<T>(
    writer: &Mutex<Connection>,
    locks: &[&str],
    f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
) -> Result<T, Error> {
    // A panic inside an earlier write rolled its transaction back when it unwound,
    // so the connection is sound: recover it rather than refuse all later writes.
    let mut conn = writer.lock().unwrap_or_else(|e| e.into_inner());
    let behavior = if locks.is_empty() {
        rusqlite::TransactionBehavior::Immediate
    } else {
        rusqlite::TransactionBehavior::Deferred
    };
    let tx = conn.transaction_with_behavior(behavior)?;
    for lock in locks {
        tx.prepare_cached(lock)?.execute([])?;
    }
    let out = f(&mut SqliteTx { conn: &tx })?;
    tx.commit()?;
    Ok(out)
}

/// The audit file on its own connection. `journal_size_limit`: a WAL that grew while a
/// long reader held it back is cut back to 256 MiB once folded. Not less: frames written
/// past the end of the file cost the file system a block allocation and zeroing (17% of
/// the audit writer's CPU under read load when the WAL kept being cut to 64 MiB), while
/// frames rewritten over a restarted WAL cost a copy. A small page cache: a
/// commit scans the whole cache (`pcache1TruncateUnsafe`, 7% of the server's CPU under
/// read load with 8 MiB), and the writer only needs the right edges of the B-trees; the
/// rest comes from the operating system's cache.
fn open_audit_writer(audit: &Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        audit,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-256; \
         PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=268435456;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The file of the audit-owned tables (`schema::AUDIT_TABLES`) of the store at `path`:
/// `dancu.db` → `dancu.audit.db`, in the same directory.
pub(crate) fn audit_file(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    match path.extension() {
        Some(ext) => path.with_file_name(format!("{stem}.audit.{}", ext.to_string_lossy())),
        None => path.with_file_name(format!("{stem}.audit")),
    }
}

/// Refuses to open a store with one of its two files missing: attaching would create an
/// empty audit file (an audit log silently restarted) or put a new registry beside an old
/// log.
fn check_audit_file(path: &Path, audit: &Path) -> Result<(), Error> {
    // A file's pages may all still be in its WAL.
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let has_data = |p: &Path| {
        let mut wal = p.as_os_str().to_owned();
        wal.push("-wal");
        size(p) > 0 || size(Path::new(&wal)) > 0
    };
    match (has_data(path), has_data(audit)) {
        (false, true) => Err(Error::Config(format!(
            "{} holds an audit log but its database {} is missing: restore both files \
             from the same backup, or move the audit file away to start a new store",
            audit.display(),
            path.display()
        ))),
        (true, false) => {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            // Stores of earlier versions keep the audit tables in the main file; they
            // move at the next migration (`schema::MOVE_AUDIT`).
            let moved: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'schema_version') \
                 AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'audit_log')",
                [],
                |r| r.get(0),
            )?;
            if moved {
                return Err(Error::Config(format!(
                    "the audit log of {} is kept in {}, which is missing: restore it from \
                     the backup made together with the database",
                    path.display(),
                    audit.display()
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// How much of the registry's file a reader maps into memory when asked to
/// ([`crate::Store::map_registry_file`]): all of it (the bound that `.cargo/config.toml`
/// compiles SQLite with is 1 TiB). A reader then reads pages in place instead of copying
/// each into its page cache with `pread`: in a batch verification of 10 M citizens, 13%
/// less CPU, and 100 MiB of heap instead of 280. The mapped pages are the operating
/// system's file cache, shared by every connection and process, but they count in the
/// process's resident memory, which the server keeps under 300 MB: it does not map.
const READER_MMAP_BYTES: u64 = 1 << 40;

fn open_connection(path: &Path, audit: &Path, read_only: bool) -> Result<Connection, Error> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    if !read_only {
        conn.execute_batch("PRAGMA journal_mode=WAL;")?;
    }
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; \
         PRAGMA temp_store=MEMORY;",
    )?;
    // The attached file inherits the connection's flags (read-only for readers).
    let audit = audit.to_str().ok_or_else(|| {
        Error::Config(format!("audit file path is not UTF-8: {}", audit.display()))
    })?;
    conn.execute("ATTACH DATABASE ?1 AS audit", [audit])?;
    if !read_only {
        conn.execute_batch("PRAGMA audit.journal_mode=WAL;")?;
    }
    conn.execute_batch("PRAGMA audit.synchronous=NORMAL; PRAGMA audit.cache_size=-8192;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Rewrites PostgreSQL-style `$N` placeholders as SQLite's `?N`, which binds by number
/// (SQLite would number `$N` by first appearance instead).
fn sqlite_placeholders(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out.into()
}

struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Code(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn read_row(row: &rusqlite::Row<'_>, n: usize) -> Result<Row, Error> {
    (0..n)
        .map(|i| {
            Ok(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                // No column of the schema holds anything but integers, and SQLite keeps any
                // number in a BIGINT column: read back truncated, a number altered by a
                // fraction would pass for the original (the audit chain's hash included).
                ValueRef::Real(v) => {
                    return Err(Error::Corrupt(format!(
                        "a number that is not an integer ({v}) where the schema keeps integers"
                    )));
                }
                // Checked whole, the lossy conversion's chunk walk only for broken text.
                ValueRef::Text(t) => Value::Text(
                    String::from_utf8(t.to_vec())
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                ),
                ValueRef::Blob(_) => {
                    return Err(Error::Corrupt("unexpected blob column".into()));
                }
            })
        })
        .collect()
}

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        let mut stmt = self.conn.prepare_cached(&sqlite_placeholders(sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn for_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut stmt = self.conn.prepare_cached(&sqlite_placeholders(sql))?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            f(read_row(row, n)?)?;
        }
        Ok(())
    }

    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Row>,
    ) -> Result<u64, Error> {
        // Rows go in groups of 64 per statement (then 16, 4, 1 for the rest: few distinct
        // statements to cache), so that a batch of audit entries or a bulk load steps and
        // resets one statement per group instead of one per row.
        let sizes: Vec<usize> = [64, 16, 4, 1]
            .into_iter()
            .filter(|&g| g == 1 || g * columns.len() <= MAX_PARAMS)
            .collect();
        let mut pending: Vec<Row> = Vec::with_capacity(sizes[0]);
        let mut n = 0;
        let mut flush = |pending: &mut Vec<Row>, group: usize| -> Result<(), Error> {
            let full = pending.len() / group * group;
            if full > 0 {
                let mut stmt = self
                    .conn
                    .prepare_cached(&insert_sql(table, columns, group))?;
                for chunk in pending[..full].chunks(group) {
                    stmt.execute(rusqlite::params_from_iter(chunk.iter().flatten()))?;
                }
                pending.drain(..full);
                n += full as u64;
            }
            Ok(())
        };
        for row in rows {
            pending.push(row);
            if pending.len() == sizes[0] {
                flush(&mut pending, sizes[0])?;
            }
        }
        for &group in &sizes {
            flush(&mut pending, group)?;
        }
        Ok(n)
    }
}

/// SQLite's default limit on bound parameters per statement (since 3.32).
const MAX_PARAMS: usize = 32_766;

/// `INSERT INTO table (columns) VALUES (?1, …), (…)` for `rows` rows.
fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(","));
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ",(" });
        for c in 0..columns.len() {
            if c > 0 {
                sql.push(',');
            }
            sql.push('?');
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditEntry, Backend, Store};

    fn wal_len(store: &Store) -> u64 {
        let mut wal = store.audit_file().unwrap().as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    fn append(store: &Store, commits: usize) {
        let entry = AuditEntry {
            actor: "officer.1".into(),
            action: "citizen.read".into(),
            outcome: "ok".into(),
            ..Default::default()
        };
        for _ in 0..commits {
            store.append_audit(std::slice::from_ref(&entry)).unwrap();
        }
    }

    /// A busy audit writer's WAL is folded whole and started over, instead of growing
    /// for as long as the commits keep coming.
    #[test]
    fn the_audit_wal_is_folded_whole_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dancu.db");
        let store = Store::open(&format!("sqlite://{}", path.display())).unwrap();
        let Backend::Sqlite(backend) = &store.backend else {
            unreachable!()
        };
        append(&store, 600);
        let grown = wal_len(&store);
        let tail = 1024;
        assert!(grown > 4096 * tail as u64 / 2, "WAL of {grown} bytes");
        let conn = open_connection(&path, backend.audit_path(), false).unwrap();
        fold_audit_wal(
            &conn,
            &std::sync::Arc::downgrade(&backend.audit_writer),
            tail,
        )
        .unwrap();
        // Half as many commits as before: a WAL started over does not grow past its old
        // length (the background checkpointer may have started it over earlier too).
        append(&store, 300);
        let after = wal_len(&store);
        assert!(after <= grown, "WAL grew from {grown} to {after} bytes");
    }

    /// Audit commits go on while the registry's writer is in a transaction: every read
    /// served during a registry write waits for its audit entry's commit. (With `BEGIN
    /// IMMEDIATE` the registry's writer also locked the attached audit file, and this
    /// append failed with "database is locked" after the 30 s busy timeout.)
    #[test]
    fn a_registry_write_does_not_hold_up_audit_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dancu.db");
        let store =
            std::sync::Arc::new(Store::open(&format!("sqlite://{}", path.display())).unwrap());
        let reader = store.clone();
        store
            .write(|tx| {
                tx.exec("UPDATE schema_version SET version = version", &[])?;
                let appended = std::thread::spawn(move || {
                    reader.append_audit(&[AuditEntry {
                        actor: "officer.1".into(),
                        action: "citizen.read".into(),
                        outcome: "ok".into(),
                        ..Default::default()
                    }])
                })
                .join()
                .unwrap();
                assert!(appended.is_ok(), "{appended:?}");
                Ok(())
            })
            .unwrap();
    }

    /// The end of a bulk load folds the load's WAL into the database and empties it.
    #[test]
    fn a_bulk_load_leaves_no_wal_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dancu.db");
        let store = Store::open(&format!("sqlite://{}", path.display())).unwrap();
        store.set_bulk_mode(true).unwrap();
        store
            .write(|tx| {
                tx.exec("CREATE TABLE filler (x TEXT)", &[])?;
                tx.bulk_insert(
                    "filler",
                    &["x"],
                    &mut (0..20_000).map(|i| vec![Value::Text(format!("{i:0>200}"))]),
                )?;
                Ok(())
            })
            .unwrap();
        store.set_bulk_mode(false).unwrap();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        assert_eq!(std::fs::metadata(wal).map_or(0, |m| m.len()), 0);
    }

    #[test]
    fn placeholders_bind_by_number() {
        assert_eq!(
            sqlite_placeholders("a = $2 AND b = $10"),
            "a = ?2 AND b = ?10"
        );
        assert_eq!(sqlite_placeholders("SELECT 1"), "SELECT 1");
    }
}
