//! `salesctl setup` against Stripe, Cal.com and Calendly faked at the HTTP level (tests/setup/
//! fakes.rs) and the local server's Secrets Manager (the one `sales_tests::endpoint()` names:
//! moto serves DynamoDB and Secrets Manager on the same port).

mod cli;
mod fakes;

use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::config::Credentials;
use sales::lambda::config::Secret;
use sales::providers::stripe::STRIPE_VERSION;
use sales::providers::stripe_events::HANDLED_EVENT_TYPES;
use salesctl::setup::{
    run, CalSetup, CalendlyScope, CalendlySetup, Outcome, Provider, Report, SetupConfig,
    StripeSetup,
};
use serde_json::{json, Value};
use url::Url;
use wiremock::MockServer;

use fakes::{
    bodies, requests, writes, FakeCal, FakeCalendly, FakeStripe, CALENDLY_ORG, CALENDLY_TOKEN,
    CALENDLY_USER, CAL_KEY, STRIPE_KEY,
};

pub const STRIPE_HOOK: &str = "https://stripe-hook.lambda-url.ap-southeast-2.on.aws/";
pub const CAL_HOOK: &str = "https://cal-hook.lambda-url.ap-southeast-2.on.aws/";
pub const CALENDLY_HOOK: &str = "https://calendly-hook.lambda-url.ap-southeast-2.on.aws/";
const STANDARD: u64 = 9_900;
const FOUNDING: u64 = 5_940;
const STANDARD_KEY: &str = "agency_os_standard_monthly_aud";
const FOUNDING_KEY: &str = "agency_os_founding_monthly_aud";

/// The secret as the SAM template creates it (every key empty), plus keys setup does not own.
pub fn template_secret() -> Value {
    json!({
        "STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": "", "STRIPE_WEBHOOK_SECRET_PREVIOUS": "",
        "CAL_WEBHOOK_SECRET": "", "CAL_WEBHOOK_SECRET_PREVIOUS": "",
        "CALENDLY_WEBHOOK_SIGNING_KEY": "", "CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS": "",
        "SOMEONE_ELSES_KEY": "keep me", "NESTED": {"not": ["a", "string"]}
    })
}

pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-southeast-2".to_owned());
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(sales_tests::endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "local-tests"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

/// A fresh secret on the local server.
pub struct TestSecret {
    pub client: aws_sdk_secretsmanager::Client,
    pub name: String,
    pub arn: String,
}

impl TestSecret {
    pub async fn new(value: &Value) -> TestSecret {
        let client = secrets_client().await;
        let name = format!("setup-test-{}/sales", uuid::Uuid::new_v4().simple());
        let created = client
            .create_secret()
            .name(&name)
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not create a secret on the local server at {}: {}\n\
                     Start it with `make db-start`, or run the tests with `make test`.",
                    sales_tests::endpoint(),
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            });
        TestSecret {
            client,
            name,
            arn: created.arn().expect("an ARN").to_owned(),
        }
    }

    /// The exact stored string and its version id.
    pub async fn raw(&self) -> (String, String) {
        let value = self
            .client
            .get_secret_value()
            .secret_id(&self.name)
            .send()
            .await
            .expect("read the test secret");
        (
            value.secret_string().expect("a string").to_owned(),
            value.version_id().expect("a version").to_owned(),
        )
    }

    pub async fn json(&self) -> Value {
        serde_json::from_str(&self.raw().await.0).expect("JSON")
    }

    pub async fn delete(self) {
        self.client
            .delete_secret()
            .secret_id(&self.name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .expect("delete the test secret");
    }
}

fn url(raw: &str) -> Url {
    Url::parse(raw).unwrap()
}

fn stripe_setup(server: &MockServer, standard: u64) -> StripeSetup {
    StripeSetup {
        api_base: url(&server.uri()),
        secret_key: Some(Secret::new(STRIPE_KEY)),
        webhook_url: url(STRIPE_HOOK),
        standard_amount_cents: standard,
        product_id: "agency_os".into(),
    }
}

fn cal_setup(server: &MockServer, key: &str) -> CalSetup {
    CalSetup {
        api_base: url(&server.uri()),
        api_key: Secret::new(key),
        webhook_url: url(CAL_HOOK),
        demo_slug: "agency-os-demo".into(),
        demo_location: salesctl::setup::cal::location("cal-video").unwrap(),
        booking_base: url("https://cal.com"),
    }
}

fn calendly_setup(server: &MockServer) -> CalendlySetup {
    CalendlySetup {
        api_base: url(&server.uri()),
        token: Secret::new(CALENDLY_TOKEN),
        webhook_url: url(CALENDLY_HOOK),
        scope: CalendlyScope::User,
    }
}

fn config(
    secret: &TestSecret,
    stripe: Option<StripeSetup>,
    cal: Option<CalSetup>,
    calendly: Option<CalendlySetup>,
    dry_run: bool,
) -> SetupConfig {
    let mut skipped = Vec::new();
    if stripe.is_none() {
        skipped.push((Provider::Stripe, "not in this test".to_owned()));
    }
    if cal.is_none() {
        skipped.push((Provider::Cal, "CAL_API_KEY is not set".to_owned()));
    }
    if calendly.is_none() {
        skipped.push((Provider::Calendly, "CALENDLY_TOKEN is not set".to_owned()));
    }
    SetupConfig {
        secret_id: secret.arn.clone(),
        stripe,
        cal,
        calendly,
        skipped,
        dry_run,
    }
}

/// The three faked providers.
struct Providers {
    stripe: MockServer,
    stripe_fake: FakeStripe,
    cal: MockServer,
    cal_fake: FakeCal,
    calendly: MockServer,
    calendly_fake: FakeCalendly,
}

impl Providers {
    async fn new() -> Providers {
        let (stripe, stripe_fake) = fakes::stripe().await;
        let (cal, cal_fake) = fakes::cal().await;
        let (calendly, calendly_fake) = fakes::calendly().await;
        Providers {
            stripe,
            stripe_fake,
            cal,
            cal_fake,
            calendly,
            calendly_fake,
        }
    }

    fn all(&self, secret: &TestSecret, dry_run: bool) -> SetupConfig {
        config(
            secret,
            Some(stripe_setup(&self.stripe, STANDARD)),
            Some(cal_setup(&self.cal, CAL_KEY)),
            Some(calendly_setup(&self.calendly)),
            dry_run,
        )
    }

