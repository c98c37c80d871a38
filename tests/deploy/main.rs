//! Checks of the SAM template (`infra/template.yaml`) against the code it deploys. No AWS and no
//! DynamoDB server: the template is read as YAML (CloudFormation's short tags such as `!Ref`
//! arrive as tagged values) and compared with what the library defines.
//!
//! - [`table`]: the table (keys, attribute types, indexes, TTL, billing mode) is exactly
//!   `sales::store::table::definition()`, and is kept (retained, recoverable).
//! - [`functions`]: one function per binary under `functions/`, built by cargo-lambda from the
//!   workspace; secrets only where they are read; alarms on the metrics the code emits.
//! - [`layout`]: the store's modules import each other without a cycle.
//! - [`salesctl`]: the IAM policies for salesctl's users grant exactly what its commands use.
//! - [`board`]: the board's sign-in (user pool, `sales` group, app client), its JWT routes,
//!   CORS and hosting.

mod board;
mod functions;
mod layout;
mod salesctl;
mod table;
mod template;
