//! Launch day under DynamoDB's rules: LAUNCH_VISITORS (500) visitors, each from its own address,
//! start founding checkouts within one second on an empty table, with transaction conflicts and
//! DynamoDB's latency on. Exactly 20 holds on spots 1..20; everyone else a 409 with a waitlist
//! position of their own; no 5xx. `make bench` runs it and keeps the figures it prints.

use std::time::{Duration, Instant};

use futures::future::join_all;
use sales::handlers::{Clock, CreateCheckout};
use sales::providers::stripe::StripeClient;
use sales_tests::{
    apigw_request, as_function, from_address, response_json, role, rule_counts, TestTable,
};
use serde_json::json;

use crate::{config, stripe};

fn visitors() -> usize {
    std::env::var("LAUNCH_VISITORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn launch_day_visitors_from_distinct_addresses_get_20_holds_and_a_waitlist_without_5xx() {
    let n = visitors();
    let table = TestTable::under_aws_rules().await;
    let stripe = stripe().await;
    let config = config(&stripe);
    let client = StripeClient::new(
        config.stripe_api_base.clone(),
        config.stripe_secret_key.clone().unwrap(),
    )
    .unwrap();
    let checkout = CreateCheckout::new(
        as_function(&table.store, role::CREATE_CHECKOUT),
        client,
        config,
        Clock::system(),
    );
    let checkout = &checkout;
    let started = Instant::now();
    let answers = join_all((0..n).map(|i| async move {
        // Arrivals spread evenly over one second.
        tokio::time::sleep(Duration::from_micros((i as u64 * 1_000_000) / n as u64)).await;
        let body = json!({
            "email": format!("visitor{i}@example.com"),
            "plan_type": "founding",
            "company_name": format!("Visitor {i} Pty Ltd"),
        });
        let request = from_address(
            apigw_request(
                "POST",
                "/billing/create-checkout",
                &[("content-type", "application/json")],
                body.to_string().as_bytes(),
                false,
                None,
            ),
            &format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256),
        );
        let sent = Instant::now();
        let (status, body) = response_json(checkout.handle(request).await).await;
        (status, body, sent.elapsed())
    }))
    .await;
    let wall = started.elapsed();

    let mut spots = Vec::new();
    let mut positions = Vec::new();
    let mut server_errors = Vec::new();
    let mut times: Vec<Duration> = Vec::new();
    for (status, body, took) in &answers {
        times.push(*took);
        match status {
            200 => spots.push(body["spot_number"].as_u64().expect("a spot")),
            409 if body["error"] == "founding_full" => {
                positions.push(body["waitlist_position"].as_u64().expect("a position"))
            }
            s if *s >= 500 => server_errors.push(format!("{s} {body}")),
            other => panic!("unexpected answer {other}: {body}"),
        }
    }
    times.sort_unstable();
    let counts = rule_counts(&table.name).await;
    let retries =
        counts["conflicts"].as_u64().unwrap_or(0) + counts["throttled"].as_u64().unwrap_or(0);
    println!(
        "launch: {n} visitors in {:.2} s: {} holds, {} waitlisted, {} 5xx; response p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; \
         {} DynamoDB requests ({:.1} per visitor), {} transactions, {} conflicts ({:.2} retries per visitor); conflicts most on {}",
        wall.as_secs_f64(),
        spots.len(),
        positions.len(),
        server_errors.len(),
        percentile(&times, 0.50).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
        times.last().map_or(0.0, |t| t.as_secs_f64() * 1000.0),
        counts["requests"],
        counts["requests"].as_f64().unwrap_or(0.0) / n as f64,
        counts["transactions"],
        counts["conflicts"],
        retries as f64 / n as f64,
        counts["hot_items"],
    );
    assert!(server_errors.is_empty(), "5xx: {server_errors:?}");
    spots.sort_unstable();
    assert_eq!(
        spots,
        (1..=20.min(n as u64)).collect::<Vec<_>>(),
        "each spot once"
    );
    positions.sort_unstable();
    assert_eq!(
        positions,
        (1..=(n as u64).saturating_sub(20)).collect::<Vec<_>>(),
        "a distinct waitlist position for everyone else"
    );
    // The summary the sales team reads is exact: every visitor is a lead in `new`.
    let summary = table.store.pipeline_summary().await.unwrap();
    assert_eq!(
        summary.stages.iter().map(|s| s.count).sum::<i64>(),
        n as i64,
        "{summary:?}"
    );
    table.drop_table().await;
}
