//! Stripe webhook events, parsed into what the sales system acts on (API version
//! `2026-07-29.dahlia`: an invoice's subscription is under
//! `parent.subscription_details.subscription`; a subscription's periods live on its items).

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not a Stripe event: {0}")]
    NotAnEvent(String),
    #[error("the {kind} event's object is not as expected: {reason}")]
    BadObject { kind: String, reason: String },
    /// An id that would become part of a key cannot be stored (too long, or not an id).
    #[error("{0}")]
    BadId(String),
}

#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EnvelopeData,
}

#[derive(Debug, Deserialize)]
struct EnvelopeData {
    object: serde_json::Value,
}

/// `metadata: null` as an empty map (Stripe sends `null` where a session has none).
fn null_as_empty<'de, D>(deserializer: D) -> Result<HashMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<HashMap<String, String>>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CustomerDetails {
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckoutSessionObject {
    pub id: String,
    pub customer: Option<String>,
    pub subscription: Option<String>,
    pub customer_email: Option<String>,
    pub customer_details: Option<CustomerDetails>,
    pub client_reference_id: Option<String>,
    /// `null` in some events (a session created without metadata): read as empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: HashMap<String, String>,
    pub expires_at: Option<i64>,
    pub payment_status: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
}

impl CheckoutSessionObject {
    /// Whether the money is there: `paid`, or `no_payment_required` (a 100 % discount). A
    /// completed session with a delayed payment method (BECS Direct Debit) is `unpaid` until
    /// `checkout.session.async_payment_succeeded`.
    pub fn is_paid(&self) -> bool {
        matches!(
            self.payment_status.as_deref(),
            Some("paid" | "no_payment_required")
        )
    }

