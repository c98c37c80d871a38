//! Configuration, read once per cold start.
//!
//! Plain settings come from the environment. Secret values come from one Secrets Manager
//! secret (JSON object, named by `SECRETS_ID`) in AWS, or from the environment locally; the
//! same key names either way. Secret values are wrapped in [`Secret`], whose `Debug` is
//! redacted, so they never reach a log.

use std::collections::HashMap;
use std::fmt;

use url::Url;

/// A secret value. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Keys that are secret: read from Secrets Manager in AWS, from the environment locally. A
/// function keeps only the ones it uses ([`crate::lambda::runtime::FUNCTION_SECRETS`]); the
/// others are dropped as soon as the secret is parsed (see [`Config::load_with`]).
pub const SECRET_KEYS: [&str; 9] = [
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_WEBHOOK_SECRET_PREVIOUS",
    "CAL_WEBHOOK_SECRET",
    "CAL_WEBHOOK_SECRET_PREVIOUS",
    "CALENDLY_WEBHOOK_SIGNING_KEY",
    "CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS",
    "TURNSTILE_SECRET_KEY",
    "OFFER_SIGNING_KEY",
];

/// The Stripe API key (create-checkout, customer-portal).
pub const STRIPE_API_KEYS: &[&str] = &["STRIPE_SECRET_KEY"];
/// Stripe's webhook signing secrets, current then previous (stripe-webhook).
pub const STRIPE_WEBHOOK_KEYS: &[&str] =
    &["STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_PREVIOUS"];
/// Cal.com's webhook secrets, current then previous (cal-webhook).
pub const CAL_WEBHOOK_KEYS: &[&str] = &["CAL_WEBHOOK_SECRET", "CAL_WEBHOOK_SECRET_PREVIOUS"];
/// Calendly's signing keys, current then previous (calendly-webhook).
pub const CALENDLY_WEBHOOK_KEYS: &[&str] = &[
    "CALENDLY_WEBHOOK_SIGNING_KEY",
    "CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS",
];

/// Whether `key` names a secret (one of [`SECRET_KEYS`]).
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
    #[error("could not read the secret {0}: {1}")]
    SecretsManager(String, String),
}

/// A web origin (`https://keiracom.com`), the unit of the redirect allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn of(url: &Url) -> Option<Origin> {
        match url.origin() {
            origin @ url::Origin::Tuple(..) => Some(Origin(origin.ascii_serialization())),
            url::Origin::Opaque(_) => None,
        }
    }
    pub fn parse(raw: &str) -> Result<Origin, String> {
        let url = Url::parse(raw.trim()).map_err(|e| e.to_string())?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err("origins are http or https".into());
        }
        Origin::of(&url).ok_or_else(|| "not an origin".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub stripe_api_base: Url,
    pub stripe_secret_key: Option<Secret>,
    /// Current first, then the previous secret accepted during a rotation.
    pub stripe_webhook_secrets: Vec<Secret>,
    pub stripe_founding_price_id: Option<String>,
    pub stripe_standard_price_id: Option<String>,
    /// The customer portal configuration `salesctl setup` made (no plan switching); without
    /// it, portal sessions use the account's default configuration.
    pub stripe_portal_configuration_id: Option<String>,
    pub cal_webhook_secrets: Vec<Secret>,
    pub calendly_signing_keys: Vec<Secret>,
    /// Origins that checkout and portal redirect URLs may point at.
    pub allowed_redirect_origins: Vec<Origin>,
    /// The landing page's origin, for CORS.
    pub landing_origin: Option<Origin>,
    pub checkout_success_url: Option<Url>,
    pub checkout_cancel_url: Option<Url>,
    pub portal_return_url: Option<Url>,
    /// Live founding holds one client (source address; IPv6 by /64) may have at once
    /// (`FOUNDING_HOLDS_PER_CLIENT`, default 2; 0 turns the cap off).
    pub founding_holds_per_client: u8,
    /// The optional human check (Cloudflare Turnstile) on founding checkouts: `None` (off)
    /// without `TURNSTILE_SECRET_KEY`; `TURNSTILE_VERIFY_URL` replaces Cloudflare's URL.
    pub turnstile: Option<crate::providers::turnstile::TurnstileSettings>,
    /// Signs and checks waitlist offer links (waitlist-offers signs, create-checkout checks).
    pub offer_signing_key: Option<Secret>,
    /// The offer e-mail's sender (an address of the SES-verified `OfferSenderDomain`), its SES
    /// template, and the page its link opens (the landing page, `?offer=<token>` appended).
    pub offer_sender: Option<String>,
    pub offer_template: Option<String>,
    pub offer_link_base: Option<Url>,
}

