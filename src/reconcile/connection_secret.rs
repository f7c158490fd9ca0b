//! `spec.writeConnectionSecretToRef`: the Secret that receives a joined bot's
//! connection details. The operator creates it, owned by the MeetingBot as its
//! controller, and afterwards updates it only while this MeetingBot (by UID)
//! is still its controller. A Secret that exists and belongs to anyone else is
//! never written: taking it over would let a team that may create MeetingBots
//! overwrite any Secret of its namespace, and, through the owner reference and
//! the garbage collector, delete it with the MeetingBot.
//!
//! No server-side apply here: a forced apply takes over whatever exists. A
//! create fails when the name is taken, and the update is a merge patch fenced
//! by the `resourceVersion` whose owner was checked.

use crate::api::MeetingBot;
use crate::api::condition::CONNECTION_SECRET_READY;
use crate::api::reason::{
    CONNECTION_SECRET_FAILED, CONNECTION_SECRET_NOT_OWNED, CONNECTION_SECRET_WRITTEN,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;

/// How often a write is tried when the Secret changes under it.
const ATTEMPTS: usize = 3;

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
        }
    }
}

/// Creates Secret `name` with `data`, owned by `bot`, or updates it when `bot`
/// is its controller; otherwise writes nothing.
pub async fn write(
    secrets: &Api<Secret>,
    bot: &MeetingBot,
    manager: &str,
    name: &str,
    data: BTreeMap<String, String>,
) -> Written {
    let outcome = match write_outcome(secrets, bot, manager, name, data).await {
        Ok(outcome) => outcome,
        Err(error) => Outcome::Failed(describe(&error)),
    };
    Written {
        secret: name.to_owned(),
        outcome,
    }
}

async fn write_outcome(
    secrets: &Api<Secret>,
    bot: &MeetingBot,
    manager: &str,
    name: &str,
    data: BTreeMap<String, String>,
) -> Result<Outcome, kube::Error> {
    let Some(uid) = bot.uid() else {
        return Ok(Outcome::Failed("the MeetingBot has no uid yet".into()));
    };
    for _ in 0..ATTEMPTS {
        let Some(existing) = secrets.get_opt(name).await? else {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    owner_references: bot.controller_owner_ref(&()).map(|owner| vec![owner]),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".into()),
                string_data: Some(data.clone()),
                ..Secret::default()
            };
            let params = PostParams {
                field_manager: Some(manager.to_owned()),
                ..PostParams::default()
            };
            match secrets.create(&params, &secret).await {
                Ok(_) => return Ok(Outcome::Created),
                // Created meanwhile: look at its owner.
                Err(error) if crate::is_conflict(&error) => continue,
                Err(error) => return Err(error),
            }
        };
        if let Some(why) = not_ours(&existing, &uid) {
            return Ok(Outcome::NotOwned(why));
        }
        // Fenced by the version whose owner was checked: a change of owner in
        // between is a conflict, not an overwrite.
        let patch = json!({
            "metadata": { "resourceVersion": existing.resource_version() },
            "stringData": data,
        });
        let params = PatchParams {
            field_manager: Some(manager.to_owned()),
            ..PatchParams::default()
        };
        match secrets.patch(name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(Outcome::Updated),
            Err(error) if crate::is_conflict(&error) => continue,
            // Deleted meanwhile: create it on the next turn.
            Err(kube::Error::Api(response)) if response.code == 404 => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(Outcome::Failed(format!(
        "Secret {name} kept changing during {ATTEMPTS} attempts"
    )))
}

/// Why `secret` is not this MeetingBot's (`uid`) to write, if it is not.
pub fn not_ours(secret: &Secret, uid: &str) -> Option<String> {
    let controller = secret
        .owner_references()
        .iter()
        .find(|owner| owner.controller == Some(true));
    match controller {
        Some(owner) if owner.uid == uid => None,
        Some(owner) if owner.kind == MeetingBot::kind(&()) => Some(format!(
            "it belongs to MeetingBot {} (uid {})",
            owner.name, owner.uid
        )),
        Some(owner) => Some(format!("it belongs to {} {}", owner.kind, owner.name)),
        None => Some("it exists and no MeetingBot created it".into()),
    }
}

/// A Kubernetes error as a line without the request body: the API server's
/// message and code (which name the object, never the data).
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(response) => format!("{} ({})", response.message, response.code),
        _ => "the API server could not be reached".into(),
    }
}

