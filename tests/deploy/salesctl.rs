//! The IAM managed policies the template offers salesctl's users, against what salesctl's
//! commands do: read-only (`SalesctlReadOnlyPolicy`), read-write (`SalesctlReadWritePolicy`) and
//! the operator's `salesctl setup` (`SalesctlSetupPolicy`), each output by its ARN.
//!
//! [`COMMANDS`] says which DynamoDB actions each command makes, read from the store functions it
//! calls (the same ones the pipeline function calls, whose policy the local IAM check in
//! infra/local/aws_rules.py holds to what they use). Every salesctl command must be listed here
//! or in [`NO_TABLE_POLICY`], so a new command cannot be added without deciding its permissions.

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::template;

/// Where an action applies: the table, or one of its indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum On {
    Table,
    Index(&'static str),
}

const INDEXES: [On; 2] = [On::Index("by_stage"), On::Index("by_assignee")];

/// `(action, where)` pairs of one command.
type Actions = &'static [(&'static str, &'static [On])];

/// `(command, writes, actions)`: each salesctl command that uses the table.
const COMMANDS: &[(&str, bool, Actions)] = &[
    // pipeline_summary: one Query of the summary's shards.
    ("summary", false, &[("dynamodb:Query", &[On::Table])]),
    // list_deals: one Query per page on by_stage or by_assignee.
    ("leads", false, &[("dynamodb:Query", &INDEXES)]),
    // lead_by_email / lead (GetItem), lead_detail (Query of the lead's and the customer's
    // partitions).
    (
        "show",
        false,
        &[
            ("dynamodb:GetItem", &[On::Table]),
            ("dynamodb:Query", &[On::Table]),
        ],
    ),
    // founding_members, waitlist, founding_tally, live_holds: one Query each.
    ("members", false, &[("dynamodb:Query", &[On::Table])]),
    ("waitlist", false, &[("dynamodb:Query", &[On::Table])]),
    ("spots", false, &[("dynamodb:Query", &[On::Table])]),
    ("holds", false, &[("dynamodb:Query", &[On::Table])]),
    // find_or_create_lead: GetItem of the e-mail item, a transaction of Puts (lead, e-mail
    // item, history) and an Update (summary shard); then the lead (GetItem).
    (
        "add",
        true,
        &[
            ("dynamodb:GetItem", &[On::Table]),
            ("dynamodb:PutItem", &[On::Table]),
            ("dynamodb:UpdateItem", &[On::Table]),
        ],
    ),
    // find_lead (GetItem), update_pipeline: Update of the lead and a summary shard, Put of the
    // history entry.
    (
        "move",
        true,
        &[
            ("dynamodb:GetItem", &[On::Table]),
            ("dynamodb:PutItem", &[On::Table]),
            ("dynamodb:UpdateItem", &[On::Table]),
        ],
    ),
    // The Stripe webhook's own writes for each replayed event (its policy's GetItem, PutItem,
    // UpdateItem); --dry-run reads each event's ledger record (GetItem). It also needs the
    // Stripe API key, which the operator exports (STRIPE_SECRET_KEY), not a table permission.
    (
        "reconcile",
        true,
        &[
            ("dynamodb:GetItem", &[On::Table]),
            ("dynamodb:PutItem", &[On::Table]),
            ("dynamodb:UpdateItem", &[On::Table]),
        ],
    ),
    // live_holds (Query), release_founding_hold: Updates of the spot, the founder item and the
    // client's slot, each conditional on the hold.
    (
        "release-hold",
        true,
        &[
            ("dynamodb:Query", &[On::Table]),
            ("dynamodb:UpdateItem", &[On::Table]),
        ],
    ),
    // offer_by_hand / skip_waitlisted: the waitlisted e-mail and its entry (GetItem), the spots
    // (Query), then one transaction of Updates (spot and entry).
    (
        "offer",
        true,
        &[
            ("dynamodb:GetItem", &[On::Table]),
            ("dynamodb:Query", &[On::Table]),
            ("dynamodb:UpdateItem", &[On::Table]),
        ],
    ),
    (
        "skip",
        true,
        &[
            ("dynamodb:GetItem", &[On::Table]),
            ("dynamodb:UpdateItem", &[On::Table]),
        ],
    ),
];

/// Commands outside the sales team's table policies, and why.
const NO_TABLE_POLICY: &[(&str, &str)] = &[
    (
        "create-table",
        "local development: the stack creates the deployed table",
    ),
    ("setup", "the operator's: SalesctlSetupPolicy"),
    ("completions", "no AWS call"),
    ("help", "clap's"),
];

/// `salesctl setup`'s calls: the stack's secret read once and written once (secret_store.rs).
const SETUP_ACTIONS: [&str; 2] = [
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
];

fn actions_of(writes: bool) -> BTreeSet<(String, On)> {
    COMMANDS
        .iter()
        .filter(|(_, w, _)| writes || !w)
        .flat_map(|(_, _, actions)| actions.iter())
        .flat_map(|(action, on)| on.iter().map(|on| (action.to_string(), *on)))
        .collect()
}

