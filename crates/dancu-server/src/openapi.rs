//! The OpenAPI 3.1 document of the API, kept beside the router: a test checks that every
//! route of the router is documented here and nothing else is.

use serde_json::{Value, json};

fn problem_responses(codes: &[u16]) -> Value {
    let mut m = serde_json::Map::new();
    for c in codes {
        m.insert(
            c.to_string(),
            json!({
                "description": match c {
                    400 => "Invalid input",
                    401 => "Not authenticated",
                    403 => "Outside the caller's role or unit",
                    404 => "Not found within the caller's scope",
                    409 => "Conflict",
                    413 => "Body too large",
                    415 => "Body is not sent as application/json",
                    422 => "Body is JSON of the wrong shape",
                    429 => "Rate limit or daily quota exceeded: retry after `Retry-After` seconds",
                    _ => "Error",
                },
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
            }),
        );
    }
    Value::Object(m)
}

pub(crate) fn op(
    summary: &str,
    params: Value,
    body: Option<&str>,
    ok: (u16, &str),
    errors: &[u16],
    auth: bool,
) -> Value {
    let mut codes = errors.to_vec();
    if body.is_some() {
        codes.extend([413, 415, 422]);
    }
    if auth {
        // Every authenticated call counts against its account's or key's limits.
        codes.push(429);
    }
    let mut responses = problem_responses(&codes);
    responses[ok.0.to_string()] = match ok.1 {
        "" => json!({ "description": "Success" }),
        schema => json!({
            "description": "Success",
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        }),
    };
    let mut o = json!({ "summary": summary, "parameters": params, "responses": responses });
    if let Some(b) = body {
        o["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{b}") } } } });
    }
    if !auth {
        o["security"] = json!([]);
    }
    o
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

pub(crate) fn path_pattern(name: &str, description: &str, pattern: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string", "pattern": pattern } })
}

const DATE_PATTERN: &str = "^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$";

fn limit_param() -> Value {
    json!({ "name": "limit", "in": "query", "required": false, "description": "at most this many entries (default 100)", "schema": { "type": "integer", "minimum": 0, "maximum": 4294967295u32 } })
}

/// `X-Dossier`: the dossier in progress a lookup is made for (procedure 037).
fn dossier_header() -> Value {
    json!({ "name": "X-Dossier", "in": "header", "required": false, "description": "id of the dossier in progress in the caller's unit that the read is for", "schema": { "type": "string", "pattern": "^[1-9][0-9]{0,17}$" } })
}

pub(crate) fn query_param(name: &str, description: &str, ty: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": ty } })
}

fn pid_param() -> Value {
    path_pattern("personal_id", "12-digit personal ID number", "^[0-9]{12}$")
}

fn username_param() -> Value {
    path_param("username", "account name")
}

fn dossier_param() -> Value {
    path_pattern("dossier_id", "dossier number", "^[1-9][0-9]{0,17}$")
}

