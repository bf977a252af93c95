//! The data tracker's index of single audit entries by person: sorted runs, merged in the
//! background (a log-structured merge of the `(personal_id, entry)` pairs).
//!
//! Why not an index on `audit_log (personal_id)`: each audited read then wrote one random
//! page of that B-tree — about 4 KB of WAL per read, 100 MB/s at 20,000 reads/s — and the
//! checkpoints that folded those pages stalled the audit writer (the read tail). Here an
//! entry is appended to the log only; the indexer later takes the log's entries
//! [`RunShape::first_run`] at a time, sorts them by person and writes them as a run
//! (sequential pages); runs of a level are merged into one run of the next level once
//! there are [`RunShape::fanout`] of them. Each entry is rewritten once per level (a few
//! times: 4,096 × 16⁴ = 268 M entries in five levels), in large sorted pieces.
//!
//! The data tracker reads every run (a probe each) and the log's entries after the last
//! indexed one (the tail, at most a few runs long while the indexer keeps up). Every step
//! of the indexer is one bounded transaction that moves rows (inserted into the target run
//! and deleted from their sources together), so a reader sees each pair exactly once at
//! any moment, and a crash loses nothing: the next step goes on from the stored state.
//! The index holds nothing the chain does not: it can be rebuilt from the log.

use crate::sql::{Dialect, Tx, Value};
use crate::{Error, Files, Store};

/// The layout of the runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunShape {
    /// Log entries per level-0 run (the tail grows to this before it is indexed).
    pub first_run: i64,
    /// Runs of one level merged into one run of the next.
    pub fanout: i64,
    /// Rows moved per merge step, about (each step is one transaction).
    pub step_rows: i64,
}

/// The shape of production stores: a step moves about 4,096 rows (a few milliseconds
/// on the audit writer), and the tracker probes at most 15 runs per level.
pub const RUN_SHAPE: RunShape = RunShape {
    first_run: 4096,
    fanout: 16,
    step_rows: 4096,
};

/// What one step of the indexer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexStep {
    /// Nothing to do: no merge is due and the tail is shorter than a run.
    Idle,
    /// Wrote a level-0 run from the tail.
    Indexed,
    /// Moved rows of a merge (or started or finished one).
    Merged,
}

impl Store {
    /// Does one bounded step of indexing the audit log for the data tracker, in one
    /// transaction on the audit file: a merge step if a merge is under way or due, else a
    /// new level-0 run if the tail holds a whole one. Safe beside other processes doing
    /// the same (the step holds the index's state row locked).
    pub fn index_audit_step(&self, shape: RunShape) -> Result<IndexStep, Error> {
        self.write_in(Files::Audit, |tx| step(tx, shape))
    }

    /// Log entries not yet in a run: what the tracker scans besides the runs.
    pub fn audit_index_backlog(&self) -> Result<i64, Error> {
        self.read(|tx| {
            tx.query_i64(
                "SELECT COALESCE(MAX(id), 0) - (SELECT indexed_upto FROM audit_run_state) \
                 FROM audit_log",
                &[],
            )
        })
    }
}

/// The ids of the entries about `person` (single entries, not group entries), as a
/// subquery over the runs and the tail; `$1` is the person's number.
pub(crate) const ENTRIES_ABOUT_PERSON: &str = "\
    SELECT r.entry_id FROM audit_run_rows r \
    WHERE r.run IN (SELECT id FROM audit_runs) AND r.personal_id = $1 \
    UNION ALL \
    SELECT id FROM audit_log \
    WHERE id > (SELECT indexed_upto FROM audit_run_state) AND personal_id = $1";

