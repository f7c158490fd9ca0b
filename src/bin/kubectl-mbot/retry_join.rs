//! `kubectl mbot retry-join NAME [--yes]`: allow exactly one new join after
//! a join whose outcome is unknown, once a person has agreed to the risk.

use crate::connect::Target;
use crate::patch::{annotate, fresh_value};
use crate::record::{foreign_uid, join_in_flight, recorded_bot_id, stalled_reason};
use anyhow::{Context, anyhow, bail};
use meetingbot_operator::api::reason::JOIN_OUTCOME_UNKNOWN;
use meetingbot_operator::api::{JoinAttempt, MeetingBot, annotation};
use std::io::{BufRead, IsTerminal, Write};

pub async fn run(target: &Target, name: &str, yes: bool) -> anyhow::Result<()> {
    let bot = target.bot(name).await?;
    let ns = &target.namespace;
    let Some(attempt) = check(&bot, ns)? else {
        println!(
            "{ns}/{name}: one new join is already allowed and not yet used; nothing to do \
             (`kubectl mbot status {name} -n {ns}`)"
        );
        return Ok(());
    };
    eprintln!(
        "WARNING: a join for {ns}/{name} under session {} was sent at {} and its answer never \
         came: an avatar may already be in the meeting. A new join puts one more avatar in it, \
         so the meeting may get a SECOND AVATAR, and the first one's id stays unknown.\n\
         Look at the meeting first. If the avatar is there and you know its id, run instead:\n  \
         kubectl mbot adopt {name} -n {ns} --bot-id <ID>",
        attempt.session_id, attempt.started_at
    );
    if !yes {
        confirm()?;
    }
    annotate(
        target,
        name,
        &[(annotation::RETRY_JOIN, &fresh_value())],
        "allowing a new join",
    )
    .await?;
    println!(
        "✔ allowed one new join for {ns}/{name}: the operator joins once more \
         (follow it with `kubectl mbot status {name} -n {ns}`)"
    );
    Ok(())
}

/// The unknown join to retry; `None` when a retry is already allowed; an
/// error when there is nothing a retry would be right for.
pub fn check(bot: &MeetingBot, ns: &str) -> anyhow::Result<Option<JoinAttempt>> {
    let name = bot.metadata.name.as_deref().unwrap_or_default();
    if let Some(uid) = foreign_uid(bot) {
        bail!(
            "{ns}/{name} carries the record of another MeetingBot (uid {uid}); a retry does not \
             apply: take the record over with `kubectl mbot adopt {name} -n {ns} --bot-id ID`, \
             or drop it with `kubectl mbot discard-record {name} -n {ns}`"
        );
    }
    if let Some(id) = recorded_bot_id(bot) {
        bail!(
            "{ns}/{name} records bot {id}: its join is known, so there is nothing to retry, and \
             a new join would put a second avatar in the meeting. To make it rejoin, suspend and \
             resume it (`kubectl mbot suspend {name} -n {ns}`, then `resume`)"
        );
    }
    let Some(attempt) = join_in_flight(bot) else {
        bail!(
            "{ns}/{name} has no join whose outcome is unknown (phase {}): retry-join is only for \
             a MeetingBot Stalled with {JOIN_OUTCOME_UNKNOWN}; the operator joins by itself \
             otherwise",
            phase(bot)
        );
    };
    if stalled_reason(bot) != Some(JOIN_OUTCOME_UNKNOWN) {
        bail!(
            "{ns}/{name} has a join in flight that the operator has not yet called unknown \
             (phase {}): wait for its outcome; if status turns Stalled {JOIN_OUTCOME_UNKNOWN}, \
             run this again",
            phase(bot)
        );
    }
    let allowed = bot.retry_join();
    if allowed.is_some() && allowed != attempt.retry_join.as_deref() {
        return Ok(None);
    }
    Ok(Some(attempt))
}

fn phase(bot: &MeetingBot) -> String {
    bot.status
        .as_ref()
        .and_then(|s| s.phase)
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "-".into())
}

/// Asks on the terminal; refuses when there is none to ask on.
fn confirm() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(anyhow!(
            "refusing to allow a new join without confirmation: standard input is not a \
             terminal. Pass --yes to confirm that a second avatar in the meeting is acceptable"
        ));
    }
    eprint!("Allow one new join? Type 'yes' to confirm: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    if answer.trim().eq_ignore_ascii_case("yes") || answer.trim().eq_ignore_ascii_case("y") {
        Ok(())
    } else {
        Err(anyhow!("not confirmed: nothing was written"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{bot, record};

    const ATTEMPT: &str = r#"{"sessionId":"s1","startedAt":"2026-01-01T00:00:00Z"}"#;

    #[test]
    fn only_an_unknown_join_can_be_retried() {
        let unsure = bot(
            &[(annotation::JOIN_IN_FLIGHT, ATTEMPT)],
            Some(JOIN_OUTCOME_UNKNOWN),
        );
        assert_eq!(check(&unsure, "team").unwrap().unwrap().session_id, "s1");

        let joined = bot(
            &[(annotation::RECORD, &record("meeting-bot-1", "own-uid"))],
            None,
        );
        let refusal = check(&joined, "team").unwrap_err().to_string();
        assert!(refusal.contains("records bot meeting-bot-1"), "{refusal}");

        assert!(check(&bot(&[], None), "team").is_err());
        let in_flight = bot(&[(annotation::JOIN_IN_FLIGHT, ATTEMPT)], None);
        assert!(check(&in_flight, "team").is_err());
    }

    #[test]
    fn a_retry_already_allowed_is_not_allowed_twice() {
        let allowed = bot(
            &[
                (annotation::JOIN_IN_FLIGHT, ATTEMPT),
                (annotation::RETRY_JOIN, "r1"),
            ],
            Some(JOIN_OUTCOME_UNKNOWN),
        );
        assert!(check(&allowed, "team").unwrap().is_none());
    }
}
