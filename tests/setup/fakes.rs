//! Stripe, Cal.com and Calendly, faked at the HTTP level with state: what setup creates is
//! listed again on the next run. Every request is checked against the provider's documented
//! parameters; an unknown or missing one gets the provider's own kind of 400, a wrong key its
//! 401.
//!
//! - Stripe: `GET /v1/prices?lookup_keys[]`, `POST /v1/prices` (`product`, `currency`,
//!   `unit_amount`, `recurring[interval]`, `lookup_key`, `transfer_lookup_key`, `nickname`,
//!   `metadata`), `GET|POST /v1/products/{id}`, `POST /v1/products` (`id`, `name`),
//!   `GET|POST /v1/webhook_endpoints` (`url`, `enabled_events[]`, `api_version`, `description`,
//!   `metadata`; `secret` only in the creation answer), `POST|DELETE /v1/webhook_endpoints/{id}`,
//!   `GET|POST /v1/billing_portal/configurations` (`features[…]` required on create, each
//!   feature's `[enabled]` with it; `business_profile[…]`, `default_return_url`, `name`,
//!   `metadata`, `login_page[enabled]`), `POST /v1/billing_portal/configurations/{id}` (+ `active`).
//! - Cal.com API v2: `GET|POST /v2/webhooks` (`active`, `subscriberUrl`, `triggers`, `secret`,
//!   `payloadTemplate`), `PATCH|DELETE /v2/webhooks/{id}`, answers `{"status","data"}`;
//!   `GET /v2/me`; `GET|POST /v2/event-types`, `PATCH /v2/event-types/{id}` with
//!   `cal-api-version: 2024-06-14` (`title`, `slug`, `lengthInMinutes` required on create;
//!   `locations` objects checked).
//! - Calendly API v2: `GET /users/me`, `GET /event_types?user&count&page_token`,
//!   `GET /webhook_subscriptions?organization&scope&user`,
//!   `POST /webhook_subscriptions` (`url`, `events`, `organization`, `user`, `scope`,
//!   `signing_key`), `DELETE /webhook_subscriptions/{uuid}` (204).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const STRIPE_KEY: &str = "sk_test_setup";
pub const CAL_KEY: &str = "cal_live_setup";
pub const CALENDLY_TOKEN: &str = "calendly-pat-setup";
pub const CALENDLY_USER: &str = "https://api.calendly.com/users/USER0001";
pub const CALENDLY_ORG: &str = "https://api.calendly.com/organizations/ORG0001";

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The methods and paths a server received, in order.
pub async fn requests(server: &MockServer) -> Vec<(String, String)> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_owned()))
        .collect()
}

/// Requests that are not reads.
pub async fn writes(server: &MockServer) -> Vec<(String, String)> {
    requests(server)
        .await
        .into_iter()
        .filter(|(method, _)| method != "GET")
        .collect()
}

/// The bodies of the requests to `method path`, as received.
pub async fn bodies(server: &MockServer, method: &str, path: &str) -> Vec<Vec<u8>> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .map(|r| r.body.clone())
        .collect()
}

fn bearer(request: &Request) -> Option<String> {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// A request answered with an injected failure (status, body) when it matches (method, path
/// prefix).
/// (method, path prefix, status, body).
type Injected = Option<(String, String, u16, Value)>;

#[derive(Clone, Default)]
pub struct Failing(Arc<Mutex<Injected>>);

impl Failing {
    pub fn set(&self, method: &str, path_prefix: &str, status: u16, body: Value) {
        *self.0.lock().unwrap() = Some((method.into(), path_prefix.into(), status, body));
    }
    pub fn clear(&self) {
        *self.0.lock().unwrap() = None;
    }
    fn check(&self, request: &Request) -> Option<ResponseTemplate> {
        let guard = self.0.lock().unwrap();
        let (method, prefix, status, body) = guard.as_ref()?;
        (request.method.as_str() == method && request.url.path().starts_with(prefix.as_str()))
            .then(|| ResponseTemplate::new(*status).set_body_json(body.clone()))
    }
}

// ------------------------------------------------------------------------------------------
// Stripe
// ------------------------------------------------------------------------------------------

#[derive(Default)]
pub struct StripeState {
    pub products: BTreeMap<String, Value>,
    /// In creation order.
    pub prices: Vec<Value>,
    /// In creation order, without their secrets.
    pub endpoints: Vec<Value>,
    /// Endpoint id → signing secret (Stripe shows it once; the test keeps it to compare).
    pub endpoint_secrets: HashMap<String, String>,
    /// Customer portal configurations, in creation order.
    pub portal_configurations: Vec<Value>,
    counter: u32,
}

impl StripeState {
    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{:04}{}", self.counter, &random_hex()[..8])
    }

    pub fn add_product(&mut self, id: &str, active: bool) {
        self.products.insert(
            id.to_owned(),
            json!({"id": id, "object": "product", "name": "Agency OS", "active": active, "metadata": {}}),
        );
    }

    pub fn add_price(&mut self, product: &str, amount: u64, lookup_key: &str) -> String {
        let id = self.next("price");
        self.prices.push(price_object(
            &id,
            product,
            amount,
            "month",
            Some(lookup_key),
        ));
        id
    }

    /// An endpoint made elsewhere (its secret is what `secret` says).
    pub fn add_endpoint(
        &mut self,
        url: &str,
        events: &[&str],
        api_version: &str,
        secret: &str,
    ) -> String {
        let id = self.next("we");
        self.endpoints.push(json!({
            "id": id, "object": "webhook_endpoint", "url": url, "enabled_events": events,
            "api_version": api_version, "status": "enabled", "description": null,
            "metadata": {}, "livemode": false, "created": 1_795_600_000
        }));
        self.endpoint_secrets.insert(id.clone(), secret.to_owned());
        id
    }

    /// A portal configuration setup made for `product`; `drifted`: someone switched plan
    /// changes on in the Dashboard.
    pub fn add_portal_configuration(&mut self, product: &str, drifted: bool) -> String {
        let id = self.next("bpc");
        self.portal_configurations.push(json!({
            "id": id, "object": "billing_portal.configuration", "active": true,
            "is_default": false, "livemode": false,
            "metadata": {"managed_by": "salesctl setup", "product": product},
            "features": {
                "customer_update": {"enabled": false, "allowed_updates": []},
                "invoice_history": {"enabled": true},
                "payment_method_update": {"enabled": true},
                "subscription_cancel": {"enabled": true, "mode": "at_period_end"},
                "subscription_update": {"enabled": drifted, "default_allowed_updates": ["price"]}
            }
        }));
        id
    }

    pub fn price_by_lookup_key(&self, key: &str) -> Option<&Value> {
        self.prices.iter().find(|p| p["lookup_key"] == key)
    }
}

