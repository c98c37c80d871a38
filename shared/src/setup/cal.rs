//! Cal.com (API v2, `Authorization: Bearer cal_…`): one user webhook to the cal-webhook URL for
//! `BOOKING_CREATED`, `BOOKING_CANCELLED` and `BOOKING_RESCHEDULED`, with Cal.com's default
//! payload (no `payloadTemplate`: the function reads the default shape).
//!
//! `GET /v2/webhooks` lists the key owner's webhooks (`take` ≤ 250, `skip`); `POST /v2/webhooks`
//! creates one (`active`, `subscriberUrl`, `triggers`, `secret`); `PATCH /v2/webhooks/{id}`
//! changes one in place, secret included; `DELETE /v2/webhooks/{id}` removes one. Setup signs
//! with the stack's `CAL_WEBHOOK_SECRET` when it has one, so a re-run never needs to change the
//! secret; only when the stack has none is a new one generated.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::api::{generate_secret, same_url, Api, ApiError, Body};
use super::report::{Outcome, Provider, SetupError, Step};
use super::secret_store::SecretDoc;
use super::{Cleanup, Progress, CAL_WEBHOOK_SECRET};
use crate::lambda::config::Secret;

pub const DEFAULT_API_BASE: &str = "https://api.cal.com";
/// The triggers cal-webhook acts on.
pub const TRIGGERS: [&str; 3] = [
    "BOOKING_CREATED",
    "BOOKING_CANCELLED",
    "BOOKING_RESCHEDULED",
];
const PAGE: usize = 250;

/// What to set up at Cal.com.
#[derive(Debug, Clone)]
pub struct CalSetup {
    pub api_base: Url,
    pub api_key: Secret,
    pub webhook_url: Url,
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    /// A number in the documented schema; taken as it comes.
    id: Value,
    #[serde(default)]
    subscriber_url: String,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    active: bool,
    payload_template: Option<String>,
    secret: Option<String>,
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug)]
enum CalOp {
    Reuse {
        id: String,
    },
    Create {
        secret: Secret,
        generated: bool,
    },
    Update {
        id: String,
        secret: Secret,
        generated: bool,
        why: String,
    },
    Replace {
        old: String,
        secret: Secret,
        generated: bool,
        why: String,
    },
}

/// What setup found at Cal.com and will do there.
pub(crate) struct CalPlan {
    api: Api,
    webhook_url: Url,
    op: CalOp,
    pub warnings: Vec<String>,
}

fn error(action: &str, err: ApiError) -> SetupError {
    let fix = match err.status {
        Some(401) | Some(403) => "Cal.com refused CAL_API_KEY: create an API key in Cal.com \
                                  (Settings → Developer → API keys; it starts with cal_) and \
                                  export CAL_API_KEY; for a self-hosted Cal.com also set \
                                  CAL_API_BASE"
            .to_owned(),
        Some(404) => "no Cal.com API v2 answered there: check CAL_API_BASE (default \
                      https://api.cal.com)"
            .to_owned(),
        None | Some(429) | Some(500..) => "a passing problem (Cal.com busy or out of reach): \
                                           run setup again; it picks up where it stopped"
            .to_owned(),
        Some(_) => "Cal.com refused the request (see its message): check --cal-webhook-url (a \
                    public https URL), then run setup again"
            .to_owned(),
    };
    SetupError::new(Provider::Cal, action, err.to_string(), fix)
}

fn decode<T: serde::de::DeserializeOwned>(action: &str, value: Value) -> Result<T, SetupError> {
    serde_json::from_value(value).map_err(|e| {
        SetupError::new(
            Provider::Cal,
            action,
            format!("Cal.com's answer could not be read: {e}"),
            "check CAL_API_BASE (default https://api.cal.com): it must serve Cal.com's API v2",
        )
    })
}

fn triggers_differ(have: &[String]) -> bool {
    let mut have: Vec<&str> = have.iter().map(String::as_str).collect();
    have.sort_unstable();
    have.dedup();
    let mut want = TRIGGERS.to_vec();
    want.sort_unstable();
    have != want
}

