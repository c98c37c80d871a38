//! `salesctl`: the sales team's and the operator's command line, straight to DynamoDB through
//! the library, with the caller's AWS credentials (or the local server named by
//! `AWS_ENDPOINT_URL_DYNAMODB`, as `.env.dev` sets it).

use std::collections::HashMap;
use std::process::ExitCode;

use sales::domain::{parse_deal_edit, Cause, EmailAddress, Lead, LeadId, LeadSource, NewLead};
use sales::handlers::pipeline::deal_query;
use sales::store::{table, LeadDetail};
use sales::{SalesStore, StoreError};
use serde_json::{json, Map, Value};

const USAGE: &str = "usage: salesctl <command> [options]

deals:
  summary                          the pipeline by stage: count, total and weighted AUD
  leads --stage S | --assigned-to WHO [--stage S] [--due-before DATE] [--limit N] [--cursor C] [--all]
                                   deals, soonest next action first (a page; --all for every page)
  show EMAIL|ID                    one deal: pipeline record, history, bookings, billing
  add EMAIL [--name N] [--company C]
                                   find or create a lead (source sales_team)
  move EMAIL|ID STAGE [--next-action TEXT] [--due DATE] [--assign WHO] [--value AUD]
                      [--probability 0-100] [--as WHO]
                                   move a deal (and edit its next action, owner, value);
                                   the history names you: --as, else $SALES_USER, else $USER
founding:
  members                          founding members in spot order
  waitlist                         the waitlist in position order
  spots                            members, live holds, remaining
  holds                            live holds: spot, e-mail, client address, age, until, session
  release-hold SPOT                release that spot's live hold (and its client's slot)
operator:
  create-table                     create the sales table (TABLE_NAME, default agency-sales)
  setup --outputs FILE | --secret-id ID --stripe-webhook-url U --cal-webhook-url U --calendly-webhook-url U
        [--standard-amount-cents N] [--product-id ID] [--calendly-scope user|organization]
        [--cal-event-slug SLUG] [--cal-location cal-video|google-meet|zoom|https://…|phone:…|address:…]
        [--cal-booking-base URL] [--dry-run]
                                   make Stripe (prices, webhook, portal configuration), Cal.com
                                   (webhook, the Agency OS Demo event type) and Calendly (webhook,
                                   the demo's booking link) ready and save the ids, links and
                                   signing secrets in the stack's secret;
                                   keys from STRIPE_SECRET_KEY, CAL_API_KEY, CALENDLY_TOKEN

Every command takes --json for output a script can read. Stages: prospect, contacted,
demo_booked, demo_done, proposal_sent, negotiation, closed_won, closed_lost. Dates: 2026-12-01
or an RFC 3339 time.";

/// Exit codes: 0 done, 1 the store failed, 2 bad usage or input, 3 not found, 4 conflict.
#[derive(Debug)]
enum Failure {
    Usage(String),
    NotFound(String),
    Conflict(String),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::LeadNotFound => Failure::NotFound("no such lead".into()),
            StoreError::VersionConflict { current } => Failure::Conflict(format!(
                "the deal was changed by someone else meanwhile (now version {current}); run the command again"
            )),
            StoreError::InvalidCursor(reason) => Failure::Usage(format!("--cursor: {reason}")),
            other => Failure::Store(other),
        }
    }
}

impl From<sales::domain::FieldError> for Failure {
    fn from(err: sales::domain::FieldError) -> Self {
        let flag = match err.field {
            "next_action" => "--next-action",
            "next_action_date" => "--due",
            "assigned_to" => "--assign / --assigned-to",
            "deal_value_aud" => "--value",
            "probability" => "--probability",
            "due_before" => "--due-before",
            other => other,
        };
        Failure::Usage(format!("{flag}: {}", err.reason))
    }
}

/// Positional arguments, `--flag value` options and `--switch`es.
struct Args {
    positional: Vec<String>,
    options: HashMap<String, String>,
    switches: Vec<String>,
}

const SWITCHES: [&str; 2] = ["--json", "--all"];

