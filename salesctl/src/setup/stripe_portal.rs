//! Stripe's customer portal configuration for the product: customers update their payment
//! method, see their invoices and cancel at the end of the period; nobody switches plans by
//! themselves (both prices are on one product, so plan switching would let a standard
//! subscriber move onto the founding price, and a founding member off the price their benefits
//! lock). customer-portal passes its id on every session (`STRIPE_PORTAL_CONFIGURATION_ID`).
//!
//! `GET /v1/billing_portal/configurations` lists them (`active`, `limit`, `starting_after`);
//! ours carries `metadata[managed_by]` and `metadata[product]`. `POST
//! /v1/billing_portal/configurations` creates one (`features` required), `POST
//! /v1/billing_portal/configurations/{id}` updates one in place, so a drifted configuration (a
//! feature switched on in the Dashboard) is repaired without changing its id.

use serde::Deserialize;
use serde_json::Value;

use super::report::{Outcome, Provider, Step};

/// The metadata that marks the configuration setup manages, and for which product.
pub(crate) const PRODUCT_METADATA: &str = "product";

#[derive(Debug, Deserialize, Default)]
struct Enabled {
    #[serde(default)]
    enabled: bool,
}

#[derive(Debug, Deserialize, Default)]
struct Cancel {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct Features {
    #[serde(default)]
    customer_update: Enabled,
    #[serde(default)]
    invoice_history: Enabled,
    #[serde(default)]
    payment_method_update: Enabled,
    #[serde(default)]
    subscription_cancel: Cancel,
    #[serde(default)]
    subscription_update: Enabled,
}

/// A portal configuration as Stripe lists it.
#[derive(Debug, Deserialize)]
pub(crate) struct PortalConfiguration {
    pub id: String,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    features: Features,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

impl PortalConfiguration {
    /// Whether setup made it for this product.
    pub fn is_ours(&self, product_id: &str, managed_by: &str) -> bool {
        self.metadata.get("managed_by").map(String::as_str) == Some(managed_by)
            && self.metadata.get(PRODUCT_METADATA).map(String::as_str) == Some(product_id)
    }

    /// How it differs from what the product needs, in words (empty when it is in order).
    pub fn drift(&self) -> Vec<String> {
        let f = &self.features;
        let mut why = Vec::new();
        if !self.active {
            why.push("it is inactive".to_owned());
        }
        if f.subscription_update.enabled {
            why.push("it lets customers switch plans (onto or off the founding price)".to_owned());
        }
        if f.customer_update.enabled {
            why.push("it lets customers change their e-mail and details".to_owned());
        }
        if !f.payment_method_update.enabled {
            why.push("payment method updates are off".to_owned());
        }
        if !f.invoice_history.enabled {
            why.push("invoice history is off".to_owned());
        }
        if !f.subscription_cancel.enabled
            || f.subscription_cancel.mode.as_deref() != Some("at_period_end")
        {
            why.push("cancelling is not at the end of the period".to_owned());
        }
        why
    }
}

/// What setup will do to the portal configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortalOp {
    Reuse { id: String },
    Create,
    Update { id: String, why: String },
}

impl PortalOp {
    /// Decides from the account's active configurations.
    pub fn decide(found: &[PortalConfiguration], product_id: &str, managed_by: &str) -> PortalOp {
        match found.iter().find(|c| c.is_ours(product_id, managed_by)) {
            None => PortalOp::Create,
            Some(config) => {
                let why = config.drift();
                if why.is_empty() {
                    PortalOp::Reuse {
                        id: config.id.clone(),
                    }
                } else {
                    PortalOp::Update {
                        id: config.id.clone(),
                        why: why.join(", "),
                    }
                }
            }
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            PortalOp::Reuse { id } | PortalOp::Update { id, .. } => Some(id),
            PortalOp::Create => None,
        }
    }

    pub fn step(&self, detail: impl Fn(&str) -> String) -> Step {
        let (outcome, detail) = match self {
            PortalOp::Reuse { id } => (Outcome::Reused, detail(id)),
            PortalOp::Create => (Outcome::Created, detail("new configuration")),
            PortalOp::Update { id, why } => (Outcome::Updated, format!("{} ({why})", detail(id))),
        };
        Step::new(Provider::Stripe, "portal configuration", outcome, detail)
    }
}

/// The form that creates or repairs the configuration.
pub(crate) fn form(product_id: &str, managed_by: &str, create: bool) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = [
        ("features[customer_update][enabled]", "false"),
        ("features[invoice_history][enabled]", "true"),
        ("features[payment_method_update][enabled]", "true"),
        ("features[subscription_cancel][enabled]", "true"),
        ("features[subscription_cancel][mode]", "at_period_end"),
        ("features[subscription_update][enabled]", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if create {
        form.push((
            "business_profile[headline]".to_owned(),
            "Agency OS".to_owned(),
        ));
        form.push(("metadata[managed_by]".to_owned(), managed_by.to_owned()));
        form.push((
            format!("metadata[{PRODUCT_METADATA}]"),
            product_id.to_owned(),
        ));
    } else {
        form.push(("active".to_owned(), "true".to_owned()));
    }
    form
}

/// Reads a configuration list's page.
pub(crate) fn page(value: Value) -> Result<(Vec<PortalConfiguration>, bool), serde_json::Error> {
    #[derive(Deserialize)]
    struct List {
        data: Vec<PortalConfiguration>,
        #[serde(default)]
        has_more: bool,
    }
    let list: List = serde_json::from_value(value)?;
    Ok((list.data, list.has_more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(features: Value) -> PortalConfiguration {
        serde_json::from_value(json!({
            "id": "bpc_1", "active": true, "features": features,
            "metadata": {"managed_by": "salesctl setup", "product": "agency_os"}
        }))
        .unwrap()
    }

    fn in_order() -> Value {
        json!({
            "customer_update": {"enabled": false},
            "invoice_history": {"enabled": true},
            "payment_method_update": {"enabled": true},
            "subscription_cancel": {"enabled": true, "mode": "at_period_end"},
            "subscription_update": {"enabled": false}
        })
    }

    #[test]
    fn ours_in_order_is_reused_and_a_drifted_one_repaired() {
        let found = [config(in_order())];
        assert_eq!(
            PortalOp::decide(&found, "agency_os", "salesctl setup"),
            PortalOp::Reuse { id: "bpc_1".into() }
        );
        let mut drifted = in_order();
        drifted["subscription_update"] = json!({"enabled": true});
        let found = [config(drifted)];
        let PortalOp::Update { why, .. } = PortalOp::decide(&found, "agency_os", "salesctl setup")
        else {
            panic!("a drifted configuration is updated");
        };
        assert!(why.contains("switch plans"), "{why}");
        // Another product's, or one setup did not make: not ours.
        assert_eq!(
            PortalOp::decide(&found, "other_product", "salesctl setup"),
            PortalOp::Create
        );
    }

    #[test]
    fn the_form_turns_plan_switching_off() {
        let form = form("agency_os", "salesctl setup", true);
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("features[subscription_update][enabled]"), Some("false"));
        assert_eq!(
            get("features[subscription_cancel][mode]"),
            Some("at_period_end")
        );
        assert_eq!(get("metadata[product]"), Some("agency_os"));
    }
}
