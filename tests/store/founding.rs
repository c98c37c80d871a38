use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use sales::domain::{
    Cause, EmailAddress, FoundingBenefits, HoldRef, HoldWindow, LeadSource, NewLead, PipelineStage,
    PlanType, SpotNumber, SpotState,
};
use sales::store::{
    CheckoutPayment, ConfirmOutcome, DeliveryKey, FoundingPayment, HoldOutcome, Once,
    ReleaseOutcome,
};
use sales::SalesStore;
use sales_tests::TestTable;
use time::{Duration, OffsetDateTime};

use crate::{email, now};

/// A founding checkout's request for a spot, as create-checkout makes it.
struct Request {
    email: EmailAddress,
    lead: NewLead,
    hold_ref: HoldRef,
    expires_at: OffsetDateTime,
}

fn request(raw_email: &str, now: OffsetDateTime) -> Request {
    Request {
        email: email(raw_email),
        lead: NewLead::new(email(raw_email), LeadSource::Checkout),
        hold_ref: HoldRef::generate(),
        expires_at: HoldWindow::starting_at(now).hold_expires_at,
    }
}

/// create-checkout's hold (the lead is created with it when the e-mail is new).
async fn take_spot(store: &SalesStore, request: &Request, now: OffsetDateTime) -> HoldOutcome {
    store
        .hold_founding_spot(&request.lead, &request.hold_ref, request.expires_at, now)
        .await
        .expect("hold")
        .1
}

/// stripe-webhook's paid checkout for `request`'s hold on `spot` (a new event each time).
async fn pay(
    store: &SalesStore,
    request: &Request,
    spot: SpotNumber,
    company: Option<&str>,
    now: OffsetDateTime,
) -> ConfirmOutcome {
    let lead = store
        .lead_id_by_email(&request.email)
        .await
        .unwrap()
        .expect("the hold created the lead");
    let event = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let payment = CheckoutPayment {
        lead_id: &lead,
        customer: None,
        subscription: None,
        plan: Some(PlanType::Founding),
        founding: Some(FoundingPayment {
            spot,
            hold_ref: &request.hold_ref,
            company_name: company,
            session: "cs_test",
            slot: None,
        }),
        cause: &Cause::stripe_event(&event),
    };
    match store
        .record_payment(&payment, &DeliveryKey::new("stripe", event), now)
        .await
        .unwrap()
    {
        Once::Applied(recorded) => recorded.founding.expect("a founding outcome"),
        other => panic!("{other:?}"),
    }
}

/// Gives a hold back, as create-checkout does when Stripe fails (no delivery).
async fn release(
    store: &SalesStore,
    email: &EmailAddress,
    spot: SpotNumber,
    hold_ref: &HoldRef,
    lapsed_by: Option<OffsetDateTime>,
) -> ReleaseOutcome {
    match store
        .release_founding_hold(email, spot, hold_ref, None, lapsed_by, None, now())
        .await
        .unwrap()
    {
        Once::Applied(outcome) => outcome,
        other => panic!("{other:?}"),
    }
}

/// The lowest spot free at `now`.
async fn next_free_spot(store: &SalesStore, now: OffsetDateTime) -> Option<SpotNumber> {
    let stored = store.founding_spots().await.unwrap();
    SpotNumber::all().find(|number| {
        stored
            .iter()
            .find(|(spot, _)| spot == number)
            .is_none_or(|(_, state): &(SpotNumber, SpotState)| state.is_free_at(now))
    })
}

fn spot(n: i64) -> SpotNumber {
    SpotNumber::new(n).unwrap()
}

