use futures::future::join_all;
use sales::domain::{EmailAddress, FoundingBenefits, PipelineStage};
use sales::handlers::CustomerPortal;
use sales_tests::{apigw_request, as_function, fixture, response_json, role, TestTable};
use serde_json::{json, Value};
use time::OffsetDateTime;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::checkout::{form, stripe_fake};
use crate::{
    checkout_handler, config, json_post, now, signed_event, stripe_client, webhook_handler,
    WEBHOOK_SECRET,
};

fn vector() -> Value {
    serde_json::from_slice(&fixture("stripe/signature_test_vector.json")).unwrap()
}

/// A fixture event with its session replaced by what our checkout sent to Stripe.
pub(crate) fn event(fixture_name: &str, id: &str, created: i64, object_patch: Value) -> Vec<u8> {
    let mut event: Value =
        serde_json::from_slice(&fixture(&format!("stripe/{fixture_name}"))).unwrap();
    event["id"] = json!(id);
    event["created"] = json!(created);
    if let (Some(object), Some(patch)) = (
        event["data"]["object"].as_object_mut(),
        object_patch.as_object(),
    ) {
        object.extend(patch.clone());
    }
    serde_json::to_vec(&event).unwrap()
}

#[tokio::test]
async fn the_signature_vector_from_stripes_library_verifies_and_forgeries_do_not() {
    let table = TestTable::new().await;
    let v = vector();
    let body = fixture("stripe/evt_checkout.session.completed.json");
    let signed_at = OffsetDateTime::from_unix_timestamp(v["timestamp"].as_i64().unwrap()).unwrap();
    let handler = webhook_handler(&table.store, signed_at + time::Duration::seconds(30));
    let deliver = |header: &str, body: &[u8], base64: bool| {
        apigw_request(
            "POST",
            "/",
            &[("Stripe-Signature", header)],
            body,
            base64,
            None,
        )
    };

    // Several v1 values (a rotation) and a junk v0; delivered base64-encoded, as a function URL may.
    let (status, result) = response_json(
        handler
            .handle(deliver(
                v["header_rotation_example"].as_str().unwrap(),
                &body,
                true,
            ))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "deal_won");
    let lead = table
        .store
        .lead_by_email(&EmailAddress::parse("ada@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::ClosedWon);
    assert_eq!(
        lead.billing.stripe_customer_id.as_deref(),
        Some("cus_TbQz3Xk2LmN8pA")
    );

    let single = v["header_single"].as_str().unwrap();
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let stale = webhook_handler(&table.store, signed_at + time::Duration::seconds(301));
    for (response, why) in [
        (
            handler.handle(deliver(single, &tampered, false)).await,
            "tampered body",
        ),
        (
            handler
                .handle(apigw_request("POST", "/", &[], &body, false, None))
                .await,
            "no header",
        ),
        (
            handler.handle(deliver("t=1,v1=abc", &body, false)).await,
            "garbage",
        ),
        (
            stale.handle(deliver(single, &body, false)).await,
            "stale timestamp",
        ),
        (
            handler
                .handle(signed_event(&body, "whsec_wrong", signed_at))
                .await,
            "wrong secret",
        ),
    ] {
        assert_eq!(response.status(), 400, "{why}");
    }
    // The previous secret is still accepted during a rotation.
    let other = event(
        "evt_invoice.paid.json",
        "evt_prev_secret",
        signed_at.unix_timestamp(),
        json!({}),
    );
    assert_eq!(
        handler
            .handle(signed_event(&other, "whsec_previous", signed_at))
            .await
            .status(),
        200
    );
    // Unhandled types are acknowledged and ignored.
    let ignored =
        br#"{"id":"evt_other","type":"customer.created","created":1,"data":{"object":{}}}"#;
    let (status, result) = response_json(
        handler
            .handle(signed_event(ignored, WEBHOOK_SECRET, signed_at))
            .await,
    )
    .await;
    assert_eq!(
        (status, result["ignored"].as_str()),
        (200, Some("customer.created"))
    );
    table.drop_table().await;
}

/// The landing page's flow through the handlers: founding checkout, then Stripe's signed
/// webhooks for that very session.
#[tokio::test]
async fn a_paid_founding_checkout_makes_a_member_and_an_expired_one_frees_the_spot() {
    let table = TestTable::new().await;
    let store = &table.store;
    let stripe = stripe_fake(now()).await;
    let checkout = checkout_handler(store, &stripe, now());
    for email in ["payer@example.com", "leaver@example.com"] {
        let (status, body) = response_json(
            checkout
                .handle(json_post(
                    "/billing/create-checkout",
                    &json!({"email": email, "plan_type": "founding"}),
                ))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(store.founding_tally(now()).await.unwrap().remaining, 18);
    let sent: Vec<_> = stripe
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(form)
        .collect();
    let metadata = |f: &std::collections::HashMap<String, String>| -> Value {
        json!({"lead_id": f["metadata[lead_id]"], "plan_type": f["metadata[plan_type]"], "founding_spot": f["metadata[founding_spot]"], "founding_hold": f["metadata[founding_hold]"]})
    };
    let webhook = webhook_handler(store, now());

    let paid = event(
        "evt_checkout.session.completed.json",
        "evt_paid_1",
        now().unix_timestamp(),
        json!({
            "id": "cs_test_1", "customer_email": "payer@example.com", "client_reference_id": sent[0]["client_reference_id"],
            "customer": "cus_payer", "subscription": "sub_payer", "metadata": metadata(&sent[0]),
        }),
    );
    let (status, result) = response_json(
        webhook
            .handle(signed_event(&paid, WEBHOOK_SECRET, now()))
            .await,
    )
    .await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("founding_member_confirmed")),
        "{result}"
    );
    let members = store.founding_members().await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].spot.get(), members[0].benefits),
        (1, FoundingBenefits::CURRENT)
    );
    let lead = store
        .lead_by_email(&EmailAddress::parse("payer@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::ClosedWon);
    assert_eq!(
        lead.billing.stripe_subscription_id.as_deref(),
        Some("sub_payer")
    );
    assert_eq!(lead.billing.plan_type.as_deref(), Some("founding"));
    // The customer index (written with the payment; nothing reads it yet).
    let index = store
        .client()
        .get_item()
        .table_name(store.table_name())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("CUSTOMER#cus_payer".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("CUSTOMER".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the customer index entry");
    assert_eq!(
        index["lead_id"].as_s().ok().map(String::as_str),
        Some(lead.id.as_str())
    );
    let history = sales_tests::history(store, &lead.id).await;
    assert_eq!(history.last().unwrap().cause.as_str(), "stripe:evt_paid_1");
    let tally = store.founding_tally(now()).await.unwrap();
    assert_eq!((tally.members, tally.held, tally.remaining), (1, 1, 18));

    let expired = event(
        "evt_checkout.session.expired.json",
        "evt_expired_1",
        now().unix_timestamp(),
        json!({
            "id": "cs_test_2", "customer_email": "leaver@example.com", "metadata": metadata(&sent[1]),
            "expires_at": sent[1]["expires_at"].parse::<i64>().unwrap(),
        }),
    );
    let (status, result) = response_json(
        webhook
            .handle(signed_event(&expired, WEBHOOK_SECRET, now()))
            .await,
    )
    .await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("hold_released")),
        "{result}"
    );
    assert_eq!(
        store.founding_tally(now()).await.unwrap().remaining,
        19,
        "the spot is back"
    );

    // The customer can now open the billing portal, as the verified JWT says who they are.
    let portal_stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "bps_1", "object": "billing_portal.session", "url": "https://billing.stripe.com/p/session/test_1"})))
        .mount(&portal_stripe)
        .await;
    let portal_config = config(&portal_stripe);
    let portal = CustomerPortal::new(
        as_function(store, role::CUSTOMER_PORTAL),
        stripe_client(&portal_config),
        portal_config,
    );
    let as_user = |email: Option<&str>| {
        let claims = email.map(|e| json!({"email": e, "email_verified": "true", "sub": "user-1"}));
        apigw_request(
            "POST",
            "/billing/customer-portal",
            &[],
            br#"{"email":"someone-else@example.com"}"#,
            false,
            claims,
        )
    };
    let (status, body) =
        response_json(portal.handle(as_user(Some("Payer@Example.com"))).await).await;
    assert_eq!(
        (status, body["portal_url"].as_str()),
        (200, Some("https://billing.stripe.com/p/session/test_1"))
    );
    let portal_form = form(&portal_stripe.received_requests().await.unwrap()[0]);
    assert_eq!(portal_form["customer"], "cus_payer");
    assert_eq!(
        portal_form["return_url"],
        "https://app.keiracom.com/account"
    );
    assert!(
        !portal_form.contains_key("configuration"),
        "no configuration set: the account's default"
    );
    // With the configuration `salesctl setup` made, every session names it.
    let mut configured = config(&portal_stripe);
    configured.stripe_portal_configuration_id = Some("bpc_agency_os".into());
    let configured_portal = CustomerPortal::new(
        as_function(store, role::CUSTOMER_PORTAL),
        stripe_client(&configured),
        configured,
    );
    assert_eq!(
        configured_portal
            .handle(as_user(Some("payer@example.com")))
            .await
            .status(),
        200
    );
    let sent = form(&portal_stripe.received_requests().await.unwrap()[1]);
    assert_eq!(
        sent.get("configuration").map(String::as_str),
        Some("bpc_agency_os")
    );
    assert_eq!(
        portal.handle(as_user(None)).await.status(),
        401,
        "a body field never identifies the caller"
    );
    assert_eq!(
        portal
            .handle(as_user(Some("leaver@example.com")))
            .await
            .status(),
        404
    );
    table.drop_table().await;
}