    async fn writes(&self) -> usize {
        writes(&self.stripe).await.len()
            + writes(&self.cal).await.len()
            + writes(&self.calendly).await.len()
    }
}

fn outcomes(report: &Report) -> Vec<(Provider, String, Outcome)> {
    report
        .steps
        .iter()
        .map(|s| (s.provider, s.resource.clone(), s.outcome))
        .collect()
}

fn step(provider: Provider, resource: &str, outcome: Outcome) -> (Provider, String, Outcome) {
    (provider, resource.to_owned(), outcome)
}

fn sorted(items: impl IntoIterator<Item = impl ToString>) -> Vec<String> {
    let mut items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    items.sort();
    items
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Neither the report's text nor its JSON holds any of these values.
fn assert_no_secret_in(report: &Report, secrets: &[&str]) {
    let text = report.to_string();
    let json = serde_json::to_string(report).unwrap();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!text.contains(secret), "a secret in the report:\n{text}");
        assert!(
            !json.contains(secret),
            "a secret in the JSON report: {json}"
        );
    }
}

fn run_ok(result: Result<Report, salesctl::setup::Failure>) -> Report {
    result.unwrap_or_else(|failure| panic!("setup failed:\n{failure}"))
}

#[tokio::test]
async fn the_first_run_creates_everything_and_a_second_run_changes_nothing() {
    let secret = TestSecret::new(&template_secret()).await;
    let p = Providers::new().await;

    let report = run_ok(run(&p.all(&secret, false), &secret.client).await);
    assert_eq!(
        outcomes(&report),
        vec![
            step(Provider::Stripe, "product", Outcome::Created),
            step(Provider::Stripe, "price standard", Outcome::Created),
            step(Provider::Stripe, "price founding", Outcome::Created),
            step(Provider::Stripe, "webhook endpoint", Outcome::Created),
            step(Provider::Stripe, "portal configuration", Outcome::Created),
            step(Provider::Cal, "webhook", Outcome::Created),
            step(Provider::Cal, "event type", Outcome::Created),
            step(Provider::Calendly, "webhook subscription", Outcome::Created),
        ],
        "{report}"
    );
    // The portal: payment methods, invoices, cancel at period end, no plan switching.
    let portal_id = {
        let state = p.stripe_fake.state.lock().unwrap();
        assert_eq!(state.portal_configurations.len(), 1);
        let portal = &state.portal_configurations[0];
        let features = &portal["features"];
        assert_eq!(features["subscription_update"]["enabled"], false);
        assert_eq!(features["customer_update"]["enabled"], false);
        assert_eq!(features["payment_method_update"]["enabled"], true);
        assert_eq!(features["invoice_history"]["enabled"], true);
        assert_eq!(features["subscription_cancel"]["mode"], "at_period_end");
        assert_eq!(portal["metadata"]["product"], "agency_os");
        portal["id"].as_str().unwrap().to_owned()
    };
    // The demo event type: 30 minutes, on Cal Video, its link saved and printed.
    {
        let state = p.cal_fake.state.lock().unwrap();
        assert_eq!(state.event_types.len(), 1);
        let demo = &state.event_types[0];
        assert_eq!(
            (
                demo["title"].as_str(),
                demo["slug"].as_str(),
                demo["lengthInMinutes"].as_u64()
            ),
            (Some("Agency OS Demo"), Some("agency-os-demo"), Some(30))
        );
        assert_eq!(
            demo["locations"],
            json!([{"type": "integration", "integration": "cal-video"}])
        );
    }
    let demo_link = format!("https://cal.com/{}/agency-os-demo", fakes::CAL_USERNAME);
    assert!(report.to_string().contains(&demo_link), "{report}");
    // Calendly has no "Agency OS Demo": the report says what to create, plainly.
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("no event type named \"Agency OS Demo\"")
                && w.contains("One-on-One")
                && w.contains("30 minutes")),
        "{report}"
    );

    // Stripe: the product, two monthly AUD prices by lookup_key, one endpoint.
    let (standard_id, founding_id, endpoint_id, endpoint_secret) = {
        let state = p.stripe_fake.state.lock().unwrap();
        assert_eq!(state.products.len(), 1);
        assert_eq!(state.products["agency_os"]["name"], "Agency OS");
        let standard = state.price_by_lookup_key(STANDARD_KEY).unwrap();
        let founding = state.price_by_lookup_key(FOUNDING_KEY).unwrap();
        for (price, amount) in [(standard, STANDARD), (founding, FOUNDING)] {
            assert_eq!(price["unit_amount"], amount);
            assert_eq!(price["currency"], "aud");
            assert_eq!(price["product"], "agency_os");
            assert_eq!(price["recurring"]["interval"], "month");
        }
        assert_eq!(state.endpoints.len(), 1);
        let endpoint = &state.endpoints[0];
        assert_eq!(endpoint["url"], STRIPE_HOOK);
        assert_eq!(endpoint["api_version"], STRIPE_VERSION);
        let events: Vec<&str> = endpoint["enabled_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(sorted(&events), sorted(HANDLED_EVENT_TYPES));
        let id = endpoint["id"].as_str().unwrap().to_owned();
        (
            standard["id"].as_str().unwrap().to_owned(),
            founding["id"].as_str().unwrap().to_owned(),
            id.clone(),
            state.endpoint_secrets[&id].clone(),
        )
    };
    let price_forms: Vec<_> = bodies(&p.stripe, "POST", "/v1/prices")
        .await
        .iter()
        .map(|b| form(b))
        .collect();
    assert_eq!(price_forms.len(), 2);
    assert_eq!(param(&price_forms[0], "lookup_key"), Some(STANDARD_KEY));
    assert_eq!(param(&price_forms[0], "unit_amount"), Some("9900"));
    assert_eq!(param(&price_forms[0], "recurring[interval]"), Some("month"));
    assert_eq!(param(&price_forms[1], "lookup_key"), Some(FOUNDING_KEY));
    assert_eq!(param(&price_forms[1], "unit_amount"), Some("5940"));
    assert_eq!(param(&price_forms[1], "transfer_lookup_key"), None);
    let endpoint_form = form(&bodies(&p.stripe, "POST", "/v1/webhook_endpoints").await[0]);
    assert_eq!(param(&endpoint_form, "url"), Some(STRIPE_HOOK));
    assert_eq!(param(&endpoint_form, "api_version"), Some(STRIPE_VERSION));
    assert_eq!(
        param(&endpoint_form, "enabled_events[0]"),
        Some(HANDLED_EVENT_TYPES[0])
    );

    // Cal.com: one active webhook for the five booking triggers, with a generated secret.
    let cal_body: Value =
        serde_json::from_slice(&bodies(&p.cal, "POST", "/v2/webhooks").await[0]).unwrap();
    assert_eq!(cal_body["active"], true);
    assert_eq!(cal_body["subscriberUrl"], CAL_HOOK);
    assert_eq!(
        cal_body["triggers"],
        json!([
            "BOOKING_CREATED",
            "BOOKING_CANCELLED",
            "BOOKING_RESCHEDULED",
            "BOOKING_REQUESTED",
            "BOOKING_REJECTED"
        ])
    );
    assert!(cal_body.get("payloadTemplate").is_none());
    let cal_secret = cal_body["secret"].as_str().unwrap().to_owned();
    assert_eq!(cal_secret.len(), 64);

    // Calendly: one user-scope subscription with a generated signing key.
    let calendly_body: Value =
        serde_json::from_slice(&bodies(&p.calendly, "POST", "/webhook_subscriptions").await[0])
            .unwrap();
    assert_eq!(calendly_body["url"], CALENDLY_HOOK);
    assert_eq!(
        calendly_body["events"],
        json!(["invitee.created", "invitee.canceled"])
    );
    assert_eq!(calendly_body["organization"], CALENDLY_ORG);
    assert_eq!(calendly_body["user"], CALENDLY_USER);
    assert_eq!(calendly_body["scope"], "user");
    let signing_key = calendly_body["signing_key"].as_str().unwrap().to_owned();
    assert_eq!(signing_key.len(), 64);
    assert_ne!(signing_key, cal_secret);

    // The secret: every value the functions need, merged into what was there.
    let stored = secret.json().await;
    assert_eq!(stored["STRIPE_STANDARD_PRICE_ID"], standard_id.as_str());
    assert_eq!(stored["STRIPE_FOUNDING_PRICE_ID"], founding_id.as_str());
    assert_eq!(stored["STRIPE_WEBHOOK_SECRET"], endpoint_secret.as_str());
    assert_eq!(stored["CAL_WEBHOOK_SECRET"], cal_secret.as_str());
    assert_eq!(stored["CALENDLY_WEBHOOK_SIGNING_KEY"], signing_key.as_str());
    assert_eq!(
        stored["STRIPE_SECRET_KEY"], STRIPE_KEY,
        "filled in: it was empty"
    );
    assert_eq!(stored["STRIPE_WEBHOOK_SECRET_PREVIOUS"], "");
    assert_eq!(stored["SOMEONE_ELSES_KEY"], "keep me");
    assert_eq!(stored["NESTED"], json!({"not": ["a", "string"]}));
    assert_eq!(stored["STRIPE_PORTAL_CONFIGURATION_ID"], json!(portal_id));
    assert_eq!(stored["CAL_BOOKING_URL"], json!(demo_link));
    assert!(report.secret_written);
    assert_eq!(
        sorted(&report.secret_keys_set),
        sorted([
            "CALENDLY_WEBHOOK_SIGNING_KEY",
            "CAL_BOOKING_URL",
            "CAL_WEBHOOK_SECRET",
            "STRIPE_FOUNDING_PRICE_ID",
            "STRIPE_PORTAL_CONFIGURATION_ID",
            "STRIPE_SECRET_KEY",
            "STRIPE_STANDARD_PRICE_ID",
            "STRIPE_WEBHOOK_SECRET",
        ])
    );
    assert!(report.to_string().contains(&endpoint_id));
    assert_no_secret_in(
        &report,
        &[&endpoint_secret, &cal_secret, &signing_key, STRIPE_KEY],
    );

    // The second run: reads only, everything reused, the secret untouched.
    let writes_before = p.writes().await;
    let secret_before = secret.raw().await;
    let again = run_ok(run(&p.all(&secret, false), &secret.client).await);
    assert!(
        again.steps.iter().all(|s| s.outcome == Outcome::Reused),
        "{again}"
    );
    assert_eq!(again.steps.len(), 8);
    assert!(!again.changed_anything());
    assert!(!again.secret_written);
    assert!(again.secret_keys_set.is_empty());
    assert!(again.to_string().contains("nothing changed"), "{again}");
    assert_eq!(p.writes().await, writes_before, "no POST, PATCH or DELETE");
    assert_eq!(
        secret.raw().await,
        secret_before,
        "same value, same version"
    );
    assert_no_secret_in(
        &again,
        &[&endpoint_secret, &cal_secret, &signing_key, STRIPE_KEY],
    );
    secret.delete().await;
}

