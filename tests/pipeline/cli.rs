//! `salesctl`, run as a process against a test table, as the sales team runs it.

use std::process::Command;

use sales_tests::CommandOutput;

use sales::domain::PipelineStage;
use sales_tests::TestTable;
use time::macros::datetime;

use crate::{deal, email, founding_members, NOW};

fn salesctl(table: &TestTable, args: &[&str]) -> CommandOutput {
    salesctl_with(table, args, &[])
}

fn salesctl_with(table: &TestTable, args: &[&str], env: &[(&str, &str)]) -> CommandOutput {
    let output = Command::new(sales_tests::salesctl_path())
        .args(args)
        .envs(env.iter().copied())
        .env("TABLE_NAME", &table.name)
        .env("AWS_ENDPOINT_URL_DYNAMODB", sales_tests::endpoint())
        .env(
            "AWS_REGION",
            std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-southeast-2".into()),
        )
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("SALES_USER")
        .env_remove("AWS_PROFILE")
        .env("USER", "tester")
        // Times in the tables are shown in $TZ: one zone whatever the machine's.
        .env("TZ", "UTC")
        .output()
        .expect("run salesctl");
    CommandOutput::of(output)
}

#[tokio::test]
async fn the_sales_team_reads_and_moves_deals_from_the_terminal() {
    let table = TestTable::new().await;
    let store = &table.store;
    let due = datetime!(2026-12-01 09:00 UTC);
    for n in 0..3 {
        deal(
            store,
            &format!("n{n}@example.com"),
            PipelineStage::Negotiation,
            Some(due + time::Duration::days(n)),
            "1000",
            Some("sam"),
        )
        .await;
    }
    let ada = deal(
        store,
        "ada@example.com",
        PipelineStage::DemoDone,
        None,
        "250",
        None,
    )
    .await;

    // summary: the same figures as the store's, as a table and as JSON.
    let out = salesctl(&table, &["summary"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("negotiation"), "{}", out.stdout);
    let json = salesctl(&table, &["summary", "--json"]).json();
    assert_eq!(
        json,
        serde_json::to_value(store.pipeline_summary().await.unwrap()).unwrap()
    );

    // leads: one page, then every page.
    let page = salesctl(
        &table,
        &["leads", "--stage", "negotiation", "--limit", "2", "--json"],
    )
    .json();
    assert_eq!(page["leads"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());
    let all = salesctl(
        &table,
        &[
            "leads",
            "--stage",
            "negotiation",
            "--limit",
            "2",
            "--all",
            "--json",
        ],
    )
    .json();
    let emails: Vec<&str> = all["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["n0@example.com", "n1@example.com", "n2@example.com"]
    );
    let table_text = salesctl(&table, &["leads", "--assigned-to", "sam"]);
    assert_eq!(table_text.code, 0, "{}", table_text.stderr);
    assert!(table_text
        .stdout
        .lines()
        .next()
        .unwrap()
        .starts_with("stage"));
    assert_eq!(table_text.stdout.matches("@example.com").count(), 3);

    // move: by e-mail, with a next action and due date; the history names who ran it.
    let out = salesctl(
        &table,
        &[
            "move",
            "ada@example.com",
            "proposal_sent",
            "--next-action",
            "Send contract",
            "--due",
            "2026-12-01",
            "--as",
            "sam@agency.example",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("demo_done → proposal_sent"),
        "{}",
        out.stdout
    );
    let lead = store.lead(&ada.id).await.unwrap().unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::ProposalSent);
    assert_eq!(lead.pipeline.next_action.as_deref(), Some("Send contract"));
    assert_eq!(
        lead.pipeline.next_action_date,
        Some(datetime!(2026-12-01 00:00 UTC))
    );
    let history = sales_tests::history(store, &ada.id).await;
    assert_eq!(
        history.last().unwrap().cause.as_str(),
        "user:sam@agency.example"
    );

    // show: by id and by e-mail, the same deal with its history.
    let by_id = salesctl(&table, &["show", ada.id.as_str(), "--json"]).json();
    let by_email = salesctl(&table, &["show", "ADA@example.com", "--json"]).json();
    assert_eq!(by_id, by_email);
    assert_eq!(by_id["lead"]["pipeline"]["stage"], "proposal_sent");
    assert_eq!(by_id["history"].as_array().unwrap().len(), history.len());
    let text = salesctl(&table, &["show", "ada@example.com"]);
    assert!(text.stdout.contains("proposal_sent"), "{}", text.stdout);

    // add: find or create.
    let added = salesctl(
        &table,
        &["add", "new@example.com", "--company", "Acme", "--json"],
    )
    .json();
    assert_eq!(added["created"], true);
    let again = salesctl(&table, &["add", "new@example.com", "--json"]).json();
    assert_eq!(
        (again["created"].as_bool(), &again["lead"]["id"]),
        (Some(false), &added["lead"]["id"])
    );
    table.drop_table().await;
}

#[tokio::test]
async fn founding_members_and_the_waitlist_from_the_terminal() {
    let table = TestTable::new().await;
    founding_members(&table.store, &["m1@example.com", "m2@example.com"]).await;
    table
        .store
        .join_waitlist(&email("w1@example.com"), None, NOW)
        .await
        .unwrap();
    let members = salesctl(&table, &["members", "--json"]).json();
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
    let text = salesctl(&table, &["members"]);
    assert!(text.stdout.contains("m1@example.com") && text.stdout.contains("m2@example.com"));
    let waitlist = salesctl(&table, &["waitlist", "--json"]).json();
    assert_eq!(waitlist["waitlist"][0]["email"], "w1@example.com");
    assert_eq!(waitlist["waitlist"][0]["position"], 1);
    let spots = salesctl(&table, &["spots", "--json"]).json();
    assert_eq!(spots["tally"]["remaining"], 18);
    let states: Vec<&str> = spots["spots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|spot| spot["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 20);
    assert_eq!(states.iter().filter(|s| **s == "member").count(), 2);
    let text = salesctl(&table, &["spots"]);
    assert!(
        text.stdout.contains("18 of 20 founding spots left")
            && text.stdout.contains("m1@example.com"),
        "{}",
        text.stdout
    );
    table.drop_table().await;
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_a_non_zero_exit() {
    let table = TestTable::new().await;
    deal(
        &table.store,
        "ada@example.com",
        PipelineStage::Contacted,
        None,
        "0",
        None,
    )
    .await;
    for (args, code, needle) in [
        (
            vec!["move", "ada@example.com", "won"],
            2,
            "invalid value 'won'",
        ),
        (
            vec!["move", "ada@example.com", "negotiation", "--due", "soon"],
            2,
            "--due",
        ),
        (
            vec![
                "move",
                "ada@example.com",
                "negotiation",
                "--probability",
                "high",
            ],
            2,
            "--probability",
        ),
        (
            vec!["move", "ada@example.com", "negotiation", "--value", "-5"],
            2,
            "--value",
        ),
        (vec!["move", "ada@example.com"], 2, "STAGE"),
        (
            vec!["move", "nobody@example.com", "negotiation"],
            3,
            "no lead",
        ),
        (
            vec!["show", "not-an-id"],
            2,
            "neither an e-mail nor a lead id",
        ),
        (vec!["leads"], 2, "give stage or assigned_to"),
        (
            vec!["leads", "--stage", "negotiation", "--cursor", "xyz"],
            2,
            "cursor",
        ),
        (
            vec!["leads", "--colour", "red"],
            2,
            "unexpected argument '--colour'",
        ),
        (
            vec!["frobnicate"],
            2,
            "unrecognized subcommand 'frobnicate'",
        ),
        // A flag is never taken for the value of the one before it.
        (
            vec![
                "move",
                "ada@example.com",
                "negotiation",
                "--next-action",
                "--due",
                "2026-12-05",
            ],
            2,
            "a value is required for '--next-action",
        ),
        (vec!["leads", "--stage"], 2, "a value is required"),
        (vec!["show"], 2, "<EMAIL|ID>"),
        (vec!["summary", "extra"], 2, "unexpected argument 'extra'"),
        (vec!["summary", "--tz", "Mars/Olympus"], 2, "Mars/Olympus"),
    ] {
        let out = salesctl(&table, &args);
        assert_eq!(out.code, code, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    // Nothing moved.
    let lead = table
        .store
        .lead_by_email(&email("ada@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::Contacted);
    table.drop_table().await;
}

/// `salesctl holds` lists live founding holds with their client address; `salesctl
/// release-hold SPOT` clears one (exit 3 when the spot has no live hold).
#[tokio::test]
async fn the_sales_team_lists_and_releases_holds_from_the_terminal() {
    use sales::domain::{Client, EmailAddress, HoldRef, HoldWindow, LeadSource, NewLead};
    use sales::store::ClientCap;
    let table = TestTable::new().await;
    // Holds taken now (salesctl reads the real clock).
    let now = time::OffsetDateTime::now_utc();
    table
        .store
        .hold_founding_spot_for(
            &NewLead::new(
                EmailAddress::parse("held@example.com").unwrap(),
                LeadSource::Checkout,
            ),
            &HoldRef::generate(),
            HoldWindow::starting_at(now).hold_expires_at,
            Some(&ClientCap {
                client: Client::from_source_ip(Some("2001:db8:5:6::7")),
                holds: 2,
            }),
            now,
        )
        .await
        .unwrap();
    let listed = salesctl(&table, &["holds"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed.stdout.contains("held@example.com") && listed.stdout.contains("2001:db8:5:6::/64"),
        "{}",
        listed.stdout
    );
    let json = salesctl(&table, &["holds", "--json"]).json();
    assert_eq!(json["holds"][0]["spot"], 1);
    let released = salesctl(&table, &["release-hold", "1"]);
    assert_eq!(released.code, 0, "{}", released.stderr);
    assert!(
        released.stdout.contains("released spot 1"),
        "{}",
        released.stdout
    );
    let again = salesctl(&table, &["release-hold", "1"]);
    assert_eq!(again.code, 3, "{}", again.stderr);
    let bad = salesctl(&table, &["release-hold", "21"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    table.drop_table().await;
}

/// Runs `salesctl ARGS` with no AWS settings at all (help, version, completions need none).
fn salesctl_offline(args: &[&str]) -> CommandOutput {
    let output = Command::new(sales_tests::salesctl_path())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run salesctl");
    CommandOutput::of(output)
}

/// Help on every command, `--version`, completions: all without AWS, all exit 0; a usage error
/// exits 2.
#[test]
fn salesctl_explains_itself_and_completes() {
    let help = salesctl_offline(&["move", "--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    for flag in [
        "--next-action",
        "--due",
        "--assign",
        "--value",
        "--probability",
        "--as",
        "--json",
        "--tz",
    ] {
        assert!(
            help.stdout.contains(flag),
            "move --help: {flag}\n{}",
            help.stdout
        );
    }
    assert!(help.stdout.contains("proposal_sent"), "{}", help.stdout);
    for command in [
        "summary",
        "leads",
        "show",
        "add",
        "members",
        "waitlist",
        "spots",
        "holds",
        "release-hold",
        "create-table",
        "setup",
        "completions",
    ] {
        let help = salesctl_offline(&[command, "--help"]);
        assert_eq!(help.code, 0, "{command} --help: {}", help.stderr);
        assert!(
            help.stdout.starts_with(char::is_uppercase),
            "{command}: {}",
            help.stdout
        );
    }
    let help = salesctl_offline(&["help", "leads"]);
    assert!(help.stdout.contains("--due-before"), "{}", help.stdout);

    let version = salesctl_offline(&["--version"]);
    assert_eq!(version.code, 0, "{}", version.stderr);
    assert_eq!(
        version.stdout.trim(),
        format!("salesctl {}", env!("CARGO_PKG_VERSION"))
    );

    let bash = salesctl_offline(&["completions", "bash"]);
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    assert!(
        bash.stdout.contains("complete -F _salesctl"),
        "{}",
        bash.stdout
    );
    assert!(bash.stdout.contains("release-hold"), "{}", bash.stdout);
    let zsh = salesctl_offline(&["completions", "zsh"]);
    assert!(
        zsh.stdout.starts_with("#compdef salesctl"),
        "{}",
        zsh.stdout
    );
    let fish = salesctl_offline(&["completions", "fish"]);
    assert!(
        fish.stdout.contains("complete -c salesctl"),
        "{}",
        fish.stdout
    );

    for (args, needle) in [
        (vec![], "Usage: salesctl"),
        (vec!["completions", "tcsh"], "invalid value 'tcsh'"),
        (vec!["--colour"], "unexpected argument '--colour'"),
    ] {
        let out = salesctl_offline(&args);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
}

/// `--flag=value` works like `--flag value`; an empty `--flag=` clears the field; `--flag=--x`
/// is the value "--x", said explicitly.
#[tokio::test]
async fn flags_take_their_values_with_an_equals_sign_too() {
    let table = TestTable::new().await;
    let ada = deal(
        &table.store,
        "ada@example.com",
        PipelineStage::Contacted,
        None,
        "0",
        None,
    )
    .await;
    let out = salesctl(
        &table,
        &[
            "move",
            "ada@example.com",
            "negotiation",
            "--due=2026-12-01",
            "--next-action=--call first",
            "--assign=sam",
            "--value=1200.50",
            "--probability=40",
            "--as=sam@agency.example",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lead = table.store.lead(&ada.id).await.unwrap().unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::Negotiation);
    assert_eq!(
        lead.pipeline.next_action_date,
        Some(datetime!(2026-12-01 00:00 UTC))
    );
    assert_eq!(lead.pipeline.next_action.as_deref(), Some("--call first"));
    assert_eq!(lead.pipeline.assigned_to.as_deref(), Some("sam"));
    assert_eq!(lead.pipeline.probability.percent(), 40);
    assert_eq!(out.json()["lead"]["pipeline"]["stage"], "negotiation");

    // Cleared with an empty value.
    let out = salesctl(
        &table,
        &[
            "move",
            ada.id.as_str(),
            "negotiation",
            "--due=",
            "--next-action=",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lead = table.store.lead(&ada.id).await.unwrap().unwrap();
    assert_eq!(lead.pipeline.next_action_date, None);
    assert_eq!(lead.pipeline.next_action, None);
    assert_eq!(lead.pipeline.assigned_to.as_deref(), Some("sam"));

    // `--next-action --due X`: refused, nothing stored.
    let out = salesctl(
        &table,
        &[
            "move",
            "ada@example.com",
            "negotiation",
            "--next-action",
            "--due",
            "2026-12-05",
        ],
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let after = table.store.lead(&ada.id).await.unwrap().unwrap();
    assert_eq!(after.version, lead.version, "nothing was written");
    table.drop_table().await;
}

/// `create-table --json` answers JSON (it used to ignore `--json`).
#[tokio::test]
async fn create_table_answers_json() {
    let table = TestTable::new().await;
    let out = salesctl(&table, &["create-table", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.json(),
        serde_json::json!({"table": table.name, "created": false})
    );
    let text = salesctl(&table, &["create-table"]);
    assert_eq!(
        text.stdout.trim(),
        format!("table already exists: {}", table.name)
    );
    table.drop_table().await;
}

/// Times are stored in UTC and shown in `--tz`, else `$TZ`; a bare date is midnight in that zone;
/// `--json` stays UTC.
#[tokio::test]
async fn times_are_shown_in_the_zone_the_reader_picks() {
    let table = TestTable::new().await;
    let ada = deal(
        &table.store,
        "ada@example.com",
        PipelineStage::Negotiation,
        Some(datetime!(2026-12-01 09:00 UTC)),
        "100",
        Some("sam"),
    )
    .await;
    let shown = |args: &[&str], tz: &str| {
        let output = Command::new(sales_tests::salesctl_path())
            .args(args)
            .env("TABLE_NAME", &table.name)
            .env("AWS_ENDPOINT_URL_DYNAMODB", sales_tests::endpoint())
            .env(
                "AWS_REGION",
                std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-southeast-2".into()),
            )
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .env("USER", "tester")
            .env("TZ", tz)
            .output()
            .expect("run salesctl");
        let out = CommandOutput::of(output);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        out.stdout
    };
    let leads = ["leads", "--assigned-to", "sam"];
    let utc = shown(&leads, "UTC");
    assert!(utc.contains("2026-12-01 09:00 UTC"), "{utc}");
    let sydney = shown(&[&leads[..], &["--tz", "Australia/Sydney"]].concat(), "UTC");
    assert!(sydney.contains("2026-12-01 20:00 AEDT"), "{sydney}");
    let perth = shown(&leads, "Australia/Perth");
    assert!(perth.contains("2026-12-01 17:00 AWST"), "{perth}");
    let flag_wins = shown(&[&leads[..], &["--tz=UTC"]].concat(), "Australia/Perth");
    assert!(flag_wins.contains("2026-12-01 09:00 UTC"), "{flag_wins}");
    let show = shown(
        &["show", "ada@example.com", "--tz", "Australia/Sydney"],
        "UTC",
    );
    assert!(show.contains("due 2026-12-01 20:00 AEDT"), "{show}");
    let json = shown(
        &[
            "show",
            "ada@example.com",
            "--json",
            "--tz",
            "Australia/Sydney",
        ],
        "UTC",
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["lead"]["pipeline"]["next_action_date"],
        "2026-12-01T09:00:00Z"
    );

    // A bare date is midnight where the reader is (Sydney: 13:00 UTC the day before).
    shown(
        &[
            "move",
            "ada@example.com",
            "negotiation",
            "--due",
            "2026-12-01",
            "--tz",
            "Australia/Sydney",
        ],
        "UTC",
    );
    let lead = table.store.lead(&ada.id).await.unwrap().unwrap();
    assert_eq!(
        lead.pipeline.next_action_date,
        Some(datetime!(2026-11-30 13:00 UTC))
    );
    table.drop_table().await;
}

/// A temporary AWS config file with one profile, for the sign-in tests.
fn aws_config_dir(profile: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("salesctl-aws-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config"), profile).unwrap();
    dir
}

/// Runs `salesctl ARGS` with only the AWS config file in `dir` (and its profile `sales`): no
/// keys in the environment, no credentials file, `dir` as the home directory (no SSO cache).
fn salesctl_with_profile(table: &TestTable, dir: &std::path::Path, args: &[&str]) -> CommandOutput {
    let output = Command::new(sales_tests::salesctl_path())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_PROFILE", "sales")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TABLE_NAME", &table.name)
        .env("AWS_ENDPOINT_URL_DYNAMODB", sales_tests::endpoint())
        .env("TZ", "UTC")
        .output()
        .expect("run salesctl");
    CommandOutput::of(output)
}

/// An IAM Identity Center (SSO) profile is understood: the SDK looks for the sign-in's cached
/// token (and, finding none here, says so and salesctl says to run `aws sso login`) instead of
/// refusing the profile as a provider it was built without.
#[tokio::test]
async fn an_sso_profile_is_accepted_and_asks_for_aws_sso_login() {
    let table = TestTable::new().await;
    let dir = aws_config_dir(
        "[profile sales]\n\
         sso_session = agency\n\
         sso_account_id = 123456789012\n\
         sso_role_name = SalesTeam\n\
         region = ap-southeast-2\n\
         \n\
         [sso-session agency]\n\
         sso_start_url = https://agency.awsapps.com/start\n\
         sso_region = ap-southeast-2\n\
         sso_registration_scopes = sso:account:access\n",
    );
    let out = salesctl_with_profile(&table, &dir, &["summary"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let stderr = out.stderr.to_lowercase();
    for refusal in [
        "feature",
        "not enabled",
        "unsupported",
        "no providers in chain",
    ] {
        assert!(!stderr.contains(refusal), "{refusal}: {}", out.stderr);
    }
    assert!(
        stderr.contains("sso") && stderr.contains("token"),
        "the SSO token is what is missing: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("aws sso login --profile sales"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(dir).unwrap();
    table.drop_table().await;
}

/// A `credential_process` profile signs salesctl in (here a process printing the local keys).
#[tokio::test]
async fn a_credential_process_profile_signs_in() {
    let table = TestTable::new().await;
    let dir = aws_config_dir("");
    let script = dir.join("credentials.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"test\", \"SecretAccessKey\": \"test\"}'\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("config"),
        format!(
            "[profile sales]\ncredential_process = sh {}\nregion = ap-southeast-2\n",
            script.display()
        ),
    )
    .unwrap();
    let out = salesctl_with_profile(&table, &dir, &["summary", "--json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.json()["stages"].is_array(), "{}", out.stdout);
    std::fs::remove_dir_all(dir).unwrap();
    table.drop_table().await;
}

/// After a webhook outage longer than Stripe's retries, `salesctl reconcile --since` reads the
/// handled events back from Stripe's API (`GET /v1/events`, oldest first) and feeds them through
/// the webhook's own code: `--dry-run` lists what would change and changes nothing; the replay
/// leaves the same state as if every webhook had arrived; a second replay changes nothing.
#[tokio::test]
async fn reconcile_replays_missed_stripe_events_once() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let table = TestTable::new().await;
    let stripe = MockServer::start().await;
    let mut completed: serde_json::Value = serde_json::from_slice(&sales_tests::fixture(
        "stripe/evt_checkout.session.completed.json",
    ))
    .unwrap();
    completed["id"] = serde_json::json!("evt_missed_completed");
    completed["created"] = serde_json::json!(1_767_225_700);
    let object = &mut completed["data"]["object"];
    object["customer_email"] = serde_json::json!("missed@example.com");
    object["client_reference_id"] = serde_json::Value::Null;
    object["metadata"] = serde_json::json!({"plan_type": "standard"});
    let mut paid: serde_json::Value =
        serde_json::from_slice(&sales_tests::fixture("stripe/evt_invoice.paid.json")).unwrap();
    paid["id"] = serde_json::json!("evt_missed_invoice");
    paid["created"] = serde_json::json!(1_767_225_800);
    // Newest first, as Stripe lists them; two pages.
    Mock::given(method("GET"))
        .and(path("/v1/events"))
        .and(query_param("starting_after", "evt_missed_invoice"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"object": "list", "data": [completed], "has_more": false}),
        ))
        .mount(&stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/events"))
        .and(query_param("created[gte]", "1767225600"))
        .and(query_param("types[]", "checkout.session.completed"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"object": "list", "data": [paid], "has_more": true}),
            ),
        )
        .mount(&stripe)
        .await;
    let base = stripe.uri();
    let env = [
        ("STRIPE_SECRET_KEY", "sk_test_reconcile"),
        ("STRIPE_API_BASE", base.as_str()),
    ];
    let since = "2026-01-01T00:00:00Z";
    let missed = sales::domain::EmailAddress::parse("missed@example.com").unwrap();

    let dry = salesctl_with(
        &table,
        &["reconcile", "--since", since, "--dry-run", "--json"],
        &env,
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let listed = dry.json();
    let results: Vec<(&str, &str)> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        vec![
            ("evt_missed_completed", "would_apply"),
            ("evt_missed_invoice", "would_apply")
        ],
        "oldest first"
    );
    assert!(
        table.store.lead_by_email(&missed).await.unwrap().is_none(),
        "a dry run changes nothing"
    );

    let replay = salesctl_with(&table, &["reconcile", "--since", since], &env);
    assert_eq!(replay.code, 0, "{}\n{}", replay.stdout, replay.stderr);
    assert!(replay.stdout.contains("applied now"), "{}", replay.stdout);
    let lead = table
        .store
        .lead_by_email(&missed)
        .await
        .unwrap()
        .expect("the payment's lead");
    assert_eq!(lead.pipeline.stage, PipelineStage::ClosedWon);
    assert_eq!(lead.billing.plan_type.as_deref(), Some("standard"));
    let invoices = table
        .store
        .billing_state(lead.billing.stripe_customer_id.as_deref().unwrap())
        .await
        .unwrap()
        .invoices;
    assert_eq!(invoices.len(), 1);

    let again = salesctl_with(&table, &["reconcile", "--since", since, "--json"], &env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["result"] == "already_applied"),
        "{}",
        again.stdout
    );
    assert_eq!(
        sales_tests::history(&table.store, &lead.id).await.len(),
        1,
        "one stage change, not two"
    );
    table.drop_table().await;
}

/// `salesctl leads --csv`: the filtered deals as CSV, quoted, with no spreadsheet formulas, the
/// same deals as `--json`; where the page ended goes to stderr, never into the CSV.
#[tokio::test]
async fn leads_as_csv_are_quoted_and_safe_to_open_in_a_spreadsheet() {
    let table = TestTable::new().await;
    let store = &table.store;
    let due = datetime!(2026-12-01 09:00 UTC);
    let hostile = store
        .find_or_create_lead(
            &{
                let mut new = sales::domain::NewLead::new(
                    email("eve@example.com"),
                    sales::domain::LeadSource::SalesTeam,
                );
                new.company = Some("=HYPERLINK(\"http://evil.example\",\"x\")".into());
                new.name = Some("Eve \"the\" Tester, Jr.".into());
                new
            },
            NOW,
        )
        .await
        .unwrap();
    let update = sales::domain::PipelineUpdate {
        stage: Some(sales::domain::StageMove::Manual(PipelineStage::Negotiation)),
        next_action: Some(Some("Call back\nthen send contract".into())),
        next_action_date: Some(Some(due)),
        assigned_to: Some(Some("sam".into())),
        deal_value_aud: Some(sales::domain::DealValue::parse("4999.95").unwrap()),
        probability: Some(sales::domain::Probability::new(60).unwrap()),
    };
    store
        .update_pipeline(
            &hostile.id,
            &update,
            &sales::domain::Cause::user("setup"),
            None,
            NOW,
        )
        .await
        .unwrap();
    deal(
        store,
        "ada@example.com",
        PipelineStage::Negotiation,
        Some(due + time::Duration::days(1)),
        "1000",
        Some("sam"),
    )
    .await;
    deal(
        store,
        "other@example.com",
        PipelineStage::DemoDone,
        None,
        "5",
        Some("sam"),
    )
    .await;

    let out = salesctl(
        &table,
        &[
            "leads",
            "--assigned-to",
            "sam",
            "--stage",
            "negotiation",
            "--csv",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,email,name,company,stage,deal_value_aud,probability,weighted_value_aud,next_action,next_action_date,assigned_to,source,created_at"
    );
    assert_eq!(
        lines[1],
        format!(
            "{},eve@example.com,\"Eve \"\"the\"\" Tester, Jr.\",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",negotiation,4999.95,60,2999.97,\"Call back\nthen send contract\",2026-12-01T09:00:00Z,sam,sales_team,2026-11-25T10:00:00Z",
            hostile.id
        )
    );
    assert!(lines[2].contains(",ada@example.com,"), "{}", lines[2]);
    assert_eq!(lines[3], "", "the file ends with a line break");
    assert_eq!(lines.len(), 4, "only the negotiation deals: {}", out.stdout);

    // A page of one: the CSV holds one deal, the cursor is on stderr.
    let page = salesctl(
        &table,
        &["leads", "--assigned-to", "sam", "--limit", "1", "--csv"],
    );
    assert_eq!(page.code, 0, "{}", page.stderr);
    assert_eq!(page.stdout.matches("\r\n").count(), 2, "{}", page.stdout);
    assert!(page.stderr.contains("more: --cursor"), "{}", page.stderr);
    assert!(!page.stdout.contains("more:"));

    // --csv and --json are one or the other.
    let both = salesctl(
        &table,
        &["leads", "--stage", "negotiation", "--csv", "--json"],
    );
    assert_eq!(both.code, 2, "{}", both.stderr);
}

/// The waitlist from the terminal: each person's status, a spot offered by hand (out of turn),
/// someone skipped; exit 3 when no spot is free, 4-ish refusals as errors.
#[tokio::test]
async fn the_sales_team_offers_and_skips_from_the_terminal() {
    use sales::domain::{EmailAddress, HoldRef, LeadSource, NewLead, SpotNumber};
    let table = TestTable::new().await;
    let store = &table.store;
    let now = time::OffsetDateTime::now_utc();
    let hold = |who: String| {
        let new = NewLead::new(EmailAddress::parse(&who).unwrap(), LeadSource::Checkout);
        async move {
            store
                .hold_founding_spot(
                    &new,
                    &HoldRef::generate(),
                    now + time::Duration::minutes(36),
                    now,
                )
                .await
                .unwrap()
        }
    };
    for n in 1..=20 {
        hold(format!("h{n}@example.com")).await;
    }
    for who in ["first@example.com", "second@example.com"] {
        hold(who.to_owned()).await;
    }
    // Nothing free: nothing to offer.
    let none = salesctl(&table, &["offer", "second@example.com"]);
    assert_eq!(none.code, 3, "{}", none.stderr);
    store
        .release_spot_hold(SpotNumber::new(5).unwrap(), now)
        .await
        .unwrap()
        .unwrap();
    // The second in line, out of turn.
    let offered = salesctl(&table, &["offer", "second@example.com"]);
    assert_eq!(offered.code, 0, "{}", offered.stderr);
    assert!(
        offered.stdout.contains("offered spot 5"),
        "{}",
        offered.stdout
    );
    let listed = salesctl(&table, &["waitlist"]);
    assert!(
        listed.stdout.contains("offered spot 5 until") && listed.stdout.contains("waiting"),
        "{}",
        listed.stdout
    );
    // An offer held cannot be offered again; skipping gives the spot back.
    let twice = salesctl(&table, &["offer", "second@example.com"]);
    assert_ne!(twice.code, 0, "{}", twice.stdout);
    let skipped = salesctl(&table, &["skip", "second@example.com", "--json"]).json();
    assert_eq!(skipped["skipped"]["status"], "skipped");
    let statuses = store.founding_spot_statuses(now).await.unwrap();
    assert_eq!(statuses[4].state, sales::domain::SpotStatusKind::Free);
    let json = salesctl(&table, &["waitlist", "--json"]).json();
    let status: Vec<&str> = json["waitlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["waiting", "skipped"]);
    table.drop_table().await;
}
