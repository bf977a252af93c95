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
                    _ => "Error",
                },
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
            }),
        );
    }
    Value::Object(m)
}

fn op(
    summary: &str,
    params: Value,
    body: Option<&str>,
    ok: (u16, &str),
    errors: &[u16],
    auth: bool,
) -> Value {
    let mut responses = problem_responses(errors);
    responses[ok.0.to_string()] = json!({
        "description": "Success",
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{}", ok.1) } } }
    });
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

fn query_param(name: &str, description: &str, ty: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": ty } })
}

fn limit_param() -> Value {
    query_param(
        "limit",
        "most recent entries to return, 1-1000 (default 100)",
        "integer",
    )
}

fn username_param() -> Value {
    path_param("username", "account name")
}

fn dossier_param() -> Value {
    path_param("dossier_id", "dossier number")
}

/// An operation answering 204 No Content.
fn no_content(summary: &str, params: Value, body: Option<&str>, errors: &[u16]) -> Value {
    let mut o = op(summary, params, body, (204, "Object"), errors, true);
    o["responses"]["204"] = json!({ "description": "Done" });
    o
}

fn pid_param() -> Value {
    path_param("personal_id", "12-digit personal ID number")
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
];

/// The errors of a read of one person.
const READ_ERRORS: [u16; 4] = [400, 401, 403, 404];

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dancu API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Population registry of Đề án 06. Errors are RFC 9457 problem+json. Every read of a person's data is audited."
        },
        "security": [{ "bearer": [] }],
        "paths": merge(&[auth_paths(), account_paths(), registry_paths()]),
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": merge(&[common_schemas(), account_schemas(), registry_schemas()])
        }
    })
}

/// One object of the fields of several (the parts of the document are built apart:
/// one `json!` of the whole would exceed the macro recursion limit).
fn merge(parts: &[Value]) -> Value {
    let mut all = serde_json::Map::new();
    for part in parts {
        all.extend(part.as_object().expect("an object").clone());
    }
    Value::Object(all)
}

/// Liveness, this document and login.
fn auth_paths() -> Value {
    json!({
            "/healthz": { "get": op("Liveness", json!([]), None, (200, "Health"), &[], false) },
            "/api/openapi.json": { "get": op("This document", json!([]), None, (200, "Object"), &[], false) },
            "/api/v1/auth/login": { "post": op("Password login; returns a bearer token", json!([]), Some("Login"), (200, "Session"), &[400, 401, 413], false) }
    })
}

