//! Leads: found or created by e-mail, read by id.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use time::OffsetDateTime;

use super::codec::{get_n, n, opt_s, parse_opt_s, parse_s, s, Item};
use super::pipeline::summary_update;
use super::table::{keys, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, PK, SK};
use super::{backoff, cancellation_codes, SalesStore, StoreError, CONDITION_FAILED, MAX_ATTEMPTS};
use crate::domain::time_format;
use crate::domain::{
    summary_deltas, DealValue, EmailAddress, Lead, LeadBilling, LeadId, LeadRef, NewLead,
    PipelineRecord, Probability,
};

/// The version a lead is created at.
pub(crate) const NEW_LEAD_VERSION: u64 = 1;

/// The pipeline attributes of a lead item, and their index keys.
pub(crate) fn pipeline_attributes(
    id: &LeadId,
    record: &PipelineRecord,
) -> Vec<(
    &'static str,
    Option<aws_sdk_dynamodb::types::AttributeValue>,
)> {
    let due = keys::due_sort_key(record.next_action_date, id);
    vec![
        ("stage", Some(s(record.stage.as_str()))),
        ("stage_set_by", Some(s(record.stage_set_by.as_str()))),
        ("next_action", record.next_action.clone().map(s)),
        (
            "next_action_date",
            record
                .next_action_date
                .map(|d| s(time_format::to_sortable(d))),
        ),
        ("assigned_to", record.assigned_to.clone().map(s)),
        ("deal_value_aud", Some(n(record.deal_value_aud.amount()))),
        ("probability", Some(n(record.probability.percent()))),
        (GSI1_PK, Some(s(keys::stage_index(record.stage)))),
        (GSI1_SK, Some(s(due.clone()))),
        (
            GSI2_PK,
            record
                .assigned_to
                .as_deref()
                .map(|who| s(keys::assignee_index(who))),
        ),
        (GSI2_SK, record.assigned_to.as_ref().map(|_| s(due))),
    ]
}

pub(crate) fn decode_lead(item: &Item) -> Result<Lead, StoreError> {
    let pipeline = PipelineRecord {
        stage: parse_s(item, "stage", str::parse)?,
        stage_set_by: parse_s(item, "stage_set_by", str::parse)?,
        next_action: opt_s(item, "next_action")?.map(str::to_owned),
        next_action_date: parse_opt_s(item, "next_action_date", time_format::parse)?,
        assigned_to: opt_s(item, "assigned_to")?.map(str::to_owned),
        deal_value_aud: parse_s_number(item, "deal_value_aud", DealValue::parse)?,
        probability: Probability::new(get_n(item, "probability")?)
            .map_err(|e| StoreError::Corrupt(format!("probability: {e}")))?,
    };
    Ok(Lead {
        id: parse_s(item, "lead_id", LeadId::parse)?,
        email: parse_s(item, "email", EmailAddress::parse)?,
        name: opt_s(item, "name")?.map(str::to_owned),
        company: opt_s(item, "company")?.map(str::to_owned),
        source: parse_s(item, "source", str::parse)?,
        created_at: parse_s(item, "created_at", time_format::parse)?,
        pipeline,
        billing: LeadBilling {
            stripe_customer_id: opt_s(item, "stripe_customer_id")?.map(str::to_owned),
            stripe_subscription_id: opt_s(item, "stripe_subscription_id")?.map(str::to_owned),
            plan_type: opt_s(item, "plan_type")?.map(str::to_owned),
            follow_up: opt_s(item, "follow_up")?.map(str::to_owned),
        },
        version: get_n(item, "version")?,
    })
}

/// Numbers are stored as DynamoDB numbers (exact decimals) and parsed from their text.
fn parse_s_number<T, E: std::fmt::Display>(
    item: &Item,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    match item.get(name) {
        Some(aws_sdk_dynamodb::types::AttributeValue::N(raw)) => {
            parse(raw).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
        }
        _ => Err(StoreError::Corrupt(format!(
            "{name} is missing or not a number"
        ))),
    }
}

