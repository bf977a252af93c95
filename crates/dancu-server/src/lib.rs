//! The HTTP edge of dancu. A request reads as a straight line: the [`Staff`] extractor
//! builds the actor from the bearer token → the handler calls one `dancu-app` function
//! on a blocking thread (policy check, store transaction, audit) → the data is released
//! once its audit entry is committed → JSON, or a problem+json error.

// The OpenAPI document is one `json!` literal, deeper than the default limit.
#![recursion_limit = "512"]

mod civil;
mod client;
mod enrich;
mod openapi;
mod problem;
mod tls;
mod verify;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use dancu_app::accounts::{AccountChange, LoginAttempt};
use dancu_app::citizens::{SearchParams, parse_personal_id};
use dancu_app::partners::Partner;
use dancu_app::readdress::MappingSource;
use dancu_app::{Actor, App, Error, Role};
use dancu_domain::units::Structure;
use dancu_domain::{PartialDate, Residence, ResidenceKind};
use serde::Deserialize;
use serde_json::{Value, json};

pub use client::{ClientInfo, client_ip};
pub use problem::Problem;
pub use tls::{HANDSHAKE_DEADLINE, Peer, Tls};

/// Largest accepted request body. Bulk work goes through files and jobs, not one request.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

type Shared = Arc<App>;
type ApiResult = Result<Response, Problem>;

/// Runs a blocking use case off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Problem::from(Error::Internal(format!("task failed: {e}"))))?
        .map_err(Problem::from)
}

/// Runs a short read (a point lookup): inline on SQLite, whose reads take microseconds
/// and would cost more in a thread hand-off than they take; on a blocking thread for
/// PostgreSQL, whose synchronous client must not run on an async worker.
async fn quick<T: Send + 'static>(
    app: &Shared,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Problem> {
    match app.store.dialect() {
        dancu_store::Dialect::Sqlite => f().map_err(Problem::from),
        dancu_store::Dialect::Postgres => blocking(f).await,
    }
}

/// The token of `Authorization: Bearer TOKEN`.
fn bearer(parts: &Parts) -> Result<String, Problem> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .map(str::to_owned)
        .ok_or_else(|| Problem::from(Error::Unauthenticated))
}

/// An account authenticated by `Authorization: Bearer TOKEN`, used from an address its
/// allow-list admits, with the request's client details and declared dossier.
pub struct Staff(pub Actor);

/// [`Staff`] with the presented token (logout, re-authentication, sensitive actions).
struct Session {
    actor: Actor,
    token: String,
}

/// The dossier a request is made for (`X-Dossier: ID`): lookups for a procedure (037)
/// must name a dossier in progress in the officer's unit.
fn dossier_header(parts: &Parts) -> Result<Option<i64>, Problem> {
    parts
        .headers
        .get("x-dossier")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|d| *d > 0)
                .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "X-Dossier: a dossier id"))
        })
        .transpose()
}

impl FromRequestParts<Shared> for Session {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Problem> {
        let token = bearer(parts)?;
        let client = parts
            .extensions
            .get::<ClientInfo>()
            .cloned()
            .unwrap_or_default();
        let dossier = dossier_header(parts)?;
        let mut actor = match app.cached_actor(&token, client.ip) {
            Some(cached) => cached?,
            None => {
                let (shared, t) = (app.clone(), token.clone());
                quick(app, move || shared.authenticate(&t, client.ip)).await?
            }
        };
        actor.user_agent = client.user_agent;
        actor.dossier = dossier;
        app.check_account_rate(&actor)?;
        Ok(Session { actor, token })
    }
}

impl FromRequestParts<Shared> for Staff {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Problem> {
        Session::from_request_parts(parts, app)
            .await
            .map(|s| Staff(s.actor))
    }
}

/// A partner authenticated by its `X-Api-Key` header, used from an address its
/// allow-list admits, within its rate limit.
pub struct PartnerKey(pub Partner);

impl FromRequestParts<Shared> for PartnerKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Problem> {
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 128)
            .ok_or_else(|| Problem::from(Error::Unauthenticated))?
            .to_owned();
        let client = parts
            .extensions
            .get::<ClientInfo>()
            .cloned()
            .unwrap_or_default();
        let shared = app.clone();
        quick(app, move || {
            shared.authenticate_partner(&key, client.ip, client.user_agent)
        })
        .await
        .map(PartnerKey)
    }
}