sales_tests::on_both_servers!(the_same_event_delivered_concurrently_has_one_effect);
async fn the_same_event_delivered_concurrently_has_one_effect(table: TestTable) {
    let webhook = webhook_handler(&table.store, now());
    let body = event(
        "evt_checkout.session.completed.json",
        "evt_twice",
        now().unix_timestamp(),
        json!({"customer_email": "twice@example.com"}),
    );
    let statuses = join_all((0..8).map(|_| async {
        webhook
            .handle(signed_event(&body, WEBHOOK_SECRET, now()))
            .await
            .status()
            .as_u16()
    }))
    .await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200));
    let lead = table
        .store
        .lead_by_email(&EmailAddress::parse("twice@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sales_tests::history(&table.store, &lead.id).await.len(),
        1,
        "one history entry"
    );
    // A later redelivery is a duplicate.
    let (status, result) = response_json(
        webhook
            .handle(signed_event(&body, WEBHOOK_SECRET, now()))
            .await,
    )
    .await;
    assert_eq!((status, result["duplicate"].as_bool()), (200, Some(true)));
    table.drop_table().await;
}

/// The session names its lead (`client_reference_id`); one this table does not know, or a
/// value that is no lead id at all (the fixture's `user_42`), falls back to the payer's e-mail.
#[tokio::test]
async fn a_paid_checkout_finds_its_lead_by_the_session_or_else_by_the_e_mail() {
    let table = TestTable::new().await;
    let store = &table.store;
    let webhook = webhook_handler(store, now());
    let t = now().unix_timestamp();
    let known = store
        .find_or_create_lead(
            &sales::domain::NewLead::new(
                EmailAddress::parse("known@example.com").unwrap(),
                sales::domain::LeadSource::Checkout,
            ),
            now(),
        )
        .await
        .unwrap();
    let cases = [
        (
            "evt_named",
            "paid-as@example.com",
            json!(known.id.as_str()),
            "known@example.com",
        ),
        (
            "evt_unknown",
            "stranger@example.com",
            json!("6f1c2b1e-3d4a-4b5c-8d9e-0f1a2b3c4d5e"),
            "stranger@example.com",
        ),
        (
            "evt_not_an_id",
            "user42@example.com",
            json!("user_42"),
            "user42@example.com",
        ),
    ];
    for (id, payer, reference, lead_email) in cases {
        let body = event(
            "evt_checkout.session.completed.json",
            id,
            t - 5,
            json!({"customer_email": payer, "client_reference_id": reference, "customer": format!("cus_{id}")}),
        );
        let (status, result) = response_json(
            webhook
                .handle(signed_event(&body, WEBHOOK_SECRET, now()))
                .await,
        )
        .await;
        assert_eq!(
            (status, &result["effect"]),
            (200, &json!("deal_won")),
            "{id}: {result}"
        );
        let lead = store
            .lead_by_email(&EmailAddress::parse(lead_email).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id}: no lead for {lead_email}"));
        assert_eq!(lead.pipeline.stage, PipelineStage::ClosedWon, "{id}");
        assert_eq!(
            lead.billing.stripe_customer_id.as_deref(),
            Some(format!("cus_{id}").as_str())
        );
    }
    // The payer named by the session got no lead of their own.
    assert!(store
        .lead_by_email(&EmailAddress::parse("paid-as@example.com").unwrap())
        .await
        .unwrap()
        .is_none());
    table.drop_table().await;
}

