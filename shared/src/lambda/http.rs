//! HTTP glue shared by the functions: one error type mapped to status codes in one place,
//! JSON responses, CORS, and reading requests.

use lambda_http::http::{HeaderValue, Response, StatusCode};
use lambda_http::{Body, Request};
use serde::Serialize;
use serde_json::json;

use crate::lambda::config::Origin;
use crate::store::StoreError;

pub type HttpResponse = Response<Body>;

/// Largest request body accepted by the public JSON endpoints.
pub const MAX_JSON_BODY: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field of the request is missing or wrong.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The request as a whole cannot be processed (bad JSON, bad signature, unusable payload).
    #[error("{0}")]
    BadRequest(String),
    #[error("sign-in required")]
    Unauthorized,
    /// Signed in, but not allowed this (403): e.g. a board user outside the `sales` group.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A conflict the caller can act on, with a machine-readable code and details.
    #[error("{code}")]
    Conflict {
        code: &'static str,
        detail: serde_json::Value,
    },
    /// The request is refused for a reason the caller can fix (400, with a machine-readable
    /// code): e.g. `human_check_failed`.
    #[error("{code}: {reason}")]
    Refused { code: &'static str, reason: String },
    /// The caller has used up a limit for now (429, with `Retry-After`).
    #[error("{code}: {reason}")]
    TooMany {
        code: &'static str,
        reason: String,
        retry_after_seconds: i64,
    },
    /// Someone else is processing the same thing right now; try again later.
    #[error("{0}")]
    Busy(String),
    /// An upstream service (Stripe) failed.
    #[error("{0}")]
    Upstream(String),
    /// A dependency is down or throttled; worth retrying.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } | ApiError::BadRequest(_) | ApiError::Refused { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } | ApiError::Busy(_) => StatusCode::CONFLICT,
            ApiError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> serde_json::Value {
        match self {
            ApiError::Invalid { field, reason } => {
                json!({"error": "invalid_request", "field": field, "reason": reason})
            }
            ApiError::TooLarge(limit) => {
                json!({"error": "body_too_large", "reason": format!("at most {limit} bytes")})
            }
            ApiError::BadRequest(reason) => json!({"error": "bad_request", "reason": reason}),
            ApiError::Refused { code, reason } => json!({"error": code, "reason": reason}),
            ApiError::Unauthorized => json!({"error": "unauthorized"}),
            ApiError::Forbidden(reason) => json!({"error": "forbidden", "reason": reason}),
            ApiError::NotFound(reason) => json!({"error": "not_found", "reason": reason}),
            ApiError::MethodNotAllowed => json!({"error": "method_not_allowed"}),
            ApiError::Conflict { code, detail } => {
                let mut body = json!({"error": code});
                if let (Some(body), Some(detail)) = (body.as_object_mut(), detail.as_object()) {
                    body.extend(detail.clone());
                }
                body
            }
            ApiError::TooMany {
                code,
                reason,
                retry_after_seconds,
            } => {
                json!({"error": code, "reason": reason, "retry_after_seconds": retry_after_seconds})
            }
            ApiError::Busy(reason) => json!({"error": "in_progress", "reason": reason}),
            // Internal details stay in the logs.
            ApiError::Upstream(_) => json!({"error": "payment_provider_unavailable"}),
            ApiError::Unavailable(_) => json!({"error": "temporarily_unavailable"}),
            ApiError::Internal(_) => json!({"error": "internal_error"}),
        }
    }

    pub fn into_response(self) -> HttpResponse {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), error = %self, "request refused");
        }
        let mut response = json_response(status, &self.body());
        if let ApiError::TooMany {
            retry_after_seconds,
            ..
        } = self
        {
            if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.max(1).to_string()) {
                response.headers_mut().insert("retry-after", value);
            }
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::LeadNotFound => ApiError::NotFound("no such lead".into()),
            StoreError::InvalidCursor(reason) => ApiError::Invalid {
                field: "cursor",
                reason,
            },
            StoreError::VersionConflict { current } => ApiError::Conflict {
                code: "version_conflict",
                detail: json!({"current_version": current}),
            },
            err if err.is_transient() => ApiError::Unavailable(err.to_string()),
            err => ApiError::Internal(err.to_string()),
        }
    }
}

/// The caller's address as API Gateway (or a function URL) reports it:
/// `requestContext.http.sourceIp`.
pub fn source_ip(request: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        _ => None,
    }
}

pub fn json_response(status: StatusCode, value: &impl Serialize) -> HttpResponse {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// The raw body bytes, exactly as received (lambda_http has already decoded base64 bodies).
pub fn body_bytes(request: &Request) -> &[u8] {
    request.body().as_ref()
}

pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Parses a JSON body of at most [`MAX_JSON_BODY`] bytes.
pub fn json_body<T: serde::de::DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let body = body_bytes(request);
    if body.len() > MAX_JSON_BODY {
        return Err(ApiError::TooLarge(MAX_JSON_BODY));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))
}

/// CORS for the landing page's origin only.
#[derive(Debug, Clone)]
pub struct Cors {
    origin: Option<Origin>,
    methods: &'static str,
}

impl Cors {
    pub fn new(origin: Option<Origin>, methods: &'static str) -> Self {
        Cors { origin, methods }
    }

    pub fn apply(&self, mut response: HttpResponse) -> HttpResponse {
        if let Some(origin) = &self.origin {
            if let Ok(value) = HeaderValue::from_str(origin.as_str()) {
                let headers = response.headers_mut();
                headers.insert("access-control-allow-origin", value);
                headers.insert("vary", HeaderValue::from_static("Origin"));
                if let Ok(methods) = HeaderValue::from_str(self.methods) {
                    headers.insert("access-control-allow-methods", methods);
                }
                headers.insert(
                    "access-control-allow-headers",
                    HeaderValue::from_static("content-type"),
                );
                headers.insert("access-control-max-age", HeaderValue::from_static("600"));
            }
        }
        response
    }

    /// The answer to a preflight `OPTIONS` request.
    pub fn preflight(&self) -> HttpResponse {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        self.apply(response)
    }
}