impl SalesStore {
    /// Finds the lead with this e-mail, or creates it (a prospect) if there is none.
    /// Any number of callers racing on one e-mail all get the same lead: the e-mail item is
    /// created in the same transaction as the lead, on the condition that it does not exist.
    pub async fn find_or_create_lead(
        &self,
        new: &NewLead,
        now: OffsetDateTime,
    ) -> Result<LeadRef, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            if let Some(id) = self.lead_id_by_email(&new.email).await? {
                return Ok(LeadRef {
                    id,
                    email: new.email.clone(),
                    created: false,
                });
            }
            let id = LeadId::generate();
            let mut request = self.client.transact_write_items();
            for item in self.new_lead_items(new, &id, &PipelineRecord::new_prospect(), now, &[])? {
                request = request.transact_items(item);
            }
            let result = request.send().await;
            match result {
                Ok(_) => {
                    return Ok(LeadRef {
                        id,
                        email: new.email.clone(),
                        created: true,
                    })
                }
                Err(err) => match cancellation_codes(&err) {
                    // Someone created this e-mail's lead first: read theirs on the next turn.
                    Some(codes) if codes.first().map(String::as_str) == Some(CONDITION_FAILED) => {}
                    Some(_) => backoff(attempt).await,
                    None => return Err(StoreError::from_sdk(err)),
                },
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    /// The writes that create a lead with its deal at `record`: the e-mail item first (on the
    /// condition that the e-mail has no lead yet, so that a cancellation's first reason says
    /// so), the lead item (version 1) with `extra_sets`, and the lead's share of the summary.
    pub(crate) fn new_lead_items(
        &self,
        new: &NewLead,
        id: &LeadId,
        record: &PipelineRecord,
        now: OffsetDateTime,
        extra_sets: &[(
            &'static str,
            Option<aws_sdk_dynamodb::types::AttributeValue>,
        )],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let rejected = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Rejected(e.to_string());
        let email_item = Put::builder()
            .table_name(self.table_name())
            .item(PK, s(keys::email(&new.email)))
            .item(SK, s(keys::EMAIL_SK))
            .item("lead_id", s(id.as_str()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(rejected)?;
        let mut lead_item = Put::builder()
            .table_name(self.table_name())
            .item(PK, s(keys::lead(id)))
            .item(SK, s(keys::LEAD_SK))
            .item("entity", s("lead"))
            .item("lead_id", s(id.as_str()))
            .item("email", s(new.email.as_str()))
            .item("source", s(new.source.as_str()))
            .item("created_at", s(time_format::to_sortable(now)))
            .item("updated_at", s(time_format::to_sortable(now)))
            .item("version", n(NEW_LEAD_VERSION))
            .condition_expression("attribute_not_exists(pk)");
        for (name, value) in [("name", &new.name), ("company", &new.company)] {
            if let Some(value) = value {
                lead_item = lead_item.item(name, s(value.as_str()));
            }
        }
        for (name, value) in pipeline_attributes(id, record)
            .into_iter()
            .chain(extra_sets.iter().cloned())
        {
            if let Some(value) = value {
                lead_item = lead_item.item(name, value);
            }
        }
        let lead_item = lead_item.build().map_err(rejected)?;
        let summary = summary_update(self.table_name(), &summary_deltas(None, record))?;
        Ok(vec![
            TransactWriteItem::builder().put(email_item).build(),
            TransactWriteItem::builder().put(lead_item).build(),
            TransactWriteItem::builder().update(summary).build(),
        ])
    }

    /// The id of the lead with this e-mail, if there is one (strongly consistent).
    pub async fn lead_id_by_email(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<LeadId>, StoreError> {
        let found = self.get(keys::email(email), keys::EMAIL_SK).await?;
        found
            .as_ref()
            .map(|item| parse_s(item, "lead_id", LeadId::parse))
            .transpose()
    }

    /// A lead with its pipeline record (strongly consistent).
    pub async fn lead(&self, id: &LeadId) -> Result<Option<Lead>, StoreError> {
        let found = self.get(keys::lead(id), keys::LEAD_SK).await?;
        found.as_ref().map(decode_lead).transpose()
    }

    pub async fn lead_by_email(&self, email: &EmailAddress) -> Result<Option<Lead>, StoreError> {
        match self.lead_id_by_email(email).await? {
            Some(id) => self.lead(&id).await,
            None => Ok(None),
        }
    }
}
