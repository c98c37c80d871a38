//! cal-webhook: `X-Cal-Signature-256` over the raw body; created, cancelled, rescheduled, and
//! reschedules that await the host's confirmation (requested, then confirmed or rejected).

use futures::future::join_all;
use sales::domain::signature::sign_hex;
use sales::domain::{BookingStatus, EmailAddress, LeadSource, PipelineStage};
use sales_tests::{apigw_request, fixture, response_json, TestTable};
use serde_json::{json, Value};

use crate::{
    ada, bookings, cal_handler, history, json_fixture, lead, move_by_hand, path, CAL_SECRET, FEB10,
    FEB12,
};

const CREATED_UID: &str = "bJ7Hq2k1ZxP9mR3tV5wY8a";
const RESCHEDULED_UID: &str = "kP4sN8dQ2fG6hJ1lZ3xC5v";
/// The booking a reschedule awaiting confirmation makes of `CREATED_UID`.
const REQUESTED_UID: &str = "mW2eR4tY6uI8oP0aS1dF3g";

fn delivery(body: &[u8], signature: Option<&str>, base64: bool) -> lambda_http::Request {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("X-Cal-Webhook-Version", "2021-10-20"),
    ];
    if let Some(signature) = signature {
        headers.push(("X-Cal-Signature-256", signature));
    }
    apigw_request("POST", "/", &headers, body, base64, None)
}

/// A body signed with the test secret, as Cal.com would send it.
fn signed(body: &[u8]) -> lambda_http::Request {
    let signature = sign_hex(CAL_SECRET.as_bytes(), &[body]);
    delivery(body, Some(&signature), false)
}