fn price_object(
    id: &str,
    product: &str,
    amount: u64,
    interval: &str,
    lookup_key: Option<&str>,
) -> Value {
    json!({
        "id": id, "object": "price", "active": true, "billing_scheme": "per_unit",
        "currency": "aud", "livemode": false, "lookup_key": lookup_key, "metadata": {},
        "nickname": null, "product": product,
        "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
        "tax_behavior": "unspecified", "type": "recurring", "unit_amount": amount,
        "unit_amount_decimal": amount.to_string()
    })
}

#[derive(Clone)]
pub struct FakeStripe {
    pub state: Arc<Mutex<StripeState>>,
    pub failing: Failing,
}

fn stripe_error(status: u16, code: &str, param: Option<&str>, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"type": "invalid_request_error", "code": code, "param": param, "message": message}
    }))
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn query(request: &Request) -> Vec<(String, String)> {
    request.url.query_pairs().into_owned().collect()
}

/// `enabled_events[0]=a&enabled_events[1]=b` (or `enabled_events[]=…`) → `[a, b]`.
fn array(params: &[(String, String)], name: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}[")) && k.ends_with(']'))
        .map(|(_, v)| v.clone())
        .collect()
}

fn unknown(params: &[(String, String)], known: &[&str], arrays: &[&str]) -> Option<String> {
    params
        .iter()
        .map(|(k, _)| k)
        .find(|k| {
            !known.contains(&k.as_str())
                && !k.starts_with("metadata[")
                && !arrays.iter().any(|a| k.starts_with(&format!("{a}[")))
        })
        .cloned()
}