/// A JSON body whose rejections (bad JSON, wrong type, too large) are problem+json.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<Shared> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Problem> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

pub(crate) fn json_rejection(e: JsonRejection) -> Problem {
    let status = e.status();
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("request body larger than {MAX_BODY_BYTES} bytes"),
        _ => e.body_text(),
    };
    Problem::new(status, detail)
}

fn pid(s: &str) -> Result<dancu_domain::PersonalId, Problem> {
    parse_personal_id(s).map_err(Problem::from)
}

fn ok_json(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

// ---- handlers ----

async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn openapi_doc() -> Response {
    Json(openapi::document()).into_response()
}

/// The contract's login body; `totp` also accepts a one-time recovery code.
#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    totp: String,
}

async fn login(
    State(app): State<Shared>,
    Extension(client): Extension<ClientInfo>,
    JsonBody(b): JsonBody<LoginBody>,
) -> ApiResult {
    let attempt = LoginAttempt {
        username: b.username,
        password: b.password,
        second_factor: b.totp,
        ip: client.ip,
        user_agent: client.user_agent,
    };
    let (token, expires_at) = blocking(move || app.login(&attempt)).await?;
    ok_json(json!({ "token": token, "expires_at": millis_to_rfc3339(expires_at) }))
}

async fn logout(State(app): State<Shared>, s: Session) -> ApiResult {
    blocking(move || app.logout(&s.token)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ReauthBody {
    password: String,
    totp: String,
}

async fn reauth(
    State(app): State<Shared>,
    s: Session,
    JsonBody(b): JsonBody<ReauthBody>,
) -> ApiResult {
    let until =
        blocking(move || app.reauthenticate(&s.token, &s.actor, &b.password, &b.totp)).await?;
    ok_json(json!({ "reauth_until": millis_to_rfc3339(until) }))
}

#[derive(Deserialize)]
struct PasswordBody {
    current_password: String,
    new_password: String,
    totp: String,
}

async fn change_password(
    State(app): State<Shared>,
    s: Session,
    JsonBody(b): JsonBody<PasswordBody>,
) -> ApiResult {
    blocking(move || {
        app.change_password(
            &s.token,
            &s.actor,
            &b.current_password,
            &b.new_password,
            &b.totp,
        )
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn me(State(app): State<Shared>, Staff(actor): Staff) -> ApiResult {
    let name = actor.username.clone();
    ok_json(blocking(move || app.account(&actor, &name)).await?)
}

#[derive(Deserialize)]
struct LimitParams {
    limit: Option<u32>,
}

async fn my_logins(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Query(p): Query<LimitParams>,
) -> ApiResult {
    let name = actor.username.clone();
    let h = blocking(move || {
        let name = actor.username.clone();
        app.login_history(&actor, &name, p.limit.unwrap_or(100))
    })
    .await?;
    ok_json(json!({ "username": name, "history": h }))
}

async fn my_data_access(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Query(p): Query<LimitParams>,
) -> ApiResult {
    let person = actor.personal_id.ok_or_else(|| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "only a citizen account has its own data tracker",
        )
    })?;
    let a = blocking(move || app.data_access(&actor, person, p.limit.unwrap_or(100))).await?;
    ok_json(json!({ "personal_id": person, "accesses": a }))
}

async fn data_access(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
    Query(p): Query<LimitParams>,
) -> ApiResult {
    let id = pid(&id)?;
    let a = blocking(move || app.data_access(&actor, id, p.limit.unwrap_or(100))).await?;
    ok_json(json!({ "personal_id": id, "accesses": a }))
}

async fn accounts(State(app): State<Shared>, Staff(actor): Staff) -> ApiResult {
    ok_json(json!({ "accounts": blocking(move || app.accounts(&actor)).await? }))
}

#[derive(Deserialize)]
struct NewAccountBody {
    username: String,
    role: String,
    unit: String,
    password: String,
    #[serde(default)]
    allow_ips: Vec<String>,
}

async fn create_account(
    State(app): State<Shared>,
    s: Session,
    JsonBody(b): JsonBody<NewAccountBody>,
) -> ApiResult {
    let role = Role::parse(&b.role)
        .filter(|r| r.is_staff())
        .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "role: a staff role"))?;
    let enrollment = blocking(move || {
        app.require_recent_auth(&s.token, &s.actor)?;
        let ips: Vec<&str> = b.allow_ips.iter().map(String::as_str).collect();
        app.add_user(&s.actor, &b.username, &b.password, role, &b.unit, &ips)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(enrollment)).into_response())
}

async fn account(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(username): Path<String>,
) -> ApiResult {
    ok_json(blocking(move || app.account(&actor, &username)).await?)
}

async fn account_logins(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(username): Path<String>,
    Query(p): Query<LimitParams>,
) -> ApiResult {
    let name = username.clone();
    let h = blocking(move || app.login_history(&actor, &username, p.limit.unwrap_or(100))).await?;
    ok_json(json!({ "username": name, "history": h }))
}

async fn account_action(
    State(app): State<Shared>,
    s: Session,
    Path((username, action)): Path<(String, String)>,
) -> ApiResult {
    let change = match action.as_str() {
        "disable" => AccountChange::Disable,
        "enable" => AccountChange::Enable,
        "unlock" => AccountChange::Unlock,
        "revoke-sessions" => AccountChange::RevokeSessions,
        _ => {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "no such account action",
            ));
        }
    };
    administer(app, s, username, change).await
}

