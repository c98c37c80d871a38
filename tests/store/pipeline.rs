use futures::future::join_all;
use sales::domain::{
    Cause, DealValue, PipelineStage, PipelineUpdate, Probability, StageKept, StageMove, StageSetBy,
};
use sales::store::PipelineSummary;
use sales::StoreError;
use sales_tests::TestTable;
use time::Duration;

use crate::{new_lead, now};

fn manual(stage: PipelineStage, value: &str, probability: i64) -> PipelineUpdate {
    PipelineUpdate {
        stage: Some(StageMove::Manual(stage)),
        deal_value_aud: Some(DealValue::parse(value).unwrap()),
        probability: Some(Probability::new(probability).unwrap()),
        ..Default::default()
    }
}

fn advance(stage: PipelineStage) -> PipelineUpdate {
    PipelineUpdate {
        stage: Some(StageMove::Advance(stage)),
        ..Default::default()
    }
}

sales_tests::on_both_servers!(
    concurrent_changes_write_one_history_entry_each_and_keep_the_summary_exact
);
async fn concurrent_changes_write_one_history_entry_each_and_keep_the_summary_exact(
    table: TestTable,
) {
    let store = &table.store;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            store
                .find_or_create_lead(&new_lead(&format!("deal{i}@example.com")), now())
                .await
                .unwrap()
                .id,
        );
    }
    use PipelineStage::*;
    let plan = [
        manual(Contacted, "1000.10", 20),
        advance(DemoBooked),
        manual(ProposalSent, "2500.55", 60),
        manual(Negotiation, "333.33", 33),
        advance(ClosedWon),
        manual(ClosedLost, "99.99", 10),
        manual(DemoDone, "0.01", 1),
        advance(DemoBooked),
    ];
    // Every lead gets every change at once, from its own task.
    let changes = join_all(ids.iter().flat_map(|id| {
        plan.iter().enumerate().map(move |(i, update)| async move {
            let cause = Cause::user(&format!("rep{i}"));
            (
                id.clone(),
                store
                    .update_pipeline(id, update, &cause, None, now())
                    .await
                    .expect("update"),
            )
        })
    }))
    .await;

    let mut leads = Vec::new();
    for id in &ids {
        let lead = store.lead(id).await.unwrap().unwrap();
        let history = sales_tests::history(store, id).await;
        let applied: Vec<_> = changes
            .iter()
            .filter(|(changed, change)| changed == id && change.stage_change.is_some())
            .collect();
        let written = changes
            .iter()
            .filter(|(changed, change)| changed == id && change.written)
            .count();
        assert_eq!(
            history.len(),
            applied.len(),
            "one history entry per applied stage change"
        );
        assert_eq!(
            lead.version,
            1 + written as u64,
            "every written change bumped the version once"
        );
        // The history is a chain from prospect to where the deal is now.
        let mut at = Prospect;
        for entry in &history {
            assert_eq!(entry.from, at);
            at = entry.to;
        }
        assert_eq!(at, lead.pipeline.stage);
        leads.push(lead);
    }
    let summary = store.pipeline_summary().await.unwrap();
    assert_eq!(
        summary,
        PipelineSummary::recount(&leads),
        "summary equals a recount"
    );
    assert_eq!(summary.stages.iter().map(|line| line.count).sum::<i64>(), 4);
    table.drop_table().await;
}

