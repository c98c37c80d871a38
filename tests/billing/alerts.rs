//! stripe-webhook's alerts to the team, published as the function (its IAM policy applies) to
//! the team alerts topic of the local server: one line per payment received or failed and per
//! founding member who joined; none for a duplicate delivery, none for a subscription's first
//! invoice (its checkout told the team), and a publish that fails never fails the webhook.

use sales::handlers::StripeWebhook;
use sales_tests::{response_json, role, team_alerts_as, team_alerts_sent, unique_email, TestTable};
use serde_json::{json, Value};

use crate::checkout::{form, stripe_fake};
use crate::webhook::event;
use crate::{checkout_handler, json_post, now, signed_event, webhook_handler, WEBHOOK_SECRET};

async fn deliver(webhook: &StripeWebhook, body: &[u8]) -> Value {
    let (status, result) = response_json(
        webhook
            .handle(signed_event(body, WEBHOOK_SECRET, now()))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{result}");
    result
}

/// A checkout started through create-checkout for `email`, paid: the
/// `checkout.session.completed` event Stripe sends for it.
async fn paid_checkout(table: &TestTable, email: &str, plan: &str, event_id: &str) -> Vec<u8> {
    let stripe = stripe_fake(now()).await;
    let (status, body) = response_json(
        checkout_handler(&table.store, &stripe, now())
            .handle(json_post(
                "/billing/create-checkout",
                &json!({"email": email, "plan_type": plan, "company_name": "Acme Pty Ltd"}),
            ))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let requests = stripe.received_requests().await.unwrap();
    let sent = form(requests.last().unwrap());
    let metadata: serde_json::Map<String, Value> = sent
        .iter()
        .filter_map(|(key, value)| {
            let key = key.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), json!(value)))
        })
        .collect();
    event(
        "evt_checkout.session.completed.json",
        event_id,
        now().unix_timestamp(),
        json!({
            "id": format!("cs_{event_id}"), "customer_email": email,
            "customer_details": {"email": email, "name": null},
            "client_reference_id": sent["client_reference_id"], "customer": format!("cus_{event_id}"),
            "subscription": format!("sub_{event_id}"), "metadata": metadata,
            "amount_total": 2900, "currency": "aud",
        }),
    )
}

#[tokio::test]
async fn each_payment_event_alerts_the_team_once_and_a_duplicate_not_again() {
    let table = TestTable::new().await;
    let webhook = webhook_handler(&table.store, now())
        .with_alerts(team_alerts_as(role::STRIPE_WEBHOOK, None).await);
    let t = now().unix_timestamp();

    // A founding checkout paid: the member joined (one line, which says the payment too).
    let founder = unique_email("founder");
    let paid = paid_checkout(&table, &founder, "founding", "evt_alert_founding").await;
    let result = deliver(&webhook, &paid).await;
    assert_eq!(result["effect"], "founding_member_confirmed", "{result}");
    assert_eq!(
        team_alerts_sent(&founder).await,
        [format!(
            "Founding member joined: {founder} (Acme Pty Ltd) took founding spot 1 of 20, paid 29.00 AUD"
        )]
    );
    let again = deliver(&webhook, &paid).await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(team_alerts_sent(&founder).await.len(), 1, "no second alert");

    // A standard checkout paid.
    let buyer = unique_email("standard");
    let paid = paid_checkout(&table, &buyer, "standard", "evt_alert_standard").await;
    assert_eq!(deliver(&webhook, &paid).await["effect"], "deal_won");
    deliver(&webhook, &paid).await;
    assert_eq!(
        team_alerts_sent(&buyer).await,
        [format!(
            "Payment received: {buyer} (Acme Pty Ltd) paid 29.00 AUD (standard plan checkout; deal won)"
        )]
    );

    // Invoices: a renewal paid alerts, a subscription's first invoice does not (its checkout
    // did), a failed payment does; each once.
    let renewing = unique_email("renewal");
    let invoice = |fixture: &str, id: &str, reason: &str, created: i64| {
        event(
            fixture,
            id,
            created,
            json!({"id": format!("in_{id}"), "customer": "cus_renewal", "customer_email": renewing, "billing_reason": reason}),
        )
    };
    let first = invoice(
        "evt_invoice.paid.json",
        "evt_inv_first",
        "subscription_create",
        t - 120,
    );
    let failed = invoice(
        "evt_invoice.payment_failed.json",
        "evt_inv_failed",
        "subscription_cycle",
        t - 60,
    );
    let renewed = invoice(
        "evt_invoice.paid.json",
        "evt_inv_renewed",
        "subscription_cycle",
        t,
    );
    for body in [&first, &failed, &renewed, &first, &failed, &renewed] {
        deliver(&webhook, body).await;
    }
    assert_eq!(
        team_alerts_sent(&renewing).await,
        [
            format!("Payment failed: {renewing}, 29.00 EUR (invoice in_evt_inv_failed, attempt 1)"),
            format!(
                "Payment received: {renewing} paid 29.00 EUR (invoice in_evt_inv_renewed, renewal)"
            ),
        ]
    );

    // A delayed checkout payment that failed.
    let delayed = unique_email("delayed");
    let failed = event(
        "evt_checkout.session.async_payment_failed.json",
        "evt_async_failed",
        t,
        json!({"id": "cs_async_failed", "customer_email": delayed, "metadata": {}, "client_reference_id": null}),
    );
    assert_eq!(deliver(&webhook, &failed).await["effect"], "payment_failed");
    deliver(&webhook, &failed).await;
    assert_eq!(
        team_alerts_sent(&delayed).await,
        [format!(
            "Payment failed: {delayed}, 29.00 EUR (delayed checkout payment)"
        )]
    );
    table.drop_table().await;
}

/// The webhook may not publish to another topic (its policy grants the team alerts topic
/// only): the publish is refused, the event is still applied and answered 200, and nothing
/// reaches the team; a redelivery is a duplicate as ever.
#[tokio::test]
async fn an_alert_that_cannot_be_published_does_not_fail_the_webhook() {
    let table = TestTable::new().await;
    let elsewhere = sales_tests::team_alerts_topic().replace("TeamAlertsTopic", "AlarmTopic");
    let webhook = webhook_handler(&table.store, now())
        .with_alerts(team_alerts_as(role::STRIPE_WEBHOOK, Some(&elsewhere)).await);
    let founder = unique_email("refused");
    let paid = paid_checkout(&table, &founder, "founding", "evt_alert_refused").await;
    let result = deliver(&webhook, &paid).await;
    assert_eq!(result["effect"], "founding_member_confirmed", "{result}");
    assert_eq!(table.store.founding_members().await.unwrap().len(), 1);
    assert!(team_alerts_sent(&founder).await.is_empty());
    assert_eq!(deliver(&webhook, &paid).await["duplicate"], true);
    table.drop_table().await;
}
