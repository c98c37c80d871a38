//! Calendly (API v2, a personal access token): one webhook subscription to the
//! calendly-webhook URL for `invitee.created` and `invitee.canceled`.
//!
//! `GET /users/me` gives the token owner's user and organization URIs;
//! `GET /webhook_subscriptions?organization=…&scope=…[&user=…]&count=100[&page_token=…]` lists
//! subscriptions; `POST /webhook_subscriptions` (`url`, `events`, `organization`, `user`, `scope`,
//! `signing_key`) creates one; `DELETE /webhook_subscriptions/{uuid}` removes one. A
//! subscription cannot be changed, and Calendly never shows its signing key again, so one with
//! other events, one Calendly disabled, or one whose key the stack's secret lacks is deleted and
//! created again. Setup signs with the stack's `CALENDLY_WEBHOOK_SIGNING_KEY` when it has one;
//! only when it has none is a new key generated.
//!
//! The backup booking link: the token owner's event type named "Agency OS Demo"
//! (`GET /event_types?user=…&count=100[&page_token=…]`), whose `scheduling_url` is saved as
//! `CALENDLY_BOOKING_URL`. Setup does not create it: when it is missing the report says plainly
//! what to create in Calendly.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::api::{generate_secret, same_url, Api, Body, ProviderError};
use super::report::{Outcome, Provider, SetupError, Step};
use super::secret_store::SecretDoc;
use super::{Cleanup, Progress, CALENDLY_BOOKING_URL, CALENDLY_WEBHOOK_SIGNING_KEY};
use sales::lambda::config::Secret;

pub const DEFAULT_API_BASE: &str = "https://api.calendly.com";
/// The demo's event type, by name.
pub const DEMO_NAME: &str = "Agency OS Demo";
/// The events calendly-webhook acts on.
pub const EVENTS: [&str; 2] = ["invitee.created", "invitee.canceled"];

/// Whose bookings the subscription covers: the token owner's (`user`, any member may create
/// it) or the whole organization's (`organization`, needs an owner's or admin's token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendlyScope {
    User,
    Organization,
}

impl CalendlyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            CalendlyScope::User => "user",
            CalendlyScope::Organization => "organization",
        }
    }
}

/// What to set up at Calendly.
#[derive(Debug, Clone)]
pub struct CalendlySetup {
    pub api_base: Url,
    pub token: Secret,
    pub webhook_url: Url,
    pub scope: CalendlyScope,
}

#[derive(Debug, Deserialize)]
struct Resource<T> {
    resource: T,
}

#[derive(Debug, Deserialize)]
struct Me {
    uri: String,
    current_organization: String,
}

#[derive(Debug, Deserialize)]
struct Page {
    collection: Vec<Subscription>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Subscription {
    uri: String,
    #[serde(default)]
    callback_url: String,
    #[serde(default)]
    events: Vec<String>,
    state: Option<String>,
}

impl Subscription {
    fn events_differ(&self) -> bool {
        let mut have: Vec<&str> = self.events.iter().map(String::as_str).collect();
        have.sort_unstable();
        have.dedup();
        let mut want = EVENTS.to_vec();
        want.sort_unstable();
        have != want
    }

