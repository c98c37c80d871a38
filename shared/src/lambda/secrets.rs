//! A webhook's signing secrets (current, then previous during a rotation), cached for the
//! instance's life and re-read from Secrets Manager when a signature does not match them.
//!
//! After a webhook secret is rotated (`aws secretsmanager put-secret-value`, or `salesctl
//! setup`), a provider signs with the new one at once, while warm instances still hold the old.
//! So a signature that fails with the cached secrets triggers one re-read of the secret and a
//! second verification with what it now holds: the rotation takes effect without a redeploy.
//! The re-read is rate-limited per instance (at most one per [`SECRET_RELOAD_INTERVAL`]), so a
//! flood of junk signatures costs Secrets Manager at most one call a minute per instance. Only a
//! signature that does not match can be fixed by new secrets: a missing or malformed header or a
//! stale timestamp never triggers a re-read.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::domain::signature::SignatureError;
use crate::lambda::config::{read_secret, secrets, ConfigError, Secret};

/// At most one re-read of the secret per this interval, per instance.
pub const SECRET_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// What a re-read returns: the webhook's secrets now (current first), or why it failed.
pub type LoadFuture = Pin<Box<dyn Future<Output = Result<Vec<Secret>, ConfigError>> + Send>>;
type Loader = Arc<dyn Fn() -> LoadFuture + Send + Sync>;

/// A webhook's secrets: fixed ([`WebhookSecrets::fixed`], tests and local runs without
/// `SECRETS_ID`), or re-read on a mismatch ([`WebhookSecrets::reloading`]).
pub struct WebhookSecrets {
    current: RwLock<Arc<Vec<Secret>>>,
    loader: Option<Loader>,
    min_interval: Duration,
    /// When the last re-read started (none yet: the first mismatch may re-read at once).
    last_reload: Mutex<Option<Instant>>,
    reloads: AtomicU64,
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("secrets", &self.current().len())
            .field("reloading", &self.loader.is_some())
            .field("reloads", &self.reloads())
            .finish()
    }
}

impl From<Vec<Secret>> for WebhookSecrets {
    fn from(secrets: Vec<Secret>) -> Self {
        WebhookSecrets::fixed(secrets)
    }
}

impl WebhookSecrets {
    /// Secrets that never change.
    pub fn fixed(secrets: Vec<Secret>) -> Self {
        WebhookSecrets {
            current: RwLock::new(Arc::new(secrets)),
            loader: None,
            min_interval: SECRET_RELOAD_INTERVAL,
            last_reload: Mutex::new(None),
            reloads: AtomicU64::new(0),
        }
    }

    /// `initial` (what the cold start read), re-read with `loader` on a mismatch, at most once
    /// per `min_interval`.
    pub fn reloading<F>(initial: Vec<Secret>, min_interval: Duration, loader: F) -> Self
    where
        F: Fn() -> LoadFuture + Send + Sync + 'static,
    {
        WebhookSecrets {
            loader: Some(Arc::new(loader)),
            min_interval,
            ..WebhookSecrets::fixed(initial)
        }
    }

