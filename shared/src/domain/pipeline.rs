//! The sales pipeline: stages, the record a deal carries, and the rules for moving it.
//!
//! Everything here is pure: the store turns an [`UpdateOutcome`] into one DynamoDB transaction.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The stages of a deal, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineStage {
    Prospect,
    Contacted,
    DemoBooked,
    DemoDone,
    ProposalSent,
    Negotiation,
    ClosedWon,
    ClosedLost,
}

impl PipelineStage {
    pub const ALL: [PipelineStage; 8] = [
        PipelineStage::Prospect,
        PipelineStage::Contacted,
        PipelineStage::DemoBooked,
        PipelineStage::DemoDone,
        PipelineStage::ProposalSent,
        PipelineStage::Negotiation,
        PipelineStage::ClosedWon,
        PipelineStage::ClosedLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PipelineStage::Prospect => "prospect",
            PipelineStage::Contacted => "contacted",
            PipelineStage::DemoBooked => "demo_booked",
            PipelineStage::DemoDone => "demo_done",
            PipelineStage::ProposalSent => "proposal_sent",
            PipelineStage::Negotiation => "negotiation",
            PipelineStage::ClosedWon => "closed_won",
            PipelineStage::ClosedLost => "closed_lost",
        }
    }

    /// Position in the funnel; both closed stages share the last rank.
    pub fn rank(self) -> u8 {
        match self {
            PipelineStage::Prospect => 0,
            PipelineStage::Contacted => 1,
            PipelineStage::DemoBooked => 2,
            PipelineStage::DemoDone => 3,
            PipelineStage::ProposalSent => 4,
            PipelineStage::Negotiation => 5,
            PipelineStage::ClosedWon | PipelineStage::ClosedLost => 6,
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(self, PipelineStage::ClosedWon | PipelineStage::ClosedLost)
    }
}

impl fmt::Display for PipelineStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error("unknown stage {0:?}; expected one of prospect, contacted, demo_booked, demo_done, proposal_sent, negotiation, closed_won, closed_lost")]
    UnknownStage(String),
    #[error("probability must be a whole number from 0 to 100")]
    Probability,
    #[error("deal value must be a non-negative amount in AUD with at most 2 decimal places")]
    DealValue,
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0} is longer than {1} characters")]
    TooLong(&'static str, usize),
}

impl FromStr for PipelineStage {
    type Err = PipelineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PipelineStage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| PipelineError::UnknownStage(s.to_owned()))
    }
}

/// Win probability in percent, 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Probability(u8);

impl Probability {
    pub const CERTAIN: Probability = Probability(100);
    pub const NONE: Probability = Probability(0);

    pub fn new(percent: i64) -> Result<Self, PipelineError> {
        u8::try_from(percent)
            .ok()
            .filter(|p| *p <= 100)
            .map(Probability)
            .ok_or(PipelineError::Probability)
    }

    pub fn percent(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Probability {
    type Error = PipelineError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Probability::new(value)
    }
}

impl From<Probability> for u8 {
    fn from(value: Probability) -> Self {
        value.0
    }
}

/// Expected deal value in Australian dollars: an exact decimal with at most two decimal places.
/// Never a float, so sums in the summary are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct DealValue(Decimal);

impl DealValue {
    /// Largest value accepted (a billion dollars), far below DynamoDB's 38-digit numbers.
    const MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

    pub fn new(amount: Decimal) -> Result<Self, PipelineError> {
        let normalised = amount.normalize();
        if normalised.is_sign_negative() && !normalised.is_zero()
            || normalised.scale() > 2
            || normalised > Self::MAX
        {
            return Err(PipelineError::DealValue);
        }
        Ok(DealValue(normalised))
    }

