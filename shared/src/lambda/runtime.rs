//! What every function builds once per cold start: AWS configuration, the configuration and
//! secrets, the DynamoDB store, the Stripe client.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::lambda::config::{
    Config, ConfigError, Secret, CALENDLY_WEBHOOK_KEYS, CAL_WEBHOOK_KEYS, STRIPE_API_KEYS,
    STRIPE_WEBHOOK_KEYS,
};
use crate::lambda::secrets::WebhookSecrets;
use crate::providers::stripe::StripeClient;
use crate::SalesStore;

/// create-checkout's secrets: the Stripe API key, and Turnstile's secret when the human check
/// is configured.
pub const CHECKOUT_KEYS: &[&str] = &[
    "STRIPE_SECRET_KEY",
    "TURNSTILE_SECRET_KEY",
    "OFFER_SIGNING_KEY",
];

/// waitlist-offers' secret: the key its offer links are signed with.
pub const OFFER_KEYS: &[&str] = &["OFFER_SIGNING_KEY"];

/// The secret keys each function reads, by binary name: its [`Config`] holds these and no
/// other secret (tests/deploy checks that exactly the functions listed with keys get
/// `SECRETS_ID` and the permission to read the secret). The webhooks never hold the Stripe API
/// key; the two functions that call Stripe hold no webhook secret.
pub const FUNCTION_SECRETS: [(&str, &[&str]); 8] = [
    ("founding-spots", &[]),
    ("create-checkout", CHECKOUT_KEYS),
    ("customer-portal", STRIPE_API_KEYS),
    ("stripe-webhook", STRIPE_WEBHOOK_KEYS),
    ("cal-webhook", CAL_WEBHOOK_KEYS),
    ("calendly-webhook", CALENDLY_WEBHOOK_KEYS),
    ("pipeline", &[]),
    ("waitlist-offers", OFFER_KEYS),
];

/// The secret keys the function named `binary` reads (none for a name not in
/// [`FUNCTION_SECRETS`]).
pub fn secret_keys_of(binary: &str) -> &'static [&'static str] {
    FUNCTION_SECRETS
        .iter()
        .find(|(name, _)| *name == binary)
        .map_or(&[], |(_, keys)| *keys)
}

/// Each function's Lambda timeout (`Timeout` in infra/template.yaml, which tests/deploy checks
/// against this table), by binary name.
pub const LAMBDA_TIMEOUTS: [(&str, Duration); 8] = [
    ("founding-spots", Duration::from_secs(5)),
    ("create-checkout", Duration::from_secs(15)),
    ("customer-portal", Duration::from_secs(15)),
    ("stripe-webhook", Duration::from_secs(10)),
    ("cal-webhook", Duration::from_secs(10)),
    ("calendly-webhook", Duration::from_secs(10)),
    ("pipeline", Duration::from_secs(10)),
    ("waitlist-offers", Duration::from_secs(60)),
];

/// How long one AWS call (DynamoDB, Secrets Manager) may take, sized to the function's Lambda
/// timeout.
///
/// Without these the SDK waits as long as the socket does: with DynamoDB stalled, a function ran
/// until Lambda killed it, the visitor waited the whole timeout and a webhook's claim stayed
/// taken. DynamoDB answers in milliseconds, so an attempt that has not answered in a tenth of
/// the function's time will not; the SDK then tries again (at most 3 attempts, its standard
/// jittered backoff) and gives up at a quarter of the function's time. The call then fails as
/// `StoreError::Unavailable`, which every handler answers with 503 (a provider retries later),
/// leaving three quarters of the time for a Stripe call and the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsTimeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
    pub max_attempts: u32,
}

impl AwsTimeouts {
    pub fn for_lambda_timeout(lambda: Duration) -> Self {
        let attempt = lambda / 10;
        AwsTimeouts {
            connect: attempt.min(Duration::from_secs(1)),
            attempt,
            operation: lambda / 4,
            max_attempts: 3,
        }
    }

    /// The timeouts of the function named `binary` (its entry in [`LAMBDA_TIMEOUTS`]; 10 s for a
    /// name not there, the template's most common timeout).
    pub fn for_function(binary: &str) -> Self {
        let lambda = LAMBDA_TIMEOUTS
            .iter()
            .find(|(name, _)| *name == binary)
            .map_or(Duration::from_secs(10), |(_, timeout)| *timeout);
        AwsTimeouts::for_lambda_timeout(lambda)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }

