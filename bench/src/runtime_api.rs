//! A local implementation of the Lambda Runtime API (2018-06-01), enough to run a bootstrap as
//! Lambda does:
//!
//! - `GET  /2018-06-01/runtime/invocation/next`: long-polls for the next event; answers it with
//!   `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `/{id}/error`: the result;
//! - `POST /2018-06-01/runtime/init/error`: the bootstrap could not start.
//!
//! An invocation's duration runs from just before the event is written to the bootstrap to the
//! moment its result has been read, as Lambda measures it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::{JoinHandle, JoinSet};

use crate::http1::{self, Kind};

const PREFIX: &str = "/2018-06-01/runtime";

/// The result of one invocation.
#[derive(Debug)]
pub struct Completed {
    /// `true` for `/response`, `false` for `/error`.
    pub ok: bool,
    pub body: Vec<u8>,
    pub duration: Duration,
    /// When the event was handed over and the result read.
    pub delivered: Instant,
    pub received: Instant,
}

struct Pending {
    id: String,
    event: Vec<u8>,
    reply: oneshot::Sender<Completed>,
}

struct InFlight {
    delivered: Instant,
    reply: oneshot::Sender<Completed>,
}

struct Shared {
    function_name: String,
    timeout: Duration,
    /// Events not yet handed over (an event whose hand-over failed goes back to the front).
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    in_flight: Mutex<HashMap<String, InFlight>>,
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
    changed: Notify,
    connections: std::sync::atomic::AtomicUsize,
}

/// One function instance's Runtime API; stops when dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl RuntimeApi {
    pub async fn start(function_name: &str, timeout: Duration) -> io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            function_name: function_name.to_owned(),
            timeout,
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            in_flight: Mutex::new(HashMap::new()),
            first_next: Mutex::new(None),
            init_error: Mutex::new(None),
            changed: Notify::new(),
            connections: std::sync::atomic::AtomicUsize::new(0),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            serving.connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let shared = serving.clone();
                            connections.spawn(async move {
                                let _ = serve(stream, shared).await;
                            });
                        }
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(RuntimeApi { addr, shared, task })
    }

    /// When the bootstrap first asked for an event (it finished its init), or why it never will.
    /// `alive` is polled to notice a bootstrap that exited.
    pub async fn wait_ready(
        &self,
        limit: Duration,
        mut alive: impl FnMut() -> Result<(), String>,
    ) -> Result<Instant, String> {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.shared.changed.notified();
            if let Some(at) = *lock(&self.shared.first_next) {
                return Ok(at);
            }
            if let Some(error) = lock(&self.shared.init_error).clone() {
                return Err(format!("init error: {error}"));
            }
            alive()?;
            if Instant::now() >= deadline {
                return Err(format!("no request for an event within {limit:?}"));
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), notified).await;
        }
    }

    /// How many connections the bootstrap opened to this API.
    pub fn connections(&self) -> usize {
        self.shared
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Hands one event to the bootstrap and waits for its result.
    pub async fn invoke(&self, event: Vec<u8>, limit: Duration) -> Result<Completed, String> {
        let (reply, result) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        lock(&self.shared.queue).push_back(Pending { id, event, reply });
        self.shared.queued.notify_waiters();
        match tokio::time::timeout(limit, result).await {
            Ok(Ok(completed)) => Ok(completed),
            Ok(Err(_)) => Err("the invocation was dropped".into()),
            Err(_) => {
                let init = lock(&self.shared.init_error).clone();
                let queued = lock(&self.shared.queue).len();
                let stage = if queued > 0 {
                    "the bootstrap never asked for the event"
                } else {
                    "the event was handed over, no result came back"
                };
                Err(format!(
                    "no result within {limit:?} ({stage}){}",
                    init.map(|e| format!(" (init error: {e})"))
                        .unwrap_or_default()
                ))
            }
        }
    }
}

