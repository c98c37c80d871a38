//! Helpers for tests that run against the local DynamoDB server (`make db-start`).
//!
//! Each test makes its own table with a random name, so tests run in parallel and every race
//! starts from an empty table.

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::Credentials;
use sales::store::table;
use sales::SalesStore;

/// The local server's address: `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, or the
/// Makefile's default.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| "http://127.0.0.1:8000".to_owned())
}

pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    dynamodb_client_at(&endpoint()).await
}

/// A client for a DynamoDB endpoint (an unreachable one shows what an outage does).
pub async fn dynamodb_client_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-southeast-2".to_owned());
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "local-tests"))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// The functions of `infra/template.yaml`, by logical id: the roles whose policies the local
/// server applies (`infra/local/aws_rules.py`).
pub mod role {
    pub const FOUNDING_SPOTS: &str = "FoundingSpotsFunction";
    pub const CREATE_CHECKOUT: &str = "CreateCheckoutFunction";
    pub const CUSTOMER_PORTAL: &str = "CustomerPortalFunction";
    pub const STRIPE_WEBHOOK: &str = "StripeWebhookFunction";
    pub const CAL_WEBHOOK: &str = "CalWebhookFunction";
    pub const CALENDLY_WEBHOOK: &str = "CalendlyWebhookFunction";
    pub const PIPELINE: &str = "PipelineFunction";
    pub const WAITLIST_OFFERS: &str = "WaitlistOffersFunction";
}

