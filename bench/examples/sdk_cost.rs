//! How much CPU one DynamoDB request costs inside the function: the AWS SDK against a local
//! server that answers at once (keep-alive), compared with the bare HTTP round trip.
//!
//!     cargo run --release -p sales-bench --example sdk_cost

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BODY: &str = r#"{"Item":{"pk":{"S":"SUMMARY"},"sk":{"S":"SUMMARY"}}}"#;

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
        "{name:<48} p50 {:>7.1} µs   p99 {:>7.1} µs",
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
}
