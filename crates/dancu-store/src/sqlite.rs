//! The embedded default: one SQLite file in WAL mode. One writer connection (SQLite
//! serializes writers anyway) and a pool of readers that see committed snapshots.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::Error;
use crate::pool::Pool;
use crate::sql::{Dialect, Row, Tx, Value};

pub(crate) struct SqliteBackend {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Pool<Connection>,
    /// Keeps the checkpointer thread alive; it stops when the backend is dropped.
    _checkpointer: std::sync::Arc<()>,
}

/// How often the WAL is folded into the database, off the commit path: with SQLite's
/// automatic checkpoint, the writer that crosses the threshold copies the pages while
/// every waiting audit commit stalls behind it.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

fn start_checkpointer(path: &Path, alive: std::sync::Weak<()>) -> Result<(), Error> {
    let conn = open_connection(path, false)?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                    eprintln!("dancu: WAL checkpoint failed: {e}");
                }
            }
        })
        .map_err(|e| Error::Io(e.to_string()))?;
    Ok(())
}

impl SqliteBackend {
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writer = open_connection(path, false)?;
        writer.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
        let token = std::sync::Arc::new(());
        start_checkpointer(path, std::sync::Arc::downgrade(&token))?;
        Ok(SqliteBackend {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Pool::new(16),
            _checkpointer: token,
        })
    }

    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        // A panic inside an earlier write rolled its transaction back when it unwound,
        // so the connection is sound: recover it rather than refuse all later writes.
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut handle = SqliteTx { conn: &tx };
        let out = f(&mut handle)?;
        tx.commit()?;
        Ok(out)
    }

    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.readers.with(
            || open_connection(&self.path, true),
            |conn| {
                // A deferred transaction gives multi-statement reads one snapshot.
                let tx = conn.unchecked_transaction()?;
                let mut handle = SqliteTx { conn: &tx };
                let out = f(&mut handle);
                tx.finish()?;
                out
            },
            |_| false,
        )
    }

    /// Settings for a bulk load on the writer: durability is traded for speed, as the load
    /// is one transaction and either commits whole or not at all.
    pub(crate) fn bulk_mode(&self, on: bool) -> Result<(), Error> {
        let conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            conn.execute_batch("PRAGMA synchronous=OFF; PRAGMA cache_size=-4000000;")?;
        } else {
            // Fold the load's WAL into the database now, not in the first commits after it
            // (readers would search a WAL of gigabytes, and a writer would stall on it).
            conn.execute_batch(
                "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; \
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )?;
        }
        Ok(())
    }
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, Error> {
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
                ValueRef::Real(v) => Value::Int(v as i64),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
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
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(","),
            placeholders.join(",")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut n = 0;
        for row in rows {
            stmt.execute(rusqlite::params_from_iter(&row))?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_placeholders;

    #[test]
    fn placeholders_bind_by_number() {
        assert_eq!(
            sqlite_placeholders("a = $2 AND b = $10"),
            "a = ?2 AND b = ?10"
        );
        assert_eq!(sqlite_placeholders("SELECT 1"), "SELECT 1");
    }
}
