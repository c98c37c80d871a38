//! `salesctl`: the sales team's and the operator's command line, straight to DynamoDB through
//! the `sales` library, with the caller's AWS credentials (environment, a profile with keys, SSO
//! or `credential_process`), or the local server named by `AWS_ENDPOINT_URL_DYNAMODB`, as
//! `.env.dev` sets it.
//!
//! - [`cli`]: the commands and flags (clap).
//! - [`csv`]: `leads --csv` (quoting, and no spreadsheet formulas).
//! - [`zone`]: the time zone times are shown in (`--tz`, `$TZ`, the system's).
//! - [`setup`]: `salesctl setup` (Stripe, Cal.com, Calendly, the stack's secret).
//!
//! A crate of its own so that no Lambda function compiles any of it. The guide is
//! docs/salesctl.md.

pub mod cli;
pub mod csv;
pub mod reconcile;
pub mod setup;
pub mod zone;

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use sales::domain::{parse_deal_edit, Cause, EmailAddress, Lead, LeadId, LeadSource, NewLead};
use sales::handlers::pipeline::deal_query;
use sales::store::{table, LeadDetail};
use sales::{SalesStore, StoreError};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use cli::{Cli, Command, LeadsArgs, MoveArgs, Output, SetupArgs};
use zone::DisplayZone;

/// Why a command did not do its work. Exit codes: 0 done, 1 the store (or AWS) failed, 2 bad
/// usage or input, 3 not found, 4 conflict.
#[derive(Debug)]
pub enum Failure {
    Usage(String),
    NotFound(String),
    Conflict(String),
    Store(StoreError),
    /// `salesctl setup` failed at a provider or at AWS (its report is already printed).
    Setup(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::NotFound(_) => 3,
            Failure::Conflict(_) => 4,
            Failure::Store(_) | Failure::Setup(_) => 1,
        }
    }
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

/// What to add to an AWS failure so that the reader knows how to sign in.
fn sign_in_hint(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let with_profile = profile
        .as_deref()
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default();
    if lower.contains("sso") || (lower.contains("token") && lower.contains("cache")) {
        Some(format!(
            "the SSO sign-in has expired or never happened: run `aws sso login{with_profile}` and try again"
        ))
    } else if lower.contains("credential") {
        Some(
            "no usable AWS credentials: set AWS_PROFILE (keys, SSO or credential_process) or \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; docs/salesctl.md, \"Sign-in\""
                .to_owned(),
        )
    } else {
        None
    }
}

/// Parses the command line and runs the command: the whole of `salesctl`.
pub fn main() -> ExitCode {
    // The webhook code reconcile runs emits CloudWatch metric lines on stdout; here stdout is the
    // user's (and `--json`'s).
    sales::lambda::telemetry::disable_metrics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version print and exit 0; every usage error exits 2.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    let name = cli.command.name();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("salesctl: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            match &failure {
                Failure::Usage(message) => {
                    eprintln!("salesctl {name}: {message}\n(salesctl {name} --help for usage)")
                }
                Failure::NotFound(message) | Failure::Conflict(message) => {
                    eprintln!("salesctl {name}: {message}")
                }
                Failure::Store(err) => {
                    let message = err.to_string();
                    eprintln!("salesctl {name}: {message}");
                    if let Some(hint) = sign_in_hint(&message) {
                        eprintln!("salesctl: {hint}");
                    }
                }
                Failure::Setup(message) => eprintln!("salesctl setup: {message}"),
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

impl Command {
    /// The command's name as typed (`release-hold`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Summary(_) => "summary",
            Command::Leads(_) => "leads",
            Command::Show { .. } => "show",
            Command::Add { .. } => "add",
            Command::Move(_) => "move",
            Command::Members(_) => "members",
            Command::Waitlist(_) => "waitlist",
            Command::Spots(_) => "spots",
            Command::Holds(_) => "holds",
            Command::ReleaseHold { .. } => "release-hold",
            Command::Offer { .. } => "offer",
            Command::Skip { .. } => "skip",
            Command::Reconcile { .. } => "reconcile",
            Command::CreateTable(_) => "create-table",
            Command::Setup(_) => "setup",
            Command::Completions { .. } => "completions",
        }
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::from(shell),
            &mut Cli::command(),
            "salesctl",
            &mut script,
        );
        // A closed pipe (`salesctl completions bash | head`) is not an error worth a panic.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&script).and_then(|()| out.flush());
        return Ok(());
    }
    let zone = DisplayZone::choose(cli.tz.as_deref()).map_err(Failure::Usage)?;
    // One AWS configuration (region, credentials: keys, SSO, credential_process) for every call.
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    if let Command::Setup(args) = cli.command {
        return setup(&args, &sdk).await;
    }
    let table = std::env::var("TABLE_NAME")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| table::DEFAULT_TABLE_NAME.to_owned());
    let store = SalesStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let ctx = Context {
        store: &store,
        zone,
        now: OffsetDateTime::now_utc(),
    };
    ctx.run(cli.command).await
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

