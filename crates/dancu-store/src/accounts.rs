//! Staff accounts and their sessions. Tokens are stored only as SHA-256 hashes by the
//! caller; the store never sees a token or a password.

use serde::Serialize;

use crate::sql::{Row, Value};
use crate::{Error, Store, now_millis};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub unit: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub user: UserRecord,
    pub expires_at_millis: i64,
}

const USER_COLUMNS: &str = "u.id, u.username, u.password_hash, u.role, u.unit, u.disabled";

fn user_from(mut r: Row) -> UserRecord {
    let mut text = |i: usize| {
        std::mem::replace(&mut r[i], Value::Null)
            .into_string()
            .unwrap_or_default()
    };
    let (username, password_hash, role, unit) = (text(1), text(2), text(3), text(4));
    UserRecord {
        id: r[0].as_i64().unwrap_or_default(),
        username,
        password_hash,
        role,
        unit,
        disabled: r[5].as_i64().unwrap_or(0) != 0,
    }
}

impl Store {
    pub fn create_user(&self, user: &NewUser) -> Result<i64, Error> {
        self.write(|tx| {
            if tx
                .query_one(
                    "SELECT 1 FROM users WHERE username = $1",
                    &[Value::Text(user.username.clone())],
                )?
                .is_some()
            {
                return Err(Error::Conflict(format!(
                    "user {} already exists",
                    user.username
                )));
            }
            tx.query_i64(
                "INSERT INTO users (username, password_hash, role, unit, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    Value::Text(user.username.clone()),
                    Value::Text(user.password_hash.clone()),
                    Value::Text(user.role.clone()),
                    Value::Text(user.unit.clone()),
                    Value::Int(now_millis()),
                ],
            )
        })
    }

    pub fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1"),
                    &[Value::Text(username.to_owned())],
                )?
                .map(user_from))
        })
    }

    pub fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires_at_millis: i64,
    ) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
                &[
                    Value::Text(token_hash.to_owned()),
                    Value::Int(user_id),
                    Value::Int(now_millis()),
                    Value::Int(expires_at_millis),
                ],
            )?;
            Ok(())
        })
    }

    /// The live session of a token hash: not revoked, not expired, user not disabled.
    pub fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    &format!(
                        "SELECT {USER_COLUMNS}, s.expires_at FROM sessions s \
                         JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 \
                         AND s.revoked = 0 AND s.expires_at > $2 AND u.disabled = 0"
                    ),
                    &[Value::Text(token_hash.to_owned()), Value::Int(now_millis())],
                )?
                .map(|r| {
                    let expires_at_millis = r[6].as_i64().unwrap_or_default();
                    SessionRecord {
                        user: user_from(r),
                        expires_at_millis,
                    }
                }))
        })
    }

    pub fn revoke_session(&self, token_hash: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.exec(
                "UPDATE sessions SET revoked = 1 WHERE token_hash = $1",
                &[Value::Text(token_hash.to_owned())],
            )?;
            Ok(())
        })
    }
}
