//! The waitlist offer e-mail, sent through Amazon SES (v2 `SendEmail` with the stack's template,
//! `OfferTemplate` in infra/template.yaml). Locally the same SDK call reaches the local AWS
//! server, which keeps what it sent (`GET /_local/sent?service=ses`).

use aws_sdk_sesv2::types::{Destination, EmailContent, Template};
use serde_json::json;
use url::Url;

use crate::domain::{time_format, OfferToken};
use crate::lambda::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the offer e-mail is not configured: {0} is missing")]
    NotConfigured(&'static str),
    #[error("SES refused or did not answer: {0}")]
    Ses(String),
}

/// Everything an offer e-mail needs: SES, the sender, the template, the link and its key.
#[derive(Debug, Clone)]
pub struct OfferMailer {
    client: aws_sdk_sesv2::Client,
    sender: String,
    template: String,
    link_base: Url,
    key: Secret,
}

impl OfferMailer {
    pub fn new(
        client: aws_sdk_sesv2::Client,
        sender: Option<String>,
        template: Option<String>,
        link_base: Option<Url>,
        key: Option<Secret>,
    ) -> Result<Self, MailError> {
        Ok(OfferMailer {
            client,
            sender: sender.ok_or(MailError::NotConfigured("OFFER_SENDER"))?,
            template: template.ok_or(MailError::NotConfigured("OFFER_TEMPLATE"))?,
            link_base: link_base.ok_or(MailError::NotConfigured("OFFER_LINK_BASE"))?,
            key: key.ok_or(MailError::NotConfigured("OFFER_SIGNING_KEY"))?,
        })
    }

    /// The link that starts the offered person's founding checkout: the landing page with the
    /// signed offer (`?offer=<token>`).
    pub fn link(&self, offer: &OfferToken) -> String {
        let mut url = self.link_base.clone();
        url.query_pairs_mut()
            .append_pair("offer", &offer.sign(self.key.expose().as_bytes()));
        url.to_string()
    }

    /// Sends the offer to its e-mail; SES's message id.
    pub async fn send(&self, offer: &OfferToken) -> Result<String, MailError> {
        let data = json!({
            "spot": offer.spot.get(),
            "until": time_format::to_sortable(offer.until),
            "link": self.link(offer),
        });
        let sent = self
            .client
            .send_email()
            .from_email_address(&self.sender)
            .destination(
                Destination::builder()
                    .to_addresses(offer.email.as_str())
                    .build(),
            )
            .content(
                EmailContent::builder()
                    .template(
                        Template::builder()
                            .template_name(&self.template)
                            .template_data(data.to_string())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                MailError::Ses(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(sent.message_id().unwrap_or_default().to_owned())
    }
}
