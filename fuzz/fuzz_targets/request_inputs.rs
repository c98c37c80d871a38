//! The sales team's and the landing page's inputs: e-mails, cursors, deal edits, list queries.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = sales::domain::EmailAddress::parse(&text);
    let _ = sales::store::Cursor::parse(&text);
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(data) {
        let _ = sales::domain::parse_deal_edit(&fields, &["version"]);
    }
    let pairs: Vec<(&str, &str)> = text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let _ = sales::handlers::pipeline::deal_query(&pairs);
});
