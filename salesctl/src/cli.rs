//! `salesctl`'s command line: every command and flag, with its help (clap, derive).
//!
//! Parsing rules worth knowing (tests/pipeline/cli.rs checks them):
//! - `--flag value` and `--flag=value` both work.
//! - A value that starts with `-` after a flag is taken as the next flag, never as the value:
//!   `--next-action --due X` is an error (exit 2), not a next action called "--due". Write
//!   `--next-action=--due` when you mean it. `--value` and `--probability` take negative numbers
//!   so that the domain can say why they are refused.
//! - Usage errors exit 2, `--help` and `--version` exit 0.

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sales::domain::PipelineStage;

const AFTER_HELP: &str = "\
Stages: prospect, contacted, demo_booked, demo_done, proposal_sent, negotiation, closed_won,
closed_lost. Dates: 2026-12-01 (midnight in the display zone) or an RFC 3339 time.
Times are stored in UTC and shown in --tz, else $TZ, else the system's zone; --json is UTC.
Exit codes: 0 done, 1 the store (or AWS) failed, 2 bad usage or input, 3 not found, 4 conflict.
AWS sign-in: the SDK's usual chain (environment, AWS_PROFILE with keys, SSO or
credential_process); AWS_ENDPOINT_URL_DYNAMODB for a local server. Guide: docs/salesctl.md";

