//! Alerts to the sales team: one readable line per event worth a person's attention (a demo
//! booked or cancelled, a payment received or failed, a founding member joined), published to
//! the `TeamAlertsTopic` SNS topic the team subscribes to (e-mail, or Slack through AWS
//! Chatbot).
//!
//! Sent once per event: a webhook sends an alert only when its delivery's write was applied
//! (`Once::Applied`), and the delivery ledger makes that happen once per delivery, so a
//! redelivered event sends nothing. Sent after the effect is recorded, and never able to fail
//! the webhook: a publish that fails is logged at ERROR with the metric `AlertNotSent` (the
//! event stands, the provider is not asked to retry, and a retry would be a duplicate that sends
//! nothing anyway). Without a topic (`TEAM_ALERTS_TOPIC_ARN` unset) no alert is sent.
//!
//! The line names the person by their full e-mail (the team needs it); the logs only ever see
//! the line with the address masked.

use std::fmt;

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::domain::{BookingProvider, EmailAddress, SpotNumber, FOUNDING_SPOTS};
use crate::lambda::telemetry::emit_count_metric;

/// The environment variable naming the topic (`!Ref TeamAlertsTopic` in infra/template.yaml).
pub const TOPIC_ENV: &str = "TEAM_ALERTS_TOPIC_ARN";

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    DemoBooked,
    DemoCancelled,
    PaymentReceived,
    PaymentFailed,
    FoundingMemberJoined,
}

impl AlertKind {
    /// The line's first words, and the e-mail's subject.
    pub fn title(self) -> &'static str {
        match self {
            AlertKind::DemoBooked => "Demo booked",
            AlertKind::DemoCancelled => "Demo cancelled",
            AlertKind::PaymentReceived => "Payment received",
            AlertKind::PaymentFailed => "Payment failed",
            AlertKind::FoundingMemberJoined => "Founding member joined",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::DemoBooked => "demo_booked",
            AlertKind::DemoCancelled => "demo_cancelled",
            AlertKind::PaymentReceived => "payment_received",
            AlertKind::PaymentFailed => "payment_failed",
            AlertKind::FoundingMemberJoined => "founding_member_joined",
        }
    }
}

/// One alert: its kind and its line (`Demo booked: ada@example.com (Acme) on Cal.com for Tue 9
/// Dec 10:00 UTC`).
#[derive(Clone, PartialEq, Eq)]
pub struct Alert {
    kind: AlertKind,
    line: String,
    /// The address the line names, masked in [`Alert::masked`] and in `Debug`.
    email: Option<EmailAddress>,
}

impl fmt::Debug for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alert")
            .field("kind", &self.kind)
            .field("line", &self.masked())
            .finish()
    }
}

/// Who an alert is about: the e-mail (with the company, when known), else the Stripe customer.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub email: Option<&'a EmailAddress>,
    pub company: Option<&'a str>,
    pub customer: Option<&'a str>,
}

impl<'a> Person<'a> {
    pub fn new(email: &'a EmailAddress, company: Option<&'a str>) -> Self {
        Person {
            email: Some(email),
            company,
            customer: None,
        }
    }

    fn describe(&self) -> String {
        let who = match (self.email, self.customer) {
            (Some(email), _) => email.as_str().to_owned(),
            (None, Some(customer)) => format!("Stripe customer {customer}"),
            (None, None) => "an unknown customer".to_owned(),
        };
        match self.company.map(str::trim).filter(|c| !c.is_empty()) {
            Some(company) => format!("{who} ({})", one_line(company)),
            None => who,
        }
    }
}

impl Alert {
    fn new(kind: AlertKind, person: Person<'_>, rest: &str) -> Alert {
        Alert {
            kind,
            line: format!("{}: {}{rest}", kind.title(), person.describe()),
            email: person.email.cloned(),
        }
    }

    /// `Demo booked: ada@example.com (Acme) on Cal.com for Tue 9 Dec 10:00 UTC`
    pub fn demo_booked(
        person: Person<'_>,
        provider: BookingProvider,
        start: OffsetDateTime,
    ) -> Alert {
        let rest = format!(" on {} for {}", provider_name(provider), when(start));
        Alert::new(AlertKind::DemoBooked, person, &rest)
    }

    /// `Demo cancelled: ada@example.com (Acme) on Cal.com, was Tue 9 Dec 10:00 UTC`
    pub fn demo_cancelled(
        person: Person<'_>,
        provider: BookingProvider,
        start: OffsetDateTime,
    ) -> Alert {
        let rest = format!(" on {}, was {}", provider_name(provider), when(start));
        Alert::new(AlertKind::DemoCancelled, person, &rest)
    }

    /// `Founding member joined: ada@example.com (Acme) took founding spot 4 of 20, paid 29.00 AUD`
    pub fn founding_member_joined(
        person: Person<'_>,
        spot: SpotNumber,
        paid: Option<Money<'_>>,
    ) -> Alert {
        let mut rest = format!(" took founding spot {} of {FOUNDING_SPOTS}", spot.get());
        if let Some(paid) = paid {
            rest.push_str(&format!(", paid {paid}"));
        }
        Alert::new(AlertKind::FoundingMemberJoined, person, &rest)
    }

