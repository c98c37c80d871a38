//! What every function builds once per cold start: AWS configuration, the configuration and
//! secrets, the DynamoDB store, the Stripe client.

use crate::lambda::config::{Config, ConfigError, Secret};
use crate::providers::stripe::StripeClient;
use crate::SalesStore;

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
}

impl Deps {
    pub async fn load() -> Result<Deps, StartupError> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let config = Config::load(&sdk).await?;
        let store = SalesStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.table_name.clone(),
        );
        Ok(Deps { config, store })
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

    pub fn stripe_webhook_secrets(&self) -> Result<Vec<Secret>, StartupError> {
        required(&self.config.stripe_webhook_secrets, "STRIPE_WEBHOOK_SECRET")
    }

    pub fn cal_webhook_secrets(&self) -> Result<Vec<Secret>, StartupError> {
        required(&self.config.cal_webhook_secrets, "CAL_WEBHOOK_SECRET")
    }

    pub fn calendly_signing_keys(&self) -> Result<Vec<Secret>, StartupError> {
        required(
            &self.config.calendly_signing_keys,
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