/// Sessions, accounts, login history, dossiers and the data tracker.
fn account_paths() -> Value {
    json!({
            "/api/v1/auth/logout": { "post": no_content("Revokes the presented token", json!([]), None, &[401]) },
            "/api/v1/auth/reauth": { "post": op(
                "Re-authenticates the session (password and a fresh TOTP code) before a sensitive action; valid 10 minutes",
                json!([]), Some("Reauth"), (200, "Object"), &[400, 401, 413], true) },
            "/api/v1/auth/password": { "post": no_content(
                "Changes the caller's password (policy, no reuse of the last 5); ends the account's other sessions",
                json!([]), Some("PasswordChange"), &[400, 401, 413]) },
            "/api/v1/me": { "get": op("The caller's account", json!([]), None, (200, "Account"), &[401], true) },
            "/api/v1/me/logins": { "get": op("The caller's login and password history", json!([limit_param()]), None, (200, "LoginHistory"), &[400, 401], true) },
            "/api/v1/me/data-access": { "get": op(
                "The data tracker of a citizen account: who read or changed the caller's data, when, from which unit and for what purpose",
                json!([limit_param()]), None, (200, "DataAccess"), &[400, 401, 403], true) },
            "/api/v1/accounts": {
                "get": op("Accounts inside the caller's unit (admins)", json!([]), None, (200, "Object"), &[401, 403], true),
                "post": op("Creates a staff account (recent re-authentication required); returns its TOTP enrolment and recovery codes once",
                    json!([]), Some("NewAccount"), (201, "Enrollment"), &[400, 401, 403, 409, 413], true)
            },
            "/api/v1/accounts/{username}": { "get": op("One account (itself, its admin)", json!([username_param()]), None, (200, "Account"), &[401, 403, 404], true) },
            "/api/v1/accounts/{username}/logins": { "get": op(
                "Login and password history of an account (itself, its admin, auditors)",
                json!([username_param(), limit_param()]), None, (200, "LoginHistory"), &[400, 401, 403, 404], true) },
            "/api/v1/accounts/{username}/allow-ips": { "put": op(
                "Sets the account's IP allow-list (CIDR list; empty = any); recent re-authentication required",
                json!([username_param()]), Some("AllowIps"), (200, "Account"), &[400, 401, 403, 404, 413], true) },
            "/api/v1/accounts/{username}/{action}": { "post": op(
                "disable, enable, unlock or revoke-sessions; recent re-authentication required",
                json!([username_param(), path_param("action", "disable | enable | unlock | revoke-sessions")]),
                None, (200, "Account"), &[401, 403, 404], true) },
            "/api/v1/dossiers": { "post": op(
                "Opens a dossier of an administrative procedure for a person in the caller's unit: the purpose that allows a lookup (037)",
                json!([]), Some("NewDossier"), (201, "Dossier"), &[400, 401, 403, 413], true) },
            "/api/v1/dossiers/{dossier_id}": { "get": op("A dossier of the caller's unit", json!([dossier_param()]), None, (200, "Dossier"), &[400, 401, 403, 404], true) },
            "/api/v1/dossiers/{dossier_id}/close": { "post": op("Closes a dossier: its lookups end", json!([dossier_param()]), None, (200, "Dossier"), &[400, 401, 403, 404], true) },
            "/api/v1/citizens/{personal_id}/data-access": { "get": op(
                "The data tracker of a person, for auditors of the person's unit",
                json!([pid_param(), limit_param()]), None, (200, "DataAccess"), &READ_ERRORS, true) }
    })
}

/// The population registry.
fn registry_paths() -> Value {
    json!({
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
                "get": op("A citizen (audited)", json!([pid_param()]), None, (200, "Citizen"), &READ_ERRORS, true),
                "patch": op("Corrects fields under a legal basis; old values are kept", json!([pid_param()]), Some("CitizenUpdate"), (200, "Object"), &[400, 401, 403, 404, 413], true)
            },
            "/api/v1/citizens/{personal_id}/residences": {
                "get": op("Residence registrations with their history", json!([pid_param()]), None, (200, "Object"), &READ_ERRORS, true),
                "post": op("Registers a residence (ends the open one of the same kind)", json!([pid_param()]), Some("ResidenceRegistration"), (201, "Object"), &[400, 401, 403, 404, 413], true)
            },
            "/api/v1/citizens/{personal_id}/history": { "get": op("Field changes with their events", json!([pid_param()]), None, (200, "Object"), &READ_ERRORS, true) },
            "/api/v1/citizens/{personal_id}/as-of/{date}": { "get": op(
                "The citizen as the registry knew them on a date",
                json!([pid_param(), path_param("date", "YYYY, YYYY-MM or YYYY-MM-DD")]),
                None, (200, "Citizen"), &READ_ERRORS, true) },
            "/api/v1/households/{household_id}": { "get": op("A household and its members", json!([path_param("household_id", "household number")]), None, (200, "Object"), &READ_ERRORS, true) },
            "/api/v1/units": { "get": op(
                "Administrative units: provinces, children of a unit, or a name search",
                json!([
                    query_param("structure", "'2025' (default) or 'pre2025'", "string"),
                    query_param("parent", "code of the parent unit", "string"),
                    query_param("q", "name, accents optional", "string")
                ]),
                None, (200, "Object"), &[400, 401], true) },
            "/api/v1/units/{structure}/{code}": { "get": op(
                "One unit; for a pre-2025 commune, the 2025 communes it became",
                json!([path_param("structure", "'2025' or 'pre2025'"), path_param("code", "unit code")]),
                None, (200, "Object"), &[400, 401, 404], true) },
            "/api/v1/readdress": { "post": op(
                "Re-addresses every open residence of reorganized units: a dry-run report, or applied atomically with `apply` and a `basis`",
                json!([]), Some("Readdress"), (200, "Object"), &[400, 401, 403, 413], true) },
            "/api/v1/quality": { "get": op("Data-quality rules with counts and examples", json!([]), None, (200, "Object"), &[401, 403], true) }
    })
}

