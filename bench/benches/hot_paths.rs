//! The pure hot paths every invocation of a webhook or the checkout runs, without I/O:
//! signature verification, event parsing, request validation. Fixtures from tests/fixtures.
//!
//! `cargo bench -p sales-bench --bench hot_paths` (bench/run.sh runs it and the harness puts
//! the medians in bench/RESULTS.md).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sales::domain::signature::{
    sign_hex, timestamped_header, verify_body_hex, verify_timestamped, CALENDLY_TOLERANCE_SECONDS,
    STRIPE_TOLERANCE_SECONDS,
};
use sales::domain::{parse_deal_edit, EmailAddress};
use sales::providers::stripe_events::StripeEvent;
use sales::providers::{cal, calendly};
use serde_json::{json, Value};

fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn vectors(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).expect("signature vectors are JSON")
}

fn signatures(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature");

    // Stripe: the vector from Stripe's library, over the exact fixture bytes.
    let stripe = vectors("stripe/signature_test_vector.json");
    let body = fixture("stripe/evt_checkout.session.completed.json");
    let secret = stripe["secret"].as_str().unwrap_or_default().to_owned();
    let header = stripe["header_single"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let signed_at = stripe["timestamp"].as_i64().unwrap_or_default();
    let secrets: [&[u8]; 1] = [secret.as_bytes()];
    assert!(verify_timestamped(
        Some(&header),
        &body,
        &secrets,
        signed_at,
        STRIPE_TOLERANCE_SECONDS
    )
    .is_ok());
    group.bench_function(
        "stripe verify_timestamped (checkout.session.completed)",
        |b| {
            b.iter(|| {
                verify_timestamped(
                    black_box(Some(header.as_str())),
                    black_box(&body),
                    &secrets,
                    signed_at,
                    STRIPE_TOLERANCE_SECONDS,
                )
            })
        },
    );
    // During a rotation the current secret fails first and the previous one matches.
    let rotation: [&[u8]; 2] = [b"whsec_current_secret_after_rotation", secret.as_bytes()];
    group.bench_function("stripe verify_timestamped, previous secret", |b| {
        b.iter(|| {
            verify_timestamped(
                black_box(Some(header.as_str())),
                black_box(&body),
                &rotation,
                signed_at,
                STRIPE_TOLERANCE_SECONDS,
            )
        })
    });

    // Cal.com: hex HMAC of the body alone.
    let cal_vectors = vectors("cal/signature_test_vectors.json");
    let cal_secret = cal_vectors["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cal_body = fixture("cal/BOOKING_CREATED.body.json");
    let cal_header = cal_vectors["files"]["BOOKING_CREATED.body.json"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cal_secrets: [&[u8]; 1] = [cal_secret.as_bytes()];
    assert!(verify_body_hex(Some(&cal_header), &cal_body, &cal_secrets).is_ok());
    group.bench_function("cal verify_body_hex (BOOKING_CREATED)", |b| {
        b.iter(|| {
            verify_body_hex(
                black_box(Some(cal_header.as_str())),
                black_box(&cal_body),
                &cal_secrets,
            )
        })
    });

    // Calendly: t=…,v1=… over "{t}.{body}", 3-minute tolerance.
    let calendly_vectors = vectors("calendly/signature_test_vectors.json");
    let key = calendly_vectors["signing_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let calendly_body = fixture("calendly/invitee.created.body.json");
    let calendly_header = calendly_vectors["files"]["invitee.created.body.json"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let calendly_at = calendly_vectors["timestamp"].as_i64().unwrap_or_default();
    let keys: [&[u8]; 1] = [key.as_bytes()];
    assert!(verify_timestamped(
        Some(&calendly_header),
        &calendly_body,
        &keys,
        calendly_at,
        CALENDLY_TOLERANCE_SECONDS
    )
    .is_ok());
    group.bench_function("calendly verify_timestamped (invitee.created)", |b| {
        b.iter(|| {
            verify_timestamped(
                black_box(Some(calendly_header.as_str())),
                black_box(&calendly_body),
                &keys,
                calendly_at,
                CALENDLY_TOLERANCE_SECONDS,
            )
        })
    });

    // Signing (what the tests and the local stand-ins do), for scale.
    group.bench_function("stripe timestamped_header (sign)", |b| {
        b.iter(|| timestamped_header(secret.as_bytes(), black_box(&body), signed_at))
    });
    group.bench_function("cal sign_hex (sign)", |b| {
        b.iter(|| sign_hex(cal_secret.as_bytes(), &[black_box(&cal_body)]))
    });
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for name in [
        "evt_checkout.session.completed.json",
        "evt_checkout.session.expired.json",
        "evt_invoice.paid.json",
        "evt_customer.subscription.updated.json",
    ] {
        let body = fixture(&format!("stripe/{name}"));
        assert!(StripeEvent::parse(&body).is_ok(), "{name}");
        group.bench_function(format!("StripeEvent::parse {name}"), |b| {
            b.iter(|| StripeEvent::parse(black_box(&body)))
        });
    }
    for name in ["BOOKING_CREATED", "BOOKING_RESCHEDULED"] {
        let body = fixture(&format!("cal/{name}.body.json"));
        assert!(cal::parse(&body).is_ok(), "{name}");
        group.bench_function(format!("cal::parse {name}"), |b| {
            b.iter(|| cal::parse(black_box(&body)))
        });
    }
    for name in ["invitee.created", "invitee.canceled"] {
        let body = fixture(&format!("calendly/{name}.body.json"));
        assert!(calendly::parse(&body).is_ok(), "{name}");
        group.bench_function(format!("calendly::parse {name}"), |b| {
            b.iter(|| calendly::parse(black_box(&body)))
        });
    }
    group.finish();
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    group.bench_function("EmailAddress::parse", |b| {
        b.iter(|| EmailAddress::parse(black_box("  Ada.Lovelace+Checkout@Example.COM ")))
    });
    let edit = json!({
        "version": 7,
        "stage": "proposal_sent",
        "next_action": "Send the contract",
        "next_action_date": "2026-12-01",
        "assigned_to": "sam@agency.example",
        "deal_value_aud": "4999.95",
        "probability": 60
    });
    let fields = edit.as_object().cloned().unwrap_or_default();
    assert!(parse_deal_edit(&fields, &["version"]).is_ok());
    group.bench_function("parse_deal_edit (every field)", |b| {
        b.iter(|| parse_deal_edit(black_box(&fields), &["version"]))
    });
    // The create-checkout body as the handler reads it: JSON, then the e-mail.
    let body = br#"{"email":"ada@example.com","plan_type":"standard","company_name":"Acme Ltd"}"#;
    group.bench_function("checkout body: JSON + EmailAddress::parse", |b| {
        b.iter(|| {
            let value: Value = serde_json::from_slice(black_box(body)).unwrap_or(Value::Null);
            EmailAddress::parse(value["email"].as_str().unwrap_or_default())
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = signatures, parsing, validation
}
criterion_main!(hot_paths);
