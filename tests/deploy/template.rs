//! Reading the SAM template: its resources, and CloudFormation intrinsics in either form
//! (`!Ref X` is a YAML tag, `{Ref: X}` a one-key mapping).

use std::path::PathBuf;

use serde_yaml::Value;

/// The workspace root (the template's `CodeUri: ..`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

pub fn template_path() -> PathBuf {
    workspace_root().join("infra").join("template.yaml")
}

pub fn template_source() -> String {
    let path = template_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn parse(source: &str) -> Value {
    serde_yaml::from_str(source).unwrap_or_else(|e| panic!("infra/template.yaml is not YAML: {e}"))
}

pub fn template() -> Value {
    parse(&template_source())
}

/// `(logical id, resource)` for every resource of the given type, in template order.
pub fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    template
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("the template has Resources")
        .iter()
        .filter(|(_, resource)| resource.get("Type").and_then(Value::as_str) == Some(kind))
        .map(|(id, resource)| (id.as_str().unwrap_or_default().to_owned(), resource))
        .collect()
}

/// A CloudFormation intrinsic function: its name without `!` / `Fn::` (`Ref`, `GetAtt`, `Sub`,
/// ...) and its argument. `None` for a literal.
pub fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        Value::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next()?;
            let key = key.as_str()?;
            let name = if key == "Ref" {
                key
            } else {
                key.strip_prefix("Fn::")?
            };
            Some((name.to_owned(), argument))
        }
        _ => None,
    }
}

/// The logical id a value refers to with `Ref`, if it is a `Ref`.
pub fn ref_target(value: &Value) -> Option<&str> {
    match intrinsic(value)? {
        (name, target) if name == "Ref" => target.as_str(),
        _ => None,
    }
}

/// A plain string (not an intrinsic), or an error naming where it was expected.
pub fn literal_str<'a>(value: Option<&'a Value>, what: &str) -> Result<&'a str, String> {
    match value {
        None => Err(format!("{what} is missing")),
        Some(v) if intrinsic(v).is_some() => Err(format!(
            "{what} must be a literal, not a CloudFormation function"
        )),
        Some(v) => v
            .as_str()
            .ok_or_else(|| format!("{what} is not a string: {v:?}")),
    }
}

/// A plain boolean (YAML `true` / `false`, or the strings CloudFormation also accepts).
pub fn literal_bool(value: Option<&Value>, what: &str) -> Result<bool, String> {
    match value {
        None => Err(format!("{what} is missing")),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(format!("{what} is not a literal boolean: {other:?}")),
    }
}

pub fn sequence<'a>(value: Option<&'a Value>, what: &str) -> Result<&'a [Value], String> {
    match value {
        None => Err(format!("{what} is missing")),
        Some(Value::Sequence(items)) => Ok(items),
        Some(other) => Err(format!("{what} is not a literal list: {other:?}")),
    }
}

#[test]
fn short_and_long_forms_of_intrinsics_are_recognised() {
    let value = parse(
        "a: !Ref Table\nb: {Ref: Table}\nc: !GetAtt Table.Arn\nd: {\"Fn::Sub\": x}\ne: plain\n",
    );
    assert_eq!(ref_target(&value["a"]), Some("Table"));
    assert_eq!(ref_target(&value["b"]), Some("Table"));
    assert_eq!(
        intrinsic(&value["c"]).map(|(name, _)| name),
        Some("GetAtt".to_owned())
    );
    assert_eq!(
        intrinsic(&value["d"]).map(|(name, _)| name),
        Some("Sub".to_owned())
    );
    assert!(intrinsic(&value["e"]).is_none());
    assert!(literal_str(Some(&value["a"]), "a").is_err());
    assert_eq!(literal_str(Some(&value["e"]), "e"), Ok("plain"));
}