/// (path, method) pairs of the router (kept in step with `router()`; the HTTP test
/// requests each documented route and checks it exists).
#[cfg(test)]
const DOCUMENTED: &[(&str, &str)] = &[
    ("/healthz", "get"),
    ("/api/openapi.json", "get"),
    ("/api/v1/auth/login", "post"),
    ("/api/v1/auth/logout", "post"),
    ("/api/v1/auth/reauth", "post"),
    ("/api/v1/auth/password", "post"),
    ("/api/v1/me", "get"),
    ("/api/v1/me/logins", "get"),
    ("/api/v1/me/data-access", "get"),
    ("/api/v1/accounts", "get"),
    ("/api/v1/accounts", "post"),
    ("/api/v1/accounts/{username}", "get"),
    ("/api/v1/accounts/{username}/logins", "get"),
    ("/api/v1/accounts/{username}/allow-ips", "put"),
    ("/api/v1/accounts/{username}/{action}", "post"),
    ("/api/v1/dossiers", "post"),
    ("/api/v1/dossiers/{dossier_id}", "get"),
    ("/api/v1/dossiers/{dossier_id}/close", "post"),
    ("/api/v1/citizens/{personal_id}/data-access", "get"),
    ("/api/v1/citizens", "get"),
    ("/api/v1/citizens/{personal_id}", "get"),
    ("/api/v1/citizens/{personal_id}", "patch"),
    ("/api/v1/citizens/{personal_id}/residences", "get"),
    ("/api/v1/citizens/{personal_id}/residences", "post"),
    ("/api/v1/citizens/{personal_id}/history", "get"),
    ("/api/v1/citizens/{personal_id}/as-of/{date}", "get"),
    ("/api/v1/households/{household_id}", "get"),
    ("/api/v1/units", "get"),
    ("/api/v1/units/{structure}/{code}", "get"),
    ("/api/v1/readdress", "post"),
    ("/api/v1/quality", "get"),
    ("/api/v1/partner/usage", "get"),
    ("/api/v1/partners", "post"),
    ("/api/v1/partners/{name}/usage", "get"),
    ("/api/v1/partners/{name}/{action}", "post"),
    ("/api/v1/alerts", "get"),
    ("/api/v1/verify", "post"),
    ("/api/v1/verify/jobs", "post"),
    ("/api/v1/verify/jobs/{job_id}", "get"),
    ("/api/v1/verify/jobs/{job_id}/result", "get"),
    ("/api/v1/verify/jobs/{job_id}/summary", "get"),
    ("/api/v1/enrich", "post"),
    ("/api/v1/enrich/conflicts", "get"),
    ("/api/v1/citizens/{personal_id}/attributes", "get"),
    ("/api/v1/citizens/{personal_id}/attributes/history", "get"),
];

fn days_param() -> Value {
    query_param("days", "days of history, 1-366 (default 30)", "integer")
}

