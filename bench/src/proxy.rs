//! A counting HTTP/1.1 proxy in front of the local DynamoDB server or the Stripe stand-in.
//!
//! The functions are pointed at the proxy (`AWS_ENDPOINT_URL_DYNAMODB`, `STRIPE_API_BASE`); it
//! forwards each request's exact bytes to the real server (a new connection per request; the
//! function's own connection is kept alive, as DynamoDB's and Stripe's are) and records, for the invocation in flight, the operation (DynamoDB's `X-Amz-Target`, Stripe's
//! method and path), the status and the time spent waiting on the server (from the request
//! being read to the response being ready to send back). With capacity accounting on (the
//! counting pass), it also reads the items a DynamoDB request touches, before and after it,
//! straight from the server, to compute the capacity units ([`crate::capacity`]); that time is
//! kept apart (`side`) so that it is not mistaken for the function's own work.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::capacity::{self, IndexKeys, Units, WriteImages};
use crate::http1::{self, Kind, Message};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    Stripe,
}

/// One downstream request made by a function.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: Service,
    /// `GetItem`, `TransactWriteItems`, … or `POST /v1/checkout/sessions`.
    pub op: String,
    pub status: u16,
    /// Time waiting on the server (forwarding there and reading its answer).
    pub wait: Duration,
    /// Time the proxy spent on its own capacity reads (counting pass only).
    pub side: Duration,
    /// Computed capacity (DynamoDB, counting pass only).
    pub units: Option<Units>,
    /// When the request had been read, and when the answer was ready to go back.
    pub arrived: Instant,
    pub answered: Instant,
}

#[derive(Debug, Default)]
struct State {
    active: bool,
    calls: Vec<Call>,
    /// Requests that arrived while no invocation was in flight.
    stray: usize,
}

/// What the proxies saw during the invocation in flight (one invocation at a time).
#[derive(Debug, Default)]
pub struct Recorder {
    state: Mutex<State>,
    capacity: AtomicBool,
    /// Connections the proxies accepted (kept alive, a function opens one or two).
    connections: AtomicUsize,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// Turns the capacity reads on (counting pass) or off (latency runs).
    pub fn set_capacity(&self, on: bool) {
        self.capacity.store(on, Ordering::SeqCst);
    }

    fn capacity(&self) -> bool {
        self.capacity.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An invocation starts: what arrives from now on is its.
    pub fn begin(&self) {
        let mut state = self.lock();
        state.active = true;
        state.calls.clear();
    }

    /// The invocation ended: its calls.
    pub fn finish(&self) -> Vec<Call> {
        let mut state = self.lock();
        state.active = false;
        std::mem::take(&mut state.calls)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn stray(&self) -> usize {
        self.lock().stray
    }

    fn record(&self, call: Call) {
        let mut state = self.lock();
        if state.active {
            state.calls.push(call);
        } else {
            state.stray += 1;
        }
    }
}

struct Context {
    service: Service,
    upstream: SocketAddr,
    recorder: Arc<Recorder>,
    indexes: Vec<IndexKeys>,
}

/// A running proxy; stops (with its connections) when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(
        service: Service,
        upstream: SocketAddr,
        recorder: Arc<Recorder>,
    ) -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let context = Arc::new(Context {
            service,
            upstream,
            recorder,
            indexes: capacity::sales_indexes(),
        });
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            context.recorder.connections.fetch_add(1, Ordering::SeqCst);
                            let context = context.clone();
                            connections.spawn(async move {
                                let _ = serve(stream, context).await;
                            });
                        }
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Proxy { addr, task })
    }
}

struct Upstream {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

async fn connect(addr: SocketAddr) -> io::Result<Upstream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    // Closed with a reset, so that no TIME_WAIT is left on either side: the servers close
    // first, and a new connection that picks a port still in TIME_WAIT on the server stalls
    // for SYN retransmissions (1, 3, 7, 15 s).
    stream.set_zero_linger()?;
    let (reader, writer) = stream.into_split();
    Ok(Upstream {
        reader: BufReader::new(reader),
        writer,
    })
}

/// Sends a request's bytes upstream on a connection of its own and reads the answer. The local
/// servers are Python: moto's closes after every response, and the stand-in's writes its head
/// and body separately, which on a reused connection meets the proxy's delayed ACK (40 ms
/// stalls). A fresh connection avoids both and costs ~0.1 ms of wait, none of function time.
async fn forward(addr: SocketAddr, request: &Message) -> io::Result<Message> {
    let (method, _) = request.method_and_path();
    let mut conn = connect(addr).await?;
    conn.writer.write_all(&request.raw).await?;
    http1::read_message(&mut conn.reader, Kind::ResponseTo(method))
        .await?
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upstream closed the connection",
            )
        })
}

