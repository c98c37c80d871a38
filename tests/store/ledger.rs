use futures::future::join_all;
use sales::store::{Claim, DeliveryKey, Once};
use sales_tests::TestTable;
use time::Duration;

use crate::now;

const LEASE: Duration = Duration::seconds(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_claims_have_exactly_one_winner() {
    let table = TestTable::new().await;
    let store = &table.store;
    let key = DeliveryKey::new("stripe", "evt_1Nrace");
    let claims = join_all((0..50).map(|_| {
        let key = key.clone();
        async move {
            store
                .claim_delivery(&key, LEASE, now())
                .await
                .expect("claim")
        }
    }))
    .await;
    let winners: Vec<_> = claims
        .iter()
        .filter_map(|c| match c {
            Claim::Won(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    println!("ledger race: {} winner(s) of 50", winners.len());
    assert_eq!(winners.len(), 1);
    assert_eq!(
        claims.iter().filter(|c| **c == Claim::InProgress).count(),
        49
    );

    assert!(store.complete_delivery(&winners[0], now()).await.unwrap());
    assert_eq!(
        store.claim_delivery(&key, LEASE, now()).await.unwrap(),
        Claim::Duplicate
    );
    // Long after, still a duplicate: completion is forever (until TTL purges the record).
    assert_eq!(
        store
            .claim_delivery(&key, LEASE, now() + Duration::days(3))
            .await
            .unwrap(),
        Claim::Duplicate
    );
    // Another provider's delivery with the same id is a different delivery.
    assert!(matches!(
        store
            .claim_delivery(&DeliveryKey::new("cal", "evt_1Nrace"), LEASE, now())
            .await
            .unwrap(),
        Claim::Won(_)
    ));
    table.drop_table().await;
}

#[tokio::test]
async fn a_crashed_claim_is_taken_over_after_its_lease() {
    let table = TestTable::new().await;
    let store = &table.store;
    let key = DeliveryKey::new("cal", "BOOKING_CREATED:uid:abc");
    let Claim::Won(crashed) = store.claim_delivery(&key, LEASE, now()).await.unwrap() else {
        panic!()
    };
    // Within the lease, a retry is told to come back later.
    assert_eq!(
        store
            .claim_delivery(&key, LEASE, now() + Duration::seconds(59))
            .await
            .unwrap(),
        Claim::InProgress
    );
    // After it, the retry takes over.
    let Claim::Won(takeover) = store
        .claim_delivery(&key, LEASE, now() + Duration::seconds(61))
        .await
        .unwrap()
    else {
        panic!("takeover after lease");
    };
    // The crashed run, if it wakes up, cannot complete what it no longer owns.
    assert!(!store
        .complete_delivery(&crashed, now() + Duration::seconds(62))
        .await
        .unwrap());
    assert!(store
        .complete_delivery(&takeover, now() + Duration::seconds(62))
        .await
        .unwrap());
    assert_eq!(
        store
            .claim_delivery(&key, LEASE, now() + Duration::seconds(200))
            .await
            .unwrap(),
        Claim::Duplicate
    );
    table.drop_table().await;
}

#[tokio::test]
async fn an_abandoned_claim_is_free_for_the_next_delivery_at_once() {
    let table = TestTable::new().await;
    let store = &table.store;
    let key = DeliveryKey::new("calendly", "invitee-1");
    let Claim::Won(failed) = store.claim_delivery(&key, LEASE, now()).await.unwrap() else {
        panic!()
    };
    store.abandon_delivery(&failed).await.unwrap();
    let Claim::Won(retry) = store
        .claim_delivery(&key, LEASE, now() + Duration::seconds(1))
        .await
        .unwrap()
    else {
        panic!("retry after abandon");
    };
    // Abandoning is only for the owner: the failed run cannot free the retry's claim.
    store.abandon_delivery(&failed).await.unwrap();
    assert_eq!(
        store
            .claim_delivery(&key, LEASE, now() + Duration::seconds(2))
            .await
            .unwrap(),
        Claim::InProgress
    );
    assert!(store
        .complete_delivery(&retry, now() + Duration::seconds(2))
        .await
        .unwrap());
    table.drop_table().await;
}

/// A delivery recorded inside the transaction that is its effect (no claim first): one of many
/// concurrent records wins, the rest see a duplicate; a live claim holds it off, a lapsed one
/// does not, and a claim cannot be won on a recorded delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_recorded_with_its_effect_is_recorded_once() {
    let table = TestTable::new().await;
    let store = &table.store;
    let key = DeliveryKey::new("cal", "BOOKING_CREATED:uid:abc");
    let records = join_all((0..20).map(|_| store.record_delivery(&key, now()))).await;
    let records: Vec<Once<()>> = records.into_iter().map(|r| r.expect("record")).collect();
    assert_eq!(
        records.iter().filter(|r| **r == Once::Applied(())).count(),
        1
    );
    assert_eq!(
        records.iter().filter(|r| **r == Once::Duplicate).count(),
        19
    );
    assert_eq!(
        store.claim_delivery(&key, LEASE, now()).await.unwrap(),
        Claim::Duplicate
    );

    let claimed = DeliveryKey::new("stripe", "evt_claimed");
    assert!(matches!(
        store.claim_delivery(&claimed, LEASE, now()).await.unwrap(),
        Claim::Won(_)
    ));
    assert_eq!(
        store.record_delivery(&claimed, now()).await.unwrap(),
        Once::InProgress
    );
    // The claimant crashed: once its lease has run out, the delivery can be recorded.
    assert_eq!(
        store
            .record_delivery(&claimed, now() + LEASE + Duration::seconds(1))
            .await
            .unwrap(),
        Once::Applied(())
    );
    table.drop_table().await;
}