    /// Parses a decimal string such as `"4999.95"`.
    pub fn parse(raw: &str) -> Result<Self, PipelineError> {
        let amount = Decimal::from_str_exact(raw.trim()).map_err(|_| PipelineError::DealValue)?;
        DealValue::new(amount)
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// The value weighted by the chance of winning it: `value × probability / 100`, exact.
    pub fn weighted(self, probability: Probability) -> Decimal {
        (self.0 * Decimal::from(probability.percent()) / Decimal::ONE_HUNDRED).normalize()
    }
}

impl TryFrom<Decimal> for DealValue {
    type Error = PipelineError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        DealValue::new(value)
    }
}

impl From<DealValue> for Decimal {
    fn from(value: DealValue) -> Self {
        value.0
    }
}

/// What caused a change, written into the history: `stripe:evt_…`, `cal:<uid>`,
/// `calendly:<invitee uri>`, `user:<who>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause(String);

impl Cause {
    pub fn stripe_event(event_id: &str) -> Self {
        Cause(format!("stripe:{event_id}"))
    }
    pub fn cal_booking(uid: &str) -> Self {
        Cause(format!("cal:{uid}"))
    }
    pub fn calendly_invitee(uri: &str) -> Self {
        Cause(format!("calendly:{uri}"))
    }
    pub fn user(who: &str) -> Self {
        Cause(format!("user:{who}"))
    }
    /// A cause read back from storage.
    pub fn from_stored(raw: String) -> Self {
        Cause(raw)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who last set the stage. Automatic moves never pull a deal back from where a person put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageSetBy {
    Person,
    Automation,
}

impl StageSetBy {
    pub fn as_str(self) -> &'static str {
        match self {
            StageSetBy::Person => "person",
            StageSetBy::Automation => "automation",
        }
    }
}

impl FromStr for StageSetBy {
    type Err = PipelineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "person" => Ok(StageSetBy::Person),
            "automation" => Ok(StageSetBy::Automation),
            other => Err(PipelineError::UnknownStage(other.to_owned())),
        }
    }
}

/// Free text fields (next action, assignee) are short, trimmed and never empty.
pub fn short_text(field: &'static str, raw: &str, max: usize) -> Result<String, PipelineError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(PipelineError::Empty(field));
    }
    if text.chars().count() > max {
        return Err(PipelineError::TooLong(field, max));
    }
    Ok(text.to_owned())
}

/// A deal's place in the pipeline (the seed's `sales_pipeline` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineRecord {
    pub stage: PipelineStage,
    pub stage_set_by: StageSetBy,
    pub next_action: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_action_date: Option<OffsetDateTime>,
    pub assigned_to: Option<String>,
    pub deal_value_aud: DealValue,
    pub probability: Probability,
}

impl PipelineRecord {
    /// A fresh lead: a prospect with no value yet.
    pub fn new_prospect() -> Self {
        PipelineRecord {
            stage: PipelineStage::Prospect,
            stage_set_by: StageSetBy::Automation,
            next_action: None,
            next_action_date: None,
            assigned_to: None,
            deal_value_aud: DealValue::default(),
            probability: Probability::default(),
        }
    }

    pub fn weighted_value(&self) -> Decimal {
        self.deal_value_aud.weighted(self.probability)
    }
}

/// A requested stage move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageMove {
    /// A person sets the stage: any stage, from any stage.
    Manual(PipelineStage),
    /// A provider event moves the deal forward (booking → `demo_booked`, payment → `closed_won`).
    /// Never backwards, never out of a closed stage.
    Advance(PipelineStage),
    /// A provider event undoes its own earlier advance (a cancelled demo: `demo_booked` →
    /// `contacted`). Applies only while the deal is still at `from` and a person did not put it
    /// there.
    Undo {
        from: PipelineStage,
        to: PipelineStage,
    },
}

/// Why a requested stage move was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKept {
    AlreadyThere,
    Closed,
    WouldMoveBackwards,
    PutThereByPerson,
    NoLongerAt,
}