async fn serve(client: TcpStream, context: Arc<Context>) -> io::Result<()> {
    client.set_nodelay(true)?;
    let (reader, mut writer) = client.into_split();
    let mut reader = BufReader::new(reader);
    while let Some(request) = http1::read_message(&mut reader, Kind::Request).await? {
        let arrived = Instant::now();
        let capacity = context.recorder.capacity() && context.service == Service::DynamoDb;
        let dynamo = (context.service == Service::DynamoDb).then(|| DynamoRequest::of(&request));
        let mut side = Duration::ZERO;

        let before = match (&dynamo, capacity) {
            (Some(d), true) => {
                let started = Instant::now();
                let images = d.read_images(&context, &request).await;
                side += started.elapsed();
                images
            }
            _ => Vec::new(),
        };

        let started = Instant::now();
        let response = match forward(context.upstream, &request).await {
            Ok(response) => response,
            Err(e) => {
                let body = format!("{{\"proxy_error\":{:?}}}", e.to_string());
                http1::write_response(
                    &mut writer,
                    502,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                )
                .await?;
                continue;
            }
        };
        let wait = started.elapsed();

        let units = match (&dynamo, capacity) {
            (Some(d), true) => {
                let started = Instant::now();
                let units = d.units(&context, &request, &response, before).await;
                side += started.elapsed();
                Some(units)
            }
            _ => None,
        };
        let op = match &dynamo {
            Some(d) => d.op.clone(),
            None => {
                let (method, path) = request.method_and_path();
                format!("{method} {}", path.split('?').next().unwrap_or(path))
            }
        };
        // Recorded before the answer goes back, so that it belongs to this invocation.
        context.recorder.record(Call {
            service: context.service,
            op,
            status: response.status(),
            wait,
            side,
            units,
            arrived,
            answered: Instant::now(),
        });
        // The function's connection stays open, as DynamoDB's and Stripe's do, whatever the
        // local server said about its own.
        if response.framed() {
            writer
                .write_all(&response.without_connection_header())
                .await?;
        } else {
            writer.write_all(&response.raw).await?;
            break;
        }
        if request.closes() {
            break;
        }
    }
    Ok(())
}

/// A DynamoDB JSON request, parsed for the capacity accounting.
struct DynamoRequest {
    op: String,
    body: Value,
}

/// The items a write touches: table and key.
type Target = (String, Map<String, Value>);

