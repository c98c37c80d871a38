//! The pipeline summary item (`PIPELINE/SUMMARY`): count, total and weighted value per stage,
//! moved by every change to a deal in that change's own write, and read in one GetItem.

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

fn attr(stage: PipelineStage, what: &str) -> String {
    format!("{}_{what}", stage.as_str())
}

/// Adds the summary's share of a change (ADD only, so concurrent changes commute; nothing when
/// the deltas are empty).
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
        .key(SK, s(keys::SUMMARY_SK))
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

fn decode_summary(item: Option<&Item>) -> Result<PipelineSummary, StoreError> {
    let stages = PipelineStage::ALL
        .into_iter()
        .map(|stage| {
            let (count, value, weighted) = match item {
                Some(item) => (
                    opt_n::<i64>(item, &attr(stage, "count"))?.unwrap_or(0),
                    opt_n::<Decimal>(item, &attr(stage, "value"))?.unwrap_or_default(),
                    opt_n::<Decimal>(item, &attr(stage, "weighted"))?.unwrap_or_default(),
                ),
                None => (0, Decimal::ZERO, Decimal::ZERO),
            };
            Ok(StageSummary {
                stage,
                count,
                total_value_aud: value.normalize(),
                weighted_value_aud: weighted.normalize(),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(PipelineSummary { stages })
}

impl SalesStore {
    /// The summary by stage: one GetItem, never a scan.
    pub async fn pipeline_summary(&self) -> Result<PipelineSummary, StoreError> {
        let found = self.get(keys::SUMMARY_PK, keys::SUMMARY_SK).await?;
        decode_summary(found.as_ref())
    }
}
