//! The Turnstile Siteverify client (`sales::providers::turnstile`) against a faked Siteverify
//! (wiremock): what it sends, and how each answer comes out: valid, missing, invalid, reused
//! (`timeout-or-duplicate`), Cloudflare failing (5xx, `internal-error`, a timeout) and a bad
//! secret. No DynamoDB server needed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sales::lambda::config::Secret;
use sales::providers::turnstile::{
    HumanCheck, Refusal, TurnstileClient, TurnstileError, MAX_TOKEN_CHARS,
};
use serde_json::json;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "0x4AAAAAAAlocal-test-secret";
const VERIFY_PATH: &str = "/turnstile/v0/siteverify";

fn form(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn client(server: &MockServer) -> TurnstileClient {
    let url = Url::parse(&format!("{}{VERIFY_PATH}", server.uri())).unwrap();
    TurnstileClient::new(url, Secret::new(SECRET)).unwrap()
}

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn refused(code: &str) -> ResponseTemplate {
    ok(json!({"success": false, "error-codes": [code], "messages": []}))
}

#[tokio::test]
async fn a_valid_token_passes_and_the_request_is_siteverifys() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(VERIFY_PATH))
        .respond_with(ok(json!({
            "success": true,
            "challenge_ts": "2026-03-01T10:00:00.000Z",
            "hostname": "keiracom.com",
            "error-codes": [],
            "action": "",
            "cdata": ""
        })))
        .expect(1)
        .mount(&server)
        .await;

    let answer = client(&server)
        .verify("0.valid-token_from.the-widget", Some("203.0.113.7"))
        .await
        .unwrap();
    match answer {
        HumanCheck::Passed(verified) => {
            assert_eq!(verified.hostname.as_deref(), Some("keiracom.com"));
            assert_eq!(
                verified.challenge_ts.as_deref(),
                Some("2026-03-01T10:00:00.000Z")
            );
        }
        other => panic!("expected a pass, got {other:?}"),
    }

    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(
        request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );
    let sent = form(request);
    assert_eq!(sent["secret"], SECRET);
    assert_eq!(sent["response"], "0.valid-token_from.the-widget");
    assert_eq!(sent["remoteip"], "203.0.113.7");
    assert_eq!(sent["idempotency_key"].len(), 36, "a UUID");
}

#[tokio::test]
async fn a_missing_token_is_refused_without_asking_cloudflare() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(refused("missing-input-response"))
        .expect(0)
        .mount(&server)
        .await;
    let client = client(&server);
    for token in ["", "   "] {
        assert_eq!(
            client.verify(token, Some("203.0.113.7")).await.unwrap(),
            HumanCheck::Refused(Refusal::MissingToken),
            "{token:?}"
        );
    }
}

#[tokio::test]
async fn cloudflares_missing_input_response_is_a_missing_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(refused("missing-input-response"))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        client(&server).verify("t", None).await.unwrap(),
        HumanCheck::Refused(Refusal::MissingToken)
    );
}

#[tokio::test]
async fn an_invalid_token_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(VERIFY_PATH))
        .respond_with(refused("invalid-input-response"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let answer = client
        .verify("forged.token", Some("not an ip"))
        .await
        .unwrap();
    assert_eq!(answer, HumanCheck::Refused(Refusal::InvalidToken));
    assert!(Refusal::InvalidToken
        .reason()
        .contains("complete the check"));
    // A source address that is not an IP address is left out, not sent.
    let requests = server.received_requests().await.unwrap();
    assert!(!form(&requests[0]).contains_key("remoteip"));

    // Longer than a token can be, or not printable ASCII: refused here (the mock expects 1 call).
    for token in ["a".repeat(MAX_TOKEN_CHARS + 1), "tok\nen".to_owned()] {
        assert_eq!(
            client.verify(&token, None).await.unwrap(),
            HumanCheck::Refused(Refusal::InvalidToken)
        );
    }
}

/// A Siteverify that, like Cloudflare's, redeems each token once.
fn redeems_once() -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    move |request: &Request| {
        let token = form(request).remove("response").unwrap_or_default();
        if seen.lock().unwrap().insert(token) {
            ok(json!({"success": true, "error-codes": [], "hostname": "127.0.0.1"}))
        } else {
            refused("timeout-or-duplicate")
        }
    }
}

#[tokio::test]
async fn a_reused_token_is_refused_as_spent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(VERIFY_PATH))
        .respond_with(redeems_once())
        .expect(3)
        .mount(&server)
        .await;
    let client = client(&server);
    assert!(matches!(
        client.verify("token-1", Some("2001:db8::1")).await.unwrap(),
        HumanCheck::Passed(_)
    ));
    assert_eq!(
        client.verify("token-1", Some("2001:db8::1")).await.unwrap(),
        HumanCheck::Refused(Refusal::SpentToken)
    );
    assert!(Refusal::SpentToken
        .reason()
        .contains("expired or was already used"));
    assert!(matches!(
        client.verify("token-2", Some("2001:db8::1")).await.unwrap(),
        HumanCheck::Passed(_)
    ));
}

#[tokio::test]
async fn a_5xx_is_retried_once_with_the_same_idempotency_key_then_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .expect(2)
        .mount(&server)
        .await;
    let err = client(&server).verify("token", None).await.unwrap_err();
    assert_eq!(err, TurnstileError::Status(503));
    assert!(!err.is_misconfiguration());
    let requests = server.received_requests().await.unwrap();
    let keys: HashSet<String> = requests
        .iter()
        .map(|r| form(r)["idempotency_key"].clone())
        .collect();
    assert_eq!(keys.len(), 1, "one idempotency key for both attempts");
}

#[tokio::test]
async fn a_5xx_then_an_answer_is_that_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok(json!({"success": true, "error-codes": []})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        client(&server).verify("token", None).await,
        Ok(HumanCheck::Passed(_))
    ));
}

#[tokio::test]
async fn internal_error_is_an_error_after_a_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(refused("internal-error"))
        .expect(2)
        .mount(&server)
        .await;
    assert_eq!(
        client(&server).verify("token", None).await.unwrap_err(),
        TurnstileError::Internal
    );
}

#[tokio::test]
async fn a_bad_secret_is_a_misconfiguration_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(refused("invalid-input-secret"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).verify("token", None).await.unwrap_err();
    assert!(err.is_misconfiguration(), "{err:?}");
    assert!(
        !format!("{err} {err:?}").contains(SECRET),
        "no secret in the error"
    );
}

#[tokio::test]
async fn a_slow_siteverify_is_an_error_within_the_attempt_timeouts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ok(json!({"success": true, "error-codes": []})).set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let client = client(&server)
        .with_attempt_timeout(Duration::from_millis(300))
        .unwrap();
    let started = Instant::now();
    let err = client.verify("token", None).await.unwrap_err();
    assert!(matches!(err, TurnstileError::Network(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "two attempts of 300 ms, not the server's 5 s: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_siteverify_is_an_error() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = Url::parse(&format!("http://127.0.0.1:{port}{VERIFY_PATH}")).unwrap();
    let client = TurnstileClient::new(url, Secret::new(SECRET)).unwrap();
    let err = client.verify("token", None).await.unwrap_err();
    assert!(matches!(err, TurnstileError::Network(_)), "{err:?}");
}
