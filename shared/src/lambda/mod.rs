//! The Lambda glue every handler stands on: one error type mapped to HTTP status ([`http`]),
//! the clients and secrets built once per cold start ([`runtime`], [`config`]; a webhook's
//! secrets re-read on a mismatch, [`secrets`]), JSON logs and
//! metrics ([`telemetry`]), the clock handlers read (fixed in tests), and the team's alerts
//! ([`alerts`]).

pub mod alerts;
pub mod clock;
pub mod config;
pub mod http;
pub mod runtime;
pub mod secrets;
pub mod telemetry;
