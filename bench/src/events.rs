//! The events the harness hands to the bootstraps: API Gateway HTTP API (v2) and function URL
//! events, as Lambda delivers them, with webhook bodies signed now with the secrets in the
//! functions' environment.

use std::path::{Path, PathBuf};

use sales::domain::signature::{sign_hex, timestamped_header};
use serde_json::{json, Map, Value};

/// The secrets and settings every function gets (the names of .env.dev).
#[derive(Debug, Clone)]
pub struct Secrets {
    pub stripe_webhook: String,
    pub cal: String,
    pub calendly: String,
}

impl Secrets {
    pub fn generate() -> Secrets {
        let random = || uuid::Uuid::new_v4().simple().to_string();
        Secrets {
            stripe_webhook: format!("whsec_bench{}", random()),
            cal: random(),
            calendly: random(),
        }
    }
}

pub const LANDING_ORIGIN: &str = "https://keiracom.example";

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An HTTP request to a function.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: &'static str,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// `requestContext.authorizer` (JWT claims or IAM caller).
    pub authorizer: Option<Value>,
    /// A function URL (route `$default`) rather than an API Gateway route.
    pub function_url: bool,
}

impl HttpRequest {
    pub fn new(method: &'static str, path: &str) -> HttpRequest {
        HttpRequest {
            method,
            path: path.to_owned(),
            query: String::new(),
            headers: vec![
                ("accept".into(), "application/json".into()),
                ("user-agent".into(), "sales-bench".into()),
            ],
            body: String::new(),
            authorizer: None,
            function_url: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = body.to_string();
        self.header("content-type", "application/json")
    }

    pub fn query(mut self, query: &str) -> Self {
        self.query = query.to_owned();
        self
    }

    /// What API Gateway passes after its JWT authorizer verified a token.
    pub fn jwt(mut self, claims: Value) -> Self {
        self.authorizer = Some(json!({"jwt": {"claims": claims, "scopes": null}}));
        self
    }

    /// What API Gateway passes after checking a caller's SigV4 signature (IAM authorization).
    pub fn iam(mut self, user_arn: &str) -> Self {
        self.authorizer = Some(json!({"iam": {
            "accessKey": "ASIABENCHKEY", "accountId": "123456789012", "callerId": "AIDABENCHCALLER",
            "cognitoIdentity": null, "principalOrgId": null, "userArn": user_arn,
            "userId": "AIDABENCHCALLER"
        }}));
        self
    }

    /// A webhook delivery to a function URL.
    pub fn webhook(body: &[u8]) -> HttpRequest {
        let mut request = HttpRequest::new("POST", "/");
        request.function_url = true;
        request.body = String::from_utf8_lossy(body).into_owned();
        request.header("content-type", "application/json")
    }

    /// The event JSON, with a fresh request id and time.
    pub fn event(&self) -> Vec<u8> {
        let now = time::OffsetDateTime::now_utc();
        let epoch_ms = now.unix_timestamp() * 1000 + i64::from(now.millisecond());
        let request_id = uuid::Uuid::new_v4().to_string();
        let route_key = if self.function_url {
            "$default".to_owned()
        } else {
            format!("{} {}", self.method, self.path)
        };
        let (api_id, domain) = if self.function_url {
            (
                "benchfnurl".to_owned(),
                "benchfnurl.lambda-url.ap-southeast-2.on.aws".to_owned(),
            )
        } else {
            (
                "benchapi".to_owned(),
                "benchapi.execute-api.ap-southeast-2.amazonaws.com".to_owned(),
            )
        };
        let mut headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        headers.insert("host".into(), Value::String(domain.clone()));
        headers.insert("x-forwarded-proto".into(), "https".into());
        headers.insert("x-forwarded-for".into(), "203.0.113.7".into());
        headers.insert(
            "content-length".into(),
            Value::String(self.body.len().to_string()),
        );
        let parameters: Map<String, Value> = self
            .query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        let mut context = json!({
            "accountId": if self.function_url { "anonymous" } else { "123456789012" },
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": api_id,
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": "25/Nov/2026:10:00:00 +0000",
            "timeEpoch": epoch_ms,
            "http": {
                "method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7", "userAgent": "sales-bench"
            }
        });
        if let Some(authorizer) = &self.authorizer {
            context["authorizer"] = authorizer.clone();
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": false
        });
        if !parameters.is_empty() {
            event["queryStringParameters"] = Value::Object(parameters);
        }
        if !self.body.is_empty() {
            event["body"] = Value::String(self.body.clone());
        }
        serde_json::to_vec(&event).unwrap_or_default()
    }
}