impl Args {
    fn parse(raw: impl Iterator<Item = String>, allowed: &[&str]) -> Result<Args, Failure> {
        let mut args = Args {
            positional: Vec::new(),
            options: HashMap::new(),
            switches: Vec::new(),
        };
        let mut raw = raw.peekable();
        while let Some(arg) = raw.next() {
            if SWITCHES.contains(&arg.as_str()) {
                args.switches.push(arg);
            } else if let Some(name) = arg.strip_prefix("--") {
                if !allowed.contains(&name) {
                    return Err(Failure::Usage(format!("unknown option --{name}")));
                }
                let value = raw
                    .next()
                    .ok_or_else(|| Failure::Usage(format!("--{name} needs a value")))?;
                args.options.insert(name.to_owned(), value);
            } else {
                args.positional.push(arg);
            }
        }
        Ok(args)
    }

    fn json(&self) -> bool {
        self.switches.iter().any(|s| s == "--json")
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    fn positional(&self, at: usize, what: &str) -> Result<&str, Failure> {
        self.positional
            .get(at)
            .map(String::as_str)
            .ok_or_else(|| Failure::Usage(format!("missing {what}")))
    }

    fn at_most(&self, count: usize) -> Result<(), Failure> {
        match self.positional.get(count) {
            Some(extra) => Err(Failure::Usage(format!("unexpected argument {extra:?}"))),
            None => Ok(()),
        }
    }
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("salesctl: {err}"),
    }
}

fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("-")
}

fn date(at: Option<time::OffsetDateTime>) -> String {
    at.map_or_else(|| "-".to_owned(), sales::domain::time_format::to_sortable)
}

/// A lead by e-mail (anything with an `@`) or by id.
async fn find_lead(store: &SalesStore, who: &str) -> Result<Lead, Failure> {
    if who.contains('@') {
        let email =
            EmailAddress::parse(who).map_err(|e| Failure::Usage(format!("{who:?}: {e}")))?;
        store
            .lead_by_email(&email)
            .await?
            .ok_or_else(|| Failure::NotFound(format!("no lead with e-mail {email}")))
    } else {
        let id = LeadId::parse(who)
            .map_err(|_| Failure::Usage(format!("{who:?} is neither an e-mail nor a lead id")))?;
        store
            .lead(&id)
            .await?
            .ok_or_else(|| Failure::NotFound(format!("no lead with id {id}")))
    }
}

fn print_leads(leads: &[Lead]) {
    println!(
        "{:<14} {:<20} {:<24} {:<28} {:>12} {:>4} {:<16} id",
        "stage", "next action due", "next action", "email", "value AUD", "%", "assigned to"
    );
    for lead in leads {
        let p = &lead.pipeline;
        println!(
            "{:<14} {:<20} {:<24} {:<28} {:>12} {:>4} {:<16} {}",
            p.stage.as_str(),
            date(p.next_action_date),
            or_dash(p.next_action.as_deref()),
            lead.email.as_str(),
            p.deal_value_aud.amount().to_string(),
            p.probability.percent(),
            or_dash(p.assigned_to.as_deref()),
            lead.id
        );
    }
}

