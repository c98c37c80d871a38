//! Agency OS sales infrastructure: the library every Lambda function stands on.
//!
//! - [`domain`]: leads, the pipeline, founding spots; pure and unit-tested.
//! - [`store`]: the DynamoDB table and every operation on it.

pub mod domain;
pub mod store;

pub use store::{SalesStore, StoreError};