/// What the local AWS server's SES sent to `recipient`: (subject, body), oldest first.
pub async fn ses_sent_to(recipient: &str) -> Vec<(String, String)> {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/_local/sent?service=ses", endpoint()))
        .send()
        .await
        .expect("the local server's sent-mail endpoint")
        .json()
        .await
        .expect("JSON");
    answer["sent"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| {
            message["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|to| to.iter().any(|a| a.as_str() == Some(recipient)))
        })
        .map(|message| {
            (
                message["subject"].as_str().unwrap_or_default().to_owned(),
                message["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The same table, reached as a function would reach it in AWS: its calls are signed with the
/// access key `local-<function>`, so the local server checks each one against that function's
/// policy in the template and refuses what AWS would refuse (`AccessDeniedException`).
/// Handlers under test get their store from here; set-up and checks keep the unrestricted one.
pub fn as_function(store: &SalesStore, function: &str) -> SalesStore {
    let config = store
        .client()
        .config()
        .to_builder()
        .credentials_provider(role_credentials(function))
        .build();
    SalesStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        store.table_name(),
    )
}

/// The functions' configuration as the tests use it, with Stripe at `stripe_base`; `overrides`
/// add or replace settings (webhook secrets, the Stripe key).
pub fn function_config(
    stripe_base: &str,
    overrides: &[(&str, &str)],
) -> sales::lambda::config::Config {
    let mut values: std::collections::HashMap<&str, String> = std::collections::HashMap::from([
        ("STRIPE_SECRET_KEY", "sk_test_local".to_owned()),
        ("STRIPE_FOUNDING_PRICE_ID", "price_founding".to_owned()),
        ("STRIPE_STANDARD_PRICE_ID", "price_standard".to_owned()),
        ("STRIPE_API_BASE", stripe_base.to_owned()),
        (
            "ALLOWED_REDIRECT_ORIGINS",
            "https://keiracom.com,https://app.keiracom.com".to_owned(),
        ),
        ("LANDING_ORIGIN", "https://keiracom.com".to_owned()),
        (
            "CHECKOUT_SUCCESS_URL",
            "https://app.keiracom.com/welcome".to_owned(),
        ),
        (
            "CHECKOUT_CANCEL_URL",
            "https://keiracom.com/pricing".to_owned(),
        ),
        (
            "PORTAL_RETURN_URL",
            "https://app.keiracom.com/account".to_owned(),
        ),
    ]);
    for (key, value) in overrides {
        values.insert(key, (*value).to_owned());
    }
    sales::lambda::config::Config::from_lookup(|key| values.get(key).cloned()).expect("test config")
}

/// The AWS configuration a function loads at cold start, signed as that function (see
/// [`as_function`]), against the local server.
pub async fn sdk_config_as(function: &str) -> aws_config::SdkConfig {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-southeast-2".to_owned());
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(endpoint())
        .credentials_provider(role_credentials(function))
        .load()
        .await
}

/// The team alerts topic (`TeamAlertsTopic` in infra/template.yaml) as the local server
/// provisions it: named by its logical id.
pub fn team_alerts_topic() -> String {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-southeast-2".to_owned());
    format!("arn:aws:sns:{region}:123456789012:TeamAlertsTopic")
}

/// The team's alerts as `function` publishes them (its `TEAM_ALERTS_TOPIC_ARN`), signed as that
/// function so that the local server applies its IAM policy; `topic` replaces the topic.
pub async fn team_alerts_as(
    function: &str,
    topic: Option<&str>,
) -> sales::lambda::alerts::TeamAlerts {
    let sdk = sdk_config_as(function).await;
    let topic = topic.map_or_else(team_alerts_topic, str::to_owned);
    sales::lambda::alerts::TeamAlerts::from_config(&sdk, Some(&topic))
}

/// The alert lines published to the team alerts topic that contain `needle`, oldest first
/// (what an e-mail subscriber reads: the message's `default`). Tests run at once on one
/// server, so each looks for something of its own, such as an e-mail address made for it.
pub async fn team_alerts_sent(needle: &str) -> Vec<String> {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/_local/sent?service=sns", endpoint()))
        .send()
        .await
        .expect("the local server's sent endpoint")
        .json()
        .await
        .expect("JSON");
    let topic = team_alerts_topic();
    answer["sent"]
        .as_array()
        .expect("a list of sent messages")
        .iter()
        .filter(|m| m["topic"] == topic.as_str())
        .filter_map(|m| {
            let message: serde_json::Value =
                serde_json::from_str(m["message"].as_str()?).expect("a JSON message structure");
            Some(message["default"].as_str()?.to_owned())
        })
        .filter(|line| line.contains(needle))
        .collect()
}

/// An e-mail address no other test uses (to find this test's alerts).
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// What a function signs with locally: the access key id `local-<function>`.
fn role_credentials(function: &str) -> Credentials {
    Credentials::new(
        format!("local-{function}"),
        "test",
        None,
        None,
        "local-role",
    )
}

/// A fresh table on the local server, deleted by [`TestTable::drop_table`].
pub struct TestTable {
    pub store: SalesStore,
    pub name: String,
}

impl TestTable {
    pub async fn new() -> TestTable {
        let client = dynamodb_client().await;
        let name = format!("test-{}", uuid::Uuid::new_v4().simple());
        table::create_table(&client, &name)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not create a table on the local DynamoDB server at {}: {e}\n\
                 Start it with `make db-start`, or run the tests with `make test`.",
                    endpoint()
                )
            });
        TestTable {
            store: SalesStore::new(client, name.clone()),
            name,
        }
    }

    /// A fresh table under DynamoDB's rules (`infra/local/aws_rules.py`): concurrent
    /// transactions on an item conflict, and every request takes a few milliseconds, with a tail.
    pub async fn under_aws_rules() -> TestTable {
        let table = TestTable::new().await;
        set_rules(
            &table.name,
            serde_json::json!({"conflicts": true, "latency": true}),
        )
        .await;
        table
    }

    /// How many items the table holds (a Scan: tests only), to show that a refused request
    /// wrote nothing.
    pub async fn item_count(&self) -> usize {
        let mut count = 0;
        let mut start = None;
        loop {
            let page = self
                .store
                .client()
                .scan()
                .table_name(&self.name)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan the test table");
            count += page.items().len();
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return count,
            }
        }
    }

    pub async fn drop_table(self) {
        table::delete_table(self.store.client(), &self.name)
            .await
            .expect("delete test table");
    }
}

/// Sets the local server's rules for one table (`infra/local/aws_rules.py`: `conflicts`,
/// `latency`, `throttle_rate`, `error_rate`, `unprocessed_rate`, `stalled`); `"*"` for all.
pub async fn set_rules(table: &str, rules: serde_json::Value) {
    let mut body = rules;
    body["table"] = serde_json::Value::String(table.to_owned());
    let response = reqwest::Client::new()
        .post(format!("{}/_local/rules", endpoint()))
        .json(&body)
        .send()
        .await
        .expect("the local server's rules endpoint");
    assert!(
        response.status().is_success(),
        "rules refused: {}",
        response.text().await.unwrap_or_default()
    );
}

/// What the rules did to a table's requests: requests, transactions, conflicts, throttled,
/// errors, unprocessed, stalled.
pub async fn rule_counts(table: &str) -> serde_json::Value {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/_local/rules?table={table}", endpoint()))
        .send()
        .await
        .expect("the local server's rules endpoint")
        .json()
        .await
        .expect("JSON");
    answer["counts"].clone()
}

/// Runs a concurrency test twice: against the plain local server (one request at a time, at
/// once) and under DynamoDB's rules (conflicts and latency), printing what the rules did.
/// `test` is an `async fn(TestTable)`.
#[macro_export]
macro_rules! on_both_servers {
    ($test:ident) => {
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn plain() {
                super::$test($crate::TestTable::new().await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn under_aws_rules() {
                let table = $crate::TestTable::under_aws_rules().await;
                let name = table.name.clone();
                // Spawned, so that what the rules did is printed when the test fails too.
                let outcome = tokio::spawn(super::$test(table)).await;
                let counts = $crate::rule_counts(&name).await;
                eprintln!(
                    "[aws rules] {}: {} requests, {} transactions, {} conflicts (most on {})",
                    stringify!($test),
                    counts["requests"],
                    counts["transactions"],
                    counts["conflicts"],
                    counts["hot_items"]
                );
                if let Err(failed) = outcome {
                    std::panic::resume_unwind(failed.into_panic());
                }
            }
        }
    };
}

/// An API Gateway HTTP API (v2) / function URL request, as Lambda delivers it, turned into a
/// `lambda_http::Request` the way the runtime does.
pub fn apigw_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    base64_body: bool,
    jwt_claims: Option<serde_json::Value>,
) -> lambda_http::Request {
    let authorizer =
        jwt_claims.map(|claims| serde_json::json!({"jwt": {"claims": claims, "scopes": null}}));
    apigw_event(method, path, "", headers, body, base64_body, authorizer)
}

/// The same request from another client address (`requestContext.http.sourceIp`, as API
/// Gateway reports the caller).
pub fn from_address(mut request: lambda_http::Request, ip: &str) -> lambda_http::Request {
    use lambda_http::request::RequestContext;
    if let Some(RequestContext::ApiGatewayV2(context)) =
        request.extensions_mut().get_mut::<RequestContext>()
    {
        context.http.source_ip = Some(ip.to_owned());
    }
    request
}

/// A store whose AWS calls are bounded as a deployed function's are
/// ([`sales::lambda::runtime::AwsTimeouts`]).
pub fn with_timeouts(
    store: &SalesStore,
    timeouts: sales::lambda::runtime::AwsTimeouts,
) -> SalesStore {
    let config = store
        .client()
        .config()
        .to_builder()
        .timeout_config(timeouts.timeout_config())
        .retry_config(timeouts.retry_config())
        .build();
    SalesStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        store.table_name(),
    )
}