    fn active(&self) -> bool {
        self.state.as_deref().is_none_or(|s| s == "active")
    }
}

#[derive(Debug)]
enum CalendlyOp {
    Reuse {
        uri: String,
    },
    Create {
        key: Secret,
        generated: bool,
    },
    Replace {
        old: String,
        key: Secret,
        generated: bool,
        why: String,
    },
}

/// What setup found at Calendly and will do there.
pub(crate) struct CalendlyPlan {
    api: Api,
    webhook_url: Url,
    scope: CalendlyScope,
    user: String,
    organization: String,
    op: CalendlyOp,
    /// The demo event type's booking page, when the user has one, and whether the stack's
    /// secret already holds it.
    booking_link: Option<(String, bool)>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct EventTypePage {
    collection: Vec<EventType>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct EventType {
    #[serde(default)]
    name: String,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    scheduling_url: String,
}

fn error(action: &str, err: ProviderError) -> SetupError {
    let fix = match err.status {
        Some(401) => "Calendly refused CALENDLY_TOKEN: create a personal access token in \
                      Calendly (Integrations & apps → API and webhooks) and export \
                      CALENDLY_TOKEN"
            .to_owned(),
        Some(403) => "Calendly webhooks need a paid plan (Standard or above); with \
                      --calendly-scope organization the token's user must be an owner or admin"
            .to_owned(),
        Some(409) => "Calendly already has a subscription to this URL that this token does not \
                      list (another user's, or the other scope): delete it, or run with the \
                      other --calendly-scope"
            .to_owned(),
        None | Some(429) | Some(500..) => "a passing problem (Calendly busy or out of reach): \
                                           run setup again; it picks up where it stopped"
            .to_owned(),
        Some(_) => "Calendly refused the request (see its message): check \
                    --calendly-webhook-url (a public https URL), then run setup again"
            .to_owned(),
    };
    SetupError::new(Provider::Calendly, action, err.to_string(), fix)
}

fn decode<T: serde::de::DeserializeOwned>(action: &str, value: Value) -> Result<T, SetupError> {
    serde_json::from_value(value).map_err(|e| {
        SetupError::new(
            Provider::Calendly,
            action,
            format!("Calendly's answer could not be read: {e}"),
            "check CALENDLY_API_BASE (default https://api.calendly.com)",
        )
    })
}

/// Reads the token owner and the subscriptions, and decides what to do. Sends no writes.
pub(crate) async fn plan(
    setup: &CalendlySetup,
    stored: &SecretDoc,
) -> Result<CalendlyPlan, SetupError> {
    let api = Api::new(&setup.api_base, setup.token.clone(), vec![])
        .map_err(|e| error("preparing the Calendly client", e))?;
    let action = "reading the token's user (GET /users/me)";
    let me: Resource<Me> = decode(
        action,
        api.get("users/me", &[])
            .await
            .map_err(|e| error(action, e))?,
    )?;
    let me = me.resource;

    let action = "listing the webhook subscriptions";
    let mut subscriptions = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![
            ("organization", me.current_organization.as_str()),
            ("scope", setup.scope.as_str()),
            ("count", "100"),
        ];
        if setup.scope == CalendlyScope::User {
            query.push(("user", me.uri.as_str()));
        }
        if let Some(token) = &token {
            query.push(("page_token", token));
        }
        let page: Page = decode(
            action,
            api.get("webhook_subscriptions", &query)
                .await
                .map_err(|e| error(action, e))?,
        )?;
        subscriptions.extend(page.collection);
        match page.pagination.and_then(|p| p.next_page_token) {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => break,
        }
    }
    let ours: Vec<&Subscription> = subscriptions
        .iter()
        .filter(|s| same_url(&s.callback_url, &setup.webhook_url))
        .collect();
    let stored_key = stored.secret(CALENDLY_WEBHOOK_SIGNING_KEY);
    let (key, generated) = match &stored_key {
        Some(key) => (key.clone(), false),
        None => (generate_secret(), true),
    };
    let op = match ours.first() {
        None => CalendlyOp::Create { key, generated },
        Some(s) => {
            let mut why = Vec::new();
            if stored_key.is_none() {
                why.push(
                    "the stack's secret has no CALENDLY_WEBHOOK_SIGNING_KEY, and Calendly never \
                     shows a signing key again"
                        .to_owned(),
                );
            }
            if s.events_differ() {
                why.push(format!("its events are {}", s.events.join(", ")));
            }
            if !s.active() {
                why.push(format!(
                    "it is {} (Calendly disables a subscription whose deliveries keep failing)",
                    s.state.as_deref().unwrap_or("inactive")
                ));
            }
            if why.is_empty() {
                CalendlyOp::Reuse { uri: s.uri.clone() }
            } else {
                CalendlyOp::Replace {
                    old: s.uri.clone(),
                    key,
                    generated,
                    why: why.join(", "),
                }
            }
        }
    };
    let warnings: Vec<String> = ours
        .iter()
        .skip(1)
        .map(|s| {
            format!(
                "Calendly: subscription {} also sends to {}: delete it (DELETE \
                 /webhook_subscriptions/{{uuid}}), or each booking arrives twice",
                s.uri, setup.webhook_url
            )
        })
        .collect();
    // The demo event type, by name (Calendly's API lists event types; setup does not make one).
    let action = "listing the event types";
    let mut event_types = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("user", me.uri.as_str()), ("count", "100")];
        if let Some(token) = &token {
            query.push(("page_token", token));
        }
        let page: EventTypePage = decode(
            action,
            api.get("event_types", &query)
                .await
                .map_err(|e| error(action, e))?,
        )?;
        event_types.extend(page.collection);
        match page.pagination.and_then(|p| p.next_page_token) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let demo = event_types
        .iter()
        .filter(|e| e.name.trim().eq_ignore_ascii_case(DEMO_NAME))
        .max_by_key(|e| e.active);
    let mut warnings = warnings;
    let booking_link = match demo {
        Some(e) if e.active && !e.scheduling_url.is_empty() => {
            let saved = stored.get(CALENDLY_BOOKING_URL) == Some(e.scheduling_url.as_str());
            Some((e.scheduling_url.clone(), saved))
        }
        Some(_) => {
            warnings.push(format!(
                "Calendly: the event type {DEMO_NAME:?} is turned off: turn it on in Calendly \
                 (Scheduling → Event types), then run setup again to save its booking link"
            ));
            None
        }
        None => {
            warnings.push(format!(
                "Calendly: no event type named {DEMO_NAME:?}. setup does not create Calendly \
                 event types: in Calendly, create a One-on-One event type named {DEMO_NAME:?}, \
                 30 minutes, then run setup again to save its booking link (the backup for the \
                 widget's \"Book a Demo\")"
            ));
            None
        }
    };
    Ok(CalendlyPlan {
        api,
        webhook_url: setup.webhook_url.clone(),
        scope: setup.scope,
        user: me.uri,
        organization: me.current_organization,
        op,
        booking_link,
        warnings,
    })
}

impl CalendlyPlan {
    fn detail(&self, uri: &str) -> String {
        format!(
            "{uri} → {} ({}; scope {})",
            self.webhook_url,
            EVENTS.join(", "),
            self.scope.as_str()
        )
    }

