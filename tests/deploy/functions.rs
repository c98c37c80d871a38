//! The template's functions against the workspace: one per binary crate under `functions/`,
//! each built by cargo-lambda from the workspace root; secrets only where they are read;
//! business alarms on the namespace the code emits to.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use crate::template::{self, intrinsic, ref_target};

/// The binary names of the function crates (each package's binary is named after its directory).
fn workspace_binaries() -> BTreeSet<String> {
    let dir = template::workspace_root().join("functions");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Binary name -> (logical id, function resource), for every `AWS::Serverless::Function`.
fn template_functions(template: &Value) -> BTreeMap<String, (String, Value)> {
    let mut out = BTreeMap::new();
    for (id, resource) in template::resources_of_type(template, "AWS::Serverless::Function") {
        let binary = resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|p| p.get("Binary"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary is missing"))
            .to_owned();
        let previous = out.insert(binary.clone(), (id.clone(), resource.clone()));
        assert!(
            previous.is_none(),
            "two functions build the binary {binary}"
        );
    }
    out
}

/// A function property, or the `Globals.Function` default.
fn property<'a>(template: &'a Value, function: &'a Value, name: &str) -> Option<&'a Value> {
    function["Properties"]
        .get(name)
        .or_else(|| template.get("Globals")?.get("Function")?.get(name))
}

/// Environment variable names of a function, Globals included.
fn environment(template: &Value, function: &Value) -> BTreeMap<String, Value> {
    let mut vars = BTreeMap::new();
    let sources = [
        template
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment")),
        function["Properties"].get("Environment"),
    ];
    for source in sources.into_iter().flatten() {
        if let Some(map) = source.get("Variables").and_then(Value::as_mapping) {
            for (key, value) in map {
                vars.insert(key.as_str().unwrap_or_default().to_owned(), value.clone());
            }
        }
    }
    vars
}

/// Every `(action, resource)` pair the function's inline policy statements allow.
fn allowed_actions(function: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let policies = function["Properties"]
        .get("Policies")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    for policy in &policies {
        let statements = policy
            .get("Statement")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for statement in &statements {
            assert_eq!(
                statement.get("Effect").and_then(Value::as_str),
                Some("Allow")
            );
            let actions = match statement.get("Action") {
                Some(Value::String(one)) => vec![one.clone()],
                Some(Value::Sequence(many)) => many
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                other => panic!("unexpected Action {other:?}"),
            };
            let resource = statement.get("Resource").cloned().unwrap_or(Value::Null);
            for action in actions {
                out.push((action, resource.clone()));
            }
        }
    }
    out
}

#[test]
fn one_function_per_binary_built_by_cargo_lambda_from_the_workspace() {
    let template = template::template();
    let functions = template_functions(&template);
    let in_template: BTreeSet<String> = functions.keys().cloned().collect();
    assert_eq!(
        in_template,
        workspace_binaries(),
        "infra/template.yaml's functions (left) and the crates under functions/ (right) differ"
    );
    for (binary, (id, function)) in &functions {
        let metadata = &function["Metadata"];
        assert_eq!(
            metadata.get("BuildMethod").and_then(Value::as_str),
            Some("rust-cargolambda"),
            "{id}"
        );
        let get = |name| property(&template, function, name).cloned();
        assert_eq!(
            get("CodeUri"),
            Some(Value::from("..")),
            "{id}: CodeUri is the workspace root"
        );
        assert_eq!(get("Runtime"), Some(Value::from("provided.al2023")), "{id}");
        assert_eq!(get("Handler"), Some(Value::from("bootstrap")), "{id}");
        assert_eq!(
            get("Architectures"),
            Some(Value::Sequence(vec![Value::from("arm64")])),
            "{id}"
        );
        for name in ["MemorySize", "Timeout"] {
            assert!(
                function["Properties"]
                    .get(name)
                    .and_then(Value::as_u64)
                    .is_some(),
                "{id} ({binary}): {name} is chosen per function"
            );
        }
    }
}

/// The resources a policy statement names (one or a list).
fn resources(resource: &Value) -> Vec<Value> {
    match resource {
        Value::Sequence(many) => many.clone(),
        one => vec![one.clone()],
    }
}

#[test]
fn every_function_reads_the_stack_table_and_only_it() {
    let template = template::template();
    let table = template::resources_of_type(&template, "AWS::DynamoDB::Table")[0]
        .0
        .clone();
    let table_arn = format!("{table}.Arn");
    // Index ARNs, as `!Sub "${Table.Arn}/index/<name>"`, for the library's indexes only.
    let index_arns: BTreeSet<String> = sales::store::table::definition()
        .indexes
        .iter()
        .map(|index| format!("${{{table_arn}}}/index/{}", index.name))
        .collect();
    for (binary, (id, function)) in template_functions(&template) {
        let env = environment(&template, &function);
        assert_eq!(
            env.get("TABLE_NAME").and_then(ref_target),
            Some(table.as_str()),
            "{id} ({binary}): TABLE_NAME must be !Ref {table}"
        );
        for (action, resource) in allowed_actions(&function) {
            if !action.starts_with("dynamodb:") {
                continue;
            }
            assert!(
                !action.contains('*') && !action.contains("Delete") && !action.contains("Scan"),
                "{id}: {action} is more than any function's code needs"
            );
            for resource in resources(&resource) {
                let on_table = matches!(
                    intrinsic(&resource),
                    Some((name, argument)) if name == "GetAtt" && argument.as_str() == Some(table_arn.as_str())
                );
                let on_index = matches!(
                    intrinsic(&resource),
                    Some((name, argument)) if name == "Sub"
                        && argument.as_str().is_some_and(|arn| index_arns.contains(arn))
                );
                assert!(
                    on_table || (on_index && action == "dynamodb:Query"),
                    "{id}: {action} may be granted on !GetAtt {table_arn} or (Query only) on one of \
                     {index_arns:?}, not on {resource:?}"
                );
            }
        }
    }
}

/// The secret keys each function's code keeps ([`sales::lambda::runtime::FUNCTION_SECRETS`]):
/// the functions with none get neither `SECRETS_ID` nor the permission to read the secret.
fn reads_secrets(binary: &str) -> bool {
    !sales::lambda::runtime::secret_keys_of(binary).is_empty()
}

/// Each function keeps only secret keys the secret defines, and only its own: no webhook keeps
/// the Stripe API key, and each webhook keeps only its provider's signing secrets.
#[test]
fn each_function_keeps_only_the_secrets_it_uses() {
    use sales::lambda::config::SECRET_KEYS;
    use sales::lambda::runtime::{secret_keys_of, FUNCTION_SECRETS};
    let template = template::template();
    let functions = template_functions(&template);
    assert_eq!(
        FUNCTION_SECRETS
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect::<BTreeSet<_>>(),
        functions.keys().cloned().collect::<BTreeSet<_>>(),
        "FUNCTION_SECRETS names every function of the template, and only those"
    );
    for (binary, keys) in FUNCTION_SECRETS {
        for key in keys {
            assert!(
                SECRET_KEYS.contains(key),
                "{binary}: {key} is not a secret key"
            );
        }
    }
    for webhook in ["stripe-webhook", "cal-webhook", "calendly-webhook"] {
        let keys = secret_keys_of(webhook);
        assert!(!keys.contains(&"STRIPE_SECRET_KEY"), "{webhook}: {keys:?}");
        let prefix = match webhook {
            "stripe-webhook" => "STRIPE_WEBHOOK_",
            "cal-webhook" => "CAL_WEBHOOK_",
            _ => "CALENDLY_WEBHOOK_",
        };
        assert!(
            !keys.is_empty() && keys.iter().all(|key| key.starts_with(prefix)),
            "{webhook}: {keys:?}"
        );
    }
    for caller in ["create-checkout", "customer-portal"] {
        assert!(
            secret_keys_of(caller).contains(&"STRIPE_SECRET_KEY"),
            "{caller}"
        );
        assert!(
            !secret_keys_of(caller)
                .iter()
                .any(|key| key.contains("WEBHOOK")),
            "{caller}"
        );
    }
}

/// The account's Lambda concurrency (the default regional quota) and the share of it the
/// reserved caps may take: at least 90% stays unreserved for the functions without a cap and
/// anything else in the account (AWS itself refuses to leave less than 100).
const ACCOUNT_CONCURRENCY: u64 = 1000;
const MIN_UNRESERVED_PERCENT: u64 = 90;

/// The internet-facing functions (the three webhook URLs, open to anyone, and create-checkout,
/// which holds spots and calls Stripe) each have a reserved concurrency: a flood on one of
/// them cannot take the account's concurrency from the others.
#[test]
fn webhooks_and_checkout_have_reserved_concurrency_leaving_most_of_the_account_free() {
    let template = template::template();
    let functions = template_functions(&template);
    let capped = [
        "stripe-webhook",
        "cal-webhook",
        "calendly-webhook",
        "create-checkout",
    ];
    let mut reserved = 0;
    for (binary, (id, function)) in &functions {
        let cap = function["Properties"]
            .get("ReservedConcurrentExecutions")
            .map(|value| {
                value
                    .as_u64()
                    .unwrap_or_else(|| panic!("{id}: a literal ReservedConcurrentExecutions"))
            });
        if capped.contains(&binary.as_str()) {
            let cap =
                cap.unwrap_or_else(|| panic!("{id} ({binary}): no ReservedConcurrentExecutions"));
            assert!(cap >= 2, "{id}: {cap} would serialise every delivery");
            reserved += cap;
        } else if let Some(cap) = cap {
            reserved += cap;
        }
    }
    let unreserved = ACCOUNT_CONCURRENCY - reserved;
    assert!(
        unreserved * 100 >= ACCOUNT_CONCURRENCY * MIN_UNRESERVED_PERCENT,
        "{reserved} of {ACCOUNT_CONCURRENCY} reserved: less than {MIN_UNRESERVED_PERCENT}% left unreserved"
    );
    assert!(unreserved >= 100, "AWS keeps at least 100 unreserved");
}

/// Optional secret keys added after the first deploy: not in the placeholder `SecretString`, since
/// a changed `SecretString` makes CloudFormation overwrite the real secret with empty values.
/// They are put into the secret by hand (README, Configuration).
const SECRET_KEYS_ADDED_AFTER_FIRST_DEPLOY: [&str; 2] =
    ["TURNSTILE_SECRET_KEY", "OFFER_SIGNING_KEY"];

#[test]
fn secrets_only_where_they_are_read() {
    let template = template::template();
    let secrets = template::resources_of_type(&template, "AWS::SecretsManager::Secret");
    assert_eq!(secrets.len(), 1, "one secret");
    let (secret_id, secret) = &secrets[0];

    // The placeholder value names every secret key the code reads, and nothing else.
    let value: serde_json::Value = serde_json::from_str(
        secret["Properties"]["SecretString"]
            .as_str()
            .expect("SecretString is a literal JSON object"),
    )
    .expect("SecretString is JSON");
    let keys: BTreeSet<&str> = value
        .as_object()
        .expect("SecretString is a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    for key in sales::lambda::config::SECRET_KEYS {
        if SECRET_KEYS_ADDED_AFTER_FIRST_DEPLOY.contains(&key) {
            assert!(
                !keys.contains(key),
                "{key} in SecretString would empty the real secret"
            );
            continue;
        }
        assert!(keys.contains(key), "the secret's placeholder lacks {key}");
    }

    for (binary, (id, function)) in template_functions(&template) {
        let env = environment(&template, &function);
        let has_secret_id = match env.get("SECRETS_ID") {
            None => false,
            Some(value) => {
                assert_eq!(
                    ref_target(value),
                    Some(secret_id.as_str()),
                    "{id}: SECRETS_ID"
                );
                true
            }
        };
        let may_read = allowed_actions(&function).iter().any(|(action, resource)| {
            action == "secretsmanager:GetSecretValue"
                && ref_target(resource) == Some(secret_id.as_str())
        });
        assert_eq!(
            has_secret_id, may_read,
            "{id} ({binary}): SECRETS_ID and secretsmanager:GetSecretValue go together"
        );
        for key in sales::lambda::config::SECRET_KEYS {
            assert!(
                !env.contains_key(key),
                "{id}: the secret {key} is not an environment variable"
            );
        }
        // Those that read no secret get neither the id nor the permission.
        assert_eq!(has_secret_id, reads_secrets(&binary), "{id} ({binary})");
    }
}

#[test]
fn business_alarms_watch_the_namespace_the_code_emits_to() {
    let template = template::template();
    let watched: BTreeSet<String> =
        template::resources_of_type(&template, "AWS::CloudWatch::Alarm")
            .into_iter()
            .filter(|(_, alarm)| {
                alarm["Properties"].get("Namespace").and_then(Value::as_str)
                    == Some(sales::lambda::telemetry::METRIC_NAMESPACE)
            })
            .filter_map(|(_, alarm)| {
                alarm["Properties"]
                    .get("MetricName")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
    for metric in [
        "PaymentFailed",
        "FoundingPaymentWithoutSpot",
        "AlertNotSent",
    ] {
        assert!(
            watched.contains(metric),
            "no alarm on {}/{metric}",
            sales::lambda::telemetry::METRIC_NAMESPACE
        );
    }
}

/// The team's alerts: the three webhooks, and only they, get the team alerts topic by
/// `TEAM_ALERTS_TOPIC_ARN` and may publish to that topic and nothing else; no function has any
/// other SNS permission; the topic's ARN is an output, and its e-mail subscription optional.
#[test]
fn the_webhooks_alone_publish_team_alerts_to_their_topic() {
    let template = template::template();
    let topics: Vec<String> = template::resources_of_type(&template, "AWS::SNS::Topic")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(topics.iter().any(|t| t == "TeamAlertsTopic"), "{topics:?}");
    for (binary, (id, function)) in template_functions(&template) {
        let env = environment(&template, &function);
        let webhook = matches!(
            binary.as_str(),
            "stripe-webhook" | "cal-webhook" | "calendly-webhook"
        );
        let topic = env
            .get(sales::lambda::alerts::TOPIC_ENV)
            .map(|value| ref_target(value));
        let sns: Vec<(String, Value)> = allowed_actions(&function)
            .into_iter()
            .filter(|(action, _)| action.starts_with("sns:"))
            .collect();
        if webhook {
            assert_eq!(
                topic,
                Some(Some("TeamAlertsTopic")),
                "{id}: TEAM_ALERTS_TOPIC_ARN"
            );
            assert_eq!(sns.len(), 1, "{id}: {sns:?}");
            assert_eq!(sns[0].0, "sns:Publish", "{id}");
            assert_eq!(ref_target(&sns[0].1), Some("TeamAlertsTopic"), "{id}");
        } else {
            assert_eq!(topic, None, "{id}: publishes no team alerts");
            assert!(sns.is_empty(), "{id}: {sns:?}");
        }
    }
    let output = &template["Outputs"]["TeamAlertsTopicArn"]["Value"];
    assert_eq!(ref_target(output), Some("TeamAlertsTopic"));
    let (_, subscription) = template::resources_of_type(&template, "AWS::SNS::Subscription")
        .into_iter()
        .find(|(_, s)| ref_target(&s["Properties"]["TopicArn"]) == Some("TeamAlertsTopic"))
        .expect("an e-mail subscription to the team alerts topic");
    assert_eq!(
        subscription.get("Condition").and_then(Value::as_str),
        Some("HasTeamAlertsEmail"),
        "subscribed only when TeamAlertsEmail is given"
    );
    assert_eq!(
        template["Parameters"]["TeamAlertsEmail"]["Default"].as_str(),
        Some(""),
        "TeamAlertsEmail is optional"
    );
}

/// Each function's AWS clients are bounded by its Lambda timeout: the table the code sizes them
/// from (`LAMBDA_TIMEOUTS`) is the template's `Timeout`, and the bounds leave the function time to
/// answer (503) after DynamoDB stops answering, and, for the two that call Stripe, time for
/// Stripe's own worst case (3 attempts of 3 s with 0.2 + 0.4 s pauses) after a slow DynamoDB.
#[test]
fn aws_client_timeouts_are_sized_to_each_functions_lambda_timeout() {
    use sales::lambda::runtime::{AwsTimeouts, LAMBDA_TIMEOUTS};
    use std::time::Duration;
    let template = template::template();
    let functions = template_functions(&template);
    let table: BTreeMap<String, Duration> = LAMBDA_TIMEOUTS
        .iter()
        .map(|(name, timeout)| ((*name).to_owned(), *timeout))
        .collect();
    assert_eq!(
        table.keys().collect::<BTreeSet<_>>(),
        functions.keys().collect::<BTreeSet<_>>(),
        "LAMBDA_TIMEOUTS names every function of the template, and only those"
    );
    let stripe_worst = Duration::from_millis(3 * 3000 + 200 + 400);
    for (binary, (id, function)) in &functions {
        let seconds = property(&template, function, "Timeout")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{id}: a literal Timeout"));
        let lambda = Duration::from_secs(seconds);
        assert_eq!(table[binary], lambda, "{id}: Timeout {seconds} s");
        let t = AwsTimeouts::for_function(binary);
        assert!(
            t.connect <= t.attempt && t.attempt < t.operation,
            "{id}: {t:?}"
        );
        assert!(
            t.operation <= lambda / 4,
            "{id}: one AWS operation may take at most a quarter of the function's time: {t:?}"
        );
        assert!(t.max_attempts >= 2, "{id}: a transient error gets a retry");
        let calls_stripe = environment(&template, function)
            .contains_key("STRIPE_FOUNDING_PRICE_ID")
            || binary == "customer-portal";
        if calls_stripe {
            assert!(
                t.operation + stripe_worst < lambda,
                "{id}: a slow DynamoDB call and Stripe's worst case fit in {seconds} s"
            );
        }
    }
}