fn optional_url(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
) -> Result<Option<Url>, ConfigError> {
    get(key)
        .filter(|v| !v.trim().is_empty())
        .map(|v| Url::parse(v.trim()).map_err(|e| ConfigError::Invalid(key, e.to_string())))
        .transpose()
}

/// The non-empty values of `keys`, in that order (a webhook's current secret, then the previous).
pub(crate) fn secrets(get: &impl Fn(&str) -> Option<String>, keys: &[&str]) -> Vec<Secret> {
    keys.iter()
        .filter_map(|key| get(key))
        .filter(|value| !value.trim().is_empty())
        .map(|value| Secret::new(value.trim()))
        .collect()
}

impl Config {
    /// Builds the configuration from a lookup (the environment merged with the secret).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let nonempty = |key: &str| {
            get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let stripe_api_base =
            nonempty("STRIPE_API_BASE").unwrap_or_else(|| DEFAULT_STRIPE_API_BASE.to_owned());
        let stripe_api_base = Url::parse(&stripe_api_base)
            .map_err(|e| ConfigError::Invalid("STRIPE_API_BASE", e.to_string()))?;
        let allowed_redirect_origins = nonempty("ALLOWED_REDIRECT_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .filter(|o| !o.trim().is_empty())
            .map(|o| {
                Origin::parse(o).map_err(|e| {
                    ConfigError::Invalid("ALLOWED_REDIRECT_ORIGINS", format!("{o}: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let landing_origin = nonempty("LANDING_ORIGIN")
            .map(|o| Origin::parse(&o).map_err(|e| ConfigError::Invalid("LANDING_ORIGIN", e)))
            .transpose()?;
        Ok(Config {
            table_name: nonempty("TABLE_NAME")
                .unwrap_or_else(|| crate::store::table::DEFAULT_TABLE_NAME.to_owned()),
            stripe_api_base,
            stripe_secret_key: nonempty("STRIPE_SECRET_KEY").map(Secret::new),
            stripe_webhook_secrets: secrets(&get, STRIPE_WEBHOOK_KEYS),
            stripe_founding_price_id: nonempty("STRIPE_FOUNDING_PRICE_ID"),
            stripe_standard_price_id: nonempty("STRIPE_STANDARD_PRICE_ID"),
            stripe_portal_configuration_id: nonempty("STRIPE_PORTAL_CONFIGURATION_ID"),
            cal_webhook_secrets: secrets(&get, CAL_WEBHOOK_KEYS),
            calendly_signing_keys: secrets(&get, CALENDLY_WEBHOOK_KEYS),
            allowed_redirect_origins,
            landing_origin,
            checkout_success_url: optional_url(&get, "CHECKOUT_SUCCESS_URL")?,
            checkout_cancel_url: optional_url(&get, "CHECKOUT_CANCEL_URL")?,
            portal_return_url: optional_url(&get, "PORTAL_RETURN_URL")?,
            founding_holds_per_client: match nonempty("FOUNDING_HOLDS_PER_CLIENT") {
                Some(raw) => raw
                    .parse()
                    .map_err(|_| {
                        ConfigError::Invalid(
                            "FOUNDING_HOLDS_PER_CLIENT",
                            format!("{raw:?} is not a number from 0 to 50"),
                        )
                    })
                    .and_then(|n: u8| {
                        if n <= 50 {
                            Ok(n)
                        } else {
                            Err(ConfigError::Invalid(
                                "FOUNDING_HOLDS_PER_CLIENT",
                                format!("{n} is more than 50"),
                            ))
                        }
                    })?,
                None => crate::domain::DEFAULT_HOLDS_PER_CLIENT,
            },
            turnstile: crate::providers::turnstile::TurnstileSettings::from_lookup(&get)?,
            offer_signing_key: nonempty("OFFER_SIGNING_KEY").map(Secret::new),
            offer_sender: nonempty("OFFER_SENDER"),
            offer_template: nonempty("OFFER_TEMPLATE"),
            offer_link_base: optional_url(&get, "OFFER_LINK_BASE")?,
        })
    }

    /// Reads the environment and, when `SECRETS_ID` names a Secrets Manager secret, that
    /// secret's JSON keys (which win over the environment). Of the secret keys
    /// ([`SECRET_KEYS`]) only those in `keep` are read, from either source.
    pub async fn load(sdk: &aws_config::SdkConfig, keep: &[&str]) -> Result<Config, ConfigError> {
        let secret_id = std::env::var("SECRETS_ID").ok().filter(|v| !v.is_empty());
        Config::load_with(
            sdk,
            secret_id.as_deref(),
            |key| std::env::var(key).ok(),
            keep,
        )
        .await
    }

    /// [`Config::load`] with the secret and the plain settings given (tests load as several
    /// functions at once, without touching the process environment).
    ///
    /// The secret is one JSON object holding every function's keys; the secret keys not in
    /// `keep` are dropped right after parsing, so a function's [`Config`] never holds a secret
    /// it does not use (a webhook never has the Stripe API key). Keys that are not secrets
    /// (price ids, the portal configuration, booking links) are kept.
    pub async fn load_with(
        sdk: &aws_config::SdkConfig,
        secret_id: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
        keep: &[&str],
    ) -> Result<Config, ConfigError> {
        let secret_values = match secret_id {
            Some(secret_id) => {
                let client = aws_sdk_secretsmanager::Client::new(sdk);
                read_secret(&client, secret_id, keep).await?
            }
            None => HashMap::new(),
        };
        Config::from_lookup(|key| {
            if is_secret_key(key) && !keep.contains(&key) {
                return None;
            }
            secret_values.get(key).cloned().or_else(|| env(key))
        })
    }

    /// Whether a URL may be used as a redirect target.
    pub fn redirect_allowed(&self, url: &Url) -> bool {
        matches!(url.scheme(), "https" | "http")
            && Origin::of(url).is_some_and(|origin| self.allowed_redirect_origins.contains(&origin))
    }
}

/// Reads the JSON secret `secret_id` and returns its string values, without the secret keys
/// ([`SECRET_KEYS`]) that are not in `keep`: those are dropped here, right after parsing.
pub async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    keep: &[&str],
) -> Result<HashMap<String, String>, ConfigError> {
    let value = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            ConfigError::SecretsManager(
                secret_id.to_owned(),
                aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            )
        })?;
    let text = value.secret_string().unwrap_or("{}");
    let parsed: HashMap<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| {
        ConfigError::SecretsManager(secret_id.to_owned(), format!("not a JSON object: {e}"))
    })?;
    Ok(parsed
        .into_iter()
        .filter(|(key, _)| !is_secret_key(key) || keep.contains(&key.as_str()))
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(value) => Some((key, value)),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn reads_settings_and_keeps_secrets_out_of_debug() {
        let config = Config::from_lookup(lookup(&[
            ("STRIPE_SECRET_KEY", "sk_test_123"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_now"),
            ("STRIPE_WEBHOOK_SECRET_PREVIOUS", "whsec_before"),
            (
                "ALLOWED_REDIRECT_ORIGINS",
                "https://keiracom.com, https://app.keiracom.com",
            ),
            ("LANDING_ORIGIN", "https://keiracom.com/"),
        ]))
        .unwrap();
        assert_eq!(config.stripe_webhook_secrets.len(), 2);
        assert_eq!(
            config.landing_origin.as_ref().unwrap().as_str(),
            "https://keiracom.com"
        );
        assert_eq!(config.stripe_api_base.as_str(), "https://api.stripe.com/");
        assert_eq!(config.table_name, "agency-sales");
        let debug = format!("{config:?}");
        for secret in ["sk_test_123", "whsec_now", "whsec_before"] {
            assert!(!debug.contains(secret), "{secret} leaked into {debug}");
        }
    }

    #[test]
    fn redirects_must_match_an_allowed_origin_exactly() {
        let config = Config::from_lookup(lookup(&[(
            "ALLOWED_REDIRECT_ORIGINS",
            "https://keiracom.com",
        )]))
        .unwrap();
        let allowed = |u: &str| config.redirect_allowed(&Url::parse(u).unwrap());
        assert!(allowed("https://keiracom.com/welcome?x=1"));
        assert!(!allowed("https://keiracom.com.evil.example/welcome"));
        assert!(!allowed("http://keiracom.com/welcome"));
        assert!(!allowed("https://evil.example/?https://keiracom.com"));
        assert!(!allowed("javascript:alert(1)"));
    }

    #[test]
    fn bad_values_are_named() {
        let err =
            Config::from_lookup(lookup(&[("ALLOWED_REDIRECT_ORIGINS", "ftp://x")])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid("ALLOWED_REDIRECT_ORIGINS", _)
        ));
        let err = Config::from_lookup(lookup(&[("STRIPE_API_BASE", "not a url")])).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid("STRIPE_API_BASE", _)));
    }
}
