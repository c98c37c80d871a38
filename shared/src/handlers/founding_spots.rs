//! `GET /billing/founding-spots`: the landing page's banner.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::Request;
use serde::Serialize;

use crate::domain::{FoundingTally, FOUNDING_DISCOUNT_PERCENT};
use crate::lambda::clock::Clock;
use crate::lambda::http::{json_response, ApiError, Cors, HttpResponse};
use crate::SalesStore;

/// How long one instance reuses a count, and how long browsers and CDNs may cache it.
pub const CACHE_SECONDS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundingSpotsBody {
    pub total: u8,
    pub remaining: u8,
    pub members: u8,
    pub held: u8,
    /// Kept for one person (a lapsed founding member's spot): not free to anyone else.
    pub reserved: u8,
    pub discount_percent: u8,
    /// True when every spot is taken: new visitors join the waitlist.
    pub waitlist_open: bool,
}

impl From<FoundingTally> for FoundingSpotsBody {
    fn from(tally: FoundingTally) -> Self {
        FoundingSpotsBody {
            total: tally.total,
            remaining: tally.remaining,
            members: tally.members,
            held: tally.held,
            reserved: tally.reserved,
            discount_percent: FOUNDING_DISCOUNT_PERCENT,
            waitlist_open: tally.remaining == 0,
        }
    }
}

#[derive(Debug)]
pub struct FoundingSpots {
    store: SalesStore,
    cors: Cors,
    clock: Clock,
    cache: Mutex<Option<(Instant, FoundingSpotsBody)>>,
    cache_for: Duration,
}

impl FoundingSpots {
    pub fn new(store: SalesStore, cors: Cors, clock: Clock) -> Self {
        FoundingSpots {
            store,
            cors,
            clock,
            cache: Mutex::new(None),
            cache_for: Duration::from_secs(CACHE_SECONDS),
        }
    }

    /// One DynamoDB Query per call, none while this instance's copy is fresher than
    /// [`CACHE_SECONDS`].
    pub async fn handle(&self, request: Request) -> HttpResponse {
        if request.method() == Method::OPTIONS {
            return self.cors.preflight();
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return self.cors.apply(ApiError::MethodNotAllowed.into_response());
        }
        let response = match self.figures().await {
            Ok(body) => {
                let mut response = json_response(StatusCode::OK, &body);
                let cache = format!("public, max-age={CACHE_SECONDS}");
                if let Ok(value) = HeaderValue::from_str(&cache) {
                    response.headers_mut().insert("cache-control", value);
                }
                response
            }
            Err(err) => err.into_response(),
        };
        self.cors.apply(response)
    }

    async fn figures(&self) -> Result<FoundingSpotsBody, ApiError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, body)) = cache.as_ref() {
                if at.elapsed() < self.cache_for {
                    return Ok(body.clone());
                }
            }
        }
        let body = FoundingSpotsBody::from(self.store.founding_tally(self.clock.now()).await?);
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), body.clone()));
        }
        Ok(body)
    }
}
