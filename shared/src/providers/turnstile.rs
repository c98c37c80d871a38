//! Cloudflare Turnstile's server-side validation (Siteverify): the optional human check on
//! founding checkouts.
//!
//! # Contract (for create-checkout)
//!
//! - **Off by default.** [`TurnstileSettings::from_lookup`] gives `None` without
//!   `TURNSTILE_SECRET_KEY` (a secret: the stack's Secrets Manager secret in AWS, the environment
//!   locally); then there is no check. `TURNSTILE_VERIFY_URL` (plain setting) replaces
//!   [`DEFAULT_VERIFY_URL`] (locally, the Stripe stand-in's
//!   `http://127.0.0.1:12111/turnstile/v0/siteverify`). `Config::turnstile` holds the result.
//! - Build one [`TurnstileClient`] per process (`TurnstileClient::from_settings`, or
//!   `TurnstileClient::new(verify_url, secret)`), like the Stripe client.
//! - For a **founding** checkout, before holding a spot, call
//!   `client.verify(token, Some(source_ip))` with `token` = the request body's `turnstile_token`
//!   (`""` when absent: that is a refusal, no request is sent) and `source_ip` =
//!   `requestContext.http.sourceIp`. Then:
//!   - `Ok(HumanCheck::Passed(_))`: go on.
//!   - `Ok(HumanCheck::Refused(refusal))`: answer **400**
//!     `{"error":"human_check_failed","reason": refusal.reason()}` (plain words; `refusal.code()`
//!     is Cloudflare's error code, for logs). Missing, invalid (also: longer than 2048
//!     characters, or not printable ASCII), and expired or already used (`timeout-or-duplicate`)
//!     tokens are refusals.
//!   - `Err(TurnstileError)`: Turnstile is unreachable or failed (network, timeout, HTTP 5xx,
//!     `internal-error`, a bad secret or request, an unreadable answer): answer **503**. The token
//!     was not judged; nothing about the caller is implied. `err.is_misconfiguration()` (a bad
//!     `TURNSTILE_SECRET_KEY`) deserves an error-level log.
//! - Time: each attempt is bounded by [`ATTEMPT_TIMEOUT`] (connect [`CONNECT_TIMEOUT`]); a
//!   network error, 5xx or `internal-error` is retried once with the same `idempotency_key`
//!   (Cloudflare's documented way to retry one token), so `verify` returns within about 4.2 s.
//!
//! Neither the secret nor the token is ever logged.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::lambda::config::{ConfigError, Secret};

/// The secret keys the human check reads (create-checkout's, with the Stripe API key).
pub const TURNSTILE_KEYS: &[&str] = &["TURNSTILE_SECRET_KEY"];

/// Cloudflare's Siteverify endpoint.
pub const DEFAULT_VERIFY_URL: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/// Turnstile tokens are at most 2048 characters (Cloudflare's documentation); a longer one is
/// refused without asking Cloudflare.
pub const MAX_TOKEN_CHARS: usize = 2048;

/// Timeout of one Siteverify request. Two attempts plus the pause stay near 4 s, leaving the
/// create-checkout function (15 s) time for DynamoDB and Stripe (under 10 s).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const MAX_ATTEMPTS: u32 = 2;
const RETRY_PAUSE: Duration = Duration::from_millis(150);

/// What the human check is configured with: present only when `TURNSTILE_SECRET_KEY` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnstileSettings {
    pub secret_key: Secret,
    pub verify_url: Url,
}

impl TurnstileSettings {
    /// `TURNSTILE_SECRET_KEY` (secret) and `TURNSTILE_VERIFY_URL` (default
    /// [`DEFAULT_VERIFY_URL`]); `None` without a secret (no check).
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TurnstileSettings>, ConfigError> {
        let value = |key: &str| {
            get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(secret) = value("TURNSTILE_SECRET_KEY") else {
            return Ok(None);
        };
        let url = value("TURNSTILE_VERIFY_URL").unwrap_or_else(|| DEFAULT_VERIFY_URL.to_owned());
        let verify_url = Url::parse(&url)
            .map_err(|e| ConfigError::Invalid("TURNSTILE_VERIFY_URL", e.to_string()))?;
        if !matches!(verify_url.scheme(), "https" | "http") {
            return Err(ConfigError::Invalid(
                "TURNSTILE_VERIFY_URL",
                "not an http(s) URL".into(),
            ));
        }
        Ok(Some(TurnstileSettings {
            secret_key: Secret::new(secret),
            verify_url,
        }))
    }
}

/// The outcome of a check that Turnstile answered (or that needed no answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HumanCheck {
    Passed(Verified),
    Refused(Refusal),
}

