//! Deals moving through the pipeline: the record, its history and the by-stage summary change
//! together in one transaction.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;

use super::codec::{n, parse_s, s, Item, UpdateExpr};
use super::leads::pipeline_attributes;
use super::table::{keys, PK, SK};
use super::{backoff, cancellation_codes, SalesStore, StoreError, CONDITION_FAILED, MAX_ATTEMPTS};
use crate::domain::time_format;
use crate::domain::{
    apply_update, summary_deltas, Cause, Lead, LeadId, PipelineStage, PipelineUpdate, StageChange,
    StageKept, StageSummary, SummaryDelta,
};

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

/// What an update did to a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineChange {
    /// The lead as it is now.
    pub lead: Lead,
    /// The history entry written, when the stage changed.
    pub stage_change: Option<StageChange>,
    /// Why a requested stage move was not applied.
    pub stage_kept: Option<StageKept>,
    /// Whether anything was written.
    pub written: bool,
}

/// More to write with a change to a deal, in the same transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeadExtras {
    pub sets: Vec<(&'static str, Option<AttributeValue>)>,
    pub items: Vec<TransactWriteItem>,
}

impl LeadExtras {
    fn is_empty(&self) -> bool {
        self.sets.is_empty() && self.items.is_empty()
    }
}

fn attr(stage: PipelineStage, what: &str) -> String {
    format!("{}_{what}", stage.as_str())
}

/// The summary item's update for a set of deltas (ADD only, so concurrent changes commute).
pub(crate) fn summary_update(table: &str, deltas: &[SummaryDelta]) -> Result<Update, StoreError> {
    let mut expr = UpdateExpr::default();
    for delta in deltas {
        expr.add(&attr(delta.stage, "count"), n(delta.count));
        expr.add(&attr(delta.stage, "value"), n(delta.value));
        expr.add(&attr(delta.stage, "weighted"), n(delta.weighted));
    }
    let (expression, names, values) = expr.build();
    Update::builder()
        .table_name(table)
        .key(PK, s(keys::SUMMARY_PK))
        .key(SK, s(keys::SUMMARY_SK))
        .update_expression(expression)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| StoreError::Rejected(e.to_string()))
}

