//! `POST /billing/create-checkout`: starts a Stripe Checkout for the founding or standard plan.

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::checkout_metadata::CheckoutMetadata;
use crate::domain::time_format;
use crate::domain::{EmailAddress, HoldRef, HoldWindow, LeadSource, NewLead, PlanType, HOLD_GRACE};
use crate::lambda::clock::Clock;
use crate::lambda::config::Config;
use crate::lambda::http::{json_body, json_response, ApiError, Cors, HttpResponse};
use crate::providers::stripe::{CheckoutRequest, StripeClient};
use crate::store::HoldOutcome;
use crate::SalesStore;

#[derive(Debug, Deserialize)]
struct CheckoutInput {
    email: Option<String>,
    plan_type: Option<String>,
    company_name: Option<String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
}

/// A validated checkout request.
#[derive(Debug)]
struct CheckoutOrder {
    email: EmailAddress,
    plan: PlanType,
    company_name: Option<String>,
    success_url: String,
    cancel_url: String,
}

#[derive(Debug, Serialize)]
struct CheckoutResponse {
    checkout_url: String,
    session_id: String,
    plan_type: PlanType,
    #[serde(skip_serializing_if = "Option::is_none")]
    spot_number: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

#[derive(Debug)]
pub struct CreateCheckout {
    store: SalesStore,
    stripe: StripeClient,
    config: Config,
    cors: Cors,
    clock: Clock,
}

impl CreateCheckout {
    pub fn new(store: SalesStore, stripe: StripeClient, config: Config, clock: Clock) -> Self {
        let cors = Cors::new(config.landing_origin.clone(), "POST, OPTIONS");
        CreateCheckout {
            store,
            stripe,
            config,
            cors,
            clock,
        }
    }

    pub async fn handle(&self, request: Request) -> HttpResponse {
        if request.method() == Method::OPTIONS {
            return self.cors.preflight();
        }
        let response = match self.checkout(&request).await {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(err) => err.into_response(),
        };
        self.cors.apply(response)
    }

    fn redirect(
        &self,
        field: &'static str,
        given: Option<String>,
        default: Option<&Url>,
    ) -> Result<String, ApiError> {
        let url = match given.filter(|u| !u.trim().is_empty()) {
            Some(raw) => {
                let url = Url::parse(raw.trim()).map_err(|e| ApiError::Invalid {
                    field,
                    reason: format!("not a URL: {e}"),
                })?;
                if !self.config.redirect_allowed(&url) {
                    return Err(ApiError::Invalid {
                        field,
                        reason: "must be on an allowed origin".into(),
                    });
                }
                url
            }
            None => default.cloned().ok_or_else(|| ApiError::Invalid {
                field,
                reason: "is required (no default is configured)".into(),
            })?,
        };
        Ok(url.to_string())
    }

    fn validate(&self, input: CheckoutInput) -> Result<CheckoutOrder, ApiError> {
        let email = input.email.ok_or(ApiError::Invalid {
            field: "email",
            reason: "is required".into(),
        })?;
        let email = EmailAddress::parse(&email).map_err(|e| ApiError::Invalid {
            field: "email",
            reason: e.to_string(),
        })?;
        let plan = input.plan_type.ok_or(ApiError::Invalid {
            field: "plan_type",
            reason: "is required".into(),
        })?;
        let plan = PlanType::parse(&plan).ok_or_else(|| ApiError::Invalid {
            field: "plan_type",
            reason: "must be \"founding\" or \"standard\"".into(),
        })?;
        let company_name = match input
            .company_name
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
        {
            Some(name) if name.chars().count() > 200 => {
                return Err(ApiError::Invalid {
                    field: "company_name",
                    reason: "is longer than 200 characters".into(),
                })
            }
            other => other,
        };
        let mut success_url = self.redirect(
            "success_url",
            input.success_url,
            self.config.checkout_success_url.as_ref(),
        )?;
        if !success_url.contains("{CHECKOUT_SESSION_ID}") {
            let separator = if success_url.contains('?') { '&' } else { '?' };
            success_url = format!("{success_url}{separator}session_id={{CHECKOUT_SESSION_ID}}");
        }
        let cancel_url = self.redirect(
            "cancel_url",
            input.cancel_url,
            self.config.checkout_cancel_url.as_ref(),
        )?;
        Ok(CheckoutOrder {
            email,
            plan,
            company_name,
            success_url,
            cancel_url,
        })
    }

