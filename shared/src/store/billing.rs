//! What Stripe tells us: who paid (customer → lead), subscription status, invoices.
//!
//! | item               | pk                 | sk                      |
//! |--------------------|--------------------|-------------------------|
//! | customer → lead    | `CUSTOMER#<cus>`   | `CUSTOMER`              |
//! | subscription state | `CUSTOMER#<cus>`   | `SUBSCRIPTION#<sub>`    |
//! | invoice / payment  | `CUSTOMER#<cus>`   | `INVOICE#<in>`          |
//!
//! Subscription and invoice records carry the `created` time of the event that wrote them and
//! are only replaced by an event at least as new: Stripe does not deliver in order.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::Serialize;
use time::OffsetDateTime;

use super::codec::{get_n, get_s, n, opt_n, opt_s, s, Item};
use super::founding::ConfirmOutcome;
use super::ledger::{DeliveryKey, Once};
use super::pipeline::PipelineChange;
use super::table::{PK, SK};
use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::time_format;
use crate::domain::{
    apply_update, decide_confirmation, Cause, ConfirmPlan, FounderIs, HoldRef, HoldSlot, Lead,
    LeadId, PipelineStage, PipelineUpdate, PlanType, SpotNumber, StageMove,
};

/// A customer's subscriptions and invoices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BillingState {
    pub subscriptions: Vec<SubscriptionState>,
    pub invoices: Vec<InvoiceRecord>,
}

fn decode_subscription(customer: &str, item: &Item) -> Result<SubscriptionState, StoreError> {
    Ok(SubscriptionState {
        customer: customer.to_owned(),
        subscription: get_s(item, "subscription")?.to_owned(),
        status: get_s(item, "status")?.to_owned(),
        cancel_at_period_end: item
            .get("cancel_at_period_end")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        current_period_end: opt_n(item, "current_period_end")?,
        event_id: get_s(item, "event_id")?.to_owned(),
        event_created: get_n(item, "event_created")?,
    })
}

fn decode_invoice(customer: &str, item: &Item) -> Result<InvoiceRecord, StoreError> {
    Ok(InvoiceRecord {
        customer: customer.to_owned(),
        invoice: get_s(item, "invoice")?.to_owned(),
        subscription: opt_s(item, "subscription")?.map(str::to_owned),
        status: get_s(item, "status")?.to_owned(),
        amount: get_n(item, "amount")?,
        currency: get_s(item, "currency")?.to_owned(),
        period_start: opt_n(item, "period_start")?,
        period_end: opt_n(item, "period_end")?,
        attempt_count: opt_n(item, "attempt_count")?,
        event_id: get_s(item, "event_id")?.to_owned(),
        event_created: get_n(item, "event_created")?,
    })
}

fn customer_pk(customer: &str) -> String {
    format!("CUSTOMER#{customer}")
}

/// A subscription's state as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionState {
    pub customer: String,
    pub subscription: String,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub current_period_end: Option<i64>,
    pub event_id: String,
    pub event_created: i64,
}

/// An invoice's payment as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceRecord {
    pub customer: String,
    pub invoice: String,
    pub subscription: Option<String>,
    /// `paid` or `payment_failed`.
    pub status: String,
    /// In the currency's smallest unit, as Stripe reports it.
    pub amount: i64,
    pub currency: String,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub attempt_count: Option<i64>,
    pub event_id: String,
    pub event_created: i64,
}

/// Whether a record was written or an older event was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Applied,
    /// A newer event already wrote this record.
    Stale,
}

/// A paid Checkout Session, as the Stripe webhook records it.
#[derive(Debug, Clone)]
pub struct CheckoutPayment<'a> {
    pub lead_id: &'a LeadId,
    pub customer: Option<&'a str>,
    pub subscription: Option<&'a str>,
    /// `None` for a session this stack did not start (stored as `unknown`).
    pub plan: Option<PlanType>,
    /// The founding spot the payment confirms.
    pub founding: Option<FoundingPayment<'a>>,
    pub cause: &'a Cause,
}