#[tokio::test]
async fn a_dry_run_shows_the_plan_and_changes_nothing() {
    let secret = TestSecret::new(&template_secret()).await;
    let p = Providers::new().await;
    let before = secret.raw().await;

    let report = run_ok(run(&p.all(&secret, true), &secret.client).await);
    assert!(report.dry_run);
    assert!(report.steps.iter().all(|s| s.outcome == Outcome::Created));
    assert_eq!(report.steps.len(), 8);
    assert_eq!(
        sorted(&report.secret_keys_set),
        sorted([
            "CALENDLY_WEBHOOK_SIGNING_KEY",
            "CAL_BOOKING_URL",
            "CAL_WEBHOOK_SECRET",
            "STRIPE_FOUNDING_PRICE_ID",
            "STRIPE_PORTAL_CONFIGURATION_ID",
            "STRIPE_SECRET_KEY",
            "STRIPE_STANDARD_PRICE_ID",
            "STRIPE_WEBHOOK_SECRET",
        ])
    );
    assert!(!report.secret_written);
    let text = report.to_string();
    assert!(text.starts_with("dry run: nothing was changed"), "{text}");
    assert!(text.contains("would create"), "{text}");
    assert!(text.contains("A$59.40"), "{text}");
    assert_eq!(p.writes().await, 0, "reads only");
    assert!(!requests(&p.stripe).await.is_empty(), "it did look");
    assert_eq!(secret.raw().await, before);
    secret.delete().await;
}

