//! Civil-status digitization over HTTP: register books, page scans (raw bytes in, the
//! image out), entries (JSON or CSV), the QA check, linking, the review queue and
//! progress. Every handler is one `dancu-app` call; errors are problem+json.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use dancu_app::civil::blobs::MAX_SCAN_BYTES;
use dancu_app::civil::{BookRequest, EntryInput};
use dancu_domain::PartialDate;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::openapi::{op, path_pattern, query_param};
use crate::{ApiResult, JsonBody, Problem, Shared, Staff, blocking, json_rejection, ok_json, pid};

/// Largest entries CSV accepted in one request (about 20,000 rows).
const MAX_ENTRIES_CSV_BYTES: usize = 4 * 1024 * 1024;

/// The civil-status routes, merged into the API router.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/civil/books", post(create_book))
        .route("/api/v1/civil/books/{book_id}", get(book))
        .route(
            "/api/v1/civil/books/{book_id}/pages/{page}/scan",
            get(scan)
                .put(upload_scan)
                .layer(DefaultBodyLimit::max(MAX_SCAN_BYTES)),
        )
        .route(
            "/api/v1/civil/books/{book_id}/entries",
            get(entries).post(add_entry),
        )
        .route(
            "/api/v1/civil/books/{book_id}/entries/import",
            post(import_entries).layer(DefaultBodyLimit::max(MAX_ENTRIES_CSV_BYTES)),
        )
        .route("/api/v1/civil/books/{book_id}/link", post(link_book))
        .route("/api/v1/civil/entries/{entry_id}/check", post(check_entry))
        .route("/api/v1/civil/entries/{entry_id}/confirm", post(confirm))
        .route("/api/v1/civil/entries/{entry_id}/reject", post(reject))
        .route("/api/v1/civil/review", get(review_queue))
        .route("/api/v1/civil/progress", get(progress))
}

fn id(s: &str, what: &str) -> Result<i64, Problem> {
    s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("{what}: a positive number"),
        )
    })
}

async fn create_book(
    State(app): State<Shared>,
    Staff(actor): Staff,
    JsonBody(b): JsonBody<BookRequest>,
) -> ApiResult {
    let book = blocking(move || app.create_book(&actor, &b)).await?;
    Ok((StatusCode::CREATED, Json(book)).into_response())
}

async fn book(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(book_id): Path<String>,
) -> ApiResult {
    let book_id = id(&book_id, "book_id")?;
    ok_json(blocking(move || app.book(&actor, book_id)).await?)
}

async fn upload_scan(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path((book_id, page)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let (book_id, page) = (id(&book_id, "book_id")?, id(&page, "page")?);
    let scan = blocking(move || app.upload_scan(&actor, book_id, page, &body)).await?;
    Ok((StatusCode::CREATED, Json(scan)).into_response())
}

async fn scan(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path((book_id, page)): Path<(String, String)>,
) -> ApiResult {
    let (book_id, page) = (id(&book_id, "book_id")?, id(&page, "page")?);
    let audited = blocking(move || app.scan(&actor, book_id, page)).await?;
    let (scan, bytes) = audited.release().await?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&scan.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&scan.sha256) {
        h.insert("x-sha256", v);
    }
    Ok(res)
}

#[derive(Deserialize)]
struct StatusParams {
    status: Option<String>,
}

async fn entries(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(book_id): Path<String>,
    Query(p): Query<StatusParams>,
) -> ApiResult {
    let book_id = id(&book_id, "book_id")?;
    let audited = blocking(move || app.entries(&actor, book_id, p.status.as_deref())).await?;
    ok_json(json!({ "book_id": book_id, "entries": audited.release().await? }))
}

async fn add_entry(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(book_id): Path<String>,
    JsonBody(entry): JsonBody<EntryInput>,
) -> ApiResult {
    let book_id = id(&book_id, "book_id")?;
    let mut typed = blocking(move || app.add_entries(&actor, book_id, &[entry])).await?;
    Ok((StatusCode::CREATED, Json(typed.pop())).into_response())
}

