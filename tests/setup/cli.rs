//! `salesctl setup` run as a process, as an operator runs it after `sam deploy`: the stack's
//! outputs from a file, the keys from the environment, the provider APIs at the fakes' URLs.

use std::path::Path;
use std::process::Command;

use sales_tests::CommandOutput;

use serde_json::{json, Value};

use crate::fakes::{self, CALENDLY_TOKEN, CAL_KEY, STRIPE_KEY};
use crate::{template_secret, TestSecret, CALENDLY_HOOK, CAL_HOOK, STRIPE_HOOK};

/// Runs `salesctl setup ARGS` with only the environment given (plus the local AWS settings).
fn salesctl_setup(env: &[(&str, String)], args: &[&str]) -> CommandOutput {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-southeast-2".into());
    let output = Command::new(sales_tests::salesctl_path())
        .arg("setup")
        .args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", sales_tests::endpoint())
        .env("AWS_ENDPOINT_URL_DYNAMODB", sales_tests::endpoint())
        .env("AWS_REGION", region)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run salesctl");
    CommandOutput::of(output)
}

fn write_outputs(dir: &Path, secret_arn: &str) -> String {
    let outputs = json!([
        {"OutputKey": "HttpApiUrl", "OutputValue": "https://api.execute-api.ap-southeast-2.amazonaws.com", "Description": "x"},
        {"OutputKey": "StripeWebhookUrl", "OutputValue": STRIPE_HOOK},
        {"OutputKey": "CalWebhookUrl", "OutputValue": CAL_HOOK},
        {"OutputKey": "CalendlyWebhookUrl", "OutputValue": CALENDLY_HOOK},
        {"OutputKey": "SecretArn", "OutputValue": secret_arn},
    ]);
    let path = dir.join("outputs.json");
    std::fs::write(&path, outputs.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn salesctl_setup_reads_the_stack_outputs_and_is_idempotent() {
    let secret = TestSecret::new(&template_secret()).await;
    let (stripe, _stripe_fake) = fakes::stripe().await;
    let (cal, _cal_fake) = fakes::cal().await;
    let (calendly, _calendly_fake) = fakes::calendly().await;
    let dir = std::env::temp_dir().join(format!("setup-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let outputs = write_outputs(&dir, &secret.arn);
    let mut env = vec![
        ("STRIPE_SECRET_KEY", STRIPE_KEY.to_owned()),
        ("STRIPE_API_BASE", stripe.uri()),
        ("CAL_API_KEY", CAL_KEY.to_owned()),
        ("CAL_API_BASE", cal.uri()),
        ("CALENDLY_TOKEN", CALENDLY_TOKEN.to_owned()),
        ("CALENDLY_API_BASE", calendly.uri()),
    ];
    let args = ["--outputs", &outputs, "--standard-amount-cents", "9900"];
    let before = secret.raw().await;

    // A dry run: the plan, no change.
    let dry = salesctl_setup(&env, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(
        dry.stdout.starts_with("dry run: nothing was changed"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("would create"), "{}", dry.stdout);
    assert_eq!(secret.raw().await, before);

    // The real run.
    let first = salesctl_setup(&env, &args);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("created"), "{}", first.stdout);
    assert!(
        first.stdout.contains("values not shown"),
        "{}",
        first.stdout
    );
    let stored = secret.json().await;
    for key in [
        "STRIPE_WEBHOOK_SECRET",
        "CAL_WEBHOOK_SECRET",
        "CALENDLY_WEBHOOK_SIGNING_KEY",
        "STRIPE_SECRET_KEY",
    ] {
        let value = stored[key].as_str().unwrap();
        assert!(!value.is_empty(), "{key} is set");
        assert!(
            !first.stdout.contains(value) && !first.stderr.contains(value),
            "{key} printed"
        );
    }

    // The demo's booking link, ready for the widget.
    assert!(
        first
            .stdout
            .contains("data-cal-link=\"sam-sales/agency-os-demo\""),
        "{}",
        first.stdout
    );

    // Again, for a script: every step reused, nothing set.
    let after_first = secret.raw().await;
    let again = salesctl_setup(&env, &[&args[..], &["--json"]].concat());
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    let report: Value = serde_json::from_str(&again.stdout).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    assert!(steps.iter().all(|s| s["outcome"] == "reused"), "{report}");
    assert_eq!(report["secret_keys_set"], json!([]));
    assert_eq!(secret.raw().await, after_first);

    // A refused Cal.com key: exit 1, what to do, the secret as it was.
    env.retain(|(k, _)| *k != "CAL_API_KEY");
    env.push(("CAL_API_KEY", "cal_live_revoked".to_owned()));
    let refused = salesctl_setup(&env, &args);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stderr
            .contains("Cal.com: listing the webhooks failed"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("what to do:"), "{}", refused.stderr);
    assert!(
        !refused.stderr.contains("cal_live_revoked"),
        "{}",
        refused.stderr
    );
    assert_eq!(secret.raw().await, after_first);

    // Bad usage: exit 2, naming the flag.
    let usage = salesctl_setup(&env, &["--outputs", &outputs]);
    assert_eq!(usage.code, 2, "{}{}", usage.stdout, usage.stderr);
    assert!(
        usage.stderr.contains("--standard-amount-cents"),
        "{}",
        usage.stderr
    );

    std::fs::remove_dir_all(dir).unwrap();
    secret.delete().await;
}