impl FakeStripe {
    fn handle(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let method = request.method.as_str().to_owned();
        let mut state = self.state.lock().unwrap();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let params = if method == "GET" || method == "DELETE" {
            query(request)
        } else {
            form(request)
        };
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["v1", "prices"]) => {
                if let Some(k) = unknown(&params, &["limit", "active"], &["lookup_keys"]) {
                    return stripe_error(
                        400,
                        "parameter_unknown",
                        Some(&k),
                        &format!("Received unknown parameter: {k}"),
                    );
                }
                let keys = array(&params, "lookup_keys");
                let data: Vec<Value> = state
                    .prices
                    .iter()
                    .filter(|p| {
                        keys.is_empty()
                            || p["lookup_key"]
                                .as_str()
                                .is_some_and(|k| keys.iter().any(|w| w == k))
                    })
                    .cloned()
                    .collect();
                ResponseTemplate::new(200).set_body_json(
                    json!({"object": "list", "data": data, "has_more": false, "url": "/v1/prices"}),
                )
            }
            ("POST", ["v1", "prices"]) => {
                let known = [
                    "product",
                    "currency",
                    "unit_amount",
                    "lookup_key",
                    "transfer_lookup_key",
                    "nickname",
                    "recurring[interval]",
                    "recurring[interval_count]",
                ];
                if let Some(k) = unknown(&params, &known, &[]) {
                    return stripe_error(
                        400,
                        "parameter_unknown",
                        Some(&k),
                        &format!("Received unknown parameter: {k}"),
                    );
                }
                for required in ["currency", "product", "unit_amount"] {
                    if get(required).is_none() {
                        return stripe_error(
                            400,
                            "parameter_missing",
                            Some(required),
                            &format!("Missing required param: {required}."),
                        );
                    }
                }
                let product = get("product").unwrap();
                if !state.products.contains_key(&product) {
                    return stripe_error(
                        400,
                        "resource_missing",
                        Some("product"),
                        &format!("No such product: '{product}'"),
                    );
                }
                if get("currency").as_deref() != Some("aud") {
                    return stripe_error(
                        400,
                        "invalid",
                        Some("currency"),
                        "expected aud in this fake",
                    );
                }
                let Some(amount) = get("unit_amount").and_then(|a| a.parse::<u64>().ok()) else {
                    return stripe_error(
                        400,
                        "parameter_invalid_integer",
                        Some("unit_amount"),
                        "Invalid integer",
                    );
                };
                let interval = get("recurring[interval]").unwrap_or_default();
                if !["day", "week", "month", "year"].contains(&interval.as_str()) {
                    return stripe_error(
                        400,
                        "invalid",
                        Some("recurring[interval]"),
                        "Invalid recurring[interval]",
                    );
                }
                let lookup_key = get("lookup_key");
                if let Some(key) = &lookup_key {
                    let holder = state
                        .prices
                        .iter()
                        .position(|p| p["lookup_key"] == key.as_str());
                    if let Some(holder) = holder {
                        if get("transfer_lookup_key").as_deref() != Some("true") {
                            let id = state.prices[holder]["id"].as_str().unwrap().to_owned();
                            return stripe_error(
                                400,
                                "lookup_key_already_used",
                                Some("lookup_key"),
                                &format!("A price (`{id}`) already uses that lookup key."),
                            );
                        }
                        state.prices[holder]["lookup_key"] = Value::Null;
                    }
                }
                let id = state.next("price");
                let mut price =
                    price_object(&id, &product, amount, &interval, lookup_key.as_deref());
                price["nickname"] = get("nickname").map(Value::String).unwrap_or(Value::Null);
                state.prices.push(price.clone());
                ResponseTemplate::new(200).set_body_json(price)
            }
            ("GET", ["v1", "products", id]) => match state.products.get(*id) {
                Some(product) => ResponseTemplate::new(200).set_body_json(product.clone()),
                None => stripe_error(
                    404,
                    "resource_missing",
                    Some("id"),
                    &format!("No such product: '{id}'"),
                ),
            },
            ("POST", ["v1", "products"]) => {
                if let Some(k) = unknown(&params, &["id", "name", "description", "active"], &[]) {
                    return stripe_error(
                        400,
                        "parameter_unknown",
                        Some(&k),
                        &format!("Received unknown parameter: {k}"),
                    );
                }
                let Some(name) = get("name") else {
                    return stripe_error(
                        400,
                        "parameter_missing",
                        Some("name"),
                        "Missing required param: name.",
                    );
                };
                let id = get("id").unwrap_or_else(|| state.next("prod"));
                if state.products.contains_key(&id) {
                    return stripe_error(
                        400,
                        "resource_already_exists",
                        Some("id"),
                        "Product already exists.",
                    );
                }
                let product = json!({"id": id, "object": "product", "name": name, "active": true, "metadata": {}});
                state.products.insert(id, product.clone());
                ResponseTemplate::new(200).set_body_json(product)
            }
            ("POST", ["v1", "products", id]) => {
                if let Some(k) = unknown(&params, &["name", "description", "active"], &[]) {
                    return stripe_error(
                        400,
                        "parameter_unknown",
                        Some(&k),
                        &format!("Received unknown parameter: {k}"),
                    );
                }
                let active = get("active");
                match state.products.get_mut(*id) {
                    Some(product) => {
                        if let Some(active) = active {
                            product["active"] = Value::Bool(active == "true");
                        }
                        ResponseTemplate::new(200).set_body_json(product.clone())
                    }
                    None => stripe_error(404, "resource_missing", Some("id"), "No such product"),
                }
            }
            ("GET", ["v1", "webhook_endpoints"]) => {
                if let Some(k) =
                    unknown(&params, &["limit", "starting_after", "ending_before"], &[])
                {
                    return stripe_error(
                        400,
                        "parameter_unknown",
                        Some(&k),
                        &format!("Received unknown parameter: {k}"),
                    );
                }
                let limit = get("limit")
                    .and_then(|l| l.parse::<usize>().ok())
                    .unwrap_or(10);
                if !(1..=100).contains(&limit) {
                    return stripe_error(400, "invalid", Some("limit"), "limit must be 1 to 100");
                }
                let start = match get("starting_after") {
                    Some(after) => state
                        .endpoints
                        .iter()
                        .position(|e| e["id"] == after.as_str())
                        .map_or(0, |i| i + 1),
                    None => 0,
                };
                let page: Vec<Value> = state
                    .endpoints
                    .iter()
                    .skip(start)
                    .take(limit)
                    .cloned()
                    .collect();
                let has_more = start + page.len() < state.endpoints.len();
                ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": page, "has_more": has_more, "url": "/v1/webhook_endpoints"}))
            }
            ("POST", ["v1", "webhook_endpoints"]) => {
                if let Some(k) = unknown(
                    &params,
                    &["url", "api_version", "description", "connect"],
                    &["enabled_events"],
                ) {
                    return stripe_error(
                        400,
                        "parameter_unknown",
                        Some(&k),
                        &format!("Received unknown parameter: {k}"),
                    );
                }
                let events = array(&params, "enabled_events");
                let Some(url) = get("url") else {
                    return stripe_error(
                        400,
                        "parameter_missing",
                        Some("url"),
                        "Missing required param: url.",
                    );
                };
                if events.is_empty() {
                    return stripe_error(
                        400,
                        "parameter_missing",
                        Some("enabled_events"),
                        "Missing required param: enabled_events.",
                    );
                }
                let id = state.next("we");
                let secret = format!("whsec_{}", random_hex());
                let endpoint = json!({
                    "id": id, "object": "webhook_endpoint", "url": url, "enabled_events": events,
                    "api_version": get("api_version"), "status": "enabled",
                    "description": get("description"), "metadata": {}, "livemode": false,
                    "created": 1_795_600_000
                });
                state.endpoints.push(endpoint.clone());
                state.endpoint_secrets.insert(id, secret.clone());
                let mut answer = endpoint;
                answer["secret"] = Value::String(secret);
                ResponseTemplate::new(200).set_body_json(answer)
            }
            ("POST", ["v1", "webhook_endpoints", id]) => {
                // api_version cannot be changed on an existing endpoint.
                if let Some(k) = unknown(
                    &params,
                    &["url", "description", "disabled"],
                    &["enabled_events"],
                ) {
                    return stripe_error(
                        400,
                        "parameter_unknown",
                        Some(&k),
                        &format!("Received unknown parameter: {k}"),
                    );
                }
                let events = array(&params, "enabled_events");
                let disabled = get("disabled");
                match state.endpoints.iter_mut().find(|e| e["id"] == *id) {
                    Some(endpoint) => {
                        if !events.is_empty() {
                            endpoint["enabled_events"] = json!(events);
                        }
                        if let Some(disabled) = disabled {
                            endpoint["status"] = json!(if disabled == "true" {
                                "disabled"
                            } else {
                                "enabled"
                            });
                        }
                        ResponseTemplate::new(200).set_body_json(endpoint.clone())
                    }
                    None => stripe_error(
                        404,
                        "resource_missing",
                        Some("id"),
                        "No such webhook endpoint",
                    ),
                }
            }
            ("DELETE", ["v1", "webhook_endpoints", id]) => {
                let before = state.endpoints.len();
                state.endpoints.retain(|e| e["id"] != *id);
                if state.endpoints.len() == before {
                    return stripe_error(
                        404,
                        "resource_missing",
                        Some("id"),
                        "No such webhook endpoint",
                    );
                }
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": id, "object": "webhook_endpoint", "deleted": true}))
            }
            ("GET", ["v1", "billing_portal", "configurations"]) => {
                if let Some(k) = unknown(
                    &params,
                    &[
                        "active",
                        "is_default",
                        "limit",
                        "starting_after",
                        "ending_before",
                    ],
                    &[],
                ) {
                    return stripe_error(
                        400,
                        "parameter_unknown",
                        Some(&k),
                        &format!("Received unknown parameter: {k}"),
                    );
                }
                let active = get("active").map(|a| a == "true");
                let data: Vec<Value> = state
                    .portal_configurations
                    .iter()
                    .filter(|c| active.is_none_or(|a| c["active"] == json!(a)))
                    .cloned()
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "object": "list", "data": data, "has_more": false,
                    "url": "/v1/billing_portal/configurations"
                }))
            }
            ("POST", ["v1", "billing_portal", "configurations"]) => {
                if let Some(bad) = portal_params(&params, true) {
                    return bad;
                }
                let id = state.next("bpc");
                let mut config = json!({
                    "id": id, "object": "billing_portal.configuration", "active": true,
                    "is_default": false, "livemode": false, "metadata": {},
                    "features": {
                        "customer_update": {"enabled": false, "allowed_updates": []},
                        "invoice_history": {"enabled": false},
                        "payment_method_update": {"enabled": false},
                        "subscription_cancel": {"enabled": false, "mode": "at_period_end"},
                        "subscription_update": {"enabled": false, "products": []}
                    }
                });
                apply_portal_params(&mut config, &params);
                state.portal_configurations.push(config.clone());
                ResponseTemplate::new(200).set_body_json(config)
            }
            ("POST", ["v1", "billing_portal", "configurations", id]) => {
                if let Some(bad) = portal_params(&params, false) {
                    return bad;
                }
                match state
                    .portal_configurations
                    .iter_mut()
                    .find(|c| c["id"] == *id)
                {
                    Some(config) => {
                        apply_portal_params(config, &params);
                        ResponseTemplate::new(200).set_body_json(config.clone())
                    }
                    None => stripe_error(
                        404,
                        "resource_missing",
                        Some("configuration"),
                        "No such configuration",
                    ),
                }
            }
            _ => stripe_error(
                404,
                "unknown_route",
                None,
                &format!("Unrecognized request URL ({method}: {path})"),
            ),
        }
    }
}

