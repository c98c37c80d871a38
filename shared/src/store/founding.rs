//! Founding spots: 20 items, one per spot, plus one founder item per e-mail. A hold writes both
//! in one transaction, conditioned on the spot being free (absent, released, or held past its
//! time) and on the e-mail holding nothing live: so never more than 20, never two per e-mail.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::codec::{get_n, get_s, n, opt_s, parse_s, s, Item, UpdateExpr};
use super::table::{keys, PK, SK};
use super::{backoff, cancellation_codes, SalesStore, StoreError, CONDITION_FAILED, MAX_ATTEMPTS};
use crate::domain::time_format;
use crate::domain::{
    choose_spot, EmailAddress, FoundingBenefits, FoundingMember, FoundingTally, HoldRef, LeadId,
    LeadRef, NewLead, PipelineRecord, SpotNumber, SpotState,
};

/// A founding checkout asking for a spot.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub email: EmailAddress,
    pub lead_id: LeadId,
    pub hold_ref: HoldRef,
    /// When the spot is free again if nobody pays.
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    /// The e-mail holds this spot until `expires_at`. `new` is false when the e-mail already
    /// held it (a second checkout while the first hold lives gets the same spot and hold).
    Held {
        spot: SpotNumber,
        hold_ref: HoldRef,
        expires_at: OffsetDateTime,
        new: bool,
    },
    /// The e-mail is a founding member already.
    AlreadyMember { spot: SpotNumber },
    /// No spot is free: the e-mail is on the waitlist at this position.
    Full { waitlist_position: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The hold became a membership now, with the benefits locked.
    Confirmed(FoundingMember),
    /// This hold was confirmed before (a redelivered payment event).
    AlreadyConfirmed(FoundingMember),
    /// The spot is no longer held by this hold (it expired and went to someone else, or was
    /// released): no membership is created.
    HoldLost,
}

/// Whose hold: a known lead, or the lead of an e-mail (created with the hold if there is none).
#[derive(Debug, Clone, Copy)]
enum Holder<'a> {
    Lead(&'a LeadId),
    ByEmail(&'a NewLead),
}

/// Where a hold stands, read from its spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HoldStanding {
    /// Still held by the hold, for this e-mail and lead (its time may have passed).
    Held {
        email: EmailAddress,
        lead_id: LeadId,
    },
    /// The hold became this membership.
    Confirmed(FoundingMember),
    /// Released, or taken by another hold.
    Lost,
}

/// The membership a confirmation writes: the benefits locked at the time of payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundingConfirmation {
    pub member: FoundingMember,
}

impl FoundingConfirmation {
    pub fn now(
        spot: SpotNumber,
        email: EmailAddress,
        lead_id: LeadId,
        company_name: Option<&str>,
        now: OffsetDateTime,
    ) -> Self {
        FoundingConfirmation {
            member: FoundingMember {
                spot,
                email,
                lead_id,
                company_name: company_name.map(str::to_owned),
                benefits: FoundingBenefits::CURRENT,
                confirmed_at: now.replace_nanosecond(0).unwrap_or(now),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Released,
    /// The spot is not held by this hold (already released, taken over, or a member).
    NotHeld,
}

const STATE_HELD: &str = "held";
const STATE_MEMBER: &str = "member";
const STATE_FREE: &str = "free";

/// Free means: never written, released, or held past its time.
const FREE_CONDITION: &str =
    "attribute_not_exists(pk) OR #state = :free OR (#state = :held AND expires_at <= :now)";

fn benefits_attribute(benefits: &FoundingBenefits) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (
            "lifetime_discount_percent".to_owned(),
            n(benefits.lifetime_discount_percent),
        ),
        (
            "priority_support".to_owned(),
            AttributeValue::Bool(benefits.priority_support),
        ),
        (
            "early_feature_access".to_owned(),
            AttributeValue::Bool(benefits.early_feature_access),
        ),
        (
            "founding_badge".to_owned(),
            AttributeValue::Bool(benefits.founding_badge),
        ),
        (
            "locked_price".to_owned(),
            AttributeValue::Bool(benefits.locked_price),
        ),
    ]))
}

fn decode_benefits(item: &Item) -> Result<FoundingBenefits, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("founding benefits: {what}"));
    let map = item
        .get("benefits")
        .and_then(|v| v.as_m().ok())
        .ok_or_else(|| corrupt("missing"))?;
    let flag = |name: &str| -> Result<bool, StoreError> {
        map.get(name)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .ok_or_else(|| corrupt(name))
    };
    Ok(FoundingBenefits {
        lifetime_discount_percent: get_n(map, "lifetime_discount_percent")?,
        priority_support: flag("priority_support")?,
        early_feature_access: flag("early_feature_access")?,
        founding_badge: flag("founding_badge")?,
        locked_price: flag("locked_price")?,
    })
}