struct Context<'a> {
    store: &'a SalesStore,
    zone: DisplayZone,
    now: OffsetDateTime,
}

impl Context<'_> {
    fn date(&self, at: Option<OffsetDateTime>) -> String {
        at.map_or_else(|| "-".to_owned(), |at| self.zone.show(at))
    }

    async fn run(&self, command: Command) -> Result<(), Failure> {
        let store = self.store;
        match command {
            Command::CreateTable(Output { json }) => {
                let created = table::create_table(store.client(), store.table_name()).await?;
                if json {
                    print_json(&json!({"table": store.table_name(), "created": created}));
                } else {
                    let verb = if created {
                        "created"
                    } else {
                        "already exists:"
                    };
                    println!("table {verb} {}", store.table_name());
                }
            }
            Command::Summary(Output { json }) => {
                let summary = store.pipeline_summary().await?;
                if json {
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
            Command::Leads(args) => self.leads(args).await?,
            Command::Show { who, output } => {
                let lead = find_lead(store, &who).await?;
                let detail = store
                    .lead_detail(&lead.id)
                    .await?
                    .ok_or_else(|| Failure::NotFound(format!("no lead {who}")))?;
                if output.json {
                    print_json(&detail);
                } else {
                    self.print_detail(&detail);
                }
            }
            Command::Add {
                email,
                name,
                company,
                output,
            } => {
                let email = EmailAddress::parse(&email)
                    .map_err(|e| Failure::Usage(format!("{email:?}: {e}")))?;
                let mut new_lead = NewLead::new(email, LeadSource::SalesTeam);
                new_lead.name = name;
                new_lead.company = company;
                let found = store.find_or_create_lead(&new_lead, self.now).await?;
                let lead = store
                    .lead(&found.id)
                    .await?
                    .ok_or(StoreError::LeadNotFound)?;
                if output.json {
                    print_json(&json!({"lead": lead, "created": found.created}));
                } else {
                    let verb = if found.created { "created" } else { "exists:" };
                    println!("{verb} {} ({})", lead.email.as_str(), lead.id);
                }
            }
            Command::Move(args) => self.move_deal(args).await?,
            Command::Members(Output { json }) => {
                let members = store.founding_members().await?;
                if json {
                    print_json(&json!({ "members": members }));
                } else {
                    println!("{:>4}  {:<32} {:<24} confirmed", "spot", "email", "company");
                    for m in &members {
                        println!(
                            "{:>4}  {:<32} {:<24} {}",
                            m.spot.get(),
                            m.email.as_str(),
                            or_dash(m.company_name.as_deref()),
                            self.zone.show(m.confirmed_at)
                        );
                    }
                }
            }
            Command::Waitlist(Output { json }) => {
                let waitlist = store.waitlist().await?;
                if json {
                    print_json(&json!({ "waitlist": waitlist }));
                } else {
                    println!("{:>8}  {:<32} {:<22} status", "position", "email", "joined");
                    for entry in &waitlist {
                        let status = match (entry.status, entry.offer_spot, entry.offer_until) {
                            (sales::domain::WaitlistStatus::Offered, Some(spot), Some(until)) => {
                                format!("offered spot {spot} until {}", self.zone.show(until))
                            }
                            (status, _, _) => match &entry.skipped_because {
                                Some(why) => format!("{status} ({why})"),
                                None => status.to_string(),
                            },
                        };
                        println!(
                            "{:>8}  {:<32} {:<22} {}",
                            entry.position,
                            entry.email.as_str(),
                            self.zone.show(entry.joined_at),
                            status
                        );
                    }
                }
            }
            Command::Offer { email, output } => {
                let email = EmailAddress::parse(&email)
                    .map_err(|e| Failure::Usage(format!("{email:?}: {e}")))?;
                match store.offer_by_hand(&email, self.now).await? {
                    Some((entry, _)) if output.json => print_json(&json!({ "offered": entry })),
                    Some((_, spot)) => println!(
                        "offered spot {spot} to {} for 48 hours (the next sweep e-mails it)",
                        email.as_str()
                    ),
                    None => {
                        return Err(Failure::NotFound(
                            "no founding spot is free to offer".into(),
                        ))
                    }
                }
            }
            Command::Skip { email, output } => {
                let email = EmailAddress::parse(&email)
                    .map_err(|e| Failure::Usage(format!("{email:?}: {e}")))?;
                let entry = store
                    .skip_waitlisted(&email, "skipped by the sales team (salesctl)", self.now)
                    .await?;
                if output.json {
                    print_json(&json!({ "skipped": entry }));
                } else {
                    println!("skipped {} (position {})", email.as_str(), entry.position);
                }
            }
            Command::Holds(Output { json }) => {
                let holds = store.live_holds(self.now).await?;
                if json {
                    print_json(&json!({ "holds": holds }));
                } else {
                    println!(
                        "{:>4}  {:<32} {:<22} {:>6}  {:<22} session",
                        "spot", "email", "client", "age", "until"
                    );
                    for hold in &holds {
                        let age = hold
                            .held_at
                            .map(|at| format!("{}m", (self.now - at).whole_minutes()))
                            .unwrap_or_else(|| "-".into());
                        println!(
                            "{:>4}  {:<32} {:<22} {:>6}  {:<22} {}",
                            hold.spot.get(),
                            hold.email.as_str(),
                            or_dash(hold.client.as_deref()),
                            age,
                            self.zone.show(hold.expires_at),
                            or_dash(hold.session_id.as_deref())
                        );
                    }
                }
            }
            Command::ReleaseHold { spot: raw, output } => {
                let spot = sales::domain::SpotNumber::parse(&raw)
                    .map_err(|e| Failure::Usage(format!("SPOT: {e}")))?;
                match store.release_spot_hold(spot, self.now).await? {
                    Some(hold) if output.json => print_json(&json!({ "released": hold })),
                    Some(hold) => println!(
                        "released spot {} (held by {} from {})",
                        spot.get(),
                        hold.email.as_str(),
                        or_dash(hold.client.as_deref())
                    ),
                    None => return Err(Failure::NotFound(format!("spot {spot} has no live hold"))),
                }
            }
            Command::Spots(Output { json }) => {
                let (tally, statuses) = store.founding_overview(self.now).await?;
                if json {
                    print_json(&json!({ "tally": tally, "spots": statuses }));
                } else {
                    println!(
                        "{} of {} founding spots left ({} members, {} held, {} kept for lapsed members)",
                        tally.remaining, tally.total, tally.members, tally.held, tally.reserved
                    );
                    println!("{:>4}  {:<8} {:<32} until", "spot", "state", "email");
                    for status in &statuses {
                        let state = serde_json::to_value(status.state)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        println!(
                            "{:>4}  {:<8} {:<32} {}",
                            status.spot.get(),
                            state,
                            or_dash(status.email.as_ref().map(|e| e.as_str())),
                            status
                                .until
                                .map(|at| self.zone.show(at))
                                .unwrap_or_else(|| "-".into())
                        );
                    }
                }
            }
            Command::Reconcile {
                since,
                dry_run,
                output: Output { json },
            } => {
                let since = sales::domain::time_format::parse(&self.zone.input(&since))
                    .map_err(|e| Failure::Usage(format!("--since: {e}")))?;
                let env: HashMap<&str, String> = ["STRIPE_SECRET_KEY", "STRIPE_API_BASE"]
                    .into_iter()
                    .filter_map(|key| std::env::var(key).ok().map(|value| (key, value)))
                    .collect();
                let replayed = crate::reconcile::reconcile(store, &env, since, dry_run)
                    .await
                    .map_err(Failure::Setup)?;
                if json {
                    print_json(&json!({"dry_run": dry_run, "events": replayed}));
                } else {
                    for line in &replayed {
                        println!(
                            "{}  {:<44} {:<32} {}{}",
                            self.date(sales::domain::time_format::from_unix(line.created)),
                            line.kind,
                            line.event,
                            line.result,
                            line.detail
                                .as_deref()
                                .map(|d| format!(" ({d})"))
                                .unwrap_or_default()
                        );
                    }
                    let changed = replayed
                        .iter()
                        .filter(|l| l.result == "applied" || l.result == "would_apply")
                        .count();
                    println!(
                        "{} events since then; {changed} {}",
                        replayed.len(),
                        if dry_run {
                            "would change something"
                        } else {
                            "applied now"
                        }
                    );
                }
                if replayed.iter().any(|l| l.result == "refused") {
                    return Err(Failure::Setup(
                        "some events were refused (see above)".into(),
                    ));
                }
            }
            Command::Setup(_) | Command::Completions { .. } => {
                unreachable!("handled before the store is made")
            }
        }
        Ok(())
    }

    async fn leads(&self, args: LeadsArgs) -> Result<(), Failure> {
        let due_before = args.due_before.as_deref().map(|raw| self.zone.input(raw));
        let params: Vec<(&str, &str)> = [
            ("stage", args.stage.as_deref()),
            ("assigned_to", args.assigned_to.as_deref()),
            ("due_before", due_before.as_deref()),
            ("limit", args.limit.as_deref()),
            ("cursor", args.cursor.as_deref()),
        ]
        .into_iter()
        .filter_map(|(param, value)| value.map(|value| (param, value)))
        .collect();
        let mut query = deal_query(&params)?;
        let mut leads = Vec::new();
        let next = loop {
            let page = self.store.list_deals(&query).await?;
            leads.extend(page.leads);
            match page.next_cursor {
                Some(cursor) if args.all => query.cursor = Some(cursor),
                other => break other,
            }
        };
        if args.csv {
            // The CSV alone on stdout (a file or a pipe); where the page ended, on stderr.
            let mut out = std::io::stdout().lock();
            let _ = out
                .write_all(csv::deals(&leads).as_bytes())
                .and_then(|()| out.flush());
            if let Some(cursor) = next {
                eprintln!("more: --cursor {} (or --all)", cursor.as_str());
            }
        } else if args.output.json {
            print_json(&json!({"leads": leads, "next_cursor": next}));
        } else {
            self.print_leads(&leads);
            if let Some(cursor) = next {
                println!("\nmore: --cursor {}", cursor.as_str());
            }
        }
        Ok(())
    }

    async fn move_deal(&self, args: MoveArgs) -> Result<(), Failure> {
        let mut fields = Map::new();
        fields.insert("stage".into(), Value::from(args.stage.as_str()));
        let due = args.due.as_deref().map(|raw| self.zone.input(raw));
        // An empty value (`--next-action=`) clears the field.
        for (field, value) in [
            ("next_action", args.next_action.as_deref()),
            ("next_action_date", due.as_deref()),
            ("assigned_to", args.assign.as_deref()),
        ] {
            if let Some(value) = value {
                let value = match value.trim() {
                    "" => Value::Null,
                    _ => Value::from(value),
                };
                fields.insert(field.into(), value);
            }
        }
        if let Some(value) = &args.value {
            fields.insert("deal_value_aud".into(), Value::from(value.as_str()));
        }
        if let Some(raw) = &args.probability {
            let percent: i64 = raw.trim().parse().map_err(|_| {
                Failure::Usage(format!("--probability: {raw:?} is not a whole number"))
            })?;
            fields.insert("probability".into(), Value::from(percent));
        }
        let update = parse_deal_edit(&fields, &[])?;
        let actor = args
            .actor
            .or_else(|| std::env::var("SALES_USER").ok())
            .or_else(|| std::env::var("USER").ok())
            .filter(|who| !who.trim().is_empty())
            .ok_or_else(|| {
                Failure::Usage("say who you are: --as WHO (or set SALES_USER)".into())
            })?;
        let lead = find_lead(self.store, &args.who).await?;
        let change = self
            .store
            .update_pipeline(
                &lead.id,
                &update,
                &Cause::user(&actor),
                Some(lead.version),
                self.now,
            )
            .await?;
        if args.output.json {
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
                self.date(p.next_action_date)
            );
        }
        Ok(())
    }

    fn print_leads(&self, leads: &[Lead]) {
        println!(
            "{:<14} {:<22} {:<24} {:<28} {:>12} {:>4} {:<16} id",
            "stage", "next action due", "next action", "email", "value AUD", "%", "assigned to"
        );
        for lead in leads {
            let p = &lead.pipeline;
            println!(
                "{:<14} {:<22} {:<24} {:<28} {:>12} {:>4} {:<16} {}",
                p.stage.as_str(),
                self.date(p.next_action_date),
                or_dash(p.next_action.as_deref()),
                lead.email.as_str(),
                p.deal_value_aud.amount().to_string(),
                p.probability.percent(),
                or_dash(p.assigned_to.as_deref()),
                lead.id
            );
        }
    }

    fn print_detail(&self, detail: &LeadDetail) {
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
            self.date(p.next_action_date)
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
                self.zone.show(change.at),
                change.from.as_str(),
                change.to.as_str(),
                change.cause
            );
        }
        if !detail.membership.is_empty() {
            println!("\nfounding membership");
            for entry in &detail.membership {
                let until = entry
                    .until
                    .map(|until| format!(" (spot kept until {})", self.zone.show(until)))
                    .unwrap_or_default();
                println!(
                    "  {}  spot {} {}{}: {}  {}",
                    self.zone.show(entry.at),
                    entry.spot,
                    entry.change.as_str(),
                    until,
                    entry.reason,
                    entry.cause
                );
            }
        }
        println!("\nbookings");
        for booking in &detail.bookings {
            println!(
                "  {}  {}  {}  {}",
                self.zone.show(booking.start),
                booking.status.as_str(),
                booking.reference.provider.as_str(),
                booking.reference.id
            );
        }
    }
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