fn trace_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{now:08x}-{};Parent={};Sampled=0;Lineage=1:bench:0",
        &random[..24],
        &random[16..32]
    )
}

/// Resolves when the peer closes the connection (or fails); never while it is only quiet.
async fn hung_up<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) {
    match reader.fill_buf().await {
        Ok([]) | Err(_) => {}
        Ok(_) => std::future::pending::<()>().await, // a request of its own: not a hang-up
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    while let Some(request) = http1::read_message(&mut reader, Kind::Request).await? {
        let received = Instant::now();
        let (method, path) = request.method_and_path();
        let path = path.split('?').next().unwrap_or("").to_owned();
        let Some(route) = path.strip_prefix(PREFIX) else {
            http1::write_response(&mut writer, 404, &[], b"{\"errorType\":\"NotFound\"}").await?;
            continue;
        };
        let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
        match (method, segments.as_slice()) {
            ("GET", ["invocation", "next"]) => {
                {
                    let mut first = lock(&shared.first_next);
                    if first.is_none() {
                        *first = Some(received);
                        shared.changed.notify_waiters();
                    }
                }
                // Long poll: the next event, unless the bootstrap hangs up first.
                let pending = loop {
                    let queued = shared.queued.notified();
                    if let Some(pending) = lock(&shared.queue).pop_front() {
                        break pending;
                    }
                    tokio::select! {
                        _ = queued => {}
                        _ = hung_up(&mut reader) => return Ok(()),
                    }
                };
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                let deadline = (now_ms + shared.timeout.as_millis()).to_string();
                let arn = format!(
                    "arn:aws:lambda:ap-southeast-2:123456789012:function:{}",
                    shared.function_name
                );
                let trace = trace_id();
                let headers = [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", pending.id.as_str()),
                    ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
                    ("Lambda-Runtime-Invoked-Function-Arn", arn.as_str()),
                    ("Lambda-Runtime-Trace-Id", trace.as_str()),
                ];
                let delivered = Instant::now();
                let id = pending.id.clone();
                lock(&shared.in_flight).insert(
                    id.clone(),
                    InFlight {
                        delivered,
                        reply: pending.reply,
                    },
                );
                if let Err(e) =
                    http1::write_response(&mut writer, 200, &headers, &pending.event).await
                {
                    // Not handed over: back to the front of the queue for the next poll.
                    if let Some(in_flight) = lock(&shared.in_flight).remove(&id) {
                        lock(&shared.queue).push_front(Pending {
                            id,
                            event: pending.event,
                            reply: in_flight.reply,
                        });
                        shared.queued.notify_waiters();
                    }
                    return Err(e);
                }
            }
            ("POST", ["invocation", id, outcome @ ("response" | "error")]) => {
                let in_flight = lock(&shared.in_flight).remove(*id);
                match in_flight {
                    Some(in_flight) => {
                        let _ = in_flight.reply.send(Completed {
                            ok: *outcome == "response",
                            body: request.body,
                            duration: received.duration_since(in_flight.delivered),
                            delivered: in_flight.delivered,
                            received,
                        });
                        http1::write_response(&mut writer, 202, &[], b"{\"status\":\"OK\"}")
                            .await?;
                    }
                    None => {
                        http1::write_response(
                            &mut writer,
                            400,
                            &[],
                            b"{\"errorType\":\"InvalidRequestID\"}",
                        )
                        .await?;
                    }
                }
            }
            ("POST", ["init", "error"]) => {
                let text = String::from_utf8_lossy(&request.body).into_owned();
                *lock(&shared.init_error) = Some(text);
                shared.changed.notify_waiters();
                http1::write_response(&mut writer, 202, &[], b"{\"status\":\"OK\"}").await?;
            }
            _ => {
                http1::write_response(&mut writer, 404, &[], b"{\"errorType\":\"NotFound\"}")
                    .await?;
            }
        }
    }
    Ok(())
}
