//! Stripe: the product, the two recurring AUD prices and the webhook endpoint.
//!
//! Prices are found by `lookup_key` (one price per key at a time, Stripe guarantees it). A
//! price's amount cannot change, so a different configured amount makes a new price that takes
//! the lookup key over (`transfer_lookup_key`); the old price keeps its subscribers. The product
//! is the existing prices' product, else the one with the fixed id `--product-id` (Stripe lets
//! the creator choose a product's id), so a partial run is found again.
//!
//! The webhook endpoint is the one whose `url` is the stripe-webhook function URL. Its events
//! can be changed in place; its API version cannot. Stripe shows an endpoint's signing secret
//! only in the answer that creates it, so when the stack's secret has no
//! `STRIPE_WEBHOOK_SECRET` (or the API version is wrong) a new endpoint is created and the old
//! one is deleted once the new secret is saved. During such a replacement the old secret, if
//! any, becomes `STRIPE_WEBHOOK_SECRET_PREVIOUS`, so deliveries already signed with it still
//! verify.
//!
//! The customer portal's configuration (`stripe_portal`): found by its metadata, created, or
//! repaired in place; its id is saved for customer-portal.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::api::{same_url, Api, Body, ProviderError};
use super::report::{Outcome, Provider, SetupError, Step};
use super::secret_store::SecretDoc;
use super::stripe_portal::{self, PortalOp};
use super::{Cleanup, Progress};
use super::{
    STRIPE_FOUNDING_PRICE_ID, STRIPE_PORTAL_CONFIGURATION_ID, STRIPE_SECRET_KEY,
    STRIPE_STANDARD_PRICE_ID, STRIPE_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET_PREVIOUS,
};
use sales::domain::FOUNDING_DISCOUNT_PERCENT;
use sales::lambda::config::Secret;
use sales::providers::stripe::STRIPE_VERSION;
use sales::providers::stripe_events::HANDLED_EVENT_TYPES;

pub const DEFAULT_PRODUCT_ID: &str = "agency_os";
pub const PRODUCT_NAME: &str = "Agency OS";
pub const CURRENCY: &str = "aud";
pub const INTERVAL: &str = "month";
const MANAGED_BY: &str = "salesctl setup";

/// What to set up at Stripe.
#[derive(Debug, Clone)]
pub struct StripeSetup {
    pub api_base: Url,
    /// The key setup calls Stripe with; `None`: the stack secret's `STRIPE_SECRET_KEY`. When
    /// given and the stack's secret has none, it is saved there for the functions.
    pub secret_key: Option<Secret>,
    pub webhook_url: Url,
    /// The standard plan's monthly price, AUD cents.
    pub standard_amount_cents: u64,
    /// The product's id when setup creates it.
    pub product_id: String,
}

/// One of the two plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PricePlan {
    Standard,
    Founding,
}

impl PricePlan {
    pub const ALL: [PricePlan; 2] = [PricePlan::Standard, PricePlan::Founding];

    pub fn lookup_key(self) -> &'static str {
        match self {
            PricePlan::Standard => "agency_os_standard_monthly_aud",
            PricePlan::Founding => "agency_os_founding_monthly_aud",
        }
    }

    /// The secret's key for the price id.
    pub fn secret_key(self) -> &'static str {
        match self {
            PricePlan::Standard => STRIPE_STANDARD_PRICE_ID,
            PricePlan::Founding => STRIPE_FOUNDING_PRICE_ID,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PricePlan::Standard => "standard",
            PricePlan::Founding => "founding",
        }
    }

    fn nickname(self) -> String {
        match self {
            PricePlan::Standard => "Standard (monthly)".to_owned(),
            PricePlan::Founding => {
                format!("Founding member (monthly, {FOUNDING_DISCOUNT_PERCENT}% off standard)")
            }
        }
    }

    pub fn amount_cents(self, standard: u64) -> u64 {
        match self {
            PricePlan::Standard => standard,
            PricePlan::Founding => founding_amount_cents(standard),
        }
    }
}