/// The features of a portal configuration, as Stripe documents them (API 2026-07-29.dahlia).
const PORTAL_FEATURES: [&str; 5] = [
    "customer_update",
    "invoice_history",
    "payment_method_update",
    "subscription_cancel",
    "subscription_update",
];

/// Checks a create (`features` required) or update body; `None` when it is in order.
fn portal_params(params: &[(String, String)], create: bool) -> Option<ResponseTemplate> {
    let known = |k: &str| -> bool {
        let top = [
            "business_profile[headline]",
            "business_profile[privacy_policy_url]",
            "business_profile[terms_of_service_url]",
            "default_return_url",
            "name",
            "login_page[enabled]",
        ];
        if top.contains(&k) || k.starts_with("metadata[") || (!create && k == "active") {
            return true;
        }
        let Some(rest) = k.strip_prefix("features[") else {
            return false;
        };
        let Some((feature, field)) = rest.split_once("][") else {
            return false;
        };
        let field = field.trim_end_matches(']');
        match feature {
            "customer_update" => field == "enabled" || field.starts_with("allowed_updates]["),
            "invoice_history" | "payment_method_update" => field == "enabled",
            "subscription_cancel" => {
                ["enabled", "mode", "proration_behavior"].contains(&field)
                    || field.starts_with("cancellation_reason][")
            }
            "subscription_update" => {
                ["enabled", "proration_behavior"].contains(&field)
                    || field.starts_with("default_allowed_updates][")
                    || field.starts_with("products][")
            }
            _ => false,
        }
    };
    if let Some((k, _)) = params.iter().find(|(k, _)| !known(k)) {
        return Some(stripe_error(
            400,
            "parameter_unknown",
            Some(k),
            &format!("Received unknown parameter: {k}"),
        ));
    }
    if create && !params.iter().any(|(k, _)| k.starts_with("features[")) {
        return Some(stripe_error(
            400,
            "parameter_missing",
            Some("features"),
            "Missing required param: features.",
        ));
    }
    // On create a feature sent without its `enabled` is refused (required with its parent).
    for feature in PORTAL_FEATURES {
        let prefix = format!("features[{feature}][");
        let sent = params.iter().any(|(k, _)| k.starts_with(&prefix));
        let enabled = params
            .iter()
            .any(|(k, _)| *k == format!("features[{feature}][enabled]"));
        if create && sent && !enabled {
            let param = format!("features[{feature}][enabled]");
            return Some(stripe_error(
                400,
                "parameter_missing",
                Some(&param),
                &format!("Missing required param: {param}."),
            ));
        }
    }
    if let Some((_, mode)) = params
        .iter()
        .find(|(k, _)| k == "features[subscription_cancel][mode]")
    {
        if !["at_period_end", "immediately"].contains(&mode.as_str()) {
            return Some(stripe_error(
                400,
                "parameter_invalid_string",
                Some("features[subscription_cancel][mode]"),
                "Invalid features[subscription_cancel][mode]",
            ));
        }
    }
    None
}

