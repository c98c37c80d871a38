//! Agency OS sales infrastructure: the library every Lambda function stands on.
//!
//! - [`handlers`]: one module per function (`functions/<name>/` runs `handlers::<Name>`).
//! - [`lambda`]: the Lambda glue: HTTP errors and responses, runtime wiring, configuration,
//!   telemetry, the clock.
//! - [`domain`]: leads, the pipeline, founding spots; pure and unit-tested.
//! - [`store`]: the DynamoDB table and every operation on it.
//! - [`providers`]: Stripe's API and events, Cal.com and Calendly payloads.
//!
//! The command line, `salesctl` (with `salesctl setup`), is a crate of its own (`salesctl/`) so
//! that no function compiles it.

pub mod domain;
pub mod handlers;
pub mod lambda;
pub mod providers;
pub mod store;

pub use store::{SalesStore, StoreError};