/// Decides whether a stage move applies to a deal at `current`.
pub fn decide_stage_move(
    current: PipelineStage,
    set_by: StageSetBy,
    requested: StageMove,
) -> Result<PipelineStage, StageKept> {
    match requested {
        StageMove::Manual(to) if to == current => Err(StageKept::AlreadyThere),
        StageMove::Manual(to) => Ok(to),
        StageMove::Advance(to) => {
            if to == current {
                Err(StageKept::AlreadyThere)
            } else if current.is_closed() {
                Err(StageKept::Closed)
            } else if to.rank() <= current.rank() {
                Err(StageKept::WouldMoveBackwards)
            } else {
                Ok(to)
            }
        }
        StageMove::Undo { from, to } => {
            if current != from {
                Err(StageKept::NoLongerAt)
            } else if set_by == StageSetBy::Person {
                Err(StageKept::PutThereByPerson)
            } else if current.is_closed() {
                Err(StageKept::Closed)
            } else {
                Ok(to)
            }
        }
    }
}

/// A change to a deal: any subset of fields, with an optional stage move.
/// `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineUpdate {
    pub stage: Option<StageMove>,
    pub next_action: Option<Option<String>>,
    pub next_action_date: Option<Option<OffsetDateTime>>,
    pub assigned_to: Option<Option<String>>,
    pub deal_value_aud: Option<DealValue>,
    pub probability: Option<Probability>,
}

/// One entry of a deal's history: every applied stage change, with what caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageChange {
    pub from: PipelineStage,
    pub to: PipelineStage,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub cause: Cause,
    pub set_by: StageSetBy,
}

/// The result of applying an update to a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOutcome {
    pub record: PipelineRecord,
    pub stage_change: Option<StageChange>,
    /// Set when a stage move was requested but not applied.
    pub stage_kept: Option<StageKept>,
}

impl UpdateOutcome {
    /// Whether anything about the record changed.
    pub fn changes(&self, before: &PipelineRecord) -> bool {
        &self.record != before
    }
}

/// Applies an update to a record. Entering `closed_won` makes the probability 100 and
/// `closed_lost` 0, unless the same update sets the probability itself.
pub fn apply_update(
    current: &PipelineRecord,
    update: &PipelineUpdate,
    cause: &Cause,
    at: OffsetDateTime,
) -> UpdateOutcome {
    let mut record = current.clone();
    let mut stage_change = None;
    let mut stage_kept = None;

    if let Some(requested) = update.stage {
        match decide_stage_move(current.stage, current.stage_set_by, requested) {
            Ok(to) => {
                let set_by = match requested {
                    StageMove::Manual(_) => StageSetBy::Person,
                    StageMove::Advance(_) | StageMove::Undo { .. } => StageSetBy::Automation,
                };
                record.stage = to;
                record.stage_set_by = set_by;
                match to {
                    PipelineStage::ClosedWon => record.probability = Probability::CERTAIN,
                    PipelineStage::ClosedLost => record.probability = Probability::NONE,
                    _ => {}
                }
                stage_change = Some(StageChange {
                    from: current.stage,
                    to,
                    at,
                    cause: cause.clone(),
                    set_by,
                });
            }
            Err(kept) => stage_kept = Some(kept),
        }
    }
    if let Some(next_action) = &update.next_action {
        record.next_action.clone_from(next_action);
    }
    if let Some(next_action_date) = update.next_action_date {
        record.next_action_date = next_action_date;
    }
    if let Some(assigned_to) = &update.assigned_to {
        record.assigned_to.clone_from(assigned_to);
    }
    if let Some(value) = update.deal_value_aud {
        record.deal_value_aud = value;
    }
    if let Some(probability) = update.probability {
        record.probability = probability;
    }
    UpdateOutcome {
        record,
        stage_change,
        stage_kept,
    }
}

/// One stage's line of the summary (the seed's `sales_pipeline_summary` view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageSummary {
    pub stage: PipelineStage,
    pub count: i64,
    pub total_value_aud: Decimal,
    pub weighted_value_aud: Decimal,
}

/// A change to one stage's summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryDelta {
    pub stage: PipelineStage,
    pub count: i64,
    pub value: Decimal,
    pub weighted: Decimal,
}

/// What a record adds to the summary.
fn contribution(record: &PipelineRecord, sign: i64) -> SummaryDelta {
    let sign_dec = Decimal::from(sign);
    SummaryDelta {
        stage: record.stage,
        count: sign,
        value: record.deal_value_aud.amount() * sign_dec,
        weighted: record.weighted_value() * sign_dec,
    }
}