/// What Siteverify says about a valid token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// When the challenge was solved (ISO 8601).
    pub challenge_ts: Option<String>,
    /// The hostname the challenge was served on.
    pub hostname: Option<String>,
    pub action: Option<String>,
    pub cdata: Option<String>,
}

/// Why a token was refused: the visitor should complete the check again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token (`missing-input-response`).
    MissingToken,
    /// Not a token Turnstile issued, or malformed (`invalid-input-response`; also an unknown
    /// error code: the check fails closed).
    InvalidToken,
    /// Expired (tokens live 300 s) or already redeemed (`timeout-or-duplicate`).
    SpentToken,
}

impl Refusal {
    /// Plain words for the answer's `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::MissingToken => {
                "The human check was not completed. Please complete the check and try again."
            }
            Refusal::InvalidToken => {
                "The human check could not be verified. Please complete the check and try again."
            }
            Refusal::SpentToken => {
                "The human check has expired or was already used. Please complete the check again."
            }
        }
    }

    /// Cloudflare's error code for this refusal (for logs).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::MissingToken => "missing-input-response",
            Refusal::InvalidToken => "invalid-input-response",
            Refusal::SpentToken => "timeout-or-duplicate",
        }
    }
}

/// Turnstile could not judge the token: the caller answers 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnstileError {
    #[error("Turnstile could not be reached: {0}")]
    Network(String),
    #[error("Turnstile answered HTTP {0}")]
    Status(u16),
    #[error("Turnstile reported an internal error")]
    Internal,
    /// Our request was refused: `missing-input-secret`, `invalid-input-secret`, `bad-request`.
    #[error("Turnstile refused the request ({0}): check TURNSTILE_SECRET_KEY")]
    Misconfigured(String),
    #[error("Turnstile's answer could not be read: {0}")]
    Decode(String),
}

impl TurnstileError {
    /// Worth one more attempt (with the same idempotency key).
    pub fn is_transient(&self) -> bool {
        match self {
            TurnstileError::Network(_) | TurnstileError::Internal => true,
            TurnstileError::Status(status) => *status == 429 || *status >= 500,
            TurnstileError::Misconfigured(_) | TurnstileError::Decode(_) => false,
        }
    }

    /// The configuration (the secret) is wrong, not Cloudflare.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(self, TurnstileError::Misconfigured(_))
    }
}

#[derive(Debug, Deserialize)]
struct SiteverifyResponse {
    success: bool,
    #[serde(rename = "error-codes", default)]
    error_codes: Vec<String>,
    #[serde(default)]
    challenge_ts: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    cdata: Option<String>,
}

/// Reads a Siteverify answer (HTTP status and body).
pub fn interpret(status: u16, body: &[u8]) -> Result<HumanCheck, TurnstileError> {
    let parsed = serde_json::from_slice::<SiteverifyResponse>(body);
    if status >= 500 || status == 429 {
        return Err(TurnstileError::Status(status));
    }
    let answer = match parsed {
        Ok(answer) => answer,
        Err(_) if !(200..300).contains(&status) => return Err(TurnstileError::Status(status)),
        Err(err) => return Err(TurnstileError::Decode(err.to_string())),
    };
    if answer.success {
        if !(200..300).contains(&status) {
            return Err(TurnstileError::Status(status));
        }
        return Ok(HumanCheck::Passed(Verified {
            challenge_ts: answer.challenge_ts,
            hostname: answer.hostname,
            action: answer.action,
            cdata: answer.cdata,
        }));
    }
    let has = |code: &str| answer.error_codes.iter().any(|c| c == code);
    for code in [
        "missing-input-secret",
        "invalid-input-secret",
        "bad-request",
    ] {
        if has(code) {
            return Err(TurnstileError::Misconfigured(code.to_owned()));
        }
    }
    if has("internal-error") {
        return Err(TurnstileError::Internal);
    }
    let refusal = if has("timeout-or-duplicate") {
        Refusal::SpentToken
    } else if has("missing-input-response") {
        Refusal::MissingToken
    } else {
        // invalid-input-response, or a code this client does not know: fail closed.
        Refusal::InvalidToken
    };
    Ok(HumanCheck::Refused(refusal))
}

/// A refusal decided without asking Cloudflare: no token, or one that cannot be a token.
pub fn precheck(token: &str) -> Option<Refusal> {
    if token.trim().is_empty() {
        return Some(Refusal::MissingToken);
    }
    if token.len() > MAX_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Some(Refusal::InvalidToken);
    }
    None
}