#[tokio::test]
async fn history_records_the_cause_and_the_summary_moves_with_the_deal() {
    let table = TestTable::new().await;
    let store = &table.store;
    let id = store
        .find_or_create_lead(&new_lead("flow@example.com"), now())
        .await
        .unwrap()
        .id;
    let demo_at = now() + Duration::days(2);
    let booked = store
        .update_pipeline(
            &id,
            &PipelineUpdate {
                stage: Some(StageMove::Advance(PipelineStage::DemoBooked)),
                next_action: Some(Some("Demo".into())),
                next_action_date: Some(Some(demo_at)),
                ..Default::default()
            },
            &Cause::cal_booking("bk_1"),
            None,
            now(),
        )
        .await
        .unwrap();
    assert!(booked.written);
    assert_eq!(booked.lead.pipeline.next_action_date, Some(demo_at));
    let valued = store
        .update_pipeline(
            &id,
            &PipelineUpdate {
                deal_value_aud: Some(DealValue::parse("4800").unwrap()),
                probability: Some(Probability::new(25).unwrap()),
                assigned_to: Some(Some("sam@keiracom.com".into())),
                ..Default::default()
            },
            &Cause::user("sam"),
            Some(booked.lead.version),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(
        valued.stage_change, None,
        "no stage change, no history entry"
    );

    let history = sales_tests::history(store, &id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].cause.as_str(), "cal:bk_1");
    assert_eq!(
        (history[0].from, history[0].to),
        (PipelineStage::Prospect, PipelineStage::DemoBooked)
    );
    assert_eq!(history[0].at, now());

    let summary = store.pipeline_summary().await.unwrap();
    let line = summary.stage(PipelineStage::DemoBooked).unwrap();
    assert_eq!(
        (
            line.count,
            line.total_value_aud.to_string(),
            line.weighted_value_aud.to_string()
        ),
        (1, "4800".into(), "1200".into())
    );
    assert_eq!(summary.stage(PipelineStage::Prospect).unwrap().count, 0);
    let stored = store.lead(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.pipeline.assigned_to.as_deref(),
        Some("sam@keiracom.com")
    );
    assert_eq!(
        stored.pipeline.deal_value_aud,
        DealValue::parse("4800.00").unwrap()
    );
    table.drop_table().await;
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_writes_nothing() {
    let table = TestTable::new().await;
    let store = &table.store;
    let id = store
        .find_or_create_lead(&new_lead("stale@example.com"), now())
        .await
        .unwrap()
        .id;
    let first = store
        .update_pipeline(
            &id,
            &manual(PipelineStage::Contacted, "10", 10),
            &Cause::user("a"),
            Some(1),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(first.lead.version, 2);
    let stale = store
        .update_pipeline(
            &id,
            &manual(PipelineStage::Negotiation, "20", 20),
            &Cause::user("b"),
            Some(1),
            now(),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::VersionConflict { current: 2 })),
        "{stale:?}"
    );
    let lead = store.lead(&id).await.unwrap().unwrap();
    assert_eq!(lead.pipeline.stage, PipelineStage::Contacted);
    assert_eq!(sales_tests::history(store, &id).await.len(), 1);
    let missing = store
        .update_pipeline(
            &sales::domain::LeadId::generate(),
            &advance(PipelineStage::Contacted),
            &Cause::user("c"),
            None,
            now(),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::LeadNotFound)));
    table.drop_table().await;
}

#[tokio::test]
async fn automatic_moves_never_pull_back_what_a_person_set() {
    let table = TestTable::new().await;
    let store = &table.store;
    let id = store
        .find_or_create_lead(&new_lead("held@example.com"), now())
        .await
        .unwrap()
        .id;
    store
        .update_pipeline(
            &id,
            &manual(PipelineStage::Negotiation, "5000", 70),
            &Cause::user("sam"),
            None,
            now(),
        )
        .await
        .unwrap();
    let booking = store
        .update_pipeline(
            &id,
            &advance(PipelineStage::DemoBooked),
            &Cause::cal_booking("late"),
            None,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(booking.stage_kept, Some(StageKept::WouldMoveBackwards));
    assert!(!booking.written);
    let undo = PipelineUpdate {
        stage: Some(StageMove::Undo {
            from: PipelineStage::DemoBooked,
            to: PipelineStage::Contacted,
        }),
        ..Default::default()
    };
    let cancelled = store
        .update_pipeline(&id, &undo, &Cause::cal_booking("late"), None, now())
        .await
        .unwrap();
    assert_eq!(cancelled.stage_kept, Some(StageKept::NoLongerAt));
    let lead = store.lead(&id).await.unwrap().unwrap();
    assert_eq!(
        (lead.pipeline.stage, lead.pipeline.stage_set_by),
        (PipelineStage::Negotiation, StageSetBy::Person)
    );
    assert_eq!(sales_tests::history(store, &id).await.len(), 1);

    // A paid deal is closed for automation.
    store
        .update_pipeline(
            &id,
            &advance(PipelineStage::ClosedWon),
            &Cause::stripe_event("evt_1"),
            None,
            now(),
        )
        .await
        .unwrap();
    let after = store
        .update_pipeline(
            &id,
            &advance(PipelineStage::DemoBooked),
            &Cause::cal_booking("x"),
            None,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(after.stage_kept, Some(StageKept::Closed));
    let lead = store.lead(&id).await.unwrap().unwrap();
    assert_eq!(
        (lead.pipeline.stage, lead.pipeline.probability.percent()),
        (PipelineStage::ClosedWon, 100)
    );
    table.drop_table().await;
}