/// The founding hold a payment confirms.
#[derive(Debug, Clone)]
pub struct FoundingPayment<'a> {
    pub spot: SpotNumber,
    pub hold_ref: &'a HoldRef,
    pub company_name: Option<&'a str>,
    /// The Checkout Session, named in the lead's follow-up when no spot can be confirmed.
    pub session: &'a str,
    /// The client slot the hold counted against, given back with the payment.
    pub slot: Option<&'a HoldSlot>,
}

impl FoundingPayment<'_> {
    /// What a person must sort out after this payment, when it confirmed no spot.
    fn follow_up(&self, plan: &ConfirmPlan) -> Option<String> {
        match plan {
            ConfirmPlan::HoldLost => Some(format!(
                "paid for founding spot {} after its hold lapsed (session {}); no spot was taken",
                self.spot, self.session
            )),
            ConfirmPlan::AlreadyMember(member) => Some(format!(
                "paid for founding spot {} (session {}) while already the founding member of spot {}; no second spot was taken",
                self.spot, self.session, member.spot
            )),
            ConfirmPlan::Confirm { .. } | ConfirmPlan::AlreadyConfirmed(_) => None,
        }
    }
}

/// What recording a payment did.
#[derive(Debug, Clone)]
pub struct PaymentRecorded {
    pub change: PipelineChange,
    /// For a founding payment: confirmed now, confirmed before, a member already, or the hold
    /// was lost.
    pub founding: Option<ConfirmOutcome>,
}

