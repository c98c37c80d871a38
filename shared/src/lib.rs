//! Agency OS sales infrastructure: the library every Lambda function stands on.
//!
//! - [`domain`]: leads, the pipeline, founding spots; pure and unit-tested.
//! - [`store`]: the DynamoDB table and every operation on it.

pub mod billing;
pub mod bookings;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod pipeline_api;
pub mod providers;
pub mod runtime;
pub mod setup;
pub mod store;
pub mod telemetry;

pub use store::{SalesStore, StoreError};