/// `salesctl setup`: exit 2 for bad flags, 1 (after the report) when a provider or AWS failed.
async fn setup(args: &SetupArgs, sdk: &aws_config::SdkConfig) -> Result<(), Failure> {
    let config = setup::config_from(
        |name| args.flag(name),
        |name| std::env::var(name).ok(),
        args.dry_run,
    )
    .map_err(Failure::Usage)?;
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    match setup::run(&config, &secrets).await {
        Ok(report) if args.output.json => print_json(&report),
        Ok(report) => print!("{report}"),
        Err(failure) => {
            if args.output.json {
                print_json(&json!({"error": failure.error, "report": failure.report}));
            }
            // A provider or AWS failed: exit 1, with what was done and what to do.
            let mut message = failure.to_string();
            if let Some(hint) = sign_in_hint(&message) {
                message = format!("{message}\n{hint}");
            }
            return Err(Failure::Setup(message));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_sign_in_failures_say_how_to_sign_in() {
        let hint = sign_in_hint("dispatch failure: failed to load token from cache (SSO)").unwrap();
        assert!(hint.contains("aws sso login"), "{hint}");
        let hint = sign_in_hint("the credential provider was not enabled").unwrap();
        assert!(hint.contains("AWS_PROFILE"), "{hint}");
        assert!(sign_in_hint("ResourceNotFoundException: no table").is_none());
    }
}