/// The founding price: the standard price less the founding discount, to the nearest cent
/// (half a cent rounds up).
pub fn founding_amount_cents(standard: u64) -> u64 {
    let kept = 100 - u64::from(FOUNDING_DISCOUNT_PERCENT);
    (standard * kept + 50) / 100
}

fn aud(cents: u64) -> String {
    format!("A${}.{:02}", cents / 100, cents % 100)
}

#[derive(Debug, Deserialize)]
struct List<T> {
    data: Vec<T>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Debug, Deserialize)]
struct Product {
    id: String,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
struct Recurring {
    interval: String,
    #[serde(default = "one")]
    interval_count: u64,
}

#[derive(Debug, Deserialize)]
struct Price {
    id: String,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    currency: String,
    unit_amount: Option<u64>,
    lookup_key: Option<String>,
    /// An id, or the product object when expanded.
    product: Value,
    recurring: Option<Recurring>,
}

impl Price {
    fn product_id(&self) -> Option<&str> {
        self.product
            .as_str()
            .or_else(|| self.product.get("id").and_then(Value::as_str))
    }
}

#[derive(Debug, Deserialize)]
struct Endpoint {
    id: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    enabled_events: Vec<String>,
    api_version: Option<String>,
    status: Option<String>,
    /// Only in the answer that creates the endpoint.
    secret: Option<String>,
}

impl Endpoint {
    fn events_differ(&self) -> bool {
        let mut have: Vec<&str> = self.enabled_events.iter().map(String::as_str).collect();
        have.sort_unstable();
        have.dedup();
        let mut want = HANDLED_EVENT_TYPES.to_vec();
        want.sort_unstable();
        have != want
    }

    fn version_differs(&self) -> bool {
        self.api_version.as_deref() != Some(STRIPE_VERSION)
    }

    fn disabled(&self) -> bool {
        self.status.as_deref() == Some("disabled")
    }

    fn in_order(&self) -> bool {
        !self.events_differ() && !self.version_differs() && !self.disabled()
    }
}

#[derive(Debug)]
enum ProductOp {
    Reuse,
    Create,
    Reactivate,
}

#[derive(Debug)]
enum PriceOp {
    Reuse { id: String },
    Create,
    Replace { old: String, why: String },
}

#[derive(Debug)]
enum EndpointOp {
    Reuse {
        id: String,
    },
    Create,
    Update {
        id: String,
        why: String,
    },
    Replace {
        old: String,
        why: String,
        /// The current secret, kept as `STRIPE_WEBHOOK_SECRET_PREVIOUS`.
        previous: Option<Secret>,
    },
}

/// What setup found at Stripe and will do there.
pub(crate) struct StripePlan {
    api: Api,
    webhook_url: Url,
    standard: u64,
    product_id: String,
    product: ProductOp,
    prices: Vec<(PricePlan, PriceOp)>,
    endpoint: EndpointOp,
    portal: PortalOp,
    /// The key to save as `STRIPE_SECRET_KEY` (the stack's secret has none).
    key_to_store: Option<Secret>,
    pub warnings: Vec<String>,
}

fn error(action: &str, err: ProviderError) -> SetupError {
    let fix = match err.status {
        Some(401) => "Stripe refused the key: export STRIPE_SECRET_KEY with a secret key from \
                      Dashboard → Developers → API keys (sk_live_… for production, sk_test_… for \
                      a test environment)"
            .to_owned(),
        Some(403) => "the key may not do this: use a secret key, or a restricted key with write \
                      access to Products, Prices and Webhook Endpoints"
            .to_owned(),
        None | Some(429) | Some(500..) => "a passing problem (Stripe busy or out of reach): run \
                                           setup again; it picks up where it stopped"
            .to_owned(),
        Some(_) => format!(
            "Stripe refused the request{}: check --standard-amount-cents and \
             --stripe-webhook-url (Stripe wants a public https URL), then run setup again",
            err.param
                .as_deref()
                .map(|p| format!(" because of `{p}`"))
                .unwrap_or_default()
        ),
    };
    SetupError::new(Provider::Stripe, action, err.to_string(), fix)
}

fn decode<T: serde::de::DeserializeOwned>(action: &str, value: Value) -> Result<T, SetupError> {
    serde_json::from_value(value).map_err(|e| {
        SetupError::new(
            Provider::Stripe,
            action,
            format!("Stripe's answer could not be read: {e}"),
            "check STRIPE_API_BASE (default https://api.stripe.com)",
        )
    })
}

/// `test` or `live`, from a secret or restricted key's prefix (`sk_test_…`, `rk_live_…`).
fn key_mode(key: &str) -> Option<&'static str> {
    if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
        Some("test")
    } else if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        Some("live")
    } else {
        None
    }
}

