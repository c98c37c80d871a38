//! `salesctl setup`: makes Stripe, Cal.com and Calendly ready for a deployed stack, in one
//! idempotent run.
//!
//! - **Stripe**: one product, two recurring AUD prices (standard at the configured amount,
//!   founding at [`FOUNDING_DISCOUNT_PERCENT`](sales::domain::FOUNDING_DISCOUNT_PERCENT) off it),
//!   found again by `lookup_key`; one webhook endpoint at the stripe-webhook URL with exactly the
//!   events the function handles, at the pinned API version; the customer portal's
//!   configuration (no plan switching), repaired in place when it drifted.
//! - **Cal.com** (API v2): one webhook to the cal-webhook URL for the five booking triggers,
//!   signed with a secret setup generates (or the one the stack already has).
//! - **Calendly** (API v2): one webhook subscription to the calendly-webhook URL for
//!   `invitee.created` and `invitee.canceled`, signed with a key setup generates (or the one the
//!   stack already has).
//! - **Secrets Manager**: the price ids and the three signing secrets go into the stack's JSON
//!   secret, merged: keys setup does not own are kept as they are.
//!
//! The order makes a failure harmless. First every provider is only *read* and a plan made; a
//! refused key or an unreachable API stops the run there, before any change anywhere. Then the
//! plans are applied, and the secret is written once, at the end, only if every step
//! succeeded. If a step fails, the webhooks this run created whose secrets exist only in memory
//! are deleted again, and the secret is left as it was. An old Stripe endpoint being replaced is
//! deleted only after the secret holding its successor's signing secret has been written. A
//! second run finds everything in place and sends nothing but reads.

pub(crate) mod api;
pub mod cal;
pub mod calendly;
pub mod outputs;
pub mod report;
mod secret_store;
pub mod stripe;
mod stripe_portal;

use url::Url;

pub use cal::CalSetup;
pub use calendly::{CalendlyScope, CalendlySetup};
pub use outputs::StackOutputs;
pub use report::{Failure, Outcome, Provider, Report, SetupError, Step};
pub use secret_store::{SecretDoc, SecretStore};
pub use stripe::StripeSetup;

use sales::lambda::config::Secret;

/// The secret's keys that setup writes (the names `sales::lambda::config` reads).
pub const STRIPE_SECRET_KEY: &str = "STRIPE_SECRET_KEY";
pub const STRIPE_WEBHOOK_SECRET: &str = "STRIPE_WEBHOOK_SECRET";
pub const STRIPE_WEBHOOK_SECRET_PREVIOUS: &str = "STRIPE_WEBHOOK_SECRET_PREVIOUS";
pub const STRIPE_FOUNDING_PRICE_ID: &str = "STRIPE_FOUNDING_PRICE_ID";
pub const STRIPE_STANDARD_PRICE_ID: &str = "STRIPE_STANDARD_PRICE_ID";
pub const STRIPE_PORTAL_CONFIGURATION_ID: &str = "STRIPE_PORTAL_CONFIGURATION_ID";
pub const CAL_BOOKING_URL: &str = "CAL_BOOKING_URL";
pub const CALENDLY_BOOKING_URL: &str = "CALENDLY_BOOKING_URL";
pub const CAL_WEBHOOK_SECRET: &str = "CAL_WEBHOOK_SECRET";
pub const CALENDLY_WEBHOOK_SIGNING_KEY: &str = "CALENDLY_WEBHOOK_SIGNING_KEY";

/// What to set up. A provider left `None` is skipped, with the reason in `skipped`.
#[derive(Debug, Clone)]
pub struct SetupConfig {
    /// The stack's Secrets Manager secret (name or ARN).
    pub secret_id: String,
    pub stripe: Option<StripeSetup>,
    pub cal: Option<CalSetup>,
    pub calendly: Option<CalendlySetup>,
    /// Providers not set up, and why (shown in the report).
    pub skipped: Vec<(Provider, String)>,
    /// Read and plan only; change nothing.
    pub dry_run: bool,
}

