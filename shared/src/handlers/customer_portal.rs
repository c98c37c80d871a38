//! `POST /billing/customer-portal`: a logged-in customer opens Stripe's billing portal. The
//! caller is who the verified JWT says (API Gateway's JWT authorizer), never a body field.

use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::json;

use crate::domain::EmailAddress;
use crate::lambda::config::Config;
use crate::lambda::http::{json_response, ApiError, HttpResponse};
use crate::providers::stripe::StripeClient;
use crate::SalesStore;

#[derive(Debug)]
pub struct CustomerPortal {
    store: SalesStore,
    stripe: StripeClient,
    config: Config,
}

/// The e-mail claim of the JWT that API Gateway verified, if the token also says the address
/// is verified: `email_verified` must be `true`. API Gateway passes every claim as a string
/// (`"true"`); a JSON `true` is accepted too. A token without the claim (a Cognito access
/// token carries neither `email` nor `email_verified`; the app must send the ID token) or with
/// any other value is refused.
pub fn verified_email(request: &Request) -> Option<EmailAddress> {
    let RequestContext::ApiGatewayV2(context) = request.request_context_ref()? else {
        return None;
    };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    if !claims
        .get("email_verified")
        .is_some_and(|v| claim_is_true(v))
    {
        return None;
    }
    claims
        .get("email")
        .and_then(|email| EmailAddress::parse(email).ok())
}

/// `"true"`, as API Gateway passes a boolean claim. (A JSON `true` in the event's claims map
/// reaches the handler as the same string: see the billing tests.)
fn claim_is_true(value: &str) -> bool {
    value.trim() == "true"
}

impl CustomerPortal {
    pub fn new(store: SalesStore, stripe: StripeClient, config: Config) -> Self {
        CustomerPortal {
            store,
            stripe,
            config,
        }
    }

    pub async fn handle(&self, request: Request) -> HttpResponse {
        match self.portal(&request).await {
            Ok(url) => json_response(StatusCode::OK, &json!({"portal_url": url})),
            Err(err) => err.into_response(),
        }
    }

    async fn portal(&self, request: &Request) -> Result<String, ApiError> {
        if request.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed);
        }
        let email = verified_email(request).ok_or(ApiError::Unauthorized)?;
        let return_url = self
            .config
            .portal_return_url
            .as_ref()
            .ok_or_else(|| ApiError::Internal("PORTAL_RETURN_URL is not configured".into()))?;
        let lead = self.store.lead_by_email(&email).await?;
        let customer = lead
            .and_then(|lead| lead.billing.stripe_customer_id)
            .ok_or_else(|| ApiError::NotFound("no billing account for this user yet".into()))?;
        let key = format!("portal-{}", uuid::Uuid::new_v4());
        let session = self
            .stripe
            .create_portal_session(
                &customer,
                return_url.as_str(),
                self.config.stripe_portal_configuration_id.as_deref(),
                &key,
            )
            .await
            .map_err(|e| ApiError::Upstream(format!("Stripe portal failed: {e}")))?;
        Ok(session.url)
    }
}