/// Reads what exists at Stripe and decides what to do. Sends no writes.
pub(crate) async fn plan(
    setup: &StripeSetup,
    stored: &SecretDoc,
) -> Result<StripePlan, SetupError> {
    let (key, key_to_store) =
        match (&setup.secret_key, stored.secret(STRIPE_SECRET_KEY)) {
            (Some(key), None) => (key.clone(), Some(key.clone())),
            (Some(key), Some(theirs)) => {
                // Prices and endpoints live in one mode; the functions must find them in theirs.
                let modes = (key_mode(key.expose()), key_mode(theirs.expose()));
                if let (Some(ours), Some(stack)) = modes {
                    if ours != stack {
                        return Err(SetupError::new(
                            Provider::Stripe,
                            "checking the Stripe key",
                            format!(
                                "STRIPE_SECRET_KEY in the environment is a {ours}-mode key, the \
                                 stack's secret holds a {stack}-mode key: the prices and the \
                                 endpoint would be made where the functions never look"
                            ),
                            format!(
                                "export a {stack}-mode STRIPE_SECRET_KEY (or unset it to use \
                                 the stack's), or point --secret-id / --outputs at the \
                                 {ours}-mode stack"
                            ),
                        ));
                    }
                }
                (key.clone(), None)
            }
            (None, Some(key)) => (key, None),
            (None, None) => return Err(SetupError::new(
                Provider::Stripe,
                "finding the Stripe key",
                "STRIPE_SECRET_KEY is neither in the environment nor in the stack's secret",
                "export STRIPE_SECRET_KEY=sk_live_… (sk_test_… for a test environment) and run \
                 setup again",
            )),
        };
    let api = Api::new(
        &setup.api_base,
        key,
        vec![("Stripe-Version", STRIPE_VERSION.to_owned())],
    )
    .map_err(|e| error("preparing the Stripe client", e))?;

    let action = "looking up the prices by lookup_key";
    let query = [
        ("lookup_keys[0]", PricePlan::Standard.lookup_key()),
        ("lookup_keys[1]", PricePlan::Founding.lookup_key()),
        ("limit", "10"),
    ];
    let found: List<Price> = decode(
        action,
        api.get("v1/prices", &query)
            .await
            .map_err(|e| error(action, e))?,
    )?;

    // The product: the existing prices', else the fixed id.
    let product_id = found
        .data
        .iter()
        .find_map(|p| p.product_id().map(str::to_owned))
        .unwrap_or_else(|| setup.product_id.clone());
    let action = "looking up the product";
    let product = match api.get(&format!("v1/products/{product_id}"), &[]).await {
        Ok(value) => {
            let product: Product = decode(action, value)?;
            if product.id != product_id {
                return Err(error(
                    action,
                    ProviderError {
                        status: None,
                        message: format!("asked for {product_id}, got {}", product.id),
                        code: None,
                        param: None,
                    },
                ));
            }
            if product.active {
                ProductOp::Reuse
            } else {
                ProductOp::Reactivate
            }
        }
        Err(e) if e.status == Some(404) => ProductOp::Create,
        Err(e) => return Err(error(action, e)),
    };

    let mut prices = Vec::new();
    for plan in PricePlan::ALL {
        let amount = plan.amount_cents(setup.standard_amount_cents);
        let op = match found
            .data
            .iter()
            .find(|p| p.lookup_key.as_deref() == Some(plan.lookup_key()))
        {
            None => PriceOp::Create,
            Some(price) => {
                let mut why = Vec::new();
                if !price.active {
                    why.push("it is archived".to_owned());
                }
                if price.currency != CURRENCY {
                    why.push(format!("its currency is {}", price.currency));
                }
                if price.unit_amount != Some(amount) {
                    why.push(format!(
                        "it costs {}, configured {}",
                        price
                            .unit_amount
                            .map_or_else(|| "no fixed amount".to_owned(), aud),
                        aud(amount)
                    ));
                }
                match &price.recurring {
                    Some(r) if r.interval == INTERVAL && r.interval_count == 1 => {}
                    Some(r) => why.push(format!(
                        "it bills every {} {}",
                        r.interval_count, r.interval
                    )),
                    None => why.push("it is not recurring".to_owned()),
                }
                if why.is_empty() {
                    PriceOp::Reuse {
                        id: price.id.clone(),
                    }
                } else {
                    PriceOp::Replace {
                        old: price.id.clone(),
                        why: why.join(", "),
                    }
                }
            }
        };
        prices.push((plan, op));
    }

    // The webhook endpoint: every page of the list, those at our URL.
    let action = "listing the webhook endpoints";
    let mut endpoints = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("limit", "100")];
        if let Some(after) = &after {
            query.push(("starting_after", after));
        }
        let page: List<Endpoint> = decode(
            action,
            api.get("v1/webhook_endpoints", &query)
                .await
                .map_err(|e| error(action, e))?,
        )?;
        let last = page.data.last().map(|e| e.id.clone());
        endpoints.extend(page.data);
        match last {
            Some(last) if page.has_more => after = Some(last),
            _ => break,
        }
    }
    let ours: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| same_url(&e.url, &setup.webhook_url))
        .collect();
    let chosen = ours
        .iter()
        .find(|e| e.in_order())
        .or_else(|| ours.first())
        .copied();
    let stored_secret = stored.secret(STRIPE_WEBHOOK_SECRET);
    let endpoint = match chosen {
        None => EndpointOp::Create,
        Some(e) if stored_secret.is_none() => EndpointOp::Replace {
            old: e.id.clone(),
            why: "the stack's secret has no STRIPE_WEBHOOK_SECRET, and Stripe shows an \
                  endpoint's signing secret only when it is created"
                .to_owned(),
            previous: None,
        },
        Some(e) if e.version_differs() => EndpointOp::Replace {
            old: e.id.clone(),
            why: format!(
                "its API version is {}, pinned {STRIPE_VERSION} (an endpoint's API version \
                 cannot be changed)",
                e.api_version.as_deref().unwrap_or("the account default")
            ),
            previous: stored_secret,
        },
        Some(e) if e.events_differ() || e.disabled() => {
            let mut why = Vec::new();
            if e.events_differ() {
                why.push(format!("its events are {}", e.enabled_events.join(", ")));
            }
            if e.disabled() {
                why.push("it is disabled".to_owned());
            }
            EndpointOp::Update {
                id: e.id.clone(),
                why: why.join(", "),
            }
        }
        Some(e) => EndpointOp::Reuse { id: e.id.clone() },
    };
    let warnings = ours
        .iter()
        .filter(|e| Some(e.id.as_str()) != chosen.map(|c| c.id.as_str()))
        .map(|e| {
            format!(
                "Stripe: webhook endpoint {} also sends to {}; its signing secret is not the one \
                 saved, so its deliveries fail: delete it in Dashboard → Developers → Webhooks",
                e.id, setup.webhook_url
            )
        })
        .collect();

    // The customer portal's configuration: every page of the active ones, ours by metadata.
    let action = "listing the customer portal configurations";
    let mut configurations = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("active", "true"), ("limit", "100")];
        if let Some(after) = &after {
            query.push(("starting_after", after));
        }
        let answer = api
            .get("v1/billing_portal/configurations", &query)
            .await
            .map_err(|e| error(action, e))?;
        let (page, more) = stripe_portal::page(answer).map_err(|e| {
            SetupError::new(
                Provider::Stripe,
                action,
                format!("Stripe's answer could not be read: {e}"),
                "check STRIPE_API_BASE (default https://api.stripe.com)",
            )
        })?;
        let last = page.last().map(|c| c.id.clone());
        configurations.extend(page);
        match last {
            Some(last) if more => after = Some(last),
            _ => break,
        }
    }
    let portal = PortalOp::decide(&configurations, &product_id, MANAGED_BY);

    Ok(StripePlan {
        api,
        webhook_url: setup.webhook_url.clone(),
        standard: setup.standard_amount_cents,
        product_id,
        product,
        prices,
        endpoint,
        portal,
        key_to_store,
        warnings,
    })
}