/// Reads the key owner's webhooks and decides what to do. Sends no writes.
pub(crate) async fn plan(setup: &CalSetup, stored: &SecretDoc) -> Result<CalPlan, SetupError> {
    let api = Api::new(&setup.api_base, setup.api_key.clone(), vec![])
        .map_err(|e| error("preparing the Cal.com client", e))?;
    let action = "listing the webhooks";
    let mut webhooks = Vec::new();
    loop {
        let skip = webhooks.len().to_string();
        let take = PAGE.to_string();
        let page: Envelope<Vec<Webhook>> = decode(
            action,
            api.get("v2/webhooks", &[("take", &take), ("skip", &skip)])
                .await
                .map_err(|e| error(action, e))?,
        )?;
        let full = page.data.len() >= PAGE;
        webhooks.extend(page.data);
        if !full {
            break;
        }
    }
    let ours: Vec<&Webhook> = webhooks
        .iter()
        .filter(|w| same_url(&w.subscriber_url, &setup.webhook_url))
        .collect();
    let stored_secret = stored.secret(CAL_WEBHOOK_SECRET);
    let (secret, generated) = match &stored_secret {
        Some(secret) => (secret.clone(), false),
        None => (generate_secret(), true),
    };
    let op = match ours.first() {
        None => CalOp::Create { secret, generated },
        Some(w)
            if w.payload_template
                .as_deref()
                .is_some_and(|t| !t.trim().is_empty()) =>
        {
            CalOp::Replace {
                old: id_text(&w.id),
                secret,
                generated,
                why: "it has a custom payload template, which cal-webhook cannot read".to_owned(),
            }
        }
        Some(w) => {
            let mut why = Vec::new();
            if triggers_differ(&w.triggers) {
                why.push(format!("its triggers are {}", w.triggers.join(", ")));
            }
            if !w.active {
                why.push("it is inactive".to_owned());
            }
            match (&stored_secret, &w.secret) {
                (None, _) => why.push(
                    "the stack's secret has no CAL_WEBHOOK_SECRET: a new one is generated"
                        .to_owned(),
                ),
                (Some(stored), Some(theirs)) if stored.expose() != theirs => {
                    why.push("its secret is not CAL_WEBHOOK_SECRET".to_owned())
                }
                _ => {}
            }
            if why.is_empty() {
                CalOp::Reuse { id: id_text(&w.id) }
            } else {
                CalOp::Update {
                    id: id_text(&w.id),
                    secret,
                    generated,
                    why: why.join(", "),
                }
            }
        }
    };
    let warnings = ours
        .iter()
        .skip(1)
        .map(|w| {
            format!(
                "Cal.com: webhook {} also sends to {}: delete it in Settings → Developer → \
                 Webhooks, or each booking arrives twice",
                id_text(&w.id),
                setup.webhook_url
            )
        })
        .collect();
    Ok(CalPlan {
        api,
        webhook_url: setup.webhook_url.clone(),
        op,
        warnings,
    })
}

impl CalPlan {
    fn detail(&self, id: &str) -> String {
        format!("{id} → {} ({})", self.webhook_url, TRIGGERS.join(", "))
    }

    pub(crate) fn steps(&self) -> Vec<Step> {
        let (outcome, detail) = match &self.op {
            CalOp::Reuse { id } => (Outcome::Reused, self.detail(id)),
            CalOp::Create { .. } => (Outcome::Created, self.detail("new webhook")),
            CalOp::Update { id, why, .. } => {
                (Outcome::Updated, format!("{} ({why})", self.detail(id)))
            }
            CalOp::Replace { old, why, .. } => (
                Outcome::Replaced,
                format!("{} (instead of {old}: {why})", self.detail("new webhook")),
            ),
        };
        vec![Step::new(Provider::Cal, "webhook", outcome, detail)]
    }

    pub(crate) fn keys_to_set(&self) -> Vec<String> {
        match &self.op {
            CalOp::Create { generated, .. }
            | CalOp::Update { generated, .. }
            | CalOp::Replace { generated, .. }
                if *generated =>
            {
                vec![CAL_WEBHOOK_SECRET.to_owned()]
            }
            _ => vec![],
        }
    }

    fn body(&self, secret: &Secret) -> Value {
        json!({
            "active": true,
            "subscriberUrl": self.webhook_url.as_str(),
            "triggers": TRIGGERS,
            "secret": secret.expose(),
        })
    }

    async fn create(&self, secret: &Secret) -> Result<String, SetupError> {
        let action = "creating the webhook";
        let body = self.body(secret);
        let created: Envelope<Webhook> = decode(
            action,
            self.api
                .call(
                    Method::POST,
                    self.api.url("v2/webhooks", &[]),
                    Body::Json(&body),
                    &[],
                )
                .await
                .map_err(|e| error(action, e))?,
        )?;
        Ok(id_text(&created.data.id))
    }

    pub(crate) async fn apply(&self, progress: &mut Progress) -> Result<(), SetupError> {
        let mut step = self.steps().remove(0);
        match &self.op {
            CalOp::Reuse { .. } => {}
            CalOp::Create { secret, generated } => {
                let id = self.create(secret).await?;
                if *generated {
                    progress.undo.push(Cleanup::CalWebhook(id.clone()));
                    progress.sets.push((CAL_WEBHOOK_SECRET, secret.clone()));
                }
                step.detail = self.detail(&id);
            }
            CalOp::Update {
                id,
                secret,
                generated,
                ..
            } => {
                let action = "updating the webhook";
                let body = self.body(secret);
                self.api
                    .call(
                        Method::PATCH,
                        self.api.url(&format!("v2/webhooks/{id}"), &[]),
                        Body::Json(&body),
                        &[],
                    )
                    .await
                    .map_err(|e| error(action, e))?;
                if *generated {
                    progress.sets.push((CAL_WEBHOOK_SECRET, secret.clone()));
                }
            }
            CalOp::Replace {
                old,
                secret,
                generated,
                why,
            } => {
                self.delete_webhook(old)
                    .await
                    .map_err(|e| error("deleting the old webhook", e))?;
                let id = self.create(secret).await?;
                if *generated {
                    progress.undo.push(Cleanup::CalWebhook(id.clone()));
                    progress.sets.push((CAL_WEBHOOK_SECRET, secret.clone()));
                }
                step.detail = format!("{} (instead of {old}: {why})", self.detail(&id));
            }
        }
        progress.steps.push(step);
        Ok(())
    }

    pub(crate) async fn delete_webhook(&self, id: &str) -> Result<(), ApiError> {
        self.api
            .call(
                Method::DELETE,
                self.api.url(&format!("v2/webhooks/{id}"), &[]),
                Body::Empty,
                &[],
            )
            .await
            .map(|_| ())
    }
}