/// Writes the features, `active` and metadata a portal request sets onto the object.
fn apply_portal_params(config: &mut Value, params: &[(String, String)]) {
    for (key, value) in params {
        if let Some(rest) = key.strip_prefix("features[") {
            if let Some((feature, field)) = rest.split_once("][") {
                let field = field.trim_end_matches(']');
                if ["enabled", "mode", "proration_behavior"].contains(&field) {
                    let parsed = match value.as_str() {
                        "true" => json!(true),
                        "false" => json!(false),
                        other => json!(other),
                    };
                    config["features"][feature][field] = parsed;
                }
            }
        } else if let Some(name) = key
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
        {
            config["metadata"][name] = json!(value);
        } else if key == "active" {
            config["active"] = json!(value == "true");
        }
    }
}

impl Respond for FakeStripe {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if bearer(request).as_deref() != Some(STRIPE_KEY) {
            return ResponseTemplate::new(401).set_body_json(json!({"error": {
                "type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****"
            }}));
        }
        let version = request
            .headers
            .get("stripe-version")
            .and_then(|v| v.to_str().ok());
        if version != Some("2026-07-29.dahlia") {
            return stripe_error(
                400,
                "invalid_version",
                None,
                "expected the pinned Stripe-Version",
            );
        }
        if request.method.as_str() == "POST" && request.headers.get("idempotency-key").is_none() {
            return stripe_error(400, "fake", None, "every POST carries an Idempotency-Key");
        }
        if let Some(failure) = self.failing.check(request) {
            return failure;
        }
        self.handle(request)
    }
}

pub async fn stripe() -> (MockServer, FakeStripe) {
    let server = MockServer::start().await;
    let fake = FakeStripe {
        state: Arc::default(),
        failing: Failing::default(),
    };
    Mock::given(any())
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    (server, fake)
}

// ------------------------------------------------------------------------------------------
// Cal.com
// ------------------------------------------------------------------------------------------

pub const CAL_TRIGGERS: [&str; 12] = [
    "BOOKING_CREATED",
    "BOOKING_PAYMENT_INITIATED",
    "BOOKING_PAID",
    "BOOKING_RESCHEDULED",
    "BOOKING_REQUESTED",
    "BOOKING_CANCELLED",
    "BOOKING_REJECTED",
    "BOOKING_NO_SHOW_UPDATED",
    "MEETING_ENDED",
    "MEETING_STARTED",
    "RECORDING_READY",
    "FORM_SUBMITTED",
];

#[derive(Default)]
pub struct CalState {
    /// As Cal.com answers them, `secret` included.
    pub webhooks: Vec<Value>,
    /// The key owner's event types, as API v2 (2024-06-14) answers them.
    pub event_types: Vec<Value>,
    counter: u64,
}

/// The Cal.com user the key belongs to.
pub const CAL_USERNAME: &str = "sam-sales";
/// The event types API version setup must ask for (another falls back to an older shape).
pub const CAL_EVENT_TYPES_VERSION: &str = "2024-06-14";

/// Checks an event type body against `CreateEventTypeInput_2024_06_14` (create: `title`, `slug`
/// and `lengthInMinutes` required) or its update input (all optional).
fn cal_event_type_body(
    body: &[u8],
    create: bool,
) -> Result<Map<String, Value>, Box<ResponseTemplate>> {
    let bad = |m: &str| Box::new(cal_error(400, "BadRequestException", m));
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("body must be a JSON object"));
    };
    if create {
        for required in ["title", "slug", "lengthInMinutes"] {
            if !body.contains_key(required) {
                return Err(bad(&format!("{required} must be provided")));
            }
        }
    }
    for key in ["title", "slug", "description"] {
        if body.get(key).is_some_and(|v| !v.is_string()) {
            return Err(bad(&format!("{key} must be a string")));
        }
    }
    if body
        .get("lengthInMinutes")
        .is_some_and(|v| v.as_u64().is_none_or(|n| n < 1))
    {
        return Err(bad("lengthInMinutes must be an integer not less than 1"));
    }
    if let Some(locations) = body.get("locations") {
        let ok = locations.as_array().is_some_and(|all| {
            !all.is_empty()
                && all.iter().all(|l| match l["type"].as_str() {
                    Some("integration") => ["cal-video", "google-meet", "office365-video", "zoom"]
                        .contains(&l["integration"].as_str().unwrap_or("")),
                    Some("address") => l["address"].is_string() && l["public"].is_boolean(),
                    Some("link") => {
                        l["link"]
                            .as_str()
                            .is_some_and(|u| u.starts_with("https://"))
                            && l["public"].is_boolean()
                    }
                    Some("phone") => l["phone"].is_string() && l["public"].is_boolean(),
                    Some("attendeeAddress" | "attendeePhone" | "attendeeDefined") => true,
                    _ => false,
                })
        });
        if !ok {
            return Err(bad("Validation failed for locations"));
        }
    }
    Ok(body)
}

