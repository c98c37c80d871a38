//! Cal.com (API v2, `Authorization: Bearer cal_…`): one user webhook to the cal-webhook URL for
//! `BOOKING_CREATED`, `BOOKING_CANCELLED`, `BOOKING_RESCHEDULED`, `BOOKING_REQUESTED` and
//! `BOOKING_REJECTED` (the last two for a reschedule that awaits the host's confirmation), with
//! Cal.com's default payload (no `payloadTemplate`: the function reads the default shape).
//!
//! `GET /v2/webhooks` lists the key owner's webhooks (`take` ≤ 250, `skip`); `POST /v2/webhooks`
//! creates one (`active`, `subscriberUrl`, `triggers`, `secret`); `PATCH /v2/webhooks/{id}`
//! changes one in place, secret included; `DELETE /v2/webhooks/{id}` removes one. Setup signs
//! with the stack's `CAL_WEBHOOK_SECRET` when it has one, so a re-run never needs to change the
//! secret; only when the stack has none is a new one generated.
//!
//! And the demo's event type, "Agency OS Demo" (30 minutes), found by its slug among the key
//! owner's event types (`GET /v2/event-types`, `cal-api-version: 2024-06-14`), created
//! (`POST /v2/event-types`: `title`, `slug`, `lengthInMinutes`, `locations`) or put back to 30
//! minutes and its title (`PATCH /v2/event-types/{id}`). Its booking link,
//! `<booking base>/<username>/<slug>` (`GET /v2/me` gives the username), is saved as
//! `CAL_BOOKING_URL` and printed for the widget's `data-cal-link`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::api::{generate_secret, same_url, Api, Body, ProviderError};
use super::report::{Outcome, Provider, SetupError, Step};
use super::secret_store::SecretDoc;
use super::{Cleanup, Progress, CAL_BOOKING_URL, CAL_WEBHOOK_SECRET};
use sales::lambda::config::Secret;

pub const DEFAULT_API_BASE: &str = "https://api.cal.com";
/// The triggers cal-webhook acts on.
pub const TRIGGERS: [&str; 5] = [
    "BOOKING_CREATED",
    "BOOKING_CANCELLED",
    "BOOKING_RESCHEDULED",
    "BOOKING_REQUESTED",
    "BOOKING_REJECTED",
];
const PAGE: usize = 250;
/// The demo's event type, from the launch checklist.
pub const DEMO_TITLE: &str = "Agency OS Demo";
pub const DEMO_MINUTES: u64 = 30;
pub const DEFAULT_DEMO_SLUG: &str = "agency-os-demo";
/// Public booking pages of cal.com (a self-hosted Cal.com has its own).
pub const DEFAULT_BOOKING_BASE: &str = "https://cal.com";
/// The version of the event types API whose shapes setup reads and writes.
const EVENT_TYPES_VERSION: &str = "2024-06-14";

/// What to set up at Cal.com.
#[derive(Debug, Clone)]
pub struct CalSetup {
    pub api_base: Url,
    pub api_key: Secret,
    pub webhook_url: Url,
    /// The demo event type's slug.
    pub demo_slug: String,
    /// Where the demo takes place: a Cal.com location object (`--cal-location`).
    pub demo_location: Value,
    /// Where booking pages are served: `https://cal.com`, or a self-hosted Cal.com's address.
    pub booking_base: Url,
}

