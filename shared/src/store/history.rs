//! Stage history entries (`LEAD#<id>/HISTORY#<version>`): one per applied stage change, written
//! in the change's own write, never overwritten; read with the deal in full (`deals`).

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::codec::{get_s, parse_s, s, Item};
use super::table::{keys, PK, SK};
use super::write::{Part, Write};
use super::StoreError;
use crate::domain::time_format;
use crate::domain::{Cause, LeadId, StageChange};

/// Adds the history entry for the stage change that made lead `id` version `version`.
pub(crate) fn history_part(
    write: &mut Write,
    table: &str,
    id: &LeadId,
    version: u64,
    change: &StageChange,
) -> Result<(), StoreError> {
    let history = Put::builder()
        .table_name(table)
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
    write.push(
        Part::History,
        TransactWriteItem::builder().put(history).build(),
    );
    Ok(())
}

pub(crate) fn decode_history(item: &Item) -> Result<StageChange, StoreError> {
    Ok(StageChange {
        from: parse_s(item, "from", str::parse)?,
        to: parse_s(item, "to", str::parse)?,
        at: parse_s(item, "at", time_format::parse)?,
        cause: Cause::from_stored(get_s(item, "cause")?.to_owned()),
        set_by: parse_s(item, "set_by", str::parse)?,
    })
}
