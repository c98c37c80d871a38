//! Cal.com booking webhooks (`BOOKING_CREATED`, `BOOKING_CANCELLED`, `BOOKING_RESCHEDULED`,
//! `BOOKING_REQUESTED` for a reschedule, `BOOKING_REJECTED`), with field names from Cal.com's
//! source. A rescheduled booking carries its new `uid` and the old one in `rescheduleUid`.
//! Cal.com sends no delivery id.
//!
//! An event type that requires confirmation announces a reschedule as `BOOKING_REQUESTED`
//! (status `PENDING`, the old booking in `rescheduleUid`; Cal.com has cancelled the old booking
//! by then) and, once the host confirms, sends a plain `BOOKING_CREATED` for the new `uid` that
//! names the old booking nowhere; a rejection is `BOOKING_REJECTED` for the new `uid`. A
//! `BOOKING_REQUESTED` without `rescheduleUid` (a first booking awaiting confirmation) is
//! ignored: its confirmation's `BOOKING_CREATED` records it.

use serde::Deserialize;

use super::{key_id, timestamp, ParsedWebhook, PayloadError};
use crate::domain::{
    Attendee, BookingEvent, BookingNotice, BookingProvider, BookingSlot, EmailAddress,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    trigger_event: String,
    #[serde(default)]
    payload: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    uid: String,
    start_time: String,
    end_time: String,
    title: Option<String>,
    #[serde(default)]
    attendees: Vec<CalAttendee>,
    reschedule_uid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CalAttendee {
    email: String,
    name: Option<String>,
}

/// The delivery's date: the body's top-level `createdAt` (Cal.com dates every delivery; the
/// signature covers it, as it covers the whole body). `None` when absent or null.
pub fn created_at(body: &[u8]) -> Result<Option<time::OffsetDateTime>, PayloadError> {
    #[derive(Deserialize)]
    struct Dated {
        #[serde(rename = "createdAt", default)]
        created_at: serde_json::Value,
    }
    let dated: Dated = serde_json::from_slice(body)
        .map_err(|e| PayloadError(format!("the body is not a Cal.com webhook: {e}")))?;
    match dated.created_at {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(raw) => timestamp("createdAt", &raw).map(Some),
        other => Err(PayloadError(format!(
            "createdAt: not an RFC 3339 time ({other})"
        ))),
    }
}

/// Parses a Cal.com webhook body.
pub fn parse(body: &[u8]) -> Result<ParsedWebhook, PayloadError> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| PayloadError(format!("the body is not a Cal.com webhook: {e}")))?;
    let trigger = envelope.trigger_event;
    let handled = match trigger.as_str() {
        "BOOKING_CREATED" | "BOOKING_CANCELLED" | "BOOKING_RESCHEDULED" | "BOOKING_REJECTED" => {
            true
        }
        // Only a reschedule awaiting confirmation; a first booking waits for its confirmation.
        "BOOKING_REQUESTED" => envelope
            .payload
            .get("rescheduleUid")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|uid| !uid.trim().is_empty()),
        _ => false,
    };
    if !handled {
        return Ok(ParsedWebhook::Ignored(trigger));
    }
    let payload: Payload = serde_json::from_value(envelope.payload)
        .map_err(|e| PayloadError(format!("{trigger} payload: {e}")))?;
    let uid = key_id(&format!("{trigger} payload: uid"), payload.uid)?;
    let booker = payload
        .attendees
        .first()
        .ok_or_else(|| PayloadError(format!("{trigger} payload: no attendees")))?;
    let email = EmailAddress::parse(&booker.email)
        .map_err(|e| PayloadError(format!("{trigger} payload: attendee e-mail: {e}")))?;
    let slot = BookingSlot {
        id: uid,
        start: timestamp("startTime", &payload.start_time)?,
        end: timestamp("endTime", &payload.end_time)?,
        title: payload.title,
    };
    let event = match trigger.as_str() {
        "BOOKING_CANCELLED" | "BOOKING_REJECTED" => BookingEvent::Ended {
            slot,
            rescheduled: false,
            replaced_by: None,
        },
        "BOOKING_RESCHEDULED" | "BOOKING_REQUESTED" => {
            let replaces = payload
                .reschedule_uid
                .filter(|uid| !uid.trim().is_empty())
                .ok_or_else(|| PayloadError(format!("{trigger} payload: no rescheduleUid")))?;
            let replaces = key_id(&format!("{trigger} payload: rescheduleUid"), replaces)?;
            if trigger == "BOOKING_REQUESTED" {
                BookingEvent::RescheduleRequested { slot, replaces }
            } else {
                BookingEvent::Booked {
                    slot,
                    replaces: Some(replaces),
                }
            }
        }
        _ => BookingEvent::Booked {
            slot,
            replaces: None,
        },
    };
    Ok(ParsedWebhook::Notice(BookingNotice {
        provider: BookingProvider::Cal,
        trigger,
        event,
        attendee: Attendee {
            email,
            name: booker.name.clone().filter(|n| !n.trim().is_empty()),
            company: None,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn fixture(trigger: &str) -> serde_json::Value {
        let start = "2026-02-10T14:00:00.000Z";
        serde_json::json!({
            "triggerEvent": trigger,
            "createdAt": "2026-02-01T09:12:45.123Z",
            "payload": {
                "uid": "new-uid",
                "title": "30 Min Meeting",
                "startTime": start,
                "endTime": "2026-02-10T14:30:00.000Z",
                "attendees": [{"name": "Ada Lovelace", "email": " Ada@Example.com "}],
                "rescheduleUid": "old-uid"
            }
        })
    }

    fn notice(value: &serde_json::Value) -> BookingNotice {
        match parse(value.to_string().as_bytes()).unwrap() {
            ParsedWebhook::Notice(notice) => notice,
            other => panic!("not a notice: {other:?}"),
        }
    }

    #[test]
    fn created_is_a_new_booking_of_the_first_attendee() {
        let notice = notice(&fixture("BOOKING_CREATED"));
        assert_eq!(notice.attendee.email.as_str(), "ada@example.com");
        assert_eq!(notice.attendee.name.as_deref(), Some("Ada Lovelace"));
        match notice.event {
            BookingEvent::Booked { slot, replaces } => {
                assert_eq!(slot.id, "new-uid");
                assert_eq!(slot.start, datetime!(2026-02-10 14:00 UTC));
                assert_eq!(slot.end, datetime!(2026-02-10 14:30 UTC));
                assert_eq!(replaces, None, "only a reschedule replaces");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rescheduled_replaces_the_old_uid_and_cancelled_ends() {
        match notice(&fixture("BOOKING_RESCHEDULED")).event {
            BookingEvent::Booked { replaces, .. } => {
                assert_eq!(replaces.as_deref(), Some("old-uid"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            notice(&fixture("BOOKING_CANCELLED")).event,
            BookingEvent::Ended {
                rescheduled: false,
                ..
            }
        ));
    }

    #[test]
    fn a_requested_reschedule_replaces_the_old_uid_and_a_rejection_ends() {
        match notice(&fixture("BOOKING_REQUESTED")).event {
            BookingEvent::RescheduleRequested { slot, replaces } => {
                assert_eq!(slot.id, "new-uid");
                assert_eq!(replaces, "old-uid");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            notice(&fixture("BOOKING_REJECTED")).event,
            BookingEvent::Ended {
                rescheduled: false,
                replaced_by: None,
                ..
            }
        ));
        // The confirmation is a plain BOOKING_CREATED: a new booking, naming no other.
        let mut confirmed = fixture("BOOKING_CREATED");
        confirmed["payload"]
            .as_object_mut()
            .unwrap()
            .remove("rescheduleUid");
        assert!(matches!(
            notice(&confirmed).event,
            BookingEvent::Booked { replaces: None, .. }
        ));
    }

    #[test]
    fn other_triggers_and_first_bookings_awaiting_confirmation_are_ignored() {
        for no_reschedule in [
            serde_json::json!(null),
            serde_json::json!(""),
            serde_json::json!(7),
        ] {
            let mut first = fixture("BOOKING_REQUESTED");
            first["payload"]["rescheduleUid"] = no_reschedule;
            // Ignored before the payload is read: even a broken one.
            first["payload"]["attendees"] = serde_json::json!([]);
            assert_eq!(
                parse(first.to_string().as_bytes()),
                Ok(ParsedWebhook::Ignored("BOOKING_REQUESTED".into()))
            );
        }
        assert_eq!(
            parse(fixture("MEETING_ENDED").to_string().as_bytes()),
            Ok(ParsedWebhook::Ignored("MEETING_ENDED".into()))
        );
    }

    #[test]
    fn broken_payloads_are_refused() {
        assert!(parse(b"{not json").is_err());
        let mut no_attendee = fixture("BOOKING_CREATED");
        no_attendee["payload"]["attendees"] = serde_json::json!([]);
        assert!(parse(no_attendee.to_string().as_bytes()).is_err());
        let mut bad_time = fixture("BOOKING_CREATED");
        bad_time["payload"]["startTime"] = serde_json::json!("tomorrow");
        assert!(parse(bad_time.to_string().as_bytes()).is_err());
        let mut bad_email = fixture("BOOKING_CANCELLED");
        bad_email["payload"]["attendees"][0]["email"] = serde_json::json!("nobody");
        assert!(parse(bad_email.to_string().as_bytes()).is_err());
    }

    #[test]
    fn created_at_is_read_when_given() {
        let body = fixture("BOOKING_CREATED").to_string();
        assert_eq!(
            created_at(body.as_bytes()),
            Ok(Some(datetime!(2026-02-01 09:12:45.123 UTC)))
        );
        let mut undated = fixture("BOOKING_CREATED");
        undated.as_object_mut().unwrap().remove("createdAt");
        assert_eq!(created_at(undated.to_string().as_bytes()), Ok(None));
        undated["createdAt"] = serde_json::json!(1_770_000_000);
        assert!(created_at(undated.to_string().as_bytes()).is_err());
        undated["createdAt"] = serde_json::json!("yesterday");
        assert!(created_at(undated.to_string().as_bytes()).is_err());
    }

    #[test]
    fn a_uid_no_key_can_hold_is_refused() {
        for trigger in ["BOOKING_RESCHEDULED", "BOOKING_REQUESTED"] {
            for field in ["uid", "rescheduleUid"] {
                let mut body = fixture(trigger);
                body["payload"][field] = serde_json::json!("u".repeat(600));
                let err = parse(&serde_json::to_vec(&body).unwrap()).unwrap_err();
                assert!(err.0.contains("bytes long"), "{trigger} {field}: {err:?}");
            }
        }
    }
}