#[derive(Deserialize)]
struct AllowIpsBody {
    allow_ips: Vec<String>,
}

async fn set_allow_ips(
    State(app): State<Shared>,
    s: Session,
    Path(username): Path<String>,
    JsonBody(b): JsonBody<AllowIpsBody>,
) -> ApiResult {
    administer(app, s, username, AccountChange::AllowIps(b.allow_ips)).await
}

async fn administer(app: Shared, s: Session, username: String, change: AccountChange) -> ApiResult {
    let view = blocking(move || {
        app.require_recent_auth(&s.token, &s.actor)?;
        app.administer_account(&s.actor, &username, change)
    })
    .await?;
    ok_json(view)
}

#[derive(Deserialize)]
struct DossierBody {
    procedure: String,
    subject_personal_id: String,
}

async fn open_dossier(
    State(app): State<Shared>,
    Staff(actor): Staff,
    JsonBody(b): JsonBody<DossierBody>,
) -> ApiResult {
    let subject = pid(&b.subject_personal_id)?;
    let d = blocking(move || app.open_dossier(&actor, &b.procedure, subject)).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

fn dossier_id(s: &str) -> Result<i64, Problem> {
    s.parse()
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "dossier id must be a number"))
}

async fn dossier(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
) -> ApiResult {
    let id = dossier_id(&id)?;
    ok_json(blocking(move || app.dossier(&actor, id)).await?)
}

async fn close_dossier(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
) -> ApiResult {
    let id = dossier_id(&id)?;
    ok_json(blocking(move || app.close_dossier(&actor, id)).await?)
}

async fn get_citizen(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
) -> ApiResult {
    let id = pid(&id)?;
    let c = quick(&app.clone(), move || app.citizen(&actor, id))
        .await?
        .release()
        .await?;
    ok_json(c)
}

#[derive(Deserialize)]
struct SearchQueryParams {
    personal_id: Option<String>,
    old_id_number: Option<String>,
    name: Option<String>,
    date_of_birth: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

async fn search(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Query(q): Query<SearchQueryParams>,
) -> ApiResult {
    let params = SearchParams {
        personal_id: q.personal_id,
        old_id_number: q.old_id_number,
        name: q.name,
        date_of_birth: q.date_of_birth,
        limit: q.limit,
        after: q.after,
    };
    let page = blocking(move || app.search(&actor, &params))
        .await?
        .release()
        .await?;
    ok_json(page)
}

async fn residences(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
) -> ApiResult {
    let id = pid(&id)?;
    let r = quick(&app.clone(), move || app.residences(&actor, id))
        .await?
        .release()
        .await?;
    ok_json(json!({ "personal_id": id, "residences": r }))
}

async fn history(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
) -> ApiResult {
    let id = pid(&id)?;
    let r = quick(&app.clone(), move || app.changes(&actor, id))
        .await?
        .release()
        .await?;
    ok_json(json!({ "personal_id": id, "changes": r }))
}

async fn as_of(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path((id, date)): Path<(String, String)>,
) -> ApiResult {
    let id = pid(&id)?;
    let c = quick(&app.clone(), move || app.citizen_as_of(&actor, id, &date))
        .await?
        .release()
        .await?;
    ok_json(c)
}

#[derive(Deserialize)]
struct UpdateBody {
    basis: String,
    changes: serde_json::Map<String, Value>,
}

async fn update_citizen(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<UpdateBody>,
) -> ApiResult {
    let id = pid(&id)?;
    let mut updates = Vec::new();
    for (field, v) in b.changes {
        let v = match v {
            Value::Null => None,
            Value::String(s) => Some(s),
            _ => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("{field}: expected a string or null"),
                ));
            }
        };
        updates.push((field, v));
    }
    let changed = blocking(move || app.update_citizen(&actor, id, &b.basis, &updates)).await?;
    let names: Vec<&str> = changed.iter().map(|f| f.column()).collect();
    ok_json(json!({ "personal_id": id, "changed": names }))
}

