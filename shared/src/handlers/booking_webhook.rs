//! The booking webhooks: cal-webhook and calendly-webhook (function URLs).
//!
//! Verify the signature over the raw body, parse, find or create the lead by the attendee's
//! e-mail, then apply the event to the lead's bookings and deal in one transaction that also
//! records the delivery in the ledger (so a redelivery, even a concurrent one, changes nothing). The rules are in [`crate::domain::booking`].

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::signature::{verify_body_hex, verify_timestamped, CALENDLY_TOLERANCE_SECONDS};
use crate::domain::{BookingNotice, BookingProvider, Cause, LeadSource, NewLead};
use crate::handlers::delivery::answer_once;
use crate::lambda::clock::Clock;
use crate::lambda::config::Secret;
use crate::lambda::http::{body_bytes, header, json_response, ApiError, HttpResponse};
use crate::providers::{cal, calendly, ParsedWebhook};
use crate::store::{DeliveryKey, Once};
use crate::SalesStore;

/// Cal.com's signature header: hex HMAC-SHA256 of the raw body.
pub const CAL_SIGNATURE_HEADER: &str = "x-cal-signature-256";
/// Calendly's signature header: `t=<unix>,v1=<hex>` over `"{t}.{raw body}"`.
pub const CALENDLY_SIGNATURE_HEADER: &str = "calendly-webhook-signature";

/// One booking provider's webhook endpoint.
#[derive(Debug)]
pub struct BookingWebhook {
    provider: BookingProvider,
    store: SalesStore,
    /// Current first, then the previous one during a rotation.
    secrets: Vec<Secret>,
    clock: Clock,
}

impl BookingWebhook {
    pub fn cal(store: SalesStore, secrets: Vec<Secret>, clock: Clock) -> Self {
        BookingWebhook {
            provider: BookingProvider::Cal,
            store,
            secrets,
            clock,
        }
    }

    pub fn calendly(store: SalesStore, secrets: Vec<Secret>, clock: Clock) -> Self {
        BookingWebhook {
            provider: BookingProvider::Calendly,
            store,
            secrets,
            clock,
        }
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
        let secrets: Vec<&[u8]> = self.secrets.iter().map(|s| s.expose().as_bytes()).collect();
        let parsed = match self.provider {
            BookingProvider::Cal => {
                verify_body_hex(header(request, CAL_SIGNATURE_HEADER), body, &secrets)
                    .map_err(|e| ApiError::BadRequest(format!("X-Cal-Signature-256: {e}")))?;
                cal::parse(body)
            }
            BookingProvider::Calendly => {
                verify_timestamped(
                    header(request, CALENDLY_SIGNATURE_HEADER),
                    body,
                    &secrets,
                    self.clock.now().unix_timestamp(),
                    CALENDLY_TOLERANCE_SECONDS,
                )
                .map_err(|e| ApiError::BadRequest(format!("Calendly-Webhook-Signature: {e}")))?;
                calendly::parse(body)
            }
        }
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let notice = match parsed {
            ParsedWebhook::Notice(notice) => notice,
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
