//! `make bench` (bench/run.sh): the release bootstraps measured as Lambda runs them.
//!
//! The harness starts its own local DynamoDB server (moto) and Stripe stand-in on free ports,
//! puts a counting proxy in front of each, and runs every bootstrap against a local Runtime API
//! with the configuration a function has in AWS. It measures, per function: init (process start
//! to the first `next`), the first invocation, warm latency over ≥ 1,000 invocations, the part
//! of it spent in the function itself (minus the time the proxies saw it wait on DynamoDB and
//! Stripe), peak RSS, and the bootstrap's zip size; per handler path: the DynamoDB and Stripe
//! requests it makes and the capacity units they cost. It prints one markdown table and writes
//! it to bench/RESULTS.md. Everything it starts, it stops by PID, also on failure.
//!
//! Usage: sales-bench [--invocations N] [--cold-starts K] [--only fn,fn] [--out FILE]
//!                    [--target-dir DIR] [--criterion-dir DIR]

mod capacity;
mod events;
mod http1;
mod procs;
mod proxy;
mod report;
mod runtime_api;
mod sink;

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::Credentials;
use sales::domain::{Cause, EmailAddress, LeadSource, NewLead};
use sales::SalesStore;
use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use events::{HttpRequest, Secrets, LANDING_ORIGIN};
use procs::Proc;
use proxy::{Call, Proxy, Recorder, Service};
use runtime_api::RuntimeApi;
use sink::Sink;

pub const STRIPE_KEY: &str = "sk_test_local_standin";
pub const FOUNDING_PRICE: &str = "price_bench_founding";
pub const STANDARD_PRICE: &str = "price_bench_standard";
const IAM_CALLER: &str = "arn:aws:iam::123456789012:user/bench-sales-rep";

/// A function as deployed (infra/template.yaml: memory and timeout).
#[derive(Debug)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub memory_mb: u32,
    pub timeout_s: u64,
    /// The event of the warm loop.
    pub warm: &'static str,
}

pub const FUNCTIONS: [FunctionSpec; 7] = [
    FunctionSpec {
        name: "founding-spots",
        memory_mb: 256,
        timeout_s: 5,
        warm: "GET /billing/founding-spots",
    },
    FunctionSpec {
        name: "create-checkout",
        memory_mb: 256,
        timeout_s: 15,
        warm: "standard plan, a new e-mail each call",
    },
    FunctionSpec {
        name: "customer-portal",
        memory_mb: 256,
        timeout_s: 15,
        warm: "JWT of a customer",
    },
    FunctionSpec {
        name: "stripe-webhook",
        memory_mb: 128,
        timeout_s: 10,
        warm: "invoice.paid, a new event each call",
    },
    FunctionSpec {
        name: "cal-webhook",
        memory_mb: 128,
        timeout_s: 10,
        warm: "BOOKING_CREATED, a new attendee each call",
    },
    FunctionSpec {
        name: "calendly-webhook",
        memory_mb: 128,
        timeout_s: 10,
        warm: "invitee.created, a new invitee each call",
    },
    FunctionSpec {
        name: "pipeline",
        memory_mb: 256,
        timeout_s: 10,
        warm: "GET /pipeline/summary",
    },
];

fn spec(name: &str) -> &'static FunctionSpec {
    FUNCTIONS
        .iter()
        .find(|f| f.name == name)
        .unwrap_or(&FUNCTIONS[0])
}

#[derive(Debug, Clone)]
pub struct Options {
    pub invocations: usize,
    pub cold_starts: usize,
    pub only: Option<Vec<String>>,
    pub out: PathBuf,
    pub target_dir: PathBuf,
    pub criterion_dir: PathBuf,
    pub root: PathBuf,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .ok_or("no workspace root")?;
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let mut options = Options {
            invocations: 1000,
            cold_starts: 5,
            only: None,
            out: root.join("bench/RESULTS.md"),
            criterion_dir: target_dir.join("criterion"),
            target_dir,
            root,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--invocations" => {
                    options.invocations = value()?.parse().map_err(|e| format!("{e}"))?
                }
                "--cold-starts" => {
                    options.cold_starts = value()?
                        .parse::<usize>()
                        .map_err(|e| format!("{e}"))?
                        .max(1)
                }
                "--only" => {
                    let names: Vec<String> = value()?.split(',').map(str::to_owned).collect();
                    for name in &names {
                        if !FUNCTIONS.iter().any(|f| f.name == name) {
                            return Err(format!("unknown function {name}"));
                        }
                    }
                    options.only = Some(names);
                }
                "--out" => options.out = PathBuf::from(value()?),
                "--target-dir" => {
                    options.target_dir = PathBuf::from(value()?);
                    options.criterion_dir = options.target_dir.join("criterion");
                }
                "--criterion-dir" => options.criterion_dir = PathBuf::from(value()?),
                "-h" | "--help" => {
                    println!("sales-bench [--invocations N] [--cold-starts K] [--only fn,fn] [--out FILE] [--target-dir DIR] [--criterion-dir DIR]");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(options)
    }

    fn selected(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == name))
    }
}