#[tokio::test]
async fn subscription_state_follows_the_newest_event_whatever_the_order() {
    let table = TestTable::new().await;
    let store = &table.store;
    let webhook = webhook_handler(store, now());
    let t = now().unix_timestamp();
    let update = |id: &str, created: i64, status: &str| {
        event(
            "evt_customer.subscription.updated.json",
            id,
            created,
            json!({"status": status, "customer": "cus_sub", "id": "sub_1"}),
        )
    };
    // The update arrives before the checkout that created the subscription.
    assert_eq!(
        webhook
            .handle(signed_event(
                &update("evt_u2", t - 10, "past_due"),
                WEBHOOK_SECRET,
                now()
            ))
            .await
            .status(),
        200
    );
    let completed = event(
        "evt_checkout.session.completed.json",
        "evt_c1",
        t - 100,
        json!({"customer_email": "sub@example.com", "customer": "cus_sub", "subscription": "sub_1"}),
    );
    assert_eq!(
        webhook
            .handle(signed_event(&completed, WEBHOOK_SECRET, now()))
            .await
            .status(),
        200
    );
    // An older update after the newer one changes nothing.
    let (_, result) = response_json(
        webhook
            .handle(signed_event(
                &update("evt_u1", t - 50, "active"),
                WEBHOOK_SECRET,
                now(),
            ))
            .await,
    )
    .await;
    assert_eq!(result["effect"], "subscription_event_older_than_stored");
    let state = store
        .billing_state("cus_sub")
        .await
        .unwrap()
        .subscriptions
        .into_iter()
        .find(|s| s.subscription == "sub_1")
        .unwrap();
    assert_eq!(
        (state.status.as_str(), state.event_id.as_str()),
        ("past_due", "evt_u2")
    );
    let deleted = event(
        "evt_customer.subscription.deleted.json",
        "evt_d",
        t,
        json!({"customer": "cus_sub", "id": "sub_1"}),
    );
    assert_eq!(
        webhook
            .handle(signed_event(&deleted, WEBHOOK_SECRET, now()))
            .await
            .status(),
        200
    );
    assert_eq!(
        store
            .billing_state("cus_sub")
            .await
            .unwrap()
            .subscriptions
            .into_iter()
            .find(|s| s.subscription == "sub_1")
            .unwrap()
            .status,
        "canceled"
    );
    let lead = store
        .lead_by_email(&EmailAddress::parse("sub@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::ClosedWon);
    table.drop_table().await;
}

#[tokio::test]
async fn invoices_are_recorded_and_a_failed_payment_is_recorded_too() {
    let table = TestTable::new().await;
    let store = &table.store;
    let webhook = webhook_handler(store, now());
    let t = now().unix_timestamp();
    let failed = event(
        "evt_invoice.payment_failed.json",
        "evt_f",
        t - 60,
        json!({"customer": "cus_inv", "id": "in_1"}),
    );
    let (status, result) = response_json(
        webhook
            .handle(signed_event(&failed, WEBHOOK_SECRET, now()))
            .await,
    )
    .await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("invoice_recorded"))
    );
    assert_eq!(
        store.billing_state("cus_inv").await.unwrap().invoices[0].status,
        "payment_failed"
    );
    let paid = event(
        "evt_invoice.paid.json",
        "evt_p",
        t,
        json!({"customer": "cus_inv", "id": "in_1"}),
    );
    assert_eq!(
        webhook
            .handle(signed_event(&paid, WEBHOOK_SECRET, now()))
            .await
            .status(),
        200
    );
    let invoices = store.billing_state("cus_inv").await.unwrap().invoices;
    assert_eq!(invoices.len(), 1);
    assert_eq!(
        (
            invoices[0].status.as_str(),
            invoices[0].amount,
            invoices[0].currency.as_str()
        ),
        ("paid", 2900, "eur")
    );
    assert_eq!(
        invoices[0].subscription.as_deref(),
        Some("sub_1SkqP2B7WZ01zgkWa9XyQ3rT")
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_late_founding_payment_for_a_spot_taken_by_someone_else_is_flagged_not_a_21st_member() {
    let table = TestTable::new().await;
    let store = &table.store;
    let stripe = stripe_fake(now()).await;
    let (_, first) = response_json(
        checkout_handler(store, &stripe, now())
            .handle(json_post(
                "/billing/create-checkout",
                &json!({"email": "late@example.com", "plan_type": "founding"}),
            ))
            .await,
    )
    .await;
    assert_eq!(first["spot_number"], 1);
    // Long after the hold lapsed, someone else takes spot 1.
    let later = now() + time::Duration::hours(2);
    let stripe_later = stripe_fake(later).await;
    let (_, second) = response_json(
        checkout_handler(store, &stripe_later, later)
            .handle(json_post(
                "/billing/create-checkout",
                &json!({"email": "prompt@example.com", "plan_type": "founding"}),
            ))
            .await,
    )
    .await;
    assert_eq!(second["spot_number"], 1);
    let sent = form(&stripe.received_requests().await.unwrap()[0]);
    let paid = event(
        "evt_checkout.session.completed.json",
        "evt_late",
        later.unix_timestamp(),
        json!({
            "customer_email": "late@example.com", "customer": "cus_late",
            "metadata": {"plan_type": "founding", "founding_spot": sent["metadata[founding_spot]"], "founding_hold": sent["metadata[founding_hold]"], "lead_id": sent["metadata[lead_id]"]},
        }),
    );
    let (status, result) = response_json(
        webhook_handler(store, later)
            .handle(signed_event(&paid, WEBHOOK_SECRET, later))
            .await,
    )
    .await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("founding_payment_flagged_for_follow_up")),
        "{result}"
    );
    assert!(
        store.founding_members().await.unwrap().is_empty(),
        "no member on a spot held by someone else"
    );
    let lead = store
        .lead_by_email(&EmailAddress::parse("late@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(lead
        .billing
        .follow_up
        .unwrap()
        .contains("after its hold lapsed"));
    assert_eq!(
        lead.pipeline.stage,
        PipelineStage::ClosedWon,
        "the payment itself stands"
    );
    table.drop_table().await;
}

/// The founder item under another hold of the same e-mail: the payer's first hold (spot 3)
/// lapsed before its payment arrived, and the same e-mail checked out again meanwhile, taking
/// spot 1 under a second hold. The late payment must end decided (it used to read "still held",
/// change nothing and retry until a 503, on every one of Stripe's retries for three days): the
/// payer becomes the member of spot 3, spot 1 is given back, and the second session's payment
/// is recognised as coming from a member already (flagged, no second spot).
#[tokio::test]
async fn a_late_payment_whose_email_holds_another_spot_now_confirms_its_own_spot() {
    let table = TestTable::new().await;
    let store = &table.store;
    let stripe = stripe_fake(now()).await;
    let checkout = |email: &str| json!({"email": email, "plan_type": "founding"});
    for (email, spot) in [
        ("a@example.com", 1),
        ("b@example.com", 2),
        ("late@example.com", 3),
    ] {
        let (status, started) = response_json(
            checkout_handler(store, &stripe, now())
                .handle(json_post("/billing/create-checkout", &checkout(email)))
                .await,
        )
        .await;
        assert_eq!((status, started["spot_number"].as_i64()), (200, Some(spot)));
    }
    let first_session = form(&stripe.received_requests().await.unwrap()[2]);

    // Two hours on, every hold has lapsed; the same e-mail checks out again and takes spot 1.
    let later = now() + time::Duration::hours(2);
    let stripe_later = stripe_fake(later).await;
    // Asked about the lapsed holds' sessions first, Stripe says they were not paid.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(
            r"^/v1/checkout/sessions/cs_test_\d+$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_test_x", "object": "checkout.session", "status": "expired",
            "payment_status": "unpaid", "url": null
        })))
        .mount(&stripe_later)
        .await;
    let (_, again) = response_json(
        checkout_handler(store, &stripe_later, later)
            .handle(json_post(
                "/billing/create-checkout",
                &checkout("late@example.com"),
            ))
            .await,
    )
    .await;
    assert_eq!(again["spot_number"], 1, "{again}");
    let second_session = form(
        stripe_later
            .received_requests()
            .await
            .unwrap()
            .iter()
            .find(|r| r.method.as_str() == "POST")
            .expect("the new session"),
    );

    let paid = |id: &str, sent: &std::collections::HashMap<String, String>| {
        event(
            "evt_checkout.session.completed.json",
            id,
            later.unix_timestamp(),
            json!({
                "customer_email": "late@example.com", "customer": "cus_late",
                "metadata": {"plan_type": "founding", "founding_spot": sent["metadata[founding_spot]"], "founding_hold": sent["metadata[founding_hold]"], "lead_id": sent["metadata[lead_id]"]},
            }),
        )
    };
    let deliver = |body: Vec<u8>| async move {
        response_json(
            webhook_handler(store, later)
                .handle(signed_event(&body, WEBHOOK_SECRET, later))
                .await,
        )
        .await
    };
    let (status, result) = deliver(paid("evt_first", &first_session)).await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("founding_member_confirmed")),
        "{result}"
    );
    let members = store.founding_members().await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].spot.get(), members[0].email.as_str()),
        (3, "late@example.com")
    );
    let tally = store.founding_tally(later).await.unwrap();
    assert_eq!(
        (tally.members, tally.held, tally.remaining),
        (1, 0, 19),
        "spot 1 was given back"
    );
    // Stripe's retry of the same event: a duplicate, nothing changes.
    let (status, result) = deliver(paid("evt_first", &first_session)).await;
    assert_eq!((status, result["duplicate"].as_bool()), (200, Some(true)));

    // The second session is paid too: a member already, so no second spot; a person follows up.
    let (status, result) = deliver(paid("evt_second", &second_session)).await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("founding_payment_flagged_for_follow_up")),
        "{result}"
    );
    assert_eq!(store.founding_members().await.unwrap().len(), 1);
    let lead = store
        .lead_by_email(&EmailAddress::parse("late@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::ClosedWon);
    let follow_up = lead.billing.follow_up.unwrap_or_default();
    assert!(
        follow_up.contains("already the founding member of spot 3"),
        "{follow_up}"
    );
    table.drop_table().await;
}

/// A correctly signed event whose id DynamoDB could never store as a key (a 5,000-character
/// id, over the 2,048-byte partition key limit) used to reach the table and answer 500, which
/// Stripe retries for three days. It is refused at the edge: 400 with the reason, nothing
/// written. So are oversized customer ids, ids that are not Stripe ids, and the same for
/// Cal.com uids and Calendly URIs (their parsers' tests).
#[tokio::test]
async fn an_id_no_key_can_hold_is_a_400_and_writes_nothing() {
    let table = TestTable::new().await;
    let store = &table.store;
    let handler = webhook_handler(store, now());
    let long_id = format!("evt_{}", "x".repeat(4996));
    let cases = [
        event(
            "evt_checkout.session.completed.json",
            &long_id,
            now().unix_timestamp(),
            json!({}),
        ),
        event(
            "evt_invoice.paid.json",
            "evt_ok_1",
            now().unix_timestamp(),
            json!({"customer": format!("cus_{}", "y".repeat(600))}),
        ),
        event(
            "evt_customer.subscription.updated.json",
            "evt_ok_2",
            now().unix_timestamp(),
            json!({"id": "sub_1/../../x"}),
        ),
    ];
    for body in cases {
        let (status, result) = response_json(
            handler
                .handle(signed_event(&body, WEBHOOK_SECRET, now()))
                .await,
        )
        .await;
        assert_eq!(status, 400, "{result}");
        assert_eq!(result["error"], "bad_request", "{result}");
        assert!(
            result["reason"]
                .as_str()
                .is_some_and(|r| r.contains("bytes long") || r.contains("not a Stripe id")),
            "{result}"
        );
    }
    assert_eq!(table.item_count().await, 0, "nothing written");
    table.drop_table().await;
}

/// The portal trusts the JWT's e-mail only when the token says it is verified:
/// `email_verified` must be `true` (`"true"` as API Gateway passes claims). A token without the
/// claim (a Cognito access token has neither `email` nor `email_verified`: the app must send
/// the ID token), or with any other value, is refused before anything is read.
#[tokio::test]
async fn the_portal_needs_a_verified_email_claim() {
    let table = TestTable::new().await;
    let stripe = MockServer::start().await;
    let config = config(&stripe);
    let portal = CustomerPortal::new(
        as_function(&table.store, role::CUSTOMER_PORTAL),
        stripe_client(&config),
        config,
    );
    let request = |claims: serde_json::Value| {
        apigw_request(
            "POST",
            "/billing/customer-portal",
            &[],
            b"",
            false,
            Some(claims),
        )
    };
    for claims in [
        json!({"email": "ada@example.com", "sub": "user-1"}),
        json!({"email": "ada@example.com", "email_verified": "false", "sub": "user-1"}),
        json!({"email": "ada@example.com", "email_verified": "", "sub": "user-1"}),
        json!({"email": "ada@example.com", "email_verified": "yes", "sub": "user-1"}),
        json!({"email_verified": "true", "sub": "user-1"}),
    ] {
        let (status, body) = response_json(portal.handle(request(claims.clone())).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("unauthorized")),
            "{claims}"
        );
    }
    // Verified: the caller is looked up (no Stripe customer yet: 404, past the sign-in check).
    let (status, body) = response_json(
        portal
            .handle(request(
                json!({"email": "ada@example.com", "email_verified": "true", "sub": "user-1"}),
            ))
            .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(stripe.received_requests().await.unwrap().is_empty());
    table.drop_table().await;
}

/// Pay before you win: a completed session whose delayed payment (BECS Direct Debit) has not
/// arrived (`payment_status: unpaid`) wins nothing and confirms no spot, but keeps its founding
/// hold past the hold's usual expiry; `async_payment_succeeded` then makes the member and wins
/// the deal; for another checkout, `async_payment_failed` gives its spot back. A session whose
/// `metadata` is `null` is read as having none (it used to be refused with a 400 on every retry).
#[tokio::test]
async fn a_delayed_payment_wins_only_when_it_arrives_and_a_failed_one_frees_the_spot() {
    let table = TestTable::new().await;
    let store = &table.store;
    let stripe = stripe_fake(now()).await;
    let checkout = checkout_handler(store, &stripe, now());
    for email in ["becs@example.com", "bounced@example.com"] {
        let (status, body) = response_json(
            checkout
                .handle(json_post(
                    "/billing/create-checkout",
                    &json!({"email": email, "plan_type": "founding"}),
                ))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let sent: Vec<_> = stripe
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(form)
        .collect();
    let session = |n: usize, email: &str, status: &str| {
        let f = &sent[n];
        json!({
            "id": format!("cs_test_{}", n + 1), "customer_email": email,
            "client_reference_id": f["client_reference_id"], "customer": "cus_becs",
            "subscription": "sub_becs", "payment_status": status,
            "metadata": {"lead_id": f["metadata[lead_id]"], "plan_type": "founding",
                "founding_spot": f["metadata[founding_spot]"], "founding_hold": f["metadata[founding_hold]"],
                "hold_slot": f["metadata[hold_slot]"]},
        })
    };
    let at = now() + time::Duration::minutes(10);
    let webhook = webhook_handler(store, at);
    let deliver = |body: Vec<u8>| webhook.handle(signed_event(&body, WEBHOOK_SECRET, at));
    let becs = EmailAddress::parse("becs@example.com").unwrap();

    let unpaid = event(
        "evt_checkout.session.completed.json",
        "evt_unpaid_1",
        at.unix_timestamp(),
        session(0, "becs@example.com", "unpaid"),
    );
    let (status, result) = response_json(deliver(unpaid).await).await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("awaiting_payment_hold_kept")),
        "{result}"
    );
    let lead = store.lead_by_email(&becs).await.unwrap().unwrap();
    assert_ne!(
        lead.pipeline.stage,
        PipelineStage::ClosedWon,
        "nothing won yet"
    );
    assert!(store.founding_members().await.unwrap().is_empty());
    // Two hours on, the hold (normally 36 minutes) is still there for the payment.
    let later = now() + time::Duration::hours(2);
    assert_eq!(store.founding_tally(later).await.unwrap().held, 1);

    let succeeded = event(
        "evt_checkout.session.async_payment_succeeded.json",
        "evt_async_paid_1",
        at.unix_timestamp(),
        session(0, "becs@example.com", "paid"),
    );
    let (status, result) = response_json(deliver(succeeded).await).await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("founding_member_confirmed")),
        "{result}"
    );
    let lead = store.lead_by_email(&becs).await.unwrap().unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::ClosedWon);
    assert_eq!(store.founding_members().await.unwrap().len(), 1);

    let failed = event(
        "evt_checkout.session.async_payment_failed.json",
        "evt_async_failed_1",
        at.unix_timestamp(),
        session(1, "bounced@example.com", "unpaid"),
    );
    let (status, result) = response_json(deliver(failed).await).await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("payment_failed_hold_released")),
        "{result}"
    );
    let tally = store.founding_tally(at).await.unwrap();
    assert_eq!((tally.members, tally.held, tally.remaining), (1, 0, 19));

    let mut no_metadata: Value = serde_json::from_slice(&event(
        "evt_checkout.session.expired.json",
        "evt_null_metadata",
        at.unix_timestamp(),
        json!({"customer_email": "someone@example.com"}),
    ))
    .unwrap();
    no_metadata["data"]["object"]["metadata"] = Value::Null;
    let (status, result) =
        response_json(deliver(serde_json::to_vec(&no_metadata).unwrap()).await).await;
    assert_eq!(status, 200, "metadata: null is no metadata: {result}");
    table.drop_table().await;
}