pub fn document() -> Value {
    let read = [400, 401, 403, 404];
    let write = [400, 401, 403, 404, 409];
    let pid_read = json!([pid_param(), dossier_header()]);
    let mut own_usage = op(
        "The calling partner's daily usage and what is left of today's quota",
        json!([days_param()]),
        None,
        (200, "PartnerUsage"),
        &[400, 401, 403],
        true,
    );
    own_usage["security"] = json!([{ "apiKey": [] }]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dancu API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Population registry of Đề án 06. Errors are RFC 9457 problem+json. Every read of a person's data is audited."
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/healthz": { "get": op("Liveness", json!([]), None, (200, "Health"), &[], false) },
            "/api/openapi.json": { "get": op("This document", json!([]), None, (200, "Object"), &[], false) },
            "/api/v1/auth/login": { "post": op("Password and second-factor login; returns a bearer token. Every failure is the same 401", json!([]), Some("Login"), (200, "Session"), &[400, 401], false) },
            "/api/v1/auth/logout": { "post": {
                "summary": "Revokes the presented token",
                "responses": { "204": { "description": "Revoked" }, "401": problem_responses(&[401])["401"] }
            } },
            "/api/v1/auth/reauth": { "post": op("Re-authentication (password and second factor) before sensitive actions", json!([]), Some("Reauth"), (200, "Reauthenticated"), &[400, 401], true) },
            "/api/v1/auth/password": { "post": op("Changes the caller's password (policy, no reuse of recent ones)", json!([]), Some("PasswordChange"), (204, ""), &[400, 401], true) },
            "/api/v1/me": { "get": op("The caller's account", json!([]), None, (200, "Account"), &[401, 403, 404], true) },
            "/api/v1/me/logins": { "get": op("The caller's login attempts and password changes", json!([limit_param()]), None, (200, "History"), &[400, 401, 403], true) },
            "/api/v1/me/data-access": { "get": op("A citizen's own data tracker: who read or changed their data", json!([limit_param()]), None, (200, "DataAccess"), &[400, 401, 403], true) },
            "/api/v1/accounts": {
                "get": op("Accounts the caller administers", json!([]), None, (200, "Object"), &[401, 403], true),
                "post": op("Creates a staff account in the caller's units (needs recent re-authentication); returns its TOTP enrollment", json!([]), Some("NewAccount"), (201, "Enrollment"), &write, true)
            },
            "/api/v1/accounts/{username}": { "get": op("An account", json!([username_param()]), None, (200, "Account"), &read, true) },
            "/api/v1/accounts/{username}/logins": { "get": op("An account's login attempts and password changes", json!([username_param(), limit_param()]), None, (200, "History"), &read, true) },
            "/api/v1/accounts/{username}/allow-ips": { "put": op("Replaces an account's IP allow-list (CIDR; empty: any); needs recent re-authentication", json!([username_param()]), Some("AllowIps"), (200, "Account"), &write, true) },
            "/api/v1/accounts/{username}/{action}": { "post": op(
                "Disables, enables, unlocks an account or revokes its sessions; needs recent re-authentication",
                json!([username_param(), { "name": "action", "in": "path", "required": true, "schema": { "type": "string", "enum": ["disable", "enable", "unlock", "revoke-sessions"] } }]),
                None, (200, "Account"), &write, true) },
            "/api/v1/dossiers": { "post": op("Opens a dossier (a procedure for a person) in the caller's unit", json!([]), Some("NewDossier"), (201, "Object"), &write, true) },
            "/api/v1/dossiers/{dossier_id}": { "get": op("A dossier", json!([dossier_param()]), None, (200, "Object"), &read, true) },
            "/api/v1/dossiers/{dossier_id}/close": { "post": op("Closes a dossier", json!([dossier_param()]), None, (200, "Object"), &write, true) },
            "/api/v1/citizens/{personal_id}/data-access": { "get": op("Who read or changed a person's data, when, from which unit and why", json!([pid_param(), limit_param()]), None, (200, "DataAccess"), &read, true) },
            "/api/v1/citizens": { "get": op(
                "Search by personal ID, old 9-digit ID number, or by name (accent-insensitive; one word = prefix) and date of birth, within the caller's units",
                json!([
                    query_param("personal_id", "12-digit personal ID number", "string"),
                    query_param("old_id_number", "old 9-digit ID card number (CMND), an alias", "string"),
                    query_param("name", "full name or family name, with or without diacritics", "string"),
                    query_param("date_of_birth", "YYYY, YYYY-MM or YYYY-MM-DD", "string"),
                    query_param("limit", "page size, 1-100 (default 20)", "integer"),
                    query_param("after", "personal_id of the last row of the previous page", "string")
                ]),
                None, (200, "SearchPage"), &[400, 401, 403], true) },
            "/api/v1/citizens/{personal_id}": {
                "get": op("A citizen (audited)", pid_read.clone(), None, (200, "Citizen"), &read, true),
                "patch": op("Corrects fields under a legal basis; old values are kept", json!([pid_param()]), Some("CitizenUpdate"), (200, "Object"), &write, true)
            },
            "/api/v1/citizens/{personal_id}/residences": {
                "get": op("Residence registrations with their history", pid_read.clone(), None, (200, "Object"), &read, true),
                "post": op("Registers a residence (ends the open one of the same kind)", json!([pid_param()]), Some("ResidenceRegistration"), (201, "Object"), &write, true)
            },
            "/api/v1/citizens/{personal_id}/history": { "get": op("Field changes with their events", pid_read.clone(), None, (200, "Object"), &read, true) },
            "/api/v1/citizens/{personal_id}/as-of/{date}": { "get": op(
                "The citizen as the registry knew them on a date",
                json!([pid_param(), path_pattern("date", "YYYY, YYYY-MM or YYYY-MM-DD", DATE_PATTERN), dossier_header()]),
                None, (200, "Citizen"), &read, true) },
            "/api/v1/households/{household_id}": { "get": op("A household and its members", json!([path_pattern("household_id", "household number", "^[0-9]{1,12}$"), dossier_header()]), None, (200, "Object"), &read, true) },
            "/api/v1/units": { "get": op(
                "Administrative units: provinces, children of a unit, or a name search",
                json!([
                    { "name": "structure", "in": "query", "required": false, "description": "'2025' (default) or 'pre2025'", "schema": { "type": "string", "enum": ["2025", "pre2025"] } },
                    query_param("parent", "code of the parent unit", "string"),
                    query_param("q", "name, accents optional", "string")
                ]),
                None, (200, "Object"), &[400, 401], true) },
            "/api/v1/units/{structure}/{code}": { "get": op(
                "One unit; for a pre-2025 commune, the 2025 communes it became",
                json!([{ "name": "structure", "in": "path", "required": true, "schema": { "type": "string", "enum": ["2025", "pre2025"] } }, path_param("code", "unit code")]),
                None, (200, "Object"), &[400, 401, 404], true) },
            "/api/v1/readdress": { "post": op(
                "Re-addresses every open residence of reorganized units: a dry-run report (per old unit: old code, new code, open residences, citizens, households), or applied with `apply` and a `basis` as one unit succession per old unit, in one transaction (409 if it contradicts a recorded reorganization)",
                json!([]), Some("Readdress"), (200, "Object"), &write, true) },
            "/api/v1/quality": { "get": op("Data-quality rules with counts and examples", json!([]), None, (200, "Object"), &[401, 403], true) },
            "/api/v1/partner/usage": { "get": own_usage },
            "/api/v1/partners": { "post": op(
                "Creates a partner (national admins, after re-authentication); the answer holds its API key, shown once",
                json!([]), Some("NewPartner"), (201, "Object"), &[400, 401, 403, 409, 413], true) },
            "/api/v1/partners/{name}/usage": { "get": op(
                "A partner's daily usage (national admins and supervisors)",
                json!([path_param("name", "partner name"), days_param()]), None, (200, "PartnerUsage"), &[400, 401, 403, 404], true) },
            "/api/v1/partners/{name}/{action}": { "post": op(
                "Disables or enables a partner (national admins, after re-authentication)",
                json!([path_param("name", "partner name"), path_param("action", "'disable' or 'enable'")]), None, (200, "Object"), &[401, 403, 404], true) },
            "/api/v1/alerts": { "get": op(
                "Alerts on unusual activity (an account reading many distinct people in a short time) of the auditor's unit, newest first",
                json!([query_param("limit", "at most this many, 1-1000 (default 100)", "integer")]), None, (200, "Object"), &[400, 401, 403], true) }
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "A partner's API key" }
            },
            "schemas": {
                "Object": { "type": "object" },
                "NewPartner": { "type": "object", "properties": {
                    "name": { "type": "string" },
                    "scopes": { "type": "array", "items": { "type": "string", "description": "verify, verify_batch or enrich:FIELD" } },
                    "daily_quota": { "type": "integer", "minimum": 1 },
                    "allow_ips": { "type": "array", "items": { "type": "string", "description": "CIDR block or address" } },
                    "returns": { "type": "array", "items": { "type": "string", "enum": ["full_name", "date_of_birth", "gender"] }, "description": "the data-sharing agreement: fields whose registry value verification returns (default none)" } },
                    "required": ["name", "scopes"] },
                "PartnerUsage": { "type": "object", "properties": {
                    "partner": { "type": "string" },
                    "daily_quota": { "type": "integer" },
                    "used_today": { "type": "integer" },
                    "remaining_today": { "type": "integer" },
                    "days": { "type": "array", "items": { "type": "object", "properties": {
                        "day": { "type": "string", "format": "date" }, "requests": { "type": "integer" } } } } },
                    "required": ["partner", "daily_quota", "used_today", "remaining_today", "days"] },
                "Health": { "type": "object", "properties": { "status": { "type": "string", "const": "ok" } }, "required": ["status"] },
                "Problem": { "type": "object", "properties": {
                    "type": { "type": "string" }, "title": { "type": "string" },
                    "status": { "type": "integer" }, "detail": { "type": "string" } },
                    "required": ["type", "title", "status", "detail"] },
                "Login": { "type": "object", "properties": {
                    "username": { "type": "string" }, "password": { "type": "string" }, "totp": { "type": "string" } },
                    "required": ["username", "password"] },
                "Session": { "type": "object", "properties": {
                    "token": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" } },
                    "required": ["token", "expires_at"] },
                "Citizen": { "type": "object", "properties": {
                    "personal_id": { "type": "string", "pattern": "^[0-9]{12}$" },
                    "full_name": { "type": "string" },
                    "date_of_birth": { "type": "string", "description": "YYYY, YYYY-MM or YYYY-MM-DD" },
                    "gender": { "type": "string", "enum": ["M", "F"] },
                    "birth_registration_province": { "type": ["integer", "null"] },
                    "hometown": { "type": ["string", "null"] },
                    "ethnicity": { "type": ["string", "null"] },
                    "religion": { "type": ["string", "null"] },
                    "nationality": { "type": "string" },
                    "blood_type": { "type": ["string", "null"] },
                    "old_id_number": { "type": ["string", "null"] },
                    "father_id": { "type": ["string", "null"] },
                    "mother_id": { "type": ["string", "null"] },
                    "spouse_id": { "type": ["string", "null"] },
                    "household_id": { "type": ["integer", "null"] },
                    "relationship_to_head": { "type": ["string", "null"] },
                    "commune_code": { "type": ["string", "null"] },
                    "commune_structure": { "type": "string" },
                    "date_of_death": { "type": ["string", "null"] } },
                    "required": ["personal_id", "full_name", "date_of_birth", "gender", "nationality"] },
                "SearchPage": { "type": "object", "properties": {
                    "items": { "type": "array", "items": { "$ref": "#/components/schemas/Citizen" } },
                    "next_after": { "type": ["string", "null"] } }, "required": ["items"] },
                "CitizenUpdate": { "type": "object", "properties": {
                    "basis": { "type": "string" },
                    "changes": { "type": "object", "additionalProperties": { "type": ["string", "null"] } } },
                    "required": ["basis", "changes"] },
                "ResidenceRegistration": { "type": "object", "properties": {
                    "basis": { "type": "string" },
                    "kind": { "type": "string", "enum": ["permanent", "temporary", "temporary_absence"] },
                    "commune_code": { "type": "string" }, "address": { "type": "string" },
                    "valid_from": { "type": "string" } },
                    "required": ["basis", "kind", "commune_code", "address", "valid_from"] },
                "Reauth": { "type": "object", "properties": {
                    "password": { "type": "string" }, "totp": { "type": "string", "description": "TOTP code or a recovery code" } },
                    "required": ["password", "totp"] },
                "Reauthenticated": { "type": "object", "properties": {
                    "reauth_until": { "type": "string", "format": "date-time" } }, "required": ["reauth_until"] },
                "PasswordChange": { "type": "object", "properties": {
                    "current_password": { "type": "string" }, "new_password": { "type": "string" }, "totp": { "type": "string" } },
                    "required": ["current_password", "new_password", "totp"] },
                "Account": { "type": "object", "properties": {
                    "username": { "type": "string" }, "role": { "type": "string" }, "unit": { "type": "string" },
                    "kind": { "type": "string" }, "disabled": { "type": "boolean" }, "locked": { "type": "boolean" },
                    "allow_ips": { "type": "array", "items": { "type": "string" } },
                    "password_changed_at": { "type": "integer" }, "created_by": { "type": "string" } },
                    "required": ["username", "role", "unit"] },
                "NewAccount": { "type": "object", "properties": {
                    "username": { "type": "string" },
                    "role": { "type": "string", "enum": ["officer", "civil_status_officer", "social_insurance_officer", "admin", "auditor", "supervisor"] },
                    "unit": { "type": "string" }, "password": { "type": "string" },
                    "allow_ips": { "type": "array", "items": { "type": "string" } } },
                    "required": ["username", "role", "unit", "password"] },
                "Enrollment": { "type": "object", "properties": {
                    "username": { "type": "string" }, "totp_url": { "type": "string" },
                    "recovery_codes": { "type": "array", "items": { "type": "string" } } },
                    "required": ["username", "totp_url", "recovery_codes"] },
                "AllowIps": { "type": "object", "properties": {
                    "allow_ips": { "type": "array", "items": { "type": "string", "description": "CIDR or address" } } },
                    "required": ["allow_ips"] },
                "History": { "type": "object", "properties": {
                    "username": { "type": "string" }, "history": { "type": "array", "items": { "type": "object" } } },
                    "required": ["username", "history"] },
                "DataAccess": { "type": "object", "properties": {
                    "personal_id": { "type": "string" }, "accesses": { "type": "array", "items": { "type": "object" } } },
                    "required": ["personal_id", "accesses"] },
                "NewDossier": { "type": "object", "properties": {
                    "procedure": { "type": "string" },
                    "subject_personal_id": { "type": "string", "pattern": "^[0-9]{12}$" } },
                    "required": ["procedure", "subject_personal_id"] },
                "Readdress": { "type": "object", "properties": {
                    "mapping": { "type": "array", "items": { "type": "object", "properties": {
                        "old_commune_code": { "type": "string" }, "new_commune_code": { "type": "string" } },
                        "required": ["old_commune_code", "new_commune_code"] } },
                    "shipped_2025": { "type": "boolean" },
                    "structure": { "type": "string", "enum": ["2025", "pre2025"] },
                    "effective_date": { "type": "string" },
                    "basis": { "type": "string" },
                    "apply": { "type": "boolean" } },
                    "required": ["effective_date"] }
            }
        }
    });
    verify_document(&mut doc);
    add_enrichment(&mut doc);
    crate::civil::document(&mut doc);
    doc
}