#[derive(Deserialize)]
struct ResidenceBody {
    basis: String,
    kind: String,
    commune_code: String,
    address: String,
    valid_from: String,
}

async fn register_residence(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<ResidenceBody>,
) -> ApiResult {
    let id = pid(&id)?;
    let bad = |m: String| Problem::new(StatusCode::BAD_REQUEST, m);
    let residence = Residence {
        kind: ResidenceKind::parse(&b.kind)
            .ok_or_else(|| bad("kind: permanent, temporary or temporary_absence".into()))?,
        commune_code: b.commune_code,
        address: dancu_domain::text::nfc(b.address.trim()),
        valid_from: PartialDate::parse(&b.valid_from)
            .map_err(|e| bad(format!("valid_from: {e}")))?,
        valid_to: None,
    };
    let event = blocking(move || app.register_residence(&actor, id, &b.basis, &residence)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "personal_id": id, "event_id": event })),
    )
        .into_response())
}

async fn household(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
) -> ApiResult {
    let id: u64 = id
        .parse()
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "household id must be a number"))?;
    let (h, members) = blocking(move || app.household(&actor, id))
        .await?
        .release()
        .await?;
    ok_json(json!({ "household": h, "members": members }))
}

#[derive(Deserialize)]
struct UnitsParams {
    structure: Option<String>,
    parent: Option<String>,
    q: Option<String>,
}

fn structure_param(s: Option<&str>) -> Result<Structure, Problem> {
    match s {
        None => Ok(Structure::Y2025),
        Some(s) => Structure::parse(s)
            .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "structure: '2025' or 'pre2025'")),
    }
}

async fn units(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Query(p): Query<UnitsParams>,
) -> ApiResult {
    app.authorize(&actor, dancu_app::Action::ReadUnits, None, None)?;
    let s = structure_param(p.structure.as_deref())?;
    let list: Vec<_> = match (p.q.as_deref(), p.parent.as_deref()) {
        (Some(q), _) => app.units.search(s, q).into_iter().take(100).collect(),
        (None, Some(parent)) => app.units.children(s, parent).collect(),
        (None, None) => app.units.provinces(s).collect(),
    };
    ok_json(json!({ "structure": s.code(), "units": list }))
}

async fn unit(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path((structure, code)): Path<(String, String)>,
) -> ApiResult {
    app.authorize(&actor, dancu_app::Action::ReadUnits, None, None)?;
    let s = structure_param(Some(&structure))?;
    let u = app
        .units
        .get(s, &code)
        .ok_or_else(|| Problem::from(Error::NotFound))?;
    let mapped_to = match s {
        Structure::Pre2025 if u.level == dancu_domain::units::Level::Commune => {
            app.units.map_old_commune(&code).to_vec()
        }
        _ => Vec::new(),
    };
    ok_json(
        json!({ "unit": u, "children": app.units.children(s, &code).count(), "mapped_to": mapped_to }),
    )
}

#[derive(Deserialize)]
struct MappingRow {
    old_commune_code: String,
    new_commune_code: String,
}

#[derive(Deserialize)]
struct ReaddressBody {
    #[serde(default)]
    mapping: Vec<MappingRow>,
    #[serde(default)]
    shipped_2025: bool,
    structure: Option<String>,
    effective_date: String,
    basis: Option<String>,
    #[serde(default)]
    apply: bool,
}

