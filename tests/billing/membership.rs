//! A founding membership after it was paid (issue 17, point 4): its subscription ends → lapsed,
//! the same spot kept for the member for 30 days and free after; a full refund or a lost dispute
//! → revoked at once. Through the Stripe webhook's handler, with the create-checkout handler
//! starting the checkouts (so every session carries what our checkout sent to Stripe), against
//! the local DynamoDB server.

use sales::domain::{EmailAddress, SpotStatusKind};
use sales::SalesStore;
use sales_tests::{fixture, response_json, TestTable};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use crate::checkout::{form, stripe_fake};
use crate::{checkout_handler, json_post, now, signed_event, webhook_handler, WEBHOOK_SECRET};

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

/// A fixture event with its object patched.
fn event(fixture_name: &str, id: &str, created: i64, patch: Value) -> Vec<u8> {
    let mut event: Value =
        serde_json::from_slice(&fixture(&format!("stripe/{fixture_name}"))).unwrap();
    event["id"] = json!(id);
    event["created"] = json!(created);
    if let (Some(object), Some(patch)) =
        (event["data"]["object"].as_object_mut(), patch.as_object())
    {
        object.extend(patch.clone());
    }
    serde_json::to_vec(&event).unwrap()
}

/// Delivers a signed event at `at`: (status, effect).
async fn deliver(store: &SalesStore, body: Vec<u8>, at: OffsetDateTime) -> (u16, String) {
    let webhook = webhook_handler(store, at);
    let (status, result) = response_json(
        webhook
            .handle(signed_event(&body, WEBHOOK_SECRET, at))
            .await,
    )
    .await;
    let effect = match result["duplicate"].as_bool() {
        Some(true) => "duplicate".to_owned(),
        _ => result["effect"].as_str().unwrap_or_default().to_owned(),
    };
    assert_eq!(status, 200, "{result}");
    (status, effect)
}