    /// The payer's e-mail: what we sent as `customer_email`, else what they typed.
    pub fn email(&self) -> Option<&str> {
        self.customer_email.as_deref().or_else(|| {
            self.customer_details
                .as_ref()
                .and_then(|d| d.email.as_deref())
        })
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SubscriptionItem {
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SubscriptionItems {
    #[serde(default)]
    pub data: Vec<SubscriptionItem>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SubscriptionObject {
    pub id: String,
    pub customer: String,
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    pub items: Option<SubscriptionItems>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: HashMap<String, String>,
    /// When the subscription ended (set once it is canceled).
    pub ended_at: Option<i64>,
}

impl SubscriptionObject {
    pub fn current_period_end(&self) -> Option<i64> {
        self.items
            .as_ref()?
            .data
            .iter()
            .filter_map(|item| item.current_period_end)
            .max()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SubscriptionDetails {
    pub subscription: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct InvoiceParent {
    pub subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct InvoiceObject {
    pub id: String,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    #[serde(default)]
    pub amount_paid: i64,
    #[serde(default)]
    pub amount_due: i64,
    pub currency: String,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub attempt_count: Option<i64>,
    pub parent: Option<InvoiceParent>,
    /// Why the invoice was made: `subscription_create` (a subscription's first, paid through
    /// its checkout), `subscription_cycle` (a renewal), `manual`, …
    pub billing_reason: Option<String>,
}

impl InvoiceObject {
    pub fn subscription(&self) -> Option<&str> {
        self.parent
            .as_ref()?
            .subscription_details
            .as_ref()?
            .subscription
            .as_deref()
    }
}

/// A dispute (chargeback) on a charge: money at risk.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DisputeObject {
    pub id: String,
    /// The disputed charge's id (a string unless the event was expanded).
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub reason: Option<String>,
    pub status: Option<String>,
}

/// A charge (`charge.succeeded`, `charge.refunded`): whose, how much, how much refunded.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ChargeObject {
    pub id: String,
    pub customer: Option<String>,
    pub amount: i64,
    #[serde(default)]
    pub amount_refunded: i64,
    pub currency: String,
    /// Whether the charge was refunded in full (a partial refund leaves it `false`).
    #[serde(default)]
    pub refunded: bool,
    pub payment_intent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    CheckoutCompleted(CheckoutSessionObject),
    CheckoutExpired(CheckoutSessionObject),
    /// A delayed payment of a completed session arrived (`checkout.session.async_payment_succeeded`).
    CheckoutAsyncPaid(CheckoutSessionObject),
    /// A delayed payment failed (`checkout.session.async_payment_failed`).
    CheckoutAsyncFailed(CheckoutSessionObject),
    SubscriptionChanged {
        deleted: bool,
        subscription: SubscriptionObject,
    },
    InvoicePaid(InvoiceObject),
    InvoicePaymentFailed(InvoiceObject),
    /// A dispute was opened (`charge.dispute.created`): recorded and alarmed.
    DisputeOpened(DisputeObject),
    /// A dispute ended (`charge.dispute.closed`): `status` `lost` revokes a founding membership.
    DisputeClosed(DisputeObject),
    /// A charge succeeded (`charge.succeeded`): its customer is recorded for later disputes.
    ChargeSucceeded(ChargeObject),
    /// A charge was refunded, in part or in full (`charge.refunded`).
    ChargeRefunded(ChargeObject),
    /// Any other type: acknowledged and ignored.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    pub id: String,
    pub created: i64,
    pub kind: EventKind,
}

/// The event types this system acts on (the webhook endpoint should subscribe to exactly these).
pub const HANDLED_EVENT_TYPES: [&str; 12] = [
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.dispute.created",
    "charge.dispute.closed",
    "charge.succeeded",
    "charge.refunded",
];

fn object<T: serde::de::DeserializeOwned>(
    kind: &str,
    value: serde_json::Value,
) -> Result<T, EventError> {
    serde_json::from_value(value).map_err(|e| EventError::BadObject {
        kind: kind.to_owned(),
        reason: e.to_string(),
    })
}

impl StripeEvent {
    pub fn parse(body: &[u8]) -> Result<StripeEvent, EventError> {
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|e| EventError::NotAnEvent(e.to_string()))?;
        let Envelope {
            id,
            kind,
            created,
            data,
        } = envelope;
        let object_value = data.object;
        let parsed = match kind.as_str() {
            "checkout.session.completed" => {
                EventKind::CheckoutCompleted(object(&kind, object_value)?)
            }
            "checkout.session.expired" => EventKind::CheckoutExpired(object(&kind, object_value)?),
            "checkout.session.async_payment_succeeded" => {
                EventKind::CheckoutAsyncPaid(object(&kind, object_value)?)
            }
            "checkout.session.async_payment_failed" => {
                EventKind::CheckoutAsyncFailed(object(&kind, object_value)?)
            }
            "customer.subscription.updated" => EventKind::SubscriptionChanged {
                deleted: false,
                subscription: object(&kind, object_value)?,
            },
            "customer.subscription.deleted" => EventKind::SubscriptionChanged {
                deleted: true,
                subscription: object(&kind, object_value)?,
            },
            "invoice.paid" => EventKind::InvoicePaid(object(&kind, object_value)?),
            "invoice.payment_failed" => {
                EventKind::InvoicePaymentFailed(object(&kind, object_value)?)
            }
            "charge.dispute.created" => EventKind::DisputeOpened(object(&kind, object_value)?),
            "charge.dispute.closed" => EventKind::DisputeClosed(object(&kind, object_value)?),
            "charge.succeeded" => EventKind::ChargeSucceeded(object(&kind, object_value)?),
            "charge.refunded" => EventKind::ChargeRefunded(object(&kind, object_value)?),
            _ => EventKind::Ignored(kind),
        };
        let event = StripeEvent {
            id,
            created,
            kind: parsed,
        };
        event.check_ids()?;
        Ok(event)
    }

    /// Checks every id the event carries that becomes part of a key (the delivery, customer,
    /// subscription and invoice records) against the key limits.
    fn check_ids(&self) -> Result<(), EventError> {
        let mut ids: Vec<(&str, Option<&str>)> = vec![("id", Some(self.id.as_str()))];
        match &self.kind {
            EventKind::CheckoutCompleted(session)
            | EventKind::CheckoutExpired(session)
            | EventKind::CheckoutAsyncPaid(session)
            | EventKind::CheckoutAsyncFailed(session) => {
                ids.push(("data.object.id", Some(&session.id)));
                ids.push(("data.object.customer", session.customer.as_deref()));
                ids.push(("data.object.subscription", session.subscription.as_deref()));
            }
            EventKind::SubscriptionChanged { subscription, .. } => {
                ids.push(("data.object.id", Some(&subscription.id)));
                ids.push(("data.object.customer", Some(&subscription.customer)));
            }
            EventKind::InvoicePaid(invoice) | EventKind::InvoicePaymentFailed(invoice) => {
                ids.push(("data.object.id", Some(&invoice.id)));
                ids.push(("data.object.customer", invoice.customer.as_deref()));
                ids.push((
                    "data.object.parent.subscription_details.subscription",
                    invoice.subscription(),
                ));
            }
            EventKind::DisputeOpened(dispute) | EventKind::DisputeClosed(dispute) => {
                ids.push(("data.object.id", Some(&dispute.id)));
                ids.push(("data.object.charge", dispute.charge.as_deref()));
            }
            EventKind::ChargeSucceeded(charge) | EventKind::ChargeRefunded(charge) => {
                ids.push(("data.object.id", Some(&charge.id)));
                ids.push(("data.object.customer", charge.customer.as_deref()));
            }
            EventKind::Ignored(_) => {}
        }
        for (field, value) in ids {
            if let Some(value) = value {
                crate::domain::limits::check_stripe_id(field, value)
                    .map_err(|e| EventError::BadId(e.to_string()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../tests/fixtures/stripe/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn parses_every_handled_fixture() {
        let completed =
            StripeEvent::parse(&fixture("evt_checkout.session.completed.json")).unwrap();
        let EventKind::CheckoutCompleted(session) = completed.kind else {
            panic!()
        };
        assert_eq!(session.customer.as_deref(), Some("cus_TbQz3Xk2LmN8pA"));
        assert_eq!(
            session.subscription.as_deref(),
            Some("sub_1SkqP2B7WZ01zgkWa9XyQ3rT")
        );
        assert_eq!(session.email(), Some("ada@example.com"));

        assert!(session.is_paid());
        let async_paid = StripeEvent::parse(&fixture(
            "evt_checkout.session.async_payment_succeeded.json",
        ))
        .unwrap();
        assert!(matches!(async_paid.kind, EventKind::CheckoutAsyncPaid(ref s) if s.is_paid()));
        let async_failed =
            StripeEvent::parse(&fixture("evt_checkout.session.async_payment_failed.json")).unwrap();
        assert!(matches!(async_failed.kind, EventKind::CheckoutAsyncFailed(ref s) if !s.is_paid()));
        let dispute = StripeEvent::parse(&fixture("evt_charge.dispute.created.json")).unwrap();
        assert!(matches!(dispute.kind, EventKind::DisputeOpened(ref d)
            if d.charge.as_deref() == Some("ch_1SkqP3B7WZ01zgkWq7Rt2YuI") && d.amount == Some(2900)));
        // `metadata: null`, as Stripe sends it for a session without any, is no metadata.
        let mut null_metadata: serde_json::Value =
            serde_json::from_slice(&fixture("evt_checkout.session.completed.json")).unwrap();
        null_metadata["data"]["object"]["metadata"] = serde_json::Value::Null;
        let parsed = StripeEvent::parse(&serde_json::to_vec(&null_metadata).unwrap()).unwrap();
        assert!(
            matches!(parsed.kind, EventKind::CheckoutCompleted(ref s) if s.metadata.is_empty())
        );

        let expired = StripeEvent::parse(&fixture("evt_checkout.session.expired.json")).unwrap();
        assert!(
            matches!(expired.kind, EventKind::CheckoutExpired(ref s) if s.expires_at == Some(1_767_312_000))
        );

        let updated =
            StripeEvent::parse(&fixture("evt_customer.subscription.updated.json")).unwrap();
        let EventKind::SubscriptionChanged {
            deleted: false,
            subscription,
        } = updated.kind
        else {
            panic!()
        };
        assert_eq!(subscription.status, "active");
        assert_eq!(subscription.current_period_end(), Some(1_769_904_092));
        assert!(matches!(
            StripeEvent::parse(&fixture("evt_customer.subscription.deleted.json"))
                .unwrap()
                .kind,
            EventKind::SubscriptionChanged { deleted: true, .. }
        ));

        let closed = StripeEvent::parse(&fixture("evt_charge.dispute.closed.json")).unwrap();
        assert!(matches!(closed.kind, EventKind::DisputeClosed(ref d)
            if d.status.as_deref() == Some("lost") && d.charge.as_deref() == Some("ch_1SkqP3B7WZ01zgkWq7Rt2YuI")));
        let succeeded = StripeEvent::parse(&fixture("evt_charge.succeeded.json")).unwrap();
        assert!(matches!(succeeded.kind, EventKind::ChargeSucceeded(ref c)
            if c.customer.as_deref() == Some("cus_TbQz3Xk2LmN8pA") && !c.refunded && c.amount == 2900));
        let refunded = StripeEvent::parse(&fixture("evt_charge.refunded.json")).unwrap();
        assert!(matches!(refunded.kind, EventKind::ChargeRefunded(ref c)
            if c.refunded && c.amount_refunded == c.amount));
        let deleted =
            StripeEvent::parse(&fixture("evt_customer.subscription.deleted.json")).unwrap();
        assert!(
            matches!(deleted.kind, EventKind::SubscriptionChanged { ref subscription, .. }
            if subscription.ended_at.is_some())
        );

        let paid = StripeEvent::parse(&fixture("evt_invoice.paid.json")).unwrap();
        let EventKind::InvoicePaid(invoice) = paid.kind else {
            panic!()
        };
        assert_eq!(invoice.subscription(), Some("sub_1SkqP2B7WZ01zgkWa9XyQ3rT"));
        assert_eq!(
            (invoice.amount_paid, invoice.currency.as_str()),
            (2900, "eur")
        );
        assert!(matches!(
            StripeEvent::parse(&fixture("evt_invoice.payment_failed.json"))
                .unwrap()
                .kind,
            EventKind::InvoicePaymentFailed(_)
        ));
    }

    #[test]
    fn other_types_are_ignored_and_garbage_is_an_error() {
        let other = br#"{"id":"evt_x","type":"customer.created","created":1,"data":{"object":{}}}"#;
        assert_eq!(
            StripeEvent::parse(other).unwrap().kind,
            EventKind::Ignored("customer.created".into())
        );
        assert!(matches!(
            StripeEvent::parse(b"not json"),
            Err(EventError::NotAnEvent(_))
        ));
        let bad = br#"{"id":"evt_x","type":"invoice.paid","created":1,"data":{"object":{"id":5}}}"#;
        assert!(matches!(
            StripeEvent::parse(bad),
            Err(EventError::BadObject { .. })
        ));
    }
}