impl CalState {
    /// An event type of the key's owner.
    pub fn add_event_type(&mut self, slug: &str, title: &str, minutes: u64) -> u64 {
        self.counter += 1;
        self.event_types.push(json!({
            "id": self.counter, "ownerId": 7, "slug": slug, "title": title,
            "lengthInMinutes": minutes, "description": "", "hidden": false,
            "locations": [{"type": "integration", "integration": "cal-video"}]
        }));
        self.counter
    }

    pub fn add(&mut self, url: &str, triggers: &[&str], active: bool, secret: Option<&str>) -> u64 {
        self.counter += 1;
        self.webhooks.push(json!({
            "id": self.counter, "userId": 7, "subscriberUrl": url, "triggers": triggers,
            "active": active, "payloadTemplate": null, "secret": secret, "version": "2021-10-20"
        }));
        self.counter
    }
}

#[derive(Clone)]
pub struct FakeCal {
    pub state: Arc<Mutex<CalState>>,
    pub key: String,
}

fn cal_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "status": "error", "timestamp": "2026-11-25T10:00:00.000Z", "path": "/v2/webhooks",
        "error": {"code": code, "message": message}
    }))
}

/// Checks a create (all required) or update (all optional) body against `CreateWebhookInputDto`.
fn cal_body(body: &[u8], create: bool) -> Result<Map<String, Value>, Box<ResponseTemplate>> {
    let bad = |m: &str| Box::new(cal_error(400, "BadRequestException", m));
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("body must be a JSON object"));
    };
    for key in body.keys() {
        if ![
            "payloadTemplate",
            "active",
            "subscriberUrl",
            "triggers",
            "secret",
            "version",
            "time",
            "timeUnit",
        ]
        .contains(&key.as_str())
        {
            return Err(bad(&format!("property {key} should not exist")));
        }
    }
    if create {
        for required in ["active", "subscriberUrl", "triggers"] {
            if !body.contains_key(required) {
                return Err(bad(&format!("{required} must be provided")));
            }
        }
    }
    if body.get("active").is_some_and(|a| !a.is_boolean()) {
        return Err(bad("active must be a boolean value"));
    }
    if body.get("subscriberUrl").is_some_and(|u| !u.is_string()) {
        return Err(bad("subscriberUrl must be a string"));
    }
    if body.get("secret").is_some_and(|s| !s.is_string()) {
        return Err(bad("secret must be a string"));
    }
    if let Some(triggers) = body.get("triggers") {
        let ok = triggers.as_array().is_some_and(|t| {
            t.iter()
                .all(|t| t.as_str().is_some_and(|t| CAL_TRIGGERS.contains(&t)))
        });
        if !ok {
            return Err(bad(
                "each value in triggers must be one of the following values: …",
            ));
        }
    }
    Ok(body)
}

impl Respond for FakeCal {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if bearer(request).as_deref() != Some(self.key.as_str()) {
            return cal_error(
                401,
                "UnauthorizedException",
                "ApiAuthGuard - Invalid API Key",
            );
        }
        let path = request.url.path().to_owned();
        let mut state = self.state.lock().unwrap();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let ok = |status: u16, data: Value| {
            ResponseTemplate::new(status).set_body_json(json!({"status": "success", "data": data}))
        };
        let version_ok = request
            .headers
            .get("cal-api-version")
            .and_then(|v| v.to_str().ok())
            == Some(CAL_EVENT_TYPES_VERSION);
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["v2", "me"]) => ok(
                200,
                json!({"id": 7, "username": CAL_USERNAME, "email": "sam@agency.example",
                       "name": "Sam Sales", "timeZone": "Australia/Sydney", "organizationId": null}),
            ),
            ("GET" | "POST" | "PATCH", ["v2", "event-types", ..]) if !version_ok => cal_error(
                400,
                "BadRequestException",
                "this fake serves event types at cal-api-version 2024-06-14 only",
            ),
            ("GET", ["v2", "event-types"]) => ok(200, json!(state.event_types)),
            ("POST", ["v2", "event-types"]) => {
                let body = match cal_event_type_body(&request.body, true) {
                    Ok(body) => body,
                    Err(response) => return *response,
                };
                if state.event_types.iter().any(|e| e["slug"] == body["slug"]) {
                    return cal_error(
                        400,
                        "BadRequestException",
                        "User already has an event type with this slug.",
                    );
                }
                state.counter += 1;
                let mut event_type = json!({
                    "id": state.counter, "ownerId": 7, "description": "", "hidden": false,
                    "locations": [{"type": "integration", "integration": "cal-video"}],
                    "users": [{"id": 7, "username": CAL_USERNAME}]
                });
                for (key, value) in body {
                    event_type[key.as_str()] = value;
                }
                state.event_types.push(event_type.clone());
                ok(201, event_type)
            }
            ("PATCH", ["v2", "event-types", id]) => {
                let body = match cal_event_type_body(&request.body, false) {
                    Ok(body) => body,
                    Err(response) => return *response,
                };
                match state
                    .event_types
                    .iter_mut()
                    .find(|e| e["id"].as_u64() == id.parse().ok())
                {
                    Some(event_type) => {
                        for (key, value) in body {
                            event_type[key.as_str()] = value;
                        }
                        ok(200, event_type.clone())
                    }
                    None => cal_error(404, "NotFoundException", "Event type not found"),
                }
            }
            ("GET", ["v2", "webhooks"]) => {
                let params = query(request);
                let number = |k: &str, default: usize| {
                    params
                        .iter()
                        .find(|(key, _)| key == k)
                        .map_or(Some(default), |(_, v)| v.parse().ok())
                };
                let (Some(take), Some(skip)) = (number("take", 250), number("skip", 0)) else {
                    return cal_error(400, "BadRequestException", "take and skip are numbers");
                };
                if !(1..=250).contains(&take) {
                    return cal_error(
                        400,
                        "BadRequestException",
                        "take must not be greater than 250",
                    );
                }
                let page: Vec<Value> = state
                    .webhooks
                    .iter()
                    .skip(skip)
                    .take(take)
                    .cloned()
                    .collect();
                ok(200, json!(page))
            }
            ("POST", ["v2", "webhooks"]) => {
                let body = match cal_body(&request.body, true) {
                    Ok(body) => body,
                    Err(response) => return *response,
                };
                state.counter += 1;
                let webhook = json!({
                    "id": state.counter, "userId": 7,
                    "subscriberUrl": body["subscriberUrl"], "triggers": body["triggers"],
                    "active": body["active"],
                    "payloadTemplate": body.get("payloadTemplate").cloned().unwrap_or(Value::Null),
                    "secret": body.get("secret").cloned().unwrap_or(Value::Null),
                    "version": body.get("version").cloned().unwrap_or(json!("2021-10-20"))
                });
                state.webhooks.push(webhook.clone());
                ok(201, webhook)
            }
            ("PATCH", ["v2", "webhooks", id]) => {
                let body = match cal_body(&request.body, false) {
                    Ok(body) => body,
                    Err(response) => return *response,
                };
                match state
                    .webhooks
                    .iter_mut()
                    .find(|w| w["id"].as_u64() == id.parse().ok())
                {
                    Some(webhook) => {
                        for (key, value) in body {
                            webhook[key.as_str()] = value;
                        }
                        ok(200, webhook.clone())
                    }
                    None => cal_error(404, "NotFoundException", "Webhook not found"),
                }
            }
            ("DELETE", ["v2", "webhooks", id]) => {
                match state
                    .webhooks
                    .iter()
                    .position(|w| w["id"].as_u64() == id.parse().ok())
                {
                    Some(at) => {
                        let webhook = state.webhooks.remove(at);
                        ok(200, webhook)
                    }
                    None => cal_error(404, "NotFoundException", "Webhook not found"),
                }
            }
            _ => cal_error(
                404,
                "NotFoundException",
                &format!("Cannot {} {path}", request.method),
            ),
        }
    }
}

