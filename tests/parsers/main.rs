//! Property tests of every parser of outside input: whatever bytes arrive, each returns a value
//! or a typed error, and never panics. Inputs are arbitrary bytes and strings, and the real
//! fixtures mutated (`sales_tests::mutate`: fields removed, nulled, 5,000-character strings,
//! 200-deep nesting, wrong types, truncation). No server is needed.

use proptest::prelude::*;
use sales::domain::signature::{sign_hex, timestamped_header, verify_body_hex, verify_timestamped};
use sales::domain::{parse_deal_edit, EmailAddress};
use sales::handlers::pipeline::deal_query;
use sales::providers::stripe_events::{EventKind, StripeEvent};
use sales::providers::{cal, calendly, ParsedWebhook};
use sales::store::Cursor;
use sales_tests::{fixture, mutate};
use serde_json::Value;

fn json_fixture(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).expect("fixture JSON")
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signatures_verify_or_refuse(header in ".{0,300}", body in proptest::collection::vec(any::<u8>(), 0..512),
                                  secret in proptest::collection::vec(any::<u8>(), 1..64), now in any::<i64>()) {
        let _ = verify_timestamped(Some(&header), &body, &[&secret], now, 300);
        let _ = verify_body_hex(Some(&header), &body, &[&secret]);
    }

    #[test]
    fn what_is_signed_verifies(body in proptest::collection::vec(any::<u8>(), 0..512),
                               secret in proptest::collection::vec(any::<u8>(), 1..64),
                               at in 0i64..4_000_000_000) {
        let header = timestamped_header(&secret, &body, at);
        prop_assert_eq!(verify_timestamped(Some(&header), &body, &[&secret], at, 300), Ok(at));
        let hex = sign_hex(&secret, &[&body]);
        prop_assert!(verify_body_hex(Some(&hex), &body, &[&secret]).is_ok());
    }

    #[test]
    fn stripe_events_parse_or_refuse(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = StripeEvent::parse(&bytes);
    }

    #[test]
    fn mutated_stripe_events_parse_or_refuse(which in 0usize..sales_tests::STRIPE_EVENT_FIXTURES.len(), seed in any::<u64>()) {
        let name = sales_tests::STRIPE_EVENT_FIXTURES[which];
        let bytes = mutate::bytes(&json_fixture(&format!("stripe/{name}")), seed);
        if let Ok(event) = StripeEvent::parse(&bytes) {
            // Whatever parses carries only ids a key can hold.
            prop_assert!(event.id.len() <= sales::domain::limits::MAX_ID_BYTES);
            if let EventKind::InvoicePaid(invoice) | EventKind::InvoicePaymentFailed(invoice) = &event.kind {
                prop_assert!(invoice.id.len() <= sales::domain::limits::MAX_ID_BYTES);
            }
        }
    }

    #[test]
    fn mutated_booking_webhooks_parse_or_refuse(which in 0usize..9, seed in any::<u64>()) {
        let (cal_side, name) = [
            (true, "cal/BOOKING_CREATED.body.json"),
            (true, "cal/BOOKING_RESCHEDULED.body.json"),
            (true, "cal/BOOKING_CANCELLED.body.json"),
            (true, "cal/BOOKING_REQUESTED_RESCHEDULE.body.json"),
            (true, "cal/BOOKING_CREATED_CONFIRMED.body.json"),
            (true, "cal/BOOKING_REJECTED.body.json"),
            (false, "calendly/invitee.created.body.json"),
            (false, "calendly/invitee.canceled.body.json"),
            (false, "calendly/invitee.created.rescheduled.body.json"),
        ][which];
        let bytes = mutate::bytes(&json_fixture(name), seed);
        let parsed = if cal_side { cal::parse(&bytes) } else { calendly::parse(&bytes) };
        if let Ok(ParsedWebhook::Notice(notice)) = parsed {
            prop_assert!(notice.event.slot().id.len() <= sales::domain::limits::MAX_ID_BYTES);
        }
    }

    #[test]
    fn arbitrary_booking_bodies_parse_or_refuse(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = cal::parse(&bytes);
        let _ = calendly::parse(&bytes);
    }

    #[test]
    fn e_mails_parse_or_refuse(raw in ".{0,400}") {
        if let Ok(email) = EmailAddress::parse(&raw) {
            prop_assert!(email.as_str().len() <= 254);
            prop_assert_eq!(email.as_str(), email.as_str().trim().to_lowercase());
        }
    }

    #[test]
    fn cursors_parse_or_refuse(raw in ".{0,3000}") {
        let _ = Cursor::parse(&raw);
    }

    #[test]
    fn deal_edits_parse_or_refuse(seed in any::<u64>()) {
        let mut edit = serde_json::json!({
            "stage": "demo_done", "next_action": "Call", "next_action_date": "2026-12-01",
            "assigned_to": "ana@agency.example", "deal_value_aud": "1500.50", "probability": 40,
            "version": 3
        });
        mutate::json(&mut edit, seed);
        if let Value::Object(fields) = &edit {
            let _ = parse_deal_edit(fields, &["version"]);
        }
    }

    #[test]
    fn deal_queries_parse_or_refuse(pairs in proptest::collection::vec(("[a-z_]{0,12}", ".{0,80}"), 0..6)) {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let _ = deal_query(&pairs);
    }
}
