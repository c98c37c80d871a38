use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use sales::domain::{
    FoundingBenefits, HoldRef, HoldWindow, LeadId, LeadSource, NewLead, PipelineStage, SpotNumber,
};
use sales::store::{ConfirmOutcome, HoldOutcome, HoldRequest, ReleaseOutcome};
use sales_tests::TestTable;
use time::{Duration, OffsetDateTime};

use crate::{email, now};

fn request(raw_email: &str, now: OffsetDateTime) -> HoldRequest {
    HoldRequest {
        email: email(raw_email),
        lead_id: LeadId::generate(),
        hold_ref: HoldRef::generate(),
        expires_at: HoldWindow::starting_at(now).hold_expires_at,
    }
}

fn spot(n: i64) -> SpotNumber {
    SpotNumber::new(n).unwrap()
}

/// 200 visitors ask for a founding spot at the same moment, on a fresh table, several times:
/// exactly 20 holds on spots 1..20, and 180 waitlist places 1..180.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_holds_take_exactly_twenty_spots() {
    const RUNS: usize = 3;
    for run in 1..=RUNS {
        let table = TestTable::new().await;
        let store = &table.store;
        let started = std::time::Instant::now();
        let outcomes = join_all((0..200).map(|i| {
            let request = request(&format!("visitor{i}@example.com"), now());
            async move {
                store
                    .hold_founding_spot(&request, now())
                    .await
                    .expect("hold")
            }
        }))
        .await;

        let mut spots = Vec::new();
        let mut positions = Vec::new();
        for outcome in &outcomes {
            match outcome {
                HoldOutcome::Held {
                    spot, new: true, ..
                } => spots.push(spot.get()),
                HoldOutcome::Full { waitlist_position } => positions.push(*waitlist_position),
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        println!(
            "race run {run}/{RUNS}: {} holds, {} waitlisted, in {:?}",
            spots.len(),
            positions.len(),
            started.elapsed()
        );
        spots.sort_unstable();
        assert_eq!(
            spots,
            (1..=20).collect::<Vec<u8>>(),
            "run {run}: each spot exactly once"
        );
        positions.sort_unstable();
        assert_eq!(
            positions,
            (1..=180).collect::<Vec<u64>>(),
            "run {run}: distinct positions"
        );

        let tally = store.founding_tally(now()).await.unwrap();
        assert_eq!((tally.members, tally.held, tally.remaining), (0, 20, 0));
        assert_eq!(store.waitlist().await.unwrap().len(), 180);
        assert_eq!(store.next_free_spot(now()).await.unwrap(), None);
        table.drop_table().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_email_ten_times_at_once_gets_one_spot() {
    let table = TestTable::new().await;
    let store = &table.store;
    let outcomes = join_all((0..10).map(|_| {
        // Each attempt is a separate checkout with its own hold reference.
        let request = request(" Repeat@Example.com ", now());
        async move {
            store
                .hold_founding_spot(&request, now())
                .await
                .expect("hold")
        }
    }))
    .await;
    let mut spots = BTreeSet::new();
    let mut refs = BTreeSet::new();
    let mut new = 0;
    for outcome in outcomes {
        let HoldOutcome::Held {
            spot,
            hold_ref,
            new: is_new,
            ..
        } = outcome
        else {
            panic!("expected a hold, got {outcome:?}");
        };
        spots.insert(spot);
        refs.insert(hold_ref.as_str().to_owned());
        new += usize::from(is_new);
    }
    assert_eq!(spots.len(), 1, "one spot for one e-mail");
    assert_eq!(refs.len(), 1, "every caller sees the one hold");
    assert_eq!(new, 1, "exactly one call took the spot");
    let tally = store.founding_tally(now()).await.unwrap();
    assert_eq!((tally.held, tally.remaining), (1, 19));
    table.drop_table().await;
}

/// A founding checkout of a new e-mail creates the lead in the hold's own transaction. Ten of
/// them at once for one new e-mail: one lead (one prospect in the summary), one spot, one hold;
/// and thirty new e-mails at once with only 20 spots: 20 holds, 10 on the waitlist, 30 leads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkouts_of_new_e_mails_create_their_lead_with_the_hold() {
    let table = TestTable::new().await;
    let store = &table.store;
    let expires = HoldWindow::starting_at(now()).hold_expires_at;
    let lead = NewLead::new(email("first@example.com"), LeadSource::Checkout);
    let results = join_all((0..10).map(|_| {
        let lead = lead.clone();
        async move {
            store
                .hold_founding_spot_for(&lead, &HoldRef::generate(), expires, now())
                .await
                .expect("hold")
        }
    }))
    .await;
    let leads: BTreeSet<String> = results.iter().map(|(l, _)| l.id.to_string()).collect();
    assert_eq!(leads.len(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|(l, _)| l.created).count(), 1);
    let spots: BTreeSet<SpotNumber> = results
        .iter()
        .map(|(_, outcome)| match outcome {
            HoldOutcome::Held { spot, .. } => *spot,
            other => panic!("expected a hold, got {other:?}"),
        })
        .collect();
    assert_eq!(spots.len(), 1);
    let stored = store.lead_by_email(&lead.email).await.unwrap().unwrap();
    assert_eq!(Some(stored.id.to_string()), leads.into_iter().next());

    let results = join_all((0..30).map(|i| async move {
        let lead = NewLead::new(
            email(&format!("crowd{i}@example.com")),
            LeadSource::Checkout,
        );
        store
            .hold_founding_spot_for(&lead, &HoldRef::generate(), expires, now())
            .await
            .expect("hold")
    }))
    .await;
    let held = results
        .iter()
        .filter(|(_, o)| matches!(o, HoldOutcome::Held { .. }))
        .count();
    let waiting: BTreeSet<u64> = results
        .iter()
        .filter_map(|(_, o)| match o {
            HoldOutcome::Full { waitlist_position } => Some(*waitlist_position),
            _ => None,
        })
        .collect();
    assert_eq!(
        (held, waiting.len()),
        (19, 11),
        "spot 1 went to the first e-mail"
    );
    assert_eq!(waiting, (1..=11).collect());
    for (lead, _) in &results {
        assert!(store.lead(&lead.id).await.unwrap().is_some(), "{lead:?}");
    }
    let summary = store.pipeline_summary().await.unwrap();
    assert_eq!(
        summary
            .stage(PipelineStage::Prospect)
            .map(|line| line.count),
        Some(31)
    );
    table.drop_table().await;
}

#[tokio::test]
async fn an_expired_hold_frees_its_spot_and_a_confirmed_one_locks_benefits() {
    let table = TestTable::new().await;
    let store = &table.store;
    let t0 = now();

    let first = request("first@example.com", t0);
    let HoldOutcome::Held {
        spot: first_spot,
        expires_at,
        ..
    } = store.hold_founding_spot(&first, t0).await.unwrap()
    else {
        panic!("first hold");
    };
    assert_eq!(first_spot, spot(1));
    assert_eq!(store.founding_tally(t0).await.unwrap().remaining, 19);
    assert_eq!(store.next_free_spot(t0).await.unwrap(), Some(spot(2)));

    // While the hold lives, the same e-mail gets the same spot back, and the hold is extended
    // to cover the new checkout.
    let five_later = t0 + Duration::minutes(5);
    let again = request("first@example.com", five_later);
    let expires_at = match store.hold_founding_spot(&again, five_later).await.unwrap() {
        HoldOutcome::Held {
            spot,
            hold_ref,
            new,
            expires_at: extended,
        } => {
            assert_eq!((spot, new), (first_spot, false));
            assert_eq!(hold_ref, first.hold_ref);
            assert_eq!(extended, again.expires_at);
            assert!(extended > expires_at);
            extended
        }
        other => panic!("unexpected {other:?}"),
    };
    // The first checkout's expiry no longer frees the extended hold.
    assert_eq!(
        store
            .release_founding_hold(
                &first.email,
                first_spot,
                &first.hold_ref,
                Some(first.expires_at)
            )
            .await
            .unwrap(),
        ReleaseOutcome::NotHeld
    );
    assert_eq!(store.founding_tally(five_later).await.unwrap().held, 1);

    // Past its time the hold counts as free, with no job having run.
    let later = expires_at + Duration::seconds(1);
    let tally = store.founding_tally(later).await.unwrap();
    assert_eq!((tally.held, tally.remaining), (0, 20));
    assert_eq!(store.next_free_spot(later).await.unwrap(), Some(spot(1)));

    // Someone else takes the freed spot...
    let second = request("second@example.com", later);
    let HoldOutcome::Held {
        spot: second_spot, ..
    } = store.hold_founding_spot(&second, later).await.unwrap()
    else {
        panic!("second hold");
    };
    assert_eq!(second_spot, spot(1), "the expired spot is reused");
    assert_eq!(store.founding_tally(later).await.unwrap().remaining, 19);

    // ...so the first checkout's late payment cannot take it: no 21st member.
    assert_eq!(
        store
            .confirm_founding_member(first_spot, &first.hold_ref, None, later)
            .await
            .unwrap(),
        ConfirmOutcome::HoldLost
    );

    // The second pays: a member with the benefits locked at that moment.
    let confirmed = store
        .confirm_founding_member(second_spot, &second.hold_ref, Some("Acme Pty Ltd"), later)
        .await
        .unwrap();
    let ConfirmOutcome::Confirmed(member) = confirmed else {
        panic!("confirmed: {confirmed:?}")
    };
    assert_eq!(member.benefits, FoundingBenefits::CURRENT);
    assert_eq!(member.email, email("second@example.com"));
    let tally = store.founding_tally(later).await.unwrap();
    assert_eq!((tally.members, tally.held, tally.remaining), (1, 0, 19));

    // Stored as locked, read back the same; a redelivered payment changes nothing.
    let members = store.founding_members().await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].benefits, FoundingBenefits::CURRENT);
    assert_eq!(members[0].company_name.as_deref(), Some("Acme Pty Ltd"));
    assert_eq!(members[0].confirmed_at, later);
    assert!(matches!(
        store.confirm_founding_member(second_spot, &second.hold_ref, None, later).await.unwrap(),
        ConfirmOutcome::AlreadyConfirmed(m) if m.spot == second_spot
    ));

    // A member's spot is never released, and a member cannot hold a second spot.
    assert_eq!(
        store
            .release_founding_hold(&second.email, second_spot, &second.hold_ref, None)
            .await
            .unwrap(),
        ReleaseOutcome::NotHeld
    );
    let much_later = later + Duration::days(400);
    assert_eq!(
        store
            .hold_founding_spot(&request("second@example.com", much_later), much_later)
            .await
            .unwrap(),
        HoldOutcome::AlreadyMember { spot: second_spot }
    );
    assert_eq!(
        store.founding_tally(much_later).await.unwrap().remaining,
        19
    );
    table.drop_table().await;
}

