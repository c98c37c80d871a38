//! The lead item (`LEAD#<id>/LEAD`) and its e-mail item (`EMAIL#<email>/EMAIL`): how a lead is
//! stored, created and changed, all in this one module. Leads are found or created by e-mail and
//! read by id.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::codec::{get_n, n, opt_n, opt_s, parse_opt_s, parse_s, s, Item, UpdateExpr};
use super::history::history_part;
use super::summary::summary_part;
use super::table::{keys, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK, PK, SK};
use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::time_format;

/// The lead item's record of its open standard-plan Checkout Session.
pub(crate) const STANDARD_SESSION_ID: &str = "standard_session_id";
pub(crate) const STANDARD_SESSION_URL: &str = "standard_session_url";
pub(crate) const STANDARD_SESSION_EXPIRES: &str = "standard_session_expires_at";
use crate::domain::{
    summary_deltas, DealValue, EmailAddress, Lead, LeadBilling, LeadId, LeadRef, NewLead,
    OpenSession, PipelineRecord, Probability, UpdateOutcome,
};

/// More attributes to set (or, with `None`, remove) on a lead item in the same write.
pub(crate) type LeadSets = [(&'static str, Option<AttributeValue>)];

/// The version a lead is created at.
pub(crate) const NEW_LEAD_VERSION: u64 = 1;

/// The pipeline attributes of a lead item, and their index keys.
fn pipeline_attributes(
    id: &LeadId,
    record: &PipelineRecord,
) -> Vec<(&'static str, Option<AttributeValue>)> {
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
        Some(AttributeValue::N(raw)) => {
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
    /// created in the same write as the lead, on the condition that it does not exist.
    pub async fn find_or_create_lead(
        &self,
        new: &NewLead,
        now: OffsetDateTime,
    ) -> Result<LeadRef, StoreError> {
        let mut attempts = Attempts::new("find_or_create_lead");
        loop {
            attempts.next().await?;
            if let Some(id) = self.lead_id_by_email(&new.email).await? {
                return Ok(LeadRef {
                    id,
                    email: new.email.clone(),
                    created: false,
                });
            }
            let id = LeadId::generate();
            let mut write = Write::new();
            self.new_lead_parts(
                &mut write,
                new,
                &id,
                &PipelineRecord::new_prospect(),
                now,
                &[],
            )?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => {
                    return Ok(LeadRef {
                        id,
                        email: new.email.clone(),
                        created: true,
                    })
                }
                // Someone created this e-mail's lead first: the next attempt reads theirs.
                Outcome::Failed(_) | Outcome::Retry(_) => {}
                Outcome::Duplicate | Outcome::InProgress => {
                    return Err(StoreError::Rejected("a lead write has no delivery".into()))
                }
            }
        }
    }

    /// Adds the parts that create a lead with its deal at `record`: the e-mail item (on the
    /// condition that the e-mail has no lead yet), the lead item (version 1) with `extra_sets`,
    /// and the lead's share of the summary.
    pub(crate) fn new_lead_parts(
        &self,
        write: &mut Write,
        new: &NewLead,
        id: &LeadId,
        record: &PipelineRecord,
        now: OffsetDateTime,
        extra_sets: &LeadSets,
    ) -> Result<(), StoreError> {
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
            .item(GSI3_PK, s(keys::email(&new.email)))
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
        write.push(
            Part::Email,
            TransactWriteItem::builder().put(email_item).build(),
        );
        write.push(
            Part::Lead,
            TransactWriteItem::builder().put(lead_item).build(),
        );
        summary_part(write, self.table_name(), &summary_deltas(None, record))
    }

    /// Adds the parts that create a lead whose first deal change is `outcome` (decided for a
    /// new prospect): the lead at `outcome.record`, and the history entry of its stage change.
    pub(crate) fn new_lead_with_change(
        &self,
        write: &mut Write,
        new: &NewLead,
        id: &LeadId,
        outcome: &UpdateOutcome,
        now: OffsetDateTime,
        extra_sets: &LeadSets,
    ) -> Result<(), StoreError> {
        self.new_lead_parts(write, new, id, &outcome.record, now, extra_sets)?;
        if let Some(change) = &outcome.stage_change {
            history_part(write, self.table_name(), id, NEW_LEAD_VERSION, change)?;
        }
        Ok(())
    }

    /// Adds the parts of one change to a deal: the lead item at `lead.version + 1` (conditioned
    /// on `lead.version`) with `extra_sets`, the history entry (if the stage changed) and the
    /// summary (if the deal's share of it moved). Returns the new version.
    pub(crate) fn lead_change_parts(
        &self,
        write: &mut Write,
        lead: &Lead,
        outcome: &UpdateOutcome,
        now: OffsetDateTime,
        extra_sets: &LeadSets,
    ) -> Result<u64, StoreError> {
        let next_version = lead.version + 1;
        let mut expr = UpdateExpr::default();
        for (name, value) in pipeline_attributes(&lead.id, &outcome.record) {
            expr.set_opt(name, value);
        }
        for (name, value) in extra_sets {
            expr.set_opt(name, value.clone());
        }
        expr.set("version", n(next_version));
        expr.set("updated_at", s(time_format::to_sortable(now)));
        let version_name = expr.name("version");
        let version_value = expr.value(n(lead.version));
        let (expression, names, values) = expr.build();
        let lead_update = Update::builder()
            .table_name(self.table_name())
            .key(PK, s(keys::lead(&lead.id)))
            .key(SK, s(keys::LEAD_SK))
            .update_expression(expression)
            .condition_expression(format!("{version_name} = {version_value}"))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        write.push(
            Part::Lead,
            TransactWriteItem::builder().update(lead_update).build(),
        );
        if let Some(change) = &outcome.stage_change {
            history_part(write, self.table_name(), &lead.id, next_version, change)?;
        }
        summary_part(
            write,
            self.table_name(),
            &summary_deltas(Some(&lead.pipeline), &outcome.record),
        )?;
        Ok(next_version)
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

    /// The lead's standard-plan Checkout Session, if one is recorded and still payable at `now`
    /// (one payable session per lead and plan: a repeat checkout gets it back).
    pub async fn open_standard_session(
        &self,
        id: &LeadId,
        now: OffsetDateTime,
    ) -> Result<Option<OpenSession>, StoreError> {
        let Some(item) = self.get(keys::lead(id), keys::LEAD_SK).await? else {
            return Ok(None);
        };
        let (Some(session), Some(url), Some(expires)) = (
            opt_s(&item, STANDARD_SESSION_ID)?,
            opt_s(&item, STANDARD_SESSION_URL)?,
            opt_n::<i64>(&item, STANDARD_SESSION_EXPIRES)?,
        ) else {
            return Ok(None);
        };
        let expires_at = time_format::from_unix(expires)
            .ok_or_else(|| StoreError::Corrupt("standard session expiry out of range".into()))?;
        Ok((expires_at > now).then(|| OpenSession {
            id: session.to_owned(),
            url: url.to_owned(),
            expires_at,
        }))
    }

    /// Records the lead's standard-plan Checkout Session (the lead's other attributes, and its
    /// version, are left alone; a payment clears it).
    pub async fn record_standard_session(
        &self,
        id: &LeadId,
        session: &OpenSession,
    ) -> Result<(), StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set(STANDARD_SESSION_ID, s(&session.id))
            .set(STANDARD_SESSION_URL, s(&session.url))
            .set(
                STANDARD_SESSION_EXPIRES,
                n(session.expires_at.unix_timestamp()),
            );
        let (expression, names, values) = expr.build();
        let update = Update::builder()
            .table_name(self.table_name())
            .key(PK, s(keys::lead(id)))
            .key(SK, s(keys::LEAD_SK))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        let mut write = Write::new();
        write.push(
            Part::Lead,
            TransactWriteItem::builder().update(update).build(),
        );
        match self
            .write_once_decided("record_standard_session", &write)
            .await?
        {
            true => Ok(()),
            false => Err(StoreError::LeadNotFound),
        }
    }

    pub async fn lead_by_email(&self, email: &EmailAddress) -> Result<Option<Lead>, StoreError> {
        match self.lead_id_by_email(email).await? {
            Some(id) => self.lead(&id).await,
            None => Ok(None),
        }
    }
}