#[tokio::test]
async fn a_product_left_without_prices_gets_its_prices() {
    let secret = TestSecret::new(&template_secret()).await;
    let p = Providers::new().await;
    p.stripe_fake
        .state
        .lock()
        .unwrap()
        .add_product("agency_os", true);

    let only_stripe = config(
        &secret,
        Some(stripe_setup(&p.stripe, STANDARD)),
        None,
        None,
        false,
    );
    let report = run_ok(run(&only_stripe, &secret.client).await);
    assert_eq!(
        outcomes(&report),
        vec![
            step(Provider::Stripe, "product", Outcome::Reused),
            step(Provider::Stripe, "price standard", Outcome::Created),
            step(Provider::Stripe, "price founding", Outcome::Created),
            step(Provider::Stripe, "webhook endpoint", Outcome::Created),
            step(Provider::Stripe, "portal configuration", Outcome::Created),
            step(Provider::Cal, "everything", Outcome::Skipped),
            step(Provider::Calendly, "everything", Outcome::Skipped),
        ]
    );
    assert!(writes(&p.stripe)
        .await
        .iter()
        .all(|(_, path)| path != "/v1/products"));
    assert_eq!(p.stripe_fake.state.lock().unwrap().prices.len(), 2);
    let stored = secret.json().await;
    assert!(stored["STRIPE_STANDARD_PRICE_ID"]
        .as_str()
        .unwrap()
        .starts_with("price_"));
    assert_eq!(stored["CAL_WEBHOOK_SECRET"], "");
    secret.delete().await;
}

#[tokio::test]
async fn a_run_that_did_stripe_but_not_cal_is_completed() {
    let secret = TestSecret::new(&template_secret()).await;
    let p = Providers::new().await;
    let stripe_only = config(
        &secret,
        Some(stripe_setup(&p.stripe, STANDARD)),
        None,
        None,
        false,
    );
    run_ok(run(&stripe_only, &secret.client).await);
    let after_stripe = secret.json().await;
    let stripe_writes = writes(&p.stripe).await.len();

    let with_cal = config(
        &secret,
        Some(stripe_setup(&p.stripe, STANDARD)),
        Some(cal_setup(&p.cal, CAL_KEY)),
        None,
        false,
    );
    let report = run_ok(run(&with_cal, &secret.client).await);
    assert_eq!(
        outcomes(&report),
        vec![
            step(Provider::Stripe, "product", Outcome::Reused),
            step(Provider::Stripe, "price standard", Outcome::Reused),
            step(Provider::Stripe, "price founding", Outcome::Reused),
            step(Provider::Stripe, "webhook endpoint", Outcome::Reused),
            step(Provider::Stripe, "portal configuration", Outcome::Reused),
            step(Provider::Cal, "webhook", Outcome::Created),
            step(Provider::Cal, "event type", Outcome::Created),
            step(Provider::Calendly, "everything", Outcome::Skipped),
        ]
    );
    assert_eq!(writes(&p.stripe).await.len(), stripe_writes);
    assert_eq!(
        report.secret_keys_set,
        vec!["CAL_WEBHOOK_SECRET", "CAL_BOOKING_URL"]
    );
    let stored = secret.json().await;
    for key in [
        "STRIPE_STANDARD_PRICE_ID",
        "STRIPE_FOUNDING_PRICE_ID",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_SECRET_KEY",
        "SOMEONE_ELSES_KEY",
    ] {
        assert_eq!(stored[key], after_stripe[key], "{key}");
    }
    let cal_secret = p.cal_fake.state.lock().unwrap().webhooks[0]["secret"].clone();
    assert_eq!(stored["CAL_WEBHOOK_SECRET"], cal_secret);
    secret.delete().await;
}

#[tokio::test]
async fn cal_refusing_the_key_stops_before_any_change_and_leaves_the_secret_as_it_was() {
    let secret = TestSecret::new(&template_secret()).await;
    let p = Providers::new().await;
    let before = secret.raw().await;
    let wrong_key = config(
        &secret,
        Some(stripe_setup(&p.stripe, STANDARD)),
        Some(cal_setup(&p.cal, "cal_live_revoked")),
        Some(calendly_setup(&p.calendly)),
        false,
    );

    let failure = run(&wrong_key, &secret.client).await.unwrap_err();
    assert_eq!(failure.error.provider, Provider::Cal);
    assert_eq!(failure.error.action, "listing the webhooks");
    let message = failure.to_string();
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains("Invalid API Key"), "{message}");
    assert!(message.contains("what to do:"), "{message}");
    assert!(message.contains("CAL_API_KEY"), "{message}");
    assert!(message.contains("was not changed"), "{message}");
    assert!(!message.contains("cal_live_revoked"), "{message}");

    assert_eq!(secret.raw().await, before, "byte-identical, same version");
    assert_eq!(
        p.writes().await,
        0,
        "planning stops before any write anywhere"
    );
    secret.delete().await;
}

#[tokio::test]
async fn a_failure_while_applying_deletes_what_the_run_created_and_a_rerun_completes() {
    let secret = TestSecret::new(&template_secret()).await;
    let p = Providers::new().await;
    let before = secret.raw().await;
    p.calendly_fake.failing.set(
        "POST",
        "/webhook_subscriptions",
        500,
        json!({"title": "Internal Server Error", "message": "Something went wrong"}),
    );

    let failure = run(&p.all(&secret, false), &secret.client)
        .await
        .unwrap_err();
    assert_eq!(failure.error.provider, Provider::Calendly);
    assert!(
        failure.error.fix.contains("run setup again"),
        "{}",
        failure.error
    );
    // The endpoint and the webhook whose secrets were never saved are gone again.
    assert!(p.stripe_fake.state.lock().unwrap().endpoints.is_empty());
    assert!(p.cal_fake.state.lock().unwrap().webhooks.is_empty());
    let deleted: Vec<_> = failure
        .report
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Deleted)
        .map(|s| s.provider)
        .collect();
    assert_eq!(deleted, vec![Provider::Cal, Provider::Stripe]);
    assert_eq!(secret.raw().await, before, "the secret is untouched");

    p.calendly_fake.failing.clear();
    let report = run_ok(run(&p.all(&secret, false), &secret.client).await);
    assert_eq!(
        outcomes(&report),
        vec![
            step(Provider::Stripe, "product", Outcome::Reused),
            step(Provider::Stripe, "price standard", Outcome::Reused),
            step(Provider::Stripe, "price founding", Outcome::Reused),
            step(Provider::Stripe, "webhook endpoint", Outcome::Created),
            // Made by the failed run, which needs no secret to be kept: found and reused.
            step(Provider::Stripe, "portal configuration", Outcome::Reused),
            step(Provider::Cal, "webhook", Outcome::Created),
            step(Provider::Cal, "event type", Outcome::Reused),
            step(Provider::Calendly, "webhook subscription", Outcome::Created),
        ]
    );
    assert_eq!(bodies(&p.stripe, "POST", "/v1/prices").await.len(), 2);
    let stored = secret.json().await;
    let signing_key = {
        let state = p.calendly_fake.state.lock().unwrap();
        let uri = state.subscriptions[0]["uri"].as_str().unwrap();
        state.signing_keys[uri].clone()
    };
    assert_eq!(stored["CALENDLY_WEBHOOK_SIGNING_KEY"], signing_key.as_str());
    secret.delete().await;
}

