//! The Lambda glue every handler stands on: one error type mapped to HTTP status ([`http`]),
//! the clients and secrets built once per cold start ([`runtime`], [`config`]; a webhook's
//! secrets re-read on a mismatch, [`secrets`]), JSON logs and
//! metrics ([`telemetry`]), and the clock handlers read (fixed in tests).

pub mod clock;
pub mod config;
pub mod http;
pub mod runtime;
pub mod secrets;
pub mod telemetry;