/// One Stripe customer per lead: a paying customer who checks out again while subscribed is
/// sent to the portal (409 `already_subscribed`); once the subscription has ended, their next
/// checkout goes to Stripe with their customer (not a new one), and a payment under another
/// customer never replaces it.
#[tokio::test]
async fn a_customer_keeps_one_stripe_customer_and_is_not_charged_twice() {
    let table = TestTable::new().await;
    let store = &table.store;
    let stripe = stripe_fake(now()).await;
    let checkout = checkout_handler(store, &stripe, now());
    let standard = json!({"email": "repeat@example.com", "plan_type": "standard"});
    let start = || async {
        response_json(
            checkout
                .handle(json_post("/billing/create-checkout", &standard))
                .await,
        )
        .await
    };
    let (status, first) = start().await;
    assert_eq!(status, 200, "{first}");
    let sent = form(&stripe.received_requests().await.unwrap()[0]);
    let webhook = webhook_handler(store, now());
    let paid = |id: &str, customer: &str, subscription: &str| {
        event(
            "evt_checkout.session.completed.json",
            id,
            now().unix_timestamp(),
            json!({
                "id": "cs_test_1", "customer_email": "repeat@example.com",
                "client_reference_id": sent["client_reference_id"], "customer": customer,
                "subscription": subscription, "payment_status": "paid",
                "metadata": {"lead_id": sent["metadata[lead_id]"], "plan_type": "standard"},
            }),
        )
    };
    let deliver = |body: Vec<u8>| webhook.handle(signed_event(&body, WEBHOOK_SECRET, now()));
    let (status, result) =
        response_json(deliver(paid("evt_repeat_1", "cus_first", "sub_first")).await).await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("deal_won")),
        "{result}"
    );

    // Subscribed: no second checkout, a pointer to the portal.
    let (status, refused) = start().await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("already_subscribed")),
        "{refused}"
    );
    assert_eq!(refused["portal"], "/billing/customer-portal");
    assert_eq!(stripe.received_requests().await.unwrap().len(), 1);

    // The subscription ends; the next checkout carries the same customer.
    let ended = event(
        "evt_customer.subscription.deleted.json",
        "evt_repeat_ended",
        now().unix_timestamp(),
        json!({"id": "sub_first", "customer": "cus_first", "status": "canceled"}),
    );
    let (status, result) = response_json(deliver(ended).await).await;
    assert_eq!(status, 200, "{result}");
    // A new checkout window (the first session's record was cleared by its payment).
    let (status, again) = start().await;
    assert_eq!(status, 200, "{again}");
    let requests = stripe.received_requests().await.unwrap();
    let second = form(requests.last().unwrap());
    assert_eq!(
        second.get("customer").map(String::as_str),
        Some("cus_first")
    );
    assert!(
        !second.contains_key("customer_email"),
        "customer or customer_email, not both"
    );

    // A payment that came under another customer does not replace the lead's.
    let (status, _) =
        response_json(deliver(paid("evt_repeat_2", "cus_other", "sub_other")).await).await;
    assert_eq!(status, 200);
    let lead = store
        .lead_by_email(&EmailAddress::parse("repeat@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        lead.billing.stripe_customer_id.as_deref(),
        Some("cus_first")
    );
    table.drop_table().await;
}

