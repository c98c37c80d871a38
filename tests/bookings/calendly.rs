//! calendly-webhook: `Calendly-Webhook-Signature` (`t=…,v1=…`, 3-minute tolerance); created,
//! cancelled, and reschedules whose halves arrive in either order.

use futures::future::join_all;
use sales::domain::signature::timestamped_header;
use sales::domain::{BookingStatus, LeadSource, PipelineStage};
use sales_tests::{apigw_request, fixture, response_json, TestTable};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::{
    ada, bookings, calendly_handler, history, json_fixture, lead, path, CALENDLY_KEY, FEB10, FEB12,
    NOW,
};

const OLD: &str = "https://api.calendly.com/scheduled_events/5f443a67-564e-4e90-a900-b0e92c02ec25/invitees/9cbca8f8-c422-48fb-8fd7-60a8d1bc5c6e";
const NEW: &str = "https://api.calendly.com/scheduled_events/8a1c2d3e-4f50-4a6b-9c7d-8e9f0a1b2c3d/invitees/1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b";

fn delivery(body: &[u8], signature: Option<&str>) -> lambda_http::Request {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(signature) = signature {
        headers.push(("Calendly-Webhook-Signature", signature));
    }
    apigw_request("POST", "/", &headers, body, false, None)
}

/// A fixture body, exactly as signed in the vectors.
fn body(name: &str) -> Vec<u8> {
    fixture(&format!("calendly/{name}.body.json"))
}

/// Sends a body signed now with the test key.
async fn send(table: &TestTable, body: &[u8]) -> (u16, Value) {
    let signature = timestamped_header(CALENDLY_KEY.as_bytes(), body, NOW.unix_timestamp());
    response_json(
        calendly_handler(&table.store, NOW)
            .handle(delivery(body, Some(&signature)))
            .await,
    )
    .await
}

#[tokio::test]
async fn the_fixture_signatures_verify_and_an_invitee_books_a_demo() {
    let table = TestTable::new().await;
    let vectors = json_fixture("calendly/signature_test_vectors.json");
    let signed_at =
        OffsetDateTime::from_unix_timestamp(vectors["timestamp"].as_i64().unwrap()).unwrap();
    assert_eq!(signed_at, NOW);
    let handler = calendly_handler(&table.store, signed_at + Duration::seconds(30));
    let header = vectors["files"]["invitee.created.body.json"].as_str();
    let (status, result) = response_json(
        handler
            .handle(delivery(&body("invitee.created"), header))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_recorded");

    let lead = lead(&table.store, &ada()).await;
    assert_eq!(lead.source, LeadSource::Calendly);
    assert_eq!(lead.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(lead.company.as_deref(), Some("Acme Ltd"));
    assert_eq!(lead.pipeline.stage, PipelineStage::DemoBooked);
    assert_eq!(lead.pipeline.next_action_date, Some(FEB10));
    let history = history(&table.store, &lead).await;
    assert_eq!(history[0].cause.as_str(), format!("calendly:{OLD}"));
    let bookings = bookings(&table.store, &lead).await;
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0].reference.id, OLD);

    for (file, header) in vectors["files"].as_object().unwrap() {
        let body = fixture(&format!("calendly/{file}"));
        let (status, result) =
            response_json(handler.handle(delivery(&body, header.as_str())).await).await;
        assert_eq!(status, 200, "{file}: {result}");
    }
    table.drop_table().await;
}

#[tokio::test]
async fn stale_forged_or_missing_signatures_and_broken_payloads_write_nothing() {
    let table = TestTable::new().await;
    let body = body("invitee.created");
    let signed_at = NOW.unix_timestamp();
    let good = timestamped_header(CALENDLY_KEY.as_bytes(), &body, signed_at);
    let cases: Vec<(&str, OffsetDateTime, Vec<u8>, Option<String>)> = vec![
        ("missing header", NOW, body.clone(), None),
        (
            "signed 181 s ago",
            NOW + Duration::seconds(181),
            body.clone(),
            Some(good.clone()),
        ),
        (
            "signed 181 s ahead",
            NOW - Duration::seconds(181),
            body.clone(),
            Some(good.clone()),
        ),
        (
            "other key",
            NOW,
            body.clone(),
            Some(timestamped_header(b"another key", &body, signed_at)),
        ),
        ("tampered body", NOW, body.replace_ada(), Some(good.clone())),
        ("garbage header", NOW, body.clone(), Some("v1=abc".into())),
        (
            "malformed JSON",
            NOW,
            b"{\"event\":".to_vec(),
            Some(timestamped_header(
                CALENDLY_KEY.as_bytes(),
                b"{\"event\":",
                signed_at,
            )),
        ),
    ];
    for (what, at, body, header) in cases {
        let (status, result) = response_json(
            calendly_handler(&table.store, at)
                .handle(delivery(&body, header.as_deref()))
                .await,
        )
        .await;
        assert_eq!(status, 400, "{what}: {result}");
    }
    assert_eq!(table.item_count().await, 0, "nothing written");
    // Within the tolerance it is accepted: the refusals above were for the reason named.
    let (status, result) = response_json(
        calendly_handler(&table.store, NOW + Duration::seconds(179))
            .handle(delivery(&body, Some(&good)))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_recorded");
    table.drop_table().await;
}

trait ReplaceAda {
    fn replace_ada(&self) -> Vec<u8>;
}

impl ReplaceAda for Vec<u8> {
    /// The same body for someone else: what a forger would send with a captured signature.
    fn replace_ada(&self) -> Vec<u8> {
        String::from_utf8(self.clone())
            .unwrap()
            .replace("ada@example.com", "eve@example.com")
            .into_bytes()
    }
}

#[tokio::test]
async fn a_plain_cancel_takes_the_deal_back_to_contacted() {
    let table = TestTable::new().await;
    send(&table, &body("invitee.created")).await;
    let (status, result) = send(&table, &body("invitee.canceled")).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["effect"], "booking_cancelled");
    let lead = lead(&table.store, &ada()).await;
    assert_eq!(lead.pipeline.stage, PipelineStage::Contacted);
    assert_eq!(
        path(&history(&table.store, &lead).await),
        vec![
            PipelineStage::Prospect,
            PipelineStage::DemoBooked,
            PipelineStage::Contacted
        ]
    );
    assert_eq!(
        bookings(&table.store, &lead).await[0].status,
        BookingStatus::Cancelled
    );
    table.drop_table().await;
}

