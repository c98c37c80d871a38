//! The three signature schemes: any header and body are verified or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sales::domain::signature::{verify_body_hex, verify_timestamped};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    let (header, body) = data.split_at(split);
    let header = String::from_utf8_lossy(header);
    let _ = verify_timestamped(Some(&header), body, &[b"whsec_fuzz"], 1_800_000_000, 300);
    let _ = verify_body_hex(Some(&header), body, &[b"cal-fuzz"]);
});
