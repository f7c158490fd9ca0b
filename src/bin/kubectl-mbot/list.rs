//! `kubectl mbot list [-A] [-l SELECTOR] [-o json|yaml|wide|name]`: the
//! MeetingBots, those that need attention first.

use crate::connect::{Target, api_error};
use crate::format::age;
use crate::output::{self, Format};
use crate::record::{attention, recorded_bot_id};
use crate::status::{joined_at, joined_session};
use jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use meetingbot_operator::api::MeetingBot;
use meetingbot_operator::api::condition::READY;

pub async fn run(
    target: &Target,
    all_namespaces: bool,
    selector: Option<&str>,
    format: Option<Format>,
) -> anyhow::Result<()> {
    let bots = find(target, all_namespaces, selector).await?;
    match format {
        Some(Format::Json) => print!("{}", output::json(&output::list_of(&bots))?),
        Some(Format::Yaml) => print!("{}", output::yaml(&output::list_of(&bots))?),
        _ if bots.is_empty() => eprintln!("{}", nothing_found(target, all_namespaces, selector)),
        Some(Format::Name) => bots
            .iter()
            .for_each(|bot| println!("{}", output::name_of(bot))),
        None | Some(Format::Wide) => {
            let wide = format == Some(Format::Wide);
            let (table, needing) = render(bots, all_namespaces, wide, Timestamp::now());
            print!("{table}");
            if needing > 0 {
                eprintln!(
                    "\n{needing} need attention: `kubectl mbot status NAME -n NAMESPACE` says what to do."
                );
            }
        }
    }
    Ok(())
}

/// The MeetingBots of the namespace (or every namespace) that match the selector.
pub async fn find(
    target: &Target,
    all_namespaces: bool,
    selector: Option<&str>,
) -> anyhow::Result<Vec<MeetingBot>> {
    let api: Api<MeetingBot> = if all_namespaces {
        Api::all(target.client.clone())
    } else {
        target.bots()
    };
    let mut params = ListParams::default();
    if let Some(selector) = selector {
        params = params.labels(selector);
    }
    Ok(api
        .list(&params)
        .await
        .map_err(|e| api_error(e, "listing MeetingBots"))?
        .items)
}

/// What to say (on stderr, as kubectl does) when nothing matched.
pub fn nothing_found(target: &Target, all_namespaces: bool, selector: Option<&str>) -> String {
    let matching = selector
        .map(|s| format!(" matching -l {s}"))
        .unwrap_or_default();
    match all_namespaces {
        true => format!("No MeetingBots{matching} in any namespace."),
        false => format!(
            "No MeetingBots{matching} in namespace {}.",
            target.namespace
        ),
    }
}

/// The table, and how many of its MeetingBots need attention.
pub fn render(
    bots: Vec<MeetingBot>,
    all_namespaces: bool,
    wide: bool,
    now: Timestamp,
) -> (String, usize) {
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
    if wide {
        header.extend(["REASON", "SESSION", "JOINED"]);
    }
    table.push(header.into_iter().map(str::to_owned).collect::<Vec<_>>());
    let needing = rows.iter().filter(|(a, _)| a.is_some()).count();
    let dash = || "-".to_owned();
    for (why, bot) in &rows {
        let status = bot.status.clone().unwrap_or_default();
        let ready = bot.condition(READY);
        let mut row = vec![
            bot.metadata.name.clone().unwrap_or_default(),
            status.phase.map(|p| format!("{p:?}")).unwrap_or_else(dash),
            ready.map(|c| c.status.clone()).unwrap_or_else(dash),
            recorded_bot_id(bot).unwrap_or_else(dash),
            bot.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| age(now, t.0))
                .unwrap_or_else(dash),
            why.clone().unwrap_or_else(dash),
        ];
        if all_namespaces {
            row.insert(0, bot.metadata.namespace.clone().unwrap_or_default());
        }
        if wide {
            row.extend([
                ready
                    .map(|c| c.reason.clone())
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(dash),
                joined_session(bot).unwrap_or_else(dash),
                joined_at(bot).map(|t| age(now, t)).unwrap_or_else(dash),
            ]);
        }
        table.push(row);
    }
    (output::table(&table), needing)
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
        let (text, needing) = render(
            vec![
                named("a-fine", None),
                named("b-unsure", Some(JOIN_OUTCOME_UNKNOWN)),
                named("c-refused", Some(LEAVE_FAILED)),
            ],
            true,
            false,
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
        assert_eq!(needing, 2);
    }

    #[test]
    fn wide_adds_reason_session_and_joined() {
        let mut joined = named("a-fine", None);
        let now = Timestamp::now();
        let status = joined.status.as_mut().unwrap();
        status.session_id = Some("s1".into());
        status.joined_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            now - jiff::SignedDuration::from_secs(25 * 3600),
        ));
        joined.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                now - jiff::SignedDuration::from_secs(90 * 60),
            ));
        let (text, _) = render(vec![joined], false, true, now);
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0]
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            header,
            [
                "NAME",
                "PHASE",
                "READY",
                "BOT ID",
                "AGE",
                "ATTENTION",
                "REASON",
                "SESSION",
                "JOINED"
            ]
        );
        assert!(lines[1].contains(" 90m "), "{text}");
        assert!(lines[1].ends_with("s1        25h"), "{text}");
    }
}
