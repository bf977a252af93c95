//! Enrichment by ministries: partners push attribute values (`POST /api/v1/enrich`) and
//! read the conflicts of the fields their agency owns; staff and the citizen read a
//! person's attributes with their sources, history and past state.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use dancu_app::enrich::EnrichItem;
use serde::Deserialize;
use serde_json::json;

use crate::{ApiResult, JsonBody, PartnerKey, Shared, Staff, blocking, ok_json, pid, quick};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/enrich", post(enrich))
        .route("/api/v1/enrich/conflicts", get(conflicts))
        .route("/api/v1/citizens/{personal_id}/attributes", get(attributes))
        .route(
            "/api/v1/citizens/{personal_id}/attributes/history",
            get(history),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrichBody {
    /// Procedure or legal basis of the push (default `enrichment`).
    basis: Option<String>,
    items: Vec<EnrichItem>,
}

async fn enrich(
    State(app): State<Shared>,
    PartnerKey(partner): PartnerKey,
    JsonBody(b): JsonBody<EnrichBody>,
) -> ApiResult {
    ok_json(blocking(move || app.enrich(&partner, b.basis.as_deref(), &b.items)).await?)
}

#[derive(Deserialize)]
struct ConflictParams {
    before: Option<i64>,
    limit: Option<u32>,
}

async fn conflicts(
    State(app): State<Shared>,
    PartnerKey(partner): PartnerKey,
    Query(p): Query<ConflictParams>,
) -> ApiResult {
    let list =
        blocking(move || app.enrich_conflicts(&partner, p.before, p.limit.unwrap_or(100))).await?;
    ok_json(json!({ "conflicts": list }))
}

#[derive(Deserialize)]
struct AsOfParams {
    as_of: Option<String>,
}

async fn attributes(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
    Query(p): Query<AsOfParams>,
) -> ApiResult {
    let id = pid(&id)?;
    let list = quick(&app.clone(), move || {
        app.attributes(&actor, id, p.as_of.as_deref())
    })
    .await?
    .release()
    .await?;
    ok_json(json!({ "personal_id": id, "attributes": list }))
}

async fn history(
    State(app): State<Shared>,
    Staff(actor): Staff,
    Path(id): Path<String>,
) -> ApiResult {
    let id = pid(&id)?;
    let list = quick(&app.clone(), move || app.attribute_history(&actor, id))
        .await?
        .release()
        .await?;
    ok_json(json!({ "personal_id": id, "history": list }))
}