async fn import_entries(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(book_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let book_id = id(&book_id, "book_id")?;
    ok_json(blocking(move || app.import_entries(&actor, book_id, &body)).await?)
}

async fn link_book(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(book_id): Path<String>,
) -> ApiResult {
    let book_id = id(&book_id, "book_id")?;
    ok_json(blocking(move || app.link_book(&actor, book_id)).await?)
}

async fn check_entry(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(entry_id): Path<String>,
) -> ApiResult {
    let entry_id = id(&entry_id, "entry_id")?;
    ok_json(blocking(move || app.check_entry(&actor, entry_id)).await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    personal_id: Option<String>,
}

async fn confirm(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(entry_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let entry_id = id(&entry_id, "entry_id")?;
    // The body is optional: without it the entry's candidate is confirmed.
    let b: ConfirmBody = if body.is_empty() {
        ConfirmBody::default()
    } else {
        // Same answers as a required JSON body: bad JSON 400, wrong shape 422.
        Json::<ConfirmBody>::from_bytes(&body)
            .map_err(json_rejection)?
            .0
    };
    let person = b.personal_id.as_deref().map(pid).transpose()?;
    ok_json(blocking(move || app.confirm_link(&actor, entry_id, person)).await?)
}

async fn reject(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(entry_id): Path<String>,
) -> ApiResult {
    let entry_id = id(&entry_id, "entry_id")?;
    ok_json(blocking(move || app.reject_link(&actor, entry_id)).await?)
}

#[derive(Deserialize)]
struct ReviewParams {
    limit: Option<u32>,
}

async fn review_queue(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Query(p): Query<ReviewParams>,
) -> ApiResult {
    let audited = blocking(move || app.review_queue(&actor, p.limit.unwrap_or(100))).await?;
    ok_json(json!({ "items": audited.release().await? }))
}

#[derive(Deserialize)]
struct ProgressParams {
    unit: Option<String>,
    target: Option<String>,
    days: Option<u32>,
}

async fn progress(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Query(p): Query<ProgressParams>,
) -> ApiResult {
    let target = p
        .target
        .as_deref()
        .map(PartialDate::parse)
        .transpose()
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("target: {e}")))?;
    let unit = p.unit.unwrap_or_else(|| actor.unit.clone());
    ok_json(
        blocking(move || app.civil_progress(&actor, &unit, target, p.days.unwrap_or(30))).await?,
    )
}

/// (path, method) of every civil route, for the OpenAPI test.
#[cfg(test)]
pub(crate) const DOCUMENTED: &[(&str, &str)] = &[
    ("/api/v1/civil/books", "post"),
    ("/api/v1/civil/books/{book_id}", "get"),
    ("/api/v1/civil/books/{book_id}/pages/{page}/scan", "get"),
    ("/api/v1/civil/books/{book_id}/pages/{page}/scan", "put"),
    ("/api/v1/civil/books/{book_id}/entries", "get"),
    ("/api/v1/civil/books/{book_id}/entries", "post"),
    ("/api/v1/civil/books/{book_id}/entries/import", "post"),
    ("/api/v1/civil/books/{book_id}/link", "post"),
    ("/api/v1/civil/entries/{entry_id}/check", "post"),
    ("/api/v1/civil/entries/{entry_id}/confirm", "post"),
    ("/api/v1/civil/entries/{entry_id}/reject", "post"),
    ("/api/v1/civil/review", "get"),
    ("/api/v1/civil/progress", "get"),
];

/// Adds the civil routes and their schemas to the OpenAPI document.
pub(crate) fn document(doc: &mut Value) {
    let read = [400, 401, 403, 404];
    let write = [400, 401, 403, 404, 409];
    let book = || path_pattern("book_id", "register book number", "^[1-9][0-9]{0,17}$");
    let page = || {
        path_pattern(
            "page",
            "page number, 1 to the book's pages",
            "^[1-9][0-9]{0,4}$",
        )
    };
    let entry = || path_pattern("entry_id", "entry number", "^[1-9][0-9]{0,17}$");
    let mut upload = op(
        "Stores the scan of a page (raw bytes; JPEG, PNG, TIFF or PDF by its first bytes, at most 20 MiB); anything else is 400 and nothing is stored. Replaces an earlier scan of the page",
        json!([book(), page()]),
        None,
        (201, "Scan"),
        &[400, 401, 403, 404, 409, 413],
        true,
    );
    upload["requestBody"] = json!({ "required": true, "content": {
        "image/jpeg": { "schema": { "type": "string", "format": "binary" } },
        "image/png": { "schema": { "type": "string", "format": "binary" } },
        "image/tiff": { "schema": { "type": "string", "format": "binary" } },
        "application/pdf": { "schema": { "type": "string", "format": "binary" } } } });
    let mut read_scan = op(
        "The scan of a page (audited)",
        json!([book(), page()]),
        None,
        (200, ""),
        &read,
        true,
    );
    read_scan["responses"]["200"] = json!({ "description": "The scan's bytes, with its media type; `X-Sha256` is its SHA-256",
        "content": { "image/*": { "schema": { "type": "string", "format": "binary" } }, "application/pdf": { "schema": { "type": "string", "format": "binary" } } } });
    let mut import = op(
        "Imports typed entries from CSV (header: page,registration_number,registration_date,full_name,date_of_birth,gender,place,father_name,mother_name,event_date,spouse_name,spouse_date_of_birth; extra columns ignored). Bad rows are reported with their line (header = 1) and nothing of them is stored; good rows are stored together",
        json!([book()]),
        None,
        (200, "EntryImport"),
        &[400, 401, 403, 404, 413],
        true,
    );
    import["requestBody"] =
        json!({ "required": true, "content": { "text/csv": { "schema": { "type": "string" } } } });
    let mut confirm = op(
        "Confirms an entry waiting for review as its candidate (or the `personal_id` given): the entry is linked and the registry records a `civil_link` event naming the book and page, shown in the person's history. In a birth book a person already linked from another entry is 409 (twins are not merged)",
        json!([entry()]),
        None,
        (200, "Entry"),
        // The optional body: too large, or JSON of the wrong shape.
        &[400, 401, 403, 404, 409, 413, 422],
        true,
    );
    confirm["requestBody"] = json!({ "required": false, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Confirm" } } } });
    let paths = &mut doc["paths"];
    paths["/api/v1/civil/books"] = json!({ "post": op("Creates a register book (birth, death or marriage) of a commune in the structure of its time, in the caller's unit", json!([]), Some("NewBook"), (201, "Book"), &write, true) });
    paths["/api/v1/civil/books/{book_id}"] =
        json!({ "get": op("A register book", json!([book()]), None, (200, "Book"), &read, true) });
    paths["/api/v1/civil/books/{book_id}/pages/{page}/scan"] =
        json!({ "get": read_scan, "put": upload });
    paths["/api/v1/civil/books/{book_id}/entries"] = json!({
        "get": op("A book's entries with their QA trail (audited)", json!([book(), query_param("status", "typed, checked, linked, new or needs_review", "string")]), None, (200, "Object"), &read, true),
        "post": op("Types one entry (fields of the book's type, validated)", json!([book()]), Some("EntryInput"), (201, "Entry"), &write, true)
    });
    paths["/api/v1/civil/books/{book_id}/entries/import"] = json!({ "post": import });
    paths["/api/v1/civil/books/{book_id}/link"] = json!({ "post": op("Links the book's checked entries to registry persons: link (stored with its civil_link event), review, or new, each with the explanation of every field's agreement and weight", json!([book()]), None, (200, "LinkRun"), &write, true) });
    paths["/api/v1/civil/entries/{entry_id}/check"] = json!({ "post": op("QA check of a typed entry (typed → checked)", json!([entry()]), None, (200, "Entry"), &write, true) });
    paths["/api/v1/civil/entries/{entry_id}/confirm"] = json!({ "post": confirm });
    paths["/api/v1/civil/entries/{entry_id}/reject"] = json!({ "post": op("Rejects an entry's proposed link: the person is not in the registry (new)", json!([entry()]), None, (200, "Entry"), &write, true) });
    paths["/api/v1/civil/review"] = json!({ "get": op("Entries waiting for review in books of the caller's unit, with their candidate (each shown candidate is an audited read) and explanation", json!([query_param("limit", "1-500 (default 100)", "integer")]), None, (200, "Object"), &[400, 401, 403], true) });
    paths["/api/v1/civil/progress"] = json!({ "get": op(
        "Digitization progress per book, commune and province (counts only): pages scanned, entries typed, checked, linked, new, in review, reviewed, percentages, the completion date projected from the pace of the last `days` days and the at-risk flag against `target`",
        json!([query_param("unit", "VN, a province or a commune (2025); default: the caller's unit", "string"),
               query_param("target", "target date YYYY, YYYY-MM or YYYY-MM-DD", "string"),
               query_param("days", "pace window in days, 1-366 (default 30)", "integer")]),
        None, (200, "Object"), &[400, 401, 403], true) });
    let schemas = &mut doc["components"]["schemas"];
    schemas["NewBook"] = json!({ "type": "object", "properties": {
        "kind": { "type": "string", "enum": ["birth", "death", "marriage"] },
        "commune_code": { "type": "string" },
        "structure": { "type": "string", "enum": ["2025", "pre2025"], "description": "structure of the commune code (default 2025)" },
        "year_from": { "type": "integer" }, "year_to": { "type": "integer" },
        "pages": { "type": "integer", "minimum": 1, "maximum": 10000 } },
        "required": ["kind", "commune_code", "year_from", "year_to", "pages"] });
    schemas["Book"] = json!({ "type": "object", "properties": {
        "id": { "type": "integer" }, "kind": { "type": "string" }, "commune_code": { "type": "string" },
        "unit_structure": { "type": "string" }, "commune_2025": { "type": "string" }, "province_2025": { "type": "string" },
        "year_from": { "type": "integer" }, "year_to": { "type": "integer" }, "pages": { "type": "integer" },
        "created_by": { "type": "string" }, "created_at": { "type": "integer" } },
        "required": ["id", "kind", "commune_code", "pages"] });
    schemas["Scan"] = json!({ "type": "object", "properties": {
        "book_id": { "type": "integer" }, "page": { "type": "integer" }, "sha256": { "type": "string" },
        "size": { "type": "integer" }, "content_type": { "type": "string" },
        "uploaded_by": { "type": "string" }, "uploaded_at": { "type": "integer" } },
        "required": ["book_id", "page", "sha256", "size", "content_type"] });
    let text = json!({ "type": "string" });
    schemas["EntryInput"] = json!({ "type": "object", "additionalProperties": false, "properties": {
        "page": { "type": "integer" }, "registration_number": text, "registration_date": text,
        "full_name": { "type": "string", "description": "birth: the child; death: the deceased; marriage: the husband" },
        "date_of_birth": text, "gender": { "type": "string", "enum": ["M", "F"] }, "place": text,
        "father_name": text, "mother_name": text,
        "event_date": { "type": "string", "description": "death: date of death (required); marriage: date of marriage" },
        "spouse_name": { "type": "string", "description": "marriage: the wife (required)" }, "spouse_date_of_birth": text },
        "required": ["page", "registration_number", "registration_date", "full_name"] });
    schemas["Entry"] = json!({ "type": "object", "properties": {
        "id": { "type": "integer" }, "book_id": { "type": "integer" }, "page": { "type": "integer" },
        "status": { "type": "string", "enum": ["typed", "checked", "linked", "new", "needs_review"] },
        "typed_by": text, "checked_by": { "type": ["string", "null"] }, "decided_by": { "type": ["string", "null"] },
        "reviewed_by": { "type": ["string", "null"] },
        "candidate_id": { "type": ["string", "null"] }, "score": { "type": ["number", "null"] },
        "explanation": { "type": ["string", "null"] }, "personal_id": { "type": ["string", "null"] } },
        "required": ["id", "book_id", "page", "status"] });
    schemas["EntryImport"] = json!({ "type": "object", "properties": {
        "imported": { "type": "integer" }, "entry_ids": { "type": "array", "items": { "type": "integer" } },
        "rejected": { "type": "array", "items": { "type": "object", "properties": {
            "line": { "type": "integer" }, "reason": text } } } },
        "required": ["imported", "rejected"] });
    schemas["LinkRun"] = json!({ "type": "object", "properties": {
        "book_id": { "type": "integer" }, "entries": { "type": "integer" }, "linked": { "type": "integer" },
        "needs_review": { "type": "integer" }, "new": { "type": "integer" }, "registry_persons": { "type": "integer" } } });
    schemas["Confirm"] = json!({ "type": "object", "additionalProperties": false, "properties": {
        "personal_id": { "type": "string", "pattern": "^[0-9]{12}$" } } });
}
