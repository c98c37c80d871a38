//! Stripe's HTTP API: Checkout Sessions and Billing Portal Sessions.
//!
//! Every POST carries an `Idempotency-Key` that is reused on each retry of that request, and a
//! pinned `Stripe-Version`. Retries (with backoff) happen only on network errors, 429 and 5xx,
//! and not when Stripe says `Stripe-Should-Retry: false`. Each attempt has a timeout well inside
//! the function's.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::lambda::config::Secret;

/// The API version requests are made with (and webhook payloads are parsed for).
pub const STRIPE_VERSION: &str = "2026-07-29.dahlia";

/// Timeout of one attempt. Three attempts with backoff stay under 10 s.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error object.
    #[error("Stripe {status} {kind}: {message}")]
    Api {
        status: u16,
        kind: String,
        code: Option<String>,
        param: Option<String>,
        message: String,
    },
    #[error("Stripe could not be reached: {0}")]
    Network(String),
    #[error("Stripe's answer could not be read: {0}")]
    Decode(String),
}

impl StripeError {
    pub fn is_transient(&self) -> bool {
        match self {
            StripeError::Api { status, .. } => *status == 429 || *status >= 500,
            StripeError::Network(_) => true,
            StripeError::Decode(_) => false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The parts of a created Checkout Session that the landing page needs.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
    pub expires_at: Option<i64>,
    /// `open`, `complete` or `expired` (read back with [`StripeClient::retrieve_checkout_session`]).
    #[serde(default)]
    pub status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    #[serde(default)]
    pub payment_status: Option<String>,
}

impl CheckoutSession {
    /// Completed with the money there (or none needed): what a paid founding checkout is.
    pub fn is_paid(&self) -> bool {
        self.status.as_deref() == Some("complete")
            && matches!(
                self.payment_status.as_deref(),
                Some("paid" | "no_payment_required")
            )
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PortalSession {
    pub id: String,
    pub url: String,
}

/// What a Checkout Session is created with.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub price_id: String,
    pub customer_email: String,
    /// The lead's Stripe customer, once it has one: passed instead of `customer_email`, so that
    /// a paying customer's next checkout stays with the same customer (one per lead).
    pub customer: Option<String>,
    pub client_reference_id: String,
    pub metadata: Vec<(String, String)>,
    pub success_url: String,
    pub cancel_url: String,
    pub expires_at: Option<i64>,
    pub allow_promotion_codes: bool,
}

impl CheckoutRequest {
    /// The form parameters, as Stripe documents them for `POST /v1/checkout/sessions`.
    pub fn form(&self) -> Vec<(String, String)> {
        let mut form = vec![
            ("mode".to_owned(), "subscription".to_owned()),
            ("line_items[0][price]".to_owned(), self.price_id.clone()),
            ("line_items[0][quantity]".to_owned(), "1".to_owned()),
            match &self.customer {
                Some(customer) => ("customer".to_owned(), customer.clone()),
                None => ("customer_email".to_owned(), self.customer_email.clone()),
            },
            (
                "client_reference_id".to_owned(),
                self.client_reference_id.clone(),
            ),
            ("success_url".to_owned(), self.success_url.clone()),
            ("cancel_url".to_owned(), self.cancel_url.clone()),
        ];
        for (key, value) in &self.metadata {
            form.push((format!("metadata[{key}]"), value.clone()));
        }
        for (key, value) in &self.metadata {
            form.push((format!("subscription_data[metadata][{key}]"), value.clone()));
        }
        if let Some(expires_at) = self.expires_at {
            form.push(("expires_at".to_owned(), expires_at.to_string()));
        }
        if self.allow_promotion_codes {
            form.push(("allow_promotion_codes".to_owned(), "true".to_owned()));
        }
        form
    }
}

/// A Stripe API client. Build one per process (it holds the connection pool).
#[derive(Clone, Debug)]
pub struct StripeClient {
    http: reqwest::Client,
    base: Url,
    secret_key: Secret,
    retry_base: Duration,
}

impl StripeClient {
    pub fn new(base: Url, secret_key: Secret) -> Result<Self, StripeError> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent("agency-os-sales/0.1")
            .build()
            .map_err(|e| StripeError::Network(e.to_string()))?;
        Ok(StripeClient {
            http,
            base,
            secret_key,
            retry_base: Duration::from_millis(200),
        })
    }

    /// Shorter pauses between retries (tests).
    pub fn with_retry_base(mut self, retry_base: Duration) -> Self {
        self.retry_base = retry_base;
        self
    }

    pub async fn create_checkout_session(
        &self,
        request: &CheckoutRequest,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post("v1/checkout/sessions", &request.form(), idempotency_key)
            .await
    }

    /// A Billing Portal session; with `configuration`, under that portal configuration (the one
    /// `salesctl setup` made), else under the account's default.
    pub async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
        configuration: Option<&str>,
        idempotency_key: &str,
    ) -> Result<PortalSession, StripeError> {
        let mut form = vec![
            ("customer".to_owned(), customer.to_owned()),
            ("return_url".to_owned(), return_url.to_owned()),
        ];
        if let Some(configuration) = configuration {
            form.push(("configuration".to_owned(), configuration.to_owned()));
        }
        self.post("v1/billing_portal/sessions", &form, idempotency_key)
            .await
    }

    /// A Checkout Session as Stripe has it now (`GET /v1/checkout/sessions/{id}`): only on the
    /// rare path of a lapsed founding hold whose spot is about to go to someone else.
    pub async fn retrieve_checkout_session(
        &self,
        id: &str,
    ) -> Result<CheckoutSession, StripeError> {
        let url = self
            .base
            .join(&format!("v1/checkout/sessions/{id}"))
            .map_err(|e| StripeError::Network(e.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = self
                .http
                .get(url.clone())
                .bearer_auth(self.secret_key.expose())
                .header("Stripe-Version", STRIPE_VERSION);
            let (result, should_retry) = self.answer(request).await;
            match result {
                Err(err)
                    if err.is_transient()
                        && should_retry != Some(false)
                        && attempt < MAX_ATTEMPTS =>
                {
                    tokio::time::sleep(self.retry_base * 2u32.pow(attempt - 1)).await;
                }
                other => return other,
            }
        }
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| StripeError::Network(e.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, should_retry) = self.attempt(&url, form, idempotency_key).await;
            match result {
                Err(err)
                    if err.is_transient()
                        && should_retry != Some(false)
                        && attempt < MAX_ATTEMPTS =>
                {
                    tracing::warn!(error = %err, attempt, path, "Stripe request failed; retrying");
                    tokio::time::sleep(self.retry_base * 2u32.pow(attempt - 1)).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> (Result<T, StripeError>, Option<bool>) {
        let request = self
            .http
            .post(url.clone())
            .bearer_auth(self.secret_key.expose())
            .header("Stripe-Version", STRIPE_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .form(form);
        self.answer(request).await
    }

    /// Sends one request and reads Stripe's answer (and its `Stripe-Should-Retry`).
    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> (Result<T, StripeError>, Option<bool>) {
        let response = request.send().await;
        let response = match response {
            Ok(response) => response,
            Err(err) => return (Err(StripeError::Network(err.to_string())), None),
        };
        let should_retry = response
            .headers()
            .get("stripe-should-retry")
            .and_then(|v| v.to_str().ok())
            .map(|v| v == "true");
        let status = response.status();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(err) => return (Err(StripeError::Network(err.to_string())), should_retry),
        };
        if status.is_success() {
            return (
                serde_json::from_slice(&body).map_err(|e| StripeError::Decode(e.to_string())),
                should_retry,
            );
        }
        let error = match serde_json::from_slice::<ErrorEnvelope>(&body) {
            Ok(envelope) => StripeError::Api {
                status: status.as_u16(),
                kind: envelope.error.kind,
                code: envelope.error.code,
                param: envelope.error.param,
                message: envelope.error.message.unwrap_or_default(),
            },
            Err(_) => StripeError::Api {
                status: status.as_u16(),
                kind: "http_error".to_owned(),
                code: None,
                param: None,
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            },
        };
        (Err(error), should_retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_form_has_stripes_parameter_names() {
        let request = CheckoutRequest {
            price_id: "price_f".into(),
            customer_email: "ada@example.com".into(),
            customer: None,
            client_reference_id: "lead-1".into(),
            metadata: vec![
                ("lead_id".into(), "lead-1".into()),
                ("plan_type".into(), "founding".into()),
            ],
            success_url: "https://keiracom.com/welcome?session_id={CHECKOUT_SESSION_ID}".into(),
            cancel_url: "https://keiracom.com/pricing".into(),
            expires_at: Some(1_767_229_200),
            allow_promotion_codes: false,
        };
        let form = request.form();
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("mode"), Some("subscription"));
        assert_eq!(get("line_items[0][price]"), Some("price_f"));
        assert_eq!(get("line_items[0][quantity]"), Some("1"));
        assert_eq!(get("metadata[plan_type]"), Some("founding"));
        assert_eq!(get("subscription_data[metadata][lead_id]"), Some("lead-1"));
        assert_eq!(get("expires_at"), Some("1767229200"));
        assert_eq!(get("allow_promotion_codes"), None);
    }

    #[test]
    fn only_network_429_and_5xx_are_transient() {
        let api = |status| StripeError::Api {
            status,
            kind: "x".into(),
            code: None,
            param: None,
            message: String::new(),
        };
        assert!(api(429).is_transient());
        assert!(api(500).is_transient());
        assert!(api(503).is_transient());
        assert!(!api(400).is_transient());
        assert!(!api(402).is_transient());
        assert!(StripeError::Network("reset".into()).is_transient());
        assert!(!StripeError::Decode("x".into()).is_transient());
    }
}
