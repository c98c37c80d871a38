//! The `pipeline` function's routes.

use std::collections::HashSet;

use sales::domain::signature::sign_hex;
use sales::domain::{Lead, PipelineStage};
use sales::handlers::BookingWebhook;
use sales::lambda::clock::Clock;
use sales::lambda::config::Secret;
use sales::store::PipelineSummary;
use sales_tests::{apigw_request, fixture, iam_request, response_json, TestTable};
use serde_json::{json, Value};
use time::macros::datetime;
use time::Duration;

use crate::{api, call, deal, email, founding_members, NOW, SAM};

fn decode<T: serde::de::DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone()).expect("the expected shape")
}

/// A Cal.com booking for `address`, signed, through the cal-webhook handler.
async fn cal_booking(store: &sales::SalesStore, trigger: &str, address: &str, uid: &str) {
    let mut body: Value = serde_json::from_slice(&fixture(&format!("cal/{trigger}.json"))).unwrap();
    body["payload"]["attendees"][0]["email"] = json!(address);
    body["payload"]["uid"] = json!(uid);
    body["payload"]["startTime"] = json!("2026-12-10T14:00:00Z");
    body["payload"]["endTime"] = json!("2026-12-10T14:30:00Z");
    body["createdAt"] = json!(sales::domain::time_format::to_sortable(NOW));
    let bytes = serde_json::to_vec(&body).unwrap();
    let signature = sign_hex(b"cal-secret", &[&bytes]);
    let handler = BookingWebhook::cal(
        sales_tests::as_function(store, sales_tests::role::CAL_WEBHOOK),
        vec![Secret::new("cal-secret")],
        Clock::fixed(NOW),
    );
    let request = apigw_request(
        "POST",
        "/",
        &[("X-Cal-Signature-256", &signature)],
        &bytes,
        false,
        None,
    );
    let (status, result) = response_json(handler.handle(request).await).await;
    assert_eq!(status, 200, "{result}");
}