#[tokio::test]
async fn only_the_holding_checkout_can_release_a_spot() {
    let table = TestTable::new().await;
    let store = &table.store;
    let t0 = now();
    let hold = request("holder@example.com", t0);
    let HoldOutcome::Held { spot: held, .. } = store.hold_founding_spot(&hold, t0).await.unwrap()
    else {
        panic!()
    };

    let stranger = HoldRef::generate();
    assert_eq!(
        store
            .release_founding_hold(&hold.email, held, &stranger, None)
            .await
            .unwrap(),
        ReleaseOutcome::NotHeld
    );
    assert_eq!(store.founding_tally(t0).await.unwrap().remaining, 19);

    assert_eq!(
        store
            .release_founding_hold(&hold.email, held, &hold.hold_ref, None)
            .await
            .unwrap(),
        ReleaseOutcome::Released
    );
    assert_eq!(store.founding_tally(t0).await.unwrap().remaining, 20);
    assert_eq!(
        store
            .release_founding_hold(&hold.email, held, &hold.hold_ref, None)
            .await
            .unwrap(),
        ReleaseOutcome::NotHeld
    );

    // Released means free for the same e-mail too, straight away.
    let retry = request("holder@example.com", t0);
    assert!(matches!(
        store.hold_founding_spot(&retry, t0).await.unwrap(),
        HoldOutcome::Held { new: true, .. }
    ));
    // A released hold cannot be confirmed.
    assert_eq!(
        store
            .confirm_founding_member(held, &hold.hold_ref, None, t0)
            .await
            .unwrap(),
        ConfirmOutcome::HoldLost
    );
    table.drop_table().await;
}