/// `--cal-location`: `cal-video` (the default), `google-meet`, `zoom`, `office365-video`, an
/// `https://` meeting link, `phone:+61…` or `address:…`.
pub fn location(raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    Ok(match raw {
        "cal-video" | "google-meet" | "zoom" | "office365-video" => {
            json!({"type": "integration", "integration": raw})
        }
        link if link.starts_with("https://") => {
            Url::parse(link).map_err(|e| format!("--cal-location {link:?}: {e}"))?;
            json!({"type": "link", "link": link, "public": true})
        }
        other => match other.split_once(':') {
            Some(("phone", phone)) if !phone.trim().is_empty() => {
                json!({"type": "phone", "phone": phone.trim(), "public": true})
            }
            Some(("address", address)) if !address.trim().is_empty() => {
                json!({"type": "address", "address": address.trim(), "public": true})
            }
            _ => {
                return Err(format!(
                    "--cal-location {other:?}: cal-video, google-meet, zoom, office365-video, \
                     an https:// link, phone:<number> or address:<text>"
                ))
            }
        },
    })
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

#[derive(Debug, Deserialize)]
struct Me {
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventType {
    id: Value,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    length_in_minutes: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum EventOp {
    Reuse { id: String },
    Create,
    Update { id: String, why: String },
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
    event: EventOp,
    demo_slug: String,
    demo_location: Value,
    /// The demo's public booking page.
    booking_link: String,
    /// Whether the stack's secret already holds that link.
    link_saved: bool,
    pub warnings: Vec<String>,
}

fn error(action: &str, err: ProviderError) -> SetupError {
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
    // The demo's event type, by slug, and the username its booking page is under.
    let action = "reading the key's user (GET /v2/me)";
    let me: Envelope<Me> = decode(
        action,
        api.get("v2/me", &[]).await.map_err(|e| error(action, e))?,
    )?;
    let username = me.data.username.filter(|u| !u.is_empty()).ok_or_else(|| {
        SetupError::new(
            Provider::Cal,
            action,
            "the key's user has no username",
            "set a username in Cal.com (Settings → My account → Profile) and run setup again",
        )
    })?;
    let action = "listing the event types";
    let listed = api
        .call(
            Method::GET,
            api.url("v2/event-types", &[]),
            Body::Empty,
            &[("cal-api-version", EVENT_TYPES_VERSION.to_owned())],
        )
        .await;
    let event_types: Vec<EventType> = match listed {
        Ok(value) => decode::<Envelope<Vec<EventType>>>(action, value)?.data,
        // Some Cal.com versions answer an empty list with 404 "Event types not found".
        Err(ProviderError {
            status: Some(404),
            ref message,
            ..
        }) if message.contains("vent types not found") => Vec::new(),
        Err(e) => return Err(error(action, e)),
    };
    let event = match event_types.iter().find(|e| e.slug == setup.demo_slug) {
        None => EventOp::Create,
        Some(e) => {
            let mut why = Vec::new();
            if e.title != DEMO_TITLE {
                why.push(format!("its title is {:?}", e.title));
            }
            if e.length_in_minutes != DEMO_MINUTES {
                why.push(format!("it lasts {} minutes", e.length_in_minutes));
            }
            if why.is_empty() {
                EventOp::Reuse { id: id_text(&e.id) }
            } else {
                EventOp::Update {
                    id: id_text(&e.id),
                    why: why.join(", "),
                }
            }
        }
    };
    let booking_link = format!(
        "{}/{username}/{}",
        setup.booking_base.as_str().trim_end_matches('/'),
        setup.demo_slug
    );
    let link_saved = stored.get(CAL_BOOKING_URL) == Some(booking_link.as_str());
    Ok(CalPlan {
        api,
        webhook_url: setup.webhook_url.clone(),
        op,
        event,
        demo_slug: setup.demo_slug.clone(),
        demo_location: setup.demo_location.clone(),
        booking_link,
        link_saved,
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
        vec![
            Step::new(Provider::Cal, "webhook", outcome, detail),
            self.event_step(),
        ]
    }

    fn event_detail(&self, id: &str) -> String {
        // The widget's data-cal-link is the link's path: `<username>/<slug>`.
        let cal_link = self
            .booking_link
            .splitn(4, '/')
            .nth(3)
            .unwrap_or(&self.booking_link);
        format!(
            "{id}: {DEMO_TITLE:?}, {DEMO_MINUTES} min, booking link {} (widget: \
             data-cal-link=\"{cal_link}\")",
            self.booking_link
        )
    }

    fn event_step(&self) -> Step {
        let (outcome, detail) = match &self.event {
            EventOp::Reuse { id } => (Outcome::Reused, self.event_detail(id)),
            EventOp::Create => (Outcome::Created, self.event_detail("new event type")),
            EventOp::Update { id, why } => (
                Outcome::Updated,
                format!("{} ({why})", self.event_detail(id)),
            ),
        };
        Step::new(Provider::Cal, "event type", outcome, detail)
    }

    pub(crate) fn keys_to_set(&self) -> Vec<String> {
        let mut keys = match &self.op {
            CalOp::Create { generated, .. }
            | CalOp::Update { generated, .. }
            | CalOp::Replace { generated, .. }
                if *generated =>
            {
                vec![CAL_WEBHOOK_SECRET.to_owned()]
            }
            _ => vec![],
        };
        if !self.link_saved {
            keys.push(CAL_BOOKING_URL.to_owned());
        }
        keys
    }

    /// Creates or repairs the demo's event type.
    async fn apply_event(&self, progress: &mut Progress) -> Result<(), SetupError> {
        let version = [("cal-api-version", EVENT_TYPES_VERSION.to_owned())];
        let mut step = self.event_step();
        match &self.event {
            EventOp::Reuse { .. } => {}
            EventOp::Create => {
                let action = "creating the demo event type";
                let body = json!({
                    "title": DEMO_TITLE,
                    "slug": self.demo_slug,
                    "lengthInMinutes": DEMO_MINUTES,
                    "description": "A 30-minute walk through Agency OS.",
                    "locations": [self.demo_location],
                });
                let created: Envelope<EventType> = decode(
                    action,
                    self.api
                        .call(
                            Method::POST,
                            self.api.url("v2/event-types", &[]),
                            Body::Json(&body),
                            &version,
                        )
                        .await
                        .map_err(|e| error(action, e))?,
                )?;
                step.detail = self.event_detail(&id_text(&created.data.id));
            }
            EventOp::Update { id, .. } => {
                let action = "updating the demo event type";
                let body = json!({"title": DEMO_TITLE, "lengthInMinutes": DEMO_MINUTES});
                self.api
                    .call(
                        Method::PATCH,
                        self.api.url(&format!("v2/event-types/{id}"), &[]),
                        Body::Json(&body),
                        &version,
                    )
                    .await
                    .map_err(|e| error(action, e))?;
            }
        }
        progress.steps.push(step);
        progress
            .sets
            .push((CAL_BOOKING_URL, Secret::new(self.booking_link.clone())));
        Ok(())
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
        self.apply_event(progress).await
    }

    pub(crate) async fn delete_webhook(&self, id: &str) -> Result<(), ProviderError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_become_cal_location_objects() {
        assert_eq!(
            location("cal-video").unwrap(),
            json!({"type": "integration", "integration": "cal-video"})
        );
        assert_eq!(
            location("https://meet.example.com/demo").unwrap(),
            json!({"type": "link", "link": "https://meet.example.com/demo", "public": true})
        );
        assert_eq!(
            location("phone:+61 2 5550 1234").unwrap(),
            json!({"type": "phone", "phone": "+61 2 5550 1234", "public": true})
        );
        assert_eq!(
            location("address: 1 George St, Sydney").unwrap(),
            json!({"type": "address", "address": "1 George St, Sydney", "public": true})
        );
        for bad in ["skype", "http://insecure.example", "phone:", "address:  "] {
            assert!(location(bad).is_err(), "{bad}");
        }
    }
}
