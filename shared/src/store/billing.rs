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

use super::codec::{get_n, get_s, n, opt_n, opt_s, parse_s, s, Item};
use super::founding::{ConfirmOutcome, FoundingConfirmation, HoldStanding};
use super::ledger::{DeliveryKey, Once, Transacted};
use super::pipeline::{LeadExtras, PipelineChange};
use super::table::{PK, SK};
use super::{backoff, SalesStore, StoreError, MAX_ATTEMPTS};
use crate::domain::time_format;
use crate::domain::{
    apply_update, Cause, EmailAddress, HoldRef, Lead, LeadId, PipelineStage, PipelineUpdate,
    SpotNumber, StageMove,
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
    /// `standard`, `founding` or `unknown`.
    pub plan_type: &'a str,
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
    /// Written to the lead's `follow_up` when the hold was lost before the payment came.
    pub follow_up_if_lost: &'a str,
}

/// What recording a payment did.
#[derive(Debug, Clone)]
pub struct PaymentRecorded {
    pub change: PipelineChange,
    /// For a founding payment: confirmed now, confirmed before, or the hold was lost.
    pub founding: Option<ConfirmOutcome>,
}

impl SalesStore {
    /// A paid checkout: the deal is won (with history), and the Stripe ids are kept on the lead
    /// and in the customer index, all in one transaction.
    pub async fn record_checkout_paid(
        &self,
        lead_id: &LeadId,
        customer: Option<&str>,
        subscription: Option<&str>,
        plan_type: &str,
        cause: &Cause,
        now: OffsetDateTime,
    ) -> Result<PipelineChange, StoreError> {
        let payment = CheckoutPayment {
            lead_id,
            customer,
            subscription,
            plan_type,
            founding: None,
            cause,
        };
        match self.record_payment(&payment, None, now).await? {
            Once::Applied(recorded) => Ok(recorded.change),
            // Only a delivery record can fail this way, and there is none.
            Once::Duplicate | Once::InProgress => Err(StoreError::Contention(1)),
        }
    }

