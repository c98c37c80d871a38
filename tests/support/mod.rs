//! Helpers for tests that run against the local DynamoDB server (`make db-start`).
//!
//! Each test makes its own table with a random name, so tests run in parallel and every race
//! starts from an empty table.

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::Credentials;
use sales::store::table;
use sales::SalesStore;

/// The local server's address: `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, or the
/// Makefile's default.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| "http://127.0.0.1:8000".to_owned())
}

pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-southeast-2".to_owned());
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "local-tests"))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// A fresh table on the local server, deleted by [`TestTable::drop_table`].
pub struct TestTable {
    pub store: SalesStore,
    pub name: String,
}

impl TestTable {
    pub async fn new() -> TestTable {
        let client = dynamodb_client().await;
        let name = format!("test-{}", uuid::Uuid::new_v4().simple());
        table::create_table(&client, &name)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not create a table on the local DynamoDB server at {}: {e}\n\
                 Start it with `make db-start`, or run the tests with `make test`.",
                    endpoint()
                )
            });
        TestTable {
            store: SalesStore::new(client, name.clone()),
            name,
        }
    }

    pub async fn drop_table(self) {
        table::delete_table(self.store.client(), &self.name)
            .await
            .expect("delete test table");
    }
}
