//! What to do next for a MeetingBot: a pure function of what is known about
//! it. The hardest rules of the operator live here — never join twice, never
//! hang a deletion without a way out, which failures stall and which retry —
//! so that they can be tested case by case without any server. What it reads
//! is `Facts`, here; the types it answers with are in `plan`.
//!
//! The rules, in the order `decide` applies them (the first that matches
//! plans the step), each with the unit test in `decide/tests` that pins it:
//!
//! 0. One install acts on an object (`install`): an object another install
//!    claimed gets no call and no write from this one; an unclaimed object
//!    is claimed by the first fenced write before any call: a new object's
//!    join record, then its session read; otherwise a status write of its own
//!    (`install::only_the_install_that_claimed_an_object_acts_on_it`); one
//!    that left this install's scope is let go, its avatar taken out first
//!    when this install's own key joined it
//!    (`install::an_object_that_left_the_scope_is_handed_over`).
//! 1. A bot this process saw leave, whose record a refused write left
//!    behind, is forgotten, never taken for live again
//!    (`record::a_bot_seen_to_leave_is_never_taken_for_live_again`).
//! 2. A MeetingBot being deleted (`deletion`): without our finalizer, nothing
//!    to do; with no record or another object's record, let go; with a join
//!    in flight, let go and warn; with `deletionPolicy: Orphan` or skip-leave,
//!    let go; otherwise leave, or say why not yet
//!    (`deletion::deletion_leaves_forgets_or_lets_go`,
//!    `deletion::a_leave_without_its_api_key_names_the_ways_out`).
//! 3. A record made by another MeetingBot stalls, with no call
//!    (`record::a_copy_of_another_objects_record_is_foreign_and_gets_no_call`).
//! 4. A joined bot (`joined`), in this order: one copy of the record restores
//!    the other (`record::one_copy_of_the_record_restores_the_other`); a bot
//!    just joined is recorded in status before anything else
//!    (`joined::a_bot_just_joined_is_recorded_before_any_leave`); an invalid
//!    spec stalls, with no call, still showing the record
//!    (`joined::an_invalid_spec_keeps_the_joined_bots_record_in_status`); a
//!    changed spec leaves to rejoin
//!    (`joined::a_spec_change_leaves_under_the_old_session_then_joins_anew`,
//!    `joined::a_new_broadcast_token_alone_does_not_rejoin`); suspend leaves
//!    (`joined::suspend_takes_the_avatar_out_and_keeps_it_out`); maxDuration
//!    leaves once (`joined::max_duration_leaves_once_and_never_rejoins_the_same_spec`);
//!    an ended session settles without leave
//!    (`joined::a_session_that_ends_while_joined_is_reported_once_and_needs_no_leave`,
//!    `joined::a_404_while_joined_is_evidence_not_proof`); otherwise the
//!    session is read when due, and the bot rests meanwhile
//!    (`joined::a_joined_bot_rests_until_its_session_is_due_for_a_read`).
//! 5. An invalid spec (meeting URL, then maxDuration) stalls, with no call
//!    (`join::an_unsupported_meeting_url_stalls_without_a_call`).
//! 6. A join in flight (`join`): add the finalizer first
//!    (`record::the_finalizer_comes_with_the_first_record_not_before`); clear
//!    it when its call was never sent, once status claims a new object
//!    (`join::a_join_record_whose_call_was_never_sent_is_cleared`); join again
//!    only for a new retry-join value or with `--retry-unknown-joins`
//!    (`join::a_new_retry_join_value_allows_exactly_one_more_attempt`,
//!    `join::retry_unknown_joins_prefers_presence`); otherwise stall
//!    (`join::a_join_whose_outcome_was_lost_is_not_repeated_on_its_own`).
//! 7. No bot yet (`join`): suspended, completed and scheduled bots wait
//!    (`joined::suspend_takes_the_avatar_out_and_keeps_it_out`,
//!    `joined::max_duration_leaves_once_and_never_rejoins_the_same_spec`,
//!    `join::a_scheduled_bot_waits_for_join_at`); a missing Secret pends
//!    (`join::a_missing_secret_pends_without_a_call`); a session just read
//!    active is joined, queued is read again, ended stalls
//!    (`join::a_new_bot_reads_its_session_then_joins_only_an_active_one`,
//!    `join::a_queued_session_is_read_again_a_little_later_each_time`,
//!    `join::an_ended_session_is_never_joined`); earlier failures back off
//!    (`join::retryable_failures_back_off_and_refusals_wait_for_a_change`,
//!    `join::an_unknown_session_stalls_before_the_join`); otherwise the
//!    session is read.
//!
//! Across the rules, `record::no_combination_of_record_copies_plans_a_second_join`
//! and `join::no_join_while_a_join_is_in_flight_unless_allowed` pin that no
//! path plans a second join.

mod backoff;
pub mod connection_secret;
mod deletion;
mod install;
mod join;
mod joined;
pub mod leave;
pub mod memo;
pub mod plan;
mod record;
mod session;
pub mod status;

