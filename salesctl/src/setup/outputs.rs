//! The deployed stack's outputs, from the JSON the AWS CLI prints:
//!
//! ```sh
//! aws cloudformation describe-stacks --stack-name agency-sales \
//!     --query 'Stacks[0].Outputs' > outputs.json
//! ```
//!
//! (a list of `{"OutputKey", "OutputValue", …}`). The whole `describe-stacks` answer, or one
//! stack object with `Outputs`, is accepted too.

use std::collections::BTreeMap;

use serde_json::Value;

/// The output names `infra/template.yaml` declares.
pub const STRIPE_WEBHOOK_URL: &str = "StripeWebhookUrl";
pub const CAL_WEBHOOK_URL: &str = "CalWebhookUrl";
pub const CALENDLY_WEBHOOK_URL: &str = "CalendlyWebhookUrl";
pub const SECRET_ARN: &str = "SecretArn";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackOutputs {
    values: BTreeMap<String, String>,
}

impl StackOutputs {
    pub fn parse(text: &str) -> Result<StackOutputs, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = match &json {
            Value::Array(list) => list,
            Value::Object(object) => {
                let stack = object
                    .get("Stacks")
                    .and_then(Value::as_array)
                    .and_then(|stacks| stacks.first())
                    .unwrap_or(&json);
                stack
                    .get("Outputs")
                    .and_then(Value::as_array)
                    .ok_or("no Outputs list: save the output of `aws cloudformation describe-stacks --stack-name NAME --query 'Stacks[0].Outputs'`")?
            }
            _ => return Err("expected the list of stack outputs".to_owned()),
        };
        let mut values = BTreeMap::new();
        for output in list {
            let key = output.get("OutputKey").and_then(Value::as_str);
            let value = output.get("OutputValue").and_then(Value::as_str);
            match (key, value) {
                (Some(key), Some(value)) => {
                    values.insert(key.to_owned(), value.trim().to_owned());
                }
                _ => return Err(format!("an output without OutputKey/OutputValue: {output}")),
            }
        }
        Ok(StackOutputs { values })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cli_output_list_and_the_whole_answer() {
        let list = r#"[
            {"OutputKey": "StripeWebhookUrl", "OutputValue": "https://s.lambda-url.ap-southeast-2.on.aws/", "Description": "x"},
            {"OutputKey": "SecretArn", "OutputValue": "arn:aws:secretsmanager:ap-southeast-2:1:secret:s-AbC"}
        ]"#;
        let outputs = StackOutputs::parse(list).unwrap();
        assert_eq!(
            outputs.get(STRIPE_WEBHOOK_URL),
            Some("https://s.lambda-url.ap-southeast-2.on.aws/")
        );
        assert_eq!(outputs.get(CAL_WEBHOOK_URL), None);
        let whole = format!(r#"{{"Stacks": [{{"StackName": "x", "Outputs": {list}}}]}}"#);
        assert_eq!(StackOutputs::parse(&whole).unwrap(), outputs);
        assert!(StackOutputs::parse(r#"{"Stacks": []}"#).is_err());
        assert!(StackOutputs::parse("nope").is_err());
    }
}