    /// `Payment received: ada@example.com paid 29.00 AUD (invoice in_1, renewal)`; `detail`
    /// in the brackets.
    pub fn payment_received(person: Person<'_>, paid: Option<Money<'_>>, detail: &str) -> Alert {
        let rest = match paid {
            Some(paid) => format!(" paid {paid} ({detail})"),
            None => format!(" paid ({detail})"),
        };
        Alert::new(AlertKind::PaymentReceived, person, &rest)
    }

    /// `Payment failed: ada@example.com, 29.00 AUD (invoice in_1, attempt 2)`
    pub fn payment_failed(person: Person<'_>, due: Option<Money<'_>>, detail: &str) -> Alert {
        let rest = match due {
            Some(due) => format!(", {due} ({detail})"),
            None => format!(" ({detail})"),
        };
        Alert::new(AlertKind::PaymentFailed, person, &rest)
    }

    pub fn kind(&self) -> AlertKind {
        self.kind
    }

    /// The line as the team reads it (the full e-mail).
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The line for logs: the e-mail masked (`a***@example.com`).
    pub fn masked(&self) -> String {
        match &self.email {
            Some(email) => self.line.replace(email.as_str(), &email.masked()),
            None => self.line.clone(),
        }
    }

    /// The SNS message (`MessageStructure: json`): the line for e-mail and every other protocol
    /// (`default`), and for HTTPS subscribers (AWS Chatbot's endpoint, which shows only
    /// messages in its custom-notification format) the same line as a Chatbot notification.
    pub fn sns_message(&self) -> String {
        let chatbot = serde_json::json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "title": self.kind.title(),
                "description": self.line,
            },
            "metadata": {"additionalContext": {"kind": self.kind.as_str()}}
        });
        serde_json::json!({
            "default": self.line,
            "email": self.line,
            "https": chatbot.to_string(),
        })
        .to_string()
    }
}

/// An amount in Stripe's smallest unit, with its currency: shown as `29.00 AUD`.
#[derive(Debug, Clone, Copy)]
pub struct Money<'a> {
    pub amount: i64,
    pub currency: &'a str,
}

impl<'a> Money<'a> {
    pub fn new(amount: i64, currency: &'a str) -> Self {
        Money { amount, currency }
    }

    /// From a Checkout Session's or invoice's optional fields.
    pub fn of(amount: Option<i64>, currency: Option<&'a str>) -> Option<Self> {
        Some(Money::new(amount?, currency?))
    }
}

/// Stripe's zero-decimal currencies: the amount is in whole units.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

impl fmt::Display for Money<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.currency.trim().to_uppercase();
        if ZERO_DECIMAL.contains(&self.currency.trim().to_lowercase().as_str()) {
            return write!(f, "{} {code}", self.amount);
        }
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        write!(f, "{sign}{}.{:02} {code}", abs / 100, abs % 100)
    }
}

fn provider_name(provider: BookingProvider) -> &'static str {
    match provider {
        BookingProvider::Cal => "Cal.com",
        BookingProvider::Calendly => "Calendly",
    }
}

const WHEN: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short] [day padding:none] [month repr:short] [hour]:[minute] UTC"
);

/// `Tue 9 Dec 10:00 UTC`: a demo is days or weeks away, and the weekday names the week.
fn when(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(WHEN)
        .unwrap_or_else(|_| crate::domain::time_format::to_sortable(at))
}

/// A company name from outside, on one line (an alert is one line).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where a function's alerts go: the team's topic, or nowhere.
#[derive(Debug, Clone, Default)]
pub struct TeamAlerts {
    topic: Option<Topic>,
}

#[derive(Debug, Clone)]
struct Topic {
    client: aws_sdk_sns::Client,
    arn: String,
}

impl TeamAlerts {
    /// No topic: alerts are dropped (tests that do not look at them; local runs without it).
    pub fn off() -> Self {
        TeamAlerts::default()
    }

    pub fn to_topic(client: aws_sdk_sns::Client, arn: impl Into<String>) -> Self {
        TeamAlerts {
            topic: Some(Topic {
                client,
                arn: arn.into(),
            }),
        }
    }