    /// The AWS configuration every client of the function is built from.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
            .load()
            .await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0} is required by this function")]
    Required(&'static str),
    #[error("Stripe client: {0}")]
    Stripe(String),
}

/// Loaded once in `main`, shared by every invocation.
#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub store: SalesStore,
    /// The AWS configuration and the secret's id, for a webhook's re-reads of its secrets.
    sdk: aws_config::SdkConfig,
    secret_id: Option<String>,
}

impl Deps {
    /// Loads what the function named `binary` needs (`env!("CARGO_BIN_NAME")` in its `main`),
    /// its AWS clients bounded by its timeouts, and of the secret only its own keys
    /// ([`FUNCTION_SECRETS`]).
    pub async fn load(binary: &str) -> Result<Deps, StartupError> {
        let sdk = AwsTimeouts::for_function(binary).sdk_config().await;
        let secret_id = std::env::var("SECRETS_ID").ok().filter(|v| !v.is_empty());
        let config = Config::load_with(
            &sdk,
            secret_id.as_deref(),
            |key| std::env::var(key).ok(),
            secret_keys_of(binary),
        )
        .await?;
        let store = SalesStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.table_name.clone(),
        );
        Ok(Deps {
            config,
            store,
            sdk,
            secret_id,
        })
    }

    /// A webhook's secrets as loaded, re-read from the secret on a mismatch when there is one
    /// (`SECRETS_ID`); fixed otherwise (locally, from the environment).
    fn webhook_secrets(
        &self,
        loaded: &[Secret],
        keys: &'static [&'static str],
        name: &'static str,
    ) -> Result<WebhookSecrets, StartupError> {
        let initial = required(loaded, name)?;
        Ok(match &self.secret_id {
            Some(id) => WebhookSecrets::from_secrets_manager(initial, &self.sdk, id, keys),
            None => WebhookSecrets::fixed(initial),
        })
    }

    /// The SES v2 client (waitlist-offers), with the function's timeouts.
    pub fn sesv2(&self) -> aws_sdk_sesv2::Client {
        aws_sdk_sesv2::Client::new(&self.sdk)
    }

    pub fn stripe(&self) -> Result<StripeClient, StartupError> {
        let key = self
            .config
            .stripe_secret_key
            .clone()
            .ok_or(StartupError::Required("STRIPE_SECRET_KEY"))?;
        StripeClient::new(self.config.stripe_api_base.clone(), key)
            .map_err(|e| StartupError::Stripe(e.to_string()))
    }

    /// The team's alerts: to the topic `TEAM_ALERTS_TOPIC_ARN` names (the webhooks'
    /// environment in infra/template.yaml), through this function's AWS configuration and its
    /// timeouts; off without it.
    pub fn team_alerts(&self) -> crate::lambda::alerts::TeamAlerts {
        let arn = std::env::var(crate::lambda::alerts::TOPIC_ENV).ok();
        crate::lambda::alerts::TeamAlerts::from_config(&self.sdk, arn.as_deref())
    }

    pub fn stripe_webhook_secrets(&self) -> Result<WebhookSecrets, StartupError> {
        self.webhook_secrets(
            &self.config.stripe_webhook_secrets,
            STRIPE_WEBHOOK_KEYS,
            "STRIPE_WEBHOOK_SECRET",
        )
    }

    pub fn cal_webhook_secrets(&self) -> Result<WebhookSecrets, StartupError> {
        self.webhook_secrets(
            &self.config.cal_webhook_secrets,
            CAL_WEBHOOK_KEYS,
            "CAL_WEBHOOK_SECRET",
        )
    }

    pub fn calendly_signing_keys(&self) -> Result<WebhookSecrets, StartupError> {
        self.webhook_secrets(
            &self.config.calendly_signing_keys,
            CALENDLY_WEBHOOK_KEYS,
            "CALENDLY_WEBHOOK_SIGNING_KEY",
        )
    }
}

/// A webhook's secrets (current, then previous): at least one is needed to accept anything.
fn required(secrets: &[Secret], name: &'static str) -> Result<Vec<Secret>, StartupError> {
    if secrets.is_empty() {
        return Err(StartupError::Required(name));
    }
    Ok(secrets.to_vec())
}