/// The partner verification routes (`verify.rs`) and their schemas.
fn verify_document(doc: &mut Value) {
    let key = json!([{ "apiKey": [] }]);
    let job_param = json!([path_pattern("job_id", "job number", "^[1-9][0-9]{0,17}$")]);
    let mut verify = op(
        "Verifies a person's identity data against the registry (partner scope `verify`, one request of the daily quota): a result per field and a verdict, plus the registry's canonical values the partner's data-sharing agreement names. `match` only if every provided field matches; `partial` is never a match. Audited.",
        json!([]),
        Some("VerifyRequest"),
        (200, "Verification"),
        &[400, 401, 403],
        true,
    );
    verify["security"] = key.clone();
    let mut submit = op(
        "Submits a batch cleansing job (partner scope `verify_batch`): the body is the file itself, CSV `ref,personal_id,full_name,date_of_birth,gender` or JSON lines (UTF-8 with or without BOM, TCVN3 or VNI), streamed to disk; sent as `text/csv` or `application/x-ndjson` it must be that format (400), any other type is recognised by content. Every row counts one request of the daily quota, charged at submission (429 when the rows do not fit). 202 with the job and its `Location`.",
        json!([]),
        None,
        (202, "VerifyJob"),
        &[400, 401, 403, 409, 413],
        true,
    );
    submit["requestBody"] = json!({ "required": true, "content": {
        "text/csv": { "schema": { "type": "string" } },
        "application/x-ndjson": { "schema": { "type": "string" } } } });
    submit["security"] = key.clone();
    let mut status = op(
        "A job's state and progress (the submitting partner only: any other job is 404)",
        job_param.clone(),
        None,
        (200, "VerifyJob"),
        &[400, 401, 404],
        true,
    );
    status["security"] = key.clone();
    let mut result = op(
        "The result file of a finished job, in the input's format: CSV `ref,verdict,full_name,date_of_birth,gender,line,reason,findings` (plus `registry_FIELD` columns the agreement allows), or JSON lines; one row per input row, in input order. 409 while the job runs, or from a server whose data directory does not hold the job's files (nodes with directories of their own). Audited.",
        job_param.clone(),
        None,
        (200, ""),
        &[400, 401, 404, 409],
        true,
    );
    result["responses"]["200"]["content"] = json!({
        "text/csv": { "schema": { "type": "string" } },
        "application/x-ndjson": { "schema": { "type": "string" } } });
    result["security"] = key.clone();
    let mut summary = op(
        "The summary of a finished job: counts per verdict and per field, and the most common kinds of mismatch. 409 while the job runs, or from a server whose data directory does not hold the job's files.",
        job_param,
        None,
        (200, "Object"),
        &[400, 401, 404, 409],
        true,
    );
    summary["security"] = key;
    let paths = doc["paths"].as_object_mut().expect("paths");
    paths.insert("/api/v1/verify".into(), json!({ "post": verify }));
    paths.insert("/api/v1/verify/jobs".into(), json!({ "post": submit }));
    paths.insert(
        "/api/v1/verify/jobs/{job_id}".into(),
        json!({ "get": status }),
    );
    paths.insert(
        "/api/v1/verify/jobs/{job_id}/result".into(),
        json!({ "get": result }),
    );
    paths.insert(
        "/api/v1/verify/jobs/{job_id}/summary".into(),
        json!({ "get": summary }),
    );
    let field = json!({ "type": ["string", "null"], "enum": ["match", "partial", "mismatch", "not_provided", null] });
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("schemas");
    schemas.insert("VerifyRequest".into(), json!({ "type": "object", "properties": {
        "personal_id": { "type": "string", "description": "12-digit personal ID number, or the old 9-digit ID card number" },
        // The optional fields may be null, read as not provided (as the server does). A
        // malformed value is not a 400 but the verdict `invalid` with its reason.
        "full_name": { "type": ["string", "null"] },
        "date_of_birth": { "type": ["string", "null"], "description": "YYYY-MM-DD, YYYY-MM, YYYY or DD/MM/YYYY" },
        "gender": { "type": ["string", "null"], "description": "M or F; any other value is the verdict `invalid`" } },
        "required": ["personal_id"] }));
    schemas.insert("Verification".into(), json!({ "type": "object", "properties": {
        "verdict": { "type": "string", "enum": ["match", "mismatch", "not_found", "invalid"] },
        "fields": { "type": "object", "description": "null for every field when not_found or invalid",
            "properties": { "full_name": field, "date_of_birth": field, "gender": field } },
        "reason": { "type": "string", "description": "why the request is invalid" },
        "registry": { "type": "object", "description": "the registry's canonical values of the fields the agreement names",
            "properties": { "full_name": { "type": "string" }, "date_of_birth": { "type": "string" }, "gender": { "type": "string" } } } },
        "required": ["verdict", "fields"] }));
    schemas.insert(
        "VerifyJob".into(),
        json!({ "type": "object", "properties": {
        "id": { "type": "integer" },
        "state": { "type": "string", "enum": ["running", "done", "failed", "abandoned"] },
        "rows_done": { "type": "integer" }, "rows_total": { "type": "integer" },
        "format": { "type": "string", "enum": ["csv", "jsonl"] },
        "created_at": { "type": "integer", "description": "milliseconds since 1970" },
        "updated_at": { "type": "integer" },
        "error": { "type": "string" } },
        "required": ["id", "state", "rows_done", "rows_total", "format"] }),
    );
    // The statistics of the dashboard are part of the usage report.
    schemas["PartnerUsage"]["properties"]["days"]["items"]["properties"] = json!({
        "day": { "type": "string", "format": "date" }, "requests": { "type": "integer" },
        "matched": { "type": "integer" }, "mismatched": { "type": "integer" },
        "not_found": { "type": "integer" }, "invalid": { "type": "integer" } });
}

