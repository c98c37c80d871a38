//! Cal.com's and Calendly's webhook parsers: any bytes give a notice (whose booking id fits a
//! key), an ignored trigger, or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sales::providers::{cal, calendly, ParsedWebhook};

fuzz_target!(|data: &[u8]| {
    for parsed in [cal::parse(data), calendly::parse(data)] {
        if let Ok(ParsedWebhook::Notice(notice)) = parsed {
            assert!(notice.event.slot().id.len() <= sales::domain::limits::MAX_ID_BYTES);
        }
    }
});
