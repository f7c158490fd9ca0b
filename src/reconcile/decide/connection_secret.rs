//! What the connection Secret's last write means for status: the
//! `ConnectionSecretReady` condition, from what this process last wrote (see
//! `cluster::connection_secret` for the write itself).

use crate::api::condition::CONNECTION_SECRET_READY;
use crate::api::reason::{
    CONNECTION_SECRET_FAILED, CONNECTION_SECRET_NOT_OWNED, CONNECTION_SECRET_WRITTEN,
    WEBSOCKET_URL_MISSING,
};
use crate::api::{MeetingBot, MeetingBotStatus};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// What became of one write of the connection Secret named `secret`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub secret: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// Nothing was written; the text says whose the Secret is.
    NotOwned(String),
    /// The text is the (secret-free) Kubernetes error.
    Failed(String),
    /// Nothing was written: the join's answer carried no websocket URL, and
    /// a Secret with an empty one would only mislead the agent.
    NoWebsocketUrl,
}

impl Written {
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Created | Outcome::Updated)
    }

    /// The reason of the condition and of the Event.
    pub fn reason(&self) -> &'static str {
        match self.outcome {
            Outcome::Created | Outcome::Updated => CONNECTION_SECRET_WRITTEN,
            Outcome::NotOwned(_) => CONNECTION_SECRET_NOT_OWNED,
            Outcome::Failed(_) => CONNECTION_SECRET_FAILED,
            Outcome::NoWebsocketUrl => WEBSOCKET_URL_MISSING,
        }
    }

    /// One line for the condition and the Event, naming the Secret.
    pub fn message(&self) -> String {
        let secret = &self.secret;
        match &self.outcome {
            Outcome::Created => {
                format!("created Secret {secret} with the bot's connection details")
            }
            Outcome::Updated => {
                format!("updated Secret {secret} with the bot's connection details")
            }
            Outcome::NotOwned(why) => format!(
                "Secret {secret} was not written: {why}; the operator writes only a Secret it \
                 creates for this MeetingBot (delete it, or name another Secret in \
                 spec.writeConnectionSecretToRef)"
            ),
            Outcome::Failed(error) => format!("could not write Secret {secret} ({error})"),
            Outcome::NoWebsocketUrl => format!(
                "Secret {secret} was not written: LemonSlice's join answer carried no websocket URL \
                 (the bot is in the meeting and recorded; have it join again to get one)"
            ),
        }
    }
}

/// `status` (built from `bot`'s) with its `ConnectionSecretReady` condition:
/// from the last write this process made (`last`) or, without one, as status
/// already says it, if about the Secret the spec names now; none when the
/// spec asks for no connection Secret.
pub fn with_condition(
    mut status: MeetingBotStatus,
    bot: &MeetingBot,
    last: Option<&Written>,
    now: Timestamp,
) -> MeetingBotStatus {
    let Some(target) = bot.spec.write_connection_secret_to_ref.as_ref() else {
        status.remove_condition(CONNECTION_SECRET_READY);
        return status;
    };
    match last.filter(|last| last.secret == target.name) {
        Some(last) => status.set_condition(Condition {
            type_: CONNECTION_SECRET_READY.to_owned(),
            status: if last.ok() { "True" } else { "False" }.to_owned(),
            reason: last.reason().to_owned(),
            message: last.message(),
            observed_generation: bot.metadata.generation,
            last_transition_time: Time(now),
        }),
        None => {
            // Nothing new: what status says stands, if it is about this Secret.
            let about_target = status
                .condition(CONNECTION_SECRET_READY)
                .is_some_and(|c| c.message.contains(&format!("Secret {} ", target.name)));
            if !about_target {
                status.remove_condition(CONNECTION_SECRET_READY);
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ConnectionSecretRef, MeetingBotSpec};

    fn bot(target: Option<&str>) -> MeetingBot {
        let mut spec =
            MeetingBotSpec::new("s", "https://meet.google.com/abc-defg-hij", "wss://x", "t");
        spec.write_connection_secret_to_ref =
            target.map(|name| ConnectionSecretRef { name: name.into() });
        let mut bot = MeetingBot::new("b", spec);
        bot.metadata.generation = Some(3);
        bot
    }

    /// The condition `with_condition` gives `bot` after `last`, at `now`.
    fn condition(bot: &MeetingBot, last: Option<&Written>, now: Timestamp) -> Option<Condition> {
        let status = with_condition(bot.status.clone().unwrap_or_default(), bot, last, now);
        status.condition(CONNECTION_SECRET_READY).cloned()
    }

    #[test]
    fn the_condition_says_whose_the_secret_is_and_keeps_its_transition_time() {
        let now = Timestamp::now();
        let refused = Written {
            secret: "conn".into(),
            outcome: Outcome::NotOwned("it exists and no MeetingBot created it".into()),
        };
        assert_eq!(condition(&bot(None), Some(&refused), now), None);
        let mut with_target = bot(Some("conn"));
        let first = condition(&with_target, Some(&refused), now).unwrap();
        assert_eq!(
            (
                first.type_.as_str(),
                first.status.as_str(),
                first.reason.as_str()
            ),
            (
                CONNECTION_SECRET_READY,
                "False",
                CONNECTION_SECRET_NOT_OWNED
            )
        );
        assert!(
            first.message.contains("Secret conn was not written"),
            "{}",
            first.message
        );
        assert_eq!(first.observed_generation, Some(3));

        with_target.status = Some(MeetingBotStatus {
            conditions: vec![first.clone()],
            ..Default::default()
        });
        let later = now
            .checked_add(jiff::SignedDuration::from_secs(60))
            .unwrap();
        assert_eq!(
            condition(&with_target, Some(&refused), later),
            Some(first.clone())
        );
        assert_eq!(
            condition(&with_target, None, later),
            Some(first.clone()),
            "without news, status stands"
        );
        let written = Written {
            secret: "conn".into(),
            outcome: Outcome::Created,
        };
        let ready = condition(&with_target, Some(&written), later).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", CONNECTION_SECRET_WRITTEN)
        );
        assert_eq!(ready.last_transition_time, Time(later));

        // A write of another Secret (the spec changed since) is not news about this one.
        let mut elsewhere = bot(Some("elsewhere"));
        elsewhere.status = with_target.status.clone();
        assert_eq!(condition(&elsewhere, Some(&written), later), None);
        let status = with_condition(
            with_target.status.clone().unwrap(),
            &bot(None),
            Some(&written),
            later,
        );
        assert!(status.conditions.is_empty(), "no target, no condition");
    }
}
