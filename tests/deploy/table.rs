//! The template's table is the library's table: `sales::store::table::definition()`.
//!
//! Both sides are brought to one comparable [`TableShape`] (the name aside: the template takes
//! it from a parameter) and every difference is reported, one line each.

use std::collections::BTreeMap;

use sales::store::table::{definition, TableSpec};
use serde_yaml::Value;

use crate::template::{self, literal_bool, literal_str, sequence};

#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexShape {
    partition_key: String,
    sort_key: Option<String>,
    projection: String,
}

/// What must agree between the library and the template.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TableShape {
    billing_mode: String,
    partition_key: String,
    sort_key: Option<String>,
    /// Attribute name -> type (`S`, `N`, `B`).
    attributes: BTreeMap<String, String>,
    indexes: BTreeMap<String, IndexShape>,
    /// TTL attribute and whether it is enabled; `None` without a TTL specification.
    ttl: Option<(String, bool)>,
}

impl TableShape {
    /// The library's definition: on-demand, string attributes, indexes projecting ALL, TTL on.
    fn from_spec(spec: &TableSpec) -> TableShape {
        TableShape {
            billing_mode: "PAY_PER_REQUEST".to_owned(),
            partition_key: spec.partition_key.to_owned(),
            sort_key: Some(spec.sort_key.to_owned()),
            attributes: spec
                .string_attributes
                .iter()
                .map(|name| ((*name).to_owned(), "S".to_owned()))
                .collect(),
            indexes: spec
                .indexes
                .iter()
                .map(|index| {
                    (
                        index.name.to_owned(),
                        IndexShape {
                            partition_key: index.partition_key.to_owned(),
                            sort_key: Some(index.sort_key.to_owned()),
                            projection: "ALL".to_owned(),
                        },
                    )
                })
                .collect(),
            ttl: Some((spec.ttl_attribute.to_owned(), true)),
        }
    }

    /// An `AWS::DynamoDB::Table` resource's properties. Every value must be a literal: a
    /// parameter could make the deployed table differ from the code.
    fn from_properties(properties: &Value) -> Result<TableShape, Vec<String>> {
        let mut problems = Vec::new();
        let mut note = |result: Result<String, String>| {
            result.unwrap_or_else(|e| {
                problems.push(e);
                String::new()
            })
        };

        // DynamoDB's default billing mode is PROVISIONED.
        let billing_mode = match properties.get("BillingMode") {
            None => "PROVISIONED (BillingMode not set)".to_owned(),
            value => note(literal_str(value, "BillingMode").map(str::to_owned)),
        };

        let (partition_key, sort_key) = match key_schema(properties.get("KeySchema"), "KeySchema") {
            Ok(keys) => keys,
            Err(e) => {
                problems.push(e);
                (String::new(), None)
            }
        };

        let mut attributes = BTreeMap::new();
        match sequence(
            properties.get("AttributeDefinitions"),
            "AttributeDefinitions",
        ) {
            Ok(definitions) => {
                for (i, definition) in definitions.iter().enumerate() {
                    let what = format!("AttributeDefinitions[{i}]");
                    let name = literal_str(definition.get("AttributeName"), &what);
                    let kind = literal_str(definition.get("AttributeType"), &what);
                    match (name, kind) {
                        (Ok(name), Ok(kind)) => {
                            if attributes
                                .insert(name.to_owned(), kind.to_owned())
                                .is_some()
                            {
                                problems.push(format!("attribute {name} is defined twice"));
                            }
                        }
                        (Err(e), _) | (_, Err(e)) => problems.push(e),
                    }
                }
            }
            Err(e) => problems.push(e),
        }

        let mut indexes = BTreeMap::new();
        match properties.get("GlobalSecondaryIndexes") {
            None => {}
            value => match sequence(value, "GlobalSecondaryIndexes") {
                Ok(list) => {
                    for (i, index) in list.iter().enumerate() {
                        let what = format!("GlobalSecondaryIndexes[{i}]");
                        let name = match literal_str(index.get("IndexName"), &what) {
                            Ok(name) => name.to_owned(),
                            Err(e) => {
                                problems.push(e);
                                continue;
                            }
                        };
                        let what = format!("index {name}");
                        let keys = key_schema(index.get("KeySchema"), &format!("{what} KeySchema"));
                        let projection = literal_str(
                            index
                                .get("Projection")
                                .and_then(|p| p.get("ProjectionType")),
                            &format!("{what} Projection.ProjectionType"),
                        );
                        match (keys, projection) {
                            (Ok((partition_key, sort_key)), Ok(projection)) => {
                                let shape = IndexShape {
                                    partition_key,
                                    sort_key,
                                    projection: projection.to_owned(),
                                };
                                if indexes.insert(name.clone(), shape).is_some() {
                                    problems.push(format!("index {name} is defined twice"));
                                }
                            }
                            (Err(e), _) | (_, Err(e)) => problems.push(e),
                        }
                    }
                }
                Err(e) => problems.push(e),
            },
        }
        if properties.get("LocalSecondaryIndexes").is_some() {
            problems.push("LocalSecondaryIndexes: the library defines none".to_owned());
        }

        let ttl = match properties.get("TimeToLiveSpecification") {
            None => None,
            Some(spec) => {
                let name = literal_str(
                    spec.get("AttributeName"),
                    "TimeToLiveSpecification.AttributeName",
                );
                let enabled = literal_bool(spec.get("Enabled"), "TimeToLiveSpecification.Enabled");
                match (name, enabled) {
                    (Ok(name), Ok(enabled)) => Some((name.to_owned(), enabled)),
                    (Err(e), _) | (_, Err(e)) => {
                        problems.push(e);
                        None
                    }
                }
            }
        };

        if problems.is_empty() {
            Ok(TableShape {
                billing_mode,
                partition_key,
                sort_key,
                attributes,
                indexes,
                ttl,
            })
        } else {
            Err(problems)
        }
    }
}

