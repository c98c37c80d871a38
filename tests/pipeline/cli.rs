//! `salesctl`, run as a process against a test table, as the sales team runs it.

use std::process::Command;

use sales_tests::CommandOutput;

use sales::domain::PipelineStage;
use sales_tests::TestTable;
use time::macros::datetime;

use crate::{deal, email, founding_members, NOW};

fn salesctl(table: &TestTable, args: &[&str]) -> CommandOutput {
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
        .env_remove("SALES_USER")
        .env("USER", "tester")
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
    assert_eq!(spots["remaining"], 18);
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
        (vec!["move", "ada@example.com", "won"], 2, "unknown stage"),
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
            "unknown option --colour",
        ),
        (vec!["frobnicate"], 2, "unknown command"),
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
