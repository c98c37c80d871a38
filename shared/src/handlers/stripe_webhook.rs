//! The Stripe webhook (function URL): verify, then apply the event and record its delivery in
//! one write, so that each event is applied once however Stripe redelivers it.

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use serde_json::json;
use time::OffsetDateTime;

use super::checkout_metadata::CheckoutMetadata;
use crate::domain::signature::{verify_timestamped, STRIPE_TOLERANCE_SECONDS};
use crate::domain::time_format;
use crate::domain::{
    Cause, EmailAddress, HoldRef, HoldSlot, LeadId, LeadSource, NewLead, SpotNumber,
    ASYNC_PAYMENT_HOLD, HOLD_GRACE, LAPSED_MEMBERSHIP_KEPT,
};
use crate::handlers::delivery::{answer_once, effect};
use crate::lambda::alerts::{Alert, Money, Person, TeamAlerts};
use crate::lambda::clock::Clock;
use crate::lambda::http::{body_bytes, header, json_response, ApiError, HttpResponse};
use crate::lambda::secrets::WebhookSecrets;
use crate::lambda::telemetry::emit_count_metric;
use crate::providers::stripe_events::{
    ChargeObject, CheckoutSessionObject, EventKind, InvoiceObject, StripeEvent, SubscriptionObject,
};
use crate::store::{
    ChargeRecord, CheckoutPayment, ConfirmOutcome, DeliveryKey, FoundingPayment, InvoiceRecord,
    MembershipOutcome, Once, Recorded, ReleaseOutcome, StoreError, SubscriptionState,
};
use crate::SalesStore;

#[derive(Debug)]
pub struct StripeWebhook {
    store: SalesStore,
    /// Current first, then the previous one during a rotation; re-read on a mismatch.
    secrets: WebhookSecrets,
    clock: Clock,
    /// The team's alerts: a payment received or failed, a founding member joined.
    alerts: TeamAlerts,
}

impl StripeWebhook {
    /// `secrets`: a `Vec<Secret>` (fixed) or [`WebhookSecrets`] (re-read on a mismatch).
    pub fn new(store: SalesStore, secrets: impl Into<WebhookSecrets>, clock: Clock) -> Self {
        StripeWebhook {
            store,
            secrets: secrets.into(),
            clock,
            alerts: TeamAlerts::off(),
        }
    }

    /// Sends the team an alert for each payment received or failed and each founding member
    /// who joined, once per event (only when the event's write was applied).
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

