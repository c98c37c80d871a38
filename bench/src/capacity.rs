//! DynamoDB capacity units, computed from the requests and items (moto reports none).
//!
//! DynamoDB's rules (on-demand and provisioned alike):
//! - reads: 1 RCU per 4 KB read, strongly consistent; 0.5 eventually consistent (global
//!   secondary indexes are always eventually consistent); a GetItem of a missing item still
//!   costs the minimum; a Query sums the sizes of every item it *evaluates* (before any
//!   FilterExpression) and rounds that total up to 4 KB once;
//! - writes: 1 WCU per 1 KB of the larger of the item before and after the write (minimum 1), a
//!   failed condition still costs the write; transactions cost 2× (prepare and commit);
//! - a global secondary index whose projected item changes costs 1 write of the new index item,
//!   or 2 (delete + put) when its key changes, 1 to remove it, 1 to add it (not doubled in a
//!   transaction here).
//!
//! Item sizes follow "Item sizes and formats": attribute names plus values; strings and binary
//! by length, numbers ~1 byte per 2 significant digits + 1, booleans and nulls 1 byte, lists and
//! maps 3 bytes + 1 per element (map keys counted), sets the sum of their members.

use serde_json::{Map, Value};

/// One request's computed capacity.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub rcu: f64,
    /// Base table writes.
    pub wcu: f64,
    /// Index writes (global secondary indexes).
    pub gsi_wcu: f64,
}

impl std::ops::AddAssign for Units {
    fn add_assign(&mut self, other: Units) {
        self.rcu += other.rcu;
        self.wcu += other.wcu;
        self.gsi_wcu += other.gsi_wcu;
    }
}

/// A global secondary index's key attributes.
#[derive(Debug, Clone)]
pub struct IndexKeys {
    pub partition: String,
    pub sort: String,
}

/// The indexes of the sales table, from its definition.
pub fn sales_indexes() -> Vec<IndexKeys> {
    sales::store::table::definition()
        .indexes
        .iter()
        .map(|i| IndexKeys {
            partition: i.partition_key.to_owned(),
            sort: i.sort_key.to_owned(),
        })
        .collect()
}

fn number_size(text: &str) -> usize {
    let digits: String = text
        .trim_start_matches('-')
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

fn base64_len(text: &str) -> usize {
    let trimmed = text.trim_end_matches('=');
    trimmed.len() * 3 / 4
}

/// The size of one AttributeValue (`{"S": …}`, `{"M": …}`, …).
pub fn value_size(value: &Value) -> usize {
    let Some(object) = value.as_object() else {
        return 0;
    };
    let Some((kind, inner)) = object.iter().next() else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(0, number_size),
        "B" => inner.as_str().map_or(0, base64_len),
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().map_or(0, |a| {
            a.iter().filter_map(Value::as_str).map(str::len).sum()
        }),
        "NS" => inner.as_array().map_or(0, |a| {
            a.iter().filter_map(Value::as_str).map(number_size).sum()
        }),
        "BS" => inner.as_array().map_or(0, |a| {
            a.iter().filter_map(Value::as_str).map(base64_len).sum()
        }),
        "L" => inner.as_array().map_or(3, |a| {
            3 + a.iter().map(|v| value_size(v) + 1).sum::<usize>()
        }),
        "M" => inner.as_object().map_or(3, |m| {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }),
        _ => 0,
    }
}

/// The size of an item (a map of attribute name → AttributeValue).
pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

pub fn read_units(bytes: usize, strongly_consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if strongly_consistent {
        units
    } else {
        units / 2.0
    }
}

pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// An item's image before and after a write (None: absent).
#[derive(Debug, Clone, Default)]
pub struct WriteImages {
    pub before: Option<Map<String, Value>>,
    pub after: Option<Map<String, Value>>,
}

fn index_key<'a>(
    item: &'a Map<String, Value>,
    index: &IndexKeys,
) -> Option<(&'a Value, &'a Value)> {
    Some((item.get(&index.partition)?, item.get(&index.sort)?))
}

/// Base-table and index units of one write, from its images. `transactional` doubles the base
/// table's part.
pub fn write_cost(images: &WriteImages, indexes: &[IndexKeys], transactional: bool) -> Units {
    let before = images.before.as_ref().map_or(0, item_size);
    let after = images.after.as_ref().map_or(0, item_size);
    let factor = if transactional { 2.0 } else { 1.0 };
    let mut units = Units {
        wcu: factor * write_units(before.max(after)),
        ..Units::default()
    };
    let changed = images.before != images.after;
    for index in indexes {
        let old = images.before.as_ref().and_then(|i| index_key(i, index));
        let new = images.after.as_ref().and_then(|i| index_key(i, index));
        units.gsi_wcu += match (old, new) {
            (Some(o), Some(n)) if o == n => {
                if changed {
                    write_units(after)
                } else {
                    0.0
                }
            }
            (Some(_), Some(_)) => write_units(before) + write_units(after),
            (Some(_), None) => write_units(before),
            (None, Some(_)) => write_units(after),
            (None, None) => 0.0,
        };
    }
    units
}

/// The read units of a GetItem / Query / Scan from the items it evaluated.
pub fn read_cost<'a>(
    items: impl IntoIterator<Item = &'a Map<String, Value>>,
    consistent: bool,
) -> Units {
    let bytes: usize = items.into_iter().map(item_size).sum();
    Units {
        rcu: read_units(bytes, consistent),
        ..Units::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        // "pk"(2) + "LEAD#1"(6) + "n"(1) + 12345 (3 digits pairs → 3 + 1) + "ok"(2) + bool(1)
        let i = item(json!({"pk": {"S": "LEAD#1"}, "n": {"N": "12345"}, "ok": {"BOOL": true}}));
        assert_eq!(item_size(&i), 2 + 6 + 1 + 4 + 2 + 1);
        // map: 3 + ("a"(1) + "xy"(2) + 1); list: 3 + (N "100" → 1 digit → 2) + 1
        let i = item(json!({"m": {"M": {"a": {"S": "xy"}}}, "l": {"L": [{"N": "100"}]}}));
        assert_eq!(item_size(&i), 1 + 3 + 4 + 1 + 3 + 3);
    }

    #[test]
    fn units_round_up_with_a_minimum() {
        assert_eq!(read_units(0, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(100, false), 0.5);
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1025), 2.0);
    }

    #[test]
    fn writes_take_the_larger_image_and_index_changes() {
        let indexes = vec![IndexKeys {
            partition: "gsi1pk".into(),
            sort: "gsi1sk".into(),
        }];
        let before = item(
            json!({"pk": {"S": "L"}, "gsi1pk": {"S": "STAGE#a"}, "gsi1sk": {"S": "x"}, "big": {"S": "y".repeat(1500)}}),
        );
        let mut after = before.clone();
        after.insert("gsi1pk".into(), json!({"S": "STAGE#b"}));
        let cost = write_cost(
            &WriteImages {
                before: Some(before.clone()),
                after: Some(after),
            },
            &indexes,
            true,
        );
        assert_eq!(cost.wcu, 4.0); // 2 KB, transactional
        assert_eq!(cost.gsi_wcu, 4.0); // delete + put of a 2 KB index item
        let new = write_cost(
            &WriteImages {
                before: None,
                after: Some(item(json!({"pk": {"S": "D"}}))),
            },
            &indexes,
            false,
        );
        assert_eq!((new.wcu, new.gsi_wcu), (1.0, 0.0));
    }
}
