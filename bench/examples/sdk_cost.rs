//! How much CPU one DynamoDB request costs inside the function: the AWS SDK against a local
//! server that answers at once (keep-alive), compared with the bare HTTP round trip; and one
//! whole handler (the pipeline summary: event → Request, route, GetItem, JSON answer) in
//! process, without a Runtime API, proxies or other processes in between.
//!
//!     cargo run --release -p sales-bench --example sdk_cost

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[allow(dead_code)]
#[path = "../src/events.rs"]
mod events;
use tokio::net::TcpListener;

/// Every answer: no item found, every write accepted.
const BODY: &str = "{}";

async fn serve(listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        stream.set_nodelay(true).ok();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut have = 0;
            loop {
                let Ok(n) = stream.read(&mut buf[have..]).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                have += n;
                let text = String::from_utf8_lossy(&buf[..have]).to_string();
                let Some(end) = text.find("\r\n\r\n") else {
                    continue;
                };
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if have < end + 4 + length {
                    continue;
                }
                have = 0;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nx-amzn-requestid: r\r\n\r\n{BODY}",
                    BODY.len()
                );
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    println!(
        "{name:<78} p50 {:>7.1} µs   p99 {:>7.1} µs",
        at(0.5),
        at(0.99)
    );
}

#[tokio::main]
async fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener));
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_REGION", "ap-southeast-2");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let get = || {
        client
            .get_item()
            .table_name("t")
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("SUMMARY".into()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("SUMMARY".into()),
            )
            .consistent_read(true)
            .send()
    };
    for _ in 0..200 {
        get().await.unwrap();
    }
    let mut samples = Vec::new();
    for _ in 0..3000 {
        let t = Instant::now();
        get().await.unwrap();
        samples.push(t.elapsed());
    }
    report("aws-sdk-dynamodb GetItem (round trip)", samples);

    // The bare round trip: the same bytes over one kept-alive connection.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut buf = vec![0u8; 4096];
    let mut samples = Vec::new();
    for i in 0..3200 {
        let t = Instant::now();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut got = 0;
        while !String::from_utf8_lossy(&buf[..got]).ends_with('}') {
            got += stream.read(&mut buf[got..]).await.unwrap();
        }
        if i >= 200 {
            samples.push(t.elapsed());
        }
    }
    report("bare HTTP/1.1 round trip (same server)", samples);

    // Whole handlers, in process, on the same instant server (it answers `{}` to everything:
    // no item found, every write accepted): from the event JSON to the response.
    let store = sales::SalesStore::new(client.clone(), "t");
    let clock = sales::lambda::clock::Clock::system;
    let summary = sales::handlers::pipeline::PipelineApi::new(store.clone(), clock());
    let event = events::HttpRequest::new("GET", "/pipeline/summary")
        .iam("arn:aws:iam::123456789012:user/bench-sales-rep")
        .event();
    time_handler("pipeline summary (GetItem)", &event, |r| summary.handle(r)).await;

    let secret = "bench-cal-secret";
    let cal = sales::handlers::BookingWebhook::cal(
        store.clone(),
        vec![sales::lambda::config::Secret::new(secret)],
        clock(),
    );
    let mut dated: serde_json::Value =
        serde_json::from_slice(&fixture("cal/BOOKING_CREATED.json")).expect("JSON");
    dated["createdAt"] = serde_json::Value::String(sales::domain::time_format::to_sortable(
        time::OffsetDateTime::now_utc(),
    ));
    let body = serde_json::to_vec(&dated).expect("JSON");
    let signature = sales::domain::signature::sign_hex(secret.as_bytes(), &[&body]);
    let event = events::HttpRequest::webhook(&body)
        .header("x-cal-signature-256", &signature)
        .event();
    time_handler(
        "cal-webhook BOOKING_CREATED, new lead (GetItem, TransactWriteItems)",
        &event,
        |r| cal.handle(r),
    )
    .await;

    let secret = "whsec_bench";
    let stripe = sales::handlers::StripeWebhook::new(
        store.clone(),
        vec![sales::lambda::config::Secret::new(secret)],
        clock(),
    );
    let body = fixture("stripe/evt_invoice.paid.json");
    let signature = sales::domain::signature::timestamped_header(
        secret.as_bytes(),
        &body,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    );
    let event = events::HttpRequest::webhook(&body)
        .header("stripe-signature", &signature)
        .event();
    time_handler(
        "stripe-webhook invoice.paid (UpdateItem, PutItem, TransactWriteItems)",
        &event,
        |r| stripe.handle(r),
    )
    .await;
}

fn fixture(path: &str) -> Vec<u8> {
    let full = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// One handler over the same event 3,000 times (after 200 to warm up): event JSON → Request →
/// handler → response, as the runtime would call it, without the Runtime API.
async fn time_handler<F, Fut>(name: &str, event: &[u8], handle: F)
where
    F: Fn(lambda_http::Request) -> Fut,
    Fut: std::future::Future<Output = sales::lambda::http::HttpResponse>,
{
    let event = std::str::from_utf8(event).unwrap();
    let mut samples = Vec::new();
    for i in 0..3200 {
        let t = Instant::now();
        let request = lambda_http::request::from_str(event).unwrap();
        let response = handle(request).await;
        let elapsed = t.elapsed();
        let status = response.status();
        assert_eq!(
            status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(response.body().as_ref())
        );
        if i >= 200 {
            samples.push(elapsed);
        }
    }
    report(&format!("handler: {name}"), samples);
}