impl StripePlan {
    fn price_detail(&self, plan: PricePlan, id: &str) -> String {
        format!(
            "{id}: {} AUD/{INTERVAL}, lookup_key {}",
            aud(plan.amount_cents(self.standard)),
            plan.lookup_key()
        )
    }

    fn endpoint_detail(&self, id: &str) -> String {
        format!(
            "{id} → {} ({} events, API {STRIPE_VERSION})",
            self.webhook_url,
            HANDLED_EVENT_TYPES.len()
        )
    }

    /// The plan as steps (a dry run's report).
    pub(crate) fn steps(&self) -> Vec<Step> {
        let step = |resource: &str, outcome, detail: String| {
            Step::new(Provider::Stripe, resource, outcome, detail)
        };
        let mut steps = vec![match self.product {
            ProductOp::Reuse => step("product", Outcome::Reused, self.product_id.clone()),
            ProductOp::Create => step(
                "product",
                Outcome::Created,
                format!("{} ({PRODUCT_NAME})", self.product_id),
            ),
            ProductOp::Reactivate => step(
                "product",
                Outcome::Updated,
                format!("{}: archived, to be made active", self.product_id),
            ),
        }];
        for (plan, op) in &self.prices {
            let resource = format!("price {}", plan.name());
            steps.push(match op {
                PriceOp::Reuse { id } => {
                    step(&resource, Outcome::Reused, self.price_detail(*plan, id))
                }
                PriceOp::Create => step(
                    &resource,
                    Outcome::Created,
                    self.price_detail(*plan, "new price"),
                ),
                PriceOp::Replace { old, why } => step(
                    &resource,
                    Outcome::Replaced,
                    format!(
                        "{} (instead of {old}: {why})",
                        self.price_detail(*plan, "new price")
                    ),
                ),
            });
        }
        steps.push(match &self.endpoint {
            EndpointOp::Reuse { id } => step(
                "webhook endpoint",
                Outcome::Reused,
                self.endpoint_detail(id),
            ),
            EndpointOp::Create => step(
                "webhook endpoint",
                Outcome::Created,
                self.endpoint_detail("new endpoint"),
            ),
            EndpointOp::Update { id, why } => step(
                "webhook endpoint",
                Outcome::Updated,
                format!("{} ({why})", self.endpoint_detail(id)),
            ),
            EndpointOp::Replace { old, why, .. } => step(
                "webhook endpoint",
                Outcome::Replaced,
                format!(
                    "{} (instead of {old}: {why}; {old} is deleted after the secret is saved)",
                    self.endpoint_detail("new endpoint")
                ),
            ),
        });
        steps.push(self.portal.step(|id| self.portal_detail(id)));
        steps
    }

