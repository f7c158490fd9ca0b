//! The MeetingBots a command acts on: one by name, those matching `-l`, or
//! `--all` of the namespace.

use crate::cli::Selection;
use crate::connect::Target;
use meetingbot_operator::api::MeetingBot;

/// The chosen MeetingBots; a name that does not exist is an error, a
/// selector that matches nothing is not (kubectl's way): it says so on stderr.
pub async fn chosen(target: &Target, which: &Selection) -> anyhow::Result<Vec<MeetingBot>> {
    if let Some(name) = &which.name {
        return Ok(vec![target.bot(name).await?]);
    }
    let selector = which.selector.as_deref();
    let bots = crate::list::find(target, false, selector).await?;
    if bots.is_empty() {
        eprintln!("{}", crate::list::nothing_found(target, false, selector));
    }
    Ok(bots)
}

/// The name of a MeetingBot read from the cluster.
pub fn name(bot: &MeetingBot) -> &str {
    bot.metadata.name.as_deref().unwrap_or_default()
}

/// Done with each object: an error if any failed, naming how many (each was
/// printed on stderr as it happened).
pub fn outcome(failed: usize, total: usize) -> anyhow::Result<()> {
    match failed {
        0 => Ok(()),
        _ if total == 1 => Err(anyhow::anyhow!("the command failed")),
        _ => Err(anyhow::anyhow!("{failed} of {total} MeetingBots failed")),
    }
}
