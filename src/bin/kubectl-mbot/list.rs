//! `kubectl mbot list [-A]`: the MeetingBots that need attention first.

use crate::connect::{Target, api_error};
use crate::format::age;
use crate::record::{attention, recorded_bot_id};
use jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use meetingbot_operator::api::MeetingBot;
use meetingbot_operator::api::condition::READY;

pub async fn run(target: &Target, all_namespaces: bool) -> anyhow::Result<()> {
    let api: Api<MeetingBot> = if all_namespaces {
        Api::all(target.client.clone())
    } else {
        target.bots()
    };
    let bots = api
        .list(&ListParams::default())
        .await
        .map_err(|e| api_error(e, "listing MeetingBots"))?
        .items;
    if bots.is_empty() {
        match all_namespaces {
            true => println!("No MeetingBots in any namespace."),
            false => println!("No MeetingBots in namespace {}.", target.namespace),
        }
        return Ok(());
    }
    print!("{}", render(bots, all_namespaces, Timestamp::now()));
    Ok(())
}

pub fn render(bots: Vec<MeetingBot>, all_namespaces: bool, now: Timestamp) -> String {
    let mut rows: Vec<(Option<String>, MeetingBot)> = bots
        .into_iter()
        .map(|bot| (attention(&bot, now), bot))
        .collect();
    // Needing attention first; then by namespace and name.
    rows.sort_by(|(a, x), (b, y)| {
        (a.is_none(), &x.metadata.namespace, &x.metadata.name).cmp(&(
            b.is_none(),
            &y.metadata.namespace,
            &y.metadata.name,
        ))
    });
    let mut table = vec![];
    let mut header = vec!["NAME", "PHASE", "READY", "BOT ID", "AGE", "ATTENTION"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    table.push(header.into_iter().map(str::to_owned).collect::<Vec<_>>());
    let needing = rows.iter().filter(|(a, _)| a.is_some()).count();
    for (why, bot) in &rows {
        let status = bot.status.clone().unwrap_or_default();
        let ready = bot
            .condition(READY)
            .map(|c| c.status.clone())
            .unwrap_or_else(|| "-".into());
        let mut row = vec![
            bot.metadata.name.clone().unwrap_or_default(),
            status
                .phase
                .map(|p| format!("{p:?}"))
                .unwrap_or_else(|| "-".into()),
            ready,
            recorded_bot_id(bot).unwrap_or_else(|| "-".into()),
            bot.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| age(now, t.0))
                .unwrap_or_else(|| "-".into()),
            why.clone().unwrap_or_else(|| "-".into()),
        ];
        if all_namespaces {
            row.insert(0, bot.metadata.namespace.clone().unwrap_or_default());
        }
        table.push(row);
    }
    let mut out = columns(&table);
    if needing > 0 {
        out.push_str(&format!(
            "\n{needing} need attention: `kubectl mbot status NAME -n NAMESPACE` says what to do.\n"
        ));
    }
    out
}

/// Rows as left-aligned columns, three spaces apart, like kubectl get.
fn columns(table: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| {
            table
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::bot;
    use meetingbot_operator::api::reason::{JOIN_OUTCOME_UNKNOWN, LEAVE_FAILED};

    fn named(name: &str, stalled: Option<&str>) -> MeetingBot {
        let mut b = bot(&[], stalled);
        b.metadata.name = Some(name.into());
        b.metadata.namespace = Some("team".into());
        b
    }

    #[test]
    fn those_needing_attention_come_first_with_the_reason() {
        let text = render(
            vec![
                named("a-fine", None),
                named("b-unsure", Some(JOIN_OUTCOME_UNKNOWN)),
                named("c-refused", Some(LEAVE_FAILED)),
            ],
            true,
            Timestamp::now(),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAMESPACE   NAME"), "{text}");
        assert!(
            lines[1].contains("b-unsure") && lines[1].contains("Stalled: JoinOutcomeUnknown"),
            "{text}"
        );
        assert!(lines[2].contains("c-refused") && lines[2].contains("Stalled: LeaveFailed"));
        assert!(lines[3].contains("a-fine"), "{text}");
        assert!(text.contains("2 need attention"), "{text}");
    }
}
