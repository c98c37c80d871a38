//! The board's resources in the template: who can sign in (the user pool, its `sales` group, the
//! board's app client), which routes take its tokens (every `/board/api/...` route, and only
//! those, behind the board's JWT authorizer, each the IAM route of the same path again), the CORS
//! the board needs, and where it is served from (the private bucket behind CloudFront, with its
//! own security headers).

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::template::{self, intrinsic, literal_bool, literal_str, ref_target, sequence};

fn resource<'a>(template: &'a Value, id: &str) -> &'a Value {
    template["Resources"]
        .get(id)
        .unwrap_or_else(|| panic!("the template has no resource {id}"))
}

fn strings(value: &Value, what: &str) -> BTreeSet<String> {
    sequence(Some(value), what)
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what}: {v:?}"))
                .to_owned()
        })
        .collect()
}

/// `(method, path, authorizer)` of every HttpApi event of the pipeline function.
fn pipeline_routes(template: &Value) -> Vec<(String, String, String)> {
    let events = resource(template, "PipelineFunction")["Properties"]["Events"]
        .as_mapping()
        .expect("the pipeline function's events");
    events
        .values()
        .map(|event| {
            let p = &event["Properties"];
            (
                p["Method"].as_str().unwrap().to_owned(),
                p["Path"].as_str().unwrap().to_owned(),
                p["Auth"]["Authorizer"]
                    .as_str()
                    .unwrap_or("NONE")
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn only_administrators_add_people_and_the_sales_group_is_the_one_the_code_requires() {
    let t = template::template();
    let pool = &resource(&t, "BoardUserPool")["Properties"];
    assert_eq!(
        literal_bool(
            pool["AdminCreateUserConfig"].get("AllowAdminCreateUserOnly"),
            "AllowAdminCreateUserOnly"
        ),
        Ok(true),
        "no self sign-up"
    );
    assert_eq!(
        strings(&pool["UsernameAttributes"], "UsernameAttributes"),
        ["email".to_owned()].into()
    );
    let group = &resource(&t, "BoardSalesGroup")["Properties"];
    assert_eq!(ref_target(&group["UserPoolId"]), Some("BoardUserPool"));
    assert_eq!(
        literal_str(group.get("GroupName"), "GroupName"),
        Ok(sales::handlers::pipeline::SALES_GROUP)
    );
}

#[test]
fn the_boards_client_is_a_public_client_with_the_code_flow_back_to_the_board() {
    let t = template::template();
    let client = &resource(&t, "BoardUserPoolClient")["Properties"];
    assert_eq!(ref_target(&client["UserPoolId"]), Some("BoardUserPool"));
    assert_eq!(
        literal_bool(client.get("GenerateSecret"), "GenerateSecret"),
        Ok(false)
    );
    assert_eq!(
        strings(&client["AllowedOAuthFlows"], "flows"),
        ["code".to_owned()].into()
    );
    let scopes = strings(&client["AllowedOAuthScopes"], "scopes");
    assert!(
        scopes.contains("openid") && scopes.contains("email"),
        "{scopes:?}"
    );
    // The callback is the board's URL output (the page the board's code returns to).
    let board_url = &t["Outputs"]["BoardUrl"]["Value"];
    let callbacks = sequence(client.get("CallbackURLs"), "CallbackURLs").unwrap();
    assert_eq!(callbacks, std::slice::from_ref(board_url));
    let domain = &resource(&t, "BoardUserPoolDomain")["Properties"];
    assert_eq!(ref_target(&domain["UserPoolId"]), Some("BoardUserPool"));
}

#[test]
fn the_boards_routes_take_only_its_pools_tokens_and_mirror_the_iam_routes() {
    let t = template::template();
    let authorizer = &resource(&t, "SalesApi")["Properties"]["Auth"]["Authorizers"]["BoardJwt"];
    let jwt = &authorizer["JwtConfiguration"];
    let (kind, issuer) = intrinsic(&jwt["issuer"]).expect("the issuer is built from the pool");
    assert_eq!(kind, "Sub");
    assert_eq!(
        issuer.as_str(),
        Some("https://cognito-idp.${AWS::Region}.amazonaws.com/${BoardUserPool}")
    );
    let audiences = sequence(jwt.get("audience"), "audience").unwrap();
    assert_eq!(audiences.len(), 1);
    assert_eq!(ref_target(&audiences[0]), Some("BoardUserPoolClient"));

    let routes = pipeline_routes(&t);
    let iam: BTreeSet<(String, String)> = routes
        .iter()
        .filter(|(_, _, auth)| auth == "AWS_IAM")
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let mut board = 0;
    for (method, path, auth) in &routes {
        if let Some(rest) = path.strip_prefix("/board/api") {
            board += 1;
            assert_eq!(auth, "BoardJwt", "{method} {path}");
            assert!(
                iam.contains(&(method.clone(), rest.to_owned())),
                "{method} {path} is not an IAM route under /board/api"
            );
        } else {
            assert_eq!(
                auth, "AWS_IAM",
                "{method} {path}: salesctl's and scripts' routes stay IAM"
            );
        }
    }
    assert!(
        board >= 7,
        "summary, leads, a lead, an edit, members, waitlist, holds"
    );
    // No other function takes the board's tokens.
    for (id, function) in template::resources_of_type(&t, "AWS::Serverless::Function") {
        if id == "PipelineFunction" {
            continue;
        }
        let text = serde_yaml::to_string(&function["Properties"]["Events"]).unwrap();
        assert!(
            !text.contains("BoardJwt"),
            "{id} uses the board's authorizer"
        );
    }
}

#[test]
fn every_api_path_the_board_calls_is_a_board_route() {
    let t = template::template();
    let routes: BTreeSet<String> = pipeline_routes(&t)
        .into_iter()
        .filter_map(|(_, path, _)| path.strip_prefix("/board/api").map(str::to_owned))
        .collect();
    let script = std::fs::read_to_string(template::workspace_root().join("web/board/board.js"))
        .expect("web/board/board.js");
    let called = regex_lite_paths(&script);
    assert!(called.len() >= 5, "{called:?}");
    for path in called {
        let route = path
            .replace("${id}", "{lead_id}")
            .replace("${encodeURIComponent(id)}", "{lead_id}")
            .replace("${l.id}", "{lead_id}");
        let route = route.split('?').next().unwrap().to_owned();
        assert!(
            routes.contains(&route),
            "board.js calls {path}, which is no /board/api route: {routes:?}"
        );
    }
}

/// The paths of `api("/…")` calls in board.js.
fn regex_lite_paths(script: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for piece in script.split("api(").skip(1) {
        let piece = piece.trim_start();
        let Some(quote) = piece.chars().next().filter(|c| matches!(c, '"' | '`')) else {
            continue;
        };
        let rest = &piece[1..];
        if let Some(end) = rest.find(quote) {
            let path = &rest[..end];
            if path.starts_with('/') {
                out.insert(path.to_owned());
            }
        }
    }
    out
}

#[test]
fn cors_lets_the_board_edit_from_its_own_origin() {
    let t = template::template();
    let cors = &resource(&t, "SalesApi")["Properties"]["CorsConfiguration"];
    let methods = strings(&cors["AllowMethods"], "AllowMethods");
    assert!(methods.contains("PATCH"), "{methods:?}");
    let origins = serde_yaml::to_string(&cors["AllowOrigins"]).unwrap();
    assert!(
        origins.contains("https://${WidgetDistribution.DomainName}"),
        "{origins}"
    );
}

#[test]
fn the_board_is_served_privately_by_cloudfront_with_its_own_headers() {
    let t = template::template();
    let config = &resource(&t, "WidgetDistribution")["Properties"]["DistributionConfig"];
    let origin = &sequence(config.get("Origins"), "Origins").unwrap()[0];
    assert!(
        origin.get("OriginAccessControlId").is_some(),
        "origin access control"
    );
    let behaviours = sequence(config.get("CacheBehaviors"), "CacheBehaviors").unwrap();
    let board = behaviours
        .iter()
        .find(|b| b["PathPattern"].as_str() == Some("board/*"))
        .expect("a board/* cache behaviour");
    assert_eq!(
        board["ViewerProtocolPolicy"].as_str(),
        Some("redirect-to-https")
    );
    assert_eq!(
        ref_target(&board["ResponseHeadersPolicyId"]),
        Some("BoardResponseHeadersPolicy")
    );
    let headers = &resource(&t, "BoardResponseHeadersPolicy")["Properties"]
        ["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    let csp =
        serde_yaml::to_string(&headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]).unwrap();
    for directive in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "amazoncognito.com",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    for output in [
        "BoardUrl",
        "BoardApiUrl",
        "BoardUserPoolId",
        "BoardUserPoolClientId",
        "BoardSignInUrl",
    ] {
        assert!(t["Outputs"].get(output).is_some(), "output {output}");
    }
}