    fn portal_detail(&self, id: &str) -> String {
        format!(
            "{id}: payment methods, invoices, cancel at period end; no plan switching (product {})",
            self.product_id
        )
    }

    /// The secret's keys the plan would set.
    pub(crate) fn keys_to_set(&self, stored: &SecretDoc) -> Vec<String> {
        let mut keys = Vec::new();
        if self.key_to_store.is_some() {
            keys.push(STRIPE_SECRET_KEY.to_owned());
        }
        for (plan, op) in &self.prices {
            let unchanged =
                matches!(op, PriceOp::Reuse { id } if stored.get(plan.secret_key()) == Some(id));
            if !unchanged {
                keys.push(plan.secret_key().to_owned());
            }
        }
        match &self.endpoint {
            EndpointOp::Create => keys.push(STRIPE_WEBHOOK_SECRET.to_owned()),
            EndpointOp::Replace { previous, .. } => {
                keys.push(STRIPE_WEBHOOK_SECRET.to_owned());
                if previous.is_some() {
                    keys.push(STRIPE_WEBHOOK_SECRET_PREVIOUS.to_owned());
                }
            }
            EndpointOp::Reuse { .. } | EndpointOp::Update { .. } => {}
        }
        if self
            .portal
            .id()
            .is_none_or(|id| stored.get(STRIPE_PORTAL_CONFIGURATION_ID) != Some(id))
        {
            keys.push(STRIPE_PORTAL_CONFIGURATION_ID.to_owned());
        }
        keys
    }

