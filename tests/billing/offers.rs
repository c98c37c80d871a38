//! A waitlist that converts (issue 18): freed founding spots are offered to the waitlist in
//! order, by e-mail through the local AWS server's SES, with a signed link create-checkout
//! checks. The sweep (`waitlist-offers`) runs as its own IAM role with a fixed clock; the
//! e-mails are read back from the local server (`GET /_local/sent?service=ses`).

use sales::domain::{EmailAddress, HoldRef, LeadSource, NewLead, SpotStatusKind, WaitlistStatus};
use sales::handlers::{Clock, SweepReport, WaitlistOffers};
use sales::providers::ses::OfferMailer;
use sales::store::HoldOutcome;
use sales::SalesStore;
use sales_tests::{as_function, response_json, role, sdk_config_as, ses_sent_to, TestTable};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::checkout::stripe_fake;
use crate::{json_post, now};

const OFFER_KEY: &str = "offer-signing-key-for-tests";

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

async fn sweep(store: &SalesStore, at: OffsetDateTime) -> SweepReport {
    let sdk = sdk_config_as(role::WAITLIST_OFFERS).await;
    let mailer = OfferMailer::new(
        aws_sdk_sesv2::Client::new(&sdk),
        Some("Agency OS <offers@keiracom.com>".into()),
        Some("OfferTemplate".into()),
        Some("https://keiracom.com/pricing".parse().unwrap()),
        Some(sales::lambda::config::Secret::new(OFFER_KEY)),
    )
    .unwrap();
    WaitlistOffers::new(
        as_function(store, role::WAITLIST_OFFERS),
        Some(mailer),
        Clock::fixed(at),
    )
    .run()
    .await
    .unwrap()
}

/// A founding hold (or a place on the waitlist) for `who`, as create-checkout takes it.
async fn hold(store: &SalesStore, who: &str, at: OffsetDateTime) -> HoldOutcome {
    let new = NewLead::new(email(who), LeadSource::Checkout);
    let (_, outcome) = store
        .hold_founding_spot(&new, &HoldRef::generate(), at + Duration::minutes(36), at)
        .await
        .unwrap();
    outcome
}

/// The offer link's token, from the e-mail SES sent.
fn token_in(body: &str) -> String {
    let start = body.find("offer=").expect("an offer link") + "offer=".len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect()
}

async fn checkout(
    store: &SalesStore,
    who: &str,
    offer: Option<&str>,
    at: OffsetDateTime,
) -> (u16, serde_json::Value) {
    let stripe = stripe_fake(at).await;
    let config = sales_tests::function_config(&stripe.uri(), &[("OFFER_SIGNING_KEY", OFFER_KEY)]);
    let handler = sales::handlers::CreateCheckout::new(
        as_function(store, role::CREATE_CHECKOUT),
        crate::stripe_client(&config),
        config,
        Clock::fixed(at),
    );
    let mut body = json!({"email": who, "plan_type": "founding"});
    if let Some(offer) = offer {
        body["offer"] = json!(offer);
    }
    let (status, answer) = response_json(
        handler
            .handle(json_post("/billing/create-checkout", &body))
            .await,
    )
    .await;
    (status, answer)
}