async fn readdress(
    State(app): State<Shared>,
    s: Session,
    JsonBody(b): JsonBody<ReaddressBody>,
) -> ApiResult {
    let Session { actor, token } = s;
    let structure = structure_param(b.structure.as_deref())?;
    let csv: String = std::iter::once("old_commune_code,new_commune_code\n".to_owned())
        .chain(
            b.mapping
                .iter()
                .map(|m| format!("{},{}\n", m.old_commune_code, m.new_commune_code)),
        )
        .collect();
    if b.apply && b.basis.is_none() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "basis is required to apply",
        ));
    }
    let result = blocking(move || {
        if b.apply {
            app.require_recent_auth(&token, &actor)?;
        }
        let source = if b.shipped_2025 {
            MappingSource::Shipped2025
        } else {
            MappingSource::File {
                bytes: csv.as_bytes(),
                structure,
            }
        };
        let (plan, splits) = app.readdress_plan(source, &b.effective_date)?;
        let basis = if b.apply { b.basis.as_deref() } else { None };
        app.readdress(&actor, &plan, splits, basis)
    })
    .await?;
    ok_json(result)
}

async fn quality(State(app): State<Shared>, Staff(actor): Staff) -> ApiResult {
    let report = blocking(move || app.quality_report(&actor)).await?;
    ok_json(json!({ "rules": report }))
}

#[derive(Deserialize)]
struct UsageParams {
    days: Option<u32>,
}

async fn own_partner_usage(
    State(app): State<Shared>,
    PartnerKey(partner): PartnerKey,
    Query(p): Query<UsageParams>,
) -> ApiResult {
    ok_json(blocking(move || app.own_partner_usage(&partner, p.days.unwrap_or(30))).await?)
}

async fn partner_usage(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(name): Path<String>,
    Query(p): Query<UsageParams>,
) -> ApiResult {
    ok_json(blocking(move || app.partner_usage(&actor, &name, p.days.unwrap_or(30))).await?)
}

#[derive(Deserialize)]
struct NewPartnerBody {
    name: String,
    scopes: Vec<String>,
    daily_quota: Option<i64>,
    #[serde(default)]
    allow_ips: Vec<String>,
    /// The data-sharing agreement: fields whose registry value the partner may receive.
    #[serde(default)]
    returns: Vec<String>,
    /// The agency a ministry's key speaks for (needed by `enrich:FIELD` scopes).
    #[serde(default)]
    agency: String,
}

async fn create_partner(
    State(app): State<Shared>,
    s: Session,
    JsonBody(b): JsonBody<NewPartnerBody>,
) -> ApiResult {
    let created = blocking(move || {
        app.require_recent_auth(&s.token, &s.actor)?;
        let scopes: Vec<&str> = b.scopes.iter().map(String::as_str).collect();
        let ips: Vec<&str> = b.allow_ips.iter().map(String::as_str).collect();
        let quota = b
            .daily_quota
            .unwrap_or(dancu_app::partners::DEFAULT_DAILY_QUOTA);
        app.add_partner(
            &s.actor,
            &dancu_app::partners::PartnerTerms {
                name: &b.name,
                agency: &b.agency,
                scopes: &scopes,
                daily_quota: quota,
                allow_ips: &ips,
                returns: &b.returns.join(","),
            },
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn partner_action(
    State(app): State<Shared>,
    s: Session,
    Path((name, action)): Path<(String, String)>,
) -> ApiResult {
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "no such partner action",
            ));
        }
    };
    let view = blocking(move || {
        app.require_recent_auth(&s.token, &s.actor)?;
        app.set_partner_disabled(&s.actor, &name, disabled)
    })
    .await?;
    ok_json(view)
}

async fn alerts(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Query(p): Query<LimitParams>,
) -> ApiResult {
    let list = blocking(move || app.alerts(&actor, p.limit.unwrap_or(100))).await?;
    ok_json(json!({ "alerts": list }))
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// Security headers on every answer (HSTS when served over TLS), and framework errors
/// (unknown route, wrong method, unparsable path or query) rewritten as problem+json.
async fn edge(hsts: bool, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(problem::PROBLEM_JSON.as_bytes()));
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let bytes = axum::body::to_bytes(std::mem::replace(res.body_mut(), Body::empty()), 4096)
            .await
            .unwrap_or_default();
        let detail = String::from_utf8_lossy(&bytes).into_owned();
        let detail = if detail.is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            detail
        };
        *res.body_mut() = Body::from(problem::body(status, &detail));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(problem::PROBLEM_JSON),
        );
        res.headers_mut().remove(header::CONTENT_LENGTH);
    }
    let h = res.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// How the edge sees the network.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Serve HTTPS with this certificate (and send HSTS); plain HTTP without.
    pub tls: Option<Tls>,
}