/// A fixture payload for another attendee (and, optionally, other uids).
fn payload(trigger: &str, email: &str) -> Value {
    let mut value = json_fixture(&format!("cal/{trigger}.json"));
    value["payload"]["attendees"][0]["email"] = json!(email);
    value
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

async fn send(table: &TestTable, body: &[u8]) -> (u16, Value) {
    response_json(cal_handler(&table.store).handle(signed(body)).await).await
}

#[tokio::test]
async fn the_fixture_signatures_verify_and_a_booking_makes_the_lead_demo_booked() {
    let table = TestTable::new().await;
    let vectors = json_fixture("cal/signature_test_vectors.json");
    let body = fixture("cal/BOOKING_CREATED.body.json");
    let signature = vectors["files"]["BOOKING_CREATED.body.json"]
        .as_str()
        .unwrap();
    // Delivered base64-encoded, as a function URL may: the signature is over the decoded bytes.
    let (status, result) = response_json(
        cal_handler(&table.store)
            .handle(delivery(&body, Some(signature), true))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_recorded");
    assert_eq!(result["stage"], "demo_booked");

    let lead = lead(&table.store, &ada()).await;
    assert_eq!(lead.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(lead.source, LeadSource::Cal);
    assert_eq!(lead.pipeline.stage, PipelineStage::DemoBooked);
    assert_eq!(lead.pipeline.next_action.as_deref(), Some("Demo"));
    assert_eq!(lead.pipeline.next_action_date, Some(FEB10));
    let history = history(&table.store, &lead).await;
    assert_eq!(
        path(&history),
        vec![PipelineStage::Prospect, PipelineStage::DemoBooked]
    );
    assert_eq!(history[0].cause.as_str(), format!("cal:{CREATED_UID}"));
    let bookings = bookings(&table.store, &lead).await;
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0].reference.id, CREATED_UID);
    assert_eq!(bookings[0].status, BookingStatus::Scheduled);
    assert_eq!(bookings[0].start, FEB10);
    assert_eq!(bookings[0].end, FEB10 + time::Duration::minutes(30));

    // Every fixture's own signature verifies.
    for (file, signature) in vectors["files"].as_object().unwrap() {
        let body = fixture(&format!("cal/{file}"));
        let (status, result) = response_json(
            cal_handler(&table.store)
                .handle(delivery(&body, signature.as_str(), false))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{file}: {result}");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn bad_missing_or_forged_signatures_and_broken_payloads_write_nothing() {
    let table = TestTable::new().await;
    let handler = cal_handler(&table.store);
    let body = fixture("cal/BOOKING_CREATED.body.json");
    let good = sign_hex(CAL_SECRET.as_bytes(), &[&body]);
    let mut tampered = body.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    let other_secret = sign_hex(b"someone else's secret", &[&body]);
    let refusals = [
        ("missing header", delivery(&body, None, false)),
        ("empty header", delivery(&body, Some(""), false)),
        ("tampered body", delivery(&tampered, Some(&good), false)),
        ("other secret", delivery(&body, Some(&other_secret), false)),
        (
            "not hex",
            delivery(&body, Some("zz-not-a-signature"), false),
        ),
        (
            "malformed JSON",
            signed(b"{\"triggerEvent\": \"BOOKING_CREATED\", "),
        ),
        (
            "no attendees",
            signed(&bytes(&{
                let mut v = payload("BOOKING_CREATED", "ada@example.com");
                v["payload"]["attendees"] = json!([]);
                v
            })),
        ),
        (
            "bad e-mail",
            signed(&bytes(&payload("BOOKING_CREATED", "not an e-mail"))),
        ),
    ];
    for (what, request) in refusals {
        let (status, result) = response_json(handler.handle(request).await).await;
        assert_eq!(status, 400, "{what}: {result}");
        assert!(result["reason"].as_str().is_some(), "{what}: a reason");
    }
    assert_eq!(table.item_count().await, 0, "nothing written");

    // Other triggers are acknowledged and ignored.
    let (status, result) = send(&table, &fixture("cal/BOOKING_REQUESTED.body.json")).await;
    assert_eq!(status, 200);
    assert_eq!(result["ignored"], "BOOKING_REQUESTED");
    let get = apigw_request("GET", "/", &[], b"", false, None);
    assert_eq!(handler.handle(get).await.status(), 405);
    assert_eq!(table.item_count().await, 0, "nothing written");
    table.drop_table().await;
}

#[tokio::test]
async fn a_cancelled_demo_takes_the_deal_back_to_contacted() {
    let table = TestTable::new().await;
    assert_eq!(
        send(&table, &fixture("cal/BOOKING_CREATED.body.json"))
            .await
            .0,
        200
    );
    let (status, result) = send(&table, &fixture("cal/BOOKING_CANCELLED.body.json")).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_cancelled");
    assert_eq!(result["stage"], "contacted");

    let lead = lead(&table.store, &ada()).await;
    assert_eq!(lead.pipeline.stage, PipelineStage::Contacted);
    assert_eq!(
        lead.pipeline.next_action.as_deref(),
        Some("Follow up: demo cancelled")
    );
    let history = history(&table.store, &lead).await;
    assert_eq!(
        path(&history),
        vec![
            PipelineStage::Prospect,
            PipelineStage::DemoBooked,
            PipelineStage::Contacted
        ]
    );
    assert_eq!(history[1].cause.as_str(), format!("cal:{CREATED_UID}"));
    let bookings = bookings(&table.store, &lead).await;
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0].status, BookingStatus::Cancelled);
    table.drop_table().await;
}

#[tokio::test]
async fn a_reschedule_moves_the_demo_and_a_late_cancel_of_the_old_booking_changes_nothing() {
    let table = TestTable::new().await;
    send(&table, &fixture("cal/BOOKING_CREATED.body.json")).await;
    let (status, result) = send(&table, &fixture("cal/BOOKING_RESCHEDULED.body.json")).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_rescheduled");

    let after_reschedule = lead(&table.store, &ada()).await;
    assert_eq!(after_reschedule.pipeline.stage, PipelineStage::DemoBooked);
    assert_eq!(after_reschedule.pipeline.next_action_date, Some(FEB12));
    let bookings_now = bookings(&table.store, &after_reschedule).await;
    let old = bookings_now
        .iter()
        .find(|b| b.reference.id == CREATED_UID)
        .unwrap();
    let new = bookings_now
        .iter()
        .find(|b| b.reference.id == RESCHEDULED_UID)
        .unwrap();
    assert_eq!(old.status, BookingStatus::Rescheduled);
    assert_eq!(old.rescheduled_to.as_deref(), Some(RESCHEDULED_UID));
    assert_eq!(new.status, BookingStatus::Scheduled);
    assert_eq!(new.rescheduled_from.as_deref(), Some(CREATED_UID));
    assert_eq!(new.start, FEB12);

    // Cal.com's cancel of the booking that was already replaced.
    let (status, result) = send(&table, &fixture("cal/BOOKING_CANCELLED.body.json")).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_already_ended");
    let after_cancel = lead(&table.store, &ada()).await;
    assert_eq!(after_cancel.pipeline, after_reschedule.pipeline);
    assert_eq!(
        after_cancel.version, after_reschedule.version,
        "not written"
    );
    assert_eq!(bookings(&table.store, &after_cancel).await, bookings_now);
    assert_eq!(
        path(&history(&table.store, &after_cancel).await),
        vec![PipelineStage::Prospect, PipelineStage::DemoBooked]
    );
    table.drop_table().await;
}

#[tokio::test]
async fn bookings_never_drag_a_later_deal_back() {
    let table = TestTable::new().await;
    for (n, stage) in [
        PipelineStage::ProposalSent,
        PipelineStage::Negotiation,
        PipelineStage::ClosedWon,
        PipelineStage::ClosedLost,
    ]
    .into_iter()
    .enumerate()
    {
        let email = EmailAddress::parse(&format!("late{n}@example.com")).unwrap();
        let before = move_by_hand(&table.store, &email, stage).await;
        let history_before = history(&table.store, &before).await;
        for trigger in [
            "BOOKING_CREATED",
            "BOOKING_RESCHEDULED",
            "BOOKING_CANCELLED",
        ] {
            let mut value = payload(trigger, email.as_str());
            // Each deal's own bookings.
            for field in ["uid", "rescheduleUid"] {
                if let Some(uid) = value["payload"][field].as_str() {
                    value["payload"][field] = json!(format!("{uid}-{n}"));
                }
            }
            let (status, result) = send(&table, &bytes(&value)).await;
            assert_eq!(status, 200, "{stage} {trigger}: {result}");
            assert_eq!(result["stage"], stage.as_str(), "{trigger}");
        }
        let after = lead(&table.store, &email).await;
        assert_eq!(
            after.pipeline, before.pipeline,
            "{stage}: stage and next action kept"
        );
        assert_eq!(history(&table.store, &after).await, history_before);
        let recorded = bookings(&table.store, &after).await;
        assert_eq!(
            recorded.len(),
            2,
            "{stage}: the bookings are still recorded"
        );
        assert!(recorded
            .iter()
            .any(|b| b.status == BookingStatus::Scheduled && b.start == FEB12));
    }
    table.drop_table().await;
}

sales_tests::on_both_servers!(a_redelivery_and_concurrent_duplicates_have_one_effect);
async fn a_redelivery_and_concurrent_duplicates_have_one_effect(table: TestTable) {
    let body = fixture("cal/BOOKING_CREATED.body.json");
    let handler = cal_handler(&table.store);
    let responses = join_all(
        (0..12).map(|_| async { response_json(handler.handle(signed(&body)).await).await }),
    )
    .await;
    let applied = responses
        .iter()
        .filter(|(status, r)| *status == 200 && r["effect"].is_string())
        .count();
    assert_eq!(applied, 1, "{responses:?}");
    for (status, result) in &responses {
        // The others: already done, or (while the winner works) 409 so that Cal.com retries.
        assert!(
            (*status == 200 && (result["effect"].is_string() || result["duplicate"] == true))
                || *status == 409,
            "{status} {result}"
        );
    }
    let (status, result) = send(&table, &body).await;
    assert_eq!((status, &result["duplicate"]), (200, &json!(true)));

    let lead = lead(&table.store, &ada()).await;
    assert_eq!(history(&table.store, &lead).await.len(), 1);
    assert_eq!(bookings(&table.store, &lead).await.len(), 1);
    table.drop_table().await;
}

sales_tests::on_both_servers!(two_first_bookings_of_a_new_attendee_at_once_make_one_lead);
/// A new attendee's lead is created in the booking's own transaction; two different bookings
/// of one new attendee at the same time still make one lead, both bookings, one stage change,
/// and one lead in the summary.
async fn two_first_bookings_of_a_new_attendee_at_once_make_one_lead(table: TestTable) {
    let email = EmailAddress::parse("twice@example.com").unwrap();
    let bodies: Vec<Vec<u8>> = ["uid-first", "uid-second"]
        .iter()
        .map(|uid| {
            let mut value = payload("BOOKING_CREATED", email.as_str());
            value["payload"]["uid"] = json!(uid);
            bytes(&value)
        })
        .collect();
    let handler = cal_handler(&table.store);
    let responses = join_all(
        bodies
            .iter()
            .map(|body| async { response_json(handler.handle(signed(body)).await).await }),
    )
    .await;
    for (status, result) in &responses {
        assert_eq!(*status, 200, "{result}");
        assert_eq!(result["stage"], "demo_booked", "{result}");
    }
    assert_eq!(responses[0].1["lead_id"], responses[1].1["lead_id"]);

    let lead = lead(&table.store, &email).await;
    assert_eq!(lead.pipeline.stage, PipelineStage::DemoBooked);
    assert_eq!(lead.source, LeadSource::Cal);
    let mut ids: Vec<String> = bookings(&table.store, &lead)
        .await
        .into_iter()
        .map(|b| b.reference.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["uid-first", "uid-second"]);
    assert_eq!(
        path(&history(&table.store, &lead).await),
        vec![PipelineStage::Prospect, PipelineStage::DemoBooked]
    );
    let summary = table.store.pipeline_summary().await.unwrap();
    let count = |stage| summary.stage(stage).map_or(0, |line| line.count);
    assert_eq!(count(PipelineStage::DemoBooked), 1);
    assert_eq!(count(PipelineStage::Prospect), 0);
    table.drop_table().await;
}

#[tokio::test]
async fn dynamodb_out_of_reach_is_a_5xx_so_that_cal_com_retries() {
    let table = TestTable::new().await;
    // Nothing listens on the discard port: every request fails to connect.
    let unreachable = sales::SalesStore::new(
        sales_tests::dynamodb_client_at("http://127.0.0.1:9").await,
        table.name.clone(),
    );
    let handler = sales::handlers::BookingWebhook::cal(
        unreachable,
        vec![sales::lambda::config::Secret::new(CAL_SECRET)],
        sales::lambda::clock::Clock::fixed(crate::NOW),
    );
    let body = fixture("cal/BOOKING_CREATED.body.json");
    let (status, result) = response_json(handler.handle(signed(&body)).await).await;
    assert_eq!(status, 503, "{result}");
    // The retry, once the table is there, goes through.
    let (status, result) = send(&table, &body).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["stage"], "demo_booked");
    table.drop_table().await;
}

