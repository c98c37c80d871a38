//! The Stripe webhook (function URL): verify, claim the event once, apply it, complete.

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use serde_json::json;
use time::OffsetDateTime;

use super::PlanType;
use crate::clock::Clock;
use crate::config::Secret;
use crate::delivery::{answer_once, effect, process_once};
use crate::domain::signature::{verify_timestamped, STRIPE_TOLERANCE_SECONDS};
use crate::domain::time_format;
use crate::domain::{
    Cause, EmailAddress, HoldRef, LeadId, LeadSource, NewLead, SpotNumber, HOLD_GRACE,
};
use crate::http::{body_bytes, header, json_response, ApiError, HttpResponse};
use crate::providers::stripe_events::{
    CheckoutSessionObject, EventKind, InvoiceObject, StripeEvent,
};
use crate::store::{
    CheckoutPayment, ConfirmOutcome, DeliveryKey, FoundingPayment, InvoiceRecord, Once, StoreError,
    SubscriptionState,
};
use crate::telemetry::emit_count_metric;
use crate::SalesStore;

#[derive(Debug)]
pub struct StripeWebhook {
    store: SalesStore,
    secrets: Vec<Secret>,
    clock: Clock,
}

impl StripeWebhook {
    pub fn new(store: SalesStore, secrets: Vec<Secret>, clock: Clock) -> Self {
        StripeWebhook {
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

    async fn receive(&self, request: &Request) -> Result<serde_json::Value, ApiError> {
        if request.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed);
        }
        let body = body_bytes(request);
        let now = self.clock.now();
        let secrets: Vec<&[u8]> = self.secrets.iter().map(|s| s.expose().as_bytes()).collect();
        verify_timestamped(
            header(request, "stripe-signature"),
            body,
            &secrets,
            now.unix_timestamp(),
            STRIPE_TOLERANCE_SECONDS,
        )
        .map_err(|e| ApiError::BadRequest(format!("Stripe-Signature: {e}")))?;
        let event = StripeEvent::parse(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if let EventKind::Ignored(kind) = &event.kind {
            tracing::info!(event = %event.id, kind = %kind, "event type not handled; ignored");
            return Ok(json!({"received": true, "ignored": kind}));
        }
        let key = DeliveryKey::new("stripe", event.id.as_str());
        if let EventKind::CheckoutCompleted(session) = &event.kind {
            // The payment's whole effect is one transaction, which records the delivery too.
            let cause = Cause::stripe_event(&event.id);
            let once = self.checkout_completed(session, &cause, &key).await?;
            return answer_once(&key, once.map(effect));
        }
        process_once(&self.store, &key, &self.clock, || async {
            Ok(effect(self.apply(&event).await?))
        })
        .await
    }

    /// The events other than a paid checkout (and the ignored ones, which [`Self::receive`]
    /// answers before): each one write, after claiming the delivery.
    async fn apply(&self, event: &StripeEvent) -> Result<&'static str, ApiError> {
        Ok(match &event.kind {
            EventKind::CheckoutExpired(session) => self.checkout_expired(session).await?,
            EventKind::SubscriptionChanged {
                deleted,
                subscription,
            } => {
                let state = SubscriptionState {
                    customer: subscription.customer.clone(),
                    subscription: subscription.id.clone(),
                    status: if *deleted {
                        "canceled".to_owned()
                    } else {
                        subscription.status.clone()
                    },
                    cancel_at_period_end: subscription.cancel_at_period_end,
                    current_period_end: subscription.current_period_end(),
                    event_id: event.id.clone(),
                    event_created: event.created,
                };
                match self.store.record_subscription(&state).await? {
                    crate::store::Recorded::Applied => "subscription_recorded",
                    crate::store::Recorded::Stale => "subscription_event_older_than_stored",
                }
            }
            EventKind::InvoicePaid(invoice) => {
                self.invoice(event, invoice, "paid", invoice.amount_paid)
                    .await?
            }
            EventKind::InvoicePaymentFailed(invoice) => {
                let effect = self
                    .invoice(event, invoice, "payment_failed", invoice.amount_due)
                    .await?;
                let customer = invoice.customer.as_deref().unwrap_or("unknown");
                tracing::error!(customer, invoice = %invoice.id, attempt = invoice.attempt_count, "invoice payment failed");
                emit_count_metric(
                    "PaymentFailed",
                    &[
                        ("customer", customer),
                        ("invoice", &invoice.id),
                        ("event", &event.id),
                    ],
                );
                effect
            }
            EventKind::CheckoutCompleted(_) | EventKind::Ignored(_) => "ignored",
        })
    }

