//! Calendly webhooks (`invitee.created`, `invitee.canceled`). A reschedule arrives as
//! `invitee.canceled` with `rescheduled: true` and `new_invitee`, plus `invitee.created` with
//! `old_invitee`, in either order. A booking is named by its invitee URI.

use serde::Deserialize;

use super::{key_id, timestamp, ParsedWebhook, PayloadError};
use crate::domain::{
    Attendee, BookingEvent, BookingNotice, BookingProvider, BookingSlot, EmailAddress,
};

#[derive(Debug, Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    payload: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Payload {
    uri: String,
    email: String,
    name: Option<String>,
    #[serde(default)]
    rescheduled: bool,
    old_invitee: Option<String>,
    new_invitee: Option<String>,
    scheduled_event: ScheduledEvent,
    #[serde(default)]
    questions_and_answers: Vec<QuestionAndAnswer>,
}

#[derive(Debug, Deserialize)]
struct ScheduledEvent {
    start_time: String,
    end_time: String,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct QuestionAndAnswer {
    question: String,
    answer: Option<String>,
}

fn nonempty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// Parses a Calendly webhook body.
pub fn parse(body: &[u8]) -> Result<ParsedWebhook, PayloadError> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| PayloadError(format!("the body is not a Calendly webhook: {e}")))?;
    let trigger = envelope.event;
    if !matches!(trigger.as_str(), "invitee.created" | "invitee.canceled") {
        return Ok(ParsedWebhook::Ignored(trigger));
    }
    let payload: Payload = serde_json::from_value(envelope.payload)
        .map_err(|e| PayloadError(format!("{trigger} payload: {e}")))?;
    let uri = key_id(&format!("{trigger} payload: invitee uri"), payload.uri)?;
    let old_invitee = nonempty(payload.old_invitee)
        .map(|uri| key_id(&format!("{trigger} payload: old_invitee"), uri))
        .transpose()?;
    let new_invitee = nonempty(payload.new_invitee)
        .map(|uri| key_id(&format!("{trigger} payload: new_invitee"), uri))
        .transpose()?;
    let email = EmailAddress::parse(&payload.email)
        .map_err(|e| PayloadError(format!("{trigger} payload: invitee e-mail: {e}")))?;
    let slot = BookingSlot {
        id: uri,
        start: timestamp(
            "scheduled_event.start_time",
            &payload.scheduled_event.start_time,
        )?,
        end: timestamp(
            "scheduled_event.end_time",
            &payload.scheduled_event.end_time,
        )?,
        title: payload.scheduled_event.name,
    };
    let event = if trigger == "invitee.created" {
        BookingEvent::Booked {
            slot,
            replaces: old_invitee,
        }
    } else {
        BookingEvent::Ended {
            slot,
            rescheduled: payload.rescheduled,
            replaced_by: new_invitee,
        }
    };
    let company = payload
        .questions_and_answers
        .into_iter()
        .find(|qa| qa.question.to_lowercase().contains("company"))
        .and_then(|qa| nonempty(qa.answer))
        .map(|answer| answer.trim().to_owned());
    Ok(ParsedWebhook::Notice(BookingNotice {
        provider: BookingProvider::Calendly,
        trigger,
        event,
        attendee: Attendee {
            email,
            name: nonempty(payload.name),
            company,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(event: &str, rescheduled: bool, old: Option<&str>, new: Option<&str>) -> Vec<u8> {
        serde_json::json!({
            "event": event,
            "created_at": "2026-02-03T17:41:10.000000Z",
            "payload": {
                "uri": "https://api.calendly.com/scheduled_events/E/invitees/I",
                "email": "ada@example.com",
                "name": "Ada Lovelace",
                "rescheduled": rescheduled,
                "old_invitee": old,
                "new_invitee": new,
                "questions_and_answers": [{"question": "Company name", "answer": "Acme Ltd", "position": 0}],
                "scheduled_event": {
                    "start_time": "2026-02-10T14:00:00.000000Z",
                    "end_time": "2026-02-10T14:30:00.000000Z",
                    "name": "30 Minute Meeting"
                }
            }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn both_halves_of_a_reschedule_name_each_other() {
        let Ok(ParsedWebhook::Notice(created)) =
            parse(&body("invitee.created", false, Some("old-uri"), None))
        else {
            panic!("not a notice")
        };
        assert_eq!(created.attendee.company.as_deref(), Some("Acme Ltd"));
        assert!(
            matches!(created.event, BookingEvent::Booked { replaces: Some(ref r), .. } if r == "old-uri")
        );
        let Ok(ParsedWebhook::Notice(cancelled)) =
            parse(&body("invitee.canceled", true, None, Some("new-uri")))
        else {
            panic!("not a notice")
        };
        assert!(matches!(
            cancelled.event,
            BookingEvent::Ended { rescheduled: true, replaced_by: Some(ref r), .. } if r == "new-uri"
        ));
    }

    #[test]
    fn a_plain_cancel_is_not_a_reschedule() {
        let Ok(ParsedWebhook::Notice(cancelled)) =
            parse(&body("invitee.canceled", false, None, None))
        else {
            panic!("not a notice")
        };
        assert!(matches!(
            cancelled.event,
            BookingEvent::Ended {
                rescheduled: false,
                replaced_by: None,
                ..
            }
        ));
    }

    #[test]
    fn other_events_are_ignored_and_broken_payloads_refused() {
        assert_eq!(
            parse(br#"{"event":"invitee_no_show.created","payload":{}}"#),
            Ok(ParsedWebhook::Ignored("invitee_no_show.created".into()))
        );
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"event":"invitee.created","payload":{"uri":"x"}}"#).is_err());
    }

    #[test]
    fn a_uri_no_key_can_hold_is_refused() {
        let long = format!("https://api.calendly.com/{}", "i".repeat(600));
        for field in ["uri", "old_invitee"] {
            let mut value: serde_json::Value =
                serde_json::from_slice(&body("invitee.created", false, None, None)).unwrap();
            value["payload"][field] = serde_json::json!(long);
            let err = parse(&serde_json::to_vec(&value).unwrap()).unwrap_err();
            assert!(err.0.contains("bytes long"), "{field}: {err:?}");
        }
    }
}
