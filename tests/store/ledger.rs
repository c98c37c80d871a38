use futures::future::join_all;
use sales::store::{DeliveryKey, Once};
use sales_tests::TestTable;
use time::Duration;

use crate::now;

sales_tests::on_both_servers!(fifty_concurrent_records_of_one_delivery_apply_it_once);
/// Fifty copies of one delivery at once: one is applied, the other 49 are recognised as
/// duplicates from the record their failed condition returned; long after, still a duplicate;
/// another provider's delivery with the same id is another delivery.
async fn fifty_concurrent_records_of_one_delivery_apply_it_once(table: TestTable) {
    let store = &table.store;
    let key = DeliveryKey::new("stripe", "evt_1Nrace");
    let records = join_all((0..50).map(|_| store.record_delivery(&key, now()))).await;
    let records: Vec<Once<()>> = records.into_iter().map(|r| r.expect("record")).collect();
    println!(
        "ledger race: {} applied of 50",
        records.iter().filter(|r| **r == Once::Applied(())).count()
    );
    assert_eq!(
        records.iter().filter(|r| **r == Once::Applied(())).count(),
        1
    );
    assert_eq!(
        records.iter().filter(|r| **r == Once::Duplicate).count(),
        49
    );
    assert_eq!(
        store
            .record_delivery(&key, now() + Duration::days(3))
            .await
            .unwrap(),
        Once::Duplicate
    );
    assert_eq!(
        store
            .record_delivery(&DeliveryKey::new("cal", "evt_1Nrace"), now())
            .await
            .unwrap(),
        Once::Applied(())
    );
    table.drop_table().await;
}

/// A record left `processing` by the first release's claim-first ledger: while its lease runs
/// it reads as being processed now (the provider retries); once the lease has run out the
/// delivery is applied.
#[tokio::test]
async fn a_live_claim_of_the_first_release_holds_a_delivery_off_until_its_lease_ends() {
    let table = TestTable::new().await;
    let store = &table.store;
    let lease_until = now() + Duration::seconds(60);
    store
        .client()
        .put_item()
        .table_name(store.table_name())
        .item("pk", s("DELIVERY#stripe#evt_claimed"))
        .item("sk", s("DELIVERY"))
        .item("state", s("processing"))
        .item("owner", s("an-old-invocation"))
        .item(
            "lease_until",
            aws_sdk_dynamodb::types::AttributeValue::N(lease_until.unix_timestamp().to_string()),
        )
        .send()
        .await
        .unwrap();
    let claimed = DeliveryKey::new("stripe", "evt_claimed");
    assert_eq!(
        store.record_delivery(&claimed, now()).await.unwrap(),
        Once::InProgress
    );
    assert_eq!(
        store
            .record_delivery(&claimed, lease_until + Duration::seconds(1))
            .await
            .unwrap(),
        Once::Applied(())
    );
    assert_eq!(
        store.record_delivery(&claimed, now()).await.unwrap(),
        Once::Duplicate
    );
    table.drop_table().await;
}

fn s(value: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned())
}