/// The sales team's and the operator's command line: the pipeline, founding spots and setup,
/// straight to the DynamoDB table with your AWS credentials.
#[derive(Debug, Parser)]
#[command(
    name = "salesctl",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    after_help = AFTER_HELP,
)]
pub struct Cli {
    /// Show times in this IANA time zone (Australia/Sydney, UTC, …) [default: $TZ, else the
    /// system's zone]
    #[arg(long, global = true, value_name = "ZONE", display_order = 100)]
    pub tz: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// The whole command line as clap sees it (for completions, and for tests that walk every
/// command).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// `--json`: output a script can read (the same shapes as the pipeline API; times in UTC).
#[derive(Debug, Clone, Copy, Args)]
pub struct Output {
    /// Print JSON instead of a table (times in UTC, RFC 3339)
    #[arg(long)]
    pub json: bool,
}

fn stages() -> PossibleValuesParser {
    PossibleValuesParser::new(PipelineStage::ALL.map(|s| s.as_str()))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The pipeline by stage: count, total and weighted AUD
    #[command(display_order = 1)]
    Summary(Output),

    /// Deals, soonest next action first (a page; --all for every page)
    #[command(display_order = 2)]
    Leads(LeadsArgs),

    /// One deal: pipeline record, history, bookings, billing
    #[command(display_order = 3)]
    Show {
        /// The lead's e-mail address or id
        #[arg(value_name = "EMAIL|ID")]
        who: String,
        #[command(flatten)]
        output: Output,
    },

    /// Find or create a lead (source sales_team)
    #[command(display_order = 4)]
    Add {
        /// The lead's e-mail address
        #[arg(value_name = "EMAIL")]
        email: String,
        /// The person's name
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Their company
        #[arg(long, value_name = "COMPANY")]
        company: Option<String>,
        #[command(flatten)]
        output: Output,
    },

    /// Move a deal (and edit its next action, owner, value); the history names you
    #[command(display_order = 5)]
    Move(MoveArgs),

    /// Founding members in spot order
    #[command(display_order = 10)]
    Members(Output),

    /// The waitlist in position order
    #[command(display_order = 11)]
    Waitlist(Output),

    /// Founding spots: every spot's state (member, lapsed until, held until, free) and the count
    #[command(display_order = 12)]
    Spots(Output),

    /// Live holds: spot, e-mail, client address, age, until, session
    #[command(display_order = 13)]
    Holds(Output),

    /// Release a spot's live hold (and its client's slot); exit 3 when it has none
    #[command(display_order = 14)]
    ReleaseHold {
        /// The founding spot, 1 to 20
        #[arg(value_name = "SPOT")]
        spot: String,
        #[command(flatten)]
        output: Output,
    },

    /// Offer the lowest free founding spot to a waitlisted e-mail now, out of turn (48 hours;
    /// the next sweep e-mails it); exit 3 when no spot is free
    #[command(display_order = 14)]
    Offer {
        /// The waitlisted e-mail
        #[arg(value_name = "EMAIL")]
        email: String,
        #[command(flatten)]
        output: Output,
    },

    /// Pass a waitlisted e-mail over (they declined): waiting or offered → skipped, an offer's
    /// spot given back
    #[command(display_order = 14)]
    Skip {
        /// The waitlisted e-mail
        #[arg(value_name = "EMAIL")]
        email: String,
        #[command(flatten)]
        output: Output,
    },

    /// Replay Stripe's events since a time through the webhook's code (after an outage);
    /// already applied events change nothing. Needs STRIPE_SECRET_KEY
    #[command(display_order = 15)]
    Reconcile {
        /// Events created at or after this date (midnight in the display zone) or RFC 3339 time
        #[arg(long, value_name = "DATE|TIME")]
        since: String,
        /// List what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        output: Output,
    },

    /// Create the sales table (TABLE_NAME, default agency-sales), if it does not exist
    #[command(display_order = 20)]
    CreateTable(Output),

    /// Make Stripe, Cal.com and Calendly ready for a deployed stack and save the ids, links and
    /// signing secrets in its secret (keys from STRIPE_SECRET_KEY, CAL_API_KEY, CALENDLY_TOKEN)
    #[command(display_order = 21)]
    Setup(SetupArgs),

    /// Print a shell completion script: salesctl completions bash > ~/.local/share/bash-completion/completions/salesctl
    #[command(display_order = 30)]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct LeadsArgs {
    /// Deals in this stage (the by_stage index)
    #[arg(long, value_name = "STAGE", value_parser = stages())]
    pub stage: Option<String>,
    /// Deals assigned to this person (the by_assignee index; --stage filters)
    #[arg(long, value_name = "WHO")]
    pub assigned_to: Option<String>,
    /// Only deals whose next action is due before this date or time
    #[arg(long, value_name = "DATE")]
    pub due_before: Option<String>,
    /// Deals per page, 1 to 100 [default: 25]
    #[arg(long, value_name = "N")]
    pub limit: Option<String>,
    /// Go on from where the last page stopped (printed under it)
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Every page, not just one
    #[arg(long)]
    pub all: bool,
    /// Print CSV (for a spreadsheet: quoted, no formulas; times in UTC) instead of a table
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    /// The lead's e-mail address or id
    #[arg(value_name = "EMAIL|ID")]
    pub who: String,
    /// The stage to move the deal to (its current stage to only edit the other fields)
    #[arg(value_name = "STAGE", value_parser = stages())]
    pub stage: String,
    /// The next action ("Send contract"); --next-action= clears it
    #[arg(long, value_name = "TEXT")]
    pub next_action: Option<String>,
    /// When the next action is due: 2026-12-01 (midnight in the display zone) or an RFC 3339 time; --due= clears it
    #[arg(long, value_name = "DATE")]
    pub due: Option<String>,
    /// Who owns the deal; --assign= clears it
    #[arg(long, value_name = "WHO")]
    pub assign: Option<String>,
    /// The deal's value in AUD (4999.95)
    #[arg(long, value_name = "AUD", allow_negative_numbers = true)]
    pub value: Option<String>,
    /// The chance of winning it, 0 to 100
    #[arg(long, value_name = "PERCENT", allow_negative_numbers = true)]
    pub probability: Option<String>,
    /// Who you are, for the history [default: $SALES_USER, else $USER]
    #[arg(long = "as", value_name = "WHO")]
    pub actor: Option<String>,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The stack's outputs (aws cloudformation describe-stacks --query 'Stacks[0].Outputs')
    #[arg(long, value_name = "FILE")]
    pub outputs: Option<String>,
    /// The stack's secret, name or ARN [default: the SecretArn output]
    #[arg(long, value_name = "ID")]
    pub secret_id: Option<String>,
    /// The stripe-webhook function's URL [default: the StripeWebhookUrl output]
    #[arg(long, value_name = "URL")]
    pub stripe_webhook_url: Option<String>,
    /// The cal-webhook function's URL [default: the CalWebhookUrl output]
    #[arg(long, value_name = "URL")]
    pub cal_webhook_url: Option<String>,
    /// The calendly-webhook function's URL [default: the CalendlyWebhookUrl output]
    #[arg(long, value_name = "URL")]
    pub calendly_webhook_url: Option<String>,
    /// The standard plan's monthly price in AUD cents (founding is 40% off) [env: STANDARD_PRICE_AUD_CENTS]
    #[arg(long, value_name = "N")]
    pub standard_amount_cents: Option<String>,
    /// The Stripe product's id [default: agency_os]
    #[arg(long, value_name = "ID")]
    pub product_id: Option<String>,
    /// Calendly webhook scope (organization needs an admin's token) [default: user]
    #[arg(long, value_name = "SCOPE", value_parser = ["user", "organization"])]
    pub calendly_scope: Option<String>,
    /// The Cal.com demo event type's slug [default: agency-os-demo]
    #[arg(long, value_name = "SLUG")]
    pub cal_event_slug: Option<String>,
    /// Where the demo happens: cal-video, google-meet, zoom, office365-video, https://…, phone:…, address:… [default: cal-video]
    #[arg(long, value_name = "WHERE")]
    pub cal_location: Option<String>,
    /// A self-hosted Cal.com's booking site [default: https://cal.com, or CAL_BOOKING_BASE]
    #[arg(long, value_name = "URL")]
    pub cal_booking_base: Option<String>,
    /// Read and plan only; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: Output,
}

impl SetupArgs {
    /// A flag's value by its long name (what [`crate::setup::config_from`] asks for).
    pub fn flag(&self, name: &str) -> Option<String> {
        match name {
            "outputs" => self.outputs.clone(),
            "secret-id" => self.secret_id.clone(),
            "stripe-webhook-url" => self.stripe_webhook_url.clone(),
            "cal-webhook-url" => self.cal_webhook_url.clone(),
            "calendly-webhook-url" => self.calendly_webhook_url.clone(),
            "standard-amount-cents" => self.standard_amount_cents.clone(),
            "product-id" => self.product_id.clone(),
            "calendly-scope" => self.calendly_scope.clone(),
            "cal-event-slug" => self.cal_event_slug.clone(),
            "cal-location" => self.cal_location.clone(),
            "cal-booking-base" => self.cal_booking_base.clone(),
            _ => None,
        }
    }
}

/// The shells `salesctl completions` writes for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl From<Shell> for clap_complete::Shell {
    fn from(shell: Shell) -> Self {
        match shell {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
            Shell::Elvish => clap_complete::Shell::Elvish,
            Shell::Powershell => clap_complete::Shell::PowerShell,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_and_flag_has_help() {
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no help");
            }
            for sub in command.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no help",
                    sub.get_name()
                );
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "salesctl");
    }

    #[test]
    fn a_flag_is_never_taken_for_a_value() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["salesctl"], args].concat());
        let err = parse(&[
            "move",
            "a@b.example",
            "negotiation",
            "--next-action",
            "--due",
            "x",
        ])
        .unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let ok = parse(&["move", "a@b.example", "negotiation", "--next-action=--due"]).unwrap();
        let Command::Move(args) = ok.command else {
            panic!("move")
        };
        assert_eq!(args.next_action.as_deref(), Some("--due"));
        let ok = parse(&["move", "a@b.example", "won", "--value", "-5"]);
        assert!(ok.is_err(), "an unknown stage is refused");
        let ok = parse(&["move", "a@b.example", "negotiation", "--value", "-5"]).unwrap();
        let Command::Move(args) = ok.command else {
            panic!("move")
        };
        assert_eq!(args.value.as_deref(), Some("-5"));
    }
}