/// `(HASH key, RANGE key)` of a key schema.
fn key_schema(value: Option<&Value>, what: &str) -> Result<(String, Option<String>), String> {
    let mut hash = None;
    let mut range = None;
    for (i, element) in sequence(value, what)?.iter().enumerate() {
        let element_what = format!("{what}[{i}]");
        let name = literal_str(element.get("AttributeName"), &element_what)?.to_owned();
        let slot = match literal_str(element.get("KeyType"), &element_what)? {
            "HASH" => &mut hash,
            "RANGE" => &mut range,
            other => return Err(format!("{element_what}: unknown KeyType {other}")),
        };
        if slot.replace(name).is_some() {
            return Err(format!("{what}: a key type appears twice"));
        }
    }
    let hash = hash.ok_or_else(|| format!("{what}: no HASH key"))?;
    Ok((hash, range))
}

/// Every way `actual` (the template) differs from `expected` (the library), one line each.
fn differences(expected: &TableShape, actual: &TableShape) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |what: &str, want: String, got: String| {
        if want != got {
            out.push(format!("{what}: library has {want}, template has {got}"));
        }
    };
    field(
        "billing mode",
        expected.billing_mode.clone(),
        actual.billing_mode.clone(),
    );
    field(
        "partition key",
        expected.partition_key.clone(),
        actual.partition_key.clone(),
    );
    field(
        "sort key",
        format!("{:?}", expected.sort_key),
        format!("{:?}", actual.sort_key),
    );
    field(
        "TTL (attribute, enabled)",
        format!("{:?}", expected.ttl),
        format!("{:?}", actual.ttl),
    );

    let names = |map: &BTreeMap<String, String>| map.keys().cloned().collect::<Vec<_>>();
    for (name, kind) in &expected.attributes {
        match actual.attributes.get(name) {
            None => out.push(format!(
                "attribute {name} ({kind}) is missing from the template"
            )),
            Some(got) if got != kind => out.push(format!(
                "attribute {name}: library has type {kind}, template has {got}"
            )),
            Some(_) => {}
        }
    }
    for name in names(&actual.attributes) {
        if !expected.attributes.contains_key(&name) {
            out.push(format!(
                "attribute {name} is in the template but not in the library"
            ));
        }
    }

    for (name, want) in &expected.indexes {
        match actual.indexes.get(name) {
            None => out.push(format!("index {name} is missing from the template")),
            Some(got) if got != want => out.push(format!(
                "index {name}: library has {want:?}, template has {got:?}"
            )),
            Some(_) => {}
        }
    }
    for name in actual.indexes.keys() {
        if !expected.indexes.contains_key(name) {
            out.push(format!(
                "index {name} is in the template but not in the library"
            ));
        }
    }
    out
}

/// The template's one table resource: `(logical id, resource)`.
fn table_resource(template: &Value) -> (String, Value) {
    let tables = template::resources_of_type(template, "AWS::DynamoDB::Table");
    assert_eq!(
        tables.len(),
        1,
        "the template defines one DynamoDB table, found {:?}",
        tables.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    let (id, resource) = &tables[0];
    (id.clone(), (*resource).clone())
}

/// The differences between a template (as YAML text) and the library's table.
fn template_differences(source: &str) -> Vec<String> {
    let (_, resource) = table_resource(&template::parse(source));
    let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
    match TableShape::from_properties(&properties) {
        Ok(actual) => differences(&TableShape::from_spec(&definition()), &actual),
        Err(problems) => problems,
    }
}

#[test]
fn the_template_table_is_the_library_table() {
    let differences = template_differences(&template::template_source());
    assert!(
        differences.is_empty(),
        "infra/template.yaml's table differs from sales::store::table::definition():\n  {}",
        differences.join("\n  ")
    );
}

#[test]
fn the_table_is_kept_and_recoverable() {
    let (id, resource) = table_resource(&template::template());
    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(
            resource.get(policy).and_then(Value::as_str),
            Some("Retain"),
            "{id}: {policy} must be Retain (the table holds the deals and the founding members)"
        );
    }
    let properties = &resource["Properties"];
    assert_eq!(
        literal_bool(
            properties.get("DeletionProtectionEnabled"),
            "DeletionProtectionEnabled"
        ),
        Ok(true)
    );
    assert_eq!(
        literal_bool(
            properties
                .get("PointInTimeRecoverySpecification")
                .and_then(|p| p.get("PointInTimeRecoveryEnabled")),
            "PointInTimeRecoveryEnabled"
        ),
        Ok(true)
    );
}

