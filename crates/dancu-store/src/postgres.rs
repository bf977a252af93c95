//! The scale-out store: PostgreSQL through the synchronous `postgres` client, pooled.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::io::Write;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use crate::Error;
use crate::pool::Pool;
use crate::sql::{Dialect, Row, Tx, Value};

pub(crate) struct PgBackend {
    config: postgres::Config,
    pool: Pool<PgConn>,
}

/// A client with its own prepared-statement cache (the driver has none).
pub(crate) struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgBackend {
    pub(crate) fn open(url: &str) -> Result<Self, Error> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Config(format!("invalid PostgreSQL URL: {e}")))?;
        let backend = PgBackend {
            config,
            pool: Pool::new(16),
        };
        // Fail early with a clear message when the server is unreachable.
        backend.read(|tx| tx.query("SELECT 1", &[]).map(drop))?;
        Ok(backend)
    }

    fn connect(&self) -> Result<PgConn, Error> {
        let client = self.config.connect(NoTls)?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.run(f, "BEGIN")
    }

    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.run(f, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    fn run<T>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
        begin: &str,
    ) -> Result<T, Error> {
        self.pool.with(
            || self.connect(),
            |conn| {
                conn.client.batch_execute(begin)?;
                match f(conn) {
                    Ok(v) => {
                        conn.client.batch_execute("COMMIT")?;
                        Ok(v)
                    }
                    Err(e) => match conn.client.batch_execute("ROLLBACK") {
                        Ok(()) => Err(e),
                        // A failed rollback means a broken connection: report that, so the
                        // pool drops it (the caller's error is lost with the connection).
                        Err(broken) => Err(Error::Postgres(broken)),
                    },
                }
            },
            |e| matches!(e, Error::Postgres(pe) if pe.is_closed()),
        )
    }
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> Result<Statement, Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => (i16::try_from(*i)?).to_sql(ty, out),
                Type::INT4 => (i32::try_from(*i)?).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Text(s) => s.to_sql(ty, out),
            Value::Code(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn read_row(row: &postgres::Row) -> Result<Row, Error> {
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, col)| {
            Ok(match *col.type_() {
                Type::INT8 => row.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int),
                Type::INT4 => row
                    .get::<_, Option<i32>>(i)
                    .map_or(Value::Null, |v| Value::Int(v.into())),
                Type::INT2 => row
                    .get::<_, Option<i16>>(i)
                    .map_or(Value::Null, |v| Value::Int(v.into())),
                Type::BOOL => row
                    .get::<_, Option<bool>>(i)
                    .map_or(Value::Null, |v| Value::Int(v.into())),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
                    .get::<_, Option<String>>(i)
                    .map_or(Value::Null, Value::Text),
                ref other => {
                    return Err(Error::Corrupt(format!(
                        "unsupported column type {other} for {}",
                        col.name()
                    )));
                }
            })
        })
        .collect()
}

fn as_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Tx for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        if params.is_empty() && sql.contains(';') {
            self.client.batch_execute(sql)?;
            return Ok(0);
        }
        let stmt = self.statement(sql)?;
        Ok(self.client.execute(&stmt, &as_params(params))?)
    }

    fn for_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let stmt = self.statement(sql)?;
        let mut rows = self.client.query_raw(&stmt, as_params(params))?;
        while let Some(row) = postgres::fallible_iterator::FallibleIterator::next(&mut rows)? {
            f(read_row(&row)?)?;
        }
        Ok(())
    }

    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Row>,
    ) -> Result<u64, Error> {
        let sql = format!("COPY {table} ({}) FROM STDIN", columns.join(","));
        let mut writer = self.client.copy_in(&sql)?;
        let mut buf = Vec::with_capacity(1 << 16);
        let mut n = 0;
        for row in rows {
            write_copy_row(&mut buf, &row);
            n += 1;
            if buf.len() > 1 << 16 {
                writer
                    .write_all(&buf)
                    .map_err(|e| Error::Io(e.to_string()))?;
                buf.clear();
            }
        }
        writer
            .write_all(&buf)
            .map_err(|e| Error::Io(e.to_string()))?;
        writer.finish()?;
        Ok(n)
    }
}

/// One row in COPY text format: tab-separated, `\N` for NULL, backslash escapes.
fn write_copy_row(buf: &mut Vec<u8>, row: &[Value]) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match v {
            Value::Null => buf.extend_from_slice(b"\\N"),
            Value::Int(n) => buf.extend_from_slice(n.to_string().as_bytes()),
            Value::Text(s) => write_copy_text(buf, s),
            Value::Code(s) => write_copy_text(buf, s),
        }
    }
    buf.push(b'\n');
}

fn write_copy_text(buf: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_escape_special_characters() {
        let mut buf = Vec::new();
        write_copy_row(
            &mut buf,
            &[Value::Int(7), Value::Null, Value::Text("a\tb\\c\nd".into())],
        );
        assert_eq!(buf, b"7\t\\N\ta\\tb\\\\c\\nd\n");
    }
}