#[tokio::test]
async fn an_endpoint_whose_secret_the_stack_lacks_is_replaced_and_then_deleted() {
    let secret = TestSecret::new(&template_secret()).await;
    let p = Providers::new().await;
    let old = p.stripe_fake.state.lock().unwrap().add_endpoint(
        STRIPE_HOOK,
        &HANDLED_EVENT_TYPES,
        STRIPE_VERSION,
        "whsec_lost_long_ago",
    );
    let only_stripe = config(
        &secret,
        Some(stripe_setup(&p.stripe, STANDARD)),
        None,
        None,
        false,
    );

    let report = run_ok(run(&only_stripe, &secret.client).await);
    let endpoint_steps: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.resource == "webhook endpoint")
        .map(|s| (s.outcome, s.detail.clone()))
        .collect();
    assert_eq!(endpoint_steps.len(), 2, "{report}");
    assert_eq!(endpoint_steps[0].0, Outcome::Replaced);
    assert!(
        endpoint_steps[0].1.contains("no STRIPE_WEBHOOK_SECRET"),
        "{report}"
    );
    assert_eq!(endpoint_steps[1].0, Outcome::Deleted);
    assert!(endpoint_steps[1].1.starts_with(&old), "{report}");

    // The new endpoint was created before the old one was deleted.
    let order: Vec<_> = writes(&p.stripe)
        .await
        .into_iter()
        .filter(|(_, path)| path.starts_with("/v1/webhook_endpoints"))
        .collect();
    assert_eq!(
        order,
        vec![
            ("POST".to_owned(), "/v1/webhook_endpoints".to_owned()),
            ("DELETE".to_owned(), format!("/v1/webhook_endpoints/{old}")),
        ]
    );
    let new_secret = {
        let state = p.stripe_fake.state.lock().unwrap();
        assert_eq!(state.endpoints.len(), 1);
        let new = state.endpoints[0]["id"].as_str().unwrap();
        state.endpoint_secrets[new].clone()
    };
    let stored = secret.json().await;
    assert_eq!(stored["STRIPE_WEBHOOK_SECRET"], new_secret.as_str());
    assert_eq!(
        stored["STRIPE_WEBHOOK_SECRET_PREVIOUS"], "",
        "there was no old secret to keep"
    );
    secret.delete().await;
}

#[tokio::test]
async fn an_endpoint_at_another_api_version_is_replaced_keeping_its_secret_as_previous() {
    let mut initial = template_secret();
    initial["STRIPE_WEBHOOK_SECRET"] = json!("whsec_current_one");
    let secret = TestSecret::new(&initial).await;
    let p = Providers::new().await;
    p.stripe_fake.state.lock().unwrap().add_endpoint(
        STRIPE_HOOK,
        &HANDLED_EVENT_TYPES,
        "2024-06-20",
        "whsec_current_one",
    );
    let only_stripe = config(
        &secret,
        Some(stripe_setup(&p.stripe, STANDARD)),
        None,
        None,
        false,
    );

    let report = run_ok(run(&only_stripe, &secret.client).await);
    let replaced = report
        .steps
        .iter()
        .find(|s| s.outcome == Outcome::Replaced)
        .unwrap();
    assert!(replaced.detail.contains("2024-06-20"), "{report}");
    let stored = secret.json().await;
    assert_eq!(
        stored["STRIPE_WEBHOOK_SECRET_PREVIOUS"],
        "whsec_current_one"
    );
    let new_secret = {
        let state = p.stripe_fake.state.lock().unwrap();
        assert_eq!(state.endpoints.len(), 1);
        assert_eq!(state.endpoints[0]["api_version"], STRIPE_VERSION);
        let new = state.endpoints[0]["id"].as_str().unwrap();
        state.endpoint_secrets[new].clone()
    };
    assert_eq!(stored["STRIPE_WEBHOOK_SECRET"], new_secret.as_str());
    assert_no_secret_in(&report, &["whsec_current_one", &new_secret]);
    secret.delete().await;
}