/// A fake Cal.com that accepts `key`.
pub async fn cal_with_key(key: &str) -> (MockServer, FakeCal) {
    let server = MockServer::start().await;
    let fake = FakeCal {
        state: Arc::default(),
        key: key.to_owned(),
    };
    Mock::given(any())
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    (server, fake)
}

pub async fn cal() -> (MockServer, FakeCal) {
    cal_with_key(CAL_KEY).await
}

// ------------------------------------------------------------------------------------------
// Calendly
// ------------------------------------------------------------------------------------------

#[derive(Default)]
pub struct CalendlyState {
    /// As Calendly lists them (no signing key).
    pub subscriptions: Vec<Value>,
    /// Subscription URI → signing key (write-only at Calendly; kept here to compare).
    pub signing_keys: HashMap<String, String>,
    /// The user's event types (Calendly's API lists them; setup never creates one).
    pub event_types: Vec<Value>,
}

impl CalendlyState {
    /// An event type of the user, as Calendly lists it.
    pub fn add_event_type(&mut self, name: &str, slug: &str, active: bool) -> String {
        let scheduling_url = format!("https://calendly.com/sam/{slug}");
        self.event_types.push(json!({
            "uri": format!("https://api.calendly.com/event_types/ET{:04}", self.event_types.len() + 1),
            "name": name, "active": active, "slug": slug, "scheduling_url": scheduling_url,
            "duration": 30, "kind": "solo", "type": "StandardEventType",
            "profile": {"name": "Sam Sales", "owner": CALENDLY_USER, "type": "User"}
        }));
        scheduling_url
    }

    pub fn add(&mut self, url: &str, events: &[&str], state: &str, signing_key: &str) -> String {
        let uri = format!(
            "https://api.calendly.com/webhook_subscriptions/{}",
            random_hex()
        );
        self.subscriptions.push(json!({
            "uri": uri, "callback_url": url, "created_at": "2026-11-01T00:00:00.000000Z",
            "updated_at": "2026-11-01T00:00:00.000000Z", "retry_started_at": null,
            "state": state, "events": events, "scope": "user", "organization": CALENDLY_ORG,
            "user": CALENDLY_USER, "group": null, "creator": CALENDLY_USER
        }));
        self.signing_keys
            .insert(uri.clone(), signing_key.to_owned());
        uri
    }
}

#[derive(Clone)]
pub struct FakeCalendly {
    pub state: Arc<Mutex<CalendlyState>>,
    pub failing: Failing,
}

fn calendly_error(
    status: u16,
    title: &str,
    message: &str,
    parameter: Option<&str>,
) -> ResponseTemplate {
    let mut body = json!({"title": title, "message": message});
    if let Some(parameter) = parameter {
        body["details"] = json!([{"parameter": parameter, "message": message}]);
    }
    ResponseTemplate::new(status).set_body_json(body)
}