/// A founding checkout by `who` at `at`, then its paid session's webhook: the spot paid for.
async fn pay_founding(
    store: &SalesStore,
    who: &str,
    customer: &str,
    subscription: &str,
    at: OffsetDateTime,
) -> u64 {
    // Stripe as of `at` (it checks the session's expiry against its own clock).
    let stripe = stripe_fake(at).await;
    let checkout = checkout_handler(store, &stripe, at);
    let (status, body) = response_json(
        checkout
            .handle(json_post(
                "/billing/create-checkout",
                &json!({"email": who, "plan_type": "founding"}),
            ))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let spot = body["spot_number"].as_u64().unwrap();
    let sent = form(stripe.received_requests().await.unwrap().last().unwrap());
    let paid = event(
        "evt_checkout.session.completed.json",
        &format!("evt_paid_{subscription}"),
        at.unix_timestamp(),
        json!({
            "id": body["session_id"], "customer_email": who,
            "client_reference_id": sent["client_reference_id"], "customer": customer,
            "subscription": subscription, "payment_status": "paid",
            "metadata": {"lead_id": sent["metadata[lead_id]"], "plan_type": "founding",
                "founding_spot": sent["metadata[founding_spot]"], "founding_hold": sent["metadata[founding_hold]"],
                "hold_slot": sent["metadata[hold_slot]"]},
        }),
    );
    assert_eq!(
        deliver(store, paid, at).await.1,
        "founding_member_confirmed",
        "{who} pays for spot {spot}"
    );
    spot
}

async fn state_of(
    store: &SalesStore,
    spot: u64,
    at: OffsetDateTime,
) -> (SpotStatusKind, Option<String>) {
    let statuses = store.founding_spot_statuses(at).await.unwrap();
    let status = &statuses[spot as usize - 1];
    (
        status.state,
        status.email.as_ref().map(|e| e.as_str().to_owned()),
    )
}

/// Cancel → the member's spot is kept for them 30 days after the subscription ended: no one
/// else's checkout takes it, theirs gets it back (the same spot, a member again); a late event
/// of the old subscription does not lapse the renewed membership; a lapse that runs out frees
/// the spot for anyone.
#[tokio::test]
async fn a_cancelled_membership_keeps_its_spot_for_30_days_and_frees_it_after() {
    let table = TestTable::new().await;
    let store = &table.store;
    let member = pay_founding(store, "kim@example.com", "cus_kim", "sub_kim_1", now()).await;
    let other = pay_founding(store, "lee@example.com", "cus_lee", "sub_lee", now()).await;
    assert_eq!((member, other), (1, 2));

    // Kim's subscription ends 10 days later.
    let ended_at = now() + Duration::days(10);
    let deleted = event(
        "evt_customer.subscription.deleted.json",
        "evt_kim_ended",
        ended_at.unix_timestamp(),
        json!({"id": "sub_kim_1", "customer": "cus_kim", "status": "canceled", "ended_at": ended_at.unix_timestamp()}),
    );
    let at = ended_at + Duration::minutes(1);
    assert_eq!(
        deliver(store, deleted.clone(), at).await.1,
        "founding_membership_lapsed"
    );
    // A redelivery changes nothing more.
    assert_eq!(deliver(store, deleted, at).await.1, "duplicate");
    let until = ended_at + Duration::days(30);
    let statuses = store.founding_spot_statuses(at).await.unwrap();
    assert_eq!(statuses[0].state, SpotStatusKind::Lapsed);
    assert_eq!(statuses[0].until, Some(until));
    assert_eq!(statuses[1].state, SpotStatusKind::Member);
    let tally = store.founding_tally(at).await.unwrap();
    assert_eq!((tally.members, tally.reserved, tally.remaining), (1, 1, 18));
    let kim = store
        .lead_by_email(&email("kim@example.com"))
        .await
        .unwrap()
        .unwrap();
    let detail = store.lead_detail(&kim.id).await.unwrap().unwrap();
    assert_eq!(detail.membership.len(), 1, "{:?}", detail.membership);
    assert_eq!(detail.membership[0].change.as_str(), "lapsed");
    assert_eq!(detail.membership[0].until, Some(until));
    assert_eq!(detail.membership[0].cause.as_str(), "stripe:evt_kim_ended");

    // A stranger's checkout does not take spot 1 (the lowest number, but kept for Kim).
    let day_20 = now() + Duration::days(20);
    let stranger = pay_founding(store, "sam@example.com", "cus_sam", "sub_sam", day_20).await;
    assert_eq!(stranger, 3);

    // Kim comes back within the 30 days: the same spot, a member again.
    let again = pay_founding(store, "kim@example.com", "cus_kim", "sub_kim_2", day_20).await;
    assert_eq!(again, 1, "the same spot");
    assert_eq!(state_of(store, 1, day_20).await.0, SpotStatusKind::Member);
    let tally = store.founding_tally(day_20).await.unwrap();
    assert_eq!((tally.members, tally.reserved), (3, 0));

    // The old subscription's event, arriving again under another id (a replay), does not lapse
    // the membership Kim renewed.
    let late = event(
        "evt_customer.subscription.deleted.json",
        "evt_kim_ended_replayed",
        ended_at.unix_timestamp(),
        json!({"id": "sub_kim_1", "customer": "cus_kim", "status": "canceled", "ended_at": ended_at.unix_timestamp()}),
    );
    assert_ne!(
        deliver(store, late, day_20).await.1,
        "founding_membership_lapsed"
    );
    assert_eq!(state_of(store, 1, day_20).await.0, SpotStatusKind::Member);

    // Lee's subscription ends; nobody comes back within 30 days: the spot is free after.
    let lee_ended = now() + Duration::days(21);
    let deleted = event(
        "evt_customer.subscription.deleted.json",
        "evt_lee_ended",
        lee_ended.unix_timestamp(),
        json!({"id": "sub_lee", "customer": "cus_lee", "status": "canceled", "ended_at": lee_ended.unix_timestamp()}),
    );
    assert_eq!(
        deliver(store, deleted, lee_ended).await.1,
        "founding_membership_lapsed"
    );
    let just_before = lee_ended + Duration::days(30) - Duration::seconds(1);
    assert_eq!(
        state_of(store, 2, just_before).await,
        (SpotStatusKind::Lapsed, Some("lee@example.com".into()))
    );
    let after = lee_ended + Duration::days(30);
    assert_eq!(state_of(store, 2, after).await.0, SpotStatusKind::Free);
    let newcomer = pay_founding(store, "new@example.com", "cus_new", "sub_new", after).await;
    assert_eq!(
        newcomer, 2,
        "the lapse ran out: the spot went back to the pool"
    );
    table.drop_table().await;
}

/// A full refund or a lost dispute revokes the membership at once: the spot is free for the
/// next checkout. A partial refund, a won dispute, or the same event again change nothing; a
/// lost dispute on a charge of no known customer is answered (and flagged), not retried.
#[tokio::test]
async fn a_full_refund_or_a_lost_dispute_revokes_the_membership_at_once() {
    let table = TestTable::new().await;
    let store = &table.store;
    let at = now() + Duration::days(3);
    let ana = pay_founding(store, "ana@example.com", "cus_ana", "sub_ana", now()).await;
    let bo = pay_founding(store, "bo@example.com", "cus_bo", "sub_bo", now()).await;

    // Ana's charge refunded in part: still a member.
    let partial = event(
        "evt_charge.refunded.json",
        "evt_ana_partial",
        at.unix_timestamp(),
        json!({"id": "ch_ana", "customer": "cus_ana", "amount_refunded": 1000, "refunded": false}),
    );
    assert_eq!(
        deliver(store, partial, at).await.1,
        "partial_refund_recorded"
    );
    assert_eq!(state_of(store, ana, at).await.0, SpotStatusKind::Member);
    // In full: revoked, the spot free at once.
    let full = event(
        "evt_charge.refunded.json",
        "evt_ana_refunded",
        at.unix_timestamp(),
        json!({"id": "ch_ana", "customer": "cus_ana"}),
    );
    assert_eq!(
        deliver(store, full.clone(), at).await.1,
        "founding_membership_revoked"
    );
    assert_eq!(deliver(store, full, at).await.1, "duplicate", "once");
    assert_eq!(state_of(store, ana, at).await.0, SpotStatusKind::Free);
    let lead = store
        .lead_by_email(&email("ana@example.com"))
        .await
        .unwrap()
        .unwrap();
    let detail = store.lead_detail(&lead.id).await.unwrap().unwrap();
    assert_eq!(detail.membership.len(), 1);
    assert_eq!(
        (
            detail.membership[0].change.as_str(),
            detail.membership[0].reason.as_str()
        ),
        ("revoked", "full refund")
    );

    // Bo's charge is recorded when it succeeds (a dispute names only the charge).
    let charged = event(
        "evt_charge.succeeded.json",
        "evt_bo_charge",
        now().unix_timestamp(),
        json!({"id": "ch_bo", "customer": "cus_bo"}),
    );
    assert_eq!(deliver(store, charged, at).await.1, "charge_recorded");
    let closed = |id: &str, status: &str, charge: &str| {
        event(
            "evt_charge.dispute.closed.json",
            id,
            at.unix_timestamp(),
            json!({"id": format!("du_{id}"), "charge": charge, "status": status}),
        )
    };
    assert_eq!(
        deliver(store, closed("evt_bo_won", "won", "ch_bo"), at)
            .await
            .1,
        "dispute_closed"
    );
    assert_eq!(state_of(store, bo, at).await.0, SpotStatusKind::Member);
    assert_eq!(
        deliver(store, closed("evt_unknown_lost", "lost", "ch_nobody"), at)
            .await
            .1,
        "dispute_lost"
    );
    assert_eq!(state_of(store, bo, at).await.0, SpotStatusKind::Member);
    assert_eq!(
        deliver(store, closed("evt_bo_lost", "lost", "ch_bo"), at)
            .await
            .1,
        "founding_membership_revoked"
    );
    assert_eq!(state_of(store, bo, at).await.0, SpotStatusKind::Free);
    let tally = store.founding_tally(at).await.unwrap();
    assert_eq!((tally.members, tally.remaining), (0, 20));

    // The freed spot goes to the next checkout.
    let next = pay_founding(store, "cy@example.com", "cus_cy", "sub_cy", at).await;
    assert_eq!(next, ana.min(bo));
    table.drop_table().await;
}

/// A member whose subscription ended and who is refunded in full: the spot kept for them is
/// given back at once, not after 30 days.
#[tokio::test]
async fn a_refund_after_a_lapse_ends_the_lapse_at_once() {
    let table = TestTable::new().await;
    let store = &table.store;
    let spot = pay_founding(store, "dee@example.com", "cus_dee", "sub_dee", now()).await;
    let at = now() + Duration::days(40);
    let deleted = event(
        "evt_customer.subscription.deleted.json",
        "evt_dee_ended",
        at.unix_timestamp(),
        json!({"id": "sub_dee", "customer": "cus_dee", "status": "canceled", "ended_at": at.unix_timestamp()}),
    );
    assert_eq!(
        deliver(store, deleted, at).await.1,
        "founding_membership_lapsed"
    );
    assert_eq!(state_of(store, spot, at).await.0, SpotStatusKind::Lapsed);
    let refunded = event(
        "evt_charge.refunded.json",
        "evt_dee_refunded",
        at.unix_timestamp(),
        json!({"id": "ch_dee", "customer": "cus_dee"}),
    );
    assert_eq!(
        deliver(store, refunded, at).await.1,
        "founding_membership_revoked"
    );
    assert_eq!(state_of(store, spot, at).await.0, SpotStatusKind::Free);
    let lead = store
        .lead_by_email(&email("dee@example.com"))
        .await
        .unwrap()
        .unwrap();
    let changes: Vec<&str> = store
        .lead_detail(&lead.id)
        .await
        .unwrap()
        .unwrap()
        .membership
        .iter()
        .map(|entry| entry.change.as_str())
        .collect();
    assert_eq!(changes, ["lapsed", "revoked"]);
    table.drop_table().await;
}

/// The new event types' fixtures, delivered signed, are accepted; the same bodies with one byte
/// changed, or signed with another secret, are refused with a 400 and change nothing.
#[tokio::test]
async fn the_lifecycle_events_are_accepted_signed_and_refused_tampered() {
    let table = TestTable::new().await;
    let store = &table.store;
    let webhook = webhook_handler(store, now());
    for name in [
        "evt_charge.succeeded.json",
        "evt_charge.refunded.json",
        "evt_charge.dispute.closed.json",
    ] {
        let body = fixture(&format!("stripe/{name}"));
        let mut tampered = body.clone();
        let at = tampered.iter().position(|b| *b == b'2').unwrap();
        tampered[at] = b'3';
        let (status, result) = response_json(
            webhook
                .handle(signed_event(&body, "whsec_someone_else", now()))
                .await,
        )
        .await;
        assert_eq!(status, 400, "{name} under another secret: {result}");
        let mut forged = signed_event(&body, WEBHOOK_SECRET, now());
        *forged.body_mut() = lambda_http::Body::from(tampered);
        let (status, result) = response_json(webhook.handle(forged).await).await;
        assert_eq!(status, 400, "{name} tampered: {result}");
        let (status, result) = response_json(
            webhook
                .handle(signed_event(&body, WEBHOOK_SECRET, now()))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{name}: {result}");
        assert_ne!(
            result["ignored"],
            json!(true),
            "{name} is handled: {result}"
        );
        assert!(result.get("ignored").is_none(), "{name}: {result}");
    }
    // The charge's customer was recorded by the signed charge.succeeded alone.
    assert_eq!(
        store
            .charge_customer("ch_1SkqP3B7WZ01zgkWq7Rt2YuI")
            .await
            .unwrap()
            .as_deref(),
        Some("cus_TbQz3Xk2LmN8pA")
    );
    table.drop_table().await;
}