/// A request to a route with IAM authorization, as API Gateway passes it after checking the
/// caller's SigV4 signature (`user_arn: None`: no identity, as through `cargo lambda watch`).
pub fn iam_request(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&serde_json::Value>,
    user_arn: Option<&str>,
) -> lambda_http::Request {
    let authorizer = user_arn.map(|arn| {
        serde_json::json!({"iam": {
            "accessKey": "ASIATESTKEY", "accountId": "123456789012", "callerId": "AIDATESTCALLER",
            "principalOrgId": null, "userArn": arn, "userId": "AIDATESTCALLER",
            "cognitoIdentity": null
        }})
    });
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    apigw_event(
        method,
        path,
        query,
        &[("content-type", "application/json")],
        body.as_bytes(),
        false,
        authorizer,
    )
}

fn apigw_event(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    base64_body: bool,
    authorizer: Option<serde_json::Value>,
) -> lambda_http::Request {
    use base64::Engine;
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.to_lowercase(), serde_json::Value::String((*v).to_owned())))
        .collect();
    let body = if base64_body {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("a text body")
    };
    let mut context = serde_json::json!({
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.example.com",
        "domainPrefix": "api",
        "requestId": "req-1",
        "routeKey": format!("{method} {path}"),
        "stage": "$default",
        "time": "25/Nov/2026:10:00:00 +0000",
        "timeEpoch": 1_795_600_000_000_i64,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "tests"}
    });
    if let Some(authorizer) = authorizer {
        context["authorizer"] = authorizer;
    }
    let parameters: serde_json::Map<String, serde_json::Value> =
        url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": parameters,
        "headers": headers,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": base64_body
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event")
}