#[tokio::test]
async fn drift_is_repaired_with_the_secrets_the_stack_already_has() {
    let p = Providers::new().await;
    let (standard, founding, endpoint) = {
        let mut state = p.stripe_fake.state.lock().unwrap();
        state.add_product("agency_os", true);
        let standard = state.add_price("agency_os", STANDARD, STANDARD_KEY);
        let founding = state.add_price("agency_os", FOUNDING, FOUNDING_KEY);
        // Disabled, and listening to one event only.
        let endpoint = state.add_endpoint(
            STRIPE_HOOK,
            &["checkout.session.completed"],
            STRIPE_VERSION,
            "whsec_known",
        );
        state.endpoints[0]["status"] = json!("disabled");
        (standard, founding, endpoint)
    };
    // The portal configuration setup made, with plan switching turned on in the Dashboard
    // since; the demo event type stretched to 45 minutes; Calendly's demo event type in place.
    let portal = p
        .stripe_fake
        .state
        .lock()
        .unwrap()
        .add_portal_configuration("agency_os", true);
    let demo =
        p.cal_fake
            .state
            .lock()
            .unwrap()
            .add_event_type("agency-os-demo", "Agency OS Demo", 45);
    let calendly_link = p.calendly_fake.state.lock().unwrap().add_event_type(
        "Agency OS Demo",
        "agency-os-demo",
        true,
    );
    let cal_link = format!("https://cal.com/{}/agency-os-demo", fakes::CAL_USERNAME);
    p.cal_fake.state.lock().unwrap().add(
        CAL_HOOK,
        &["BOOKING_CREATED", "MEETING_ENDED"],
        false,
        Some("someone-changed-it"),
    );
    let old_subscription = p.calendly_fake.state.lock().unwrap().add(
        CALENDLY_HOOK,
        &["invitee.created", "invitee.canceled"],
        "disabled",
        "calendly-key-known",
    );
    let mut initial = template_secret();
    for (key, value) in [
        ("STRIPE_SECRET_KEY", STRIPE_KEY),
        ("STRIPE_STANDARD_PRICE_ID", standard.as_str()),
        ("STRIPE_FOUNDING_PRICE_ID", founding.as_str()),
        ("STRIPE_WEBHOOK_SECRET", "whsec_known"),
        ("CAL_WEBHOOK_SECRET", "cal-secret-known"),
        ("CALENDLY_WEBHOOK_SIGNING_KEY", "calendly-key-known"),
        ("STRIPE_PORTAL_CONFIGURATION_ID", portal.as_str()),
        ("CAL_BOOKING_URL", cal_link.as_str()),
        ("CALENDLY_BOOKING_URL", calendly_link.as_str()),
    ] {
        initial[key] = json!(value);
    }
    let secret = TestSecret::new(&initial).await;
    let before = secret.raw().await;

    let report = run_ok(run(&p.all(&secret, false), &secret.client).await);
    assert_eq!(
        outcomes(&report),
        vec![
            step(Provider::Stripe, "product", Outcome::Reused),
            step(Provider::Stripe, "price standard", Outcome::Reused),
            step(Provider::Stripe, "price founding", Outcome::Reused),
            step(Provider::Stripe, "webhook endpoint", Outcome::Updated),
            step(Provider::Stripe, "portal configuration", Outcome::Updated),
            step(Provider::Cal, "webhook", Outcome::Updated),
            step(Provider::Cal, "event type", Outcome::Updated),
            step(
                Provider::Calendly,
                "webhook subscription",
                Outcome::Replaced
            ),
            step(Provider::Calendly, "event type", Outcome::Reused),
        ],
        "{report}"
    );
    // The portal configuration repaired in place: plan switching off again, same id.
    {
        let state = p.stripe_fake.state.lock().unwrap();
        assert_eq!(state.portal_configurations.len(), 1);
        assert_eq!(state.portal_configurations[0]["id"], json!(portal));
        assert_eq!(
            state.portal_configurations[0]["features"]["subscription_update"]["enabled"],
            false
        );
    }
    assert!(
        bodies(&p.stripe, "POST", "/v1/billing_portal/configurations")
            .await
            .is_empty(),
        "not created again"
    );
    // The demo back to 30 minutes, in place.
    {
        let state = p.cal_fake.state.lock().unwrap();
        assert_eq!(state.event_types.len(), 1);
        assert_eq!(state.event_types[0]["id"], json!(demo));
        assert_eq!(state.event_types[0]["lengthInMinutes"], 30);
    }
    assert!(report.to_string().contains(&calendly_link), "{report}");
    // Stripe: the endpoint changed in place (its secret stays valid).
    assert!(
        bodies(&p.stripe, "POST", "/v1/webhook_endpoints")
            .await
            .is_empty(),
        "not created again"
    );
    let update = form(
        &bodies(
            &p.stripe,
            "POST",
            &format!("/v1/webhook_endpoints/{endpoint}"),
        )
        .await[0],
    );
    assert_eq!(param(&update, "disabled"), Some("false"));
    assert_eq!(param(&update, "api_version"), None, "it cannot be changed");
    {
        let state = p.stripe_fake.state.lock().unwrap();
        let endpoint = &state.endpoints[0];
        assert_eq!(endpoint["status"], "enabled");
        let events = endpoint["enabled_events"].as_array().unwrap();
        assert_eq!(
            sorted(events.iter().map(|e| e.as_str().unwrap())),
            sorted(HANDLED_EVENT_TYPES)
        );
    }
    // Cal.com: patched to the five triggers, active, signed with the stack's secret.
    let cal = p.cal_fake.state.lock().unwrap().webhooks[0].clone();
    assert_eq!(
        cal["triggers"],
        json!([
            "BOOKING_CREATED",
            "BOOKING_CANCELLED",
            "BOOKING_RESCHEDULED",
            "BOOKING_REQUESTED",
            "BOOKING_REJECTED"
        ])
    );
    assert_eq!(cal["active"], true);
    assert_eq!(cal["secret"], "cal-secret-known");
    // Calendly: the disabled subscription made again with the stack's signing key.
    {
        let state = p.calendly_fake.state.lock().unwrap();
        assert_eq!(state.subscriptions.len(), 1);
        let uri = state.subscriptions[0]["uri"].as_str().unwrap();
        assert_ne!(uri, old_subscription);
        assert_eq!(state.signing_keys[uri], "calendly-key-known");
    }
    // Nothing new to save.
    assert!(report.secret_keys_set.is_empty());
    assert!(!report.secret_written);
    assert_eq!(secret.raw().await, before);
    assert_no_secret_in(
        &report,
        &[
            "whsec_known",
            "cal-secret-known",
            "calendly-key-known",
            "someone-changed-it",
        ],
    );

    let writes_before = p.writes().await;
    let again = run_ok(run(&p.all(&secret, false), &secret.client).await);
    assert!(!again.changed_anything(), "{again}");
    assert_eq!(p.writes().await, writes_before);
    secret.delete().await;
}