fn print_detail(detail: &LeadDetail) {
    let lead = &detail.lead;
    let p = &lead.pipeline;
    println!("lead        {} ({})", lead.email.as_str(), lead.id);
    println!("name        {}", or_dash(lead.name.as_deref()));
    println!("company     {}", or_dash(lead.company.as_deref()));
    println!("source      {}", lead.source.as_str());
    println!(
        "stage       {} (set by {})",
        p.stage.as_str(),
        p.stage_set_by.as_str()
    );
    println!(
        "next action {} due {}",
        or_dash(p.next_action.as_deref()),
        date(p.next_action_date)
    );
    println!("assigned to {}", or_dash(p.assigned_to.as_deref()));
    println!(
        "deal        AUD {} at {}%",
        p.deal_value_aud.amount(),
        p.probability.percent()
    );
    println!("version     {}", lead.version);
    if let Some(plan) = &lead.billing.plan_type {
        println!(
            "billing     {plan} plan, customer {}, subscription {}",
            or_dash(lead.billing.stripe_customer_id.as_deref()),
            or_dash(lead.billing.stripe_subscription_id.as_deref())
        );
    }
    for subscription in &detail.billing.subscriptions {
        println!(
            "            subscription {} {}",
            subscription.subscription, subscription.status
        );
    }
    for invoice in &detail.billing.invoices {
        println!(
            "            invoice {} {} {} {}",
            invoice.invoice, invoice.status, invoice.amount, invoice.currency
        );
    }
    if let Some(follow_up) = &lead.billing.follow_up {
        println!("follow up   {follow_up}");
    }
    println!("\nhistory");
    for change in &detail.history {
        println!(
            "  {}  {} → {}  {}",
            sales::domain::time_format::to_sortable(change.at),
            change.from.as_str(),
            change.to.as_str(),
            change.cause
        );
    }
    println!("\nbookings");
    for booking in &detail.bookings {
        println!(
            "  {}  {}  {}  {}",
            sales::domain::time_format::to_sortable(booking.start),
            booking.status.as_str(),
            booking.reference.provider.as_str(),
            booking.reference.id
        );
    }
}