fn main() -> ExitCode {
    procs::install_panic_hook();
    let options = match Options::parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("sales-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sales-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(options));
    procs::stop_all();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sales-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn say(message: impl AsRef<str>) {
    eprintln!("[bench] {}", message.as_ref());
}

async fn run(options: Options) -> Result<(), String> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let machine = report::Machine::probe(&options.root);
    for f in &FUNCTIONS {
        let binary = binary(&options, f.name);
        if !binary.exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release -p {}` (bench/run.sh builds all seven)",
                binary.display(),
                f.name
            ));
        }
    }
    let infra = Infra::start(&options).await?;
    let calibration = calibrate(&infra).await;
    if let Some(delta) = calibration {
        say(format!(
            "proxy transit per downstream request (counted as function time): {delta:?}"
        ));
    }

    let table = format!("bench-paths-{}", infra.run);
    infra.create_table(&table).await?;
    infra.recorder.set_capacity(true);
    let mut paths = Vec::new();
    run_paths(&infra, &table, &mut paths).await;
    infra.recorder.set_capacity(false);
    infra.delete_table(&table).await;

    let mut warm = Vec::new();
    for f in &FUNCTIONS {
        if options.selected(f.name) {
            warm.push(run_warm(&infra, f, &options).await);
        }
    }
    let sizes: Vec<report::Sizes> = FUNCTIONS
        .iter()
        .filter(|f| options.selected(f.name))
        .map(|f| sizes(&options, f.name))
        .collect();
    let stray = infra.recorder.stray();
    say(format!(
        "the proxies accepted {} connections in all",
        infra.recorder.connections()
    ));
    drop(infra);
    procs::stop_all();

    let micro = report::read_criterion(&options.criterion_dir);
    let markdown = report::render(&report::Report {
        started_at,
        elapsed: started.elapsed(),
        machine,
        options: &options,
        calibration,
        paths: &paths,
        warm: &warm,
        sizes: &sizes,
        micro: &micro,
        stray,
    });
    println!("{markdown}");
    if let Some(parent) = options.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&options.out, &markdown)
        .map_err(|e| format!("{}: {e}", options.out.display()))?;
    say(format!(
        "wrote {} ({:.0} s)",
        options.out.display(),
        started.elapsed().as_secs_f64()
    ));
    let failed = paths.iter().filter(|p| !p.as_expected()).count()
        + warm.iter().filter(|w| w.error.is_some()).count();
    if failed > 0 {
        return Err(format!(
            "{failed} path(s) or function(s) did not answer as expected (see the table)"
        ));
    }
    Ok(())
}

fn binary(options: &Options, name: &str) -> PathBuf {
    options.target_dir.join("release").join(name)
}

/// A free TCP port on the loopback interface.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn log_file(path: &Path) -> Result<(File, File), String> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let copy = file.try_clone().map_err(|e| e.to_string())?;
    Ok((file, copy))
}

/// The servers every function talks to, and the harness's own clients.
pub struct Infra {
    options: Options,
    work: PathBuf,
    /// A tag that makes this run's e-mails and ids unique.
    run: String,
    secrets: Secrets,
    recorder: Arc<Recorder>,
    dynamodb_proxy: Proxy,
    stripe_proxy: Proxy,
    standin_url: String,
    sink: Sink,
    client: aws_sdk_dynamodb::Client,
    http: reqwest::Client,
    // Dropped last: the processes.
    _standin: Proc,
    _dynamodb: Proc,
}

async fn wait_for_port(addr: SocketAddr, proc: &mut Proc, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        proc.alive()?;
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not listen on {addr} within {limit:?}",
                proc.name
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Infra {
    async fn start(options: &Options) -> Result<Infra, String> {
        let root = &options.root;
        let work = options.target_dir.join("bench");
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        for entry in std::fs::read_dir(&work)
            .map_err(|e| e.to_string())?
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "log") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!(
                "{} is missing: run `make venv` (bench/run.sh does)",
                python.display()
            ));
        }
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let secrets = Secrets::generate();

        let dynamodb_port = free_port()?;
        let (out, err) = log_file(&work.join("dynamodb.log"))?;
        let mut dynamodb = Proc::spawn(
            "local DynamoDB server",
            Command::new(&python)
                .arg(root.join("infra/local/dynamodb_server.py"))
                .args(["--host", "127.0.0.1", "--port", &dynamodb_port.to_string()])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
        )?;
        let dynamodb_addr = SocketAddr::from(([127, 0, 0, 1], dynamodb_port));
        let sink = Sink::start().await.map_err(|e| e.to_string())?;
        let standin_port = free_port()?;
        let (out, err) = log_file(&work.join("stripe-standin.log"))?;
        let mut standin = Proc::spawn(
            "Stripe stand-in",
            Command::new(&python)
                .arg(root.join("infra/local/stripe_standin.py"))
                .args(["--host", "127.0.0.1", "--port", &standin_port.to_string()])
                .args(["--webhook-url", &format!("http://{}/stripe", sink.addr)])
                .args(["--webhook-secret", &secrets.stripe_webhook])
                .args(["--api-key", STRIPE_KEY])
                .args(["--price", &format!("{FOUNDING_PRICE}=4900")])
                .args(["--price", &format!("{STANDARD_PRICE}=9900")])
                .args(["--webhook-timeout", "10", "--no-auto-expire"])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
        )?;
        let standin_addr = SocketAddr::from(([127, 0, 0, 1], standin_port));
        say(format!(
            "local DynamoDB server (pid {}) on {dynamodb_addr}, Stripe stand-in (pid {}) on {standin_addr}",
            dynamodb.pid(),
            standin.pid()
        ));
        wait_for_port(standin_addr, &mut standin, Duration::from_secs(30)).await?;
        wait_for_port(dynamodb_addr, &mut dynamodb, Duration::from_secs(120)).await?;

        let recorder = Recorder::new();
        let dynamodb_proxy = Proxy::start(Service::DynamoDb, dynamodb_addr, recorder.clone())
            .await
            .map_err(|e| e.to_string())?;
        let stripe_proxy = Proxy::start(Service::Stripe, standin_addr, recorder.clone())
            .await
            .map_err(|e| e.to_string())?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("ap-southeast-2"))
            .endpoint_url(format!("http://{dynamodb_addr}"))
            .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
            .load()
            .await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Infra {
            options: options.clone(),
            work,
            run,
            secrets,
            recorder,
            dynamodb_proxy,
            stripe_proxy,
            standin_url: format!("http://{standin_addr}"),
            sink,
            client: aws_sdk_dynamodb::Client::new(&sdk),
            http,
            _standin: standin,
            _dynamodb: dynamodb,
        })
    }

    async fn create_table(&self, name: &str) -> Result<(), String> {
        sales::store::table::create_table(&self.client, name)
            .await
            .map(|_| ())
            .map_err(|e| format!("create table {name}: {e}"))
    }

    async fn delete_table(&self, name: &str) {
        let _ = sales::store::table::delete_table(&self.client, name).await;
    }

    fn store(&self, table: &str) -> SalesStore {
        SalesStore::new(self.client.clone(), table.to_owned())
    }

    fn email(&self, who: &str) -> String {
        format!("{who}-{}@bench.example", self.run)
    }

    /// The environment Lambda gives the function: its configuration (.env.dev's names) and
    /// what Lambda itself sets.
    fn function_env(
        &self,
        spec: &FunctionSpec,
        table: &str,
        runtime_api: SocketAddr,
    ) -> Vec<(String, String)> {
        let task_root = binary(&self.options, spec.name)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let stream = uuid::Uuid::new_v4().simple().to_string();
        [
            ("TABLE_NAME", table.to_owned()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB",
                format!("http://{}", self.dynamodb_proxy.addr),
            ),
            ("AWS_REGION", "ap-southeast-2".into()),
            ("AWS_DEFAULT_REGION", "ap-southeast-2".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("RUST_LOG", "info".into()),
            (
                "STRIPE_API_BASE",
                format!("http://{}", self.stripe_proxy.addr),
            ),
            ("STRIPE_SECRET_KEY", STRIPE_KEY.into()),
            ("STRIPE_WEBHOOK_SECRET", self.secrets.stripe_webhook.clone()),
            ("STRIPE_FOUNDING_PRICE_ID", FOUNDING_PRICE.into()),
            ("STRIPE_STANDARD_PRICE_ID", STANDARD_PRICE.into()),
            ("CAL_WEBHOOK_SECRET", self.secrets.cal.clone()),
            (
                "CALENDLY_WEBHOOK_SIGNING_KEY",
                self.secrets.calendly.clone(),
            ),
            ("LANDING_ORIGIN", LANDING_ORIGIN.into()),
            ("ALLOWED_REDIRECT_ORIGINS", LANDING_ORIGIN.into()),
            ("CHECKOUT_SUCCESS_URL", format!("{LANDING_ORIGIN}/welcome")),
            ("CHECKOUT_CANCEL_URL", format!("{LANDING_ORIGIN}/pricing")),
            ("PORTAL_RETURN_URL", format!("{LANDING_ORIGIN}/account")),
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", spec.name.into()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2026/11/25/[$LATEST]{stream}"),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("_HANDLER", "bootstrap".into()),
            ("LAMBDA_TASK_ROOT", task_root.clone()),
            ("LAMBDA_RUNTIME_DIR", task_root),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A Stripe stand-in call made by the harness itself (not through the counting proxy).
    async fn standin(&self, path: &str, form: &[(&str, &str)]) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}{path}", self.standin_url))
            .bearer_auth(STRIPE_KEY)
            .form(form)
            .send()
            .await
            .map_err(|e| format!("stand-in {path}: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("stand-in {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("stand-in {path}: {status} {body}"));
        }
        Ok(body)
    }

    /// Pays (or expires) a Checkout Session on the stand-in's hosted page; returns the event it
    /// delivered (exact bytes) and the session.
    async fn hosted(&self, session_id: &str, action: &str) -> Result<(Vec<u8>, Value), String> {
        let answer = self
            .standin(&format!("/checkout/{session_id}/{action}"), &[])
            .await?;
        let event_id = answer["event"]["id"].as_str().unwrap_or_default();
        let body = self
            .sink
            .event(event_id)
            .ok_or_else(|| format!("the stand-in's event {event_id} did not arrive: {answer}"))?;
        Ok((body, answer["session"].clone()))
    }

    /// A paying customer at the stand-in: a standard Checkout Session, paid.
    async fn stripe_customer(&self, email: &str) -> Result<(String, String), String> {
        let success = format!("{LANDING_ORIGIN}/welcome");
        let cancel = format!("{LANDING_ORIGIN}/pricing");
        let session = self
            .standin(
                "/v1/checkout/sessions",
                &[
                    ("mode", "subscription"),
                    ("customer_email", email),
                    ("line_items[0][price]", STANDARD_PRICE),
                    ("line_items[0][quantity]", "1"),
                    ("success_url", &success),
                    ("cancel_url", &cancel),
                ],
            )
            .await?;
        let id = session["id"].as_str().unwrap_or_default().to_owned();
        let (_, paid) = self.hosted(&id, "pay").await?;
        Ok((
            paid["customer"].as_str().unwrap_or_default().to_owned(),
            paid["subscription"].as_str().unwrap_or_default().to_owned(),
        ))
    }
}

/// One running bootstrap.
struct Instance {
    spec: &'static FunctionSpec,
    proc: Proc,
    api: RuntimeApi,
    init: Duration,
}

async fn start_instance(
    infra: &Infra,
    spec: &'static FunctionSpec,
    table: &str,
) -> Result<Instance, String> {
    let api = RuntimeApi::start(spec.name, Duration::from_secs(spec.timeout_s))
        .await
        .map_err(|e| e.to_string())?;
    let binary = binary(&infra.options, spec.name);
    let (out, err) = log_file(&infra.work.join(format!("{}.log", spec.name)))?;
    let mut command = Command::new(&binary);
    command
        .env_clear()
        .envs(infra.function_env(spec, table, api.addr))
        .current_dir(binary.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let spawned = Instant::now();
    let mut proc = Proc::spawn(spec.name, &mut command)?;
    let ready = api
        .wait_ready(Duration::from_secs(30), || proc.alive())
        .await
        .map_err(|e| format!("{}: {e} (log: {})", spec.name, infra.work.display()))?;
    Ok(Instance {
        spec,
        proc,
        api,
        init: ready.duration_since(spawned),
    })
}

/// What one invocation did.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub status: u16,
    pub body: String,
    pub duration: Duration,
    pub calls: Vec<Call>,
    pub delivered: Instant,
    pub received: Instant,
}

impl Invocation {
    pub fn count(&self, service: Service) -> usize {
        self.calls.iter().filter(|c| c.service == service).count()
    }
    pub fn wait(&self, service: Service) -> Duration {
        self.calls
            .iter()
            .filter(|c| c.service == service)
            .map(|c| c.wait)
            .sum()
    }
    /// The invocation minus the time the proxies saw it wait (and their own capacity reads).
    pub fn in_function(&self) -> Duration {
        let outside: Duration = self.calls.iter().map(|c| c.wait + c.side).sum();
        self.duration.saturating_sub(outside)
    }
    /// The function's own time: before its first downstream request, between them, and after
    /// the last answer (each still holding the hop to the proxy).
    pub fn phases(&self) -> (Duration, Duration, Duration) {
        let (Some(first), Some(last)) = (self.calls.first(), self.calls.last()) else {
            return (self.duration, Duration::ZERO, Duration::ZERO);
        };
        let before = first.arrived.saturating_duration_since(self.delivered);
        let after = self.received.saturating_duration_since(last.answered);
        let between = self
            .calls
            .windows(2)
            .map(|pair| pair[1].arrived.saturating_duration_since(pair[0].answered))
            .sum();
        (before, between, after)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn invoke(
    infra: &Infra,
    instance: &Instance,
    request: &HttpRequest,
) -> Result<Invocation, String> {
    let event = request.event();
    infra.recorder.begin();
    let completed = instance
        .api
        .invoke(event, Duration::from_secs(instance.spec.timeout_s + 5))
        .await;
    let calls = infra.recorder.finish();
    let completed = completed.map_err(|e| format!("{}: {e}", instance.spec.name))?;
    let (status, body) = if completed.ok {
        let response: Value = serde_json::from_slice(&completed.body).unwrap_or(Value::Null);
        (
            response["statusCode"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(0),
            response["body"].as_str().unwrap_or_default().to_owned(),
        )
    } else {
        (0, String::from_utf8_lossy(&completed.body).into_owned())
    };
    Ok(Invocation {
        status,
        body,
        duration: completed.duration,
        calls,
        delivered: completed.delivered,
        received: completed.received,
    })
}

/// A target a handler path is held to.
#[derive(Debug, Clone, Copy)]
pub enum PathTarget {
    /// At most this many DynamoDB requests.
    Dynamo(usize),
    /// At most this many DynamoDB and Stripe requests.
    DynamoStripe(usize, usize),
}

/// One handler path of the counting pass.
#[derive(Debug)]
pub struct PathResult {
    pub function: &'static str,
    pub path: String,
    pub expected: u16,
    pub outcome: Result<Invocation, String>,
    pub target: Option<PathTarget>,
}

impl PathResult {
    pub fn as_expected(&self) -> bool {
        matches!(&self.outcome, Ok(i) if i.status == self.expected)
    }
}

/// Runs one function's paths, one invocation at a time, into `out`.
struct Paths<'a> {
    infra: &'a Infra,
    instance: Instance,
    out: &'a mut Vec<PathResult>,
}

impl<'a> Paths<'a> {
    async fn start(
        infra: &'a Infra,
        name: &str,
        table: &str,
        out: &'a mut Vec<PathResult>,
    ) -> Result<Paths<'a>, String> {
        let instance = start_instance(infra, spec(name), table).await?;
        Ok(Paths {
            infra,
            instance,
            out,
        })
    }

    async fn step(
        &mut self,
        path: &str,
        request: HttpRequest,
        expected: u16,
        target: Option<PathTarget>,
    ) -> Result<Invocation, String> {
        let outcome = invoke(self.infra, &self.instance, &request).await;
        self.out.push(PathResult {
            function: self.instance.spec.name,
            path: path.to_owned(),
            expected,
            outcome: outcome.clone(),
            target,
        });
        let invocation = outcome?;
        if invocation.status != expected {
            say(format!(
                "{} {path}: HTTP {} (expected {expected}): {}",
                self.instance.spec.name, invocation.status, invocation.body
            ));
        }
        Ok(invocation)
    }
}

/// What the counting pass's functions hand on to the next ones.
#[derive(Debug, Default)]
struct Flow {
    founding_session: Option<String>,
    standard_session: Option<String>,
    /// A founding checkout of a known lead, left to expire.
    expiring_session: Option<String>,
    standard_email: String,
}

fn session_id(invocation: &Invocation) -> Option<String> {
    invocation.json()["session_id"].as_str().map(str::to_owned)
}

async fn run_paths(infra: &Infra, table: &str, out: &mut Vec<PathResult>) {
    let mut flow = Flow {
        standard_email: infra.email("standard"),
        ..Flow::default()
    };
    // In the order of the flow: the webhook needs the checkouts, the portal a paid one, the
    // pipeline the bookings.
    let order = [
        "founding-spots",
        "create-checkout",
        "stripe-webhook",
        "customer-portal",
        "cal-webhook",
        "calendly-webhook",
        "pipeline",
    ];
    for f in order.iter().map(|name| spec(name)) {
        say(format!("{}: handler paths (counting pass)", f.name));
        let result = match f.name {
            "founding-spots" => paths_founding_spots(infra, table, out).await,
            "create-checkout" => paths_create_checkout(infra, table, out, &mut flow).await,
            "stripe-webhook" => paths_stripe_webhook(infra, table, out, &flow).await,
            "customer-portal" => paths_customer_portal(infra, table, out, &flow).await,
            "cal-webhook" => paths_cal(infra, table, out).await,
            "calendly-webhook" => paths_calendly(infra, table, out).await,
            _ => paths_pipeline(infra, table, out).await,
        };
        if let Err(e) = result {
            say(format!("{}: {e}", f.name));
            out.push(PathResult {
                function: f.name,
                path: "(stopped)".into(),
                expected: 200,
                outcome: Err(e),
                target: None,
            });
        }
    }
}

fn founding_spots_request() -> HttpRequest {
    HttpRequest::new("GET", "/billing/founding-spots").header("origin", LANDING_ORIGIN)
}

fn checkout_request(email: &str, plan: &str) -> HttpRequest {
    HttpRequest::new("POST", "/billing/create-checkout")
        .header("origin", LANDING_ORIGIN)
        .json(&json!({"email": email, "plan_type": plan, "company_name": "Bench Pty Ltd"}))
}

fn portal_request(email: &str) -> HttpRequest {
    HttpRequest::new("POST", "/billing/customer-portal").jwt(json!({
        "email": email, "email_verified": "true", "sub": "bench-user",
        "iss": "https://auth.keiracom.example", "aud": "agency-os"
    }))
}

async fn paths_founding_spots(
    infra: &Infra,
    table: &str,
    out: &mut Vec<PathResult>,
) -> Result<(), String> {
    let mut p = Paths::start(infra, "founding-spots", table, out).await?;
    p.step(
        "GET, cold cache",
        founding_spots_request(),
        200,
        Some(PathTarget::Dynamo(1)),
    )
    .await?;
    p.step(
        "GET, warm cache",
        founding_spots_request(),
        200,
        Some(PathTarget::Dynamo(0)),
    )
    .await?;
    Ok(())
}

async fn paths_create_checkout(
    infra: &Infra,
    table: &str,
    out: &mut Vec<PathResult>,
    flow: &mut Flow,
) -> Result<(), String> {
    let target = Some(PathTarget::DynamoStripe(2, 1));
    let founder = infra.email("founder");
    let mut p = Paths::start(infra, "create-checkout", table, out).await?;
    let first = p
        .step(
            "founding, new lead",
            checkout_request(&founder, "founding"),
            200,
            target,
        )
        .await?;
    flow.founding_session = session_id(&first);
    let standard = p
        .step(
            "standard, new lead",
            checkout_request(&flow.standard_email, "standard"),
            200,
            target,
        )
        .await?;
    flow.standard_session = session_id(&standard);
    p.step(
        "standard, known lead",
        checkout_request(&flow.standard_email, "standard"),
        200,
        target,
    )
    .await?;
    let known = p
        .step(
            "founding, known lead",
            checkout_request(&flow.standard_email, "founding"),
            200,
            target,
        )
        .await?;
    flow.expiring_session = session_id(&known);
    let again = p
        .step(
            "founding, same e-mail again (hold extended)",
            checkout_request(&founder, "founding"),
            200,
            target,
        )
        .await?;
    flow.founding_session = session_id(&again).or(flow.founding_session.take());
    Ok(())
}

async fn paths_stripe_webhook(
    infra: &Infra,
    table: &str,
    out: &mut Vec<PathResult>,
    flow: &Flow,
) -> Result<(), String> {
    let need = |s: &Option<String>, what: &str| {
        s.clone()
            .ok_or(format!("no {what} session from create-checkout"))
    };
    // Stripe's side of the flow, on the stand-in: it signs and delivers each event to the sink.
    let (standard, standard_session) = infra
        .hosted(&need(&flow.standard_session, "standard")?, "pay")
        .await?;
    let (founding, _) = infra
        .hosted(&need(&flow.founding_session, "founding")?, "pay")
        .await?;
    let (expired, _) = infra
        .hosted(&need(&flow.expiring_session, "expiring")?, "expire")
        .await?;
    let customer = standard_session["customer"]
        .as_str()
        .unwrap_or("cus_unknown")
        .to_owned();
    let secret = &infra.secrets.stripe_webhook;
    // Every delivery is one write with its ledger record: ≤ 2 requests, duplicates too.
    let target = Some(PathTarget::Dynamo(2));
    let none = Some(PathTarget::Dynamo(0));
    let mut p = Paths::start(infra, "stripe-webhook", table, out).await?;
    p.step(
        "checkout.session.completed, standard",
        events::stripe_delivery(&standard, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "checkout.session.completed, founding",
        events::stripe_delivery(&founding, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "checkout.session.expired (founding hold)",
        events::stripe_delivery(&expired, secret),
        200,
        target,
    )
    .await?;
    let tag = format!("{}_paths", infra.run);
    let invoice = events::invoice_paid(&tag, &customer)?;
    p.step(
        "invoice.paid",
        events::stripe_delivery(&invoice, secret),
        200,
        target,
    )
    .await?;
    let failed = events::stripe_event(
        "invoice.payment_failed",
        &format!("{tag}_failed"),
        &customer,
    )?;
    p.step(
        "invoice.payment_failed",
        events::stripe_delivery(&failed, secret),
        200,
        target,
    )
    .await?;
    let updated = events::stripe_event(
        "customer.subscription.updated",
        &format!("{tag}_sub"),
        &customer,
    )?;
    p.step(
        "customer.subscription.updated",
        events::stripe_delivery(&updated, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "duplicate delivery (paid checkout)",
        events::stripe_delivery(&standard, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "duplicate delivery (invoice)",
        events::stripe_delivery(&invoice, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "ignored event type",
        events::stripe_delivery(&events::stripe_ignored(&format!("{tag}_ignored"))?, secret),
        200,
        none,
    )
    .await?;
    p.step(
        "bad signature",
        events::stripe_delivery(&invoice, "whsec_wrong"),
        400,
        none,
    )
    .await?;
    Ok(())
}

async fn paths_customer_portal(
    infra: &Infra,
    table: &str,
    out: &mut Vec<PathResult>,
    flow: &Flow,
) -> Result<(), String> {
    let mut p = Paths::start(infra, "customer-portal", table, out).await?;
    p.step(
        "JWT e-mail of a customer",
        portal_request(&flow.standard_email),
        200,
        None,
    )
    .await?;
    p.step(
        "no JWT (401)",
        HttpRequest::new("POST", "/billing/customer-portal"),
        401,
        None,
    )
    .await?;
    Ok(())
}

async fn paths_cal(infra: &Infra, table: &str, out: &mut Vec<PathResult>) -> Result<(), String> {
    let secret = &infra.secrets.cal;
    let email = infra.email("cal");
    let (a, b, c) = (
        format!("bench{}a", infra.run),
        format!("bench{}b", infra.run),
        format!("bench{}c", infra.run),
    );
    let created = events::cal_booking_created(&a, &email)?;
    let target = Some(PathTarget::Dynamo(2));
    let none = Some(PathTarget::Dynamo(0));
    let mut p = Paths::start(infra, "cal-webhook", table, out).await?;
    p.step(
        "BOOKING_CREATED, new lead",
        events::cal_delivery(&created, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "BOOKING_RESCHEDULED (known lead)",
        events::cal_delivery(&events::cal_booking_rescheduled(&b, &a, &email)?, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "BOOKING_CREATED, known lead",
        events::cal_delivery(&events::cal_booking_created(&c, &email)?, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "duplicate delivery",
        events::cal_delivery(&created, secret),
        200,
        target,
    )
    .await?;
    p.step(
        "ignored trigger (BOOKING_REQUESTED)",
        events::cal_delivery(&events::cal_booking_requested()?, secret),
        200,
        none,
    )
    .await?;
    p.step(
        "bad signature",
        events::cal_delivery(&created, "not-the-secret"),
        400,
        none,
    )
    .await?;
    Ok(())
}

async fn paths_calendly(
    infra: &Infra,
    table: &str,
    out: &mut Vec<PathResult>,
) -> Result<(), String> {
    let key = &infra.secrets.calendly;
    let email = infra.email("calendly");
    let created = events::calendly_invitee_created(&format!("{}-a", infra.run), &email)?;
    let target = Some(PathTarget::Dynamo(2));
    let mut p = Paths::start(infra, "calendly-webhook", table, out).await?;
    p.step(
        "invitee.created, new lead",
        events::calendly_delivery(&created, key),
        200,
        target,
    )
    .await?;
    let again = events::calendly_invitee_created(&format!("{}-b", infra.run), &email)?;
    p.step(
        "invitee.created, known lead",
        events::calendly_delivery(&again, key),
        200,
        target,
    )
    .await?;
    p.step(
        "duplicate delivery",
        events::calendly_delivery(&created, key),
        200,
        target,
    )
    .await?;
    p.step(
        "bad signature",
        events::calendly_delivery(&created, "not-the-key"),
        400,
        Some(PathTarget::Dynamo(0)),
    )
    .await?;
    Ok(())
}

async fn paths_pipeline(
    infra: &Infra,
    table: &str,
    out: &mut Vec<PathResult>,
) -> Result<(), String> {
    let mut p = Paths::start(infra, "pipeline", table, out).await?;
    p.step(
        "GET /pipeline/summary",
        HttpRequest::new("GET", "/pipeline/summary").iam(IAM_CALLER),
        200,
        None,
    )
    .await?;
    let list = p
        .step(
            "GET /pipeline/leads?stage=demo_booked",
            HttpRequest::new("GET", "/pipeline/leads")
                .query("stage=demo_booked")
                .iam(IAM_CALLER),
            200,
            None,
        )
        .await?;
    let leads = list.json();
    let lead = &leads["leads"][0];
    let (Some(id), Some(version)) = (lead["id"].as_str(), lead["version"].as_u64()) else {
        return Err(format!("no demo_booked lead to edit: {}", list.body));
    };
    p.step(
        "GET /pipeline/leads/{id}",
        HttpRequest::new("GET", &format!("/pipeline/leads/{id}")).iam(IAM_CALLER),
        200,
        None,
    )
    .await?;
    p.step(
        "PATCH /pipeline/leads/{id} (stage → demo_done)",
        HttpRequest::new("PATCH", &format!("/pipeline/leads/{id}"))
            .iam(IAM_CALLER)
            .json(&json!({
                "version": version, "stage": "demo_done",
                "next_action": "Send the proposal", "next_action_date": "2026-12-01"
            })),
        200,
        None,
    )
    .await?;
    Ok(())
}

/// What the warm loop needs in its fresh table.
#[derive(Debug, Default)]
struct Seed {
    portal_email: String,
    customer: String,
}

async fn seed(infra: &Infra, spec: &FunctionSpec, table: &str) -> Result<Seed, String> {
    let store = infra.store(table);
    let now = time::OffsetDateTime::now_utc();
    let mut seed = Seed {
        customer: format!("cus_bench{}", infra.run),
        ..Seed::default()
    };
    let lead = |email: &str| -> Result<NewLead, String> {
        Ok(NewLead::new(
            EmailAddress::parse(email).map_err(|e| e.to_string())?,
            LeadSource::Checkout,
        ))
    };
    match spec.name {
        "customer-portal" => {
            seed.portal_email = infra.email("portal");
            let (customer, subscription) = infra.stripe_customer(&seed.portal_email).await?;
            let created = store
                .find_or_create_lead(&lead(&seed.portal_email)?, now)
                .await
                .map_err(|e| e.to_string())?;
            // The paid checkout as stripe-webhook records it.
            let payment = sales::store::CheckoutPayment {
                lead_id: &created.id,
                customer: Some(&customer),
                subscription: Some(&subscription),
                plan: Some(sales::domain::PlanType::Standard),
                founding: None,
                cause: &Cause::stripe_event("evt_bench_seed"),
            };
            let delivery = sales::store::DeliveryKey::new("stripe", "evt_bench_seed");
            store
                .record_payment(&payment, &delivery, now)
                .await
                .map_err(|e| e.to_string())?;
            seed.customer = customer;
        }
        "pipeline" => {
            for i in 0..10 {
                store
                    .find_or_create_lead(&lead(&infra.email(&format!("pipeline{i}")))?, now)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        _ => {}
    }
    Ok(seed)
}

/// The warm loop's event number `i` and the status it should get.
fn warm_request(
    infra: &Infra,
    spec: &FunctionSpec,
    seed: &Seed,
    i: usize,
) -> Result<(HttpRequest, u16), String> {
    let tag = format!("{}{i:05}", infra.run);
    Ok(match spec.name {
        "founding-spots" => (founding_spots_request(), 200),
        "create-checkout" => (
            checkout_request(&infra.email(&format!("warm{i}")), "standard"),
            200,
        ),
        "customer-portal" => (portal_request(&seed.portal_email), 200),
        "stripe-webhook" => (
            events::stripe_delivery(
                &events::invoice_paid(&tag, &seed.customer)?,
                &infra.secrets.stripe_webhook,
            ),
            200,
        ),
        "cal-webhook" => (
            events::cal_delivery(
                &events::cal_booking_created(&format!("w{tag}"), &infra.email(&format!("cal{i}")))?,
                &infra.secrets.cal,
            ),
            200,
        ),
        "calendly-webhook" => (
            events::calendly_delivery(
                &events::calendly_invitee_created(&tag, &infra.email(&format!("calendly{i}")))?,
                &infra.secrets.calendly,
            ),
            200,
        ),
        _ => (
            HttpRequest::new("GET", "/pipeline/summary").iam(IAM_CALLER),
            200,
        ),
    })
}

/// The functions whose warm loop writes: their table starts afresh every [`RECYCLE_EVERY`]
/// invocations. moto copies the whole table for every item of a transaction, so its latency
/// grows with the table (past a few thousand items, one request takes over 15 s); DynamoDB's
/// does not, and the function's own work does not depend on it.
const WRITERS: [&str; 4] = [
    "create-checkout",
    "stripe-webhook",
    "cal-webhook",
    "calendly-webhook",
];
const RECYCLE_EVERY: usize = 25;

/// One function's cold starts and warm loop.
#[derive(Debug)]
pub struct WarmResult {
    pub spec: &'static FunctionSpec,
    pub inits: Vec<Duration>,
    pub firsts: Vec<Duration>,
    pub warm: Vec<Duration>,
    pub in_function: Vec<Duration>,
    /// In-function time before the first request, between requests, after the last answer.
    pub phases: [Vec<Duration>; 3],
    pub dynamo_calls: usize,
    pub stripe_calls: usize,
    pub dynamo_wait: Duration,
    pub stripe_wait: Duration,
    pub unexpected: usize,
    pub unexpected_example: Option<String>,
    pub peak_rss_kb: Option<u64>,
    pub loop_time: Duration,
    pub error: Option<String>,
}

async fn run_warm(infra: &Infra, spec: &'static FunctionSpec, options: &Options) -> WarmResult {
    let mut result = WarmResult {
        spec,
        inits: Vec::new(),
        firsts: Vec::new(),
        warm: Vec::with_capacity(options.invocations),
        in_function: Vec::with_capacity(options.invocations),
        phases: Default::default(),
        dynamo_calls: 0,
        stripe_calls: 0,
        dynamo_wait: Duration::ZERO,
        stripe_wait: Duration::ZERO,
        unexpected: 0,
        unexpected_example: None,
        peak_rss_kb: None,
        loop_time: Duration::ZERO,
        error: None,
    };
    let table = format!("bench-{}-{}", spec.name, infra.run);
    say(format!(
        "{}: {} cold starts, then {} warm invocations ({})",
        spec.name, options.cold_starts, options.invocations, spec.warm
    ));
    if let Err(e) = infra.create_table(&table).await {
        result.error = Some(e);
        return result;
    }
    let outcome = warm_loop(infra, spec, options, &table, &mut result).await;
    if let Err(e) = outcome {
        say(format!("{}: {e}", spec.name));
        result.error = Some(e);
    }
    infra.delete_table(&table).await;
    result
}

async fn warm_loop(
    infra: &Infra,
    spec: &'static FunctionSpec,
    options: &Options,
    table: &str,
    result: &mut WarmResult,
) -> Result<(), String> {
    let seed = seed(infra, spec, table).await?;
    let mut n = 0;
    let check = |invocation: &Invocation, expected: u16, result: &mut WarmResult| {
        if invocation.status != expected {
            result.unexpected += 1;
            result
                .unexpected_example
                .get_or_insert_with(|| format!("HTTP {}: {}", invocation.status, invocation.body));
        }
    };
    for cold in 0..options.cold_starts {
        let mut instance = start_instance(infra, spec, table).await?;
        result.inits.push(instance.init);
        let (request, expected) = warm_request(infra, spec, &seed, n)?;
        n += 1;
        let first = invoke(infra, &instance, &request).await?;
        check(&first, expected, result);
        result.firsts.push(first.duration);
        if cold + 1 < options.cold_starts {
            instance.proc.stop(Duration::from_millis(200));
            continue;
        }
        let started = Instant::now();
        let mut recycling = Duration::ZERO;
        for i in 0..options.invocations {
            if i > 0 && i % RECYCLE_EVERY == 0 && WRITERS.contains(&spec.name) {
                // A fresh table (same name) between invocations, outside the timings.
                let at = Instant::now();
                infra.delete_table(table).await;
                infra.create_table(table).await?;
                recycling += at.elapsed();
            }
            let (request, expected) = warm_request(infra, spec, &seed, n)?;
            n += 1;
            let invocation = invoke(infra, &instance, &request).await?;
            check(&invocation, expected, result);
            result.warm.push(invocation.duration);
            result.in_function.push(invocation.in_function());
            let (before, between, after) = invocation.phases();
            result.phases[0].push(before);
            result.phases[1].push(between);
            result.phases[2].push(after);
            result.dynamo_calls += invocation.count(Service::DynamoDb);
            result.stripe_calls += invocation.count(Service::Stripe);
            result.dynamo_wait += invocation.wait(Service::DynamoDb);
            result.stripe_wait += invocation.wait(Service::Stripe);
        }
        result.loop_time = started.elapsed().saturating_sub(recycling);
        result.peak_rss_kb = instance.proc.status_kb("VmHWM");
        instance.proc.stop(Duration::from_millis(200));
        say(format!(
            "{}: {} invocations in {:.1} s ({} connections to the Runtime API)",
            spec.name,
            options.invocations,
            result.loop_time.as_secs_f64(),
            instance.api.connections()
        ));
    }
    Ok(())
}

/// How long a request spends between the function and the proxy that the proxy cannot see
/// (loopback transit and its own reading and writing): measured with ListTables through the
/// DynamoDB proxy, client round trip minus the wait the proxy recorded, median of 200.
async fn calibrate(infra: &Infra) -> Option<Duration> {
    let stream = TcpStream::connect(infra.dynamodb_proxy.addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let date = "20261125T000000Z";
    let auth = "AWS4-HMAC-SHA256 Credential=test/20261125/ap-southeast-2/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0";
    let host = infra.dynamodb_proxy.addr.to_string();
    let request = http1::request_bytes(
        "POST",
        "/",
        &[
            ("Host", &host),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
            ("X-Amz-Date", date),
            ("Authorization", auth),
        ],
        b"{}",
    );
    let mut gaps = Vec::new();
    for _ in 0..200 {
        infra.recorder.begin();
        let started = Instant::now();
        writer.write_all(&request).await.ok()?;
        http1::read_message(&mut reader, http1::Kind::ResponseTo("POST"))
            .await
            .ok()??;
        let round_trip = started.elapsed();
        let calls = infra.recorder.finish();
        if let Some(call) = calls.first() {
            gaps.push(round_trip.saturating_sub(call.wait));
        }
    }
    gaps.sort();
    gaps.get(gaps.len() / 2).copied()
}

/// The bootstrap's size: the binary, its zip (x86_64, made here with Python's zipfile,
/// deflate), and the arm64 zip of `make build` if there is one.
fn sizes(options: &Options, name: &str) -> report::Sizes {
    let binary = binary(options, name);
    let zip_dir = options.target_dir.join("bench/zips");
    let _ = std::fs::create_dir_all(&zip_dir);
    let zip = zip_dir.join(format!("{name}.zip"));
    let script = "import sys, zipfile\n\
        info = zipfile.ZipInfo('bootstrap', date_time=(2026, 1, 1, 0, 0, 0))\n\
        info.external_attr = 0o755 << 16\n\
        info.compress_type = zipfile.ZIP_DEFLATED\n\
        data = open(sys.argv[1], 'rb').read()\n\
        with zipfile.ZipFile(sys.argv[2], 'w') as z:\n    z.writestr(info, data)\n";
    let zipped = Command::new("python3")
        .args(["-c", script])
        .arg(&binary)
        .arg(&zip)
        .status()
        .is_ok_and(|s| s.success());
    let arm64 = options
        .target_dir
        .join("lambda")
        .join(name)
        .join("bootstrap.zip");
    report::Sizes {
        name: name.to_owned(),
        binary: std::fs::metadata(&binary).ok().map(|m| m.len()),
        zip_x86_64: zipped
            .then(|| std::fs::metadata(&zip).ok().map(|m| m.len()))
            .flatten(),
        zip_arm64: std::fs::metadata(&arm64).ok().map(|m| m.len()),
        arm64_built: std::fs::metadata(&arm64)
            .ok()
            .and_then(|m| m.modified().ok()),
    }
}