fn decode_spot(item: &Item) -> Result<(SpotNumber, SpotState), StoreError> {
    let spot =
        SpotNumber::new(get_n(item, "spot")?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let state = match get_s(item, "state")? {
        STATE_FREE => SpotState::Free,
        STATE_HELD => SpotState::Held {
            email: parse_s(item, "email", EmailAddress::parse)?,
            lead_id: parse_s(item, "lead_id", LeadId::parse)?,
            hold_ref: HoldRef::from_stored(get_s(item, "hold_ref")?),
            expires_at: time_format::from_unix(get_n(item, "expires_at")?)
                .ok_or_else(|| StoreError::Corrupt("expires_at out of range".into()))?,
        },
        STATE_MEMBER => SpotState::Member(FoundingMember {
            spot,
            email: parse_s(item, "email", EmailAddress::parse)?,
            lead_id: parse_s(item, "lead_id", LeadId::parse)?,
            company_name: opt_s(item, "company_name")?.map(str::to_owned),
            benefits: decode_benefits(item)?,
            confirmed_at: parse_s(item, "confirmed_at", time_format::parse)?,
        }),
        other => {
            return Err(StoreError::Corrupt(format!(
                "spot {spot}: unknown state {other:?}"
            )))
        }
    };
    Ok((spot, state))
}

fn held_by<'a>(
    spots: &'a [(SpotNumber, SpotState)],
    email: &EmailAddress,
    now: OffsetDateTime,
) -> Option<&'a (SpotNumber, SpotState)> {
    spots.iter().find(|(_, state)| match state {
        SpotState::Held { email: holder, .. } => holder == email && !state.is_free_at(now),
        SpotState::Member(member) => &member.email == email,
        SpotState::Free => false,
    })
}

impl SalesStore {
    /// Every stored spot (spots never taken are not stored and count as free): one Query.
    pub async fn founding_spots(&self) -> Result<Vec<(SpotNumber, SpotState)>, StoreError> {
        self.query_prefix(keys::FOUNDING_PK, keys::SPOT_PREFIX)
            .await?
            .iter()
            .map(decode_spot)
            .collect()
    }

    /// Members, live holds and remaining spots at `now`: one Query.
    pub async fn founding_tally(&self, now: OffsetDateTime) -> Result<FoundingTally, StoreError> {
        let spots = self.founding_spots().await?;
        Ok(FoundingTally::count(
            spots.iter().map(|(_, state)| state),
            now,
        ))
    }

    /// The lowest-numbered spot free at `now`.
    pub async fn next_free_spot(
        &self,
        now: OffsetDateTime,
    ) -> Result<Option<SpotNumber>, StoreError> {
        let spots = self.founding_spots().await?;
        Ok(free_spots(&spots, now).into_iter().min())
    }

    /// Founding members in spot order.
    pub async fn founding_members(&self) -> Result<Vec<FoundingMember>, StoreError> {
        let mut members: Vec<FoundingMember> = self
            .founding_spots()
            .await?
            .into_iter()
            .filter_map(|(_, state)| match state {
                SpotState::Member(member) => Some(member),
                _ => None,
            })
            .collect();
        members.sort_by_key(|m| m.spot);
        Ok(members)
    }

    /// Holds a founding spot for an e-mail until `request.expires_at`: the same spot again while
    /// the e-mail's hold lives, or, when no spot is free, a place on the waitlist.
    pub async fn hold_founding_spot(
        &self,
        request: &HoldRequest,
        now: OffsetDateTime,
    ) -> Result<HoldOutcome, StoreError> {
        let holder = Holder::Lead(&request.lead_id);
        let (_, outcome) = self
            .hold_spot(
                &request.email,
                holder,
                &request.hold_ref,
                request.expires_at,
                now,
            )
            .await?;
        Ok(outcome)
    }