#[tokio::test]
async fn freed_spots_are_offered_to_the_waitlist_in_order_by_email() {
    let table = TestTable::new().await;
    let store = &table.store;
    // Unique addresses: the local SES is shared by every test of the run.
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let who = |name: &str| format!("{name}-{tag}@example.com");
    let t0 = now();
    for n in 1..=20 {
        assert!(matches!(
            hold(store, &who(&format!("h{n}")), t0).await,
            HoldOutcome::Held { .. }
        ));
    }
    for (n, name) in ["w1", "w2", "w3"].into_iter().enumerate() {
        match hold(store, &who(name), t0).await {
            HoldOutcome::Full { waitlist_position } => assert_eq!(waitlist_position, n as u64 + 1),
            other => panic!("{name}: {other:?}"),
        }
    }
    // Nothing is free: the sweep offers nothing and mails no one.
    let report = sweep(store, t0 + Duration::minutes(1)).await;
    assert!(report.offered.is_empty(), "{report:?}");

    // Two spots come free (the sales team releases two holds).
    let t1 = t0 + Duration::minutes(10);
    let spot = |n: i64| sales::domain::SpotNumber::new(n).unwrap();
    for n in [3, 7] {
        assert!(store
            .release_spot_hold(spot(n), t1)
            .await
            .unwrap()
            .is_some());
    }
    // Before the sweep, a stranger's checkout does not take them: people are waiting.
    assert!(matches!(
        hold(store, &who("stranger"), t1).await,
        HoldOutcome::Full {
            waitlist_position: 4
        }
    ));

    let report = sweep(store, t1).await;
    assert_eq!(
        report.offered,
        [(who("w1"), 3), (who("w2"), 7)],
        "the first two in line, lowest spot first"
    );
    assert_eq!(report.mails_sent, 2);
    let mail = ses_sent_to(&who("w1")).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].0.contains("founding spot"), "{}", mail[0].0);
    assert!(mail[0].1.contains("spot 3"), "{}", mail[0].1);
    assert_eq!(ses_sent_to(&who("w2")).await.len(), 1);
    assert!(
        ses_sent_to(&who("w3")).await.is_empty(),
        "the third is not offered"
    );
    let statuses = store.founding_spot_statuses(t1).await.unwrap();
    assert_eq!(statuses[2].state, SpotStatusKind::Offered);
    assert_eq!(statuses[2].until, Some(t1 + Duration::hours(48)));
    assert_eq!(store.founding_tally(t1).await.unwrap().reserved, 2);
    let w3 = store
        .waitlist_entry(&email(&who("w3")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w3.status, WaitlistStatus::Waiting);

    // A retried sweep sends nothing twice.
    let again = sweep(store, t1 + Duration::minutes(5)).await;
    assert_eq!((again.offered.len(), again.mails_sent), (0, 0), "{again:?}");
    assert_eq!(ses_sent_to(&who("w1")).await.len(), 1);

    // A stranger, and the third in line, cannot take a reserved spot.
    assert!(matches!(
        hold(store, &who("stranger2"), t1).await,
        HoldOutcome::Full { .. }
    ));
    assert!(matches!(
        hold(store, &who("w3"), t1).await,
        HoldOutcome::Full { .. }
    ));

    // The offer link: refused for another e-mail, after its end, or forged; accepted for its
    // own e-mail, which gets the offered spot.
    let link = token_in(&mail[0].1);
    let (status, answer) = checkout(store, &who("w3"), Some(&link), t1).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("offer_not_yours")),
        "{answer}"
    );
    let (status, answer) = checkout(store, &who("w1"), Some(&link), t1 + Duration::hours(49)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("offer_expired")),
        "{answer}"
    );
    let forged = format!("{}x", link);
    let (status, answer) = checkout(store, &who("w1"), Some(&forged), t1).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_offer")),
        "{answer}"
    );
    let (status, answer) =
        checkout(store, &who("w1"), Some(&link), t1 + Duration::minutes(20)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["spot_number"], 3);

    // w2 never comes: after 48 hours both offers have lapsed (w1's hold too), and so have the
    // 20 unpaid holds of the start: the spots go down the line, the third in line first, then
    // the two strangers who joined after, in their order.
    let t2 = t1 + Duration::hours(48) + Duration::minutes(5);
    let report = sweep(store, t2).await;
    assert_eq!(report.lapsed, 2, "{report:?}");
    let offered: Vec<&str> = report.offered.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        offered,
        [who("w3"), who("stranger"), who("stranger2")],
        "{report:?}"
    );
    assert_eq!(ses_sent_to(&who("w3")).await.len(), 1);
    let w2 = store
        .waitlist_entry(&email(&who("w2")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w2.status, WaitlistStatus::Lapsed);
    table.drop_table().await;
}

/// One spot and one person: two sweeps at once make one offer and send one e-mail.
#[tokio::test]
async fn two_sweeps_at_once_offer_one_spot_once() {
    let table = TestTable::new().await;
    let store = &table.store;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let who = |name: &str| format!("{name}-{tag}@example.com");
    let t0 = now();
    for n in 1..=20 {
        hold(store, &who(&format!("h{n}")), t0).await;
    }
    for name in ["a", "b"] {
        assert!(matches!(
            hold(store, &who(name), t0).await,
            HoldOutcome::Full { .. }
        ));
    }
    let t1 = t0 + Duration::minutes(5);
    store
        .release_spot_hold(sales::domain::SpotNumber::new(9).unwrap(), t1)
        .await
        .unwrap()
        .unwrap();
    let (one, two) = tokio::join!(sweep(store, t1), sweep(store, t1));
    assert_eq!(one.offered.len() + two.offered.len(), 1, "{one:?} {two:?}");
    assert_eq!(one.mails_sent + two.mails_sent, 1, "{one:?} {two:?}");
    assert_eq!(ses_sent_to(&who("a")).await.len(), 1);
    assert!(ses_sent_to(&who("b")).await.is_empty());
    table.drop_table().await;
}
