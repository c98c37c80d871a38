//! The sales domain, free of I/O: leads, the pipeline, founding spots, and signatures.

pub mod booking;
pub mod client;
pub mod deal_edit;
pub mod email;
pub mod founding;
pub mod lead;
pub mod limits;
pub mod offer;
pub mod pipeline;
pub mod plan;
pub mod signature;
pub mod time_format;

pub use booking::{
    bookings_drive, plan_booking, Attendee, Booking, BookingEffect, BookingEvent, BookingNotice,
    BookingPlan, BookingProvider, BookingRef, BookingSlot, BookingStatus,
};
pub use client::{Client, HoldSlot, DEFAULT_HOLDS_PER_CLIENT};
pub use deal_edit::{parse_date_or_time, parse_deal_edit, FieldError};
pub use email::{EmailAddress, EmailError};
pub use founding::{
    choose_spot, decide_confirmation, decide_revocation, spot_statuses, ConfirmPlan, FounderIs,
    FoundingBenefits, FoundingMember, FoundingSpot, FoundingTally, HoldRef, HoldWindow,
    MembershipChange, Reservation, ReservationKind, RevokePlan, SpotNumber, SpotState, SpotStatus,
    SpotStatusKind, StoredHold, ASYNC_PAYMENT_HOLD, CHECKOUT_LIFETIME, FOUNDING_DISCOUNT_PERCENT,
    FOUNDING_SPOTS, HOLD_GRACE, LAPSED_MEMBERSHIP_KEPT,
};
pub use lead::{Lead, LeadBilling, LeadId, LeadRef, LeadSource, NewLead};
pub use offer::{OfferError, OfferToken, WaitlistStatus, OFFER_LIFETIME};
pub use pipeline::{
    apply_update, decide_stage_move, summary_deltas, Cause, DealValue, PipelineError,
    PipelineRecord, PipelineStage, PipelineUpdate, Probability, StageChange, StageKept, StageMove,
    StageSetBy, StageSummary, SummaryDelta, UpdateOutcome,
};
pub use plan::{OpenSession, PlanType};
