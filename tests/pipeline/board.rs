//! The board's routes (`/board/api/…`, the board's Cognito JWT authorizer): the same handler,
//! served only to members of the `sales` group, naming the signed-in person in the history.

use sales::domain::PipelineStage;
use sales::handlers::pipeline::{caller, claim_groups, Caller};
use sales_tests::{apigw_request, history, iam_request, response_json, TestTable};
use serde_json::{json, Value};

use crate::{api, deal, SAM};

/// The claims API Gateway passes for a Cognito ID token of the board's pool: every value a
/// string, `cognito:groups` rendered as `[a b]`.
fn claims(email: &str, groups: Option<&str>) -> Value {
    let mut claims = json!({
        "sub": "5f0c6f2e-0000-4000-8000-000000000001",
        "email": email,
        "email_verified": "true",
        "token_use": "id",
        "aud": "board-client",
        "iss": "https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_Board",
    });
    if let Some(groups) = groups {
        claims["cognito:groups"] = json!(groups);
    }
    claims
}

async fn board_call(
    store: &sales::SalesStore,
    method: &str,
    path: &str,
    body: Option<Value>,
    claims: Value,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = apigw_request(
        method,
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
        false,
        Some(claims),
    );
    response_json(api(store).handle(request).await).await
}

#[tokio::test]
async fn a_board_user_in_the_sales_group_moves_a_deal_and_the_history_names_them() {
    let table = TestTable::new().await;
    let store = &table.store;
    let lead = deal(
        store,
        "ada@example.com",
        PipelineStage::DemoDone,
        None,
        "1200",
        None,
    )
    .await;
    let ana = claims("Ana@Agency.test", Some("[sales]"));

    let (status, summary) = board_call(
        store,
        "GET",
        "/board/api/pipeline/summary",
        None,
        ana.clone(),
    )
    .await;
    assert_eq!(status, 200, "{summary}");
    let (status, detail) = board_call(
        store,
        "GET",
        &format!("/board/api/pipeline/leads/{}", lead.id),
        None,
        ana.clone(),
    )
    .await;
    assert_eq!(status, 200, "{detail}");

    let (status, moved) = board_call(
        store,
        "PATCH",
        &format!("/board/api/pipeline/leads/{}", lead.id),
        Some(json!({"version": lead.version, "stage": "proposal_sent"})),
        ana.clone(),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["stage_change"]["cause"], "user:ana@agency.test");
    let last = history(store, &lead.id)
        .await
        .pop()
        .expect("a history entry");
    assert_eq!(last.to, PipelineStage::ProposalSent);
    assert_eq!(last.cause.as_str(), "user:ana@agency.test");

    // A stale version from the board is refused as from anywhere else.
    let (status, stale) = board_call(
        store,
        "PATCH",
        &format!("/board/api/pipeline/leads/{}", lead.id),
        Some(json!({"version": lead.version, "stage": "negotiation"})),
        ana,
    )
    .await;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["error"], "version_conflict");
}

#[tokio::test]
async fn a_token_outside_the_sales_group_is_refused_on_every_route_and_writes_nothing() {
    let table = TestTable::new().await;
    let store = &table.store;
    let lead = deal(
        store,
        "grace@example.com",
        PipelineStage::Contacted,
        None,
        "900",
        None,
    )
    .await;
    let refused = [
        claims("sam@agency.test", None),
        claims("sam@agency.test", Some("[]")),
        claims("sam@agency.test", Some("[support admins]")),
        claims("sam@agency.test", Some("salesforce")),
        // In the group, but no verified e-mail to name them by.
        {
            let mut c = claims("sam@agency.test", Some("[sales]"));
            c["email_verified"] = json!("false");
            c
        },
        {
            let mut c = claims("sam@agency.test", Some("[sales]"));
            c.as_object_mut().unwrap().remove("email");
            c
        },
    ];
    for token in refused {
        for (method, path, body) in [
            ("GET", "/board/api/pipeline/summary".to_owned(), None),
            ("GET", "/board/api/founding/members".to_owned(), None),
            (
                "GET",
                format!("/board/api/pipeline/leads/{}", lead.id),
                None,
            ),
            (
                "PATCH",
                format!("/board/api/pipeline/leads/{}", lead.id),
                Some(json!({"version": lead.version, "stage": "closed_lost"})),
            ),
        ] {
            let (status, body) = board_call(store, method, &path, body, token.clone()).await;
            assert_eq!(status, 403, "{method} {path} with {token}: {body}");
            assert_eq!(body["error"], "forbidden", "{body}");
        }
    }
    let after = store.lead(&lead.id).await.unwrap().unwrap();
    assert_eq!(after.version, lead.version, "nothing was written");
    assert_eq!(after.pipeline.stage, PipelineStage::Contacted);
}

#[tokio::test]
async fn iam_callers_keep_their_arn_and_unsigned_callers_cannot_write() {
    let table = TestTable::new().await;
    let store = &table.store;
    let lead = deal(
        store,
        "lin@example.com",
        PipelineStage::Prospect,
        None,
        "100",
        None,
    )
    .await;
    let body = json!({"version": lead.version, "stage": "contacted"});
    let path = format!("/pipeline/leads/{}", lead.id);
    // No authorizer (a function URL): reads are served, an edit is 401.
    let (status, _) = response_json(
        api(store)
            .handle(iam_request("PATCH", &path, "", Some(&body), None))
            .await,
    )
    .await;
    assert_eq!(status, 401);
    let (status, moved) = response_json(
        api(store)
            .handle(iam_request("PATCH", &path, "", Some(&body), Some(SAM)))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["stage_change"]["cause"], format!("user:{SAM}"));
}

#[test]
fn the_caller_of_each_kind_of_request() {
    let board = |groups: &str| {
        apigw_request(
            "GET",
            "/board/api/pipeline/summary",
            &[],
            b"",
            false,
            Some(claims("ana@agency.test", Some(groups))),
        )
    };
    assert_eq!(
        caller(&board("[sales]")).unwrap(),
        Caller::Board(sales::domain::EmailAddress::parse("ana@agency.test").unwrap())
    );
    assert_eq!(
        caller(&board("[admins sales]")).unwrap().name(),
        Some("ana@agency.test")
    );
    assert!(caller(&board("[admins]")).is_err());
    assert_eq!(
        caller(&iam_request(
            "GET",
            "/pipeline/summary",
            "",
            None,
            Some(SAM)
        ))
        .unwrap(),
        Caller::Iam(SAM.to_owned())
    );
    assert_eq!(
        caller(&iam_request("GET", "/pipeline/summary", "", None, None)).unwrap(),
        Caller::Anonymous
    );
    let masked = caller(&board("[sales]")).unwrap().for_log();
    assert!(!masked.contains("ana@"), "{masked}");
}

#[test]
fn group_claims_in_each_shape_api_gateway_and_providers_send() {
    assert_eq!(claim_groups("[sales]"), ["sales"]);
    assert_eq!(claim_groups("[admins sales]"), ["admins", "sales"]);
    assert_eq!(claim_groups(r#"["sales","admins"]"#), ["sales", "admins"]);
    assert_eq!(claim_groups("sales,admins"), ["sales", "admins"]);
    assert_eq!(claim_groups("sales"), ["sales"]);
    assert!(claim_groups("[]").is_empty());
    assert!(claim_groups("").is_empty());
    assert_eq!(claim_groups("[salesforce]"), ["salesforce"]);
}
