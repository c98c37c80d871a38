//! `POST /billing/create-checkout`: starts a Stripe Checkout for the founding or standard plan.

use std::collections::HashSet;

use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use super::checkout_metadata::CheckoutMetadata;
use crate::domain::time_format;
use crate::domain::{
    Client, EmailAddress, HoldRef, HoldSlot, HoldWindow, LeadSource, NewLead, OfferError,
    OfferToken, OpenSession, PlanType, SpotNumber, HOLD_GRACE,
};
use crate::lambda::clock::Clock;
use crate::lambda::config::Config;
use crate::lambda::http::{json_body, json_response, source_ip, ApiError, Cors, HttpResponse};
use crate::lambda::telemetry::emit_count_metric;
use crate::providers::stripe::{CheckoutRequest, StripeClient};
use crate::providers::turnstile::{HumanCheck, TurnstileClient};
use crate::store::{ClientCap, HoldOutcome};
use crate::SalesStore;

/// How many lapsed holds' sessions one checkout asks Stripe about, at most.
const MAX_LAPSED_CHECKS: usize = 3;

/// How long a lapsed hold whose session turned out paid is kept for its late webhook.
const LATE_PAYMENT_HOLD: time::Duration = time::Duration::hours(1);

#[derive(Debug, Deserialize)]
struct CheckoutInput {
    email: Option<String>,
    plan_type: Option<String>,
    company_name: Option<String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    /// The widget's Turnstile token, when the human check is configured.
    turnstile_token: Option<String>,
    /// A waitlist offer's signed token (the `offer` of the offer e-mail's link).
    offer: Option<String>,
}

/// A validated checkout request.
#[derive(Debug)]
struct CheckoutOrder {
    email: EmailAddress,
    plan: PlanType,
    company_name: Option<String>,
    success_url: String,
    cancel_url: String,
    turnstile_token: String,
    offer: Option<String>,
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
    /// The human check, when `TURNSTILE_SECRET_KEY` is configured (an error kept as the reason
    /// every founding checkout then answers 503: the check fails closed).
    turnstile: Option<Result<TurnstileClient, String>>,
    config: Config,
    cors: Cors,
    clock: Clock,
}