    async fn receive(&self, request: &Request) -> Result<serde_json::Value, ApiError> {
        if request.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed);
        }
        let body = body_bytes(request);
        let now = self.clock.now();
        let signature = header(request, "stripe-signature");
        self.secrets
            .verify(|secrets| {
                verify_timestamped(
                    signature,
                    body,
                    secrets,
                    now.unix_timestamp(),
                    STRIPE_TOLERANCE_SECONDS,
                )
                .map(|_| ())
            })
            .await
            .map_err(|e| ApiError::BadRequest(format!("Stripe-Signature: {e}")))?;
        let event = StripeEvent::parse(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.process(&event).await
    }

    /// Applies one Stripe event whose authenticity is established (a verified delivery, or an
    /// event read back from Stripe's API by `salesctl reconcile`): once per event id, whatever
    /// route it came by, since the delivery ledger records it in the effect's own write.
    pub async fn process(&self, event: &StripeEvent) -> Result<serde_json::Value, ApiError> {
        if let EventKind::Ignored(kind) = &event.kind {
            tracing::info!(event = %event.id, kind = %kind, "event type not handled; ignored");
            return Ok(json!({"received": true, "ignored": kind}));
        }
        let key = DeliveryKey::new("stripe", event.id.as_str());
        let once = self.apply(event, &key).await?;
        answer_once(&key, once.map(effect))
    }

    /// Applies an event (not an ignored one, which [`Self::receive`] answers before): its effect
    /// and its delivery's record in one write.
    async fn apply(
        &self,
        event: &StripeEvent,
        key: &DeliveryKey,
    ) -> Result<Once<&'static str>, ApiError> {
        let now = self.clock.now();
        Ok(match &event.kind {
            // Pay before you win: only a session whose money is there wins the deal and
            // confirms a founding spot; a delayed payment keeps its hold until it settles.
            EventKind::CheckoutCompleted(session) if !session.is_paid() => {
                self.checkout_awaiting_payment(session, key).await?
            }
            EventKind::CheckoutCompleted(session) | EventKind::CheckoutAsyncPaid(session) => {
                let cause = Cause::stripe_event(&event.id);
                self.checkout_completed(session, &cause, key).await?
            }
            EventKind::CheckoutAsyncFailed(session) => {
                let once = self.checkout_payment_failed(session, key).await?;
                if let Once::Applied(effect) = once {
                    tracing::error!(session = %session.id, "a delayed checkout payment failed");
                    emit_count_metric(
                        "PaymentFailed",
                        &[("session", &session.id), ("event", &event.id)],
                    );
                    self.alert_checkout_failed(session, effect).await;
                }
                once
            }
            EventKind::CheckoutExpired(session) => self.checkout_expired(session, key).await?,
            EventKind::SubscriptionChanged {
                deleted,
                subscription,
            } => {
                // A founding membership lives by its subscription: its end lapses it (the spot
                // kept for the member for 30 days). Idempotent by its conditions, so it goes
                // before the record that carries the delivery.
                let lapsed = if *deleted {
                    self.lapse_membership(event, subscription).await?
                } else {
                    false
                };
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
                self.store
                    .record_subscription(&state, key, now)
                    .await?
                    .map(|recorded| match recorded {
                        _ if lapsed => "founding_membership_lapsed",
                        Recorded::Applied => "subscription_recorded",
                        Recorded::Stale => "subscription_event_older_than_stored",
                    })
            }
            EventKind::InvoicePaid(invoice) => {
                let once = self
                    .invoice(event, invoice, "paid", invoice.amount_paid, key)
                    .await?;
                if let Once::Applied(_) = once {
                    self.alert_invoice_paid(invoice).await;
                }
                once
            }
            EventKind::InvoicePaymentFailed(invoice) => {
                let once = self
                    .invoice(event, invoice, "payment_failed", invoice.amount_due, key)
                    .await?;
                if let Once::Applied(_) = once {
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
                    let mut detail = format!("invoice {}", invoice.id);
                    if let Some(attempt) = invoice.attempt_count {
                        detail.push_str(&format!(", attempt {attempt}"));
                    }
                    let email = invoice_email(invoice);
                    let alert = Alert::payment_failed(
                        invoice_payer(invoice, email.as_ref()),
                        Some(Money::new(invoice.amount_due, &invoice.currency)),
                        &detail,
                    );
                    self.alerts.send(&alert).await;
                }
                once
            }
            EventKind::DisputeOpened(dispute) => {
                // Money at risk: the DisputeOpenedAlarm watches the metric; the answer (evidence
                // by the due date) is a person's, in the Stripe Dashboard.
                let once = self
                    .store
                    .record_delivery(key, now)
                    .await?
                    .map(|()| "dispute_recorded");
                if let Once::Applied(_) = once {
                    let charge = dispute.charge.as_deref().unwrap_or("unknown");
                    tracing::error!(dispute = %dispute.id, charge, amount = dispute.amount, reason = dispute.reason.as_deref().unwrap_or("unknown"), "a payment is disputed");
                    emit_count_metric(
                        "DisputeOpened",
                        &[
                            ("dispute", &dispute.id),
                            ("charge", charge),
                            ("event", &event.id),
                        ],
                    );
                }
                once
            }
            EventKind::ChargeSucceeded(charge) => match &charge.customer {
                Some(customer) => self
                    .store
                    .record_charge(&charge_record(event, charge, customer), key, now)
                    .await?
                    .map(|()| "charge_recorded"),
                None => self
                    .store
                    .record_delivery(key, now)
                    .await?
                    .map(|()| "charge_without_customer"),
            },
            EventKind::ChargeRefunded(charge) if !charge.refunded => {
                // A partial refund: the membership stands.
                self.store
                    .record_delivery(key, now)
                    .await?
                    .map(|()| "partial_refund_recorded")
            }
            EventKind::ChargeRefunded(charge) => {
                let member = match &charge.customer {
                    Some(customer) => self.member_of_customer(customer).await?,
                    None => None,
                };
                self.revoke(event, member, "full refund", "refund_recorded", key)
                    .await?
            }
            EventKind::DisputeClosed(dispute) if dispute.status.as_deref() == Some("lost") => {
                let customer = match &dispute.charge {
                    Some(charge) => self.store.charge_customer(charge).await?,
                    None => None,
                };
                let member = match &customer {
                    Some(customer) => self.member_of_customer(customer).await?,
                    None => None,
                };
                if customer.is_none() {
                    // The charge's customer was never recorded (a charge from before
                    // `charge.succeeded` was handled, or its event lost): a person checks.
                    let charge = dispute.charge.as_deref().unwrap_or("unknown");
                    tracing::error!(dispute = %dispute.id, charge, "a dispute was lost on a charge of no known customer; check for a founding membership to revoke");
                    emit_count_metric(
                        "DisputeLostUnmatched",
                        &[("dispute", &dispute.id), ("charge", charge)],
                    );
                }
                self.revoke(event, member, "dispute lost", "dispute_lost", key)
                    .await?
            }
            EventKind::DisputeClosed(dispute) => {
                tracing::info!(dispute = %dispute.id, status = dispute.status.as_deref().unwrap_or("unknown"), "a dispute closed");
                self.store
                    .record_delivery(key, now)
                    .await?
                    .map(|()| "dispute_closed")
            }
            EventKind::Ignored(_) => Once::Applied("ignored"),
        })
    }

    /// The lead and e-mail a Stripe customer paid for, if the table knows them.
    async fn member_of_customer(
        &self,
        customer: &str,
    ) -> Result<Option<(LeadId, EmailAddress)>, ApiError> {
        let Some(lead_id) = self.store.lead_id_by_customer(customer).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .lead(&lead_id)
            .await?
            .map(|lead| (lead.id, lead.email)))
    }

    /// A subscription ended: the founding membership it paid for (if any) lapses, its spot kept
    /// for the member until 30 days after the end. Whether a membership lapsed now.
    async fn lapse_membership(
        &self,
        event: &StripeEvent,
        subscription: &SubscriptionObject,
    ) -> Result<bool, ApiError> {
        let Some((lead, email)) = self.member_of_customer(&subscription.customer).await? else {
            return Ok(false);
        };
        let ended = subscription
            .ended_at
            .and_then(time_format::from_unix)
            .or_else(|| time_format::from_unix(event.created))
            .unwrap_or_else(|| self.clock.now());
        let until = ended + LAPSED_MEMBERSHIP_KEPT;
        let outcome = self
            .store
            .lapse_membership(
                &email,
                &lead,
                &subscription.id,
                until,
                &Cause::stripe_event(&event.id),
                self.clock.now(),
            )
            .await?;
        let MembershipOutcome::Changed { spot } = outcome else {
            return Ok(false);
        };
        tracing::warn!(email = %email.masked(), spot = spot.get(), until = %time_format::to_sortable(until), "founding membership lapsed; the spot is kept for the member");
        emit_count_metric(
            "FoundingMembershipLapsed",
            &[("lead_id", lead.as_str()), ("event", &event.id)],
        );
        Ok(true)
    }

    /// A full refund or a lost dispute: the member's founding membership (or the lapse kept for
    /// them) is revoked at once, with the delivery's record. `unchanged`: the answer when there
    /// is nothing to revoke.
    async fn revoke(
        &self,
        event: &StripeEvent,
        member: Option<(LeadId, EmailAddress)>,
        reason: &str,
        unchanged: &'static str,
        key: &DeliveryKey,
    ) -> Result<Once<&'static str>, ApiError> {
        let now = self.clock.now();
        let Some((lead, email)) = member else {
            return Ok(self
                .store
                .record_delivery(key, now)
                .await?
                .map(|()| unchanged));
        };
        let once = self
            .store
            .revoke_membership(
                &email,
                &lead,
                reason,
                &Cause::stripe_event(&event.id),
                Some(key),
                now,
            )
            .await?;
        Ok(once.map(|outcome| match outcome {
            MembershipOutcome::Changed { spot } => {
                tracing::error!(email = %email.masked(), spot = spot.get(), reason, "founding membership revoked; the spot is free again");
                emit_count_metric(
                    "FoundingMembershipRevoked",
                    &[("lead_id", lead.as_str()), ("event", &event.id)],
                );
                "founding_membership_revoked"
            }
            MembershipOutcome::Unchanged => unchanged,
        }))
    }

    async fn invoice(
        &self,
        event: &StripeEvent,
        invoice: &InvoiceObject,
        status: &str,
        amount: i64,
        key: &DeliveryKey,
    ) -> Result<Once<&'static str>, ApiError> {
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
        Ok(self
            .store
            .record_invoice(&record, key, self.clock.now())
            .await?
            .map(|recorded| match recorded {
                Recorded::Applied => "invoice_recorded",
                Recorded::Stale => "invoice_event_older_than_stored",
            }))
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
        let metadata = session_metadata(session)?;
        let company = metadata.company_name.as_deref();
        let named_lead = metadata.lead_id.clone();
        let mut lead_id = match &named_lead {
            Some(id) => id.clone(),
            None => self.lead_for_email(&email, company, now).await?,
        };
        let recorded = loop {
            let payment = CheckoutPayment {
                lead_id: &lead_id,
                customer: session.customer.as_deref(),
                subscription: session.subscription.as_deref(),
                plan: metadata.plan,
                founding: metadata
                    .founding_hold
                    .as_ref()
                    .map(|(spot, hold_ref)| FoundingPayment {
                        spot: *spot,
                        hold_ref,
                        company_name: company,
                        session: &session.id,
                        slot: metadata.hold_slot.as_ref(),
                    }),
                cause,
            };
            match self.store.record_payment(&payment, delivery, now).await {
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
        let payer = Person::new(&email, company);
        let paid = Money::of(session.amount_total, session.currency.as_deref());
        let plan = metadata.plan.map_or("unknown", |plan| plan.as_str());
        // One alert per paid checkout: the new member's, or the payment's.
        let alert = match &recorded.founding {
            None => Some(Alert::payment_received(
                payer,
                paid,
                &format!("{plan} plan checkout; deal won"),
            )),
            Some(ConfirmOutcome::Confirmed(member)) => {
                Some(Alert::founding_member_joined(payer, member.spot, paid))
            }
            // Announced when it was confirmed.
            Some(ConfirmOutcome::AlreadyConfirmed(_)) => None,
            Some(ConfirmOutcome::AlreadyMember(member)) => Some(Alert::payment_received(
                payer,
                paid,
                &format!(
                    "founding checkout of a member of spot {} already; no second spot, flagged for follow-up",
                    member.spot.get()
                ),
            )),
            Some(ConfirmOutcome::HoldLost) => Some(Alert::payment_received(
                payer,
                paid,
                &match &metadata.founding_hold {
                    Some((spot, _)) => format!(
                        "founding checkout whose spot {} went to someone else; no spot, flagged for follow-up",
                        spot.get()
                    ),
                    None => "founding checkout without a spot; flagged for follow-up".to_owned(),
                },
            )),
        };
        if let Some(alert) = &alert {
            self.alerts.send(alert).await;
        }
        Ok(Once::Applied(match recorded.founding {
            None => "deal_won",
            Some(ConfirmOutcome::Confirmed(member)) => {
                tracing::info!(email = %email.masked(), spot = member.spot.get(), "founding member confirmed");
                "founding_member_confirmed"
            }
            Some(ConfirmOutcome::AlreadyConfirmed(_)) => "founding_member_confirmed",
            Some(outcome @ (ConfirmOutcome::HoldLost | ConfirmOutcome::AlreadyMember(_))) => {
                // Paid after the hold lapsed and the spot went to someone else, or paid again
                // while already a member: never a 21st member, never two spots. The payment
                // stands; a person sorts it out (the lead is flagged).
                let spot = metadata
                    .founding_hold
                    .as_ref()
                    .map_or(0, |(spot, _)| spot.get());
                let member_of = match &outcome {
                    ConfirmOutcome::AlreadyMember(member) => Some(member.spot.get()),
                    _ => None,
                };
                tracing::error!(email = %email.masked(), spot, member_of, session = %session.id, "founding payment without a spot");
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

    /// The founding hold a session carries, with its payer; for a session that carries none,
    /// its delivery recorded with `effect` (the answer to give).
    async fn session_hold(
        &self,
        session: &CheckoutSessionObject,
        delivery: &DeliveryKey,
        effect: &'static str,
    ) -> Result<Result<SessionHold, Once<&'static str>>, ApiError> {
        let metadata = session_metadata(session)?;
        let Some((spot, hold_ref)) = metadata.founding_hold else {
            let now = self.clock.now();
            let done = self.store.record_delivery(delivery, now).await?;
            return Ok(Err(done.map(|()| effect)));
        };
        Ok(Ok(SessionHold {
            spot,
            hold_ref,
            slot: metadata.hold_slot,
            email: session_email(session)?,
        }))
    }

    /// A completed session whose payment has not arrived (`payment_status: unpaid`): nothing is
    /// won; a founding hold is kept until the payment can settle.
    async fn checkout_awaiting_payment(
        &self,
        session: &CheckoutSessionObject,
        delivery: &DeliveryKey,
    ) -> Result<Once<&'static str>, ApiError> {
        let hold = match self
            .session_hold(session, delivery, "awaiting_payment")
            .await?
        {
            Ok(hold) => hold,
            Err(done) => return Ok(done),
        };
        let now = self.clock.now();
        let kept = self
            .store
            .keep_founding_hold(
                &hold.email,
                hold.spot,
                &hold.hold_ref,
                hold.slot.as_ref(),
                now + ASYNC_PAYMENT_HOLD,
                Some(delivery),
                now,
            )
            .await?;
        Ok(kept.map(|kept| {
            if kept {
                "awaiting_payment_hold_kept"
            } else {
                "awaiting_payment_hold_gone"
            }
        }))
    }

    /// Gives a session's founding hold back: its delayed payment failed (`lapsed_by` none), or
    /// it expired (only a hold that lapses with it: a newer checkout may have extended it).
    /// `effects`: the answers for no hold, released, and already gone.
    async fn release_session_hold(
        &self,
        session: &CheckoutSessionObject,
        delivery: &DeliveryKey,
        lapsed_by: Option<OffsetDateTime>,
        effects: [&'static str; 3],
    ) -> Result<Once<&'static str>, ApiError> {
        let hold = match self.session_hold(session, delivery, effects[0]).await? {
            Ok(hold) => hold,
            Err(done) => return Ok(done),
        };
        let released = self
            .store
            .release_founding_hold(
                &hold.email,
                hold.spot,
                &hold.hold_ref,
                hold.slot.as_ref(),
                lapsed_by,
                Some(delivery),
                self.clock.now(),
            )
            .await?;
        Ok(released.map(|released| match released {
            ReleaseOutcome::Released => effects[1],
            ReleaseOutcome::NotHeld => effects[2],
        }))
    }

    /// The alert for a delayed checkout payment that failed (`effect`: what it did to the hold).
    async fn alert_checkout_failed(&self, session: &CheckoutSessionObject, effect: &str) {
        let Some(email) = session.email().and_then(|e| EmailAddress::parse(e).ok()) else {
            tracing::warn!(session = %session.id, "a failed checkout without an e-mail; no alert");
            return;
        };
        let metadata =
            CheckoutMetadata::read(session.client_reference_id.as_deref(), &session.metadata).ok();
        let company = metadata.as_ref().and_then(|m| m.company_name.as_deref());
        let spot = metadata
            .as_ref()
            .and_then(|m| m.founding_hold.as_ref())
            .map(|(spot, _)| spot.get());
        let detail = match spot {
            Some(spot) if effect == "payment_failed_hold_released" => {
                format!("delayed checkout payment; founding spot {spot} is free again")
            }
            _ => "delayed checkout payment".to_owned(),
        };
        let alert = Alert::payment_failed(
            Person::new(&email, company),
            Money::of(session.amount_total, session.currency.as_deref()),
            &detail,
        );
        self.alerts.send(&alert).await;
    }

    /// The alert for a paid invoice, except a subscription's first (its checkout's alert told
    /// the team already) and an invoice of nothing.
    async fn alert_invoice_paid(&self, invoice: &InvoiceObject) {
        if invoice.billing_reason.as_deref() == Some("subscription_create")
            || invoice.amount_paid == 0
        {
            return;
        }
        let detail = match invoice.billing_reason.as_deref() {
            Some("subscription_cycle") => format!("invoice {}, renewal", invoice.id),
            _ => format!("invoice {}", invoice.id),
        };
        let email = invoice_email(invoice);
        let alert = Alert::payment_received(
            invoice_payer(invoice, email.as_ref()),
            Some(Money::new(invoice.amount_paid, &invoice.currency)),
            &detail,
        );
        self.alerts.send(&alert).await;
    }

    /// A delayed payment failed: the founding hold goes back to the pool (nothing was won).
    async fn checkout_payment_failed(
        &self,
        session: &CheckoutSessionObject,
        delivery: &DeliveryKey,
    ) -> Result<Once<&'static str>, ApiError> {
        let effects = [
            "payment_failed",
            "payment_failed_hold_released",
            "payment_failed",
        ];
        self.release_session_hold(session, delivery, None, effects)
            .await
    }

    async fn checkout_expired(
        &self,
        session: &CheckoutSessionObject,
        delivery: &DeliveryKey,
    ) -> Result<Once<&'static str>, ApiError> {
        let lapsed_by = session
            .expires_at
            .and_then(time_format::from_unix)
            .map(|at| at + HOLD_GRACE);
        let effects = ["nothing_held", "hold_released", "hold_already_gone"];
        self.release_session_hold(session, delivery, lapsed_by, effects)
            .await
    }
}

/// The e-mail an invoice was sent to, when it is a usable one.
fn invoice_email(invoice: &InvoiceObject) -> Option<EmailAddress> {
    invoice
        .customer_email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok())
}

/// Who an invoice's alert names: its e-mail, else its Stripe customer.
fn invoice_payer<'a>(invoice: &'a InvoiceObject, email: Option<&'a EmailAddress>) -> Person<'a> {
    Person {
        email,
        company: None,
        customer: invoice.customer.as_deref(),
    }
}

fn charge_record(event: &StripeEvent, charge: &ChargeObject, customer: &str) -> ChargeRecord {
    ChargeRecord {
        charge: charge.id.clone(),
        customer: customer.to_owned(),
        amount: charge.amount,
        currency: charge.currency.clone(),
        event_created: event.created,
    }
}

/// A session's founding hold and its payer.
struct SessionHold {
    spot: SpotNumber,
    hold_ref: HoldRef,
    slot: Option<HoldSlot>,
    email: EmailAddress,
}

/// What create-checkout put in the session.
fn session_metadata(session: &CheckoutSessionObject) -> Result<CheckoutMetadata, ApiError> {
    CheckoutMetadata::read(session.client_reference_id.as_deref(), &session.metadata)
        .map_err(|e| ApiError::BadRequest(format!("founding checkout {} has {e}", session.id)))
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