    /// A paid checkout in one transaction: the deal won (with history and summary), the Stripe
    /// ids on the lead and in the customer index, the founding hold made a membership (on the
    /// condition that the hold still holds its spot), and, with `delivery`, the webhook
    /// delivery's record (so that it is applied once, however it is redelivered). On the common
    /// path that is one GetItem (the lead) and one TransactWriteItems. A hold that is no longer there is looked up once: confirmed by an
    /// earlier delivery, or lost (then the lead is flagged for follow-up instead, never a 21st
    /// member).
    pub async fn record_payment(
        &self,
        payment: &CheckoutPayment<'_>,
        delivery: Option<&DeliveryKey>,
        now: OffsetDateTime,
    ) -> Result<Once<PaymentRecorded>, StoreError> {
        let mut base = LeadExtras::default();
        base.sets.push(("plan_type", Some(s(payment.plan_type))));
        if let Some(subscription) = payment.subscription {
            base.sets
                .push(("stripe_subscription_id", Some(s(subscription))));
        }
        if let Some(customer) = payment.customer {
            base.sets.push(("stripe_customer_id", Some(s(customer))));
            let index = Put::builder()
                .table_name(self.table_name())
                .item(PK, s(customer_pk(customer)))
                .item(SK, s("CUSTOMER"))
                .item("lead_id", s(payment.lead_id.as_str()))
                .build()
                .map_err(|e| StoreError::Rejected(e.to_string()))?;
            base.items
                .push(TransactWriteItem::builder().put(index).build());
        }
        let update = PipelineUpdate {
            stage: Some(StageMove::Advance(PipelineStage::ClosedWon)),
            ..Default::default()
        };
        // What became of the founding hold, once known without confirming it here.
        let mut settled: Option<ConfirmOutcome> = None;
        // Whose founder item the hold is under: the lead's e-mail unless the spot says otherwise.
        let mut founder_email: Option<EmailAddress> = None;
        for attempt in 0..MAX_ATTEMPTS {
            let lead = self
                .lead(payment.lead_id)
                .await?
                .ok_or(StoreError::LeadNotFound)?;
            let mut sets = base.sets.clone();
            if let (Some(founding), Some(ConfirmOutcome::HoldLost)) = (&payment.founding, &settled)
            {
                sets.push(("follow_up", Some(s(founding.follow_up_if_lost))));
                sets.push(("follow_up_at", Some(s(time_format::to_sortable(now)))));
            }
            let outcome = apply_update(&lead.pipeline, &update, payment.cause, now);
            let next_version = lead.version + 1;
            let mut items = self.lead_change_items(
                &lead,
                &outcome.record,
                outcome.stage_change.as_ref(),
                next_version,
                now,
                &sets,
            )?;
            items.extend(base.items.iter().cloned());
            let confirming = match (&payment.founding, &settled) {
                (Some(founding), None) => {
                    let email = founder_email.clone().unwrap_or_else(|| lead.email.clone());
                    let confirmation = FoundingConfirmation::now(
                        founding.spot,
                        email,
                        lead.id.clone(),
                        founding.company_name,
                        now,
                    );
                    let at = items.len();
                    items.extend(self.confirmation_items(&confirmation, founding.hold_ref)?);
                    Some((at, founding, confirmation))
                }
                _ => None,
            };
            if let Some(delivery) = delivery {
                items.push(self.delivery_record(delivery, now)?);
            }
            let cancelled = match self.transact_recording(items, delivery).await? {
                Transacted::Written => {
                    let founding = match confirming {
                        Some((_, _, confirmation)) => {
                            Some(ConfirmOutcome::Confirmed(confirmation.member))
                        }
                        None => settled,
                    };
                    return Ok(Once::Applied(PaymentRecorded {
                        change: PipelineChange {
                            lead: Lead {
                                pipeline: outcome.record,
                                version: next_version,
                                ..lead
                            },
                            stage_change: outcome.stage_change,
                            stage_kept: outcome.stage_kept,
                            written: true,
                        },
                        founding,
                    }));
                }
                Transacted::Delivered(once) => return Ok(once.map(|never| match never {})),
                Transacted::Conflict(cancelled) => cancelled,
            };
            if let Some((at, founding, confirmation)) = &confirming {
                if cancelled.failed(*at) || cancelled.failed(at + 1) {
                    // The hold is not where it was: see what became of it.
                    match self.hold_standing(founding.spot, founding.hold_ref).await? {
                        HoldStanding::Held { email, .. } if email != confirmation.member.email => {
                            founder_email = Some(email);
                        }
                        HoldStanding::Held { .. } => {}
                        HoldStanding::Confirmed(member) => {
                            settled = Some(ConfirmOutcome::AlreadyConfirmed(member));
                        }
                        HoldStanding::Lost => settled = Some(ConfirmOutcome::HoldLost),
                    }
                    continue;
                }
            }
            // The lead changed since it was read (its item is the first): read again and
            // decide again.
            if !cancelled.failed(0) {
                backoff(attempt).await;
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    /// The lead a Stripe customer belongs to.
    pub async fn lead_id_for_customer(&self, customer: &str) -> Result<Option<LeadId>, StoreError> {
        let found = self.get(customer_pk(customer), "CUSTOMER").await?;
        found
            .as_ref()
            .map(|item| parse_s(item, "lead_id", LeadId::parse))
            .transpose()
    }

    /// Writes `item` unless a record written by a newer event is there.
    async fn put_if_newer(&self, item: Item, event_created: i64) -> Result<Recorded, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR event_created <= :created")
            .expression_attribute_values(":created", n(event_created))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::Applied),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Recorded::Stale)
            }
            Err(err) => Err(StoreError::from_sdk(err)),
        }
    }

    pub async fn record_subscription(
        &self,
        state: &SubscriptionState,
    ) -> Result<Recorded, StoreError> {
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
        self.put_if_newer(item, state.event_created).await
    }

    pub async fn subscription(
        &self,
        customer: &str,
        subscription: &str,
    ) -> Result<Option<SubscriptionState>, StoreError> {
        let found = self
            .get(
                customer_pk(customer),
                format!("SUBSCRIPTION#{subscription}"),
            )
            .await?;
        found
            .as_ref()
            .map(|item| decode_subscription(customer, item))
            .transpose()
    }

    pub async fn record_invoice(&self, invoice: &InvoiceRecord) -> Result<Recorded, StoreError> {
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
        self.put_if_newer(item, invoice.event_created).await
    }

    /// A customer's invoices, by invoice id.
    pub async fn invoices(&self, customer: &str) -> Result<Vec<InvoiceRecord>, StoreError> {
        self.query_prefix(&customer_pk(customer), "INVOICE#")
            .await?
            .iter()
            .map(|item| decode_invoice(customer, item))
            .collect()
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
