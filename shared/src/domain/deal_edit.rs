//! A person's edit of a deal (the pipeline API's `PATCH` body, `salesctl move`'s flags), parsed
//! into a [`PipelineUpdate`] field by field, each error naming its field.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::pipeline::{
    short_text, DealValue, PipelineStage, PipelineUpdate, Probability, StageMove,
};
use super::time_format;

/// Longest next action accepted.
pub const MAX_NEXT_ACTION: usize = 200;
/// Longest assignee accepted (an e-mail or a name).
pub const MAX_ASSIGNEE: usize = 120;

/// The fields a person may edit.
pub const EDITABLE_FIELDS: [&str; 6] = [
    "stage",
    "next_action",
    "next_action_date",
    "assigned_to",
    "deal_value_aud",
    "probability",
];

/// A field of a request that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        FieldError {
            field,
            reason: reason.into(),
        }
    }
}

/// `2026-12-01` (midnight UTC) or a full RFC 3339 time.
pub fn parse_date_or_time(raw: &str) -> Result<OffsetDateTime, String> {
    let raw = raw.trim();
    if let Ok(at) = time_format::parse(raw) {
        return Ok(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &format)
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| "expected a date (2026-12-01) or an RFC 3339 time".to_owned())
}

fn text(value: &Value) -> Option<&str> {
    value.as_str()
}

/// Parses an edit: any subset of [`EDITABLE_FIELDS`]; `null` clears `next_action`,
/// `next_action_date` and `assigned_to`. Other keys listed in `also_allowed` (such as
/// `version`) are skipped; any other key is an error, so a typo is never silently ignored.
pub fn parse_deal_edit(
    fields: &Map<String, Value>,
    also_allowed: &[&str],
) -> Result<PipelineUpdate, FieldError> {
    let mut update = PipelineUpdate::default();
    for (name, value) in fields {
        match name.as_str() {
            "stage" => {
                let raw = text(value).ok_or_else(|| FieldError::new("stage", "a stage name"))?;
                let stage: PipelineStage = raw
                    .trim()
                    .parse()
                    .map_err(|e: super::PipelineError| FieldError::new("stage", e.to_string()))?;
                update.stage = Some(StageMove::Manual(stage));
            }
            "next_action" => {
                update.next_action = Some(match value {
                    Value::Null => None,
                    Value::String(raw) => Some(
                        short_text("next_action", raw, MAX_NEXT_ACTION)
                            .map_err(|e| FieldError::new("next_action", e.to_string()))?,
                    ),
                    _ => return Err(FieldError::new("next_action", "text or null")),
                });
            }
            "next_action_date" => {
                update.next_action_date = Some(match value {
                    Value::Null => None,
                    Value::String(raw) => Some(
                        parse_date_or_time(raw)
                            .map_err(|e| FieldError::new("next_action_date", e))?,
                    ),
                    _ => return Err(FieldError::new("next_action_date", "a date or null")),
                });
            }
            "assigned_to" => {
                update.assigned_to = Some(match value {
                    Value::Null => None,
                    Value::String(raw) => Some(
                        short_text("assigned_to", raw, MAX_ASSIGNEE)
                            .map_err(|e| FieldError::new("assigned_to", e.to_string()))?,
                    ),
                    _ => return Err(FieldError::new("assigned_to", "text or null")),
                });
            }
            "deal_value_aud" => {
                // A string keeps the exact decimal; a JSON number is taken as written.
                let raw = match value {
                    Value::String(raw) => raw.clone(),
                    Value::Number(number) => number.to_string(),
                    _ => {
                        return Err(FieldError::new(
                            "deal_value_aud",
                            "an amount such as \"4999.95\"",
                        ))
                    }
                };
                update.deal_value_aud = Some(
                    DealValue::parse(&raw)
                        .map_err(|e| FieldError::new("deal_value_aud", e.to_string()))?,
                );
            }
            "probability" => {
                let percent = value.as_i64().ok_or_else(|| {
                    FieldError::new("probability", "a whole number from 0 to 100")
                })?;
                update.probability = Some(
                    Probability::new(percent)
                        .map_err(|e| FieldError::new("probability", e.to_string()))?,
                );
            }
            other if also_allowed.contains(&other) => {}
            other => {
                return Err(FieldError::new(
                    "body",
                    format!(
                        "unknown field {other:?}; editable: {}",
                        EDITABLE_FIELDS.join(", ")
                    ),
                ))
            }
        }
    }
    if update == PipelineUpdate::default() {
        return Err(FieldError::new(
            "body",
            format!(
                "nothing to change; editable: {}",
                EDITABLE_FIELDS.join(", ")
            ),
        ));
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use serde_json::json;
    use time::macros::datetime;

    fn parse(value: Value) -> Result<PipelineUpdate, FieldError> {
        parse_deal_edit(value.as_object().unwrap(), &["version"])
    }

    #[test]
    fn every_field_parses_and_null_clears() {
        let update = parse(json!({
            "version": 3,
            "stage": "proposal_sent",
            "next_action": " Send contract ",
            "next_action_date": "2026-12-01",
            "assigned_to": null,
            "deal_value_aud": "4999.95",
            "probability": 60
        }))
        .unwrap();
        assert_eq!(
            update.stage,
            Some(StageMove::Manual(PipelineStage::ProposalSent))
        );
        assert_eq!(update.next_action, Some(Some("Send contract".into())));
        assert_eq!(
            update.next_action_date,
            Some(Some(datetime!(2026-12-01 00:00 UTC)))
        );
        assert_eq!(update.assigned_to, Some(None));
        assert_eq!(
            update.deal_value_aud.map(DealValue::amount),
            Some(Decimal::new(499995, 2))
        );
        assert_eq!(update.probability, Some(Probability::new(60).unwrap()));
        let timed = parse(json!({"next_action_date": "2026-12-01T09:30:00+10:00"})).unwrap();
        assert_eq!(
            timed.next_action_date,
            Some(Some(datetime!(2026-11-30 23:30 UTC)))
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        for (body, field) in [
            (json!({"stage": "won"}), "stage"),
            (json!({"stage": 3}), "stage"),
            (json!({"next_action": ""}), "next_action"),
            (json!({"next_action": "x".repeat(201)}), "next_action"),
            (
                json!({"next_action_date": "next tuesday"}),
                "next_action_date",
            ),
            (json!({"assigned_to": 7}), "assigned_to"),
            (json!({"deal_value_aud": "-1"}), "deal_value_aud"),
            (json!({"deal_value_aud": "1.999"}), "deal_value_aud"),
            (json!({"probability": 101}), "probability"),
            (json!({"probability": "50"}), "probability"),
            (json!({"stgae": "contacted"}), "body"),
            (json!({"version": 2}), "body"),
        ] {
            assert_eq!(parse(body.clone()).unwrap_err().field, field, "{body}");
        }
    }
}