fn key_of(item: &Map<String, Value>) -> Map<String, Value> {
    let spec = sales::store::table::definition();
    [spec.partition_key, spec.sort_key]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// `#name` and `:value` placeholders used in an expression.
fn placeholders(expression: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for c in expression.chars().chain(std::iter::once(' ')) {
        if let Some(token) = current.as_mut() {
            if c.is_ascii_alphanumeric() || c == '_' {
                token.push(c);
                continue;
            }
            let token = current.take().unwrap_or_default();
            if token.len() > 1 {
                found.push(token);
            }
        }
        if c == '#' || c == ':' {
            current = Some(c.to_string());
        }
    }
    found
}

impl DynamoRequest {
    fn of(request: &Message) -> DynamoRequest {
        let op = request
            .header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        DynamoRequest { op, body }
    }

    /// The items this request writes (or checks, in a transaction).
    fn targets(&self) -> Vec<Target> {
        let table = text(&self.body, "TableName");
        match self.op.as_str() {
            "PutItem" => vec![(table, key_of(&object(&self.body["Item"])))],
            "UpdateItem" | "DeleteItem" => vec![(table, object(&self.body["Key"]))],
            "TransactWriteItems" => self.body["TransactItems"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|entry| {
                            let (kind, action) = entry.as_object()?.iter().next()?;
                            let key = if kind == "Put" {
                                key_of(&object(&action["Item"]))
                            } else {
                                object(&action["Key"])
                            };
                            Some((text(action, "TableName"), key))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The current images of the items this request writes, read from the server.
    async fn read_images(
        &self,
        context: &Context,
        request: &Message,
    ) -> Vec<Option<Map<String, Value>>> {
        let mut images = Vec::new();
        for (table, key) in self.targets() {
            let body = json!({"TableName": table, "Key": key, "ConsistentRead": true});
            let item = side_call(context.upstream, request, "GetItem", &body)
                .await
                .ok()
                .and_then(|answer| answer.get("Item").and_then(Value::as_object).cloned());
            images.push(item);
        }
        images
    }

    async fn units(
        &self,
        context: &Context,
        request: &Message,
        response: &Message,
        before: Vec<Option<Map<String, Value>>>,
    ) -> Units {
        let answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        match self.op.as_str() {
            "GetItem" => {
                let consistent = self.body["ConsistentRead"].as_bool() == Some(true);
                let item = answer.get("Item").and_then(Value::as_object);
                capacity::read_cost(item, consistent)
            }
            "Query" | "Scan" => {
                let consistent = self.body.get("IndexName").is_none()
                    && self.body["ConsistentRead"].as_bool() == Some(true);
                let filtered = self.body.get("FilterExpression").is_some();
                let evaluated = if filtered {
                    // The filter drops items after they are read: read what the key selects.
                    let unfiltered = self.without_filter();
                    side_call(context.upstream, request, &self.op, &unfiltered)
                        .await
                        .unwrap_or(answer)
                } else {
                    answer
                };
                let items: Vec<Map<String, Value>> = evaluated["Items"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_object).cloned().collect())
                    .unwrap_or_default();
                capacity::read_cost(&items, consistent)
            }
            "BatchGetItem" => {
                // Each key is a read of its own, rounded on its own; a key with no item still
                // costs the minimum.
                let mut total = Units::default();
                let tables = self.body["RequestItems"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (table, wanted) in &tables {
                    let consistent = wanted["ConsistentRead"].as_bool() == Some(true);
                    let asked = wanted["Keys"].as_array().map_or(0, Vec::len);
                    let found: Vec<&Map<String, Value>> = answer["Responses"][table]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_object).collect())
                        .unwrap_or_default();
                    for item in &found {
                        total += capacity::read_cost([*item], consistent);
                    }
                    for _ in found.len()..asked {
                        total += capacity::read_cost([], consistent);
                    }
                }
                total
            }
            "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" => {
                let after = self.read_images(context, request).await;
                let transactional = self.op == "TransactWriteItems";
                let mut total = Units::default();
                for (before, after) in before.into_iter().zip(after) {
                    total += capacity::write_cost(
                        &WriteImages { before, after },
                        &context.indexes,
                        transactional,
                    );
                }
                total
            }
            _ => Units::default(),
        }
    }

    /// The same Query without its FilterExpression (and the placeholders only it used).
    fn without_filter(&self) -> Value {
        let mut body = object(&self.body);
        body.remove("FilterExpression");
        body.remove("ProjectionExpression");
        body.remove("Select");
        let used = placeholders(&text(&self.body, "KeyConditionExpression"));
        for field in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
            if let Some(Value::Object(map)) = body.get_mut(field) {
                map.retain(|k, _| used.contains(k));
                if map.is_empty() {
                    body.remove(field);
                }
            }
        }
        Value::Object(body)
    }
}

/// A request of the proxy's own to the DynamoDB server, with the function's credentials
/// headers (moto takes the region and account from them; it does not check signatures).
async fn side_call(
    upstream: SocketAddr,
    original: &Message,
    op: &str,
    body: &Value,
) -> io::Result<Value> {
    let mut conn = connect(upstream).await?;
    let target = format!("DynamoDB_20120810.{op}");
    let host = upstream.to_string();
    let mut headers: Vec<(&str, &str)> = vec![
        ("Host", host.as_str()),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", target.as_str()),
        ("Connection", "close"),
    ];
    for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
        if let Some(value) = original.header(name) {
            headers.push((name, value));
        }
    }
    let payload = serde_json::to_vec(body)?;
    conn.writer
        .write_all(&http1::request_bytes("POST", "/", &headers, &payload))
        .await?;
    let answer = http1::read_message(&mut conn.reader, Kind::ResponseTo("POST"))
        .await?
        .ok_or_else(|| io::Error::other("no answer"))?;
    serde_json::from_slice(&answer.body).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders() {
        assert_eq!(
            placeholders("#pk = :pk AND begins_with(#sk, :p_1)"),
            vec!["#pk", ":pk", "#sk", ":p_1"]
        );
    }

    #[test]
    fn a_filtered_query_is_read_without_its_filter() {
        let request = DynamoRequest {
            op: "Query".into(),
            body: json!({
                "TableName": "t", "KeyConditionExpression": "pk = :pk",
                "FilterExpression": "NOT begins_with(sk, :skip)",
                "ExpressionAttributeValues": {":pk": {"S": "LEAD#1"}, ":skip": {"S": "HISTORY#"}},
                "ConsistentRead": true
            }),
        };
        assert_eq!(
            request.without_filter(),
            json!({"TableName": "t", "KeyConditionExpression": "pk = :pk",
                   "ExpressionAttributeValues": {":pk": {"S": "LEAD#1"}}, "ConsistentRead": true})
        );
    }
}
