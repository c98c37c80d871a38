//! The `pipeline` function: the sales team's HTTP API, behind two kinds of routes: `/pipeline/…`
//! and `/founding/…` with IAM authorization (scripts, SigV4), and the same routes under
//! `/board/api/…` with the board's Cognito JWT authorizer (the web board, docs/board.md).
//!
//! | route | answer |
//! |-------|--------|
//! | `GET /pipeline/summary` | per stage: count, total and weighted `deal_value_aud` (one Query of the summary's 16 shards) |
//! | `GET /pipeline/leads?stage=&assigned_to=&due_before=&limit=&cursor=` | deals by next action date, paginated |
//! | `GET /pipeline/leads/{lead_id}` | lead, pipeline record, history, bookings, billing |
//! | `POST /pipeline/leads` | `{email, name?, company?, source?}` → 201 new, 200 existing |
//! | `PATCH /pipeline/leads/{lead_id}` | `{version, stage?, next_action?, next_action_date?, assigned_to?, deal_value_aud?, probability?}` |
//! | `GET /founding/members`, `GET /founding/waitlist` | in spot / position order |
//! | `POST /founding/waitlist/{email}/offer` | offers the lowest free spot to that waitlisted e-mail now (48 h; the next sweep e-mails it); 409 when none is free or they hold one |
//! | `POST /founding/waitlist/{email}/skip` | passes them over (waiting or offered → skipped; an offer's spot is given back) |
//! | `GET /founding/spots` | every spot's state: member, lapsed (kept for its former member until …), held (until …), free; and the tally |
//! | `GET /founding/holds` | live holds: spot, e-mail, client address, held since / until, session |
//! | `POST /founding/holds/{spot}/release` | releases that spot's live hold (and its client's slot); 404 when none |
//!
//! Routing is on the path's last segments, so the same handler serves API Gateway's paths, the
//! board's `/board/api/...` and `cargo lambda watch`'s `/lambda-url/pipeline/...`.
//!
//! Who may call: API Gateway has checked the IAM signature or the JWT (issuer, audience, expiry)
//! before the function runs, but an HTTP API JWT authorizer cannot require a group. So a request
//! that arrives with JWT claims is served only when its `cognito:groups` claim names
//! [`SALES_GROUP`] and it carries a verified e-mail (403 otherwise, on every route); the history
//! then names that e-mail. An IAM caller is named by its ARN.

use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::domain::{
    parse_date_or_time, parse_deal_edit, Cause, EmailAddress, FieldError, LeadId, LeadSource,
    NewLead, PipelineStage, SpotNumber,
};
use crate::lambda::clock::Clock;
use crate::lambda::http::{json_body, json_response, ApiError, HttpResponse};
use crate::store::{Cursor, DealFilter, DealQuery, StoreError};
use crate::SalesStore;

/// Deals per page unless `limit` says otherwise.
pub const DEFAULT_PAGE: i32 = 25;
pub const MAX_PAGE: i32 = 100;

#[derive(Debug)]
pub struct PipelineApi {
    store: SalesStore,
    clock: Clock,
}

impl From<FieldError> for ApiError {
    fn from(err: FieldError) -> Self {
        ApiError::Invalid {
            field: err.field,
            reason: err.reason,
        }
    }
}

/// The Cognito group whose members may use the board (`BoardSalesGroup` in infra/template.yaml).
pub const SALES_GROUP: &str = "sales";

/// Who is calling, as API Gateway verified them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An IAM identity (SigV4): its ARN, else its caller id.
    Iam(String),
    /// A board user signed in with the board's user pool, in the `sales` group: their e-mail.
    Board(EmailAddress),
    /// No authorizer (a function URL through `cargo lambda watch`): may read, not write.
    Anonymous,
}

