//! The rules layer itself, with the plain SDK client: what each rule makes DynamoDB answer.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use sales::domain::{EmailAddress, LeadSource, NewLead};
use sales_tests::{as_function, role, rule_counts, set_rules, TestTable};
use time::macros::datetime;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// A client that makes one attempt per call (the SDK's own retries would hide the answer).
fn one_attempt(table: &TestTable) -> aws_sdk_dynamodb::Client {
    let config = table
        .store
        .client()
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn add_one(table: &str, pk: &str) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s("X"))
        .update_expression("ADD n :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .unwrap();
    TransactWriteItem::builder().update(update).build()
}

#[tokio::test]
async fn a_call_outside_the_functions_policy_is_refused_as_aws_refuses_it_and_writes_nothing() {
    let table = TestTable::new().await;
    // founding-spots may only Query: creating a lead is a TransactWriteItems of Puts and an
    // Update, each authorised as its own action, and none is granted.
    let store = as_function(&table.store, role::FOUNDING_SPOTS);
    let lead = NewLead::new(
        EmailAddress::parse("ada@example.com").unwrap(),
        LeadSource::Checkout,
    );
    let refused = store
        .find_or_create_lead(&lead, datetime!(2026-12-02 10:00 UTC))
        .await
        .expect_err("not granted");
    let message = refused.to_string();
    assert!(
        message.contains("AccessDeniedException")
            && message.contains("FoundingSpotsFunction is not authorized to perform: dynamodb:"),
        "{message}"
    );
    assert_eq!(table.item_count().await, 0);
    // A Query on an index needs the index's ARN: founding-spots has the table's only.
    let on_index = store
        .client()
        .query()
        .table_name(&table.name)
        .index_name("by_email")
        .key_condition_expression("gsi3pk = :e")
        .expression_attribute_values(":e", s("EMAIL#ada@example.com"))
        .send()
        .await
        .expect_err("not granted on the index");
    assert_eq!(on_index.code(), Some("AccessDeniedException"));
    assert!(format!("{:?}", on_index).contains("/index/by_email"));
    table.drop_table().await;
}