async fn run(store: &SalesStore, command: &str, rest: Vec<String>) -> Result<(), Failure> {
    let now = time::OffsetDateTime::now_utc();
    match command {
        "create-table" => {
            let args = Args::parse(rest.into_iter(), &[])?;
            args.at_most(0)?;
            let created = table::create_table(store.client(), store.table_name()).await?;
            let verb = if created {
                "created"
            } else {
                "already exists:"
            };
            println!("table {verb} {}", store.table_name());
        }
        "summary" => {
            let args = Args::parse(rest.into_iter(), &[])?;
            args.at_most(0)?;
            let summary = store.pipeline_summary().await?;
            if args.json() {
                print_json(&summary);
            } else {
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
            }
        }
        "leads" => {
            let args = Args::parse(
                rest.into_iter(),
                &["stage", "assigned-to", "due-before", "limit", "cursor"],
            )?;
            args.at_most(0)?;
            let params: Vec<(&str, &str)> = [
                ("stage", "stage"),
                ("assigned-to", "assigned_to"),
                ("due-before", "due_before"),
                ("limit", "limit"),
                ("cursor", "cursor"),
            ]
            .into_iter()
            .filter_map(|(flag, param)| args.option(flag).map(|value| (param, value)))
            .collect();
            let mut query = deal_query(&params)?;
            let all = args.switches.iter().any(|s| s == "--all");
            let mut leads = Vec::new();
            let next = loop {
                let page = store.list_deals(&query).await?;
                leads.extend(page.leads);
                match page.next_cursor {
                    Some(cursor) if all => query.cursor = Some(cursor),
                    other => break other,
                }
            };
            if args.json() {
                print_json(&json!({"leads": leads, "next_cursor": next}));
            } else {
                print_leads(&leads);
                if let Some(cursor) = next {
                    println!("\nmore: --cursor {}", cursor.as_str());
                }
            }
        }
        "show" => {
            let args = Args::parse(rest.into_iter(), &[])?;
            let who = args.positional(0, "EMAIL or lead id")?;
            args.at_most(1)?;
            let lead = find_lead(store, who).await?;
            let detail = store
                .lead_detail(&lead.id)
                .await?
                .ok_or_else(|| Failure::NotFound(format!("no lead {who}")))?;
            if args.json() {
                print_json(&detail);
            } else {
                print_detail(&detail);
            }
        }
        "add" => {
            let args = Args::parse(rest.into_iter(), &["name", "company"])?;
            let raw = args.positional(0, "EMAIL")?;
            args.at_most(1)?;
            let email =
                EmailAddress::parse(raw).map_err(|e| Failure::Usage(format!("{raw:?}: {e}")))?;
            let mut new_lead = NewLead::new(email, LeadSource::SalesTeam);
            new_lead.name = args.option("name").map(str::to_owned);
            new_lead.company = args.option("company").map(str::to_owned);
            let found = store.find_or_create_lead(&new_lead, now).await?;
            let lead = store
                .lead(&found.id)
                .await?
                .ok_or(StoreError::LeadNotFound)?;
            if args.json() {
                print_json(&json!({"lead": lead, "created": found.created}));
            } else {
                let verb = if found.created { "created" } else { "exists:" };
                println!("{verb} {} ({})", lead.email.as_str(), lead.id);
            }
        }
        "move" => {
            let args = Args::parse(
                rest.into_iter(),
                &["next-action", "due", "assign", "value", "probability", "as"],
            )?;
            let who = args.positional(0, "EMAIL or lead id")?;
            let stage = args.positional(1, "STAGE")?;
            args.at_most(2)?;
            let mut fields = Map::new();
            fields.insert("stage".into(), Value::from(stage));
            for (flag, field) in [
                ("next-action", "next_action"),
                ("due", "next_action_date"),
                ("assign", "assigned_to"),
                ("value", "deal_value_aud"),
            ] {
                if let Some(value) = args.option(flag) {
                    fields.insert(field.into(), Value::from(value));
                }
            }
            if let Some(raw) = args.option("probability") {
                let percent: i64 = raw.trim().parse().map_err(|_| {
                    Failure::Usage(format!("--probability: {raw:?} is not a whole number"))
                })?;
                fields.insert("probability".into(), Value::from(percent));
            }
            let update = parse_deal_edit(&fields, &[])?;
            let actor = args
                .option("as")
                .map(str::to_owned)
                .or_else(|| std::env::var("SALES_USER").ok())
                .or_else(|| std::env::var("USER").ok())
                .filter(|who| !who.trim().is_empty())
                .ok_or_else(|| {
                    Failure::Usage("say who you are: --as WHO (or set SALES_USER)".into())
                })?;
            let lead = find_lead(store, who).await?;
            let change = store
                .update_pipeline(
                    &lead.id,
                    &update,
                    &Cause::user(&actor),
                    Some(lead.version),
                    now,
                )
                .await?;
            if args.json() {
                print_json(&json!({
                    "lead": change.lead,
                    "stage_change": change.stage_change,
                    "stage_kept": change.stage_kept,
                }));
            } else {
                let p = &change.lead.pipeline;
                match &change.stage_change {
                    Some(c) => println!(
                        "{}: {} → {}",
                        change.lead.email.as_str(),
                        c.from.as_str(),
                        c.to.as_str()
                    ),
                    None => println!("{}: stays {}", change.lead.email.as_str(), p.stage.as_str()),
                }
                println!(
                    "next action {} due {}",
                    or_dash(p.next_action.as_deref()),
                    date(p.next_action_date)
                );
            }
        }
        "members" => {
            let args = Args::parse(rest.into_iter(), &[])?;
            args.at_most(0)?;
            let members = store.founding_members().await?;
            if args.json() {
                print_json(&json!({ "members": members }));
            } else {
                println!("{:>4}  {:<32} {:<24} confirmed", "spot", "email", "company");
                for m in &members {
                    println!(
                        "{:>4}  {:<32} {:<24} {}",
                        m.spot.get(),
                        m.email.as_str(),
                        or_dash(m.company_name.as_deref()),
                        sales::domain::time_format::to_sortable(m.confirmed_at)
                    );
                }
            }
        }
        "waitlist" => {
            let args = Args::parse(rest.into_iter(), &[])?;
            args.at_most(0)?;
            let waitlist = store.waitlist().await?;
            if args.json() {
                print_json(&json!({ "waitlist": waitlist }));
            } else {
                println!("{:>8}  {:<32} joined", "position", "email");
                for entry in &waitlist {
                    println!(
                        "{:>8}  {:<32} {}",
                        entry.position,
                        entry.email.as_str(),
                        sales::domain::time_format::to_sortable(entry.joined_at)
                    );
                }
            }
        }
        "holds" => {
            let args = Args::parse(rest.into_iter(), &[])?;
            args.at_most(0)?;
            let holds = store.live_holds(now).await?;
            if args.json() {
                print_json(&json!({ "holds": holds }));
            } else {
                println!(
                    "{:>4}  {:<32} {:<22} {:>6}  {:<20} session",
                    "spot", "email", "client", "age", "until"
                );
                for hold in &holds {
                    let age = hold
                        .held_at
                        .map(|at| format!("{}m", (now - at).whole_minutes()))
                        .unwrap_or_else(|| "-".into());
                    println!(
                        "{:>4}  {:<32} {:<22} {:>6}  {:<20} {}",
                        hold.spot.get(),
                        hold.email.as_str(),
                        or_dash(hold.client.as_deref()),
                        age,
                        sales::domain::time_format::to_sortable(hold.expires_at),
                        or_dash(hold.session_id.as_deref())
                    );
                }
            }
        }
        "release-hold" => {
            let args = Args::parse(rest.into_iter(), &[])?;
            let raw = args.positional(0, "SPOT")?;
            args.at_most(1)?;
            let spot = sales::domain::SpotNumber::parse(raw)
                .map_err(|e| Failure::Usage(format!("SPOT: {e}")))?;
            match store.release_spot_hold(spot, now).await? {
                Some(hold) if args.json() => print_json(&json!({ "released": hold })),
                Some(hold) => println!(
                    "released spot {} (held by {} from {})",
                    spot.get(),
                    hold.email.as_str(),
                    or_dash(hold.client.as_deref())
                ),
                None => return Err(Failure::NotFound(format!("spot {spot} has no live hold"))),
            }
        }
        "spots" => {
            let args = Args::parse(rest.into_iter(), &[])?;
            args.at_most(0)?;
            let tally = store.founding_tally(now).await?;
            if args.json() {
                print_json(&tally);
            } else {
                println!(
                    "{} of {} founding spots left ({} members, {} held)",
                    tally.remaining, tally.total, tally.members, tally.held
                );
            }
        }
        "setup" => {
            // `--dry-run` is a switch of this command only.
            let dry_run = rest.iter().any(|a| a == "--dry-run");
            let args = Args::parse(
                rest.into_iter().filter(|a| a != "--dry-run"),
                &[
                    "outputs",
                    "secret-id",
                    "stripe-webhook-url",
                    "cal-webhook-url",
                    "calendly-webhook-url",
                    "standard-amount-cents",
                    "product-id",
                    "calendly-scope",
                    "cal-event-slug",
                    "cal-location",
                    "cal-booking-base",
                ],
            )?;
            args.at_most(0)?;
            let config = sales::setup::config_from(
                |name| args.option(name).map(str::to_owned),
                |name| std::env::var(name).ok(),
                dry_run,
            )
            .map_err(Failure::Usage)?;
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
            match sales::setup::run(&config, &secrets).await {
                Ok(report) if args.json() => print_json(&report),
                Ok(report) => print!("{report}"),
                Err(failure) => {
                    if args.json() {
                        print_json(&json!({"error": failure.error, "report": failure.report}));
                    }
                    // A provider or AWS failed: exit 1, with what was done and what to do.
                    eprintln!("salesctl setup: {failure}");
                    std::process::exit(1);
                }
            }
        }
        other => return Err(Failure::Usage(format!("unknown command {other:?}"))),
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let store = SalesStore::from_env().await;
    match run(&store, &command, args.collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("salesctl {command}: {message}\n(salesctl --help for usage)");
            ExitCode::from(2)
        }
        Err(Failure::NotFound(message)) => {
            eprintln!("salesctl {command}: {message}");
            ExitCode::from(3)
        }
        Err(Failure::Conflict(message)) => {
            eprintln!("salesctl {command}: {message}");
            ExitCode::from(4)
        }
        Err(Failure::Store(err)) => {
            eprintln!("salesctl {command}: {err}");
            ExitCode::FAILURE
        }
    }
}
