//! The pipeline summary: count, total and weighted value per stage, moved by every change to a
//! deal in that change's own write, and read in one request.
//!
//! It is kept in [`SUMMARY_SHARDS`] items (`PIPELINE/SUMMARY#00` … `#15`), not one. Every new
//! lead's transaction moves the summary, and DynamoDB cancels a transaction that touches an item
//! another running transaction holds (`TransactionConflict`): with one summary item, a launch-day
//! burst of new visitors queued on it and ran out of retries (seen under the local rules layer,
//! `infra/local/aws_rules.py`: 200 simultaneous founding checkouts gave up after 12 attempts).
//! Each change adds its deltas (ADD only, so changes commute) to one shard picked at random, so
//! concurrent changes rarely meet; the summary is the sum of the shards, read with one Query of
//! the `PIPELINE` partition's `SUMMARY` keys (strongly consistent), and stays exactly equal to a
//! recount. A table written before the shards has a `PIPELINE/SUMMARY` item: the same Query reads
//! it and adds it in, so nothing needs migrating.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use rust_decimal::Decimal;
use serde::Serialize;

use super::codec::{n, opt_n, s, Item, UpdateExpr};
use super::table::{keys, PK, SK};
use super::write::{Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::{Lead, PipelineStage, StageSummary, SummaryDelta};

/// The pipeline by stage (the seed's `sales_pipeline_summary`), every stage in funnel order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineSummary {
    pub stages: Vec<StageSummary>,
}

impl PipelineSummary {
    pub fn stage(&self, stage: PipelineStage) -> Option<&StageSummary> {
        self.stages.iter().find(|line| line.stage == stage)
    }

    /// Adds up deals one by one: what the stored summary must always equal.
    pub fn recount<'a>(leads: impl IntoIterator<Item = &'a Lead>) -> Self {
        let mut stages: Vec<StageSummary> = PipelineStage::ALL
            .into_iter()
            .map(|stage| StageSummary {
                stage,
                count: 0,
                total_value_aud: Decimal::ZERO,
                weighted_value_aud: Decimal::ZERO,
            })
            .collect();
        for lead in leads {
            if let Some(line) = stages
                .iter_mut()
                .find(|line| line.stage == lead.pipeline.stage)
            {
                line.count += 1;
                line.total_value_aud += lead.pipeline.deal_value_aud.amount();
                line.weighted_value_aud += lead.pipeline.weighted_value();
            }
        }
        for line in &mut stages {
            line.total_value_aud = line.total_value_aud.normalize();
            line.weighted_value_aud = line.weighted_value_aud.normalize();
        }
        PipelineSummary { stages }
    }
}

/// How many items the summary is spread over (see the module's documentation).
pub const SUMMARY_SHARDS: u32 = 16;

/// One shard's sort key, picked at random for each change.
fn random_shard() -> String {
    let shard = (uuid::Uuid::new_v4().as_u128() % u128::from(SUMMARY_SHARDS)) as u32;
    format!("{}#{shard:02}", keys::SUMMARY_SK)
}

fn attr(stage: PipelineStage, what: &str) -> String {
    format!("{}_{what}", stage.as_str())
}

/// Adds the summary's share of a change to a random shard (ADD only, so concurrent changes
/// commute; nothing when the deltas are empty).
pub(crate) fn summary_part(
    write: &mut Write,
    table: &str,
    deltas: &[SummaryDelta],
) -> Result<(), StoreError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let mut expr = UpdateExpr::default();
    for delta in deltas {
        expr.add(&attr(delta.stage, "count"), n(delta.count));
        expr.add(&attr(delta.stage, "value"), n(delta.value));
        expr.add(&attr(delta.stage, "weighted"), n(delta.weighted));
    }
    let (expression, names, values) = expr.build();
    let update = Update::builder()
        .table_name(table)
        .key(PK, s(keys::SUMMARY_PK))
        .key(SK, s(random_shard()))
        .update_expression(expression)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| StoreError::Rejected(e.to_string()))?;
    write.push(
        Part::Summary,
        TransactWriteItem::builder().update(update).build(),
    );
    Ok(())
}

fn decode_summary(items: &[Item]) -> Result<PipelineSummary, StoreError> {
    let stages = PipelineStage::ALL
        .into_iter()
        .map(|stage| {
            let mut line = StageSummary {
                stage,
                count: 0,
                total_value_aud: Decimal::ZERO,
                weighted_value_aud: Decimal::ZERO,
            };
            for item in items {
                line.count += opt_n::<i64>(item, &attr(stage, "count"))?.unwrap_or(0);
                line.total_value_aud +=
                    opt_n::<Decimal>(item, &attr(stage, "value"))?.unwrap_or_default();
                line.weighted_value_aud +=
                    opt_n::<Decimal>(item, &attr(stage, "weighted"))?.unwrap_or_default();
            }
            line.total_value_aud = line.total_value_aud.normalize();
            line.weighted_value_aud = line.weighted_value_aud.normalize();
            Ok(line)
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(PipelineSummary { stages })
}

impl SalesStore {
    /// The summary by stage: one Query of the summary's shards (at most 16 small items), never
    /// a scan.
    pub async fn pipeline_summary(&self) -> Result<PipelineSummary, StoreError> {
        let shards = self
            .query_prefix(keys::SUMMARY_PK, keys::SUMMARY_SK)
            .await?;
        decode_summary(&shards)
    }
}