#[tokio::test]
async fn a_new_standard_amount_makes_new_prices_that_take_over_the_lookup_keys() {
    let secret = TestSecret::new(&template_secret()).await;
    let p = Providers::new().await;
    let at = |amount| {
        config(
            &secret,
            Some(stripe_setup(&p.stripe, amount)),
            None,
            None,
            false,
        )
    };
    run_ok(run(&at(STANDARD), &secret.client).await);
    let first = secret.json().await;

    let report = run_ok(run(&at(12_900), &secret.client).await);
    let prices: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.resource.starts_with("price"))
        .map(|s| s.outcome)
        .collect();
    assert_eq!(
        prices,
        vec![Outcome::Replaced, Outcome::Replaced],
        "{report}"
    );
    assert!(
        report.to_string().contains("keeps its subscribers"),
        "{report}"
    );
    let new_forms: Vec<_> = bodies(&p.stripe, "POST", "/v1/prices")
        .await
        .iter()
        .skip(2)
        .map(|b| form(b))
        .collect();
    assert_eq!(new_forms.len(), 2);
    for f in &new_forms {
        assert_eq!(param(f, "transfer_lookup_key"), Some("true"));
    }
    assert_eq!(param(&new_forms[0], "unit_amount"), Some("12900"));
    assert_eq!(param(&new_forms[1], "unit_amount"), Some("7740"));

    let stored = secret.json().await;
    {
        let state = p.stripe_fake.state.lock().unwrap();
        assert_eq!(
            state.prices.len(),
            4,
            "the old prices stay for their subscribers"
        );
        assert_eq!(
            stored["STRIPE_STANDARD_PRICE_ID"],
            state.price_by_lookup_key(STANDARD_KEY).unwrap()["id"]
        );
        assert_eq!(
            stored["STRIPE_FOUNDING_PRICE_ID"],
            state.price_by_lookup_key(FOUNDING_KEY).unwrap()["id"]
        );
    }
    assert_ne!(
        stored["STRIPE_STANDARD_PRICE_ID"],
        first["STRIPE_STANDARD_PRICE_ID"]
    );
    assert_eq!(
        sorted(&report.secret_keys_set),
        sorted(["STRIPE_FOUNDING_PRICE_ID", "STRIPE_STANDARD_PRICE_ID"])
    );
    assert_eq!(
        stored["STRIPE_WEBHOOK_SECRET"],
        first["STRIPE_WEBHOOK_SECRET"]
    );
    secret.delete().await;
}

#[tokio::test]
async fn the_stacks_stripe_key_serves_when_none_is_given_and_a_key_of_the_other_mode_is_refused() {
    let mut initial = template_secret();
    initial["STRIPE_SECRET_KEY"] = json!(STRIPE_KEY);
    let secret = TestSecret::new(&initial).await;
    let p = Providers::new().await;

    // No key in the environment: the stack's own key is used, and left as it is.
    let mut setup = stripe_setup(&p.stripe, STANDARD);
    setup.secret_key = None;
    let report = run_ok(
        run(
            &config(&secret, Some(setup), None, None, false),
            &secret.client,
        )
        .await,
    );
    assert_eq!(report.steps[0].outcome, Outcome::Created, "{report}");
    assert!(!report
        .secret_keys_set
        .contains(&"STRIPE_SECRET_KEY".to_owned()));
    assert_eq!(secret.json().await["STRIPE_SECRET_KEY"], STRIPE_KEY);

    // A live-mode key against a stack holding a test-mode key: refused before any request.
    let requests_before = requests(&p.stripe).await.len();
    let before = secret.raw().await;
    let mut setup = stripe_setup(&p.stripe, STANDARD);
    setup.secret_key = Some(Secret::new("sk_live_someone_elses"));
    let failure = run(
        &config(&secret, Some(setup), None, None, false),
        &secret.client,
    )
    .await
    .unwrap_err();
    assert_eq!(failure.error.provider, Provider::Stripe);
    assert_eq!(failure.error.action, "checking the Stripe key");
    let message = failure.to_string();
    assert!(message.contains("live-mode"), "{message}");
    assert!(!message.contains("sk_live_someone_elses"), "{message}");
    assert_eq!(requests(&p.stripe).await.len(), requests_before);
    assert_eq!(secret.raw().await, before);
    secret.delete().await;
}

/// Each function reads the stack's secret at cold start as its own role, and keeps only its own
/// keys ([`sales::lambda::runtime::FUNCTION_SECRETS`]): the webhooks never hold the Stripe API
/// key, the two functions that call Stripe hold no webhook secret. The two the template grants
/// no `secretsmanager:GetSecretValue` (founding-spots, pipeline: they need no secret) are
/// refused as AWS refuses them.
#[tokio::test]
async fn functions_read_the_secret_as_their_own_roles() {
    use sales::lambda::config::Config;
    use sales::lambda::runtime::secret_keys_of;
    use sales_tests::{role, sdk_config_as};
    let secret = TestSecret::new(&json!({
        "STRIPE_SECRET_KEY": "sk_test_from_the_secret",
        "STRIPE_WEBHOOK_SECRET": "whsec_from_the_secret",
        "CAL_WEBHOOK_SECRET": "cal_from_the_secret",
        "CALENDLY_WEBHOOK_SIGNING_KEY": "calendly_from_the_secret",
        "STRIPE_FOUNDING_PRICE_ID": "price_from_the_secret",
        "OFFER_SIGNING_KEY": "offer_key_from_the_secret"
    }))
    .await;
    // The environment holds every secret too (as `make dev`'s .env.dev does): a function still
    // keeps only its own.
    let env = |key: &str| match key {
        "STRIPE_SECRET_KEY" => Some("sk_test_from_the_env".to_owned()),
        "STRIPE_WEBHOOK_SECRET_PREVIOUS" => Some("whsec_previous_from_the_env".to_owned()),
        "CAL_WEBHOOK_SECRET_PREVIOUS" => Some("cal_previous_from_the_env".to_owned()),
        _ => None,
    };
    for (function, binary) in [
        (role::CREATE_CHECKOUT, "create-checkout"),
        (role::CUSTOMER_PORTAL, "customer-portal"),
        (role::STRIPE_WEBHOOK, "stripe-webhook"),
        (role::CAL_WEBHOOK, "cal-webhook"),
        (role::CALENDLY_WEBHOOK, "calendly-webhook"),
        (role::WAITLIST_OFFERS, "waitlist-offers"),
    ] {
        let sdk = sdk_config_as(function).await;
        let config = Config::load_with(&sdk, Some(&secret.arn), env, secret_keys_of(binary))
            .await
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        let held = |secrets: &[Secret]| -> Vec<String> {
            secrets.iter().map(|s| s.expose().to_owned()).collect()
        };
        let stripe_key = config.stripe_secret_key.as_ref().map(|k| k.expose());
        let (stripe_hooks, cal, calendly) = (
            held(&config.stripe_webhook_secrets),
            held(&config.cal_webhook_secrets),
            held(&config.calendly_signing_keys),
        );
        let none: Vec<String> = Vec::new();
        let offer_key = config.offer_signing_key.as_ref().map(|k| k.expose());
        // The offer key: for the function that signs offer links and the one that checks them.
        assert_eq!(
            offer_key,
            matches!(binary, "waitlist-offers" | "create-checkout")
                .then_some("offer_key_from_the_secret"),
            "{binary}"
        );
        match binary {
            "create-checkout" | "customer-portal" => {
                assert_eq!(stripe_key, Some("sk_test_from_the_secret"), "{binary}");
                assert_eq!(
                    (&stripe_hooks, &cal, &calendly),
                    (&none, &none, &none),
                    "{binary}"
                );
            }
            "stripe-webhook" => {
                assert_eq!(stripe_key, None, "{binary} never holds the Stripe API key");
                assert_eq!(
                    stripe_hooks,
                    ["whsec_from_the_secret", "whsec_previous_from_the_env"]
                );
                assert_eq!((&cal, &calendly), (&none, &none), "{binary}");
            }
            "waitlist-offers" => {
                assert_eq!(stripe_key, None, "{binary} never holds the Stripe API key");
                assert_eq!((&stripe_hooks, &cal, &calendly), (&none, &none, &none));
            }
            "cal-webhook" => {
                assert_eq!(stripe_key, None, "{binary} never holds the Stripe API key");
                assert_eq!(cal, ["cal_from_the_secret", "cal_previous_from_the_env"]);
                assert_eq!((&stripe_hooks, &calendly), (&none, &none), "{binary}");
            }
            _ => {
                assert_eq!(stripe_key, None, "{binary} never holds the Stripe API key");
                assert_eq!(calendly, ["calendly_from_the_secret"]);
                assert_eq!((&stripe_hooks, &cal), (&none, &none), "{binary}");
            }
        }
        // Plain settings in the secret are kept for every function.
        assert_eq!(
            config.stripe_founding_price_id.as_deref(),
            Some("price_from_the_secret"),
            "{binary}"
        );
        let debug = format!("{config:?}");
        for value in [
            "sk_test_from_the_secret",
            "whsec_from_the_secret",
            "cal_from_the_secret",
            "calendly_from_the_secret",
        ] {
            assert!(!debug.contains(value), "{value} in {debug}");
        }
    }
    for function in [role::FOUNDING_SPOTS, role::PIPELINE] {
        let sdk = sdk_config_as(function).await;
        let refused = Config::load_with(&sdk, Some(&secret.arn), |_| None, &[])
            .await
            .expect_err("no grant, no secret");
        assert!(
            refused.to_string().contains("AccessDeniedException")
                && refused
                    .to_string()
                    .contains("secretsmanager:GetSecretValue"),
            "{function}: {refused}"
        );
    }
    secret.delete().await;
}