impl CreateCheckout {
    pub fn new(store: SalesStore, stripe: StripeClient, config: Config, clock: Clock) -> Self {
        let cors = Cors::new(config.landing_origin.clone(), "POST, OPTIONS");
        let turnstile = config
            .turnstile
            .as_ref()
            .map(|settings| TurnstileClient::from_settings(settings).map_err(|e| e.to_string()));
        CreateCheckout {
            store,
            stripe,
            turnstile,
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
            turnstile_token: input.turnstile_token.unwrap_or_default(),
            offer: input.offer.filter(|offer| !offer.trim().is_empty()),
        })
    }

    /// A checkout from an offer link: the offer must be one we signed, still live, and made to
    /// this e-mail (the spot itself is kept for that e-mail by its reservation, whatever the
    /// link; the token lets the visitor be told clearly why a link does not work).
    fn check_offer(
        &self,
        offer: &str,
        order: &CheckoutOrder,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        if order.plan != PlanType::Founding {
            return Err(ApiError::Invalid {
                field: "offer",
                reason: "an offer is for the founding plan".into(),
            });
        }
        let key = self.config.offer_signing_key.as_ref().ok_or_else(|| {
            ApiError::Unavailable("waitlist offers are not configured (OFFER_SIGNING_KEY)".into())
        })?;
        match OfferToken::check(offer, key.expose().as_bytes(), &order.email, now) {
            Ok(_) => Ok(()),
            Err(err) => {
                let code = match err {
                    OfferError::Invalid => "invalid_offer",
                    OfferError::Expired(_) => "offer_expired",
                    OfferError::NotYours => "offer_not_yours",
                };
                Err(ApiError::Refused {
                    code,
                    reason: err.to_string(),
                })
            }
        }
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

    /// Gives back a hold this checkout took (`new`) and will not use (the checkout was refused
    /// or Stripe failed), with its client's slot; a hold the e-mail already had is left alone.
    /// If the store cannot be reached it lapses by itself.
    async fn give_back_new_hold(
        &self,
        email: &EmailAddress,
        hold: Option<&(SpotNumber, HoldRef, bool, Option<HoldSlot>)>,
        now: OffsetDateTime,
    ) {
        let Some((spot, hold_ref, true, slot)) = hold else {
            return;
        };
        if let Err(err) = self
            .store
            .release_founding_hold(email, *spot, hold_ref, slot.as_ref(), None, None, now)
            .await
        {
            tracing::error!(error = %err, spot = spot.get(), "could not give back a hold this checkout will not use; it lapses by itself");
        }
    }

    /// A lapsed founding hold whose Checkout Session Stripe says was paid keeps its spot (for
    /// [`LATE_PAYMENT_HOLD`], while its late webhook comes and confirms it) instead of going to
    /// the next visitor. One Stripe request; if Stripe cannot say, the spot goes as before (and a
    /// late payment is flagged for a person, as it always was).
    async fn keep_if_paid_late(
        &self,
        spot: SpotNumber,
        session_id: &str,
        lapsed: &HoldRef,
        email: &EmailAddress,
        slot: Option<&HoldSlot>,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        match self.stripe.retrieve_checkout_session(session_id).await {
            Ok(session) if session.is_paid() => {
                tracing::warn!(
                    spot = spot.get(),
                    session = session_id,
                    "a lapsed hold's session was paid: its spot is kept for the late webhook"
                );
                emit_count_metric("LatePaymentSpotKept", &[("session", session_id)]);
                self.store
                    .keep_founding_hold(
                        email,
                        spot,
                        lapsed,
                        slot,
                        now + LATE_PAYMENT_HOLD,
                        None,
                        now,
                    )
                    .await?;
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, spot = spot.get(), session = session_id, "could not ask Stripe about a lapsed hold's session; its spot is given away");
            }
        }
        Ok(())
    }

    /// The Stripe customer of the lead with this e-mail, if it has paid before; 409
    /// `already_subscribed` (with where to manage the plan) while its subscription is live.
    async fn known_customer(&self, email: &EmailAddress) -> Result<Option<String>, ApiError> {
        let Some(lead) = self.store.lead_by_email(email).await? else {
            return Ok(None);
        };
        let Some(customer) = lead.billing.stripe_customer_id.clone() else {
            return Ok(None);
        };
        let state = self.store.billing_state(&customer).await?;
        let recorded = |id: &str| state.subscriptions.iter().any(|s| s.subscription == id);
        let live = state
            .subscriptions
            .iter()
            .any(|s| !matches!(s.status.as_str(), "canceled" | "incomplete_expired"))
            // Paid, and no subscription event recorded yet: live.
            || lead
                .billing
                .stripe_subscription_id
                .as_deref()
                .is_some_and(|id| !recorded(id));
        if live {
            tracing::info!(email = %email.masked(), "checkout refused: already subscribed");
            return Err(ApiError::Conflict {
                code: "already_subscribed",
                detail: json!({
                    "reason": "This e-mail already has a subscription: manage it in the billing portal.",
                    "portal": "/billing/customer-portal",
                }),
            });
        }
        Ok(Some(customer))
    }

    /// The optional human check of a founding checkout (Cloudflare Turnstile), before any spot
    /// is held: 400 `human_check_failed` for a missing, invalid or spent token, 503 when
    /// Turnstile cannot judge it.
    async fn human_check(&self, token: &str, source_ip: Option<&str>) -> Result<(), ApiError> {
        let client = match &self.turnstile {
            None => return Ok(()),
            Some(Ok(client)) => client,
            Some(Err(reason)) => {
                return Err(ApiError::Unavailable(format!(
                    "the human check is configured but unusable: {reason}"
                )))
            }
        };
        match client.verify(token, source_ip).await {
            Ok(HumanCheck::Passed(_)) => Ok(()),
            Ok(HumanCheck::Refused(refusal)) => {
                tracing::info!(
                    code = refusal.code(),
                    "founding checkout refused: human check"
                );
                Err(ApiError::Refused {
                    code: "human_check_failed",
                    reason: refusal.reason().to_owned(),
                })
            }
            Err(err) => {
                if err.is_misconfiguration() {
                    tracing::error!(error = %err, "the Turnstile secret or request is wrong");
                }
                Err(ApiError::Unavailable(format!(
                    "human check unavailable: {err}"
                )))
            }
        }
    }

    async fn checkout(&self, request: &Request) -> Result<CheckoutResponse, ApiError> {
        if request.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed);
        }
        let order = self.validate(json_body(request)?)?;
        let price_id = self.price(order.plan)?;
        let now = self.clock.now();
        if let Some(offer) = &order.offer {
            self.check_offer(offer, &order, now)?;
        }
        let mut new_lead = NewLead::new(order.email.clone(), LeadSource::Checkout);
        new_lead.company = order.company_name.clone();
        let mut hold = None;
        let expires_at;
        let mut standard_window = None;
        let lead = if order.plan == PlanType::Founding {
            let source = source_ip(request);
            self.human_check(&order.turnstile_token, source.as_deref())
                .await?;
            // The lead (created if new) and the hold in one read and one transaction; a new
            // hold counts against the client's cap in that same transaction.
            let window = HoldWindow::starting_at(now);
            let client = Client::from_source_ip(source.as_deref());
            let cap = (self.config.founding_holds_per_client > 0).then(|| ClientCap {
                client: client.clone(),
                holds: self.config.founding_holds_per_client,
            });
            let hold_ref = HoldRef::generate();
            // A spot whose hold lapsed with a session is given away only once Stripe says that
            // session was not paid (its webhook may be late): at most a few such checks.
            let mut checked = HashSet::new();
            let (lead, outcome) = loop {
                let check = (checked.len() < MAX_LAPSED_CHECKS).then_some(&checked);
                let (lead, outcome) = self
                    .store
                    .hold_founding_spot_checked(
                        &new_lead,
                        &hold_ref,
                        window.hold_expires_at,
                        cap.as_ref(),
                        check,
                        now,
                    )
                    .await?;
                let HoldOutcome::LapsedHold {
                    spot,
                    session_id,
                    hold_ref: lapsed,
                    email,
                    slot,
                } = &outcome
                else {
                    break (lead, outcome);
                };
                self.keep_if_paid_late(*spot, session_id, lapsed, email, slot.as_ref(), now)
                    .await?;
                checked.insert(session_id.clone());
            };
            match outcome {
                HoldOutcome::LapsedHold { .. } => {
                    return Err(ApiError::Internal(
                        "a lapsed hold was offered after its check".into(),
                    ))
                }
                HoldOutcome::Held {
                    spot,
                    expires_at: hold_expires_at,
                    session: Some(session),
                    ..
                } => {
                    // The e-mail's checkout is still open: the same session, not a second
                    // payable one, and the hold is not extended.
                    tracing::info!(email = %order.email.masked(), spot = spot.get(), session = %session.id, "open checkout returned again");
                    return Ok(CheckoutResponse {
                        checkout_url: session.url,
                        session_id: session.id,
                        plan_type: order.plan,
                        spot_number: Some(spot.get()),
                        expires_at: Some(time_format::to_sortable(hold_expires_at - HOLD_GRACE)),
                    });
                }
                HoldOutcome::Held {
                    spot,
                    hold_ref,
                    expires_at: hold_expires_at,
                    new,
                    slot,
                    session: None,
                } => {
                    expires_at = Some(hold_expires_at - HOLD_GRACE);
                    if new {
                        // The FoundingHoldsRateAlarm watches this.
                        emit_count_metric("FoundingHoldsCreated", &[("spot", &spot.to_string())]);
                    }
                    hold = Some((spot, hold_ref, new, slot));
                }
                HoldOutcome::ClientLimit { retry_after } => {
                    let seconds = (retry_after - now).whole_seconds().max(1);
                    tracing::info!(client = %client, retry_after_seconds = seconds, "founding hold refused: the client holds its limit");
                    return Err(ApiError::TooMany {
                        code: "too_many_holds",
                        reason: format!(
                            "{} founding spots are already held from your network; try again when one is paid for or released (at the latest in about {} minutes), or join the waitlist",
                            self.config.founding_holds_per_client,
                            (seconds + 59) / 60
                        ),
                        retry_after_seconds: seconds,
                    });
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
            let lead = self.store.find_or_create_lead(&new_lead, now).await?;
            if let Some(session) = self.store.open_standard_session(&lead.id, now).await? {
                // The lead's standard checkout is still open: the same session.
                tracing::info!(email = %order.email.masked(), session = %session.id, "open checkout returned again");
                return Ok(CheckoutResponse {
                    checkout_url: session.url,
                    session_id: session.id,
                    plan_type: order.plan,
                    spot_number: None,
                    expires_at: Some(time_format::to_sortable(session.expires_at)),
                });
            }
            // A standard session lives 23 hours from the start of its 10-minute window (Stripe
            // allows 30 minutes to 24 hours), so that checkouts of one lead racing for a session
            // send Stripe the same request under the same idempotency key and get one session.
            let window = now.unix_timestamp() - now.unix_timestamp().rem_euclid(600);
            standard_window = Some(window);
            expires_at = time_format::from_unix(window + 23 * 3600);
            lead
        };

        // A known lead keeps its Stripe customer (one per lead); one whose subscription is live
        // is sent to the billing portal instead of paying twice (a hold taken for it is given
        // back). A lead created by this checkout has neither: no read.
        let customer = if lead.created {
            None
        } else {
            match self.known_customer(&order.email).await {
                Ok(customer) => customer,
                Err(refused) => {
                    self.give_back_new_hold(&order.email, hold.as_ref(), now)
                        .await;
                    return Err(refused);
                }
            }
        };
        let metadata = CheckoutMetadata {
            lead_id: Some(lead.id.clone()),
            plan: Some(order.plan),
            company_name: order.company_name.clone(),
            founding_hold: hold
                .as_ref()
                .map(|(spot, hold_ref, _, _)| (*spot, hold_ref.clone())),
            hold_slot: hold.as_ref().and_then(|(_, _, _, slot)| slot.clone()),
        };
        let checkout = CheckoutRequest {
            price_id,
            customer_email: order.email.to_string(),
            customer,
            client_reference_id: lead.id.to_string(),
            metadata: metadata.pairs(),
            success_url: order.success_url,
            cancel_url: order.cancel_url,
            expires_at: expires_at.map(|at| at.unix_timestamp()),
            allow_promotion_codes: order.plan == PlanType::Standard,
        };
        // A founding hold's session for one hold window: the same key for the same hold and
        // expiry, so that two checkouts of one e-mail racing for a session get one from Stripe
        // (Stripe answers a repeated key with the first answer), never two payable ones.
        let idempotency_key = match (&hold, expires_at, standard_window) {
            (Some((_, hold_ref, _, _)), Some(at), _) => {
                format!("checkout-{hold_ref}-{}", at.unix_timestamp())
            }
            (None, _, Some(window)) => format!("checkout-{}-standard-{window}", lead.id),
            _ => format!("checkout-{}", uuid::Uuid::new_v4()),
        };
        let session = match self
            .stripe
            .create_checkout_session(&checkout, &idempotency_key)
            .await
        {
            Ok(session) => session,
            Err(err) => {
                self.give_back_new_hold(&order.email, hold.as_ref(), now)
                    .await;
                return Err(ApiError::Upstream(format!("Stripe checkout failed: {err}")));
            }
        };
        let checkout_url = session
            .url
            .ok_or_else(|| ApiError::Upstream("Stripe returned a session without a URL".into()))?;
        if let Some(at) = expires_at {
            // Recorded on the hold (founding) or the lead (standard), so that the e-mail's next
            // checkout for the plan gets this session back while it is open.
            let open = OpenSession {
                id: session.id.clone(),
                url: checkout_url.clone(),
                expires_at: at,
            };
            let recorded = match &hold {
                Some((spot, hold_ref, _, _)) => self
                    .store
                    .record_hold_session(*spot, hold_ref, &open)
                    .await
                    .map(|_| ()),
                None => self.store.record_standard_session(&lead.id, &open).await,
            };
            if let Err(err) = recorded {
                tracing::warn!(error = %err, session = %session.id, "could not record the session; a repeat checkout in the same window gets it from Stripe's idempotency instead");
            }
        }
        tracing::info!(
            email = %order.email.masked(),
            plan = order.plan.as_str(),
            session = %session.id,
            spot = hold.as_ref().map(|(spot, _, _, _)| spot.get()),
            "checkout started"
        );
        Ok(CheckoutResponse {
            checkout_url,
            session_id: session.id,
            plan_type: order.plan,
            spot_number: hold.map(|(spot, _, _, _)| spot.get()),
            expires_at: expires_at.map(time_format::to_sortable),
        })
    }
}