/// A Siteverify client. Build one per process (it holds the connection pool).
#[derive(Clone, Debug)]
pub struct TurnstileClient {
    http: reqwest::Client,
    verify_url: Url,
    secret_key: Secret,
}

fn http_client(attempt_timeout: Duration) -> Result<reqwest::Client, TurnstileError> {
    reqwest::Client::builder()
        .timeout(attempt_timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(attempt_timeout))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent("agency-os-sales/0.1")
        .build()
        .map_err(|e| TurnstileError::Network(e.to_string()))
}

impl TurnstileClient {
    /// `verify_url` is the whole Siteverify URL ([`DEFAULT_VERIFY_URL`] in production).
    pub fn new(verify_url: Url, secret_key: Secret) -> Result<Self, TurnstileError> {
        Ok(TurnstileClient {
            http: http_client(ATTEMPT_TIMEOUT)?,
            verify_url,
            secret_key,
        })
    }

    pub fn from_settings(settings: &TurnstileSettings) -> Result<Self, TurnstileError> {
        TurnstileClient::new(settings.verify_url.clone(), settings.secret_key.clone())
    }

    /// Another timeout per attempt (tests).
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Result<Self, TurnstileError> {
        self.http = http_client(timeout)?;
        Ok(self)
    }

    /// Checks a token from the widget. `remote_ip` (the caller's source address) is sent as
    /// `remoteip` when it is an IP address, and left out otherwise.
    pub async fn verify(
        &self,
        token: &str,
        remote_ip: Option<&str>,
    ) -> Result<HumanCheck, TurnstileError> {
        if let Some(refusal) = precheck(token) {
            tracing::info!(
                code = refusal.code(),
                "human check refused before Siteverify"
            );
            return Ok(HumanCheck::Refused(refusal));
        }
        let mut form = vec![
            ("secret", self.secret_key.expose().to_owned()),
            ("response", token.to_owned()),
            // The same key on a retry: Siteverify then answers as it did the first time,
            // instead of calling the token spent.
            ("idempotency_key", uuid::Uuid::new_v4().to_string()),
        ];
        if let Some(ip) = remote_ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
            form.push(("remoteip", ip.to_string()));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(&form).await {
                Err(err) if err.is_transient() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(error = %err, attempt, "Turnstile Siteverify failed; retrying");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Ok(HumanCheck::Refused(refusal)) => {
                    tracing::info!(code = refusal.code(), "human check refused by Siteverify");
                    return Ok(HumanCheck::Refused(refusal));
                }
                other => return other,
            }
        }
    }

    async fn attempt(&self, form: &[(&str, String)]) -> Result<HumanCheck, TurnstileError> {
        let response = self
            .http
            .post(self.verify_url.clone())
            .form(form)
            .send()
            .await
            .map_err(|e| TurnstileError::Network(without_url(e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| TurnstileError::Network(without_url(e)))?;
        interpret(status, &body)
    }
}

/// A reqwest error's text without the URL (no secret is in it, but keep logs short).
fn without_url(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", err.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, body: &str) -> Result<HumanCheck, TurnstileError> {
        interpret(status, body.as_bytes())
    }

    #[test]
    fn a_success_is_passed_with_its_details() {
        let answer = check(
            200,
            r#"{"success":true,"challenge_ts":"2022-02-28T15:14:30.096Z","hostname":"example.com",
                "error-codes":[],"action":"login","cdata":"sessionid-123456789"}"#,
        )
        .unwrap();
        assert_eq!(
            answer,
            HumanCheck::Passed(Verified {
                challenge_ts: Some("2022-02-28T15:14:30.096Z".into()),
                hostname: Some("example.com".into()),
                action: Some("login".into()),
                cdata: Some("sessionid-123456789".into()),
            })
        );
        // The minimal success, without the optional fields.
        assert!(matches!(
            check(200, r#"{"success":true}"#),
            Ok(HumanCheck::Passed(_))
        ));
    }

    #[test]
    fn token_errors_are_refusals_in_plain_words() {
        let refused = |codes: &str| match check(
            200,
            &format!(r#"{{"success":false,"error-codes":{codes}}}"#),
        ) {
            Ok(HumanCheck::Refused(refusal)) => refusal,
            other => panic!("{codes}: {other:?}"),
        };
        assert_eq!(
            refused(r#"["missing-input-response"]"#),
            Refusal::MissingToken
        );
        assert_eq!(
            refused(r#"["invalid-input-response"]"#),
            Refusal::InvalidToken
        );
        assert_eq!(refused(r#"["timeout-or-duplicate"]"#), Refusal::SpentToken);
        // Unknown or no codes: fail closed.
        assert_eq!(refused(r#"["something-new"]"#), Refusal::InvalidToken);
        assert_eq!(refused("[]"), Refusal::InvalidToken);
        for refusal in [
            Refusal::MissingToken,
            Refusal::InvalidToken,
            Refusal::SpentToken,
        ] {
            assert!(refusal.reason().ends_with('.'), "{refusal:?}");
            assert!(!refusal.reason().contains('-'), "no codes in the words");
        }
        assert_eq!(Refusal::SpentToken.code(), "timeout-or-duplicate");
    }

    #[test]
    fn our_mistakes_and_cloudflares_are_errors() {
        let failed = |status: u16, body: &str| check(status, body).unwrap_err();
        assert_eq!(
            failed(
                200,
                r#"{"success":false,"error-codes":["invalid-input-secret"]}"#
            ),
            TurnstileError::Misconfigured("invalid-input-secret".into())
        );
        assert_eq!(
            failed(
                400,
                r#"{"success":false,"error-codes":["missing-input-secret","missing-input-response"]}"#
            ),
            TurnstileError::Misconfigured("missing-input-secret".into())
        );
        assert_eq!(
            failed(200, r#"{"success":false,"error-codes":["bad-request"]}"#),
            TurnstileError::Misconfigured("bad-request".into())
        );
        assert_eq!(
            failed(200, r#"{"success":false,"error-codes":["internal-error"]}"#),
            TurnstileError::Internal
        );
        assert_eq!(failed(503, "upstream"), TurnstileError::Status(503));
        assert_eq!(
            failed(500, r#"{"success":true}"#),
            TurnstileError::Status(500)
        );
        assert_eq!(failed(429, ""), TurnstileError::Status(429));
        assert_eq!(failed(403, "<html>"), TurnstileError::Status(403));
        assert!(matches!(failed(200, "<html>"), TurnstileError::Decode(_)));
        assert!(matches!(
            failed(200, r#"{"error-codes":[]}"#),
            TurnstileError::Decode(_)
        ));
        assert!(TurnstileError::Internal.is_transient());
        assert!(TurnstileError::Status(502).is_transient());
        assert!(TurnstileError::Network("reset".into()).is_transient());
        assert!(!TurnstileError::Status(403).is_transient());
        assert!(!TurnstileError::Misconfigured("bad-request".into()).is_transient());
        assert!(TurnstileError::Misconfigured("invalid-input-secret".into()).is_misconfiguration());
    }

    #[test]
    fn tokens_that_cannot_be_tokens_are_refused_locally() {
        assert_eq!(precheck(""), Some(Refusal::MissingToken));
        assert_eq!(precheck("  "), Some(Refusal::MissingToken));
        assert_eq!(
            precheck(&"a".repeat(MAX_TOKEN_CHARS + 1)),
            Some(Refusal::InvalidToken)
        );
        assert_eq!(precheck("has space"), Some(Refusal::InvalidToken));
        assert_eq!(precheck("naïve"), Some(Refusal::InvalidToken));
        assert_eq!(precheck(&"a".repeat(MAX_TOKEN_CHARS)), None);
        assert_eq!(precheck("XXXX.DUMMY.TOKEN.XXXX"), None);
    }

    #[test]
    fn settings_are_off_without_a_secret() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(TurnstileSettings::from_lookup(&lookup(&[])).unwrap(), None);
        assert_eq!(
            TurnstileSettings::from_lookup(&lookup(&[
                ("TURNSTILE_SECRET_KEY", " "),
                (
                    "TURNSTILE_VERIFY_URL",
                    "http://127.0.0.1:12111/turnstile/v0/siteverify"
                ),
            ]))
            .unwrap(),
            None
        );
        let on = TurnstileSettings::from_lookup(&lookup(&[(
            "TURNSTILE_SECRET_KEY",
            "1x0000000000000000000000000000000AA",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(on.verify_url.as_str(), DEFAULT_VERIFY_URL);
        assert!(
            !format!("{on:?}").contains("1x0000"),
            "the secret stays out of Debug"
        );
        let local = TurnstileSettings::from_lookup(&lookup(&[
            ("TURNSTILE_SECRET_KEY", "s"),
            (
                "TURNSTILE_VERIFY_URL",
                "http://127.0.0.1:12111/turnstile/v0/siteverify",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(local.verify_url.port(), Some(12111));
        assert!(matches!(
            TurnstileSettings::from_lookup(&lookup(&[
                ("TURNSTILE_SECRET_KEY", "s"),
                ("TURNSTILE_VERIFY_URL", "not a url"),
            ])),
            Err(ConfigError::Invalid("TURNSTILE_VERIFY_URL", _))
        ));
    }
}