/// tests/fixtures, where the providers' sample payloads are kept.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

pub fn fixture(path: &str) -> Result<Value, String> {
    let full = fixtures_dir().join(path);
    let bytes = std::fs::read(&full).map_err(|e| format!("{}: {e}", full.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", full.display()))
}

/// A Stripe delivery signed now (`Stripe-Signature: t=…,v1=…`).
pub fn stripe_delivery(body: &[u8], secret: &str) -> HttpRequest {
    let signature = timestamped_header(secret.as_bytes(), body, unix_now());
    HttpRequest::webhook(body)
        .header("stripe-signature", &signature)
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
}

/// A Cal.com delivery (`X-Cal-Signature-256`: hex HMAC-SHA256 of the body).
pub fn cal_delivery(body: &[u8], secret: &str) -> HttpRequest {
    let signature = sign_hex(secret.as_bytes(), &[body]);
    HttpRequest::webhook(body).header("x-cal-signature-256", &signature)
}

/// A Calendly delivery signed now (`Calendly-Webhook-Signature: t=…,v1=…`).
pub fn calendly_delivery(body: &[u8], key: &str) -> HttpRequest {
    let signature = timestamped_header(key.as_bytes(), body, unix_now());
    HttpRequest::webhook(body).header("calendly-webhook-signature", &signature)
}

/// Now, RFC 3339: a Cal.com delivery's `createdAt` (cal-webhook refuses old deliveries).
fn now_rfc3339() -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A demo slot a week (plus `offset_minutes`) from now, RFC 3339: bookings in the fixtures are
/// in the past, and only a future booking holds the deal's next action.
fn slot(offset_minutes: i64) -> (String, String) {
    use time::format_description::well_known::Rfc3339;
    let start = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        + time::Duration::days(7)
        + time::Duration::minutes(offset_minutes);
    let end = start + time::Duration::minutes(30);
    (
        start.format(&Rfc3339).unwrap_or_default(),
        end.format(&Rfc3339).unwrap_or_default(),
    )
}

/// Stripe's `invoice.paid` fixture for a customer, with its own event and invoice ids.
pub fn invoice_paid(tag: &str, customer: &str) -> Result<Vec<u8>, String> {
    let mut event = fixture("stripe/evt_invoice.paid.json")?;
    event["id"] = json!(format!("evt_bench_{tag}"));
    event["created"] = json!(unix_now());
    event["data"]["object"]["id"] = json!(format!("in_bench_{tag}"));
    event["data"]["object"]["customer"] = json!(customer);
    serde_json::to_vec(&event).map_err(|e| e.to_string())
}

/// A Stripe fixture event (`evt_<kind>.json`) with a fresh id, for `customer`.
pub fn stripe_event(kind: &str, tag: &str, customer: &str) -> Result<Vec<u8>, String> {
    let mut event = fixture(&format!("stripe/evt_{kind}.json"))?;
    event["id"] = json!(format!("evt_bench_{tag}"));
    event["created"] = json!(unix_now());
    event["data"]["object"]["customer"] = json!(customer);
    serde_json::to_vec(&event).map_err(|e| e.to_string())
}

/// An event type the webhook does not handle (it answers 200 and ignores it).
pub fn stripe_ignored(tag: &str) -> Result<Vec<u8>, String> {
    let mut event = fixture("stripe/evt_invoice.paid.json")?;
    event["id"] = json!(format!("evt_bench_{tag}"));
    event["type"] = json!("customer.created");
    serde_json::to_vec(&event).map_err(|e| e.to_string())
}

/// Cal.com's `BOOKING_REQUESTED` (a trigger the webhook ignores).
pub fn cal_booking_requested() -> Result<Vec<u8>, String> {
    let body = fixture("cal/BOOKING_REQUESTED.body.json")?;
    serde_json::to_vec(&body).map_err(|e| e.to_string())
}

/// Cal.com's `BOOKING_CREATED` fixture for another booking uid and attendee.
pub fn cal_booking_created(uid: &str, email: &str) -> Result<Vec<u8>, String> {
    let mut body = fixture("cal/BOOKING_CREATED.body.json")?;
    let payload = &mut body["payload"];
    let (start, end) = slot(0);
    payload["uid"] = json!(uid);
    payload["iCalUID"] = json!(format!("{uid}@Cal.com"));
    payload["startTime"] = json!(start);
    payload["endTime"] = json!(end);
    payload["attendees"][0]["email"] = json!(email);
    payload["responses"]["email"]["value"] = json!(email);
    body["createdAt"] = json!(now_rfc3339());
    serde_json::to_vec(&body).map_err(|e| e.to_string())
}

/// Cal.com's `BOOKING_RESCHEDULED` fixture: `uid` replaces `old_uid`.
pub fn cal_booking_rescheduled(uid: &str, old_uid: &str, email: &str) -> Result<Vec<u8>, String> {
    let mut body = fixture("cal/BOOKING_RESCHEDULED.body.json")?;
    let payload = &mut body["payload"];
    let (start, end) = slot(60);
    payload["uid"] = json!(uid);
    payload["rescheduleUid"] = json!(old_uid);
    payload["startTime"] = json!(start);
    payload["endTime"] = json!(end);
    payload["attendees"][0]["email"] = json!(email);
    payload["responses"]["email"]["value"] = json!(email);
    body["createdAt"] = json!(now_rfc3339());
    serde_json::to_vec(&body).map_err(|e| e.to_string())
}

/// Calendly's `invitee.created` fixture for another invitee.
pub fn calendly_invitee_created(tag: &str, email: &str) -> Result<Vec<u8>, String> {
    let mut body = fixture("calendly/invitee.created.body.json")?;
    let payload = &mut body["payload"];
    let uri = format!(
        "https://api.calendly.com/scheduled_events/bench-{tag}/invitees/bench-invitee-{tag}"
    );
    let (start, end) = slot(0);
    payload["uri"] = json!(uri);
    payload["email"] = json!(email);
    payload["scheduled_event"]["start_time"] = json!(start);
    payload["scheduled_event"]["end_time"] = json!(end);
    payload["scheduled_event"]["uri"] = json!(format!(
        "https://api.calendly.com/scheduled_events/bench-{tag}"
    ));
    serde_json::to_vec(&body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_as_lambda_http_requests() {
        use lambda_http::RequestExt;
        let event = HttpRequest::new("PATCH", "/pipeline/leads/x")
            .query("stage=prospect&limit=5")
            .iam("arn:aws:iam::123456789012:user/bench")
            .json(&json!({"version": 1}))
            .event();
        let request = lambda_http::request::from_str(std::str::from_utf8(&event).unwrap()).unwrap();
        assert_eq!(request.method(), "PATCH");
        assert_eq!(
            request.query_string_parameters().first("stage"),
            Some("prospect")
        );
        let webhook = cal_delivery(&cal_booking_created("u1", "a@b.example").unwrap(), "s");
        let request =
            lambda_http::request::from_str(std::str::from_utf8(&webhook.event()).unwrap()).unwrap();
        assert_eq!(request.uri().path(), "/");
        assert_eq!(request.headers()["x-cal-signature-256"].len(), 64);
    }
}