impl SalesStore {
    /// A paid checkout in one write: the deal won (with history and summary), the Stripe ids on
    /// the lead and in the customer index, the founding hold made a membership, and the webhook
    /// delivery's record (so that it is applied once, however it is redelivered). On the common
    /// path that is one GetItem (the lead) and one TransactWriteItems.
    ///
    /// The common path assumes the paid hold still holds its spot and its e-mail's founder item.
    /// When either part fails, both items are read and [`decide_confirmation`] decides: the
    /// payer becomes the member of the spot their session held (giving back another spot the
    /// same e-mail holds), or is recognised as a member already, or the hold is lost; in the
    /// last two cases the deal is still won and the lead is flagged for follow-up. Never a 21st
    /// member, and never a loop: every decision is written on the next attempt.
    pub async fn record_payment(
        &self,
        payment: &CheckoutPayment<'_>,
        delivery: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<PaymentRecorded>, StoreError> {
        let update = PipelineUpdate {
            stage: Some(StageMove::Advance(PipelineStage::ClosedWon)),
            ..Default::default()
        };
        // What the spots need, once read; until then the common case is assumed.
        let mut decided: Option<ConfirmPlan> = None;
        let mut with_slot = true;
        let mut attempts = Attempts::new("record_payment");
        loop {
            attempts.next().await?;
            let lead = self
                .lead(payment.lead_id)
                .await?
                .ok_or(StoreError::LeadNotFound)?;
            let plan = payment.founding.as_ref().map(|founding| {
                decided.clone().unwrap_or_else(|| ConfirmPlan::Confirm {
                    email: lead.email.clone(),
                    lead_id: lead.id.clone(),
                    spot_hold: founding.hold_ref.clone(),
                    founder: FounderIs::HeldBy(founding.hold_ref.clone()),
                    release: None,
                })
            });
            // A session this stack did not start (a payment link, another product) names no
            // plan: the lead's plan is left as it was and a person is asked to check it.
            let mut sets = match payment.plan {
                Some(plan) => vec![("plan_type", Some(s(plan.as_str())))],
                None => Vec::new(),
            };
            // Paid: the lead's open standard session is spent (a new checkout gets a new one).
            for spent in [
                super::leads::STANDARD_SESSION_ID,
                super::leads::STANDARD_SESSION_URL,
                super::leads::STANDARD_SESSION_EXPIRES,
            ] {
                sets.push((spent, None));
            }
            if let Some(subscription) = payment.subscription {
                sets.push(("stripe_subscription_id", Some(s(subscription))));
            }
            // One Stripe customer per lead: the first one stays (a later checkout passes it to
            // Stripe; a payment under another customer never replaces it).
            if let Some(customer) = payment.customer {
                match lead.billing.stripe_customer_id.as_deref() {
                    None => sets.push(("stripe_customer_id", Some(s(customer)))),
                    Some(kept) if kept != customer => {
                        tracing::warn!(lead_id = %lead.id, kept, paid_as = customer, "a payment under another Stripe customer; the lead keeps its first");
                    }
                    Some(_) => {}
                }
            }
            let follow_up = payment
                .founding
                .as_ref()
                .zip(plan.as_ref())
                .and_then(|(founding, plan)| founding.follow_up(plan))
                .or_else(|| {
                    payment.plan.is_none().then(|| {
                        "paid through a checkout this stack did not start (a payment link or another product): check which plan it was".to_owned()
                    })
                });
            if let Some(follow_up) = follow_up {
                sets.push(("follow_up", Some(s(follow_up))));
                sets.push(("follow_up_at", Some(s(time_format::to_sortable(now)))));
            }
            let outcome = apply_update(&lead.pipeline, &update, payment.cause, now);
            let mut write = Write::new();
            let version = self.lead_change_parts(&mut write, &lead, &outcome, now, &sets)?;
            if let Some(customer) = payment.customer {
                let index = Put::builder()
                    .table_name(self.table_name())
                    .item(PK, s(customer_pk(customer)))
                    .item(SK, s("CUSTOMER"))
                    .item("lead_id", s(payment.lead_id.as_str()))
                    .build()
                    .map_err(|e| StoreError::Rejected(e.to_string()))?;
                write.push(
                    Part::CustomerIndex,
                    TransactWriteItem::builder().put(index).build(),
                );
            }
            let mut member = None;
            if let (Some(founding), Some(plan)) = (&payment.founding, &plan) {
                member = self.confirmation_parts(
                    &mut write,
                    founding.spot,
                    founding.hold_ref,
                    plan,
                    founding.company_name,
                    payment.subscription,
                    now,
                )?;
            }
            // The paid hold no longer counts against its client's cap.
            if let Some((founding, slot)) = payment
                .founding
                .as_ref()
                .and_then(|founding| Some(founding).zip(founding.slot))
                .filter(|_| with_slot)
            {
                write.push(
                    Part::ClientSlot,
                    self.slot_free_part(slot, founding.hold_ref)?,
                );
            }
            self.delivery_part(&mut write, delivery, now)?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => {
                    let founding = plan.map(|plan| match (plan, member) {
                        (ConfirmPlan::Confirm { .. }, Some(member)) => {
                            ConfirmOutcome::Confirmed(member)
                        }
                        (ConfirmPlan::AlreadyConfirmed(member), _) => {
                            ConfirmOutcome::AlreadyConfirmed(member)
                        }
                        (ConfirmPlan::AlreadyMember(member), _) => {
                            ConfirmOutcome::AlreadyMember(member)
                        }
                        _ => ConfirmOutcome::HoldLost,
                    });
                    return Ok(Once::Applied(PaymentRecorded {
                        change: PipelineChange {
                            lead: Lead {
                                pipeline: outcome.record,
                                version,
                                ..lead
                            },
                            stage_change: outcome.stage_change,
                            stage_kept: outcome.stage_kept,
                            written: true,
                        },
                        founding,
                    }));
                }
                Outcome::Duplicate => return Ok(Once::Duplicate),
                Outcome::InProgress => return Ok(Once::InProgress),
                Outcome::Failed(failed) => {
                    // The slot counts another hold now (this one lapsed): leave it.
                    if failed.has(Part::ClientSlot) {
                        with_slot = false;
                    }
                    if let Some(founding) = &payment.founding {
                        if failed.any(&[Part::Spot, Part::Founder, Part::OtherSpot]) {
                            // The hold is not where it was: read both items and decide.
                            let (spot, founder) = self
                                .stored_holds(founding.spot, founding.hold_ref, &lead.email)
                                .await?;
                            decided = Some(decide_confirmation(
                                founding.spot,
                                founding.hold_ref,
                                spot.as_ref(),
                                founder.as_ref(),
                            ));
                        }
                    }
                    // A failed lead part: the lead changed since it was read; the next attempt
                    // reads it again.
                }
                Outcome::Retry(_) => {}
            }
        }
    }

