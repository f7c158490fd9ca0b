//! `kubectl mbot discard-record NAME`: drop a record copied from another
//! MeetingBot (no leave: its bot is the other object's) and join afresh.

use crate::connect::Target;
use crate::patch::annotate;
use crate::record::{foreign_uid, recorded_bot_id};
use anyhow::anyhow;
use meetingbot_operator::api::annotation;

pub async fn run(target: &Target, name: &str) -> anyhow::Result<()> {
    let bot = target.bot(name).await?;
    let ns = &target.namespace;
    let uid = foreign_uid(&bot).ok_or_else(|| {
        anyhow!(
            "{ns}/{name} carries no record of another MeetingBot: there is nothing to discard. \
             Its own bot leaves when it is deleted or suspended (`kubectl mbot suspend {name} -n {ns}`)"
        )
    })?;
    annotate(
        target,
        name,
        &[(annotation::DISCARD_RECORD, &uid)],
        "discarding the record",
    )
    .await?;
    println!(
        "✔ {ns}/{name} drops the record of MeetingBot {uid}{} without leave, and joins afresh",
        recorded_bot_id(&bot)
            .map(|id| format!(" (bot {id} stays with that MeetingBot)"))
            .unwrap_or_default()
    );
    Ok(())
}