#[tokio::test]
async fn when_full_visitors_join_the_waitlist_once_with_stable_positions() {
    let table = TestTable::new().await;
    let store = &table.store;
    let t0 = now();
    for i in 0..20 {
        let hold = request(&format!("m{i}@example.com"), t0);
        let HoldOutcome::Held { spot, .. } = store.hold_founding_spot(&hold, t0).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(
            spot.get(),
            i + 1,
            "spots fill in order when there is no race"
        );
        let ConfirmOutcome::Confirmed(_) = store
            .confirm_founding_member(spot, &hold.hold_ref, None, t0)
            .await
            .unwrap()
        else {
            panic!()
        };
    }
    let tally = store.founding_tally(t0).await.unwrap();
    assert_eq!((tally.members, tally.remaining), (20, 0));

    let mut positions = BTreeMap::new();
    for name in ["w1", "w2", "w3"] {
        let outcome = store
            .hold_founding_spot(&request(&format!("{name}@example.com"), t0), t0)
            .await
            .unwrap();
        let HoldOutcome::Full { waitlist_position } = outcome else {
            panic!("{outcome:?}")
        };
        positions.insert(name, waitlist_position);
    }
    assert_eq!(
        positions.values().copied().collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Asking again keeps the place.
    let again = store
        .hold_founding_spot(&request(" W2@example.com", t0), t0)
        .await
        .unwrap();
    assert_eq!(
        again,
        HoldOutcome::Full {
            waitlist_position: 2
        }
    );
    assert_eq!(
        store
            .join_waitlist(&email("w1@example.com"), None, t0)
            .await
            .unwrap(),
        1
    );
    let listed: Vec<String> = store
        .waitlist()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.email.to_string())
        .collect();
    assert_eq!(
        listed,
        ["w1@example.com", "w2@example.com", "w3@example.com"]
    );
    // Membership never expires: a year later it is still full.
    assert_eq!(
        store
            .founding_tally(t0 + Duration::days(365))
            .await
            .unwrap()
            .remaining,
        0
    );
    table.drop_table().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_email_joining_the_waitlist_concurrently_gets_one_position() {
    let table = TestTable::new().await;
    let store = &table.store;
    let positions = join_all((0..10).map(|_| async move {
        store
            .join_waitlist(&email("keen@example.com"), None, now())
            .await
            .unwrap()
    }))
    .await;
    assert!(
        positions.iter().all(|p| *p == positions[0]),
        "{positions:?}"
    );
    assert_eq!(store.waitlist().await.unwrap().len(), 1);
    table.drop_table().await;
}
