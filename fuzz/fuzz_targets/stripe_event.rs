//! Stripe's event parser: any bytes give an event (whose ids fit a key) or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = sales::providers::stripe_events::StripeEvent::parse(data) {
        assert!(event.id.len() <= sales::domain::limits::MAX_ID_BYTES);
    }
});
