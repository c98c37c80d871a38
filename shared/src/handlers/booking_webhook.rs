//! The booking webhooks: cal-webhook and calendly-webhook (function URLs).
//!
//! Verify the signature over the raw body, parse, find or create the lead by the attendee's
//! e-mail, then apply the event to the lead's bookings and deal in one transaction that also
//! records the delivery in the ledger (so a redelivery, even a concurrent one, changes nothing). The rules are in [`crate::domain::booking`].

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::domain::signature::{verify_body_hex, verify_timestamped, CALENDLY_TOLERANCE_SECONDS};
use crate::domain::{BookingEffect, BookingNotice, BookingProvider, Cause, LeadSource, NewLead};
use crate::handlers::delivery::answer_once;
use crate::lambda::alerts::{Alert, Person, TeamAlerts};
use crate::lambda::clock::Clock;
use crate::lambda::http::{body_bytes, header, json_response, ApiError, HttpResponse};
use crate::lambda::secrets::WebhookSecrets;
use crate::providers::{cal, calendly, ParsedWebhook};
use crate::store::{DeliveryKey, Once, LEDGER_RETENTION};
use crate::SalesStore;

/// Cal.com's signature header: hex HMAC-SHA256 of the raw body.
pub const CAL_SIGNATURE_HEADER: &str = "x-cal-signature-256";
/// Calendly's signature header: `t=<unix>,v1=<hex>` over `"{t}.{raw body}"`.
pub const CALENDLY_SIGNATURE_HEADER: &str = "calendly-webhook-signature";

/// How far ahead of this function's clock a Cal.com delivery's `createdAt` may be (clock skew).
pub const CAL_CLOCK_SKEW: Duration = Duration::minutes(5);

/// The oldest Cal.com delivery accepted: a little younger than the delivery ledger keeps its
/// records ([`LEDGER_RETENTION`], 30 days). Cal.com signs no timestamp, so a captured body
/// stays validly signed forever, and once its ledger record has expired it would no longer be
/// recognised as a duplicate. Refusing every delivery older than the ledger's lifetime (less
/// the skew allowed for a `createdAt` ahead of this clock) means each delivery that is
/// accepted is refused again for as long as its ledger record may be gone.
pub const CAL_MAX_DELIVERY_AGE: Duration =
    Duration::seconds(LEDGER_RETENTION.whole_seconds() - CAL_CLOCK_SKEW.whole_seconds());

/// Refuses a Cal.com delivery that could be a replay: `createdAt` older than
/// [`CAL_MAX_DELIVERY_AGE`], more than [`CAL_CLOCK_SKEW`] ahead, or missing (Cal.com dates
/// every delivery; without a date a replay cannot be told apart).
pub fn check_cal_delivery_age(body: &[u8], now: OffsetDateTime) -> Result<(), ApiError> {
    let created = cal::created_at(body)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "createdAt is missing: an undated Cal.com delivery cannot be told from a replay"
                    .into(),
            )
        })?;
    if created < now - CAL_MAX_DELIVERY_AGE {
        return Err(ApiError::BadRequest(format!(
            "createdAt {} is older than {} days: a delivery older than the delivery ledger keeps \
             its records may be a replay, and is refused",
            crate::domain::time_format::to_sortable(created),
            LEDGER_RETENTION.whole_days()
        )));
    }
    if created > now + CAL_CLOCK_SKEW {
        return Err(ApiError::BadRequest(format!(
            "createdAt {} is in the future",
            crate::domain::time_format::to_sortable(created)
        )));
    }
    Ok(())
}

/// One booking provider's webhook endpoint.
#[derive(Debug)]
pub struct BookingWebhook {
    provider: BookingProvider,
    store: SalesStore,
    /// Current first, then the previous one during a rotation; re-read on a mismatch.
    secrets: WebhookSecrets,
    clock: Clock,
    /// The team's alerts: a demo booked or cancelled.
    alerts: TeamAlerts,
}

impl BookingWebhook {
    /// cal-webhook. `secrets`: a `Vec<Secret>` (fixed) or [`WebhookSecrets`] (re-read on a
    /// mismatch).
    pub fn cal(store: SalesStore, secrets: impl Into<WebhookSecrets>, clock: Clock) -> Self {
        BookingWebhook {
            provider: BookingProvider::Cal,
            store,
            secrets: secrets.into(),
            clock,
            alerts: TeamAlerts::off(),
        }
    }

    /// calendly-webhook; `secrets` as for [`BookingWebhook::cal`].
    pub fn calendly(store: SalesStore, secrets: impl Into<WebhookSecrets>, clock: Clock) -> Self {
        BookingWebhook {
            provider: BookingProvider::Calendly,
            store,
            secrets: secrets.into(),
            clock,
            alerts: TeamAlerts::off(),
        }
    }

    /// Sends the team an alert for each demo booked and each demo cancelled, once per event
    /// (only when the event's write was applied). A reschedule, a requested reschedule and a
    /// redelivery send none.
    pub fn with_alerts(mut self, alerts: TeamAlerts) -> Self {
        self.alerts = alerts;
        self
    }

