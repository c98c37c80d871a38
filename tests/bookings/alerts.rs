//! The booking webhooks' alerts to the team, published as each function (its IAM policy
//! applies) to the team alerts topic of the local server: one line per demo booked and per
//! demo cancelled; none for a duplicate delivery, none for a reschedule.

use sales::domain::signature::{sign_hex, timestamped_header};
use sales_tests::{
    apigw_request, fixture, response_json, role, team_alerts_as, team_alerts_sent, unique_email,
    TestTable,
};
use serde_json::{json, Value};

use crate::{cal_handler, calendly_handler, json_fixture, CALENDLY_KEY, CAL_SECRET, NOW};

async fn send_cal(table: &TestTable, trigger: &str, email: &str) -> Value {
    let mut value = json_fixture(&format!("cal/{trigger}.json"));
    value["payload"]["attendees"][0]["email"] = json!(email);
    let body = serde_json::to_vec(&value).unwrap();
    let signature = sign_hex(CAL_SECRET.as_bytes(), &[&body]);
    let request = apigw_request(
        "POST",
        "/",
        &[
            ("Content-Type", "application/json"),
            ("X-Cal-Signature-256", &signature),
        ],
        &body,
        false,
        None,
    );
    let handler =
        cal_handler(&table.store).with_alerts(team_alerts_as(role::CAL_WEBHOOK, None).await);
    let (status, result) = response_json(handler.handle(request).await).await;
    assert_eq!(status, 200, "{result}");
    result
}

async fn send_calendly(table: &TestTable, name: &str, email: &str) -> Value {
    let body = String::from_utf8(fixture(&format!("calendly/{name}.body.json")))
        .unwrap()
        .replace("ada@example.com", email)
        .into_bytes();
    let signature = timestamped_header(CALENDLY_KEY.as_bytes(), &body, NOW.unix_timestamp());
    let request = apigw_request(
        "POST",
        "/",
        &[
            ("Content-Type", "application/json"),
            ("Calendly-Webhook-Signature", &signature),
        ],
        &body,
        false,
        None,
    );
    let handler = calendly_handler(&table.store, NOW)
        .with_alerts(team_alerts_as(role::CALENDLY_WEBHOOK, None).await);
    let (status, result) = response_json(handler.handle(request).await).await;
    assert_eq!(status, 200, "{result}");
    result
}

#[tokio::test]
async fn a_cal_booking_and_its_cancellation_alert_the_team_once_each() {
    let table = TestTable::new().await;
    let email = unique_email("cal");
    assert_eq!(
        send_cal(&table, "BOOKING_CREATED", &email).await["effect"],
        "booking_recorded"
    );
    assert_eq!(
        send_cal(&table, "BOOKING_CREATED", &email).await["duplicate"],
        true
    );
    assert_eq!(
        team_alerts_sent(&email).await,
        [format!(
            "Demo booked: {email} on Cal.com for Tue 10 Feb 14:00 UTC"
        )]
    );
    assert_eq!(
        send_cal(&table, "BOOKING_CANCELLED", &email).await["effect"],
        "booking_cancelled"
    );
    assert_eq!(
        send_cal(&table, "BOOKING_CANCELLED", &email).await["duplicate"],
        true
    );
    assert_eq!(
        team_alerts_sent(&email).await,
        [
            format!("Demo booked: {email} on Cal.com for Tue 10 Feb 14:00 UTC"),
            format!("Demo cancelled: {email} on Cal.com, was Tue 10 Feb 14:00 UTC"),
        ]
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_calendly_booking_alerts_once_a_reschedule_not_at_all_and_a_cancel_once() {
    let table = TestTable::new().await;
    let email = unique_email("calendly");
    let booked = format!("Demo booked: {email} (Acme Ltd) on Calendly for Tue 10 Feb 14:00 UTC");
    assert_eq!(
        send_calendly(&table, "invitee.created", &email).await["effect"],
        "booking_recorded"
    );
    assert_eq!(
        send_calendly(&table, "invitee.created", &email).await["duplicate"],
        true
    );
    // Both halves of a reschedule: the demo moves, and the team is not told it was cancelled.
    for half in [
        "invitee.canceled.rescheduled",
        "invitee.created.rescheduled",
    ] {
        let result = send_calendly(&table, half, &email).await;
        assert_ne!(result["effect"], "booking_cancelled", "{result}");
    }
    assert_eq!(team_alerts_sent(&email).await, [booked]);

    let other = unique_email("calendly-cancel");
    send_calendly(&table, "invitee.created", &other).await;
    assert_eq!(
        send_calendly(&table, "invitee.canceled", &other).await["effect"],
        "booking_cancelled"
    );
    send_calendly(&table, "invitee.canceled", &other).await;
    assert_eq!(
        team_alerts_sent(&other).await,
        [
            format!("Demo booked: {other} (Acme Ltd) on Calendly for Tue 10 Feb 14:00 UTC"),
            format!("Demo cancelled: {other} (Acme Ltd) on Calendly, was Tue 10 Feb 14:00 UTC"),
        ]
    );
    table.drop_table().await;
}
