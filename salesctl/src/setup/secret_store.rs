//! The stack's Secrets Manager secret: one JSON object (`sales::lambda::config` reads the same key
//! names). Setup reads it once before planning and writes it once at the end, merged: every key
//! it does not set is kept as it is, whatever its value.

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use serde_json::{Map, Value};

use super::report::{Provider, SetupError};
use sales::lambda::config::Secret;

/// The secret's JSON object, as read.
#[derive(Debug, Clone, Default)]
pub struct SecretDoc {
    values: Map<String, Value>,
}

impl SecretDoc {
    pub fn from_json(text: &str) -> Result<SecretDoc, String> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(values)) => Ok(SecretDoc { values }),
            Ok(_) => Err("its value is not a JSON object".to_owned()),
            Err(e) => Err(format!("its value is not JSON: {e}")),
        }
    }

    /// A key's value, when it is a non-empty string (empty values count as unset, as in
    /// `sales::lambda::config`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    pub fn secret(&self, key: &str) -> Option<Secret> {
        self.get(key).map(Secret::new)
    }

    /// Sets keys; returns the names of those whose value changed.
    fn merge(&mut self, sets: &[(&'static str, Secret)]) -> Vec<String> {
        let mut changed = Vec::new();
        for (key, value) in sets {
            let new = Value::String(value.expose().to_owned());
            if self.values.get(*key) != Some(&new) {
                self.values.insert((*key).to_owned(), new);
                if !changed.iter().any(|k| k == key) {
                    changed.push((*key).to_owned());
                }
            }
        }
        changed
    }
}

/// One Secrets Manager secret, by name or ARN.
pub struct SecretStore {
    client: aws_sdk_secretsmanager::Client,
    id: String,
}

fn sdk_error<E>(
    id: &str,
    action: &str,
    err: aws_sdk_secretsmanager::error::SdkError<E>,
) -> SetupError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().unwrap_or_default().to_owned();
    let fix = match code.as_str() {
        "ResourceNotFoundException" => format!(
            "check --secret-id (the stack's SecretArn output) and the region (AWS_REGION): \
             no secret {id} there, or it has no value yet"
        ),
        "AccessDeniedException" => format!(
            "your AWS identity needs secretsmanager:GetSecretValue and \
             secretsmanager:PutSecretValue on {id} (and kms:Decrypt / kms:GenerateDataKey \
             if it uses a customer managed key)"
        ),
        "UnrecognizedClientException" | "InvalidClientTokenId" | "ExpiredTokenException" => {
            "your AWS credentials were refused: log in again (aws sso login, or fresh keys)"
                .to_owned()
        }
        _ => "check the AWS credentials and region, then run setup again".to_owned(),
    };
    SetupError::new(
        Provider::SecretsManager,
        format!("{action} {id}"),
        DisplayErrorContext(err).to_string(),
        fix,
    )
}

impl SecretStore {
    pub fn new(client: aws_sdk_secretsmanager::Client, id: impl Into<String>) -> SecretStore {
        SecretStore {
            client,
            id: id.into(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub async fn read(&self) -> Result<SecretDoc, SetupError> {
        let value = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .send()
            .await
            .map_err(|e| sdk_error(&self.id, "reading the secret", e))?;
        let text = value.secret_string().ok_or_else(|| {
            SetupError::new(
                Provider::SecretsManager,
                format!("reading the secret {}", self.id),
                "it holds binary data, not a JSON object",
                "point --secret-id at the stack's secret (the SecretArn output)",
            )
        })?;
        SecretDoc::from_json(text).map_err(|problem| {
            SetupError::new(
                Provider::SecretsManager,
                format!("reading the secret {}", self.id),
                problem,
                "the functions read a JSON object of string values; fix the value (aws \
                 secretsmanager put-secret-value) or point --secret-id at the stack's secret",
            )
        })
    }

    /// Re-reads the secret (so that a change made since the first read is kept), sets `sets`
    /// on it and writes a new version, unless nothing changed. Returns the changed keys.
    pub async fn write_merged(
        &self,
        sets: &[(&'static str, Secret)],
    ) -> Result<Vec<String>, SetupError> {
        let mut doc = self.read().await?;
        let changed = doc.merge(sets);
        if changed.is_empty() {
            return Ok(changed);
        }
        let text = Value::Object(doc.values).to_string();
        self.client
            .put_secret_value()
            .secret_id(&self.id)
            .secret_string(text)
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await
            .map_err(|e| sdk_error(&self.id, "writing the secret", e))?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset_and_merge_keeps_other_keys() {
        let mut doc = SecretDoc::from_json(
            r#"{"STRIPE_SECRET_KEY":"sk_test_1","CAL_WEBHOOK_SECRET":"","OTHER":{"nested":1}}"#,
        )
        .unwrap();
        assert_eq!(doc.get("STRIPE_SECRET_KEY"), Some("sk_test_1"));
        assert_eq!(doc.get("CAL_WEBHOOK_SECRET"), None);
        assert_eq!(doc.get("MISSING"), None);
        let changed = doc.merge(&[
            ("STRIPE_SECRET_KEY", Secret::new("sk_test_1")),
            ("CAL_WEBHOOK_SECRET", Secret::new("new")),
        ]);
        assert_eq!(changed, vec!["CAL_WEBHOOK_SECRET".to_owned()]);
        assert_eq!(doc.values["OTHER"], serde_json::json!({"nested": 1}));
        assert!(SecretDoc::from_json("[1]").is_err());
        assert!(SecretDoc::from_json("not json").is_err());
    }
}