/// A fixture file copied from the providers' references into `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A Cal.com fixture body (`cal/<trigger>.body.json`) dated `at` (its `createdAt`): cal-webhook
/// refuses a delivery older than the delivery ledger keeps its records, so a fixture sent to a
/// handler on today's clock is dated today.
pub fn cal_body_dated(trigger: &str, at: time::OffsetDateTime) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture(&format!("cal/{trigger}.body.json"))).expect("JSON");
    body["createdAt"] = serde_json::Value::String(sales::domain::time_format::to_sortable(at));
    serde_json::to_vec(&body).expect("JSON")
}

/// A handler's response: status and JSON body (`Null` when empty).
pub async fn response_json(
    response: sales::lambda::http::HttpResponse,
) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.body().as_ref();
    let value = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(body).expect("JSON body")
    };
    (status, value)
}

/// The `salesctl` binary `make test` builds (`cargo build --workspace --all-targets`), next to
/// the running test's own directory.
pub fn salesctl_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("salesctl");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p salesctl` (make test does)",
        path.display()
    );
    path
}

/// What a command printed, and how it exited.
pub struct CommandOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    pub fn of(output: std::process::Output) -> Self {
        CommandOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Standard output as JSON (`--json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// A founding checkout and its payment, the way production makes a member: create-checkout's
/// hold ([`SalesStore::hold_founding_spot`]), then the paid checkout that stripe-webhook records
/// ([`SalesStore::record_payment`], with the event's delivery record). Returns the spot and the
/// outcome of the payment.
pub async fn pay_founding_checkout(
    store: &SalesStore,
    email: &sales::domain::EmailAddress,
    company: Option<&str>,
    now: time::OffsetDateTime,
) -> (
    sales::domain::SpotNumber,
    Option<sales::store::ConfirmOutcome>,
) {
    use sales::domain::{Cause, HoldRef, HoldWindow, LeadSource, NewLead, PlanType};
    use sales::store::{CheckoutPayment, DeliveryKey, FoundingPayment, HoldOutcome, Once};
    let mut lead = NewLead::new(email.clone(), LeadSource::Checkout);
    lead.company = company.map(str::to_owned);
    let expires = HoldWindow::starting_at(now).hold_expires_at;
    // As the functions that do these in AWS: create-checkout holds, the Stripe webhook pays.
    let (lead, outcome) = as_function(store, role::CREATE_CHECKOUT)
        .hold_founding_spot(&lead, &HoldRef::generate(), expires, now)
        .await
        .expect("hold");
    let HoldOutcome::Held { spot, hold_ref, .. } = outcome else {
        panic!("no spot for {email}: {outcome:?}");
    };
    let event = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let payment = CheckoutPayment {
        lead_id: &lead.id,
        customer: None,
        subscription: None,
        plan: Some(PlanType::Founding),
        founding: Some(FoundingPayment {
            spot,
            hold_ref: &hold_ref,
            company_name: company,
            session: "cs_test",
            slot: None,
        }),
        cause: &Cause::stripe_event(&event),
    };
    let delivery = DeliveryKey::new("stripe", event);
    match as_function(store, role::STRIPE_WEBHOOK)
        .record_payment(&payment, &delivery, now)
        .await
        .expect("payment")
    {
        Once::Applied(recorded) => (spot, recorded.founding),
        other => panic!("a new event was not applied: {other:?}"),
    }
}

