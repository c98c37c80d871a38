//! `salesctl`: the sales team's and the operator's command line, straight to DynamoDB with the
//! caller's AWS credentials (or the local server named by `AWS_ENDPOINT_URL`).

use std::process::ExitCode;

use sales::store::table;
use sales::SalesStore;

const USAGE: &str = "usage: salesctl <command>

commands:
  create-table   create the sales table (TABLE_NAME, default agency-sales) if it does not exist
  summary        the pipeline by stage
  spots          founding spots: members, live holds, remaining";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let store = SalesStore::from_env().await;
    let result = match command.as_str() {
        "create-table" => table::create_table(store.client(), store.table_name())
            .await
            .map(|created| {
                let verb = if created {
                    "created"
                } else {
                    "already exists:"
                };
                println!("table {verb} {}", store.table_name());
            }),
        "summary" => store.pipeline_summary().await.map(|summary| {
            println!(
                "{:<14} {:>6} {:>16} {:>16}",
                "stage", "count", "total AUD", "weighted AUD"
            );
            for line in summary.stages {
                println!(
                    "{:<14} {:>6} {:>16} {:>16}",
                    line.stage.as_str(),
                    line.count,
                    line.total_value_aud,
                    line.weighted_value_aud
                );
            }
        }),
        "spots" => store
            .founding_tally(time::OffsetDateTime::now_utc())
            .await
            .map(|tally| {
                println!(
                    "{} of {} founding spots left ({} members, {} held)",
                    tally.remaining, tally.total, tally.members, tally.held
                );
            }),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("salesctl: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("salesctl: {err}");
            ExitCode::FAILURE
        }
    }
}
