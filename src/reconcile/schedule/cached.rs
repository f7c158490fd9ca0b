//! A MeetingBot as kube's cache keeps it, between deliveries: its metadata
//! typed (kube's store, the triggers and the waiting room read it), and its
//! own annotations, spec and status as compact JSON text, decoded into a
//! `Watched` whenever a reconcile or an index reads them.
//!
//! The typed object costs about 3.4 KB of heap per MeetingBot: 1 KB of
//! inline fields (most of them of fields no MeetingBot sets), a B-tree node
//! for one annotation, and a dozen small strings. This form costs about
//! 1.9 KB, and a decode about 6 µs (measured on 5000 copies of a joined
//! MeetingBot). The cache holds every MeetingBot for as long as it exists,
//! while decoded copies live only as long as one reconcile or one delivery.

use super::watched::{Watched, a_form_of_meetingbot};
use crate::api::{MeetingBot, MeetingBotSpec, MeetingBotStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A watched MeetingBot in the form the cache keeps.
#[derive(Clone, Debug)]
pub struct Cached {
    /// For a valid object, without its annotations: they are in its text.
    metadata: ObjectMeta,
    form: Form,
}

#[derive(Clone, Debug)]
enum Form {
    /// `Rest`, as JSON.
    Valid(Box<str>),
    Invalid {
        problem: String,
        reported: bool,
    },
}

/// What of a valid MeetingBot is kept as text.
#[derive(Serialize, Deserialize)]
struct Rest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    spec: MeetingBotSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<MeetingBotStatus>,
}

impl From<Watched> for Cached {
    fn from(watched: Watched) -> Cached {
        match watched {
            Watched::Valid(MeetingBot {
                mut metadata,
                spec,
                status,
            }) => {
                let rest = Rest {
                    annotations: metadata.annotations.take(),
                    spec,
                    status,
                };
                let text = serde_json::to_string(&rest).expect("a MeetingBot encodes as JSON");
                Cached {
                    metadata,
                    form: Form::Valid(text.into_boxed_str()),
                }
            }
            Watched::Invalid {
                metadata,
                problem,
                reported,
            } => Cached {
                metadata,
                form: Form::Invalid { problem, reported },
            },
        }
    }
}

impl Cached {
    /// The object as decisions read it.
    pub fn watched(&self) -> Watched {
        match &self.form {
            Form::Valid(text) => Watched::Valid(self.decode(text)),
            Form::Invalid { problem, reported } => Watched::Invalid {
                metadata: self.metadata.clone(),
                problem: problem.clone(),
                reported: *reported,
            },
        }
    }

    /// The MeetingBot, unless it does not decode.
    pub fn bot(&self) -> Option<MeetingBot> {
        match &self.form {
            Form::Valid(text) => Some(self.decode(text)),
            Form::Invalid { .. } => None,
        }
    }

    fn decode(&self, text: &str) -> MeetingBot {
        // Written by `from` above from the same types: it decodes.
        let Rest {
            annotations,
            spec,
            status,
        } = serde_json::from_str(text).expect("a cached MeetingBot decodes");
        MeetingBot {
            metadata: ObjectMeta {
                annotations,
                ..self.metadata.clone()
            },
            spec,
            status,
        }
    }
}

impl<'de> Deserialize<'de> for Cached {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Watched::deserialize(deserializer).map(Cached::from)
    }
}

impl Resource for Cached {
    a_form_of_meetingbot!();

    /// Without the annotations of a valid object: read them from `watched`.
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        ApiKeySecretRef, ConnectionSecretRef, DeletionPolicy, JoinedKey, MeetingBotSpec,
        RecordedBot, joined_annotations,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use serde_json::json;

    fn every_field_set() -> MeetingBot {
        let mut spec = MeetingBotSpec::example();
        spec.bot_name = Some("Avatar".into());
        let spec_key = Some(ApiKeySecretRef {
            name: "key".into(),
            key: "apiKey".into(),
        });
        spec.api_key_secret_ref = spec_key.clone();
        spec.deletion_policy = DeletionPolicy::Orphan;
        // A fraction of a second too: the text keeps whatever the typed value holds.
        spec.join_at = Some(Time(jiff::Timestamp::now()));
        spec.max_duration = Some("1h30m".into());
        spec.suspend = true;
        spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
            name: "connection".into(),
        });
        let mut bot = MeetingBot::new("standup", spec);
        bot.metadata.namespace = Some("team".into());
        bot.metadata.uid = Some("u1".into());
        bot.metadata.resource_version = Some("42".into());
        bot.metadata.generation = Some(3);
        bot.metadata.finalizers = Some(vec![crate::api::FINALIZER.into()]);
        bot.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        let recorded = RecordedBot {
            meeting_bot_id: "bot-1".into(),
            session_id: "s1".into(),
            joined_spec: Some("ec82".into()),
            joined_at: Some(jiff::Timestamp::from_second(1_800_000_000).unwrap()),
            uid: Some("u1".into()),
            api_key: Some(JoinedKey {
                secret_ref: spec_key.clone(),
            }),
            install: Some("default".into()),
        };
        bot.metadata.annotations = Some(
            joined_annotations(&recorded)
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value?)))
                .chain([(
                    crate::api::annotation::SKIP_LEAVE.to_owned(),
                    "true".to_owned(),
                )])
                .collect(),
        );
        let mut status: MeetingBotStatus = serde_json::from_value(json!({
            "phase": "Joined", "platform": "GoogleMeet", "meetingBotId": "bot-1",
            "websocketUrl": "wss://x/y?[redacted]", "sessionId": "s1",
            "joinedAt": "2026-12-08T03:07:05Z", "recordUid": "u1", "joinedSpec": "ec82",
            "joinedApiKey": {"name": "key", "key": "apiKey"}, "install": "default",
            "observedGeneration": 3, "lastHandledReconcileAt": "now",
        }))
        .unwrap();
        status.conditions = vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Joined".into(),
            message: "the avatar is in the meeting".into(),
            observed_generation: Some(3),
            last_transition_time: Time(jiff::Timestamp::from_second(1_800_000_000).unwrap()),
        }];
        bot.status = Some(status);
        bot
    }

    #[test]
    fn a_cached_meetingbot_reads_back_as_it_was_delivered() {
        for bot in [
            every_field_set(),
            MeetingBot::new("b", MeetingBotSpec::example()),
        ] {
            let cached = Cached::from(Watched::Valid(bot.clone()));
            let read = cached.bot().expect("a valid MeetingBot");
            assert_eq!(read.metadata, bot.metadata);
            assert_eq!(
                serde_json::to_value(&read).unwrap(),
                serde_json::to_value(&bot).unwrap()
            );
            assert_eq!(cached.meta().annotations, None, "kept in the text only");
            assert_eq!(cached.meta().uid, bot.metadata.uid);
        }
    }

    #[test]
    fn an_invalid_object_reads_back_with_its_problem() {
        let metadata = ObjectMeta {
            name: Some("broken".into()),
            ..ObjectMeta::default()
        };
        let cached = Cached::from(Watched::Invalid {
            metadata: metadata.clone(),
            problem: "spec.sessionId: invalid type".into(),
            reported: true,
        });
        let Watched::Invalid {
            metadata: read,
            problem,
            reported,
        } = cached.watched()
        else {
            panic!("an invalid MeetingBot");
        };
        assert_eq!(
            (read, problem.as_str(), reported),
            (metadata, "spec.sessionId: invalid type", true)
        );
        assert!(cached.bot().is_none());
    }
}
