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

use super::{MANAGER, as_operator};
use crate::api::MeetingBot;
pub use crate::reconcile::decide::connection_secret::{Outcome, Written};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;

/// How often a write is tried when the Secret changes under it.
const ATTEMPTS: usize = 3;

/// Creates Secret `name` with `data`, owned by `bot`, or updates it when `bot`
/// is its controller; otherwise writes nothing.
pub async fn write(
    secrets: &Api<Secret>,
    bot: &MeetingBot,
    name: &str,
    data: BTreeMap<String, String>,
) -> Written {
    let outcome = match write_outcome(secrets, bot, name, data).await {
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
                field_manager: Some(MANAGER.into()),
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
        match secrets
            .patch(name, &as_operator(), &Patch::Merge(&patch))
            .await
        {
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