impl Respond for FakeCalendly {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if bearer(request).as_deref() != Some(CALENDLY_TOKEN) {
            return calendly_error(401, "Unauthenticated", "The access token is invalid", None);
        }
        if let Some(failure) = self.failing.check(request) {
            return failure;
        }
        let path = request.url.path().to_owned();
        let mut state = self.state.lock().unwrap();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["users", "me"]) => ResponseTemplate::new(200).set_body_json(json!({"resource": {
                "uri": CALENDLY_USER, "name": "Sam Sales", "slug": "sam", "email": "sam@agency.example",
                "scheduling_url": "https://calendly.com/sam", "timezone": "Australia/Sydney",
                "current_organization": CALENDLY_ORG, "resource_type": "User"
            }})),
            ("GET", ["event_types"]) => {
                let params: HashMap<String, String> = query(request).into_iter().collect();
                if let Some(k) = params.keys().find(|k| {
                    !["user", "organization", "active", "count", "page_token", "sort"]
                        .contains(&k.as_str())
                }) {
                    return calendly_error(400, "Invalid Argument", "The supplied parameters are invalid.", Some(k));
                }
                if params.get("user").map(String::as_str) != Some(CALENDLY_USER) {
                    return calendly_error(400, "Invalid Argument", "The supplied parameters are invalid.", Some("user"));
                }
                if let Some(count) = params.get("count") {
                    if !count.parse::<u32>().is_ok_and(|c| (1..=100).contains(&c)) {
                        return calendly_error(400, "Invalid Argument", "The supplied parameters are invalid.", Some("count"));
                    }
                }
                let collection = state.event_types.clone();
                ResponseTemplate::new(200).set_body_json(json!({
                    "collection": collection,
                    "pagination": {"count": collection.len(), "next_page": null, "previous_page": null,
                                   "next_page_token": null, "previous_page_token": null}
                }))
            }
            ("GET", ["webhook_subscriptions"]) => {
                let params: HashMap<String, String> = query(request).into_iter().collect();
                if params.get("organization").map(String::as_str) != Some(CALENDLY_ORG) {
                    return calendly_error(400, "Invalid Argument", "The supplied parameters are invalid.", Some("organization"));
                }
                let scope = params.get("scope").cloned().unwrap_or_default();
                if !["user", "organization", "group"].contains(&scope.as_str()) {
                    return calendly_error(400, "Invalid Argument", "The supplied parameters are invalid.", Some("scope"));
                }
                if scope == "user" && params.get("user").map(String::as_str) != Some(CALENDLY_USER) {
                    return calendly_error(400, "Invalid Argument", "The supplied parameters are invalid.", Some("user"));
                }
                if let Some(count) = params.get("count") {
                    if !count.parse::<u32>().is_ok_and(|c| (1..=100).contains(&c)) {
                        return calendly_error(400, "Invalid Argument", "The supplied parameters are invalid.", Some("count"));
                    }
                }
                let collection: Vec<Value> = state.subscriptions.iter().filter(|s| s["scope"] == scope.as_str()).cloned().collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "collection": collection,
                    "pagination": {"count": collection.len(), "next_page": null, "previous_page": null,
                                   "next_page_token": null, "previous_page_token": null}
                }))
            }
            ("POST", ["webhook_subscriptions"]) => {
                let bad = |p: &str| calendly_error(400, "Invalid Argument", "The supplied parameters are invalid.", Some(p));
                let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
                    return bad("body");
                };
                for key in body.keys() {
                    if !["url", "events", "organization", "user", "group", "scope", "signing_key"].contains(&key.as_str()) {
                        return bad(key);
                    }
                }
                let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
                let Some(url) = text("url") else { return bad("url") };
                let events_ok = body.get("events").and_then(Value::as_array).is_some_and(|e| {
                    !e.is_empty() && e.iter().all(|e| e.as_str().is_some_and(|e| ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted", "routing_form_submission.created"].contains(&e)))
                });
                if !events_ok {
                    return bad("events");
                }
                if text("organization").as_deref() != Some(CALENDLY_ORG) {
                    return bad("organization");
                }
                let scope = text("scope").unwrap_or_default();
                match scope.as_str() {
                    "user" if text("user").as_deref() == Some(CALENDLY_USER) => {}
                    "user" => return bad("user"),
                    "organization" => {}
                    _ => return bad("scope"),
                }
                if state.subscriptions.iter().any(|s| s["callback_url"] == url.as_str() && s["scope"] == scope.as_str()) {
                    return calendly_error(409, "Already Exists", "Hook with this url already exists", None);
                }
                let uri = format!("https://api.calendly.com/webhook_subscriptions/{}", random_hex());
                let subscription = json!({
                    "uri": uri, "callback_url": url, "created_at": "2026-11-25T10:00:00.000000Z",
                    "updated_at": "2026-11-25T10:00:00.000000Z", "retry_started_at": null,
                    "state": "active", "events": body["events"], "scope": scope,
                    "organization": CALENDLY_ORG,
                    "user": if scope == "user" { json!(CALENDLY_USER) } else { Value::Null },
                    "group": null, "creator": CALENDLY_USER
                });
                state.subscriptions.push(subscription.clone());
                if let Some(key) = text("signing_key") {
                    state.signing_keys.insert(uri, key);
                }
                ResponseTemplate::new(201).set_body_json(json!({"resource": subscription}))
            }
            ("DELETE", ["webhook_subscriptions", uuid]) => {
                let uri = format!("https://api.calendly.com/webhook_subscriptions/{uuid}");
                let before = state.subscriptions.len();
                state.subscriptions.retain(|s| s["uri"] != uri.as_str());
                if state.subscriptions.len() == before {
                    return calendly_error(404, "Resource Not Found", "The server could not find the requested resource.", None);
                }
                ResponseTemplate::new(204)
            }
            _ => calendly_error(404, "Resource Not Found", "The server could not find the requested resource.", None),
        }
    }
}

pub async fn calendly() -> (MockServer, FakeCalendly) {
    let server = MockServer::start().await;
    let fake = FakeCalendly {
        state: Arc::default(),
        failing: Failing::default(),
    };
    Mock::given(any())
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    (server, fake)
}