/// The enrichment endpoints (`crate::enrich`) and their schemas.
fn add_enrichment(doc: &mut Value) {
    let as_partner = |mut o: Value| {
        o["security"] = json!([{ "apiKey": [] }]);
        o
    };
    doc["paths"]["/api/v1/enrich"] = json!({ "post": as_partner(op(
        "Pushes attribute values a ministry holds (scope `enrich:FIELD` per field): each item is `applied`, `unchanged`, `conflict` (the owning agency's value, or a value observed later, is never overwritten), `invalid` (with the reason) or `not_found`. Applied items are recorded under one event whose source is the partner; every item counts one request of the daily quota",
        json!([]), Some("Enrichment"), (200, "EnrichmentReport"), &[400, 401, 403], true)) });
    doc["paths"]["/api/v1/enrich/conflicts"] = json!({ "get": as_partner(op(
        "Refused updates of the fields the partner's agency owns, and those the partner pushed, newest first (each listed person is an audited read)",
        json!([query_param("before", "list conflicts with a smaller id (paging)", "integer"),
               query_param("limit", "at most this many, 1-1000 (default 100)", "integer")]),
        None, (200, "Object"), &[400, 401, 403], true)) });
    doc["paths"]["/api/v1/citizens/{personal_id}/attributes"] = json!({ "get": op(
        "A person's enriched attributes (blood type, driving licence, health-insurance number) with source agency and observation date; with `as_of` the values observed by that date (officers of the person's unit, the person)",
        json!([pid_param(), { "name": "as_of", "in": "query", "required": false, "description": "YYYY, YYYY-MM or YYYY-MM-DD", "schema": { "type": "string", "pattern": DATE_PATTERN } }]),
        None, (200, "Object"), &[400, 401, 403, 404], true) });
    doc["paths"]["/api/v1/citizens/{personal_id}/attributes/history"] = json!({ "get": op(
        "Every value pushed for a person's attributes, oldest first per attribute",
        json!([pid_param()]), None, (200, "Object"), &[400, 401, 403, 404], true) });
    let schemas = &mut doc["components"]["schemas"];
    schemas["NewPartner"]["properties"]["agency"] = json!({ "type": "string", "enum": ["BCA", "BTP", "BHXH", "BYT", "BXD"], "description": "the agency a ministry's key speaks for; needed by enrich:FIELD scopes" });
    schemas["Enrichment"] = json!({ "type": "object", "additionalProperties": false, "properties": {
        "basis": { "type": ["string", "null"], "description": "procedure or legal basis (default `enrichment` when absent or null)" },
        "items": { "type": "array", "minItems": 1, "maxItems": dancu_app::enrich::MAX_ITEMS, "items": { "type": "object", "properties": {
            // Checked per item, as the value is: a malformed number is that item's `invalid`.
            "personal_id": { "type": "string", "description": "12-digit personal ID number; a malformed one makes the item `invalid`, the others still apply" },
            "field": { "type": "string", "description": format!("one of {}; another name makes the item `invalid`", dancu_app::enrich::ATTRIBUTES.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")) },
            "value": { "description": "blood_type: A, B, AB or O with optional + or -; driving_licence: {number: 12 digits, classes: [B, C1…], issued_on?, expires_on?}; health_insurance_number: the 15-character card code" },
            "observed_at": { "type": ["string", "null"], "format": "date", "description": "when the agency observed the value (null or absent: today); a value observed before the one held is a conflict" } },
            "required": ["personal_id", "field", "value"] } } },
        "required": ["items"] });
    schemas["EnrichmentReport"] = json!({ "type": "object", "properties": {
        "event_id": { "type": ["integer", "null"] },
        "results": { "type": "array", "items": { "type": "object", "properties": {
            "index": { "type": "integer" }, "field": { "type": "string" },
            "status": { "type": "string", "enum": ["applied", "unchanged", "conflict", "invalid", "not_found"] },
            "reason": { "type": "string" },
            "held_by": { "type": "string", "description": "the agency holding the value a conflict is about" } },
            "required": ["index", "field", "status"] } },
        "summary": { "type": "object", "properties": {
            "applied": { "type": "integer" }, "unchanged": { "type": "integer" }, "conflict": { "type": "integer" },
            "invalid": { "type": "integer" }, "not_found": { "type": "integer" } } } },
        "required": ["event_id", "results", "summary"] });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_exactly_the_routes() {
        let doc = document();
        let mut listed: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (p.clone(), m.clone()))
            })
            .collect();
        let mut expected: Vec<(String, String)> = DOCUMENTED
            .iter()
            .chain(crate::civil::DOCUMENTED)
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
    }
}