    /// The secrets the signatures are checked with (how often they were re-read).
    pub fn secrets(&self) -> &WebhookSecrets {
        &self.secrets
    }

    pub async fn handle(&self, request: Request) -> HttpResponse {
        match self.receive(&request).await {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(err) => err.into_response(),
        }
    }

    async fn receive(&self, request: &Request) -> Result<Value, ApiError> {
        if request.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed);
        }
        let body = body_bytes(request);
        let parsed = match self.provider {
            BookingProvider::Cal => {
                let signature = header(request, CAL_SIGNATURE_HEADER);
                self.secrets
                    .verify(|secrets| verify_body_hex(signature, body, secrets))
                    .await
                    .map_err(|e| ApiError::BadRequest(format!("X-Cal-Signature-256: {e}")))?;
                cal::parse(body)
            }
            BookingProvider::Calendly => {
                let signature = header(request, CALENDLY_SIGNATURE_HEADER);
                let now = self.clock.now().unix_timestamp();
                self.secrets
                    .verify(|secrets| {
                        verify_timestamped(
                            signature,
                            body,
                            secrets,
                            now,
                            CALENDLY_TOLERANCE_SECONDS,
                        )
                        .map(|_| ())
                    })
                    .await
                    .map_err(|e| {
                        ApiError::BadRequest(format!("Calendly-Webhook-Signature: {e}"))
                    })?;
                calendly::parse(body)
            }
        }
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let notice = match parsed {
            ParsedWebhook::Notice(notice) => {
                if let BookingProvider::Cal = self.provider {
                    check_cal_delivery_age(body, self.clock.now())?;
                }
                notice
            }
            ParsedWebhook::Ignored(trigger) => {
                tracing::info!(provider = self.provider.as_str(), trigger = %trigger, "event type not handled; ignored");
                return Ok(json!({"received": true, "ignored": trigger}));
            }
        };
        let key = delivery_key(&notice, body);
        // The event's whole effect is one transaction, which records the delivery too.
        let once = self.apply(&notice, &key).await?;
        answer_once(&key, once)
    }

    async fn apply(
        &self,
        notice: &BookingNotice,
        delivery: &DeliveryKey,
    ) -> Result<Once<Map<String, Value>>, ApiError> {
        let now = self.clock.now();
        let source = match self.provider {
            BookingProvider::Cal => LeadSource::Cal,
            BookingProvider::Calendly => LeadSource::Calendly,
        };
        let mut new_lead = NewLead::new(notice.attendee.email.clone(), source);
        new_lead.name.clone_from(&notice.attendee.name);
        new_lead.company.clone_from(&notice.attendee.company);
        let booking = notice.booking();
        let cause = match self.provider {
            BookingProvider::Cal => Cause::cal_booking(&booking.id),
            BookingProvider::Calendly => Cause::calendly_invitee(&booking.id),
        };
        let outcome = self
            .store
            .record_booking_for_attendee(
                &new_lead,
                self.provider,
                &notice.event,
                &cause,
                delivery,
                now,
            )
            .await?;
        let outcome = match outcome {
            Once::Applied(outcome) => outcome,
            Once::Duplicate => return Ok(Once::Duplicate),
            Once::InProgress => return Ok(Once::InProgress),
        };
        let lead = &outcome.lead;
        tracing::info!(
            provider = self.provider.as_str(),
            trigger = %notice.trigger,
            email = %notice.attendee.email.masked(),
            lead_id = %lead.id,
            effect = outcome.effect.as_str(),
            stage = outcome.lead.pipeline.stage.as_str(),
            "booking event applied"
        );
        let person = Person::new(&lead.email, lead.company.as_deref());
        let start = notice.event.slot().start;
        let alert = match outcome.effect {
            BookingEffect::Booked => Some(Alert::demo_booked(person, self.provider, start)),
            BookingEffect::Cancelled => Some(Alert::demo_cancelled(person, self.provider, start)),
            _ => None,
        };
        if let Some(alert) = &alert {
            self.alerts.send(alert).await;
        }
        let mut details = Map::new();
        details.insert("effect".into(), Value::from(outcome.effect.as_str()));
        details.insert("lead_id".into(), Value::from(lead.id.as_str()));
        details.insert("booking".into(), Value::from(booking.id.as_str()));
        details.insert(
            "stage".into(),
            Value::from(outcome.lead.pipeline.stage.as_str()),
        );
        if let Some(change) = &outcome.stage_change {
            details.insert(
                "stage_changed_from".into(),
                Value::from(change.from.as_str()),
            );
        }
        if let Some(kept) = outcome.stage_kept {
            details.insert("stage_kept".into(), json!(kept));
        }
        Ok(Once::Applied(details))
    }
}

/// Neither provider sends a delivery id: the key is the event, the booking and a hash of the
/// exact body, so that a redelivery (the same bytes) is recognised and a different event about
/// the same booking is not.
fn delivery_key(notice: &BookingNotice, body: &[u8]) -> DeliveryKey {
    let digest = hex::encode(Sha256::digest(body));
    DeliveryKey::new(
        notice.provider.as_str(),
        format!(
            "{}:{}:{}",
            notice.trigger,
            notice.event.slot().id,
            &digest[..32]
        ),
    )
}