/// Problems, login and session.
fn common_schemas() -> Value {
    json!({
                "Object": { "type": "object" },
                "Health": { "type": "object", "properties": { "status": { "type": "string", "const": "ok" } }, "required": ["status"] },
                "Problem": { "type": "object", "properties": {
                    "type": { "type": "string" }, "title": { "type": "string" },
                    "status": { "type": "integer" }, "detail": { "type": "string" } },
                    "required": ["type", "title", "status", "detail"] },
                "Login": { "type": "object", "properties": {
                    "username": { "type": "string" }, "password": { "type": "string" },
                    "totp": { "type": "string", "description": "6-digit TOTP code, or a one-time recovery code (mandatory for staff)" } },
                    "required": ["username", "password"] }
    })
}

/// Accounts, history, dossiers.
fn account_schemas() -> Value {
    json!({
                "Reauth": { "type": "object", "properties": {
                    "password": { "type": "string" }, "totp": { "type": "string" } },
                    "required": ["password", "totp"] },
                "PasswordChange": { "type": "object", "properties": {
                    "current_password": { "type": "string" }, "new_password": { "type": "string" }, "totp": { "type": "string" } },
                    "required": ["current_password", "new_password", "totp"] },
                "NewAccount": { "type": "object", "properties": {
                    "username": { "type": "string" }, "role": { "type": "string" }, "unit": { "type": "string" },
                    "password": { "type": "string" }, "allow_ips": { "type": "array", "items": { "type": "string" } } },
                    "required": ["username", "role", "unit", "password"] },
                "Enrollment": { "type": "object", "properties": {
                    "username": { "type": "string" }, "totp_url": { "type": "string" },
                    "recovery_codes": { "type": "array", "items": { "type": "string" } } },
                    "required": ["username", "totp_url", "recovery_codes"] },
                "AllowIps": { "type": "object", "properties": {
                    "allow_ips": { "type": "array", "items": { "type": "string" } } }, "required": ["allow_ips"] },
                "Account": { "type": "object", "properties": {
                    "username": { "type": "string" }, "role": { "type": "string" }, "unit": { "type": "string" },
                    "disabled": { "type": "boolean" }, "allow_ips": { "type": "array", "items": { "type": "string" } } },
                    "required": ["username", "role", "unit"] },
                "LoginHistory": { "type": "object", "properties": {
                    "username": { "type": "string" },
                    "history": { "type": "array", "items": { "type": "object" } } }, "required": ["username", "history"] },
                "DataAccess": { "type": "object", "properties": {
                    "personal_id": { "type": "string" },
                    "accesses": { "type": "array", "items": { "type": "object" } } }, "required": ["personal_id", "accesses"] },
                "NewDossier": { "type": "object", "properties": {
                    "procedure": { "type": "string" }, "subject_personal_id": { "type": "string", "pattern": "^[0-9]{12}$" } },
                    "required": ["procedure", "subject_personal_id"] },
                "Dossier": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "unit": { "type": "string" }, "procedure": { "type": "string" },
                    "status": { "type": "string" } }, "required": ["id", "unit", "procedure", "status"] },
                "Session": { "type": "object", "properties": {
                    "token": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" } },
                    "required": ["token", "expires_at"] }
    })
}

/// Citizens, searches, changes, re-addressing.
fn registry_schemas() -> Value {
    json!({
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
    })
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
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
    }
}