sales_tests::on_both_servers!(two_hundred_concurrent_holds_take_exactly_twenty_spots);
/// 200 visitors ask for a founding spot at the same moment, on a fresh table, several times:
/// exactly 20 holds on spots 1..20, and 180 waitlist places 1..180.
async fn two_hundred_concurrent_holds_take_exactly_twenty_spots(table: TestTable) {
    // Each run goes through the production path (a new lead with every hold).
    {
        let run = 1;
        let store = &table.store;
        let started = std::time::Instant::now();
        let outcomes = join_all((0..200).map(|i| {
            let request = request(&format!("visitor{i}@example.com"), now());
            async move { take_spot(store, &request, now()).await }
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
            "race run {run}: {} holds, {} waitlisted, in {:?}",
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
        assert_eq!(next_free_spot(store, now()).await, None);
        table.drop_table().await;
    }
}

sales_tests::on_both_servers!(the_same_email_ten_times_at_once_gets_one_spot);
async fn the_same_email_ten_times_at_once_gets_one_spot(table: TestTable) {
    let store = &table.store;
    let outcomes = join_all((0..10).map(|_| {
        // Each attempt is a separate checkout with its own hold reference.
        let request = request(" Repeat@Example.com ", now());
        async move { take_spot(store, &request, now()).await }
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
                .hold_founding_spot(&lead, &HoldRef::generate(), expires, now())
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
            .hold_founding_spot(&lead, &HoldRef::generate(), expires, now())
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
    } = take_spot(store, &first, t0).await
    else {
        panic!("first hold");
    };
    assert_eq!(first_spot, spot(1));
    assert_eq!(store.founding_tally(t0).await.unwrap().remaining, 19);
    assert_eq!(next_free_spot(store, t0).await, Some(spot(2)));

    // While the hold lives, the same e-mail gets the same spot back, and the hold is extended
    // to cover the new checkout.
    let five_later = t0 + Duration::minutes(5);
    let again = request("first@example.com", five_later);
    let expires_at = match take_spot(store, &again, five_later).await {
        HoldOutcome::Held {
            spot,
            hold_ref,
            new,
            expires_at: extended,
            slot: None,
            session: None,
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
        release(
            store,
            &first.email,
            first_spot,
            &first.hold_ref,
            Some(first.expires_at)
        )
        .await,
        ReleaseOutcome::NotHeld
    );
    assert_eq!(store.founding_tally(five_later).await.unwrap().held, 1);

    // Past its time the hold counts as free, with no job having run.
    let later = expires_at + Duration::seconds(1);
    let tally = store.founding_tally(later).await.unwrap();
    assert_eq!((tally.held, tally.remaining), (0, 20));
    assert_eq!(next_free_spot(store, later).await, Some(spot(1)));

    // Someone else takes the freed spot...
    let second = request("second@example.com", later);
    let HoldOutcome::Held {
        spot: second_spot, ..
    } = take_spot(store, &second, later).await
    else {
        panic!("second hold");
    };
    assert_eq!(second_spot, spot(1), "the expired spot is reused");
    assert_eq!(store.founding_tally(later).await.unwrap().remaining, 19);

    // ...so the first checkout's late payment cannot take it: no 21st member.
    assert_eq!(
        pay(store, &first, first_spot, None, later).await,
        ConfirmOutcome::HoldLost
    );

    // The second pays: a member with the benefits locked at that moment.
    let confirmed = pay(store, &second, second_spot, Some("Acme Pty Ltd"), later).await;
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
        pay(store, &second, second_spot, None, later).await,
        ConfirmOutcome::AlreadyConfirmed(m) if m.spot == second_spot
    ));

    // A member's spot is never released, and a member cannot hold a second spot.
    assert_eq!(
        release(store, &second.email, second_spot, &second.hold_ref, None).await,
        ReleaseOutcome::NotHeld
    );
    let much_later = later + Duration::days(400);
    assert_eq!(
        take_spot(
            store,
            &request("second@example.com", much_later),
            much_later
        )
        .await,
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
    let HoldOutcome::Held { spot: held, .. } = take_spot(store, &hold, t0).await else {
        panic!()
    };

    let stranger = HoldRef::generate();
    assert_eq!(
        release(store, &hold.email, held, &stranger, None).await,
        ReleaseOutcome::NotHeld
    );
    assert_eq!(store.founding_tally(t0).await.unwrap().remaining, 19);

    assert_eq!(
        release(store, &hold.email, held, &hold.hold_ref, None).await,
        ReleaseOutcome::Released
    );
    assert_eq!(store.founding_tally(t0).await.unwrap().remaining, 20);
    assert_eq!(
        release(store, &hold.email, held, &hold.hold_ref, None).await,
        ReleaseOutcome::NotHeld
    );

    // Released means free for the same e-mail too, straight away.
    let retry = request("holder@example.com", t0);
    assert!(matches!(
        take_spot(store, &retry, t0).await,
        HoldOutcome::Held { new: true, .. }
    ));
    // A released hold cannot be confirmed.
    assert_eq!(
        pay(store, &hold, held, None, t0).await,
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
        let HoldOutcome::Held { spot, .. } = take_spot(store, &hold, t0).await else {
            panic!()
        };
        assert_eq!(
            spot.get(),
            i + 1,
            "spots fill in order when there is no race"
        );
        let ConfirmOutcome::Confirmed(_) = pay(store, &hold, spot, None, t0).await else {
            panic!()
        };
    }
    let tally = store.founding_tally(t0).await.unwrap();
    assert_eq!((tally.members, tally.remaining), (20, 0));

    let mut positions = BTreeMap::new();
    for name in ["w1", "w2", "w3"] {
        let outcome = take_spot(store, &request(&format!("{name}@example.com"), t0), t0).await;
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
    let again = take_spot(store, &request(" W2@example.com", t0), t0).await;
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

sales_tests::on_both_servers!(the_same_email_joining_the_waitlist_concurrently_gets_one_position);
async fn the_same_email_joining_the_waitlist_concurrently_gets_one_position(table: TestTable) {
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

/// A paid hold gives its client's slot back in the payment's own transaction: a client at its
/// cap can hold again once one of its holds is paid for; a redelivered payment finds the slot
/// already given back and still ends decided.
#[tokio::test]
async fn a_payment_gives_the_clients_slot_back() {
    use sales::domain::Client;
    use sales::store::ClientCap;
    let table = TestTable::new().await;
    let store = &table.store;
    let cap = ClientCap {
        client: Client::from_source_ip(Some("203.0.113.99")),
        holds: 1,
    };
    let hold = |email: &str| {
        let request = request(email, now());
        let cap = cap.clone();
        async move {
            let outcome = store
                .hold_founding_spot_for(
                    &request.lead,
                    &request.hold_ref,
                    request.expires_at,
                    Some(&cap),
                    now(),
                )
                .await
                .unwrap()
                .1;
            (request, outcome)
        }
    };
    let (first, outcome) = hold("payer@example.com").await;
    let HoldOutcome::Held {
        spot,
        slot: Some(slot),
        ..
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert!(matches!(
        hold("second@example.com").await.1,
        HoldOutcome::ClientLimit { .. }
    ));
    let lead = store.lead_id_by_email(&first.email).await.unwrap().unwrap();
    let pay_with_slot = |event: &'static str| {
        let (lead, first, slot) = (&lead, &first, &slot);
        async move {
            let payment = CheckoutPayment {
                lead_id: lead,
                customer: None,
                subscription: None,
                plan: Some(PlanType::Founding),
                founding: Some(FoundingPayment {
                    spot,
                    hold_ref: &first.hold_ref,
                    company_name: None,
                    session: "cs_test",
                    slot: Some(slot),
                }),
                cause: &Cause::stripe_event(event),
            };
            store
                .record_payment(&payment, &DeliveryKey::new("stripe", event), now())
                .await
                .unwrap()
        }
    };
    let Once::Applied(paid) = pay_with_slot("evt_slot_1").await else {
        panic!("not applied");
    };
    assert!(matches!(paid.founding, Some(ConfirmOutcome::Confirmed(_))));
    // The slot is free: the same client holds again.
    assert!(matches!(
        hold("second@example.com").await.1,
        HoldOutcome::Held { .. }
    ));
    // Another event for the same payment: the slot is someone else's now; still decided.
    let Once::Applied(again) = pay_with_slot("evt_slot_2").await else {
        panic!("not applied");
    };
    assert!(matches!(
        again.founding,
        Some(ConfirmOutcome::AlreadyConfirmed(_))
    ));
    table.drop_table().await;
}