/// A policy resource's statements as `(action, where)` pairs; `where` is the table, an index,
/// or a `Ref`'s target (for the secret).
fn granted(template: &Value, id: &str) -> BTreeSet<(String, String)> {
    let resource = template["Resources"]
        .get(id)
        .unwrap_or_else(|| panic!("the template has no {id}"));
    assert_eq!(
        resource["Type"].as_str(),
        Some("AWS::IAM::ManagedPolicy"),
        "{id} is a managed policy"
    );
    let statements = template::sequence(
        resource["Properties"]["PolicyDocument"].get("Statement"),
        &format!("{id}'s statements"),
    )
    .unwrap();
    let mut pairs = BTreeSet::new();
    for statement in statements {
        assert_eq!(
            statement["Effect"].as_str(),
            Some("Allow"),
            "{id}: {statement:?}"
        );
        for key in ["Condition", "NotAction", "NotResource"] {
            assert!(statement.get(key).is_none(), "{id}: no {key}");
        }
        let actions: Vec<String> = match &statement["Action"] {
            Value::String(one) => vec![one.clone()],
            Value::Sequence(many) => many
                .iter()
                .map(|a| a.as_str().expect("a literal action").to_owned())
                .collect(),
            other => panic!("{id}: Action {other:?}"),
        };
        let resources: Vec<&Value> = match &statement["Resource"] {
            Value::Sequence(many) => many.iter().collect(),
            one => vec![one],
        };
        for resource in resources {
            let place = place_of(resource).unwrap_or_else(|| panic!("{id}: Resource {resource:?}"));
            for action in &actions {
                assert!(
                    !action.contains('*'),
                    "{id}: no wildcard actions ({action})"
                );
                pairs.insert((action.clone(), place.clone()));
            }
        }
    }
    pairs
}

/// `table` for `!GetAtt <Table>.Arn`, `index/<name>` for `!Sub "${<Table>.Arn}/index/<name>"`,
/// `ref:<id>` for `!Ref <id>`; `None` for anything else (a wildcard, another table).
fn place_of(resource: &Value) -> Option<String> {
    let table = "SalesTable";
    let (name, argument) = template::intrinsic(resource)?;
    match name.as_str() {
        "GetAtt" => {
            let target = match argument {
                Value::String(s) => s.clone(),
                Value::Sequence(parts) => parts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("."),
                _ => return None,
            };
            (target == format!("{table}.Arn")).then(|| "table".to_owned())
        }
        "Sub" => {
            let text = argument.as_str()?;
            let index = text.strip_prefix(&format!("${{{table}.Arn}}/index/"))?;
            (!index.contains('*')).then(|| format!("index/{index}"))
        }
        "Ref" => Some(format!("ref:{}", argument.as_str()?)),
        _ => None,
    }
}

fn expected(writes: bool) -> BTreeSet<(String, String)> {
    actions_of(writes)
        .into_iter()
        .map(|(action, on)| {
            let place = match on {
                On::Table => "table".to_owned(),
                On::Index(name) => format!("index/{name}"),
            };
            (action, place)
        })
        .collect()
}

#[test]
fn every_salesctl_command_has_its_permissions_decided() {
    let listed: BTreeSet<&str> = COMMANDS
        .iter()
        .map(|(name, _, _)| *name)
        .chain(NO_TABLE_POLICY.iter().map(|(name, _)| *name))
        .collect();
    let cli = ::salesctl::cli::command();
    let commands: BTreeSet<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .chain(["help".to_owned()])
        .collect();
    let listed: BTreeSet<String> = listed.into_iter().map(str::to_owned).collect();
    assert_eq!(
        commands, listed,
        "salesctl's commands and the ones whose permissions tests/deploy/salesctl.rs decides"
    );
    // The indexes named are the library's.
    let indexes: BTreeSet<String> = sales::store::table::definition()
        .indexes
        .iter()
        .map(|index| index.name.to_string())
        .collect();
    for on in INDEXES {
        let On::Index(name) = on else { unreachable!() };
        assert!(indexes.contains(name), "{name} is an index of the table");
    }
}

#[test]
fn the_read_only_policy_grants_exactly_what_the_read_only_commands_use() {
    let template = template::template();
    let granted = granted(&template, "SalesctlReadOnlyPolicy");
    assert_eq!(granted, expected(false));
    assert!(
        granted.iter().all(|(action, _)| !matches!(
            action.as_str(),
            "dynamodb:PutItem" | "dynamodb:UpdateItem" | "dynamodb:DeleteItem"
        )),
        "read-only writes nothing"
    );
}

#[test]
fn the_read_write_policy_grants_exactly_what_every_table_command_uses() {
    let template = template::template();
    let granted = granted(&template, "SalesctlReadWritePolicy");
    assert_eq!(granted, expected(true));
    assert!(expected(false).is_subset(&granted));
    assert!(
        !granted
            .iter()
            .any(|(action, _)| action.starts_with("secretsmanager:")),
        "the sales team's policy never reads the secret (Stripe's key, the signing secrets)"
    );
}

#[test]
fn the_setup_policy_reads_and_writes_the_stacks_secret_only() {
    let template = template::template();
    let secret = template::resources_of_type(&template, "AWS::SecretsManager::Secret");
    assert_eq!(secret.len(), 1);
    let want: BTreeSet<(String, String)> = SETUP_ACTIONS
        .iter()
        .map(|a| (a.to_string(), format!("ref:{}", secret[0].0)))
        .collect();
    assert_eq!(granted(&template, "SalesctlSetupPolicy"), want);
}

#[test]
fn the_stack_outputs_each_salesctl_policy() {
    let template = template::template();
    for policy in [
        "SalesctlReadOnlyPolicy",
        "SalesctlReadWritePolicy",
        "SalesctlSetupPolicy",
    ] {
        let output = template["Outputs"]
            .get(format!("{policy}Arn"))
            .unwrap_or_else(|| panic!("no {policy}Arn output"));
        assert_eq!(
            template::ref_target(&output["Value"]),
            Some(policy),
            "{policy}Arn is its ARN"
        );
    }
}
