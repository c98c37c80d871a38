use std::collections::BTreeSet;

use futures::future::join_all;
use sales::domain::{LeadSource, NewLead, PipelineStage};
use sales_tests::TestTable;

use crate::{email, new_lead, now};

sales_tests::on_both_servers!(sources_racing_on_one_email_get_the_same_lead);
async fn sources_racing_on_one_email_get_the_same_lead(table: TestTable) {
    let store = &table.store;
    let spellings = [
        "ada@example.com",
        " Ada@Example.com",
        "ADA@EXAMPLE.COM ",
        "ada@example.com",
    ];
    let sources = [
        LeadSource::Cal,
        LeadSource::Checkout,
        LeadSource::Calendly,
        LeadSource::SalesTeam,
    ];
    let found = join_all((0..20).map(|i| {
        let new = NewLead::new(email(spellings[i % 4]), sources[i % 4]);
        async move {
            store
                .find_or_create_lead(&new, now())
                .await
                .expect("find or create")
        }
    }))
    .await;
    let ids: BTreeSet<_> = found.iter().map(|lead| lead.id.clone()).collect();
    assert_eq!(ids.len(), 1, "one lead per person");
    assert_eq!(
        found.iter().filter(|lead| lead.created).count(),
        1,
        "created exactly once"
    );

    let lead = store
        .lead_by_email(&email("ada@example.com"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(Some(&lead.id), ids.first());
    assert_eq!(lead.pipeline.stage, PipelineStage::Prospect);
    assert_eq!(lead.version, 1);
    assert_eq!(lead.created_at, now());

    let summary = store.pipeline_summary().await.unwrap();
    assert_eq!(
        summary.stage(PipelineStage::Prospect).unwrap().count,
        1,
        "summary counts the lead once"
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_new_lead_keeps_what_we_know_and_an_unknown_one_is_absent() {
    let table = TestTable::new().await;
    let store = &table.store;
    let mut new = new_lead("grace@example.com");
    new.name = Some("Grace Hopper".into());
    new.company = Some("Navy".into());
    let created = store.find_or_create_lead(&new, now()).await.unwrap();
    assert!(created.created);
    let lead = store.lead(&created.id).await.unwrap().unwrap();
    assert_eq!(lead.name.as_deref(), Some("Grace Hopper"));
    assert_eq!(lead.company.as_deref(), Some("Navy"));
    assert_eq!(lead.source, LeadSource::SalesTeam);
    assert_eq!(lead.email, email("grace@example.com"));
    assert!(store
        .lead_by_email(&email("nobody@example.com"))
        .await
        .unwrap()
        .is_none());
    table.drop_table().await;
}