    /// `initial`, re-read from the Secrets Manager secret `secret_id` (its `keys`, current
    /// first), at most once per [`SECRET_RELOAD_INTERVAL`]. Only `keys` are kept from what is
    /// read; every other key of the secret is dropped as it is parsed.
    pub fn from_secrets_manager(
        initial: Vec<Secret>,
        sdk: &aws_config::SdkConfig,
        secret_id: &str,
        keys: &'static [&'static str],
    ) -> Self {
        WebhookSecrets::from_secrets_manager_every(
            initial,
            sdk,
            secret_id,
            keys,
            SECRET_RELOAD_INTERVAL,
        )
    }

    /// [`WebhookSecrets::from_secrets_manager`] with another rate limit (tests).
    pub fn from_secrets_manager_every(
        initial: Vec<Secret>,
        sdk: &aws_config::SdkConfig,
        secret_id: &str,
        keys: &'static [&'static str],
        min_interval: Duration,
    ) -> Self {
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        let secret_id = secret_id.to_owned();
        WebhookSecrets::reloading(initial, min_interval, move || {
            let client = client.clone();
            let secret_id = secret_id.clone();
            Box::pin(async move {
                let values = read_secret(&client, &secret_id, keys).await?;
                Ok(secrets(&|key: &str| values.get(key).cloned(), keys))
            })
        })
    }

    /// The secrets held now, current first.
    pub fn current(&self) -> Arc<Vec<Secret>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times this instance has re-read the secret.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Runs `check` with the held secrets; if the signature does not match them, re-reads the
    /// secret (when the rate limit allows) and runs `check` again with what it holds now.
    pub async fn verify(
        &self,
        check: impl Fn(&[&[u8]]) -> Result<(), SignatureError>,
    ) -> Result<(), SignatureError> {
        let held = self.current();
        let first = check(&as_bytes(&held));
        match first {
            Err(SignatureError::Mismatch) => {}
            other => return other,
        }
        let Some(loader) = &self.loader else {
            return first;
        };
        if !self.claim_reload() {
            // Another invocation may have re-read meanwhile.
            let now = self.current();
            if Arc::ptr_eq(&now, &held) {
                return first;
            }
            return check(&as_bytes(&now));
        }
        self.reloads.fetch_add(1, Ordering::Relaxed);
        match loader().await {
            Ok(fresh) if !fresh.is_empty() => {
                let changed = fresh != *held;
                tracing::info!(
                    changed,
                    "webhook signature did not match the cached secrets; secret re-read"
                );
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
            }
            Ok(_) => {
                tracing::warn!(
                    "the re-read secret holds none of this webhook's keys; kept the cached ones"
                );
                return first;
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not re-read the webhook secret; kept the cached ones");
                return first;
            }
        }
        check(&as_bytes(&self.current()))
    }

    /// Whether a re-read may start now (and, if so, marks it started).
    fn claim_reload(&self) -> bool {
        let mut last = self
            .last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.min_interval) {
            return false;
        }
        *last = Some(now);
        true
    }
}

fn as_bytes(secrets: &[Secret]) -> Vec<&[u8]> {
    secrets.iter().map(|s| s.expose().as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn check_with(expected: &'static str) -> impl Fn(&[&[u8]]) -> Result<(), SignatureError> {
        move |keys: &[&[u8]]| {
            if keys.contains(&expected.as_bytes()) {
                Ok(())
            } else {
                Err(SignatureError::Mismatch)
            }
        }
    }

    fn counting_loader(
        value: &'static str,
        interval: Duration,
    ) -> (WebhookSecrets, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let secrets = WebhookSecrets::reloading(vec![Secret::new("old")], interval, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { Ok(vec![Secret::new(value)]) })
        });
        (secrets, calls)
    }

    #[tokio::test]
    async fn a_mismatch_re_reads_once_then_the_new_secret_is_held() {
        let (secrets, calls) = counting_loader("new", SECRET_RELOAD_INTERVAL);
        assert_eq!(secrets.verify(check_with("old")).await, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 0, "a match reads nothing");
        assert_eq!(secrets.verify(check_with("new")).await, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(secrets.verify(check_with("new")).await, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "held now: no second read");
        assert_eq!(
            secrets.verify(check_with("forged")).await,
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "within the rate limit: no read"
        );
        assert_eq!(secrets.reloads(), 1);
    }

    #[tokio::test]
    async fn re_reads_are_rate_limited_and_only_for_a_mismatch() {
        let (secrets, calls) = counting_loader("new", Duration::from_millis(50));
        for error in [
            SignatureError::Missing,
            SignatureError::Malformed,
            SignatureError::Stale,
        ] {
            let result = secrets.verify(|_| Err(error.clone())).await;
            assert_eq!(result, Err(error));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "new secrets cannot fix these"
        );
        for _ in 0..5 {
            let _ = secrets.verify(check_with("forged")).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one read for a flood");
        std::thread::sleep(Duration::from_millis(60));
        let _ = secrets.verify(check_with("forged")).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "one more after the interval"
        );
    }

    #[tokio::test]
    async fn fixed_secrets_never_read_and_a_failed_read_keeps_the_cached_ones() {
        let fixed = WebhookSecrets::fixed(vec![Secret::new("old")]);
        assert_eq!(
            fixed.verify(check_with("new")).await,
            Err(SignatureError::Mismatch)
        );
        assert_eq!(fixed.reloads(), 0);
        let failing =
            WebhookSecrets::reloading(vec![Secret::new("old")], SECRET_RELOAD_INTERVAL, || {
                Box::pin(async { Err(ConfigError::Missing("SECRETS_ID")) })
            });
        assert_eq!(
            failing.verify(check_with("new")).await,
            Err(SignatureError::Mismatch)
        );
        assert_eq!(failing.verify(check_with("old")).await, Ok(()));
        assert!(!format!("{failing:?}").contains("old"));
    }
}
