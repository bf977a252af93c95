//! The small SQL interface both backends implement, so that every query of the store is
//! written once. Placeholders are `$1, $2, …` (PostgreSQL style, which SQLite also accepts
//! when each first appears in order).

use crate::Error;

/// A value bound to or read from SQL. Integers are 64-bit on both backends (BIGINT).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    /// A static text (codes such as `M`, `permanent`, `2025`): bound without allocating,
    /// which matters when loading tens of millions of rows. Never produced by reads.
    Code(&'static str),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            Value::Code(s) => Some(s),
            _ => None,
        }
    }

    pub fn into_string(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s),
            Value::Code(s) => Some(s.to_owned()),
            _ => None,
        }
    }

    /// Moves the text out (leaving NULL): a read consumes its rows, so strings move.
    pub fn take_text(&mut self) -> Option<String> {
        std::mem::replace(self, Value::Null).into_string()
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

pub type Row = Vec<Value>;

/// SQL dialect differences that queries must know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection inside a transaction. Dropping without commit rolls back (the backends
/// commit only when the closure given to `Store::write` returns `Ok`).
pub trait Tx {
    fn dialect(&self) -> Dialect;
    /// Executes a statement; returns the number of rows affected.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, Error>;
    /// Runs a query and collects its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, Error> {
        let mut out = Vec::new();
        self.for_each(sql, params, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }
    /// Runs a query, handing each row to `f` without collecting (large scans).
    fn for_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<(), Error>;
    /// Bulk insert of many rows into `table(columns)`: COPY on PostgreSQL, a cached prepared
    /// INSERT on SQLite.
    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Row>,
    ) -> Result<u64, Error>;
}

impl dyn Tx + '_ {
    pub fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, Error> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub fn query_i64(&mut self, sql: &str, params: &[Value]) -> Result<i64, Error> {
        self.query_one(sql, params)?
            .and_then(|r| r.into_iter().next())
            .and_then(|v| v.as_i64())
            .ok_or_else(|| Error::Corrupt(format!("expected an integer from: {sql}")))
    }
}