/// A resource this run may have to delete: after a failure (it was created by this run and its
/// secret was never saved) or after the secret was written (it was replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cleanup {
    StripeEndpoint(String),
    CalWebhook(String),
    CalendlySubscription(String),
}

/// What applying the plans has done so far.
#[derive(Default)]
pub(crate) struct Progress {
    pub steps: Vec<Step>,
    /// Values for the secret, written once at the end.
    pub sets: Vec<(&'static str, Secret)>,
    /// Created by this run, with secrets only in memory: deleted if the run fails.
    pub undo: Vec<Cleanup>,
    /// Replaced: deleted once the secret is written.
    pub after_save: Vec<Cleanup>,
    pub warnings: Vec<String>,
}

/// Runs setup: reads the secret, plans every provider, and (unless a dry run) applies the plans
/// and writes the secret once. See the module documentation for the order and its guarantees.
pub async fn run(
    config: &SetupConfig,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<Report, Failure> {
    let mut report = Report::new(&config.secret_id, config.dry_run);
    let fail = |report: &Report, error: SetupError| Failure {
        error,
        report: report.clone(),
    };
    let store = SecretStore::new(secrets.clone(), &config.secret_id);
    let doc = store.read().await.map_err(|e| fail(&report, e))?;

    // Plan: reads only.
    let stripe = match &config.stripe {
        Some(setup) => Some(
            stripe::plan(setup, &doc)
                .await
                .map_err(|e| fail(&report, e))?,
        ),
        None => None,
    };
    let cal = match &config.cal {
        Some(setup) => Some(cal::plan(setup, &doc).await.map_err(|e| fail(&report, e))?),
        None => None,
    };
    let calendly = match &config.calendly {
        Some(setup) => Some(
            calendly::plan(setup, &doc)
                .await
                .map_err(|e| fail(&report, e))?,
        ),
        None => None,
    };
    let skipped = |provider: Provider| -> Option<Step> {
        config
            .skipped
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(p, why)| Step::new(*p, "everything", Outcome::Skipped, why.clone()))
    };

    if config.dry_run {
        report.steps.extend(skipped(Provider::Stripe));
        if let Some(plan) = &stripe {
            report.steps.extend(plan.steps());
            report.secret_keys_set.extend(plan.keys_to_set(&doc));
            report.warnings.extend(plan.warnings.iter().cloned());
        }
        report.steps.extend(skipped(Provider::Cal));
        if let Some(plan) = &cal {
            report.steps.extend(plan.steps());
            report.secret_keys_set.extend(plan.keys_to_set());
            report.warnings.extend(plan.warnings.iter().cloned());
        }
        report.steps.extend(skipped(Provider::Calendly));
        if let Some(plan) = &calendly {
            report.steps.extend(plan.steps());
            report.secret_keys_set.extend(plan.keys_to_set());
            report.warnings.extend(plan.warnings.iter().cloned());
        }
        return Ok(report);
    }

    // Apply, then write the secret once.
    let mut progress = Progress::default();
    let applied = async {
        progress.steps.extend(skipped(Provider::Stripe));
        if let Some(plan) = &stripe {
            progress.warnings.extend(plan.warnings.iter().cloned());
            plan.apply(&mut progress).await?;
        }
        progress.steps.extend(skipped(Provider::Cal));
        if let Some(plan) = &cal {
            progress.warnings.extend(plan.warnings.iter().cloned());
            plan.apply(&mut progress).await?;
        }
        progress.steps.extend(skipped(Provider::Calendly));
        if let Some(plan) = &calendly {
            progress.warnings.extend(plan.warnings.iter().cloned());
            plan.apply(&mut progress).await?;
        }
        Ok::<(), SetupError>(())
    }
    .await;
    let written = match applied {
        Ok(()) => store.write_merged(&progress.sets).await,
        Err(error) => Err(error),
    };
    match written {
        Ok(changed) => {
            report.secret_written = !changed.is_empty();
            report.secret_keys_set = changed;
        }
        Err(error) => {
            // Nothing this run created may outlive it with a secret nobody has.
            let undo = std::mem::take(&mut progress.undo);
            for cleanup in undo.into_iter().rev() {
                let why = "undone: created by this run, but its secret was never saved";
                delete(
                    &cleanup,
                    why,
                    stripe.as_ref(),
                    cal.as_ref(),
                    calendly.as_ref(),
                    &mut progress,
                )
                .await;
            }
            report.steps = progress.steps;
            report.warnings = progress.warnings;
            return Err(fail(&report, error));
        }
    }
    let replaced = std::mem::take(&mut progress.after_save);
    for cleanup in replaced {
        let why = "replaced; its successor's secret is saved";
        delete(
            &cleanup,
            why,
            stripe.as_ref(),
            cal.as_ref(),
            calendly.as_ref(),
            &mut progress,
        )
        .await;
    }
    report.steps = progress.steps;
    report.warnings = progress.warnings;
    Ok(report)
}

/// Deletes one resource, recording a step, or a warning saying what to delete by hand.
async fn delete(
    cleanup: &Cleanup,
    why: &str,
    stripe: Option<&stripe::StripePlan>,
    cal: Option<&cal::CalPlan>,
    calendly: Option<&calendly::CalendlyPlan>,
    progress: &mut Progress,
) {
    let (provider, resource, id, result, where_) = match cleanup {
        Cleanup::StripeEndpoint(id) => (
            Provider::Stripe,
            "webhook endpoint",
            id,
            match stripe {
                Some(plan) => plan.delete_endpoint(id).await,
                None => Ok(()),
            },
            "Stripe Dashboard → Developers → Webhooks",
        ),
        Cleanup::CalWebhook(id) => (
            Provider::Cal,
            "webhook",
            id,
            match cal {
                Some(plan) => plan.delete_webhook(id).await,
                None => Ok(()),
            },
            "Cal.com Settings → Developer → Webhooks",
        ),
        Cleanup::CalendlySubscription(uri) => (
            Provider::Calendly,
            "webhook subscription",
            uri,
            match calendly {
                Some(plan) => plan.delete_subscription(uri).await,
                None => Ok(()),
            },
            "Calendly's API (DELETE /webhook_subscriptions/{uuid})",
        ),
    };
    match result {
        Ok(()) => progress.steps.push(Step::new(
            provider,
            resource,
            Outcome::Deleted,
            format!("{id} ({why})"),
        )),
        Err(err) => progress.warnings.push(format!(
            "{provider}: could not delete {resource} {id} ({why}): {err}; delete it in {where_}"
        )),
    }
}

/// Builds the configuration from `salesctl setup`'s options (`flag("secret-id")`, …), the
/// environment and, with `--outputs FILE`, the stack's outputs. The error names the flag.
pub fn config_from(
    flag: impl Fn(&str) -> Option<String>,
    env: impl Fn(&str) -> Option<String>,
    dry_run: bool,
) -> Result<SetupConfig, String> {
    let nonempty = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let flag = |name: &str| nonempty(flag(name));
    let env = |name: &str| nonempty(env(name));
    let outputs = match flag("outputs") {
        Some(path) => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("--outputs {path}: {e}"))?;
            StackOutputs::parse(&text).map_err(|e| format!("--outputs {path}: {e}"))?
        }
        None => StackOutputs::default(),
    };
    let from_outputs = |key: &str| outputs.get(key).map(str::to_owned);
    let url_of = |name: &str, output: &str| -> Result<Url, String> {
        let raw = flag(name).or_else(|| from_outputs(output)).ok_or_else(|| {
            format!("--{name} is needed (or --outputs with the stack's {output} output)")
        })?;
        let url = Url::parse(&raw).map_err(|e| format!("--{name} {raw:?}: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("--{name} {raw:?}: not an http(s) URL"));
        }
        Ok(url)
    };
    let base_of = |name: &'static str, default: &str| -> Result<Url, String> {
        let raw = env(name).unwrap_or_else(|| default.to_owned());
        Url::parse(&raw).map_err(|e| format!("{name} {raw:?}: {e}"))
    };
    let secret_id = flag("secret-id")
        .or_else(|| from_outputs(outputs::SECRET_ARN))
        .ok_or("--secret-id is needed (or --outputs with the stack's SecretArn output)")?;

    let mut skipped = Vec::new();
    let amount = flag("standard-amount-cents")
        .map(|v| ("--standard-amount-cents", v))
        .or_else(|| env("STANDARD_PRICE_AUD_CENTS").map(|v| ("STANDARD_PRICE_AUD_CENTS", v)));
    let stripe_key = env(STRIPE_SECRET_KEY).map(Secret::new);
    let stripe = if stripe_key.is_some() || amount.is_some() {
        let (source, raw) = amount.ok_or(
            "--standard-amount-cents (or STANDARD_PRICE_AUD_CENTS) is needed: the standard plan's \
             monthly price in AUD cents (the founding price is 40% off it)",
        )?;
        let standard_amount_cents = raw
            .parse::<u64>()
            .ok()
            .filter(|&c| (100..=99_999_999).contains(&c))
            .ok_or_else(|| {
                format!("{source} {raw:?}: a whole number of cents from 100 to 99999999")
            })?;
        let product_id = flag("product-id").unwrap_or_else(|| stripe::DEFAULT_PRODUCT_ID.into());
        if !product_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "--product-id {product_id:?}: letters, digits, _ and - only"
            ));
        }
        Some(StripeSetup {
            api_base: base_of(
                "STRIPE_API_BASE",
                sales::lambda::config::DEFAULT_STRIPE_API_BASE,
            )?,
            secret_key: stripe_key,
            webhook_url: url_of("stripe-webhook-url", outputs::STRIPE_WEBHOOK_URL)?,
            standard_amount_cents,
            product_id,
        })
    } else {
        skipped.push((
            Provider::Stripe,
            "STRIPE_SECRET_KEY is not set and no --standard-amount-cents was given".to_owned(),
        ));
        None
    };
    let cal = match env("CAL_API_KEY") {
        Some(key) => Some(CalSetup {
            api_base: base_of("CAL_API_BASE", cal::DEFAULT_API_BASE)?,
            api_key: Secret::new(key),
            webhook_url: url_of("cal-webhook-url", outputs::CAL_WEBHOOK_URL)?,
            demo_slug: {
                let slug = flag("cal-event-slug").unwrap_or_else(|| cal::DEFAULT_DEMO_SLUG.into());
                if slug.is_empty()
                    || !slug
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    return Err(format!(
                        "--cal-event-slug {slug:?}: lower-case letters, digits and - only"
                    ));
                }
                slug
            },
            demo_location: cal::location(
                &flag("cal-location").unwrap_or_else(|| "cal-video".into()),
            )?,
            booking_base: match flag("cal-booking-base") {
                Some(raw) => {
                    Url::parse(&raw).map_err(|e| format!("--cal-booking-base {raw:?}: {e}"))?
                }
                None => base_of("CAL_BOOKING_BASE", cal::DEFAULT_BOOKING_BASE)?,
            },
        }),
        None => {
            skipped.push((Provider::Cal, "CAL_API_KEY is not set".to_owned()));
            None
        }
    };
    let calendly = match env("CALENDLY_TOKEN") {
        Some(token) => Some(CalendlySetup {
            api_base: base_of("CALENDLY_API_BASE", calendly::DEFAULT_API_BASE)?,
            token: Secret::new(token),
            webhook_url: url_of("calendly-webhook-url", outputs::CALENDLY_WEBHOOK_URL)?,
            scope: match flag("calendly-scope").as_deref() {
                None | Some("user") => CalendlyScope::User,
                Some("organization") => CalendlyScope::Organization,
                Some(other) => {
                    return Err(format!("--calendly-scope {other:?}: user or organization"))
                }
            },
        }),
        None => {
            skipped.push((Provider::Calendly, "CALENDLY_TOKEN is not set".to_owned()));
            None
        }
    };
    if stripe.is_none() && cal.is_none() && calendly.is_none() {
        return Err(
            "nothing to set up: export STRIPE_SECRET_KEY (with --standard-amount-cents), \
                    CAL_API_KEY and/or CALENDLY_TOKEN"
                .to_owned(),
        );
    }
    Ok(SetupConfig {
        secret_id,
        stripe,
        cal,
        calendly,
        skipped,
        dry_run,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn flags_env_and_outputs_make_the_config() {
        let dir = std::env::temp_dir().join(format!("setup-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("outputs.json");
        std::fs::write(
            &file,
            r#"[{"OutputKey":"StripeWebhookUrl","OutputValue":"https://s.example/"},
                {"OutputKey":"CalWebhookUrl","OutputValue":"https://c.example/"},
                {"OutputKey":"CalendlyWebhookUrl","OutputValue":"https://y.example/"},
                {"OutputKey":"SecretArn","OutputValue":"arn:secret"}]"#,
        )
        .unwrap();
        let path = file.to_str().unwrap().to_owned();
        let config = config_from(
            lookup(&[
                ("outputs", &path),
                ("standard-amount-cents", "9900"),
                ("cal-webhook-url", "https://override.example/cal"),
            ]),
            lookup(&[("STRIPE_SECRET_KEY", "sk_test_x"), ("CAL_API_KEY", "cal_x")]),
            true,
        )
        .unwrap();
        assert_eq!(config.secret_id, "arn:secret");
        let stripe = config.stripe.unwrap();
        assert_eq!(stripe.standard_amount_cents, 9900);
        assert_eq!(stripe.webhook_url.as_str(), "https://s.example/");
        assert_eq!(stripe.api_base.as_str(), "https://api.stripe.com/");
        assert_eq!(stripe.product_id, "agency_os");
        let cal = config.cal.unwrap();
        assert_eq!(cal.webhook_url.as_str(), "https://override.example/cal");
        assert_eq!(cal.api_base.as_str(), "https://api.cal.com/");
        assert!(config.calendly.is_none());
        assert_eq!(config.skipped.len(), 1);
        assert!(config.dry_run);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_inputs_are_named() {
        let err = config_from(lookup(&[]), lookup(&[("CAL_API_KEY", "k")]), false).unwrap_err();
        assert!(err.contains("--secret-id"), "{err}");
        let err = config_from(
            lookup(&[("secret-id", "s")]),
            lookup(&[("CAL_API_KEY", "k")]),
            false,
        )
        .unwrap_err();
        assert!(err.contains("--cal-webhook-url"), "{err}");
        let err = config_from(
            lookup(&[
                ("secret-id", "s"),
                ("stripe-webhook-url", "https://s.example"),
            ]),
            lookup(&[("STRIPE_SECRET_KEY", "sk")]),
            false,
        )
        .unwrap_err();
        assert!(err.contains("--standard-amount-cents"), "{err}");
        let err = config_from(
            lookup(&[("secret-id", "s"), ("standard-amount-cents", "99.5")]),
            lookup(&[]),
            false,
        )
        .unwrap_err();
        assert!(err.contains("whole number"), "{err}");
        let err = config_from(lookup(&[("secret-id", "s")]), lookup(&[]), false).unwrap_err();
        assert!(err.contains("nothing to set up"), "{err}");
    }
}
