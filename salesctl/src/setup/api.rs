//! The small HTTP client the setup steps share: one provider's base URL and bearer token,
//! JSON answers, and the provider's error text pulled out of its error body.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use sales::lambda::config::Secret;

/// One request's timeout. Setup runs by hand, so it waits longer than the functions do.
const TIMEOUT: Duration = Duration::from_secs(20);

/// What a provider answered instead of success (or why it could not be reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// `None` when the provider could not be reached or its answer could not be read.
    pub status: Option<u16>,
    pub message: String,
    /// The provider's error code or type (`resource_missing`, `UnauthorizedException`, …).
    pub code: Option<String>,
    /// The parameter the provider complained about, when it names one.
    pub param: Option<String>,
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "HTTP {status}")?,
            None => f.write_str("no answer")?,
        }
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(param) = &self.param {
            write!(f, " (parameter {param})")?;
        }
        Ok(())
    }
}

impl ProviderError {
    fn network(message: impl Into<String>) -> Self {
        ProviderError {
            status: None,
            message: message.into(),
            code: None,
            param: None,
        }
    }

    /// Reads the error body of Stripe (`{"error":{"message","code","type","param"}}`), Cal.com
    /// v2 (`{"status":"error","error":{"code","message"}}`) or Calendly
    /// (`{"title","message","details":[{"parameter","message"}]}`).
    fn from_body(status: u16, body: &[u8]) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return ProviderError {
                status: Some(status),
                message: String::from_utf8_lossy(body).chars().take(300).collect(),
                code: None,
                param: None,
            };
        };
        let error = json.get("error");
        let message = text(error.and_then(|e| e.get("message")))
            .or_else(|| text(json.get("message")))
            .or_else(|| text(error))
            .or_else(|| text(json.get("title")))
            .unwrap_or_default();
        let code = text(error.and_then(|e| e.get("code")))
            .or_else(|| text(error.and_then(|e| e.get("type"))))
            .or_else(|| text(json.get("title")));
        let first_detail = json
            .get("details")
            .and_then(Value::as_array)
            .and_then(|d| d.first());
        let param = text(error.and_then(|e| e.get("param"))).or_else(|| {
            first_detail.and_then(|d| {
                let parameter = text(d.get("parameter"))?;
                Some(match text(d.get("message")) {
                    Some(why) => format!("{parameter}: {why}"),
                    None => parameter,
                })
            })
        });
        ProviderError {
            status: Some(status),
            message: message.chars().take(300).collect(),
            code,
            param,
        }
    }
}

/// A request body.
pub(crate) enum Body<'a> {
    Empty,
    /// `application/x-www-form-urlencoded` (Stripe).
    Form(&'a [(String, String)]),
    Json(&'a Value),
}

/// One provider's API: base URL, bearer token and fixed headers.
pub(crate) struct Api {
    http: reqwest::Client,
    base: Url,
    token: Secret,
    headers: Vec<(&'static str, String)>,
}

impl Api {
    pub(crate) fn new(
        base: &Url,
        token: Secret,
        headers: Vec<(&'static str, String)>,
    ) -> Result<Api, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent("agency-os-sales-setup/0.1")
            .build()
            .map_err(|e| ProviderError::network(e.to_string()))?;
        // A base with a path (a self-hosted Cal.com under /api) keeps it: paths join onto it.
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Api {
            http,
            base,
            token,
            headers,
        })
    }

    /// `path` (relative, no leading slash) on the base, with query parameters.
    pub(crate) fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| self.base.clone());
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().copied());
        }
        url
    }

    /// Sends one request; a success answer's JSON (`Null` when empty, as for a 204).
    pub(crate) async fn call(
        &self,
        method: Method,
        url: Url,
        body: Body<'_>,
        extra_headers: &[(&'static str, String)],
    ) -> Result<Value, ProviderError> {
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.token.expose())
            .header("Accept", "application/json");
        for (name, value) in self.headers.iter().chain(extra_headers) {
            request = request.header(*name, value);
        }
        request = match body {
            Body::Empty => request,
            Body::Form(form) => request.form(form),
            Body::Json(json) => request.json(json),
        };
        let response = request
            .send()
            .await
            .map_err(|e| ProviderError::network(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProviderError::network(e.to_string()))?;
        if !status.is_success() {
            return Err(ProviderError::from_body(status.as_u16(), &bytes));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| ProviderError {
            status: Some(status.as_u16()),
            message: format!("the answer is not JSON: {e}"),
            code: None,
            param: None,
        })
    }

    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, ProviderError> {
        self.call(Method::GET, self.url(path, query), Body::Empty, &[])
            .await
    }
}

/// A new random webhook secret: 64 hex digits (244 random bits from two v4 UUIDs).
pub(crate) fn generate_secret() -> Secret {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    Secret::new(hex::encode(bytes))
}

/// Whether two webhook URLs are the same (parsed, so `https://x.on.aws` equals `https://x.on.aws/`).
pub(crate) fn same_url(a: &str, b: &Url) -> bool {
    match Url::parse(a.trim()) {
        Ok(a) => &a == b,
        Err(_) => a.trim() == b.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_providers_error_body() {
        let stripe = ProviderError::from_body(
            400,
            br#"{"error":{"type":"invalid_request_error","code":"parameter_unknown","param":"foo","message":"Received unknown parameter: foo"}}"#,
        );
        assert_eq!(stripe.code.as_deref(), Some("parameter_unknown"));
        assert_eq!(stripe.param.as_deref(), Some("foo"));
        assert_eq!(stripe.message, "Received unknown parameter: foo");

        let cal = ProviderError::from_body(
            401,
            br#"{"status":"error","timestamp":"x","path":"/v2/webhooks","error":{"code":"UnauthorizedException","message":"Invalid API Key"}}"#,
        );
        assert_eq!(cal.code.as_deref(), Some("UnauthorizedException"));
        assert_eq!(cal.message, "Invalid API Key");

        let calendly = ProviderError::from_body(
            400,
            br#"{"title":"Invalid Argument","message":"The supplied parameters are invalid.","details":[{"parameter":"url","message":"must be https"}]}"#,
        );
        assert_eq!(calendly.code.as_deref(), Some("Invalid Argument"));
        assert_eq!(calendly.param.as_deref(), Some("url: must be https"));

        let html = ProviderError::from_body(502, b"<html>Bad gateway</html>");
        assert_eq!(html.message, "<html>Bad gateway</html>");
        assert_eq!(html.to_string(), "HTTP 502: <html>Bad gateway</html>");
    }

    #[test]
    fn urls_join_onto_a_base_with_a_path() {
        let api = Api::new(
            &Url::parse("https://cal.example.com/api").unwrap(),
            Secret::new("k"),
            vec![],
        )
        .unwrap();
        assert_eq!(
            api.url("v2/webhooks", &[("take", "250")]).as_str(),
            "https://cal.example.com/api/v2/webhooks?take=250"
        );
    }

    #[test]
    fn generated_secrets_are_long_and_different() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn webhook_urls_compare_parsed() {
        let url = Url::parse("https://abc.lambda-url.ap-southeast-2.on.aws/").unwrap();
        assert!(same_url(
            "https://abc.lambda-url.ap-southeast-2.on.aws",
            &url
        ));
        assert!(!same_url(
            "https://abc.lambda-url.ap-southeast-2.on.aws/x",
            &url
        ));
    }
}