    fn price(&self, plan: PlanType) -> Result<String, ApiError> {
        let price = match plan {
            PlanType::Founding => &self.config.stripe_founding_price_id,
            PlanType::Standard => &self.config.stripe_standard_price_id,
        };
        price.clone().ok_or_else(|| {
            ApiError::Internal(format!(
                "no Stripe price configured for the {} plan",
                plan.as_str()
            ))
        })
    }

    async fn checkout(&self, request: &Request) -> Result<CheckoutResponse, ApiError> {
        if request.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed);
        }
        let order = self.validate(json_body(request)?)?;
        let price_id = self.price(order.plan)?;
        let now = self.clock.now();
        let mut new_lead = NewLead::new(order.email.clone(), LeadSource::Checkout);
        new_lead.company = order.company_name.clone();
        let mut hold = None;
        let mut expires_at = None;
        let lead = if order.plan == PlanType::Founding {
            // The lead (created if new) and the hold in one read and one transaction.
            let window = HoldWindow::starting_at(now);
            let (lead, outcome) = self
                .store
                .hold_founding_spot(&new_lead, &HoldRef::generate(), window.hold_expires_at, now)
                .await?;
            match outcome {
                HoldOutcome::Held {
                    spot,
                    hold_ref,
                    expires_at: hold_expires_at,
                    new,
                } => {
                    expires_at = Some(hold_expires_at - HOLD_GRACE);
                    hold = Some((spot, hold_ref, new));
                }
                HoldOutcome::AlreadyMember { spot } => {
                    return Err(ApiError::Conflict {
                        code: "already_founding_member",
                        detail: json!({"spot_number": spot.get()}),
                    })
                }
                HoldOutcome::Full { waitlist_position } => {
                    tracing::info!(email = %order.email.masked(), waitlist_position, "founding spots full; joined the waitlist");
                    return Err(ApiError::Conflict {
                        code: "founding_full",
                        detail: json!({"waitlist_position": waitlist_position}),
                    });
                }
            }
            lead
        } else {
            self.store.find_or_create_lead(&new_lead, now).await?
        };

        let metadata = CheckoutMetadata {
            lead_id: Some(lead.id.clone()),
            plan: Some(order.plan),
            company_name: order.company_name.clone(),
            founding_hold: hold
                .as_ref()
                .map(|(spot, hold_ref, _)| (*spot, hold_ref.clone())),
        };
        let checkout = CheckoutRequest {
            price_id,
            customer_email: order.email.to_string(),
            client_reference_id: lead.id.to_string(),
            metadata: metadata.pairs(),
            success_url: order.success_url,
            cancel_url: order.cancel_url,
            expires_at: expires_at.map(|at| at.unix_timestamp()),
            allow_promotion_codes: order.plan == PlanType::Standard,
        };
        let idempotency_key = format!("checkout-{}", uuid::Uuid::new_v4());
        let session = match self
            .stripe
            .create_checkout_session(&checkout, &idempotency_key)
            .await
        {
            Ok(session) => session,
            Err(err) => {
                if let Some((spot, hold_ref, true)) = &hold {
                    // The spot was taken for this checkout only: give it back.
                    match self
                        .store
                        .release_founding_hold(&order.email, *spot, hold_ref, None, None, now)
                        .await
                    {
                        Ok(_) => {}
                        Err(release_err) => {
                            tracing::error!(error = %release_err, spot = spot.get(), "could not release the hold after Stripe failed; it lapses by itself")
                        }
                    }
                }
                return Err(ApiError::Upstream(format!("Stripe checkout failed: {err}")));
            }
        };
        let checkout_url = session
            .url
            .ok_or_else(|| ApiError::Upstream("Stripe returned a session without a URL".into()))?;
        tracing::info!(
            email = %order.email.masked(),
            plan = order.plan.as_str(),
            session = %session.id,
            spot = hold.as_ref().map(|(spot, _, _)| spot.get()),
            "checkout started"
        );
        Ok(CheckoutResponse {
            checkout_url,
            session_id: session.id,
            plan_type: order.plan,
            spot_number: hold.map(|(spot, _, _)| spot.get()),
            expires_at: expires_at.map(time_format::to_sortable),
        })
    }
}
