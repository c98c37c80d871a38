//! The local DynamoDB server itself: a cancelled transaction leaves nothing behind. The launcher
//! (`infra/local/dynamodb_server.py`) rolls a cancelled transaction back from copies of the items
//! it touched instead of moto's copy of the whole table; this shows the result is the same.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use sales_tests::TestTable;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

#[tokio::test]
async fn a_cancelled_transaction_undoes_every_part_it_had_applied() {
    let table = TestTable::new().await;
    let client = table.store.client();
    let name = table.store.table_name();
    // An item to update, and one to delete, before the transaction.
    for (pk, value) in [("KEEP", "before"), ("GONE", "before")] {
        client
            .put_item()
            .table_name(name)
            .item("pk", s(pk))
            .item("sk", s("X"))
            .item("value", s(value))
            .send()
            .await
            .unwrap();
    }
    let put = |pk: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(name)
                    .item("pk", s(pk))
                    .item("sk", s("X"))
                    .item("value", s("new"))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let update = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(name)
                .key("pk", s("KEEP"))
                .key("sk", s("X"))
                .update_expression("SET #v = :v")
                .expression_attribute_names("#v", "value")
                .expression_attribute_values(":v", s("after"))
                .build()
                .unwrap(),
        )
        .build();
    let delete = TransactWriteItem::builder()
        .delete(
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(name)
                .key("pk", s("GONE"))
                .key("sk", s("X"))
                .build()
                .unwrap(),
        )
        .build();
    // The last part fails: the three before it were applied by then, and must be undone.
    let failing = TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(name)
                .key("pk", s("NOBODY"))
                .key("sk", s("X"))
                .condition_expression("attribute_exists(pk)")
                .build()
                .unwrap(),
        )
        .build();
    let err = client
        .transact_write_items()
        .transact_items(put("NEW"))
        .transact_items(update)
        .transact_items(delete)
        .transact_items(failing)
        .send()
        .await
        .expect_err("the condition check fails");
    assert!(
        format!("{:?}", err).contains("TransactionCanceled"),
        "{err:?}"
    );
    let value = |pk: &'static str| async move {
        client
            .get_item()
            .table_name(name)
            .key("pk", s(pk))
            .key("sk", s("X"))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .and_then(|item| item.get("value").and_then(|v| v.as_s().ok()).cloned())
    };
    assert_eq!(value("NEW").await, None, "the put is undone");
    assert_eq!(
        value("KEEP").await.as_deref(),
        Some("before"),
        "the update is undone"
    );
    assert_eq!(
        value("GONE").await.as_deref(),
        Some("before"),
        "the delete is undone"
    );
    assert_eq!(table.item_count().await, 2);

    // The same transaction without the failing part is applied whole.
    client
        .transact_write_items()
        .transact_items(put("NEW"))
        .send()
        .await
        .unwrap();
    assert_eq!(value("NEW").await.as_deref(), Some("new"));
    table.drop_table().await;
}