/// A Checkout Session this stack did not start (a payment link: no lead or plan in its
/// metadata) is recognised: the payment is recorded and the deal won, the plan is never stored
/// as `unknown`, and the lead is flagged for a person to check which plan it was.
#[tokio::test]
async fn a_checkout_this_stack_did_not_start_is_flagged_not_stored_as_plan_unknown() {
    let table = TestTable::new().await;
    let store = &table.store;
    let foreign = event(
        "evt_checkout.session.completed.json",
        "evt_payment_link_1",
        now().unix_timestamp(),
        json!({
            "id": "cs_test_link", "customer_email": "linked@example.com",
            "client_reference_id": null, "customer": "cus_link", "subscription": "sub_link",
            "payment_status": "paid", "metadata": {}, "payment_link": "plink_1",
        }),
    );
    let (status, result) = response_json(
        webhook_handler(store, now())
            .handle(signed_event(&foreign, WEBHOOK_SECRET, now()))
            .await,
    )
    .await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("deal_won")),
        "{result}"
    );
    let lead = store
        .lead_by_email(&EmailAddress::parse("linked@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::ClosedWon);
    assert_eq!(lead.billing.plan_type, None, "never `unknown`");
    assert!(
        lead.billing
            .follow_up
            .as_deref()
            .is_some_and(|f| f.contains("did not start")),
        "{:?}",
        lead.billing.follow_up
    );
    table.drop_table().await;
}

/// A dispute opened on a payment is recorded once and alarmed (the DisputeOpened metric, an
/// error log naming the dispute and the charge); its redelivery is a duplicate.
#[tokio::test]
async fn a_dispute_is_recorded_once_and_alarmed() {
    let table = TestTable::new().await;
    let body = fixture("stripe/evt_charge.dispute.created.json");
    let at = OffsetDateTime::from_unix_timestamp(1_767_400_030).unwrap();
    let webhook = webhook_handler(&table.store, at);
    let (status, result) = response_json(
        webhook
            .handle(signed_event(&body, WEBHOOK_SECRET, at))
            .await,
    )
    .await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("dispute_recorded")),
        "{result}"
    );
    let (status, again) = response_json(
        webhook
            .handle(signed_event(&body, WEBHOOK_SECRET, at))
            .await,
    )
    .await;
    assert_eq!(
        (status, &again["duplicate"]),
        (200, &json!(true)),
        "{again}"
    );
    table.drop_table().await;
}