/// After any delivery order of a reschedule: one rescheduled booking, its successor live, the
/// deal at `demo_booked` on the new date, and it never went through `contacted`.
async fn assert_rescheduled(table: &TestTable) {
    let lead = lead(&table.store, &ada()).await;
    assert_eq!(lead.pipeline.stage, PipelineStage::DemoBooked);
    assert_eq!(lead.pipeline.next_action.as_deref(), Some("Demo"));
    assert_eq!(lead.pipeline.next_action_date, Some(FEB12));
    assert_eq!(
        path(&history(&table.store, &lead).await),
        vec![PipelineStage::Prospect, PipelineStage::DemoBooked]
    );
    let bookings = bookings(&table.store, &lead).await;
    assert_eq!(bookings.len(), 2, "{bookings:?}");
    let old = bookings.iter().find(|b| b.reference.id == OLD).unwrap();
    let new = bookings.iter().find(|b| b.reference.id == NEW).unwrap();
    assert_eq!(old.status, BookingStatus::Rescheduled);
    assert_eq!(old.rescheduled_to.as_deref(), Some(NEW));
    assert_eq!(new.status, BookingStatus::Scheduled);
    assert_eq!(new.rescheduled_from.as_deref(), Some(OLD));
    assert_eq!(new.start, FEB12);
    let holder = table
        .store
        .lead_bookings(&lead.id)
        .await
        .unwrap()
        .unwrap()
        .holder;
    assert_eq!(holder.map(|h| h.id), Some(NEW.to_owned()));
}

#[tokio::test]
async fn a_reschedule_ends_the_same_whichever_half_arrives_first() {
    for order in [
        [
            "invitee.canceled.rescheduled",
            "invitee.created.rescheduled",
        ],
        [
            "invitee.created.rescheduled",
            "invitee.canceled.rescheduled",
        ],
    ] {
        let table = TestTable::new().await;
        send(&table, &body("invitee.created")).await;
        for name in order {
            let (status, result) = send(&table, &body(name)).await;
            assert_eq!(status, 200, "{name}: {result}");
            assert_eq!(result["stage"], "demo_booked", "{order:?} {name}");
        }
        assert_rescheduled(&table).await;
        table.drop_table().await;
    }
}

#[tokio::test]
async fn both_halves_of_a_reschedule_at_the_same_moment() {
    let table = TestTable::new().await;
    send(&table, &body("invitee.created")).await;
    let halves = [
        body("invitee.canceled.rescheduled"),
        body("invitee.created.rescheduled"),
    ];
    let results = join_all(halves.iter().map(|b| send(&table, b))).await;
    for (status, result) in &results {
        assert_eq!(*status, 200, "{result}");
    }
    assert_rescheduled(&table).await;
    table.drop_table().await;
}

sales_tests::on_both_servers!(concurrent_duplicate_deliveries_have_one_effect);
async fn concurrent_duplicate_deliveries_have_one_effect(table: TestTable) {
    let created = body("invitee.created");
    let responses = join_all((0..12).map(|_| send(&table, &created))).await;
    let applied = responses
        .iter()
        .filter(|(status, r)| *status == 200 && r["effect"].is_string())
        .count();
    assert_eq!(applied, 1, "{responses:?}");
    assert!(responses
        .iter()
        .all(|(status, r)| *status == 409 || (*status == 200 && r["received"] == true)));
    let (status, result) = send(&table, &created).await;
    assert_eq!((status, result["duplicate"].as_bool()), (200, Some(true)));
    let lead = lead(&table.store, &ada()).await;
    assert_eq!(history(&table.store, &lead).await.len(), 1);
    assert_eq!(bookings(&table.store, &lead).await.len(), 1);
    table.drop_table().await;
}