    /// A founding checkout's hold for the lead with this e-mail, created if there is none: one
    /// BatchGetItem (the e-mail's lead and the 20 spots), then one transaction (the hold; with
    /// the new lead's e-mail, lead and summary items when the e-mail has no lead yet).
    pub async fn hold_founding_spot_for(
        &self,
        lead: &NewLead,
        hold_ref: &HoldRef,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(LeadRef, HoldOutcome), StoreError> {
        self.hold_spot(
            &lead.email,
            Holder::ByEmail(lead),
            hold_ref,
            expires_at,
            now,
        )
        .await
    }

    /// The lead of an e-mail, if any, and every stored spot: one strongly consistent
    /// BatchGetItem.
    async fn founding_checkout_view(
        &self,
        email: &EmailAddress,
    ) -> Result<(Option<LeadId>, Vec<(SpotNumber, SpotState)>), StoreError> {
        let email_pk = keys::email(email);
        let wanted = std::iter::once((email_pk.clone(), keys::EMAIL_SK.to_owned())).chain(
            SpotNumber::all().map(|spot| (keys::FOUNDING_PK.to_owned(), keys::spot_sk(spot))),
        );
        let mut lead = None;
        let mut spots = Vec::new();
        for item in self.get_many(wanted).await? {
            if get_s(&item, PK)? == email_pk {
                lead = Some(parse_s(&item, "lead_id", LeadId::parse)?);
            } else {
                spots.push(decode_spot(&item)?);
            }
        }
        spots.sort_by_key(|(spot, _)| *spot);
        Ok((lead, spots))
    }

    async fn hold_spot(
        &self,
        email: &EmailAddress,
        holder: Holder<'_>,
        hold_ref: &HoldRef,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(LeadRef, HoldOutcome), StoreError> {
        let salt = uuid::Uuid::new_v4().as_u128() as u64;
        for attempt in 0..MAX_ATTEMPTS {
            // Who holds, and a lead to create with the hold when the e-mail has none yet.
            let (lead, create, spots) = match holder {
                Holder::Lead(id) => (id.clone(), None, self.founding_spots().await?),
                Holder::ByEmail(new) => match self.founding_checkout_view(email).await? {
                    (Some(id), spots) => (id, None, spots),
                    (None, spots) => (LeadId::generate(), Some(new), spots),
                },
            };
            let held = held_by(&spots, email, now);
            let free = choose_spot(&free_spots(&spots, now), attempt, salt);
            if let (Some(new), true) = (create, held.is_some() || free.is_none()) {
                // Not the common path (a hold without a lead, or no spot free): create the lead
                // on its own, then look again.
                self.find_or_create_lead(new, now).await?;
                continue;
            }
            let lead_ref = LeadRef {
                id: lead.clone(),
                email: email.clone(),
                created: create.is_some(),
            };
            match held {
                Some((
                    spot,
                    SpotState::Held {
                        hold_ref,
                        expires_at: held_until,
                        ..
                    },
                )) => {
                    // The same e-mail again while its hold lives: the same spot and hold, kept
                    // at least as long as this new checkout needs it.
                    let expires_at = (*held_until).max(expires_at);
                    if self.extend_hold(email, *spot, hold_ref, expires_at).await? {
                        let outcome = HoldOutcome::Held {
                            spot: *spot,
                            hold_ref: hold_ref.clone(),
                            expires_at,
                            new: false,
                        };
                        return Ok((lead_ref, outcome));
                    }
                    continue; // released or confirmed meanwhile: look again
                }
                Some((spot, _)) => {
                    return Ok((lead_ref, HoldOutcome::AlreadyMember { spot: *spot }))
                }
                None => {}
            }
            let Some(spot) = free else {
                let waitlist_position = self.join_waitlist(email, Some(&lead), now).await?;
                return Ok((lead_ref, HoldOutcome::Full { waitlist_position }));
            };
            let request = HoldRequest {
                email: email.clone(),
                lead_id: lead.clone(),
                hold_ref: hold_ref.clone(),
                expires_at,
            };
            let mut items = match create {
                Some(new) => {
                    self.new_lead_items(new, &lead, &PipelineRecord::new_prospect(), now, &[])?
                }
                None => Vec::new(),
            };
            items.push(self.hold_write(
                keys::FOUNDING_PK,
                &keys::spot_sk(spot),
                spot,
                &request,
                now,
            )?);
            items.push(self.hold_write(
                &keys::founder(email),
                keys::FOUNDER_SK,
                spot,
                &request,
                now,
            )?);
            let mut transaction = self.client.transact_write_items();
            for item in items {
                transaction = transaction.transact_items(item);
            }
            match transaction.send().await {
                Ok(_) => {
                    let outcome = HoldOutcome::Held {
                        spot,
                        hold_ref: hold_ref.clone(),
                        expires_at,
                        new: true,
                    };
                    return Ok((lead_ref, outcome));
                }
                Err(err) => match cancellation_codes(&err) {
                    // The spot was taken, this e-mail took one, or the e-mail got its lead
                    // meanwhile: look again.
                    Some(codes) if codes.iter().any(|c| c == CONDITION_FAILED) => {}
                    Some(_) => backoff(attempt).await,
                    None => return Err(StoreError::from_sdk(err)),
                },
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    /// Moves a live hold's expiry to `expires_at` (never earlier). False if `hold_ref` no longer
    /// holds the spot.
    async fn extend_hold(
        &self,
        email: &EmailAddress,
        spot: SpotNumber,
        hold_ref: &HoldRef,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let extend = |pk: &str, sk: &str| -> Result<TransactWriteItem, StoreError> {
            let mut expr = UpdateExpr::default();
            expr.set("expires_at", n(expires_at.unix_timestamp()));
            held_by_ref(self.table_name(), pk, sk, expr, hold_ref, None)
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(extend(keys::FOUNDING_PK, &keys::spot_sk(spot))?)
            .transact_items(extend(&keys::founder(email), keys::FOUNDER_SK)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if cancellation_codes(&err).is_some() => Ok(false),
            Err(err) => Err(StoreError::from_sdk(err)),
        }
    }

    /// One side of a hold: the spot item or the founder item, on the condition that it is free.
    fn hold_write(
        &self,
        pk: &str,
        sk: &str,
        spot: SpotNumber,
        request: &HoldRequest,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expr = UpdateExpr::default();
        expr.set("state", s(STATE_HELD))
            .set("spot", n(spot.get()))
            .set("email", s(request.email.as_str()))
            .set("lead_id", s(request.lead_id.as_str()))
            .set("hold_ref", s(request.hold_ref.as_str()))
            .set("expires_at", n(request.expires_at.unix_timestamp()))
            .set("held_at", s(time_format::to_sortable(now)));
        let (expression, mut names, mut values) = expr.build();
        names.insert("#state".into(), "state".into());
        values.insert(":free".into(), s(STATE_FREE));
        values.insert(":held".into(), s(STATE_HELD));
        values.insert(":now".into(), n(now.unix_timestamp()));
        let update = Update::builder()
            .table_name(self.table_name())
            .key(PK, s(pk))
            .key(SK, s(sk))
            .update_expression(expression)
            .condition_expression(FREE_CONDITION)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One spot as stored, with the hold that holds (or held) it.
    async fn spot(
        &self,
        spot: SpotNumber,
    ) -> Result<Option<(SpotState, Option<HoldRef>)>, StoreError> {
        let found = self.get(keys::FOUNDING_PK, keys::spot_sk(spot)).await?;
        found
            .as_ref()
            .map(|item| {
                Ok((
                    decode_spot(item)?.1,
                    opt_s(item, "hold_ref")?.map(HoldRef::from_stored),
                ))
            })
            .transpose()
    }

    /// Makes the holder of `spot` a founding member, with the benefits locked now. Only the hold
    /// named by `hold_ref` can be confirmed, even if its time has passed, as long as nobody else
    /// took the spot meanwhile: never a 21st member.
    pub async fn confirm_founding_member(
        &self,
        spot: SpotNumber,
        hold_ref: &HoldRef,
        company_name: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<ConfirmOutcome, StoreError> {
        let (email, lead_id) = match self.hold_standing(spot, hold_ref).await? {
            HoldStanding::Held { email, lead_id } => (email, lead_id),
            HoldStanding::Confirmed(member) => return Ok(ConfirmOutcome::AlreadyConfirmed(member)),
            HoldStanding::Lost => return Ok(ConfirmOutcome::HoldLost),
        };
        let confirmation = FoundingConfirmation::now(spot, email, lead_id, company_name, now);
        let [spot_item, founder_item] = self.confirmation_items(&confirmation, hold_ref)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(spot_item)
            .transact_items(founder_item)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ConfirmOutcome::Confirmed(confirmation.member)),
            // Released, taken over, or confirmed by a concurrent delivery: look at what won.
            Err(err) if cancellation_codes(&err).is_some() => {
                match self.hold_standing(spot, hold_ref).await? {
                    HoldStanding::Confirmed(member) => Ok(ConfirmOutcome::AlreadyConfirmed(member)),
                    _ => Ok(ConfirmOutcome::HoldLost),
                }
            }
            Err(err) => Err(StoreError::from_sdk(err)),
        }
    }

    /// Where a hold stands: still holding its spot, confirmed, or gone (one GetItem).
    pub(crate) async fn hold_standing(
        &self,
        spot: SpotNumber,
        hold_ref: &HoldRef,
    ) -> Result<HoldStanding, StoreError> {
        Ok(match self.spot(spot).await? {
            Some((
                SpotState::Held {
                    email,
                    lead_id,
                    hold_ref: held,
                    ..
                },
                _,
            )) if held == *hold_ref => HoldStanding::Held { email, lead_id },
            Some((SpotState::Member(member), Some(held))) if held == *hold_ref => {
                HoldStanding::Confirmed(member)
            }
            _ => HoldStanding::Lost,
        })
    }

    /// The two writes that make a hold a membership (the spot and the founder item), each on
    /// the condition that `hold_ref` still holds it; for use inside a larger transaction.
    pub(crate) fn confirmation_items(
        &self,
        confirmation: &FoundingConfirmation,
        hold_ref: &HoldRef,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let member = &confirmation.member;
        let confirm = |pk: &str, sk: &str| -> Result<TransactWriteItem, StoreError> {
            let mut expr = UpdateExpr::default();
            expr.set("state", s(STATE_MEMBER))
                .set("benefits", benefits_attribute(&member.benefits))
                .set(
                    "confirmed_at",
                    s(time_format::to_sortable(member.confirmed_at)),
                )
                .set_opt("company_name", member.company_name.as_deref().map(s))
                .remove("expires_at");
            held_by_ref(self.table_name(), pk, sk, expr, hold_ref, None)
        };
        Ok([
            confirm(keys::FOUNDING_PK, &keys::spot_sk(member.spot))?,
            confirm(&keys::founder(&member.email), keys::FOUNDER_SK)?,
        ])
    }

    /// Frees a spot held by `hold_ref` (a checkout that expired or failed). Any other hold, or
    /// a membership, is left alone. With `lapsed_by`, only a hold that expires no later than
    /// that is released: an expired Checkout Session does not free a hold that a newer
    /// checkout of the same person extended.
    pub async fn release_founding_hold(
        &self,
        email: &EmailAddress,
        spot: SpotNumber,
        hold_ref: &HoldRef,
        lapsed_by: Option<OffsetDateTime>,
    ) -> Result<ReleaseOutcome, StoreError> {
        let release = |pk: &str, sk: &str| -> Result<TransactWriteItem, StoreError> {
            let mut expr = UpdateExpr::default();
            expr.set("state", s(STATE_FREE)).remove("expires_at");
            held_by_ref(self.table_name(), pk, sk, expr, hold_ref, lapsed_by)
        };
        for attempt in 0..MAX_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .transact_items(release(keys::FOUNDING_PK, &keys::spot_sk(spot))?)
                .transact_items(release(&keys::founder(email), keys::FOUNDER_SK)?)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(ReleaseOutcome::Released),
                Err(err) => match cancellation_codes(&err) {
                    Some(codes) if codes.iter().any(|c| c == CONDITION_FAILED) => {
                        return Ok(ReleaseOutcome::NotHeld)
                    }
                    Some(_) => backoff(attempt).await,
                    None => return Err(StoreError::from_sdk(err)),
                },
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }
}

/// Spot numbers free at `now`, stored or not.
fn free_spots(spots: &[(SpotNumber, SpotState)], now: OffsetDateTime) -> Vec<SpotNumber> {
    SpotNumber::all()
        .filter(|number| {
            spots
                .iter()
                .find(|(stored, _)| stored == number)
                .is_none_or(|(_, state)| state.is_free_at(now))
        })
        .collect()
}

/// An update to a spot or founder item, on the condition that `hold_ref` holds it.
fn held_by_ref(
    table: &str,
    pk: &str,
    sk: &str,
    expr: UpdateExpr,
    hold_ref: &HoldRef,
    expiring_by: Option<OffsetDateTime>,
) -> Result<TransactWriteItem, StoreError> {
    let (expression, mut names, mut values) = expr.build();
    names.insert("#state".into(), "state".into());
    names.insert("#ref".into(), "hold_ref".into());
    values.insert(":held".into(), s(STATE_HELD));
    values.insert(":ref".into(), s(hold_ref.as_str()));
    let mut condition = "#state = :held AND #ref = :ref".to_owned();
    if let Some(by) = expiring_by {
        names.insert("#expires".into(), "expires_at".into());
        values.insert(":by".into(), n(by.unix_timestamp()));
        condition.push_str(" AND #expires <= :by");
    }
    let update = Update::builder()
        .table_name(table)
        .key(PK, s(pk))
        .key(SK, s(sk))
        .update_expression(expression)
        .condition_expression(condition)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| StoreError::Rejected(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}