// The comparison can fail: altered copies of the template are reported, each for its change.

/// The template with the first `from` after `anchor` (inside the table resource) replaced by
/// `to`.
fn altered_after(anchor: &str, from: &str, to: &str) -> String {
    let source = template::template_source();
    let table_start = source
        .find("Type: AWS::DynamoDB::Table")
        .expect("the template has a table");
    let anchor_at = table_start
        + source[table_start..]
            .find(anchor)
            .unwrap_or_else(|| panic!("{anchor:?} is not in the table resource"));
    let at = anchor_at
        + source[anchor_at..]
            .find(from)
            .unwrap_or_else(|| panic!("{from:?} does not follow {anchor:?}"));
    format!("{}{}{}", &source[..at], to, &source[at + from.len()..])
}

fn altered(from: &str, to: &str) -> String {
    altered_after("Type: AWS::DynamoDB::Table", from, to)
}

fn assert_reported(source: &str, expected_fragment: &str) {
    let differences = template_differences(source);
    assert!(
        differences.iter().any(|d| d.contains(expected_fragment)),
        "expected a difference mentioning {expected_fragment:?}, got {differences:?}"
    );
}

#[test]
fn a_renamed_index_key_is_reported() {
    // by_assignee's sort key renamed in the index only.
    let source = altered_after(
        "IndexName: by_assignee",
        "AttributeName: gsi2sk",
        "AttributeName: gsi2_sk",
    );
    assert_reported(&source, "index by_assignee");

    // ... and in the attribute definitions too: still not the library's table.
    let source = altered_after(
        "IndexName: by_assignee",
        "AttributeName: gsi2sk",
        "AttributeName: gsi2_sk",
    )
    .replacen("- AttributeName: gsi2sk\n", "- AttributeName: gsi2_sk\n", 1);
    assert_reported(&source, "index by_assignee");
    assert_reported(&source, "attribute gsi2sk (S) is missing");
    assert_reported(
        &source,
        "attribute gsi2_sk is in the template but not in the library",
    );
}

#[test]
fn other_alterations_are_reported() {
    let cases = [
        (
            altered("BillingMode: PAY_PER_REQUEST", "BillingMode: PROVISIONED"),
            "billing mode",
        ),
        (altered("      BillingMode: PAY_PER_REQUEST\n", ""), "billing mode"),
        (
            altered("BillingMode: PAY_PER_REQUEST", "BillingMode: !Ref Mode"),
            "BillingMode must be a literal",
        ),
        (
            altered_after("- AttributeName: pk", "AttributeType: S", "AttributeType: N"),
            "attribute pk: library has type S, template has N",
        ),
        (altered("KeyType: RANGE", "KeyType: HASH"), "KeySchema"),
        (
            altered("IndexName: by_stage", "IndexName: by_stage_v2"),
            "index by_stage is missing",
        ),
        (
            altered("ProjectionType: ALL", "ProjectionType: KEYS_ONLY"),
            "index by_stage",
        ),
        (
            altered("AttributeName: purge_at", "AttributeName: expires_at"),
            "TTL",
        ),
        (
            altered_after("TimeToLiveSpecification:", "Enabled: true", "Enabled: false"),
            "TTL",
        ),
        (
            altered(
                "      TimeToLiveSpecification:\n        AttributeName: purge_at\n        Enabled: true\n",
                "",
            ),
            "TTL",
        ),
    ];
    for (source, fragment) in &cases {
        assert_reported(source, fragment);
    }
}

#[test]
fn the_library_shape_is_what_the_template_should_say() {
    // Guards the comparison itself: the library side is on-demand, all-string, projection ALL.
    let shape = TableShape::from_spec(&definition());
    assert_eq!(shape.billing_mode, "PAY_PER_REQUEST");
    assert!(shape.attributes.values().all(|kind| kind == "S"));
    assert!(shape
        .indexes
        .values()
        .all(|index| index.projection == "ALL"));
    assert_eq!(shape.ttl, Some(("purge_at".to_owned(), true)));
}