/// A webhook secret rotated while an instance is warm: the first delivery signed with the new
/// secret fails with the cached one, the instance re-reads the secret (as its own role) once
/// and accepts it; a forged signature right after finds the rate limit and reads nothing.
#[tokio::test]
async fn a_rotated_webhook_secret_is_picked_up_after_one_re_read() {
    use sales::domain::signature::sign_hex;
    use sales::handlers::BookingWebhook;
    use sales::lambda::clock::Clock;
    use sales::lambda::config::{Config, CAL_WEBHOOK_KEYS};
    use sales::lambda::runtime::secret_keys_of;
    use sales::lambda::secrets::{WebhookSecrets, SECRET_RELOAD_INTERVAL};
    use sales_tests::{apigw_request, as_function, response_json, role, sdk_config_as, TestTable};

    let table = TestTable::new().await;
    let secret = TestSecret::new(&json!({
        "STRIPE_SECRET_KEY": "sk_test_never_in_a_webhook",
        "CAL_WEBHOOK_SECRET": "cal_old"
    }))
    .await;
    let sdk = sdk_config_as(role::CAL_WEBHOOK).await;
    let config = Config::load_with(
        &sdk,
        Some(&secret.arn),
        |_| None,
        secret_keys_of("cal-webhook"),
    )
    .await
    .expect("cold start");
    assert!(config.stripe_secret_key.is_none());
    let secrets = WebhookSecrets::from_secrets_manager(
        config.cal_webhook_secrets.clone(),
        &sdk,
        &secret.arn,
        CAL_WEBHOOK_KEYS,
    );
    let now = time::OffsetDateTime::now_utc();
    let handler = BookingWebhook::cal(
        as_function(&table.store, role::CAL_WEBHOOK),
        secrets,
        Clock::fixed(now),
    );
    let delivery = |key: &str, uid: &str| {
        let mut body: Value =
            serde_json::from_slice(&sales_tests::fixture("cal/BOOKING_CREATED.body.json")).unwrap();
        body["payload"]["uid"] = json!(uid);
        body["createdAt"] = json!(sales::domain::time_format::to_sortable(now));
        let bytes = serde_json::to_vec(&body).unwrap();
        let signature = sign_hex(key.as_bytes(), &[&bytes]);
        apigw_request(
            "POST",
            "/",
            &[("X-Cal-Signature-256", signature.as_str())],
            &bytes,
            false,
            None,
        )
    };
    let reads = |handler: &BookingWebhook| handler.secrets().reloads();

    // Before the rotation: the cached secret, no read.
    let (status, body) = response_json(handler.handle(delivery("cal_old", "uid-1")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reads(&handler), 0);

    // The rotation: the new secret current, the old one previous.
    secret
        .client
        .put_secret_value()
        .secret_id(&secret.arn)
        .secret_string(
            json!({"STRIPE_SECRET_KEY": "sk_test_never_in_a_webhook",
                   "CAL_WEBHOOK_SECRET": "cal_new", "CAL_WEBHOOK_SECRET_PREVIOUS": "cal_old"})
            .to_string(),
        )
        .send()
        .await
        .expect("rotate");
    let (status, body) = response_json(handler.handle(delivery("cal_new", "uid-2")).await).await;
    assert_eq!(status, 200, "accepted after one re-read: {body}");
    assert_eq!(reads(&handler), 1);
    // Both held now: the new secret and the old one (a delivery signed before the rotation).
    for (key, uid) in [("cal_new", "uid-3"), ("cal_old", "uid-4")] {
        let (status, body) = response_json(handler.handle(delivery(key, uid)).await).await;
        assert_eq!(status, 200, "{key}: {body}");
    }
    assert_eq!(reads(&handler), 1);

    // A forged signature within the rate limit: refused, and no second read.
    assert!(SECRET_RELOAD_INTERVAL.as_secs() >= 60);
    for _ in 0..3 {
        let (status, body) = response_json(handler.handle(delivery("forged", "uid-5")).await).await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(reads(&handler), 1);

    secret.delete().await;
    table.drop_table().await;
}