impl Caller {
    /// The name the history gives this caller (`user:<it>`), if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Caller::Iam(who) => Some(who),
            Caller::Board(email) => Some(email.as_str()),
            Caller::Anonymous => None,
        }
    }

    /// The caller as logs show it (an e-mail masked).
    pub fn for_log(&self) -> String {
        match self {
            Caller::Iam(who) => who.clone(),
            Caller::Board(email) => format!("board:{}", email.masked()),
            Caller::Anonymous => "anonymous".into(),
        }
    }
}

/// The groups of a `cognito:groups` claim as an HTTP API passes it: API Gateway renders a JSON
/// array claim as `[a b]` (space-separated in brackets); a JSON array string, a comma-separated
/// list or one bare name are read too.
pub fn claim_groups(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list.into_iter().map(|g| g.trim().to_owned()).collect();
    }
    let inner = raw
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(raw);
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|g| g.trim_matches('"').trim())
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Who is calling: the IAM identity, or the board user from the JWT's claims. A JWT caller must
/// be in [`SALES_GROUP`] and have a verified e-mail (`email_verified` `"true"`, as API Gateway
/// passes claims), else 403: the authorizer only proved the token came from the board's pool.
pub fn caller(request: &Request) -> Result<Caller, ApiError> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return Ok(Caller::Anonymous);
    };
    let Some(authorizer) = context.authorizer.as_ref() else {
        return Ok(Caller::Anonymous);
    };
    if let Some(jwt) = authorizer.jwt.as_ref() {
        let claims = &jwt.claims;
        let groups = claims
            .get("cognito:groups")
            .map(|raw| claim_groups(raw))
            .unwrap_or_default();
        if !groups.iter().any(|g| g == SALES_GROUP) {
            return Err(ApiError::Forbidden(format!(
                "the board is for the {SALES_GROUP} group; ask an administrator to add you"
            )));
        }
        let verified = claims
            .get("email_verified")
            .is_some_and(|v| v.trim() == "true");
        let email = claims
            .get("email")
            .filter(|_| verified)
            .and_then(|raw| EmailAddress::parse(raw).ok())
            .ok_or_else(|| {
                ApiError::Forbidden("the token has no verified e-mail to name you by".into())
            })?;
        return Ok(Caller::Board(email));
    }
    if let Some(iam) = authorizer.iam.as_ref() {
        if let Some(who) = iam
            .user_arn
            .clone()
            .or_else(|| iam.caller_id.clone())
            .filter(|who| !who.trim().is_empty())
        {
            return Ok(Caller::Iam(who));
        }
    }
    Ok(Caller::Anonymous)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateLead {
    email: String,
    name: Option<String>,
    company: Option<String>,
    source: Option<String>,
}

fn optional_text(field: &'static str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > 200 => Err(ApiError::Invalid {
            field,
            reason: "at most 200 characters".into(),
        }),
        Some(text) => Ok(Some(text.to_owned())),
    }
}

fn lead_id(raw: &str) -> Result<LeadId, ApiError> {
    LeadId::parse(raw).map_err(|_| ApiError::NotFound(format!("no lead {raw:?}")))
}

/// Parses the list's query parameters into a [`DealQuery`].
pub fn deal_query(params: &[(&str, &str)]) -> Result<DealQuery, FieldError> {
    let mut stage = None;
    let mut assigned_to = None;
    let mut due_before = None;
    let mut limit = DEFAULT_PAGE;
    let mut cursor = None;
    for (name, value) in params {
        match *name {
            "stage" => {
                stage = Some(
                    value
                        .parse::<PipelineStage>()
                        .map_err(|e| FieldError::new("stage", e.to_string()))?,
                )
            }
            "assigned_to" => {
                let who = value.trim();
                if who.is_empty() {
                    return Err(FieldError::new("assigned_to", "must not be empty"));
                }
                assigned_to = Some(who.to_owned());
            }
            "due_before" => {
                due_before =
                    Some(parse_date_or_time(value).map_err(|e| FieldError::new("due_before", e))?)
            }
            "limit" => {
                limit = value
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        FieldError::new("limit", format!("a whole number from 1 to {MAX_PAGE}"))
                    })?
            }
            "cursor" => {
                cursor = Some(Cursor::parse(value).map_err(|e| FieldError::new("cursor", e.to_string()))?)
            }
            other => {
                return Err(FieldError::new(
                    "query",
                    format!("unknown parameter {other:?}; use stage, assigned_to, due_before, limit, cursor"),
                ))
            }
        }
    }
    let filter = match (assigned_to, stage) {
        (Some(who), stage) => DealFilter::Assignee { who, stage },
        (None, Some(stage)) => DealFilter::Stage(stage),
        (None, None) => {
            return Err(FieldError::new(
                "stage",
                "give stage or assigned_to (each list reads one index partition)",
            ))
        }
    };
    Ok(DealQuery {
        filter,
        due_before,
        limit,
        cursor,
    })
}