    /// The topic named by `arn` (the function's [`TOPIC_ENV`]), reached with the function's
    /// AWS configuration (its timeouts); off when `arn` is empty or absent.
    pub fn from_config(sdk: &aws_config::SdkConfig, arn: Option<&str>) -> Self {
        match arn.map(str::trim).filter(|a| !a.is_empty()) {
            Some(arn) => TeamAlerts::to_topic(aws_sdk_sns::Client::new(sdk), arn),
            None => TeamAlerts::off(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.topic.is_some()
    }

    /// Publishes the alert; whether it was published. Never fails the caller: a failure is
    /// logged at ERROR (the line masked) with the metric `AlertNotSent`.
    pub async fn send(&self, alert: &Alert) -> bool {
        let Some(topic) = &self.topic else {
            tracing::debug!(
                kind = alert.kind.as_str(),
                "no team alerts topic; alert not sent"
            );
            return false;
        };
        let sent = topic
            .client
            .publish()
            .topic_arn(&topic.arn)
            .subject(alert.kind.title())
            .message_structure("json")
            .message(alert.sns_message())
            .send()
            .await;
        match sent {
            Ok(output) => {
                tracing::info!(kind = alert.kind.as_str(), message_id = output.message_id().unwrap_or(""), alert = %alert.masked(), "team alert sent");
                true
            }
            Err(e) => {
                tracing::error!(kind = alert.kind.as_str(), alert = %alert.masked(), error = %aws_sdk_sns::error::DisplayErrorContext(&e), "team alert not sent; the event is recorded");
                emit_count_metric("AlertNotSent", &[("kind", alert.kind.as_str())]);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ada() -> EmailAddress {
        EmailAddress::parse("ada@example.com").unwrap()
    }

    #[test]
    fn each_kind_is_one_readable_line() {
        let ada = ada();
        let start = datetime!(2025-12-09 21:00 +11:00);
        let spot = SpotNumber::new(4).unwrap();
        let lines = [
            Alert::demo_booked(Person::new(&ada, Some("Acme")), BookingProvider::Cal, start),
            Alert::demo_cancelled(Person::new(&ada, None), BookingProvider::Calendly, start),
            Alert::founding_member_joined(
                Person::new(&ada, Some("Acme")),
                spot,
                Some(Money::new(2900, "aud")),
            ),
            Alert::payment_received(
                Person::new(&ada, None),
                Some(Money::new(4900, "aud")),
                "standard plan checkout; deal won",
            ),
            Alert::payment_failed(
                Person {
                    email: None,
                    company: None,
                    customer: Some("cus_123"),
                },
                Some(Money::new(2900, "aud")),
                "invoice in_1, attempt 2",
            ),
        ]
        .map(|a| a.line().to_owned());
        assert_eq!(
            lines,
            [
                "Demo booked: ada@example.com (Acme) on Cal.com for Tue 9 Dec 10:00 UTC",
                "Demo cancelled: ada@example.com on Calendly, was Tue 9 Dec 10:00 UTC",
                "Founding member joined: ada@example.com (Acme) took founding spot 4 of 20, paid 29.00 AUD",
                "Payment received: ada@example.com paid 49.00 AUD (standard plan checkout; deal won)",
                "Payment failed: Stripe customer cus_123, 29.00 AUD (invoice in_1, attempt 2)",
            ]
        );
        for line in lines {
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn a_company_from_outside_stays_on_one_line() {
        let ada = ada();
        let alert = Alert::demo_booked(
            Person::new(&ada, Some(" Acme\nPty\tLtd ")),
            BookingProvider::Cal,
            datetime!(2025-12-09 10:00 UTC),
        );
        assert_eq!(
            alert.line(),
            "Demo booked: ada@example.com (Acme Pty Ltd) on Cal.com for Tue 9 Dec 10:00 UTC"
        );
    }

    #[test]
    fn amounts_follow_the_currency() {
        assert_eq!(Money::new(2900, "aud").to_string(), "29.00 AUD");
        assert_eq!(Money::new(5, "usd").to_string(), "0.05 USD");
        assert_eq!(Money::new(3000, "jpy").to_string(), "3000 JPY");
        assert_eq!(Money::new(-150, "eur").to_string(), "-1.50 EUR");
        assert!(Money::of(Some(1), None).is_none());
    }

    #[test]
    fn logs_see_the_line_masked_and_sns_gets_it_for_email_and_chatbot() {
        let ada = ada();
        let alert = Alert::founding_member_joined(
            Person::new(&ada, None),
            SpotNumber::new(1).unwrap(),
            None,
        );
        assert_eq!(
            alert.masked(),
            "Founding member joined: a***@example.com took founding spot 1 of 20"
        );
        assert!(!format!("{alert:?}").contains("ada@"));
        let message: serde_json::Value = serde_json::from_str(&alert.sns_message()).unwrap();
        assert_eq!(message["default"], alert.line());
        assert_eq!(message["email"], alert.line());
        let chatbot: serde_json::Value =
            serde_json::from_str(message["https"].as_str().unwrap()).unwrap();
        assert_eq!(chatbot["version"], "1.0");
        assert_eq!(chatbot["source"], "custom");
        assert_eq!(chatbot["content"]["description"], alert.line());
        assert_eq!(chatbot["content"]["title"], "Founding member joined");
    }

    #[tokio::test]
    async fn without_a_topic_nothing_is_sent() {
        let alerts = TeamAlerts::off();
        assert!(!alerts.is_on());
        let ada = ada();
        let alert = Alert::payment_received(Person::new(&ada, None), None, "test");
        assert!(!alerts.send(&alert).await);
    }
}