    async fn invoice(
        &self,
        event: &StripeEvent,
        invoice: &InvoiceObject,
        status: &str,
        amount: i64,
    ) -> Result<&'static str, ApiError> {
        let customer = invoice.customer.clone().ok_or_else(|| {
            ApiError::BadRequest(format!("invoice {} has no customer", invoice.id))
        })?;
        let record = InvoiceRecord {
            customer,
            invoice: invoice.id.clone(),
            subscription: invoice.subscription().map(str::to_owned),
            status: status.to_owned(),
            amount,
            currency: invoice.currency.clone(),
            period_start: invoice.period_start,
            period_end: invoice.period_end,
            attempt_count: invoice.attempt_count,
            event_id: event.id.clone(),
            event_created: event.created,
        };
        Ok(match self.store.record_invoice(&record).await? {
            crate::store::Recorded::Applied => "invoice_recorded",
            crate::store::Recorded::Stale => "invoice_event_older_than_stored",
        })
    }

    /// A paid checkout: the lead is the one create-checkout named in the session (found by the
    /// e-mail, or created, when the session names none we know), and everything the payment
    /// changes lands in one transaction with the delivery's completion.
    async fn checkout_completed(
        &self,
        session: &CheckoutSessionObject,
        cause: &Cause,
        delivery: &DeliveryKey,
    ) -> Result<Once<&'static str>, ApiError> {
        let now = self.clock.now();
        let email = session_email(session)?;
        let plan = session
            .metadata
            .get("plan_type")
            .and_then(|p| PlanType::parse(p));
        let company = session.metadata.get("company_name").map(String::as_str);
        let founding_hold = match plan {
            Some(PlanType::Founding) => Some(founding_hold(session)?),
            _ => None,
        };
        let follow_up = founding_hold.as_ref().map(|(spot, _)| {
            format!(
                "paid for founding spot {spot} after its hold lapsed (session {}); no spot was taken",
                session.id
            )
        });
        let named_lead = session_lead_id(session);
        let mut lead_id = match &named_lead {
            Some(id) => id.clone(),
            None => self.lead_for_email(&email, company, now).await?,
        };
        let recorded = loop {
            let payment = CheckoutPayment {
                lead_id: &lead_id,
                customer: session.customer.as_deref(),
                subscription: session.subscription.as_deref(),
                plan_type: plan.map_or("unknown", PlanType::as_str),
                founding: founding_hold.as_ref().zip(follow_up.as_deref()).map(
                    |((spot, hold_ref), follow_up)| FoundingPayment {
                        spot: *spot,
                        hold_ref,
                        company_name: company,
                        follow_up_if_lost: follow_up,
                    },
                ),
                cause,
            };
            match self
                .store
                .record_payment(&payment, Some(delivery), now)
                .await
            {
                Err(StoreError::LeadNotFound) if named_lead.as_ref() == Some(&lead_id) => {
                    // The session names a lead this table does not have: go by the e-mail.
                    lead_id = self.lead_for_email(&email, company, now).await?;
                }
                result => break result?,
            }
        };
        let recorded = match recorded {
            Once::Applied(recorded) => recorded,
            Once::Duplicate => return Ok(Once::Duplicate),
            Once::InProgress => return Ok(Once::InProgress),
        };
        Ok(Once::Applied(match recorded.founding {
            None => "deal_won",
            Some(ConfirmOutcome::Confirmed(member)) => {
                tracing::info!(email = %email.masked(), spot = member.spot.get(), "founding member confirmed");
                "founding_member_confirmed"
            }
            Some(ConfirmOutcome::AlreadyConfirmed(_)) => "founding_member_confirmed",
            Some(ConfirmOutcome::HoldLost) => {
                // Paid after the hold lapsed and the spot went to someone else: never a 21st
                // member. The payment stands; a person sorts it out (the lead is flagged).
                let spot = founding_hold.as_ref().map_or(0, |(spot, _)| spot.get());
                tracing::error!(email = %email.masked(), spot, session = %session.id, "founding payment without a spot");
                emit_count_metric(
                    "FoundingPaymentWithoutSpot",
                    &[("session", &session.id), ("lead_id", lead_id.as_str())],
                );
                "founding_payment_flagged_for_follow_up"
            }
        }))
    }

    async fn lead_for_email(
        &self,
        email: &EmailAddress,
        company: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<LeadId, ApiError> {
        let mut new_lead = NewLead::new(email.clone(), LeadSource::Checkout);
        new_lead.company = company.map(str::to_owned);
        Ok(self.store.find_or_create_lead(&new_lead, now).await?.id)
    }

    async fn checkout_expired(
        &self,
        session: &CheckoutSessionObject,
    ) -> Result<&'static str, ApiError> {
        if session
            .metadata
            .get("plan_type")
            .and_then(|p| PlanType::parse(p))
            != Some(PlanType::Founding)
        {
            return Ok("nothing_held");
        }
        let (spot, hold_ref) = founding_hold(session)?;
        let email = session_email(session)?;
        // Only a hold that lapses with this session: a newer checkout may have extended it.
        let lapsed_by = session
            .expires_at
            .and_then(time_format::from_unix)
            .map(|at| at + HOLD_GRACE);
        Ok(
            match self
                .store
                .release_founding_hold(&email, spot, &hold_ref, lapsed_by)
                .await?
            {
                crate::store::ReleaseOutcome::Released => "hold_released",
                crate::store::ReleaseOutcome::NotHeld => "hold_already_gone",
            },
        )
    }
}

/// The lead create-checkout named in the session (`client_reference_id`, else
/// `metadata.lead_id`), when it is a lead id at all.
fn session_lead_id(session: &CheckoutSessionObject) -> Option<LeadId> {
    [
        session.client_reference_id.as_deref(),
        session.metadata.get("lead_id").map(String::as_str),
    ]
    .into_iter()
    .flatten()
    .find_map(|raw| LeadId::parse(raw).ok())
}

/// The payer's e-mail, which finds the lead when the session names none.
fn session_email(session: &CheckoutSessionObject) -> Result<EmailAddress, ApiError> {
    session
        .email()
        .and_then(|e| EmailAddress::parse(e).ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "checkout session {} has no usable customer e-mail",
                session.id
            ))
        })
}

fn founding_hold(session: &CheckoutSessionObject) -> Result<(SpotNumber, HoldRef), ApiError> {
    let spot = session
        .metadata
        .get("founding_spot")
        .and_then(|s| SpotNumber::parse(s).ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "founding checkout {} has no valid metadata.founding_spot",
                session.id
            ))
        })?;
    let hold = session
        .metadata
        .get("founding_hold")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "founding checkout {} has no metadata.founding_hold",
                session.id
            ))
        })?;
    Ok((spot, HoldRef::from_stored(hold.as_str())))
}