    async fn post(
        &self,
        action: &str,
        path: &str,
        form: &[(String, String)],
    ) -> Result<Value, SetupError> {
        // Stripe replays the first answer to a repeated key: a retried request cannot create twice.
        let key = ("Idempotency-Key", uuid::Uuid::new_v4().to_string());
        self.api
            .call(
                Method::POST,
                self.api.url(path, &[]),
                Body::Form(form),
                &[key],
            )
            .await
            .map_err(|e| error(action, e))
    }

    async fn create_endpoint(&self) -> Result<(String, Secret), SetupError> {
        let action = "creating the webhook endpoint";
        let mut form = vec![
            ("url".to_owned(), self.webhook_url.to_string()),
            ("api_version".to_owned(), STRIPE_VERSION.to_owned()),
            (
                "description".to_owned(),
                "Agency OS sales: stripe-webhook function".to_owned(),
            ),
            ("metadata[managed_by]".to_owned(), MANAGED_BY.to_owned()),
        ];
        for (i, event) in HANDLED_EVENT_TYPES.iter().enumerate() {
            form.push((format!("enabled_events[{i}]"), (*event).to_owned()));
        }
        let created: Endpoint = decode(
            action,
            self.post(action, "v1/webhook_endpoints", &form).await?,
        )?;
        let secret = created.secret.filter(|s| !s.is_empty()).ok_or_else(|| {
            SetupError::new(
                Provider::Stripe,
                action,
                format!(
                    "Stripe created {} but returned no signing secret",
                    created.id
                ),
                format!(
                    "delete {} in Dashboard → Developers → Webhooks and run setup again",
                    created.id
                ),
            )
        })?;
        Ok((created.id, Secret::new(secret)))
    }