fn step(tx: &mut dyn Tx, shape: RunShape) -> Result<IndexStep, Error> {
    // PostgreSQL: indexers of several processes take turns (SQLite: the file's write lock).
    let lock = match tx.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let state = tx
        .query_one(
            &format!("SELECT indexed_upto, merge_target FROM audit_run_state{lock}"),
            &[],
        )?
        .ok_or_else(|| Error::Corrupt("audit_run_state has no row".into()))?;
    let indexed_upto = state[0].as_i64().unwrap_or_default();
    if let Some(target) = state[1].as_i64() {
        merge_step(tx, target, shape)?;
        return Ok(IndexStep::Merged);
    }
    if let Some(level) = tx
        .query_one(
            "SELECT level FROM audit_runs GROUP BY level HAVING COUNT(*) >= $1 \
             ORDER BY level LIMIT 1",
            &[Value::Int(shape.fanout)],
        )?
        .and_then(|r| r[0].as_i64())
    {
        let target = next_run_id(tx)?;
        tx.exec(
            "UPDATE audit_runs SET merging_into = $1 WHERE level = $2",
            &[Value::Int(target), Value::Int(level)],
        )?;
        tx.exec(
            "INSERT INTO audit_runs (id, level) VALUES ($1, $2)",
            &[Value::Int(target), Value::Int(level + 1)],
        )?;
        tx.exec(
            "UPDATE audit_run_state SET merge_target = $1",
            &[Value::Int(target)],
        )?;
        merge_step(tx, target, shape)?;
        return Ok(IndexStep::Merged);
    }
    let head = tx.query_i64("SELECT COALESCE(MAX(id), 0) FROM audit_log", &[])?;
    if head - indexed_upto < shape.first_run {
        return Ok(IndexStep::Idle);
    }
    let upto = indexed_upto + shape.first_run;
    let mut pairs: Vec<(i64, i64)> = tx
        .query(
            "SELECT personal_id, id FROM audit_log \
             WHERE id > $1 AND id <= $2 AND personal_id IS NOT NULL",
            &[Value::Int(indexed_upto), Value::Int(upto)],
        )?
        .iter()
        .map(|r| {
            (
                r[0].as_i64().unwrap_or_default(),
                r[1].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    if !pairs.is_empty() {
        let run = next_run_id(tx)?;
        tx.exec(
            "INSERT INTO audit_runs (id, level) VALUES ($1, 0)",
            &[Value::Int(run)],
        )?;
        pairs.sort_unstable();
        write_rows(tx, run, &pairs)?;
    }
    tx.exec(
        "UPDATE audit_run_state SET indexed_upto = $1",
        &[Value::Int(upto)],
    )?;
    Ok(IndexStep::Indexed)
}

fn next_run_id(tx: &mut dyn Tx) -> Result<i64, Error> {
    tx.query_i64("SELECT COALESCE(MAX(id), 0) + 1 FROM audit_runs", &[])
}

fn write_rows(tx: &mut dyn Tx, run: i64, sorted: &[(i64, i64)]) -> Result<(), Error> {
    tx.bulk_insert(
        "audit_run_rows",
        &["run", "personal_id", "entry_id"],
        &mut sorted
            .iter()
            .map(|&(person, entry)| vec![Value::Int(run), Value::Int(person), Value::Int(entry)]),
    )?;
    Ok(())
}

/// Moves the smallest persons' rows of the merge's sources into its target: about
/// `step_rows` rows, every row of each person moved (so that each source stays a suffix
/// of itself). Ends the merge when the sources are empty.
fn merge_step(tx: &mut dyn Tx, target: i64, shape: RunShape) -> Result<(), Error> {
    let sources: Vec<i64> = tx
        .query(
            "SELECT id FROM audit_runs WHERE merging_into = $1 ORDER BY id",
            &[Value::Int(target)],
        )?
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect();
    let per_source = (shape.step_rows / sources.len().max(1) as i64).max(1);
    let mut fetched: Vec<Vec<(i64, i64)>> = Vec::with_capacity(sources.len());
    for &source in &sources {
        fetched.push(
            tx.query(
                "SELECT personal_id, entry_id FROM audit_run_rows WHERE run = $1 \
                 ORDER BY personal_id, entry_id LIMIT $2",
                &[Value::Int(source), Value::Int(per_source)],
            )?
            .iter()
            .map(|r| {
                (
                    r[0].as_i64().unwrap_or_default(),
                    r[1].as_i64().unwrap_or_default(),
                )
            })
            .collect(),
        );
    }
    // A source that filled its limit may hold more rows of its last person: persons
    // below the smallest such last person are complete in what was fetched.
    let bound = fetched
        .iter()
        .filter(|rows| rows.len() as i64 == per_source)
        .filter_map(|rows| rows.last().map(|&(person, _)| person))
        .min();
    let mut moved: Vec<(i64, i64)> = match bound {
        None => fetched.concat(),
        Some(bound) => fetched
            .iter()
            .flatten()
            .copied()
            .filter(|&(person, _)| person < bound)
            .collect(),
    };
    // `bound` is the smallest person left: move all of that person's rows at once (a
    // person read more often than a step's share of rows).
    let upto = match bound {
        Some(bound) if moved.is_empty() => {
            for &source in &sources {
                moved.extend(
                    tx.query(
                        "SELECT personal_id, entry_id FROM audit_run_rows \
                         WHERE run = $1 AND personal_id = $2",
                        &[Value::Int(source), Value::Int(bound)],
                    )?
                    .iter()
                    .map(|r| (bound, r[1].as_i64().unwrap_or_default())),
                );
            }
            Some(bound + 1)
        }
        other => other,
    };
    moved.sort_unstable();
    write_rows(tx, target, &moved)?;
    match upto {
        Some(upto) => {
            for &source in &sources {
                tx.exec(
                    "DELETE FROM audit_run_rows WHERE run = $1 AND personal_id < $2",
                    &[Value::Int(source), Value::Int(upto)],
                )?;
            }
        }
        // Every source was read to its end: the merge is complete.
        None => {
            for &source in &sources {
                tx.exec(
                    "DELETE FROM audit_run_rows WHERE run = $1",
                    &[Value::Int(source)],
                )?;
            }
            tx.exec(
                "DELETE FROM audit_runs WHERE merging_into = $1",
                &[Value::Int(target)],
            )?;
            tx.exec("UPDATE audit_run_state SET merge_target = NULL", &[])?;
        }
    }
    Ok(())
}