use crate::api::{BotRecord, MeetingBot, Phase, event, reason};
use jiff::Timestamp;
use memo::{Call, CallMemo, Memo};
use plan::{Ending, Learned, Plan};
use std::time::Duration;

/// Everything `decide` looks at.
pub struct Facts<'a> {
    pub bot: &'a MeetingBot,
    /// Failures met earlier with this object, and when to try again.
    pub memo: &'a Memo,
    pub now: Timestamp,
    /// Operator option: after an unknown join outcome, join again (presence over uniqueness).
    pub retry_unknown_joins: bool,
    /// What the previous step of this reconcile learned that the object does not show.
    pub just_learned: Option<&'a Learned>,
    /// Whether the bot id this object's record names is recorded in the
    /// status of another MeetingBot (see `schedule::recorded_ids`).
    pub recorded_elsewhere: bool,
    /// How often the session of a joined bot is read (operator option), before
    /// a per-object jitter that keeps a thousand bots from polling in step.
    pub session_poll: Duration,
    /// When the session was last read, or else when the operator started:
    /// a restart does not make every joined bot call LemonSlice at once.
    pub session_checked_at: Timestamp,
    /// The identity of this operator install (operator option).
    pub install: &'a str,
    /// Whether the object is in this install's scope (its label selector
    /// matches); an object this install acts on that left it is handed over.
    pub in_scope: bool,
}

impl Facts<'_> {
    /// The failures of `call` met with this generation of the spec, if any.
    pub fn failures(&self, call: Call) -> Option<&CallMemo> {
        self.memo.current(self.bot.metadata.generation, call)
    }
}

pub fn decide(facts: &Facts) -> Plan {
    let acting = facts.bot.acting_install();
    if let Some(install) = acting.as_ref().filter(|acting| *acting != facts.install) {
        return Plan::LeaveToInstall {
            install: install.clone(),
        };
    }
    let plan = decide_acting(facts);
    match acting {
        Some(_) => plan,
        None => install::claim_first(facts, plan),
    }
}

/// The plan of the install that acts on the object, or may claim it.
fn decide_acting(facts: &Facts) -> Plan {
    let bot = facts.bot;
    let record = current_record(facts);
    if let Some(plan) = install::hand_over(facts, &record) {
        return plan;
    }
    // A bot seen to leave whose record a refused write left behind: finish
    // forgetting it, never take it for live again.
    if let BotRecord::Joined(recorded) = &record
        && let Some((left, purpose)) = &facts.memo.seldom().left
        && *left == recorded.meeting_bot_id
    {
        if bot.is_deleting() && bot.has_finalizer() {
            return Plan::RemoveFinalizer {
                unknown_join: false,
            };
        }
        return Plan::Forget {
            recorded: recorded.clone(),
            purpose: *purpose,
        };
    }
    if let Some(stop) = record::claimed_elsewhere(facts, &record)
        .or_else(|| record::conflict(bot, &record))
        .or_else(|| record::adoption(facts, &record))
    {
        return stop;
    }
    if bot.is_deleting() {
        return deletion::decide(facts, record);
    }
    if let BotRecord::Foreign { uid, recorded } = record {
        return record::foreign(facts, &uid, recorded).into();
    }
    if let BotRecord::Joined(recorded) = record {
        return joined::decide(facts, recorded);
    }
    if let Some(invalid) = invalid_spec(bot) {
        return invalid.into();
    }
    match record {
        BotRecord::JoinInFlight(attempt) => join::decide_unknown(facts, attempt),
        BotRecord::None => join::decide(facts),
        BotRecord::Joined(_) | BotRecord::Foreign { .. } | BotRecord::Conflict { .. } => {
            unreachable!("handled above")
        }
    }
}

/// The stall of a spec the operator cannot act on, if it is one: a meeting
/// URL or a maxDuration that reached it past admission (stored before the
/// CRD's rules, or by another road). It makes no call; a joined bot stays
/// in the meeting, and its record in status (see `joined`).
fn invalid_spec(bot: &MeetingBot) -> Option<Ending> {
    let (reason, message) = if let Some(Err(invalid)) = bot.platform() {
        (
            reason::INVALID_MEETING_URL,
            format!("spec.meetingUrl {invalid}"),
        )
    } else if let Some(Err(invalid)) = bot.max_duration() {
        (reason::INVALID_SPEC, format!("spec.maxDuration: {invalid}"))
    } else {
        return None;
    };
    Some(Ending::stalled(Phase::Failed, reason, message).with_warning(event::JOIN_FAILED))
}

/// The record as the object shows it, updated with what this reconcile
/// learned and has not yet written everywhere.
fn current_record(facts: &Facts) -> BotRecord {
    let record = facts.bot.bot_record();
    match (record, facts.just_learned) {
        (_, Some(Learned::Joined(joined))) => BotRecord::Joined(joined.recorded.clone()),
        (BotRecord::Joined(recorded), Some(Learned::Left(_, left)))
            if recorded.meeting_bot_id == *left =>
        {
            BotRecord::None
        }
        (record, _) => record,
    }
}

#[cfg(test)]
mod tests;