    /// Applies the plan: product, prices, endpoint; the values for the secret go to `progress`.
    pub(crate) async fn apply(&self, progress: &mut Progress) -> Result<(), SetupError> {
        let mut steps = self.steps().into_iter();
        let mut next_step = |detail: Option<String>| {
            let mut step = steps.next().expect("one step per resource");
            if let Some(detail) = detail {
                step.detail = detail;
            }
            step
        };

        match self.product {
            ProductOp::Reuse => {}
            ProductOp::Create => {
                let action = "creating the product";
                let form = vec![
                    ("id".to_owned(), self.product_id.clone()),
                    ("name".to_owned(), PRODUCT_NAME.to_owned()),
                    ("metadata[managed_by]".to_owned(), MANAGED_BY.to_owned()),
                ];
                self.post(action, "v1/products", &form).await?;
            }
            ProductOp::Reactivate => {
                let action = "making the product active";
                let form = vec![("active".to_owned(), "true".to_owned())];
                self.post(action, &format!("v1/products/{}", self.product_id), &form)
                    .await?;
            }
        }
        progress.steps.push(next_step(None));

        for (plan, op) in &self.prices {
            let (id, detail) = match op {
                PriceOp::Reuse { id } => (id.clone(), None),
                PriceOp::Create | PriceOp::Replace { .. } => {
                    let action = format!("creating the {} price", plan.name());
                    let amount = plan.amount_cents(self.standard);
                    let mut form = vec![
                        ("product".to_owned(), self.product_id.clone()),
                        ("currency".to_owned(), CURRENCY.to_owned()),
                        ("unit_amount".to_owned(), amount.to_string()),
                        ("recurring[interval]".to_owned(), INTERVAL.to_owned()),
                        ("lookup_key".to_owned(), plan.lookup_key().to_owned()),
                        ("nickname".to_owned(), plan.nickname()),
                        ("metadata[plan_type]".to_owned(), plan.name().to_owned()),
                        ("metadata[managed_by]".to_owned(), MANAGED_BY.to_owned()),
                    ];
                    if matches!(op, PriceOp::Replace { .. }) {
                        form.push(("transfer_lookup_key".to_owned(), "true".to_owned()));
                    }
                    let created: Price =
                        decode(&action, self.post(&action, "v1/prices", &form).await?)?;
                    let detail = match op {
                        PriceOp::Replace { old, why } => format!(
                            "{} (instead of {old}: {why}; {old} keeps its subscribers)",
                            self.price_detail(*plan, &created.id)
                        ),
                        _ => self.price_detail(*plan, &created.id),
                    };
                    (created.id, Some(detail))
                }
            };
            progress.sets.push((plan.secret_key(), Secret::new(id)));
            progress.steps.push(next_step(detail));
        }

        match &self.endpoint {
            EndpointOp::Reuse { .. } => progress.steps.push(next_step(None)),
            EndpointOp::Create => {
                let (id, secret) = self.create_endpoint().await?;
                progress.undo.push(Cleanup::StripeEndpoint(id.clone()));
                progress.sets.push((STRIPE_WEBHOOK_SECRET, secret));
                progress
                    .steps
                    .push(next_step(Some(self.endpoint_detail(&id))));
            }
            EndpointOp::Update { id, why } => {
                let action = "updating the webhook endpoint";
                let mut form = vec![("disabled".to_owned(), "false".to_owned())];
                for (i, event) in HANDLED_EVENT_TYPES.iter().enumerate() {
                    form.push((format!("enabled_events[{i}]"), (*event).to_owned()));
                }
                self.post(action, &format!("v1/webhook_endpoints/{id}"), &form)
                    .await?;
                progress.steps.push(next_step(Some(format!(
                    "{} ({why})",
                    self.endpoint_detail(id)
                ))));
            }
            EndpointOp::Replace { old, why, previous } => {
                let (id, secret) = self.create_endpoint().await?;
                progress.undo.push(Cleanup::StripeEndpoint(id.clone()));
                progress
                    .after_save
                    .push(Cleanup::StripeEndpoint(old.clone()));
                progress.sets.push((STRIPE_WEBHOOK_SECRET, secret));
                if let Some(previous) = previous {
                    progress
                        .sets
                        .push((STRIPE_WEBHOOK_SECRET_PREVIOUS, previous.clone()));
                }
                progress.steps.push(next_step(Some(format!(
                    "{} (instead of {old}: {why})",
                    self.endpoint_detail(&id)
                ))));
            }
        }

        let portal = match &self.portal {
            PortalOp::Reuse { id } => {
                progress.steps.push(next_step(None));
                id.clone()
            }
            PortalOp::Update { id, .. } => {
                let action = "repairing the customer portal configuration";
                let form = stripe_portal::form(&self.product_id, MANAGED_BY, false);
                self.post(
                    action,
                    &format!("v1/billing_portal/configurations/{id}"),
                    &form,
                )
                .await?;
                progress.steps.push(next_step(None));
                id.clone()
            }
            PortalOp::Create => {
                let action = "creating the customer portal configuration";
                let form = stripe_portal::form(&self.product_id, MANAGED_BY, true);
                let created = self
                    .post(action, "v1/billing_portal/configurations", &form)
                    .await?;
                let id = created
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        SetupError::new(
                            Provider::Stripe,
                            action,
                            "Stripe's answer has no configuration id",
                            "run setup again",
                        )
                    })?
                    .to_owned();
                progress
                    .steps
                    .push(next_step(Some(self.portal_detail(&id))));
                id
            }
        };
        progress
            .sets
            .push((STRIPE_PORTAL_CONFIGURATION_ID, Secret::new(portal)));

        if let Some(key) = &self.key_to_store {
            progress.sets.push((STRIPE_SECRET_KEY, key.clone()));
        }
        Ok(())
    }

    pub(crate) async fn delete_endpoint(&self, id: &str) -> Result<(), ProviderError> {
        self.api
            .call(
                Method::DELETE,
                self.api.url(&format!("v1/webhook_endpoints/{id}"), &[]),
                Body::Empty,
                &[],
            )
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_modes_come_from_the_prefix() {
        assert_eq!(key_mode("sk_test_abc"), Some("test"));
        assert_eq!(key_mode("rk_live_abc"), Some("live"));
        assert_eq!(key_mode("sk_local"), None);
    }

    #[test]
    fn founding_is_forty_percent_off_to_the_nearest_cent() {
        assert_eq!(founding_amount_cents(10_000), 6_000);
        assert_eq!(founding_amount_cents(9_900), 5_940);
        assert_eq!(founding_amount_cents(4_999), 2_999); // 2999.4
        assert_eq!(founding_amount_cents(1_001), 601); // 600.6
        assert_eq!(founding_amount_cents(125), 75);
        assert_eq!(PricePlan::Founding.amount_cents(20_000), 12_000);
        assert_eq!(PricePlan::Standard.amount_cents(20_000), 20_000);
        assert_eq!(aud(5_940), "A$59.40");
    }

    #[test]
    fn an_endpoint_is_in_order_with_exactly_the_handled_events_at_the_pinned_version() {
        let endpoint = |events: &[&str], version: Option<&str>, status: &str| Endpoint {
            id: "we_1".into(),
            url: "https://x.example/".into(),
            enabled_events: events.iter().map(|e| e.to_string()).collect(),
            api_version: version.map(str::to_owned),
            status: Some(status.to_owned()),
            secret: None,
        };
        let mut reversed = HANDLED_EVENT_TYPES.to_vec();
        reversed.reverse();
        assert!(endpoint(&reversed, Some(STRIPE_VERSION), "enabled").in_order());
        assert!(!endpoint(&reversed[1..], Some(STRIPE_VERSION), "enabled").in_order());
        assert!(!endpoint(&["*"], Some(STRIPE_VERSION), "enabled").in_order());
        assert!(!endpoint(&reversed, Some("2024-06-20"), "enabled").in_order());
        assert!(!endpoint(&reversed, None, "enabled").in_order());
        assert!(!endpoint(&reversed, Some(STRIPE_VERSION), "disabled").in_order());
    }
}