/// The samples in `events/` for `cargo lambda invoke` do what `events/README.md` says.
#[tokio::test]
async fn the_sample_events_for_cargo_lambda_invoke_behave_as_documented() {
    let table = TestTable::new().await;
    let sample = |name: &str| {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let cal = cal_handler(&table.store);
    for (name, status, stage) in [
        ("cal-webhook/unsigned.json", 400, None),
        ("cal-webhook/booking-created.json", 200, Some("demo_booked")),
        (
            "cal-webhook/booking-rescheduled.json",
            200,
            Some("demo_booked"),
        ),
        (
            "cal-webhook/booking-cancelled.json",
            200,
            Some("demo_booked"),
        ),
    ] {
        let (got, result) = response_json(cal.handle(sample(name)).await).await;
        assert_eq!(got, status, "{name}: {result}");
        if let Some(stage) = stage {
            assert_eq!(result["stage"], stage, "{name}");
        }
    }
    let calendly = crate::calendly_handler(&table.store, time::OffsetDateTime::now_utc());
    for name in [
        "calendly-webhook/unsigned.json",
        "calendly-webhook/invitee-created-stale-signature.json",
    ] {
        let (got, result) = response_json(calendly.handle(sample(name)).await).await;
        assert_eq!(got, 400, "{name}: {result}");
    }
    table.drop_table().await;
}

/// Cal.com signs no timestamp, so a captured body stays validly signed; once its ledger record
/// may have expired (30 days) it would no longer be a duplicate. A delivery whose `createdAt` is
/// older than the ledger's lifetime is refused with the reason, as is one without `createdAt`
/// or dated in the future; one a day younger than the limit goes through. Nothing is written.
#[tokio::test]
async fn a_delivery_older_than_the_ledger_keeps_records_is_refused_as_a_possible_replay() {
    use sales::handlers::booking_webhook::{CAL_CLOCK_SKEW, CAL_MAX_DELIVERY_AGE};
    use sales::store::LEDGER_RETENTION;
    use time::Duration;
    assert!(CAL_MAX_DELIVERY_AGE < LEDGER_RETENTION);
    let table = TestTable::new().await;
    let at = |when: time::OffsetDateTime| {
        let mut body = payload("BOOKING_CREATED", "replay@example.com");
        body["createdAt"] = json!(sales::domain::time_format::to_sortable(when));
        body
    };
    let old = at(crate::NOW - LEDGER_RETENTION);
    let mut undated = payload("BOOKING_CREATED", "replay@example.com");
    undated.as_object_mut().unwrap().remove("createdAt");
    let future = at(crate::NOW + CAL_CLOCK_SKEW + Duration::minutes(1));
    for (body, reason) in [
        (old, "older than 30 days"),
        (undated, "createdAt is missing"),
        (future, "in the future"),
    ] {
        let (status, result) = send(&table, &bytes(&body)).await;
        assert_eq!(status, 400, "{result}");
        assert!(
            result["reason"].as_str().unwrap().contains(reason),
            "{reason}: {result}"
        );
    }
    assert_eq!(
        table.item_count().await,
        0,
        "a refused delivery writes nothing"
    );
    // Inside the window it is an ordinary delivery.
    let recent = at(crate::NOW - LEDGER_RETENTION + Duration::days(1));
    let (status, result) = send(&table, &bytes(&recent)).await;
    assert_eq!(
        (status, &result["stage"]),
        (200, &json!("demo_booked")),
        "{result}"
    );
    // An ignored trigger is answered as before, dated or not.
    let mut requested = payload("BOOKING_REQUESTED", "replay@example.com");
    requested.as_object_mut().unwrap().remove("createdAt");
    let (status, result) = send(&table, &bytes(&requested)).await;
    assert_eq!(
        (status, &result["ignored"]),
        (200, &json!("BOOKING_REQUESTED")),
        "{result}"
    );
    table.drop_table().await;
}

/// The bookings of a lead, by provider id.
async fn bookings_by_id(table: &TestTable, email: &EmailAddress) -> Vec<sales::domain::Booking> {
    let mut found = bookings(&table.store, &lead(&table.store, email).await).await;
    found.sort_by(|a, b| a.reference.id.cmp(&b.reference.id));
    found
}

/// An event type that requires confirmation: Cal.com announces the reschedule as
/// `BOOKING_REQUESTED` with `rescheduleUid` (and has cancelled the old booking by then); the
/// host's confirmation is a plain `BOOKING_CREATED` for the new uid. The old booking ends, the
/// deal is handed over and never passes through `contacted`, as with a direct reschedule.
#[tokio::test]
async fn a_reschedule_awaiting_confirmation_ends_the_old_booking_and_hands_the_deal_over() {
    let table = TestTable::new().await;
    let vectors = json_fixture("cal/signature_test_vectors.json");
    let signature = |file: &str| vectors["files"][file].as_str().unwrap().to_owned();
    send(&table, &fixture("cal/BOOKING_CREATED.body.json")).await;

    // The request, signed as Cal.com signs it (the test vector); another body's signature fails.
    let requested = fixture("cal/BOOKING_REQUESTED_RESCHEDULE.body.json");
    let wrong = signature("BOOKING_REQUESTED.body.json");
    let (status, _) = response_json(
        cal_handler(&table.store)
            .handle(delivery(&requested, Some(&wrong), false))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    let right = signature("BOOKING_REQUESTED_RESCHEDULE.body.json");
    let (status, result) = response_json(
        cal_handler(&table.store)
            .handle(delivery(&requested, Some(&right), false))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_reschedule_requested");
    assert_eq!(result["booking"], REQUESTED_UID);
    assert_eq!(result["stage"], "demo_booked");
    let waiting = lead(&table.store, &ada()).await;
    assert_eq!(waiting.pipeline.next_action.as_deref(), Some("Demo"));
    assert_eq!(waiting.pipeline.next_action_date, Some(FEB12));
    let now = bookings_by_id(&table, &ada()).await;
    assert_eq!(now[0].reference.id, CREATED_UID);
    assert_eq!(now[0].status, BookingStatus::Rescheduled);
    assert_eq!(now[0].rescheduled_to.as_deref(), Some(REQUESTED_UID));
    assert_eq!(now[1].reference.id, REQUESTED_UID);
    assert_eq!(now[1].status, BookingStatus::Requested);
    assert_eq!(now[1].rescheduled_from.as_deref(), Some(CREATED_UID));

    // The host confirms: a plain BOOKING_CREATED that names the old booking nowhere.
    let (status, result) = send(&table, &fixture("cal/BOOKING_CREATED_CONFIRMED.body.json")).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_rescheduled");
    assert_eq!(result["stage"], "demo_booked");
    let confirmed = lead(&table.store, &ada()).await;
    assert_eq!(confirmed.pipeline.stage, PipelineStage::DemoBooked);
    assert_eq!(confirmed.pipeline.next_action.as_deref(), Some("Demo"));
    assert_eq!(confirmed.pipeline.next_action_date, Some(FEB12));
    let now = bookings_by_id(&table, &ada()).await;
    assert_eq!(now.len(), 2);
    assert_eq!(now[0].status, BookingStatus::Rescheduled);
    assert_eq!(now[0].rescheduled_to.as_deref(), Some(REQUESTED_UID));
    assert_eq!(now[1].status, BookingStatus::Scheduled);
    assert_eq!(now[1].rescheduled_from.as_deref(), Some(CREATED_UID));
    assert_eq!(now[1].start, FEB12);
    let history = history(&table.store, &confirmed).await;
    assert_eq!(
        path(&history),
        vec![PipelineStage::Prospect, PipelineStage::DemoBooked],
        "never through contacted"
    );
    assert_eq!(history[0].cause.as_str(), format!("cal:{CREATED_UID}"));

    // A cancel of the old booking after all that changes nothing.
    let (status, result) = send(&table, &fixture("cal/BOOKING_CANCELLED.body.json")).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_already_ended");
    assert_eq!(
        lead(&table.store, &ada()).await.pipeline,
        confirmed.pipeline
    );
    table.drop_table().await;
}

/// The same request delivered again is a duplicate; a confirmation that arrives before its
/// request (a retried request) ends in the same state as the two in order.
#[tokio::test]
async fn a_requested_reschedule_redelivered_or_arriving_after_its_confirmation_has_one_effect() {
    let table = TestTable::new().await;
    let in_order = EmailAddress::parse("in-order@example.com").unwrap();
    let reversed = EmailAddress::parse("reversed@example.com").unwrap();
    let body = |trigger: &str, email: &EmailAddress| bytes(&payload(trigger, email.as_str()));

    send(&table, &body("BOOKING_CREATED", &in_order)).await;
    let request = body("BOOKING_REQUESTED_RESCHEDULE", &in_order);
    let (status, first) = send(&table, &request).await;
    assert_eq!(
        (status, &first["effect"]),
        (200, &json!("booking_reschedule_requested"))
    );
    let before = lead(&table.store, &in_order).await;
    let (status, again) = send(&table, &request).await;
    assert_eq!(
        (status, &again["duplicate"]),
        (200, &json!(true)),
        "{again}"
    );
    assert_eq!(
        lead(&table.store, &in_order).await.version,
        before.version,
        "not written"
    );
    let (status, result) = send(&table, &body("BOOKING_CREATED_CONFIRMED", &in_order)).await;
    assert_eq!(
        (status, &result["effect"]),
        (200, &json!("booking_rescheduled"))
    );

    send(&table, &body("BOOKING_CREATED", &reversed)).await;
    let (status, result) = send(&table, &body("BOOKING_CREATED_CONFIRMED", &reversed)).await;
    assert_eq!(
        (status, &result["effect"]),
        (200, &json!("booking_recorded")),
        "{result}"
    );
    let (status, result) = send(&table, &body("BOOKING_REQUESTED_RESCHEDULE", &reversed)).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_already_recorded");

    let (a, b) = (
        lead(&table.store, &in_order).await,
        lead(&table.store, &reversed).await,
    );
    assert_eq!(a.pipeline.stage, b.pipeline.stage);
    assert_eq!(a.pipeline.next_action, b.pipeline.next_action);
    assert_eq!(b.pipeline.next_action_date, Some(FEB12));
    assert_eq!(
        bookings_by_id(&table, &in_order).await,
        bookings_by_id(&table, &reversed).await
    );
    assert_eq!(
        path(&history(&table.store, &a).await),
        path(&history(&table.store, &b).await)
    );
    table.drop_table().await;
}

/// Rejected by the host (or cancelled before it is confirmed), the requested booking ends like a
/// cancelled demo. Cal.com cancelled the old booking when the reschedule was requested and does
/// not bring it back, so neither does the pipeline: the deal goes back to `contacted`.
#[tokio::test]
async fn a_rejected_reschedule_request_is_a_cancelled_demo_in_either_order() {
    let table = TestTable::new().await;
    for (email, order) in [
        (
            "rejected@example.com",
            ["BOOKING_REQUESTED_RESCHEDULE", "BOOKING_REJECTED"],
        ),
        (
            "rejected-first@example.com",
            ["BOOKING_REJECTED", "BOOKING_REQUESTED_RESCHEDULE"],
        ),
    ] {
        let email = EmailAddress::parse(email).unwrap();
        send(&table, &bytes(&payload("BOOKING_CREATED", email.as_str()))).await;
        for trigger in order {
            let (status, result) = send(&table, &bytes(&payload(trigger, email.as_str()))).await;
            assert_eq!(status, 200, "{trigger}: {result}");
        }
        let rejected = lead(&table.store, &email).await;
        assert_eq!(
            rejected.pipeline.stage,
            PipelineStage::Contacted,
            "{order:?}"
        );
        assert_eq!(
            rejected.pipeline.next_action.as_deref(),
            Some("Follow up: demo cancelled")
        );
        assert_eq!(
            path(&history(&table.store, &rejected).await),
            vec![
                PipelineStage::Prospect,
                PipelineStage::DemoBooked,
                PipelineStage::Contacted
            ]
        );
        let now = bookings_by_id(&table, &email).await;
        assert_eq!(now[0].status, BookingStatus::Rescheduled, "not revived");
        assert_eq!(now[0].rescheduled_to.as_deref(), Some(REQUESTED_UID));
        assert_eq!(now[1].status, BookingStatus::Cancelled);
    }
    table.drop_table().await;
}