/// The `ConnectionSecretReady` condition for `bot`, from the last write this
/// process made (`last`) or, without one, the condition already in status.
/// `None` when the spec asks for no connection Secret. Keeps
/// `lastTransitionTime` while the condition's status stays the same.
///
/// To add it to a status being built: `conditions.extend(condition(bot, last, now))`.
pub fn condition(bot: &MeetingBot, last: Option<&Written>, now: Timestamp) -> Option<Condition> {
    let target = bot.spec.write_connection_secret_to_ref.as_ref()?;
    let previous = bot.status.as_ref().and_then(|status| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == CONNECTION_SECRET_READY)
    });
    let Some(last) = last.filter(|last| last.secret == target.name) else {
        // Nothing new: what status says stands, if it is about this Secret.
        return previous
            .filter(|c| c.message.contains(&format!("Secret {} ", target.name)))
            .cloned();
    };
    let status = if last.ok() { "True" } else { "False" };
    let last_transition_time = match previous {
        Some(previous) if previous.status == status => previous.last_transition_time.clone(),
        _ => Time(now),
    };
    Some(Condition {
        type_: CONNECTION_SECRET_READY.to_owned(),
        status: status.to_owned(),
        reason: last.reason().to_owned(),
        message: last.message(),
        observed_generation: bot.metadata.generation,
        last_transition_time,
    })
}

/// `status` with its `ConnectionSecretReady` condition replaced by [`condition`].
pub fn with_condition(
    mut status: crate::api::MeetingBotStatus,
    bot: &MeetingBot,
    last: Option<&Written>,
    now: Timestamp,
) -> crate::api::MeetingBotStatus {
    status
        .conditions
        .retain(|c| c.type_ != CONNECTION_SECRET_READY);
    status.conditions.extend(condition(bot, last, now));
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ConnectionSecretRef, MeetingBotSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn secret_owned_by(owner: Option<(&str, &str, bool)>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("conn".into()),
                owner_references: owner.map(|(kind, uid, controller)| {
                    vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: kind.into(),
                        name: "other".into(),
                        uid: uid.into(),
                        controller: Some(controller),
                        block_owner_deletion: None,
                    }]
                }),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn only_the_controller_by_uid_may_write() {
        assert_eq!(
            not_ours(&secret_owned_by(Some(("MeetingBot", "u1", true))), "u1"),
            None
        );
        let other = not_ours(&secret_owned_by(Some(("MeetingBot", "u2", true))), "u1").unwrap();
        assert!(other.contains("MeetingBot other"), "{other}");
        // Same uid, but only an owner, not the controller: not ours.
        assert!(not_ours(&secret_owned_by(Some(("MeetingBot", "u1", false))), "u1").is_some());
        assert!(
            not_ours(&secret_owned_by(Some(("Deployment", "u9", true))), "u1")
                .unwrap()
                .contains("Deployment other")
        );
        assert!(not_ours(&secret_owned_by(None), "u1").is_some());
    }

    fn bot(target: Option<&str>) -> MeetingBot {
        let mut spec =
            MeetingBotSpec::new("s", "https://meet.google.com/abc-defg-hij", "wss://x", "t");
        spec.write_connection_secret_to_ref =
            target.map(|name| ConnectionSecretRef { name: name.into() });
        let mut bot = MeetingBot::new("b", spec);
        bot.metadata.generation = Some(3);
        bot
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

        with_target.status = Some(crate::api::MeetingBotStatus {
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
        let elsewhere = bot(Some("elsewhere"));
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
