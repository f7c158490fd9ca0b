//! `kubectl mbot suspend|resume NAME`: spec.suspend.

use crate::connect::Target;
use crate::patch::merge;
use serde_json::json;

pub async fn run(target: &Target, name: &str, suspend: bool) -> anyhow::Result<()> {
    let bot = target.bot(name).await?;
    let ns = &target.namespace;
    if bot.spec.suspend == suspend {
        println!(
            "{ns}/{name} is already {}: nothing to do",
            if suspend {
                "suspended"
            } else {
                "not suspended"
            }
        );
        return Ok(());
    }
    merge(
        target,
        name,
        json!({"spec": {"suspend": suspend}}),
        "setting spec.suspend",
    )
    .await?;
    if suspend {
        println!(
            "✔ suspended {ns}/{name}: the avatar leaves the meeting and stays out \
             (`kubectl mbot resume {name} -n {ns}` to join again)"
        );
    } else {
        println!(
            "✔ resumed {ns}/{name}: the avatar joins again (`kubectl mbot status {name} -n {ns}`)"
        );
    }
    Ok(())
}
