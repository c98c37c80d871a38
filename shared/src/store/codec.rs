//! Reading and writing item attributes.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn corrupt(item: &Item, name: &str, what: &str) -> StoreError {
    let key = item
        .get("pk")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("?");
    // The key may hold an e-mail (`EMAIL#…`, `FOUNDER#…`, `WAITLISTED#…`): masked, as the
    // message is logged.
    let key = crate::lambda::telemetry::mask_emails(key);
    StoreError::Corrupt(format!("{key}: attribute {name} {what}"))
}

pub(crate) fn opt_s<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value)),
        Some(_) => Err(corrupt(item, name, "is not a string")),
    }
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    opt_s(item, name)?.ok_or_else(|| corrupt(item, name, "is missing"))
}

pub(crate) fn opt_n<T: FromStr>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(value)) => value
            .parse()
            .map(Some)
            .map_err(|_| corrupt(item, name, "is not a number of the expected kind")),
        Some(_) => Err(corrupt(item, name, "is not a number")),
    }
}

pub(crate) fn get_n<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    opt_n(item, name)?.ok_or_else(|| corrupt(item, name, "is missing"))
}

/// Parses a string attribute with a domain parser.
pub(crate) fn parse_s<T, E: std::fmt::Display>(
    item: &Item,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    let raw = get_s(item, name)?;
    parse(raw).map_err(|e| corrupt(item, name, &format!("does not parse: {e}")))
}

pub(crate) fn parse_opt_s<T, E: std::fmt::Display>(
    item: &Item,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    opt_s(item, name)?
        .map(|raw| parse(raw).map_err(|e| corrupt(item, name, &format!("does not parse: {e}"))))
        .transpose()
}

/// Builds update expressions with every attribute name aliased, so that no name can collide
/// with one of DynamoDB's reserved words.
#[derive(Default)]
pub(crate) struct UpdateExpr {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl UpdateExpr {
    fn alias(&mut self, name: &str) -> String {
        let alias = format!("#a{}", self.names.len());
        self.names.insert(alias.clone(), name.to_owned());
        alias
    }

    /// A placeholder for a value, for use in conditions as well as updates.
    pub(crate) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// A placeholder for an attribute name, for use in conditions.
    pub(crate) fn name(&mut self, name: &str) -> String {
        self.alias(name)
    }

    pub(crate) fn set(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        let alias = self.alias(name);
        let placeholder = self.value(value);
        self.set.push(format!("{alias} = {placeholder}"));
        self
    }

    pub(crate) fn set_opt(&mut self, name: &str, value: Option<AttributeValue>) -> &mut Self {
        match value {
            Some(value) => self.set(name, value),
            None => self.remove(name),
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> &mut Self {
        let alias = self.alias(name);
        self.remove.push(alias);
        self
    }

    pub(crate) fn add(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        let alias = self.alias(name);
        let placeholder = self.value(value);
        self.add.push(format!("{alias} {placeholder}"));
        self
    }

    /// The update expression, attribute names and values.
    pub(crate) fn build(
        self,
    ) -> (
        String,
        HashMap<String, String>,
        HashMap<String, AttributeValue>,
    ) {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            clauses.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            clauses.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        if !self.add.is_empty() {
            clauses.push(format!("ADD {}", self.add.join(", ")));
        }
        (clauses.join(" "), self.names, self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_expressions_alias_every_name() {
        let mut expr = UpdateExpr::default();
        expr.set("stage", s("prospect"))
            .remove("next_action")
            .add("count", n(1));
        let condition_name = expr.name("version");
        let condition_value = expr.value(n(3));
        let (text, names, values) = expr.build();
        assert_eq!(text, "SET #a0 = :v0 REMOVE #a1 ADD #a2 :v1");
        assert_eq!(names["#a0"], "stage");
        assert_eq!(names["#a3"], "version");
        assert_eq!(
            (condition_name.as_str(), condition_value.as_str()),
            ("#a3", ":v2")
        );
        assert_eq!(values.len(), 3);
    }

    #[test]
    fn reading_attributes_reports_missing_and_mistyped() {
        let mut item = Item::new();
        item.insert("pk".into(), s("LEAD#1"));
        item.insert("count".into(), n(7));
        item.insert("name".into(), s("Ada"));
        assert_eq!(get_n::<u64>(&item, "count").unwrap(), 7);
        assert_eq!(get_s(&item, "name").unwrap(), "Ada");
        assert!(matches!(get_s(&item, "count"), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            get_n::<u64>(&item, "missing"),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(opt_s(&item, "missing").unwrap(), None);
    }

    #[test]
    fn a_malformed_item_is_named_by_its_key_with_the_address_masked() {
        let mut item = Item::new();
        item.insert("pk".into(), s("FOUNDER#ada@example.com"));
        item.insert("spot".into(), s("one"));
        let err = get_n::<u8>(&item, "spot").unwrap_err().to_string();
        assert!(err.contains("FOUNDER#a***@example.com"), "{err}");
        assert!(!err.contains("ada@"), "{err}");
    }
}