    /// Writes a subscription or invoice record unless a record written by a newer event is
    /// there, and the webhook delivery's record, in one write. A stale event is recorded as
    /// delivered on its own (a second request, only then).
    async fn put_if_newer(
        &self,
        part: Part,
        item: Item,
        event_created: i64,
        delivery: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<Recorded>, StoreError> {
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR event_created <= :created")
            .expression_attribute_values(":created", n(event_created))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        let mut write = Write::new();
        write.push(part, TransactWriteItem::builder().put(put).build());
        self.delivery_part(&mut write, delivery, now)?;
        let mut attempts = Attempts::new("put_if_newer");
        loop {
            attempts.next().await?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => return Ok(Once::Applied(Recorded::Applied)),
                Outcome::Duplicate => return Ok(Once::Duplicate),
                Outcome::InProgress => return Ok(Once::InProgress),
                Outcome::Failed(_) => {
                    let recorded = self.record_delivery(delivery, now).await?;
                    return Ok(recorded.map(|()| Recorded::Stale));
                }
                Outcome::Retry(_) => {}
            }
        }
    }

    /// A subscription's state, with its webhook delivery's record.
    pub async fn record_subscription(
        &self,
        state: &SubscriptionState,
        delivery: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<Recorded>, StoreError> {
        let mut item = Item::new();
        item.insert(PK.into(), s(customer_pk(&state.customer)));
        item.insert(SK.into(), s(format!("SUBSCRIPTION#{}", state.subscription)));
        item.insert("subscription".into(), s(state.subscription.as_str()));
        item.insert("status".into(), s(state.status.as_str()));
        item.insert(
            "cancel_at_period_end".into(),
            aws_sdk_dynamodb::types::AttributeValue::Bool(state.cancel_at_period_end),
        );
        if let Some(end) = state.current_period_end {
            item.insert("current_period_end".into(), n(end));
        }
        item.insert("event_id".into(), s(state.event_id.as_str()));
        item.insert("event_created".into(), n(state.event_created));
        self.put_if_newer(Part::Subscription, item, state.event_created, delivery, now)
            .await
    }

    /// An invoice's payment, with its webhook delivery's record.
    pub async fn record_invoice(
        &self,
        invoice: &InvoiceRecord,
        delivery: &DeliveryKey,
        now: OffsetDateTime,
    ) -> Result<Once<Recorded>, StoreError> {
        let mut item = Item::new();
        item.insert(PK.into(), s(customer_pk(&invoice.customer)));
        item.insert(SK.into(), s(format!("INVOICE#{}", invoice.invoice)));
        item.insert("invoice".into(), s(invoice.invoice.as_str()));
        if let Some(subscription) = &invoice.subscription {
            item.insert("subscription".into(), s(subscription.as_str()));
        }
        item.insert("status".into(), s(invoice.status.as_str()));
        item.insert("amount".into(), n(invoice.amount));
        item.insert("currency".into(), s(invoice.currency.as_str()));
        for (name, value) in [
            ("period_start", invoice.period_start),
            ("period_end", invoice.period_end),
            ("attempt_count", invoice.attempt_count),
        ] {
            if let Some(value) = value {
                item.insert(name.into(), n(value));
            }
        }
        item.insert("event_id".into(), s(invoice.event_id.as_str()));
        item.insert("event_created".into(), n(invoice.event_created));
        self.put_if_newer(Part::Invoice, item, invoice.event_created, delivery, now)
            .await
    }

    /// Everything Stripe told us about a customer: subscriptions and invoices, one Query.
    pub async fn billing_state(&self, customer: &str) -> Result<BillingState, StoreError> {
        let mut state = BillingState::default();
        for item in self
            .query_partition(&customer_pk(customer), None, None)
            .await?
        {
            let sk = get_s(&item, SK)?;
            if sk.starts_with("SUBSCRIPTION#") {
                state
                    .subscriptions
                    .push(decode_subscription(customer, &item)?);
            } else if sk.starts_with("INVOICE#") {
                state.invoices.push(decode_invoice(customer, &item)?);
            }
        }
        Ok(state)
    }
}