fn decode_summary(item: Option<&Item>) -> Result<PipelineSummary, StoreError> {
    let number = |stage: PipelineStage, what: &str| -> Result<Decimal, StoreError> {
        match item {
            Some(item) => {
                Ok(super::codec::opt_n::<Decimal>(item, &attr(stage, what))?.unwrap_or_default())
            }
            None => Ok(Decimal::ZERO),
        }
    };
    let stages = PipelineStage::ALL
        .into_iter()
        .map(|stage| {
            let count = match item {
                Some(item) => super::codec::opt_n::<i64>(item, &attr(stage, "count"))?.unwrap_or(0),
                None => 0,
            };
            Ok(StageSummary {
                stage,
                count,
                total_value_aud: number(stage, "value")?.normalize(),
                weighted_value_aud: number(stage, "weighted")?.normalize(),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(PipelineSummary { stages })
}

pub(crate) fn decode_history(item: &Item) -> Result<StageChange, StoreError> {
    Ok(StageChange {
        from: parse_s(item, "from", str::parse)?,
        to: parse_s(item, "to", str::parse)?,
        at: parse_s(item, "at", time_format::parse)?,
        cause: Cause::from_stored(super::codec::get_s(item, "cause")?.to_owned()),
        set_by: parse_s(item, "set_by", str::parse)?,
    })
}

impl SalesStore {
    /// Applies an update to a deal: writes the record, appends the history entry when the stage
    /// changes, and moves the deal's share of the summary, all in one transaction conditioned on
    /// the version read.
    ///
    /// With `expected_version` (a person editing what they saw) a stale version is an error,
    /// [`StoreError::VersionConflict`]. Without it (a webhook) a concurrent change is re-read and
    /// the rules decided again, a bounded number of times.
    pub async fn update_pipeline(
        &self,
        id: &LeadId,
        update: &PipelineUpdate,
        cause: &Cause,
        expected_version: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<PipelineChange, StoreError> {
        self.update_pipeline_with(
            id,
            update,
            cause,
            expected_version,
            now,
            &LeadExtras::default(),
        )
        .await
    }

    /// [`SalesStore::update_pipeline`], with more attributes set on the lead and more items
    /// written in the same transaction (billing ids from a payment, a customer index entry).
    pub(crate) async fn update_pipeline_with(
        &self,
        id: &LeadId,
        update: &PipelineUpdate,
        cause: &Cause,
        expected_version: Option<u64>,
        now: OffsetDateTime,
        extras: &LeadExtras,
    ) -> Result<PipelineChange, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            let lead = self.lead(id).await?.ok_or(StoreError::LeadNotFound)?;
            if let Some(expected) = expected_version {
                if expected != lead.version {
                    return Err(StoreError::VersionConflict {
                        current: lead.version,
                    });
                }
            }
            let outcome = apply_update(&lead.pipeline, update, cause, now);
            if !outcome.changes(&lead.pipeline) && extras.is_empty() {
                return Ok(PipelineChange {
                    lead,
                    stage_change: None,
                    stage_kept: outcome.stage_kept,
                    written: false,
                });
            }
            let next_version = lead.version + 1;
            let mut items = self.lead_change_items(
                &lead,
                &outcome.record,
                outcome.stage_change.as_ref(),
                next_version,
                now,
                &extras.sets,
            )?;
            items.extend(extras.items.iter().cloned());
            let mut request = self.client.transact_write_items();
            for item in items {
                request = request.transact_items(item);
            }
            match request.send().await {
                Ok(_) => {
                    let stage_change = outcome.stage_change;
                    return Ok(PipelineChange {
                        lead: Lead {
                            pipeline: outcome.record,
                            version: next_version,
                            ..lead
                        },
                        stage_change,
                        stage_kept: outcome.stage_kept,
                        written: true,
                    });
                }
                Err(err) => match cancellation_codes(&err) {
                    Some(codes) => {
                        let lead_changed =
                            codes.first().map(String::as_str) == Some(CONDITION_FAILED);
                        if lead_changed && expected_version.is_some() {
                            let current =
                                self.lead(id).await?.map_or(lead.version + 1, |l| l.version);
                            return Err(StoreError::VersionConflict { current });
                        }
                        if !lead_changed {
                            backoff(attempt).await;
                        }
                    }
                    None => return Err(StoreError::from_sdk(err)),
                },
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    /// The writes of one change to a deal: the lead (conditioned on its version), the history
    /// entry (if the stage changed) and the summary (if the deal's share of it moved).
    /// The lead item is always first, so that a cancellation's first reason is about it.
    pub(crate) fn lead_change_items(
        &self,
        lead: &Lead,
        record: &crate::domain::PipelineRecord,
        stage_change: Option<&StageChange>,
        next_version: u64,
        now: OffsetDateTime,
        extra_sets: &[(&'static str, Option<AttributeValue>)],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let rejected = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Rejected(e.to_string());
        let mut expr = UpdateExpr::default();
        for (name, value) in pipeline_attributes(&lead.id, record) {
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
            .map_err(rejected)?;
        let mut items = vec![TransactWriteItem::builder().update(lead_update).build()];
        if let Some(change) = stage_change {
            items.push(self.history_put(&lead.id, next_version, change)?);
        }
        let deltas = summary_deltas(Some(&lead.pipeline), record);
        if !deltas.is_empty() {
            items.push(
                TransactWriteItem::builder()
                    .update(summary_update(self.table_name(), &deltas)?)
                    .build(),
            );
        }
        Ok(items)
    }

    /// A deal's history entry for the stage change that made its lead `version`.
    pub(crate) fn history_put(
        &self,
        id: &LeadId,
        version: u64,
        change: &StageChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let history = Put::builder()
            .table_name(self.table_name())
            .item(PK, s(keys::lead(id)))
            .item(SK, s(keys::history_sk(version)))
            .item("entity", s("stage_change"))
            .item("from", s(change.from.as_str()))
            .item("to", s(change.to.as_str()))
            .item("at", s(time_format::to_sortable(change.at)))
            .item("cause", s(change.cause.as_str()))
            .item("set_by", s(change.set_by.as_str()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(history).build())
    }

    /// The summary by stage: one GetItem, never a scan.
    pub async fn pipeline_summary(&self) -> Result<PipelineSummary, StoreError> {
        let found = self.get(keys::SUMMARY_PK, keys::SUMMARY_SK).await?;
        decode_summary(found.as_ref())
    }

    /// Every stage change of a deal, oldest first.
    pub async fn stage_history(&self, id: &LeadId) -> Result<Vec<StageChange>, StoreError> {
        self.query_prefix(&keys::lead(id), keys::HISTORY_PREFIX)
            .await?
            .iter()
            .map(decode_history)
            .collect()
    }
}