    pub(crate) fn steps(&self) -> Vec<Step> {
        let (outcome, detail) = match &self.op {
            CalendlyOp::Reuse { uri } => (Outcome::Reused, self.detail(uri)),
            CalendlyOp::Create { .. } => (Outcome::Created, self.detail("new subscription")),
            CalendlyOp::Replace { old, why, .. } => (
                Outcome::Replaced,
                format!(
                    "{} (instead of {old}: {why})",
                    self.detail("new subscription")
                ),
            ),
        };
        let mut steps = vec![Step::new(
            Provider::Calendly,
            "webhook subscription",
            outcome,
            detail,
        )];
        if let Some((link, _)) = &self.booking_link {
            steps.push(Step::new(
                Provider::Calendly,
                "event type",
                Outcome::Reused,
                format!("{DEMO_NAME:?}: booking link {link} (the backup for \"Book a Demo\")"),
            ));
        }
        steps
    }

    pub(crate) fn keys_to_set(&self) -> Vec<String> {
        let mut keys = match &self.op {
            CalendlyOp::Create { generated, .. } | CalendlyOp::Replace { generated, .. }
                if *generated =>
            {
                vec![CALENDLY_WEBHOOK_SIGNING_KEY.to_owned()]
            }
            _ => vec![],
        };
        if let Some((_, false)) = &self.booking_link {
            keys.push(CALENDLY_BOOKING_URL.to_owned());
        }
        keys
    }

    async fn create(&self, key: &Secret) -> Result<String, SetupError> {
        let action = "creating the webhook subscription";
        let mut body = json!({
            "url": self.webhook_url.as_str(),
            "events": EVENTS,
            "organization": self.organization,
            "scope": self.scope.as_str(),
            "signing_key": key.expose(),
        });
        if self.scope == CalendlyScope::User {
            body["user"] = Value::String(self.user.clone());
        }
        let created: Resource<Subscription> = decode(
            action,
            self.api
                .call(
                    Method::POST,
                    self.api.url("webhook_subscriptions", &[]),
                    Body::Json(&body),
                    &[],
                )
                .await
                .map_err(|e| error(action, e))?,
        )?;
        Ok(created.resource.uri)
    }

    pub(crate) async fn apply(&self, progress: &mut Progress) -> Result<(), SetupError> {
        let mut step = self.steps().remove(0);
        match &self.op {
            CalendlyOp::Reuse { .. } => {}
            CalendlyOp::Create { key, generated } => {
                let uri = self.create(key).await?;
                if *generated {
                    progress
                        .undo
                        .push(Cleanup::CalendlySubscription(uri.clone()));
                    progress
                        .sets
                        .push((CALENDLY_WEBHOOK_SIGNING_KEY, key.clone()));
                }
                step.detail = self.detail(&uri);
            }
            CalendlyOp::Replace {
                old,
                key,
                generated,
                why,
            } => {
                // One subscription per URL and user: the old one goes first.
                self.delete_subscription(old)
                    .await
                    .map_err(|e| error("deleting the old webhook subscription", e))?;
                let uri = self.create(key).await?;
                if *generated {
                    progress
                        .undo
                        .push(Cleanup::CalendlySubscription(uri.clone()));
                    progress
                        .sets
                        .push((CALENDLY_WEBHOOK_SIGNING_KEY, key.clone()));
                }
                step.detail = format!("{} (instead of {old}: {why})", self.detail(&uri));
            }
        }
        progress.steps.push(step);
        if let Some((link, _)) = &self.booking_link {
            progress.steps.extend(self.steps().into_iter().skip(1));
            progress
                .sets
                .push((CALENDLY_BOOKING_URL, Secret::new(link.clone())));
        }
        Ok(())
    }

    /// Deletes a subscription by its URI (`…/webhook_subscriptions/{uuid}`), on this API base.
    pub(crate) async fn delete_subscription(&self, uri: &str) -> Result<(), ProviderError> {
        let uuid = uri.trim_end_matches('/').rsplit('/').next().unwrap_or(uri);
        self.api
            .call(
                Method::DELETE,
                self.api.url(&format!("webhook_subscriptions/{uuid}"), &[]),
                Body::Empty,
                &[],
            )
            .await
            .map(|_| ())
    }
}
