//! RFC 9457 problem details: the one mapping from use-case errors to HTTP answers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dancu_app::Error;
use serde_json::json;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, short title, and a detail safe to show the caller.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    /// Seconds for the `Retry-After` header of a 429.
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        match e {
            Error::Invalid(m) => Problem::new(StatusCode::BAD_REQUEST, m),
            Error::NotFound => Problem::new(StatusCode::NOT_FOUND, "no such record in your scope"),
            Error::Forbidden(_) => Problem::new(
                StatusCode::FORBIDDEN,
                "your role or unit does not allow this action on this record",
            ),
            Error::Unauthenticated => Problem::new(
                StatusCode::UNAUTHORIZED,
                "authentication failed or the session has expired",
            ),
            Error::ReauthRequired => Problem::new(
                StatusCode::UNAUTHORIZED,
                "this action needs a recent authentication: POST /api/v1/auth/reauth first",
            ),
            Error::Conflict(m) => Problem::new(StatusCode::CONFLICT, m),
            Error::Refused(m) => Problem::new(StatusCode::FORBIDDEN, m),
            Error::TooManyRequests {
                retry_after_secs,
                detail,
            } => Problem {
                retry_after: Some(retry_after_secs),
                ..Problem::new(StatusCode::TOO_MANY_REQUESTS, detail)
            },
            Error::Internal(m) => {
                // The caller learns nothing internal; the log gets the message with
                // anything that could identify a person removed.
                tracing::error!(error = %dancu_app::redact(&m), "internal error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// The problem body for a status (also used to rewrite framework errors).
pub fn body(status: StatusCode, detail: &str) -> String {
    json!({
        "type": format!("https://dancu.vn/problems/{}", status.as_u16()),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    })
    .to_string()
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut res = (self.status, body(self.status, &self.detail)).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
