//! A minimal blocking connection pool shared by both backends.
//!
//! Both drivers are synchronous; the server calls the store from blocking threads, so a
//! mutex-guarded stack of idle connections with a cap is all that is needed.

use std::sync::{Condvar, Mutex};

pub(crate) struct Pool<C> {
    idle: Mutex<PoolState<C>>,
    returned: Condvar,
    max: usize,
}

struct PoolState<C> {
    idle: Vec<C>,
    open: usize,
}

impl<C> Pool<C> {
    pub(crate) fn new(max: usize) -> Self {
        Pool {
            idle: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            max: max.max(1),
        }
    }

    /// Runs `f` with a connection, opening one with `open` when none is idle and the cap allows.
    /// A connection whose use failed with a connection-level error is dropped, not returned.
    pub(crate) fn with<T, E>(
        &self,
        open: impl FnOnce() -> Result<C, E>,
        f: impl FnOnce(&mut C) -> Result<T, E>,
        is_broken: impl FnOnce(&E) -> bool,
    ) -> Result<T, E> {
        let mut conn = {
            let mut state = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(c) = state.idle.pop() {
                    break Some(c);
                }
                if state.open < self.max {
                    state.open += 1;
                    break None;
                }
                state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        if conn.is_none() {
            match open() {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    self.release(None);
                    return Err(e);
                }
            }
        }
        // If `f` panics, the guard gives the slot back (the connection is dropped).
        let mut guard = Slot {
            pool: self,
            conn: conn.take(),
        };
        let result = f(guard.conn.as_mut().expect("connection"));
        if matches!(&result, Err(e) if is_broken(e)) {
            guard.conn = None;
        }
        drop(guard);
        result
    }

    /// Closes the idle connections, so that later uses open new ones (connections in use
    /// return to the pool as they are).
    pub(crate) fn drop_idle(&self) {
        let mut state = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        state.open -= state.idle.len();
        state.idle.clear();
    }

    fn release(&self, conn: Option<C>) {
        let mut state = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        match conn {
            Some(c) => state.idle.push(c),
            None => state.open -= 1,
        }
        drop(state);
        self.returned.notify_one();
    }
}

/// A checked-out connection: returned to the pool (or its slot freed) on drop.
struct Slot<'p, C> {
    pool: &'p Pool<C>,
    conn: Option<C>,
}

impl<C> Drop for Slot<'_, C> {
    fn drop(&mut self) {
        self.pool.release(self.conn.take());
    }
}
