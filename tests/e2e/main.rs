//! End to end over real HTTP: the functions under `cargo lambda watch`, the Stripe stand-in and
//! the local DynamoDB server, as `make dev` runs them. `make e2e` starts that stack, runs this
//! test (`cargo test -p sales-tests --test e2e`; `cargo test --workspace` skips it, the stack is
//! not up there) and stops the stack.
//!
//! Each scenario starts from an empty table (the stack's table is deleted and created again), so
//! the scenarios run one at a time (`--test-threads=1`, as `make e2e` does).

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use sales::domain::signature::sign_hex;
use sales::domain::{EmailAddress, FoundingBenefits, PipelineStage};
use sales::store::table;
use sales::SalesStore;
use serde_json::{json, Value};

/// The stack's settings: `.env.dev` (written by `make dev`), overridable from the environment.
struct Stack {
    functions: String,
    standin: String,
    settings: HashMap<String, String>,
    http: reqwest::Client,
    store: SalesStore,
}

impl Stack {
    async fn up() -> Stack {
        let path = std::env::var("E2E_ENV_FILE")
            .unwrap_or_else(|_| format!("{}/../.env.dev", env!("CARGO_MANIFEST_DIR")));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{path}: {e}. The end-to-end test runs against the local stack: `make e2e`.")
        });
        let settings: HashMap<String, String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let get = |key: &str, default: &str| {
            std::env::var(key)
                .ok()
                .or_else(|| settings.get(key).cloned())
                .unwrap_or_else(|| default.to_owned())
        };
        let functions = get("E2E_FUNCTIONS_URL", "http://127.0.0.1:9000/lambda-url");
        let standin = get("E2E_STANDIN_URL", "http://127.0.0.1:12111");
        let endpoint = get("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000");
        let table_name = get("TABLE_NAME", table::DEFAULT_TABLE_NAME);
        let client = sales_tests::dynamodb_client_at(&endpoint).await;
        let store = SalesStore::new(client, table_name);
        Stack {
            functions,
            standin,
            settings,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("an HTTP client"),
            store,
        }
    }

    /// An empty table, under the name the functions use.
    async fn fresh_table(&self) {
        let client = self.store.client();
        let name = self.store.table_name();
        let _ = table::delete_table(client, name).await;
        table::create_table(client, name)
            .await
            .expect("create the stack's table");
    }

    fn secret(&self, key: &str) -> String {
        self.settings
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} is not in .env.dev"))
    }

    fn url(&self, function: &str, path: &str) -> String {
        format!(
            "{}/{function}/{}",
            self.functions,
            path.trim_start_matches('/')
        )
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the local stack answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn founding_checkout(&self, email: &str) -> (u16, Value) {
        self.send(
            self.http
                .post(self.url("create-checkout", "billing/create-checkout"))
                .json(&json!({"email": email, "plan_type": "founding", "company_name": "Acme"})),
        )
        .await
    }

    /// Presses a button on the stand-in's checkout page: `pay` or `expire`.
    async fn press(&self, session_id: &str, action: &str) -> Value {
        let (status, result) = self
            .send(
                self.http
                    .post(format!("{}/checkout/{session_id}/{action}", self.standin)),
            )
            .await;
        assert_eq!(status, 200, "{result}");
        assert_eq!(result["webhook"]["status"], 200, "the webhook: {result}");
        result
    }

    /// `remaining` once founding-spots shows `expected` (its instances cache for 5 s).
    async fn remaining_becomes(&self, expected: i64) {
        let mut last = Value::Null;
        for _ in 0..20 {
            let (status, body) = self
                .send(
                    self.http
                        .get(self.url("founding-spots", "billing/founding-spots")),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            if body["remaining"] == expected {
                return;
            }
            last = body;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        panic!("founding-spots never showed remaining {expected}; last {last}");
    }

    async fn stage_of(&self, email: &str) -> PipelineStage {
        self.store
            .lead_by_email(&EmailAddress::parse(email).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no lead {email}"))
            .pipeline
            .stage
    }
}

#[tokio::test]
async fn a_demo_booking_then_a_founding_payment_and_an_expiry() {
    let stack = Stack::up().await;
    stack.fresh_table().await;

    // A Cal.com booking, signed with the stack's secret.
    let body = std::fs::read(format!(
        "{}/fixtures/cal/BOOKING_CREATED.body.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let signature = sign_hex(stack.secret("CAL_WEBHOOK_SECRET").as_bytes(), &[&body]);
    let (status, result) = stack
        .send(
            stack
                .http
                .post(stack.url("cal-webhook", "/"))
                .header("X-Cal-Signature-256", signature)
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        stack.stage_of("ada@example.com").await,
        PipelineStage::DemoBooked
    );

    // Ada's founding checkout, paid on the stand-in's page.
    stack.remaining_becomes(20).await;
    let (status, checkout) = stack.founding_checkout("ada@example.com").await;
    assert_eq!(status, 200, "{checkout}");
    assert!(checkout["checkout_url"]
        .as_str()
        .unwrap()
        .starts_with(&stack.standin));
    stack
        .press(checkout["session_id"].as_str().unwrap(), "pay")
        .await;
    assert_eq!(
        stack.stage_of("ada@example.com").await,
        PipelineStage::ClosedWon
    );
    let members = stack.store.founding_members().await.unwrap();
    assert_eq!(members.len(), 1, "member #1");
    assert_eq!(members[0].email.as_str(), "ada@example.com");
    assert_eq!(members[0].benefits, FoundingBenefits::CURRENT);
    stack.remaining_becomes(19).await;

    // Another visitor lets the session expire: the spot is back.
    let (status, checkout) = stack.founding_checkout("bob@example.com").await;
    assert_eq!(status, 200, "{checkout}");
    stack.remaining_becomes(18).await;
    stack
        .press(checkout["session_id"].as_str().unwrap(), "expire")
        .await;
    stack.remaining_becomes(19).await;
    assert_eq!(stack.store.founding_members().await.unwrap().len(), 1);
}

#[tokio::test]
async fn twenty_members_then_the_waitlist() {
    let stack = Stack::up().await;
    stack.fresh_table().await;
    for n in 0..20 {
        let (status, checkout) = stack.founding_checkout(&format!("m{n}@example.com")).await;
        assert_eq!(status, 200, "{checkout}");
        stack
            .press(checkout["session_id"].as_str().unwrap(), "pay")
            .await;
    }
    assert_eq!(stack.store.founding_members().await.unwrap().len(), 20);
    stack.remaining_becomes(0).await;
    let (status, full) = stack.founding_checkout("late@example.com").await;
    assert_eq!(status, 409, "{full}");
    assert_eq!(full["error"], "founding_full");
    assert_eq!(full["waitlist_position"], 1);
}

#[tokio::test]
async fn fifty_concurrent_founding_checkouts_get_exactly_twenty_spots() {
    let stack = Stack::up().await;
    stack.fresh_table().await;
    let emails: Vec<String> = (0..50).map(|n| format!("rush{n}@example.com")).collect();
    let answers = join_all(emails.iter().map(|e| stack.founding_checkout(e))).await;
    let mut spots: Vec<i64> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body["spot_number"].as_i64().expect("a spot number"))
        .collect();
    spots.sort_unstable();
    assert_eq!(spots, (1..=20).collect::<Vec<i64>>(), "{answers:?}");
    let mut positions: Vec<i64> = answers
        .iter()
        .filter(|(status, body)| *status == 409 && body["error"] == "founding_full")
        .map(|(_, body)| body["waitlist_position"].as_i64().unwrap())
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=30).collect::<Vec<i64>>(), "{answers:?}");
    stack.remaining_becomes(0).await;
}
