//! Changing a deal: the lead item, its history entry and the summary, in one write conditioned
//! on the version read.

use time::OffsetDateTime;

use super::write::{Attempts, Outcome, Part, Write};
use super::{SalesStore, StoreError};
use crate::domain::{apply_update, Cause, Lead, LeadId, PipelineUpdate, StageChange, StageKept};

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

impl SalesStore {
    /// Applies an update to a deal: writes the record, appends the history entry when the stage
    /// changes, and moves the deal's share of the summary, all in one write conditioned on the
    /// version read.
    ///
    /// With `expected_version` (a person editing what they saw) a stale version is an error,
    /// [`StoreError::VersionConflict`]. Without it, a concurrent change is read again and the
    /// rules decided again.
    pub async fn update_pipeline(
        &self,
        id: &LeadId,
        update: &PipelineUpdate,
        cause: &Cause,
        expected_version: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<PipelineChange, StoreError> {
        let mut attempts = Attempts::new("update_pipeline");
        loop {
            attempts.next().await?;
            let lead = self.lead(id).await?.ok_or(StoreError::LeadNotFound)?;
            if let Some(expected) = expected_version {
                if expected != lead.version {
                    return Err(StoreError::VersionConflict {
                        current: lead.version,
                    });
                }
            }
            let outcome = apply_update(&lead.pipeline, update, cause, now);
            if !outcome.changes(&lead.pipeline) {
                return Ok(PipelineChange {
                    lead,
                    stage_change: None,
                    stage_kept: outcome.stage_kept,
                    written: false,
                });
            }
            let mut write = Write::new();
            let version = self.lead_change_parts(&mut write, &lead, &outcome, now, &[])?;
            match self.write(&mut attempts, &write).await? {
                Outcome::Written => {
                    return Ok(PipelineChange {
                        lead: Lead {
                            pipeline: outcome.record,
                            version,
                            ..lead
                        },
                        stage_change: outcome.stage_change,
                        stage_kept: outcome.stage_kept,
                        written: true,
                    });
                }
                // The lead changed since it was read: the person's edit is stale; a webhook's
                // is decided again on the next attempt's read.
                Outcome::Failed(failed) if failed.has(Part::Lead) => {
                    if expected_version.is_some() {
                        let current = self.lead(id).await?.map_or(version, |l| l.version);
                        return Err(StoreError::VersionConflict { current });
                    }
                }
                Outcome::Failed(failed) => {
                    return Err(StoreError::Rejected(format!(
                        "a deal change failed {:?}",
                        failed.names()
                    )))
                }
                Outcome::Retry(_) => {}
                Outcome::Duplicate | Outcome::InProgress => {
                    return Err(StoreError::Rejected("a deal change has no delivery".into()))
                }
            }
        }
    }
}