/// Every deal, read stage by stage through the API, all pages.
async fn every_deal(store: &sales::SalesStore) -> Vec<Lead> {
    let mut leads = Vec::new();
    for stage in PipelineStage::ALL {
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("stage={stage}&limit=2&cursor={c}"),
                None => format!("stage={stage}&limit=2"),
            };
            let (status, page) = call(store, "GET", "/pipeline/leads", &query, None).await;
            assert_eq!(status, 200, "{page}");
            leads.extend(decode::<Vec<Value>>(&page["leads"]));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    let mut out = Vec::new();
    for value in leads {
        let id = sales::domain::LeadId::parse(value["id"].as_str().unwrap()).unwrap();
        out.push(store.lead(&id).await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn the_summary_after_manual_and_webhook_moves_equals_a_recount() {
    let table = TestTable::new().await;
    let store = &table.store;
    // Webhook moves: three demos booked, one cancelled (back to contacted).
    for (n, address) in ["a@example.com", "b@example.com", "c@example.com"]
        .iter()
        .enumerate()
    {
        cal_booking(store, "BOOKING_CREATED", address, &format!("uid-{n}")).await;
    }
    cal_booking(store, "BOOKING_CANCELLED", "c@example.com", "uid-2").await;
    // Manual moves through the API, with values and probabilities.
    for (address, stage, value, probability) in [
        ("a@example.com", "proposal_sent", "12000", 40),
        ("b@example.com", "negotiation", "4999.95", 70),
        ("d@example.com", "closed_won", "2500.5", 100),
        ("e@example.com", "closed_lost", "800", 0),
    ] {
        let (status, created) = call(
            store,
            "POST",
            "/pipeline/leads",
            "",
            Some(json!({"email": address})),
        )
        .await;
        assert!(status == 200 || status == 201, "{created}");
        let id = created["lead"]["id"].as_str().unwrap();
        let version = created["lead"]["version"].as_u64().unwrap();
        let (status, edited) = call(
            store,
            "PATCH",
            &format!("/pipeline/leads/{id}"),
            "",
            Some(json!({"version": version, "stage": stage, "deal_value_aud": value, "probability": probability})),
        )
        .await;
        assert_eq!(status, 200, "{edited}");
    }
    // A webhook after a manual move: a new booking for the negotiation deal keeps its stage.
    cal_booking(store, "BOOKING_CREATED", "b@example.com", "uid-late").await;

    let (status, summary) = call(store, "GET", "/pipeline/summary", "", None).await;
    assert_eq!(status, 200, "{summary}");
    let deals = every_deal(store).await;
    assert_eq!(deals.len(), 5);
    let recount = serde_json::to_value(PipelineSummary::recount(&deals)).unwrap();
    assert_eq!(summary, recount);
    let line = |stage: &str| {
        summary["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["stage"] == stage)
            .unwrap()
            .clone()
    };
    assert_eq!(line("negotiation")["total_value_aud"], "4999.95");
    assert_eq!(line("negotiation")["weighted_value_aud"], "3499.965");
    assert_eq!(line("contacted")["count"], 1);
    assert_eq!(line("demo_booked")["count"], 0);
    table.drop_table().await;
}

#[tokio::test]
async fn deals_come_soonest_first_across_pages_and_filters_use_the_indexes() {
    let table = TestTable::new().await;
    let store = &table.store;
    let base = datetime!(2026-12-01 09:00 UTC);
    let mut expected = Vec::new();
    for n in 0..7 {
        // Created out of order; due on day 6 - n.
        let due = base + Duration::days(6 - n);
        let owner = if n % 2 == 0 { Some("sam") } else { Some("kim") };
        let lead = deal(
            store,
            &format!("n{n}@example.com"),
            PipelineStage::Negotiation,
            Some(due),
            "1000",
            owner,
        )
        .await;
        expected.push((due, lead.id.to_string()));
    }
    // Without a next action: last.
    let undated = deal(
        store,
        "undated@example.com",
        PipelineStage::Negotiation,
        None,
        "1",
        None,
    )
    .await;
    expected.sort();
    let mut order: Vec<String> = expected.iter().map(|(_, id)| id.clone()).collect();
    order.push(undated.id.to_string());
    deal(
        store,
        "other@example.com",
        PipelineStage::ProposalSent,
        Some(base),
        "1",
        Some("sam"),
    )
    .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("stage=negotiation&limit=3&cursor={c}"),
            None => "stage=negotiation&limit=3".to_owned(),
        };
        let (status, page) = call(store, "GET", "/pipeline/leads", &query, None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for lead in page["leads"].as_array().unwrap() {
            seen.push(lead["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(seen, order, "every deal once, soonest next action first");

    // due_before: strictly before the day-2 deal's date.
    let (_, page) = call(
        store,
        "GET",
        "/pipeline/leads",
        "stage=negotiation&due_before=2026-12-03T09:00:00Z",
        None,
    )
    .await;
    let ids: Vec<&str> = page["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        order[..2].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // A rep's deals, and a rep's deals in one stage.
    let (_, page) = call(store, "GET", "/pipeline/leads", "assigned_to=sam", None).await;
    let sams: HashSet<&str> = page["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["email"].as_str().unwrap())
        .collect();
    assert_eq!(sams.len(), 5, "{sams:?}");
    assert!(sams.contains("other@example.com"));
    let (_, page) = call(
        store,
        "GET",
        "/pipeline/leads",
        "assigned_to=sam&stage=negotiation&limit=100",
        None,
    )
    .await;
    assert_eq!(page["leads"].as_array().unwrap().len(), 4);

    // Bad parameters are named.
    for (query, field) in [
        ("", "stage"),
        ("stage=won", "stage"),
        ("stage=negotiation&limit=0", "limit"),
        ("stage=negotiation&limit=500", "limit"),
        ("stage=negotiation&due_before=soon", "due_before"),
        ("stage=negotiation&cursor=!!!", "cursor"),
        ("stage=negotiation&colour=red", "query"),
    ] {
        let (status, body) = call(store, "GET", "/pipeline/leads", query, None).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{query}: {body}"
        );
    }
    // A cursor from one list is refused on another.
    let (_, first) = call(
        store,
        "GET",
        "/pipeline/leads",
        "stage=negotiation&limit=1",
        None,
    )
    .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, body) = call(
        store,
        "GET",
        "/pipeline/leads",
        &format!("stage=proposal_sent&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("cursor")),
        "{body}"
    );
    // ... and on the same list with other filters: a due_before that ends before the cursor's
    // place (DynamoDB would refuse the start key: it was a 500), another due_before, a stage
    // filter added to a rep's list. Each is a 400 naming the cursor.
    let (_, rep) = call(
        store,
        "GET",
        "/pipeline/leads",
        "assigned_to=sam&limit=1",
        None,
    )
    .await;
    let rep_cursor = rep["next_cursor"].as_str().unwrap();
    let (_, due) = call(
        store,
        "GET",
        "/pipeline/leads",
        "stage=negotiation&due_before=2027-01-01&limit=1",
        None,
    )
    .await;
    let due_cursor = due["next_cursor"].as_str().unwrap();
    for query in [
        format!("stage=negotiation&due_before=2026-12-01T00:00:00Z&cursor={cursor}"),
        format!("stage=negotiation&due_before=2027-06-01&cursor={due_cursor}"),
        format!("stage=negotiation&cursor={due_cursor}"),
        format!("assigned_to=sam&stage=negotiation&cursor={rep_cursor}"),
        format!("assigned_to=someone-else&cursor={rep_cursor}"),
    ] {
        let (status, body) = call(store, "GET", "/pipeline/leads", &query, None).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("cursor")),
            "{query}: {body}"
        );
    }
    // The same filters again: the next page.
    for query in [
        format!("stage=negotiation&due_before=2027-01-01&cursor={due_cursor}"),
        format!("assigned_to=sam&cursor={rep_cursor}&limit=2"),
    ] {
        let (status, body) = call(store, "GET", "/pipeline/leads", &query, None).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert!(
            !body["leads"].as_array().unwrap().is_empty(),
            "{query}: {body}"
        );
    }
    table.drop_table().await;
}

#[tokio::test]
async fn creating_a_lead_twice_returns_the_same_lead() {
    let table = TestTable::new().await;
    let store = &table.store;
    let body = json!({"email": " Grace@Example.com ", "name": "Grace Hopper", "company": "Navy", "source": "sales_team"});
    let (status, first) = call(store, "POST", "/pipeline/leads", "", Some(body.clone())).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["created"], true);
    assert_eq!(first["lead"]["email"], "grace@example.com");
    assert_eq!(first["lead"]["pipeline"]["stage"], "prospect");
    let (status, again) = call(store, "POST", "/pipeline/leads", "", Some(body)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["created"], false);
    assert_eq!(again["lead"]["id"], first["lead"]["id"]);

    for (body, field) in [
        (json!({"email": "nope"}), Some("email")),
        (
            json!({"email": "x@example.com", "source": "fax"}),
            Some("source"),
        ),
        (json!({"email": "x@example.com", "colour": "red"}), None),
        (json!({}), None),
    ] {
        let (status, result) = call(store, "POST", "/pipeline/leads", "", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {result}");
        if let Some(field) = field {
            assert_eq!(result["field"], field);
        }
    }
    assert_eq!(
        store
            .pipeline_summary()
            .await
            .unwrap()
            .stage(PipelineStage::Prospect)
            .unwrap()
            .count,
        1
    );
    table.drop_table().await;
}

#[tokio::test]
async fn edits_need_the_current_version_and_name_the_caller_in_the_history() {
    let table = TestTable::new().await;
    let store = &table.store;
    let lead = deal(
        store,
        "ada@example.com",
        PipelineStage::DemoDone,
        None,
        "100",
        None,
    )
    .await;
    let path = format!("/pipeline/leads/{}", lead.id);
    let edit = json!({
        "version": lead.version,
        "stage": "proposal_sent",
        "next_action": "Send contract",
        "next_action_date": "2026-12-01",
        "assigned_to": "sam@agency.example",
        "deal_value_aud": "4999.95",
        "probability": 60
    });
    let (status, result) = call(store, "PATCH", &path, "", Some(edit.clone())).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["lead"]["pipeline"]["stage"], "proposal_sent");
    assert_eq!(
        result["lead"]["pipeline"]["next_action_date"],
        "2026-12-01T00:00:00Z"
    );
    assert_eq!(result["stage_change"]["cause"], format!("user:{SAM}"));
    let history = sales_tests::history(store, &lead.id).await;
    assert_eq!(
        history.last().unwrap().cause.as_str(),
        format!("user:{SAM}")
    );
    assert_eq!(history.last().unwrap().to, PipelineStage::ProposalSent);

    // The same edit again names a stale version: 409 with the current one, nothing written.
    let (status, conflict) = call(store, "PATCH", &path, "", Some(edit)).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"], "version_conflict");
    assert_eq!(conflict["current_version"], lead.version + 1);
    assert_eq!(
        sales_tests::history(store, &lead.id).await.len(),
        history.len()
    );

    // Clearing fields with null.
    let (status, cleared) = call(
        store,
        "PATCH",
        &path,
        "",
        Some(json!({"version": lead.version + 1, "assigned_to": null, "next_action": null, "next_action_date": null})),
    )
    .await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["lead"]["pipeline"]["assigned_to"], Value::Null);
    assert_eq!(cleared["stage_change"], Value::Null);

    // Refusals.
    let current = lead.version + 2;
    for (body, status, field) in [
        (json!({"stage": "negotiation"}), 400, Some("version")),
        (
            json!({"version": current, "stage": "won"}),
            400,
            Some("stage"),
        ),
        (
            json!({"version": current, "probability": 120}),
            400,
            Some("probability"),
        ),
        (
            json!({"version": current, "deal_value_aud": "12.345"}),
            400,
            Some("deal_value_aud"),
        ),
        (
            json!({"version": current, "stgae": "negotiation"}),
            400,
            Some("body"),
        ),
        (json!({"version": current}), 400, Some("body")),
    ] {
        let (got, result) = call(store, "PATCH", &path, "", Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {result}");
        assert_eq!(result["field"].as_str(), field, "{body}");
    }
    let missing = format!("/pipeline/leads/{}", sales::domain::LeadId::generate());
    let (status, _) = call(
        store,
        "PATCH",
        &missing,
        "",
        Some(json!({"version": 1, "stage": "contacted"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(store, "GET", "/pipeline/leads/not-a-lead", "", None).await;
    assert_eq!(status, 404);
    // Without an IAM identity (never the case behind the authorizer) nobody can be named: 401.
    let anonymous = iam_request(
        "PATCH",
        &path,
        "",
        Some(&json!({"version": current, "stage": "negotiation"})),
        None,
    );
    assert_eq!(api(store).handle(anonymous).await.status(), 401);
    assert_eq!(
        store.lead(&lead.id).await.unwrap().unwrap().version,
        current
    );
    table.drop_table().await;
}

#[tokio::test]
async fn one_deal_in_full_and_the_founding_lists_in_order() {
    let table = TestTable::new().await;
    let store = &table.store;
    cal_booking(store, "BOOKING_CREATED", "ada@example.com", "uid-ada").await;
    let lead = store
        .lead_by_email(&email("ada@example.com"))
        .await
        .unwrap()
        .unwrap();
    let (status, detail) = call(
        store,
        "GET",
        &format!("/pipeline/leads/{}", lead.id),
        "",
        None,
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["lead"]["email"], "ada@example.com");
    assert_eq!(detail["lead"]["pipeline"]["stage"], "demo_booked");
    assert_eq!(detail["history"][0]["to"], "demo_booked");
    assert_eq!(detail["history"][0]["cause"], "cal:uid-ada");
    assert_eq!(detail["bookings"][0]["reference"]["id"], "uid-ada");
    assert_eq!(detail["bookings"][0]["status"], "scheduled");
    assert_eq!(detail["demo_booking"]["id"], "uid-ada");
    assert_eq!(detail["billing"]["invoices"], json!([]));

    founding_members(
        store,
        &["m1@example.com", "m2@example.com", "m3@example.com"],
    )
    .await;
    for raw in ["w1@example.com", "w2@example.com"] {
        store.join_waitlist(&email(raw), None, NOW).await.unwrap();
    }
    let (status, members) = call(store, "GET", "/founding/members", "", None).await;
    assert_eq!(status, 200);
    let spots: Vec<u64> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["spot"].as_u64().unwrap())
        .collect();
    assert_eq!(spots.len(), 3);
    assert!(spots.windows(2).all(|w| w[0] < w[1]), "{spots:?}");
    assert_eq!(
        members["members"][0]["benefits"]["lifetime_discount_percent"],
        40
    );
    let (_, waitlist) = call(store, "GET", "/founding/waitlist", "", None).await;
    let order: Vec<(&str, u64)> = waitlist["waitlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["email"].as_str().unwrap(),
                w["position"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(order, vec![("w1@example.com", 1), ("w2@example.com", 2)]);

    // Routing: the same handler behind `cargo lambda watch`'s path; unknown routes and methods.
    let (status, _) = call(
        store,
        "GET",
        "/lambda-url/pipeline/pipeline/summary",
        "",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(store, "GET", "/pipeline/nothing", "", None).await;
    assert_eq!(status, 404);
    let (status, _) = call(store, "DELETE", "/pipeline/summary", "", None).await;
    assert_eq!(status, 405);
    table.drop_table().await;
}

/// The sales team sees live founding holds with the client address that took them, and clears
/// one: the spot and the client's slot come free at once (the same address can hold again);
/// a spot without a live hold is a 404.
#[tokio::test]
async fn the_sales_team_lists_live_holds_and_releases_one() {
    use sales::domain::{Client, HoldRef, HoldWindow, LeadSource, NewLead};
    use sales::store::{ClientCap, HoldOutcome};
    let table = TestTable::new().await;
    let store = &table.store;
    let cap = ClientCap {
        client: Client::from_source_ip(Some("198.51.100.23")),
        holds: 1,
    };
    let hold = |address: &str| {
        let lead = NewLead::new(
            sales::domain::EmailAddress::parse(address).unwrap(),
            LeadSource::Checkout,
        );
        let cap = cap.clone();
        async move {
            store
                .hold_founding_spot_for(
                    &lead,
                    &HoldRef::generate(),
                    HoldWindow::starting_at(NOW).hold_expires_at,
                    Some(&cap),
                    NOW,
                )
                .await
                .unwrap()
                .1
        }
    };
    assert!(matches!(
        hold("taker@example.com").await,
        HoldOutcome::Held { .. }
    ));
    assert!(matches!(
        hold("second@example.com").await,
        HoldOutcome::ClientLimit { .. }
    ));

    let (status, listed) = call(store, "GET", "/founding/holds", "", None).await;
    assert_eq!(status, 200, "{listed}");
    let holds = listed["holds"].as_array().unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0]["spot"], 1);
    assert_eq!(holds[0]["email"], "taker@example.com");
    assert_eq!(holds[0]["client"], "198.51.100.23");
    assert!(holds[0]["held_at"].is_string() && holds[0]["expires_at"].is_string());
    assert!(
        holds[0].get("hold_ref").is_none(),
        "the hold's secret stays inside"
    );

    let (status, released) = call(store, "POST", "/founding/holds/1/release", "", None).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["released"]["email"], "taker@example.com");
    let (status, _) = call(store, "GET", "/founding/holds", "", None).await;
    assert_eq!(status, 200);
    assert_eq!(store.founding_tally(NOW).await.unwrap().held, 0);
    // The client's slot came back with it.
    assert!(matches!(
        hold("second@example.com").await,
        HoldOutcome::Held { .. }
    ));
    let (status, _) = call(store, "POST", "/founding/holds/7/release", "", None).await;
    assert_eq!(status, 404);
    let (status, _) = call(store, "POST", "/founding/holds/21/release", "", None).await;
    assert_eq!(status, 400);
    table.drop_table().await;
}