/// Late payments keep their spot: before a spot whose hold lapsed goes to someone else, its
/// session is looked up at Stripe (one request, only on that path). A paid one keeps its spot
/// for its late webhook, which then confirms it; an unpaid one's spot goes to the new visitor.
#[tokio::test]
async fn a_lapsed_hold_whose_session_was_paid_keeps_its_spot_for_the_late_webhook() {
    let table = TestTable::new().await;
    let store = &table.store;
    let stripe = stripe_fake(now()).await;
    for email in ["late.payer@example.com", "walked.away@example.com"] {
        let (status, body) = response_json(
            checkout_handler(store, &stripe, now())
                .handle(json_post(
                    "/billing/create-checkout",
                    &json!({"email": email, "plan_type": "founding"}),
                ))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let sent: Vec<_> = stripe
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(form)
        .collect();
    // Stripe, 40 minutes on: the first session was paid (its webhook is late), the second not.
    for (id, status, payment) in [
        ("cs_test_1", "complete", "paid"),
        ("cs_test_2", "expired", "unpaid"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/v1/checkout/sessions/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "object": "checkout.session", "status": status,
                "payment_status": payment, "url": null
            })))
            .mount(&stripe)
            .await;
    }
    let later = now() + time::Duration::minutes(40);
    let (status, newcomer) = response_json(
        checkout_handler(store, &stripe, later)
            .handle(json_post(
                "/billing/create-checkout",
                &json!({"email": "newcomer@example.com", "plan_type": "founding"}),
            ))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{newcomer}");
    assert_eq!(
        newcomer["spot_number"], 2,
        "spot 1's session was paid: not given away"
    );
    let asked: Vec<String> = stripe
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        asked,
        vec![
            "/v1/checkout/sessions/cs_test_1",
            "/v1/checkout/sessions/cs_test_2"
        ]
    );

    // The late webhook arrives: spot 1 is confirmed for its payer.
    let paid = event(
        "evt_checkout.session.completed.json",
        "evt_late_paid",
        later.unix_timestamp(),
        json!({
            "id": "cs_test_1", "customer_email": "late.payer@example.com",
            "client_reference_id": sent[0]["client_reference_id"], "customer": "cus_late",
            "subscription": "sub_late", "payment_status": "paid",
            "metadata": {"lead_id": sent[0]["metadata[lead_id]"], "plan_type": "founding",
                "founding_spot": sent[0]["metadata[founding_spot]"],
                "founding_hold": sent[0]["metadata[founding_hold]"]},
        }),
    );
    let (status, result) = response_json(
        webhook_handler(store, later + time::Duration::minutes(5))
            .handle(signed_event(
                &paid,
                WEBHOOK_SECRET,
                later + time::Duration::minutes(5),
            ))
            .await,
    )
    .await;
    assert_eq!(
        (status, result["effect"].as_str()),
        (200, Some("founding_member_confirmed")),
        "{result}"
    );
    let members = store.founding_members().await.unwrap();
    assert_eq!((members.len(), members[0].spot.get()), (1, 1));
    table.drop_table().await;
}