/// How the summary changes when a record goes from `before` (None: a new lead) to `after`.
/// At most one delta per stage; stages whose line does not change are left out.
pub fn summary_deltas(
    before: Option<&PipelineRecord>,
    after: &PipelineRecord,
) -> Vec<SummaryDelta> {
    let mut deltas: Vec<SummaryDelta> = Vec::with_capacity(2);
    let parts = before
        .map(|b| contribution(b, -1))
        .into_iter()
        .chain(std::iter::once(contribution(after, 1)));
    for part in parts {
        match deltas.iter_mut().find(|d| d.stage == part.stage) {
            Some(existing) => {
                existing.count += part.count;
                existing.value += part.value;
                existing.weighted += part.weighted;
            }
            None => deltas.push(part),
        }
    }
    deltas.retain(|d| d.count != 0 || !d.value.is_zero() || !d.weighted.is_zero());
    for d in &mut deltas {
        d.value = d.value.normalize();
        d.weighted = d.weighted.normalize();
    }
    deltas
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

    fn record(stage: PipelineStage, set_by: StageSetBy) -> PipelineRecord {
        PipelineRecord {
            stage,
            stage_set_by: set_by,
            ..PipelineRecord::new_prospect()
        }
    }

    #[test]
    fn stages_are_in_funnel_order_and_round_trip() {
        let names: Vec<&str> = PipelineStage::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "prospect",
                "contacted",
                "demo_booked",
                "demo_done",
                "proposal_sent",
                "negotiation",
                "closed_won",
                "closed_lost"
            ]
        );
        for pair in PipelineStage::ALL.windows(2) {
            assert!(pair[0].rank() <= pair[1].rank());
        }
        for stage in PipelineStage::ALL {
            assert_eq!(stage.as_str().parse::<PipelineStage>(), Ok(stage));
            assert_eq!(
                serde_json::to_string(&stage).unwrap(),
                format!("\"{stage}\"")
            );
        }
        assert!("won".parse::<PipelineStage>().is_err());
    }

    #[test]
    fn advance_only_moves_forward() {
        use PipelineStage::*;
        let auto = StageSetBy::Automation;
        assert_eq!(
            decide_stage_move(Prospect, auto, StageMove::Advance(DemoBooked)),
            Ok(DemoBooked)
        );
        assert_eq!(
            decide_stage_move(Contacted, auto, StageMove::Advance(DemoBooked)),
            Ok(DemoBooked)
        );
        assert_eq!(
            decide_stage_move(Negotiation, auto, StageMove::Advance(ClosedWon)),
            Ok(ClosedWon)
        );
        for later in [DemoDone, ProposalSent, Negotiation] {
            assert_eq!(
                decide_stage_move(later, StageSetBy::Person, StageMove::Advance(DemoBooked)),
                Err(StageKept::WouldMoveBackwards)
            );
        }
        assert_eq!(
            decide_stage_move(DemoBooked, auto, StageMove::Advance(DemoBooked)),
            Err(StageKept::AlreadyThere)
        );
    }

    #[test]
    fn automatic_moves_never_leave_a_closed_stage() {
        use PipelineStage::*;
        for closed in [ClosedWon, ClosedLost] {
            for to in PipelineStage::ALL.into_iter().filter(|s| *s != closed) {
                assert!(
                    decide_stage_move(closed, StageSetBy::Automation, StageMove::Advance(to))
                        .is_err()
                );
            }
            assert_eq!(
                decide_stage_move(
                    closed,
                    StageSetBy::Automation,
                    StageMove::Undo {
                        from: closed,
                        to: Contacted
                    }
                ),
                Err(StageKept::Closed)
            );
        }
    }

    #[test]
    fn undo_only_reverts_an_automatic_stage_it_still_holds() {
        use PipelineStage::*;
        let undo = StageMove::Undo {
            from: DemoBooked,
            to: Contacted,
        };
        assert_eq!(
            decide_stage_move(DemoBooked, StageSetBy::Automation, undo),
            Ok(Contacted)
        );
        assert_eq!(
            decide_stage_move(DemoBooked, StageSetBy::Person, undo),
            Err(StageKept::PutThereByPerson)
        );
        assert_eq!(
            decide_stage_move(Negotiation, StageSetBy::Person, undo),
            Err(StageKept::NoLongerAt)
        );
        assert_eq!(
            decide_stage_move(Contacted, StageSetBy::Automation, undo),
            Err(StageKept::NoLongerAt)
        );
    }

    #[test]
    fn manual_moves_go_anywhere() {
        for from in PipelineStage::ALL {
            for to in PipelineStage::ALL {
                let decision = decide_stage_move(from, StageSetBy::Person, StageMove::Manual(to));
                if from == to {
                    assert_eq!(decision, Err(StageKept::AlreadyThere));
                } else {
                    assert_eq!(decision, Ok(to));
                }
            }
        }
    }

    #[test]
    fn applied_move_yields_history_with_cause() {
        let before = record(PipelineStage::Contacted, StageSetBy::Person);
        let cause = Cause::cal_booking("bk_123");
        let update = PipelineUpdate {
            stage: Some(StageMove::Advance(PipelineStage::DemoBooked)),
            next_action: Some(Some("Demo".into())),
            next_action_date: Some(Some(AT)),
            ..Default::default()
        };
        let outcome = apply_update(&before, &update, &cause, AT);
        assert_eq!(outcome.record.stage, PipelineStage::DemoBooked);
        assert_eq!(outcome.record.stage_set_by, StageSetBy::Automation);
        assert_eq!(outcome.record.next_action.as_deref(), Some("Demo"));
        let change = outcome.stage_change.expect("a history entry");
        assert_eq!(
            (change.from, change.to),
            (PipelineStage::Contacted, PipelineStage::DemoBooked)
        );
        assert_eq!(change.cause.as_str(), "cal:bk_123");
        assert_eq!(change.at, AT);
    }

    #[test]
    fn kept_stage_yields_no_history_but_other_fields_apply() {
        let before = record(PipelineStage::Negotiation, StageSetBy::Person);
        let update = PipelineUpdate {
            stage: Some(StageMove::Advance(PipelineStage::DemoBooked)),
            assigned_to: Some(Some("sam@keiracom.com".into())),
            ..Default::default()
        };
        let outcome = apply_update(&before, &update, &Cause::cal_booking("x"), AT);
        assert_eq!(outcome.record.stage, PipelineStage::Negotiation);
        assert_eq!(outcome.stage_change, None);
        assert_eq!(outcome.stage_kept, Some(StageKept::WouldMoveBackwards));
        assert_eq!(
            outcome.record.assigned_to.as_deref(),
            Some("sam@keiracom.com")
        );
        assert!(outcome.changes(&before));
    }

    #[test]
    fn closing_sets_probability_unless_given() {
        let before = PipelineRecord {
            probability: Probability::new(60).unwrap(),
            ..record(PipelineStage::Negotiation, StageSetBy::Person)
        };
        let won = apply_update(
            &before,
            &PipelineUpdate {
                stage: Some(StageMove::Advance(PipelineStage::ClosedWon)),
                ..Default::default()
            },
            &Cause::stripe_event("evt_1"),
            AT,
        );
        assert_eq!(won.record.probability.percent(), 100);
        let lost = apply_update(
            &before,
            &PipelineUpdate {
                stage: Some(StageMove::Manual(PipelineStage::ClosedLost)),
                probability: Some(Probability::new(5).unwrap()),
                ..Default::default()
            },
            &Cause::user("sam"),
            AT,
        );
        assert_eq!(lost.record.probability.percent(), 5);
        assert_eq!(lost.record.stage_set_by, StageSetBy::Person);
    }

    #[test]
    fn probability_bounds() {
        assert!(Probability::new(0).is_ok());
        assert!(Probability::new(100).is_ok());
        assert_eq!(Probability::new(101), Err(PipelineError::Probability));
        assert_eq!(Probability::new(-1), Err(PipelineError::Probability));
        assert!(serde_json::from_str::<Probability>("101").is_err());
        assert_eq!(
            serde_json::from_str::<Probability>("55").unwrap().percent(),
            55
        );
    }

    #[test]
    fn deal_values_are_exact_decimals() {
        let value = DealValue::parse("4999.95").unwrap();
        assert_eq!(value.amount().to_string(), "4999.95");
        // 0.1 + 0.2 is exactly 0.3, unlike a float.
        let sum =
            DealValue::parse("0.1").unwrap().amount() + DealValue::parse("0.2").unwrap().amount();
        assert_eq!(sum, DealValue::parse("0.3").unwrap().amount());
        assert_eq!(DealValue::parse("-1"), Err(PipelineError::DealValue));
        assert_eq!(DealValue::parse("1.005"), Err(PipelineError::DealValue));
        assert_eq!(DealValue::parse("abc"), Err(PipelineError::DealValue));
        assert_eq!(DealValue::parse("1e3"), Err(PipelineError::DealValue));
        assert_eq!(
            DealValue::parse("1000000000.01"),
            Err(PipelineError::DealValue)
        );
        assert_eq!(
            DealValue::parse("2.50").unwrap(),
            DealValue::parse("2.5").unwrap()
        );
        assert_eq!(
            DealValue::parse("333.33")
                .unwrap()
                .weighted(Probability::new(33).unwrap())
                .to_string(),
            "109.9989"
        );
        // Serialised as a string, never through a float.
        assert_eq!(
            serde_json::to_string(&DealValue::parse("10.25").unwrap()).unwrap(),
            "\"10.25\""
        );
    }

    #[test]
    fn summary_deltas_move_a_deal_between_lines() {
        let before = PipelineRecord {
            deal_value_aud: DealValue::parse("1000").unwrap(),
            probability: Probability::new(50).unwrap(),
            ..record(PipelineStage::DemoBooked, StageSetBy::Automation)
        };
        let after = PipelineRecord {
            stage: PipelineStage::ProposalSent,
            ..before.clone()
        };
        let deltas = summary_deltas(Some(&before), &after);
        assert_eq!(deltas.len(), 2);
        assert_eq!(deltas[0].stage, PipelineStage::DemoBooked);
        assert_eq!(
            (
                deltas[0].count,
                deltas[0].value.to_string(),
                deltas[0].weighted.to_string()
            ),
            (-1, "-1000".into(), "-500".into())
        );
        assert_eq!(deltas[1].stage, PipelineStage::ProposalSent);
        assert_eq!(
            (
                deltas[1].count,
                deltas[1].value.to_string(),
                deltas[1].weighted.to_string()
            ),
            (1, "1000".into(), "500".into())
        );
    }

    #[test]
    fn summary_deltas_for_a_value_change_in_place_and_a_new_lead() {
        let before = record(PipelineStage::Negotiation, StageSetBy::Person);
        let after = PipelineRecord {
            deal_value_aud: DealValue::parse("200.50").unwrap(),
            probability: Probability::new(10).unwrap(),
            ..before.clone()
        };
        let deltas = summary_deltas(Some(&before), &after);
        assert_eq!(deltas.len(), 1);
        assert_eq!(deltas[0].count, 0);
        assert_eq!(deltas[0].value.to_string(), "200.5");
        assert_eq!(deltas[0].weighted.to_string(), "20.05");
        assert!(summary_deltas(Some(&before), &before).is_empty());
        let new = summary_deltas(None, &PipelineRecord::new_prospect());
        assert_eq!(new.len(), 1);
        assert_eq!((new[0].stage, new[0].count), (PipelineStage::Prospect, 1));
    }

    #[test]
    fn short_text_is_trimmed_and_bounded() {
        assert_eq!(
            short_text("next_action", "  Call back ", 10).unwrap(),
            "Call back"
        );
        assert_eq!(
            short_text("next_action", "   ", 10),
            Err(PipelineError::Empty("next_action"))
        );
        assert_eq!(
            short_text("next_action", "x".repeat(11).as_str(), 10),
            Err(PipelineError::TooLong("next_action", 10))
        );
    }
}