#[tokio::test]
async fn a_running_transaction_makes_others_on_its_items_conflict() {
    let table = TestTable::new().await;
    let client = one_attempt(&table);
    // Every request takes 1 s; a transaction holds its items for 2 s: long enough for the two
    // refused writes below (1 s each) to arrive inside it, however busy the machine is.
    set_rules(
        &table.name,
        serde_json::json!({"conflicts": true, "latency_ms": 1000}),
    )
    .await;
    let name = table.name.clone();
    let first = {
        let client = client.clone();
        let name = name.clone();
        tokio::spawn(async move {
            client
                .transact_write_items()
                .transact_items(add_one(&name, "HOT"))
                .transact_items(add_one(&name, "OTHER"))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While it runs, at once: another transaction on one of its items, and a single-item write
    // to it (sent together, so both arrive inside its window however busy the machine is).
    let single_write = client
        .update_item()
        .table_name(&name)
        .key("pk", s("HOT"))
        .key("sk", s("X"))
        .update_expression("ADD n :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send();
    let other_transaction = client
        .transact_write_items()
        .transact_items(add_one(&name, "COLD"))
        .transact_items(add_one(&name, "HOT"))
        .send();
    let (single, second) = tokio::join!(single_write, other_transaction);
    // The transaction: cancelled, the reason on that part only.
    let second = second.expect_err("a conflict");
    let cancelled = second.into_service_error();
    let reasons: Vec<Option<&str>> = match &cancelled {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => {
            e.cancellation_reasons().iter().map(|r| r.code()).collect()
        }
        other => panic!("not a cancellation: {other:?}"),
    };
    assert_eq!(reasons, vec![Some("None"), Some("TransactionConflict")]);
    // The single-item write: TransactionConflictException.
    let single = single.expect_err("a conflict");
    assert_eq!(single.code(), Some("TransactionConflictException"));
    first
        .await
        .unwrap()
        .expect("the first transaction went through");
    // Once it is done, the item is free again.
    client
        .transact_write_items()
        .transact_items(add_one(&name, "HOT"))
        .send()
        .await
        .expect("no conflict once the first is done");
    let hot = client
        .get_item()
        .table_name(&name)
        .key("pk", s("HOT"))
        .key("sk", s("X"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        hot.item().and_then(|i| i.get("n")),
        Some(&AttributeValue::N("2".into())),
        "the refused writes wrote nothing"
    );
    assert_eq!(rule_counts(&name).await["conflicts"], 2);
    table.drop_table().await;
}

#[tokio::test]
async fn throttles_server_errors_and_unprocessed_keys_happen_at_the_set_rates() {
    let table = TestTable::new().await;
    let client = one_attempt(&table);
    let put = || {
        client
            .put_item()
            .table_name(&table.name)
            .item("pk", s("A"))
            .item("sk", s("X"))
    };
    set_rules(&table.name, serde_json::json!({"throttle_rate": 1.0})).await;
    let throttled = put().send().await.expect_err("throttled");
    assert_eq!(
        throttled.code(),
        Some("ProvisionedThroughputExceededException")
    );
    set_rules(&table.name, serde_json::json!({"error_rate": 1.0})).await;
    let failed = put().send().await.expect_err("a 500");
    assert_eq!(failed.code(), Some("InternalServerError"));
    set_rules(&table.name, serde_json::json!({})).await;
    for pk in ["A", "B", "C", "D"] {
        client
            .put_item()
            .table_name(&table.name)
            .item("pk", s(pk))
            .item("sk", s("X"))
            .send()
            .await
            .unwrap();
    }
    set_rules(&table.name, serde_json::json!({"unprocessed_rate": 1.0})).await;
    let keys = KeysAndAttributes::builder()
        .set_keys(Some(
            ["A", "B", "C", "D"]
                .iter()
                .map(|pk| [("pk".to_owned(), s(pk)), ("sk".to_owned(), s("X"))].into())
                .collect(),
        ))
        .build()
        .unwrap();
    let batch = client
        .batch_get_item()
        .request_items(&table.name, keys)
        .send()
        .await
        .unwrap();
    let served = batch.responses().map_or(0, |r| r[&table.name].len());
    let left = batch
        .unprocessed_keys()
        .map_or(0, |u| u[&table.name].keys().len());
    assert!(
        served >= 1 && left >= 1 && served + left == 4,
        "{served} + {left}"
    );

    // The store's own reads and writes come through all of it: a founding hold and its payment
    // with a third of the requests throttled or failing and BatchGetItem leaving keys
    // unprocessed. (The SDK retries throttles and 500s; with its 3 attempts, a request fails
    // outright one time in 37 at these rates and the function answers 503, so this client
    // makes 8, to test the store's part without that chance.)
    let store = sales_tests::with_timeouts(
        &table.store,
        sales::lambda::runtime::AwsTimeouts {
            max_attempts: 8,
            ..sales::lambda::runtime::AwsTimeouts::for_lambda_timeout(Duration::from_secs(60))
        },
    );
    set_rules(
        &table.name,
        serde_json::json!({"throttle_rate": 0.2, "error_rate": 0.1, "unprocessed_rate": 0.5}),
    )
    .await;
    let (spot, _) = sales_tests::pay_founding_checkout(
        &store,
        &EmailAddress::parse("ada@example.com").unwrap(),
        None,
        datetime!(2026-12-02 10:00 UTC),
    )
    .await;
    assert_eq!(spot.get(), 1);
    let counts = rule_counts(&table.name).await;
    assert!(
        counts["throttled"].as_u64() > Some(0) || counts["errors"].as_u64() > Some(0),
        "{counts}"
    );
    set_rules(&table.name, serde_json::json!({})).await;
    table.drop_table().await;
}

#[tokio::test]
async fn dynamodbs_request_limits_are_enforced() {
    let table = TestTable::new().await;
    let client = one_attempt(&table);
    let keys = KeysAndAttributes::builder()
        .set_keys(Some(
            (0..101)
                .map(|i| {
                    [
                        ("pk".to_owned(), s(&format!("K{i}"))),
                        ("sk".to_owned(), s("X")),
                    ]
                    .into()
                })
                .collect(),
        ))
        .build()
        .unwrap();
    let too_many = client
        .batch_get_item()
        .request_items(&table.name, keys)
        .send()
        .await
        .expect_err("101 keys");
    assert_eq!(too_many.code(), Some("ValidationException"));

    let mut transaction = client.transact_write_items();
    for i in 0..101 {
        transaction = transaction.transact_items(add_one(&table.name, &format!("T{i}")));
    }
    let too_long = transaction.send().await.expect_err("101 actions");
    assert_eq!(too_long.code(), Some("ValidationException"));

    let big = Put::builder()
        .table_name(&table.name)
        .item("pk", s("BIG"))
        .item("sk", s("X"))
        .item("blob", s(&"x".repeat(401 * 1024)))
        .build()
        .unwrap();
    let too_big = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(big).build())
        .send()
        .await
        .expect_err("a 401 KB item");
    assert_eq!(too_big.code(), Some("ValidationException"));
    assert_eq!(table.item_count().await, 0);
    table.drop_table().await;
}

#[tokio::test]
async fn a_stall_holds_requests_until_it_ends_and_then_applies_them() {
    let table = TestTable::new().await;
    let bounded = sales_tests::with_timeouts(
        &table.store,
        sales::lambda::runtime::AwsTimeouts {
            connect: Duration::from_millis(200),
            attempt: Duration::from_millis(200),
            operation: Duration::from_millis(500),
            max_attempts: 2,
        },
    );
    set_rules(&table.name, serde_json::json!({"stalled": true})).await;
    let started = std::time::Instant::now();
    let timed_out = bounded
        .client()
        .put_item()
        .table_name(&table.name)
        .item("pk", s("SENT"))
        .item("sk", s("X"))
        .send()
        .await
        .expect_err("stalled");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(2),
        "the client's timeouts ended the wait: {waited:?}"
    );
    assert!(
        format!("{timed_out:?}").contains("Timeout"),
        "{timed_out:?}"
    );
    // The stall ends: what was sent is applied, as a request that reached DynamoDB is.
    set_rules(&table.name, serde_json::json!({"stalled": false})).await;
    let mut seen = false;
    for _ in 0..50 {
        if table.item_count().await == 1 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "the stalled write was applied after the stall");
    table.drop_table().await;
}