/// The API router with no trusted proxy (tests, loopback).
pub fn router(app: Shared) -> Router {
    router_with(app, &EdgeConfig::default())
}

/// The API router.
pub fn router_with(app: Shared, config: &EdgeConfig) -> Router {
    let trusted = Arc::new(config.trusted_proxies.clone());
    let hsts = config.tls.is_some();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi_doc))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/reauth", post(reauth))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/logins", get(my_logins))
        .route("/api/v1/me/data-access", get(my_data_access))
        .route("/api/v1/accounts", get(accounts).post(create_account))
        .route("/api/v1/accounts/{username}", get(account))
        .route("/api/v1/accounts/{username}/logins", get(account_logins))
        .route(
            "/api/v1/accounts/{username}/allow-ips",
            axum::routing::put(set_allow_ips),
        )
        .route("/api/v1/accounts/{username}/{action}", post(account_action))
        .route("/api/v1/dossiers", post(open_dossier))
        .route("/api/v1/dossiers/{dossier_id}", get(dossier))
        .route("/api/v1/dossiers/{dossier_id}/close", post(close_dossier))
        .route(
            "/api/v1/citizens/{personal_id}/data-access",
            get(data_access),
        )
        .route("/api/v1/citizens", get(search))
        .route(
            "/api/v1/citizens/{personal_id}",
            get(get_citizen).patch(update_citizen),
        )
        .route(
            "/api/v1/citizens/{personal_id}/residences",
            get(residences).post(register_residence),
        )
        .route("/api/v1/citizens/{personal_id}/history", get(history))
        .route("/api/v1/citizens/{personal_id}/as-of/{date}", get(as_of))
        .route("/api/v1/households/{household_id}", get(household))
        .route("/api/v1/units", get(units))
        .route("/api/v1/units/{structure}/{code}", get(unit))
        .route("/api/v1/readdress", post(readdress))
        .route("/api/v1/quality", get(quality))
        .route("/api/v1/partner/usage", get(own_partner_usage))
        .route("/api/v1/partners", post(create_partner))
        .route("/api/v1/partners/{name}/usage", get(partner_usage))
        .route("/api/v1/partners/{name}/{action}", post(partner_action))
        .route("/api/v1/alerts", get(alerts))
        .merge(verify::routes())
        .merge(enrich::routes())
        .merge(civil::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(move |req, next| edge(hsts, req, next)))
        .layer(middleware::from_fn(move |req, next| {
            client::client_info(trusted.clone(), req, next)
        }))
        .with_state(app)
}

/// How long requests in flight may take to finish once shutdown is asked for.
pub const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves (HTTPS when `config.tls` is set) until `shutdown` completes; then stops
/// accepting, lets the requests in flight finish for at most [`DRAIN`], writes the
/// partners' quota use (so that a restart does not reset it) and returns.
pub async fn serve(
    app: Shared,
    listener: tokio::net::TcpListener,
    config: &EdgeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router_with(app.clone(), config).into_make_service_with_connect_info::<Peer>();
    let job_scans = tokio::spawn(verify::scan_jobs(app.clone()));
    let asked = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let asked = asked.clone();
        async move {
            shutdown.await;
            asked.notify_one();
        }
    };
    let serving = async {
        match &config.tls {
            Some(tls) => {
                let listener = tls::TlsListener::new(listener, tls.clone())?;
                axum::serve(listener, service)
                    .with_graceful_shutdown(signal)
                    .await
            }
            None => {
                axum::serve(listener, service)
                    .with_graceful_shutdown(signal)
                    .await
            }
        }
    };
    let served = tokio::select! {
        served = serving => served,
        () = async {
            asked.notified().await;
            tokio::time::sleep(DRAIN).await;
        } => {
            tracing::warn!("requests still open {DRAIN:?} after shutdown was asked; dropping them");
            Ok(())
        }
    };
    // Partners' batch jobs stop at their next checkpoint and resume at the next start.
    job_scans.abort();
    app.stop_verify_jobs();
    served?;
    blocking(move || app.flush_usage())
        .await
        .map_err(|p| std::io::Error::other(p.detail))
}

/// Is `addr` reachable only from this machine? Plain HTTP is refused elsewhere.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

fn millis_to_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = dancu_app::citizens::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
