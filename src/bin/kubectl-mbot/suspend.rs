//! `kubectl mbot suspend|resume NAME|-l SELECTOR|--all`: spec.suspend.

use crate::cli::Selection;
use crate::connect::Target;
use crate::patch::merge;
use crate::select::{chosen, name, outcome};
use serde_json::json;

pub async fn run(target: &Target, which: &Selection, suspend: bool) -> anyhow::Result<()> {
    let bots = chosen(target, which).await?;
    let one = which.name.is_some();
    let ns = &target.namespace;
    let mut failed = 0;
    for bot in &bots {
        let name = name(bot);
        if bot.spec.suspend == suspend {
            println!(
                "{ns}/{name} is already {}: nothing to do",
                if suspend {
                    "suspended"
                } else {
                    "not suspended"
                }
            );
            continue;
        }
        let written = merge(
            target,
            name,
            json!({"spec": {"suspend": suspend}}),
            &format!("setting spec.suspend of {ns}/{name}"),
        )
        .await;
        if let Err(error) = written {
            if one {
                return Err(error);
            }
            eprintln!("✗ {error:#}");
            failed += 1;
            continue;
        }
        match (suspend, one) {
            (true, true) => println!(
                "✔ suspended {ns}/{name}: the avatar leaves the meeting and stays out \
                 (`kubectl mbot resume {name} -n {ns}` to join again)"
            ),
            (false, true) => println!(
                "✔ resumed {ns}/{name}: the avatar joins again (`kubectl mbot status {name} -n {ns}`)"
            ),
            (true, false) => println!("✔ suspended {ns}/{name}"),
            (false, false) => println!("✔ resumed {ns}/{name}"),
        }
    }
    outcome(failed, bots.len())
}