/// A deal's stage history, oldest first, as the sales team reads it (the deal in full).
pub async fn history(
    store: &SalesStore,
    id: &sales::domain::LeadId,
) -> Vec<sales::domain::StageChange> {
    store
        .lead_detail(id)
        .await
        .expect("lead detail")
        .expect("the lead exists")
        .history
}

/// The Stripe event fixtures of the six event types stripe-webhook handles (under `stripe/`).
pub const STRIPE_EVENT_FIXTURES: [&str; 12] = [
    "evt_checkout.session.completed.json",
    "evt_checkout.session.expired.json",
    "evt_checkout.session.async_payment_succeeded.json",
    "evt_checkout.session.async_payment_failed.json",
    "evt_charge.dispute.created.json",
    "evt_charge.dispute.closed.json",
    "evt_charge.succeeded.json",
    "evt_charge.refunded.json",
    "evt_customer.subscription.updated.json",
    "evt_customer.subscription.deleted.json",
    "evt_invoice.paid.json",
    "evt_invoice.payment_failed.json",
];

/// Hostile variations of a JSON document, for fuzzing parsers and handlers: from `seed`, a few
/// mutations at random places (a field removed, nulled, made a 5,000-character string, nested
/// 200 deep, given the wrong type, or odd text), deterministic for a seed.
pub mod mutate {
    use serde_json::{json, Value};

    /// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n.max(1) as u64) as usize
        }
    }

    /// Every JSON pointer in `value`, the root included.
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    pointers(child, format!("{at}/{escaped}"), out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    pointers(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    fn replacement(rng: &mut Rng) -> Value {
        match rng.below(9) {
            0 => Value::Null,
            1 => json!("x".repeat(5000)),
            2 => {
                let mut deep = json!("bottom");
                for _ in 0..200 {
                    deep = json!([deep]);
                }
                deep
            }
            3 => json!(rng.next_u64() as i64),
            4 => json!(-1.5e300),
            5 => json!(true),
            6 => json!({}),
            7 => json!("\u{0}\u{202e}é€𝄞\n\"'<>"),
            _ => json!([]),
        }
    }

    /// Applies 1–3 mutations to `value`.
    pub fn json(value: &mut Value, seed: u64) {
        let mut rng = Rng::new(seed);
        for _ in 0..=rng.below(3) {
            let mut all = Vec::new();
            pointers(value, String::new(), &mut all);
            let target = all[rng.below(all.len())].clone();
            let remove = rng.below(4) == 0 && !target.is_empty();
            if remove {
                let (parent, last) = target.rsplit_once('/').unwrap_or(("", ""));
                let last = last.replace("~1", "/").replace("~0", "~");
                match value.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.remove(&last);
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            if i < items.len() {
                                items.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            } else if let Some(slot) = value.pointer_mut(&target) {
                *slot = replacement(&mut rng);
            }
        }
    }

    /// The bytes of a mutated document, sometimes cut short.
    pub fn bytes(value: &Value, seed: u64) -> Vec<u8> {
        let mut value = value.clone();
        json(&mut value, seed);
        let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
        let mut rng = Rng::new(seed ^ 0xABCD);
        if rng.below(8) == 0 && !bytes.is_empty() {
            bytes.truncate(rng.below(bytes.len()));
        }
        bytes
    }
}