impl PipelineApi {
    pub fn new(store: SalesStore, clock: Clock) -> Self {
        PipelineApi { store, clock }
    }

    pub async fn handle(&self, request: Request) -> HttpResponse {
        match self.route(&request).await {
            Ok((status, body)) => json_response(status, &body),
            Err(err) => err.into_response(),
        }
    }

    async fn route(&self, request: &Request) -> Result<(StatusCode, Value), ApiError> {
        let who = caller(request)?;
        let path = request.raw_http_path();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let method = request.method();
        let ok = |value: Value| Ok((StatusCode::OK, value));
        match segments.as_slice() {
            [.., "pipeline", "summary"] if method == Method::GET => {
                ok(json!(self.store.pipeline_summary().await?))
            }
            [.., "pipeline", "leads"] if method == Method::GET => {
                let params = request.query_string_parameters();
                let pairs: Vec<(&str, &str)> = params.iter().collect();
                let query = deal_query(&pairs)?;
                ok(json!(self.store.list_deals(&query).await?))
            }
            [.., "pipeline", "leads"] if method == Method::POST => self.create(request).await,
            [.., "pipeline", "leads", id] if method == Method::GET => {
                let detail = self
                    .store
                    .lead_detail(&lead_id(id)?)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("no lead {id:?}")))?;
                ok(json!(detail))
            }
            [.., "pipeline", "leads", id] if method == Method::PATCH => {
                self.edit(request, &who, &lead_id(id)?).await
            }
            [.., "founding", "members"] if method == Method::GET => {
                ok(json!({"members": self.store.founding_members().await?}))
            }
            [.., "founding", "waitlist"] if method == Method::GET => {
                ok(json!({"waitlist": self.store.waitlist().await?}))
            }
            [.., "founding", "spots"] if method == Method::GET => {
                let (tally, statuses) = self.store.founding_overview(self.clock.now()).await?;
                ok(json!({"tally": tally, "spots": statuses}))
            }
            [.., "founding", "holds"] if method == Method::GET => {
                ok(json!({"holds": self.store.live_holds(self.clock.now()).await?}))
            }
            [.., "founding", "holds", spot, "release"] if method == Method::POST => {
                who.name().ok_or(ApiError::Unauthorized)?;
                let spot = SpotNumber::parse(spot).map_err(|e| ApiError::Invalid {
                    field: "spot",
                    reason: e.to_string(),
                })?;
                match self.store.release_spot_hold(spot, self.clock.now()).await? {
                    Some(hold) => {
                        tracing::info!(spot = spot.get(), email = %hold.email.masked(), caller = %who.for_log(), "founding hold released by the sales team");
                        ok(json!({"released": hold}))
                    }
                    None => Err(ApiError::NotFound(format!("spot {spot} has no live hold"))),
                }
            }
            [.., "founding", "waitlist", email, action @ ("offer" | "skip")]
                if method == Method::POST =>
            {
                let name = who.name().ok_or(ApiError::Unauthorized)?;
                let email = EmailAddress::parse(email).map_err(|e| ApiError::Invalid {
                    field: "email",
                    reason: e.to_string(),
                })?;
                let now = self.clock.now();
                let refused = |e: StoreError| match e {
                    StoreError::Rejected(reason) => ApiError::Conflict {
                        code: "waitlist_status",
                        detail: json!({ "reason": reason }),
                    },
                    other => other.into(),
                };
                if *action == "offer" {
                    match self
                        .store
                        .offer_by_hand(&email, now)
                        .await
                        .map_err(refused)?
                    {
                        Some((entry, spot)) => {
                            tracing::info!(email = %email.masked(), spot = spot.get(), caller = %who.for_log(), "waitlist: spot offered by the sales team");
                            ok(json!({ "offered": entry }))
                        }
                        None => Err(ApiError::Conflict {
                            code: "no_spot_free",
                            detail: json!({ "reason": "no founding spot is free to offer" }),
                        }),
                    }
                } else {
                    let reason = format!("skipped by {name}");
                    let entry = self
                        .store
                        .skip_waitlisted(&email, &reason, now)
                        .await
                        .map_err(refused)?;
                    tracing::info!(email = %email.masked(), caller = %who.for_log(), "waitlist: skipped by the sales team");
                    ok(json!({ "skipped": entry }))
                }
            }
            [.., "pipeline", "summary" | "leads"]
            | [.., "pipeline", "leads", _]
            | [.., "founding", "members" | "waitlist" | "holds"]
            | [.., "founding", "holds", _, "release"]
            | [.., "founding", "waitlist", _, "offer" | "skip"] => Err(ApiError::MethodNotAllowed),
            _ => Err(ApiError::NotFound(format!("no route {method} {path}"))),
        }
    }

    async fn create(&self, request: &Request) -> Result<(StatusCode, Value), ApiError> {
        let body: CreateLead = json_body(request)?;
        let email = EmailAddress::parse(&body.email).map_err(|e| ApiError::Invalid {
            field: "email",
            reason: e.to_string(),
        })?;
        let source = match body.source.as_deref().map(str::trim) {
            None | Some("") => LeadSource::SalesTeam,
            Some(raw) => raw.parse().map_err(|reason| ApiError::Invalid {
                field: "source",
                reason,
            })?,
        };
        let mut new_lead = NewLead::new(email, source);
        new_lead.name = optional_text("name", body.name)?;
        new_lead.company = optional_text("company", body.company)?;
        let found = self
            .store
            .find_or_create_lead(&new_lead, self.clock.now())
            .await?;
        let lead = self
            .store
            .lead(&found.id)
            .await?
            .ok_or_else(|| ApiError::Internal("a lead just found is gone".into()))?;
        let status = if found.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, json!({"lead": lead, "created": found.created})))
    }

    async fn edit(
        &self,
        request: &Request,
        caller: &Caller,
        id: &LeadId,
    ) -> Result<(StatusCode, Value), ApiError> {
        let who = caller.name().ok_or(ApiError::Unauthorized)?;
        let body: Map<String, Value> = json_body(request)?;
        let version = match body.get("version") {
            Some(value) => value
                .as_u64()
                .filter(|v| *v >= 1)
                .ok_or_else(|| ApiError::Invalid {
                    field: "version",
                    reason: "the version you read (a whole number)".into(),
                })?,
            None => return Err(ApiError::Invalid {
                field: "version",
                reason:
                    "required: the version you read, so that a concurrent edit is not overwritten"
                        .into(),
            }),
        };
        let update = parse_deal_edit(&body, &["version"])?;
        let change = self
            .store
            .update_pipeline(
                id,
                &update,
                &Cause::user(who),
                Some(version),
                self.clock.now(),
            )
            .await?;
        tracing::info!(lead_id = %id, caller = %caller.for_log(), written = change.written, "deal edited");
        Ok((
            StatusCode::OK,
            json!({
                "lead": change.lead,
                "stage_change": change.stage_change,
                "stage_kept": change.stage_kept,
            }),
        ))
    }
}
