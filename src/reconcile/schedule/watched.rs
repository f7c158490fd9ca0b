//! A MeetingBot as the watch delivers it: decoded one by one, so that one
//! undecodable object cannot stop the others; and what of every object is
//! kept out of the cache.

use crate::api::MeetingBot;
use crate::api::condition::STALLED;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The annotations the operator reads: its own, under its API group.
const OWN_ANNOTATIONS: &str = "liveai.lemonslice.com/";

/// Removes what is read by nobody here, to keep it out of the cache:
/// managedFields, labels (a label selector is applied by the API server) and
/// every annotation but the operator's own (`kubectl apply`'s copy of the
/// manifest, and whatever a tenant pads its objects with: up to about
/// 256 KiB each, which a cache of whole objects would hold for every one).
/// No write sends a whole object back, and a change to them asks for no
/// reconcile.
pub(super) fn drop_unread(metadata: &mut ObjectMeta) {
    metadata.managed_fields = None;
    metadata.labels = None;
    if let Some(annotations) = &mut metadata.annotations {
        annotations.retain(|key, _| key.starts_with(OWN_ANNOTATIONS));
    }
}

/// A MeetingBot as the watch delivers it: decoded, or why it could not be.
/// Decoding each object on its own keeps one that slipped past admission (or
/// was written under an older schema) from failing the whole list.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every object is valid: boxing would cost each one an allocation"
)]
pub enum Watched {
    Valid(MeetingBot),
    Invalid {
        metadata: ObjectMeta,
        /// The field that failed, and why.
        problem: String,
        /// Whether status already reports this problem.
        reported: bool,
    },
}

impl<'de> Deserialize<'de> for Watched {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Kept as text and decoded straight into the typed object; only one
        // that does not decode is read again, for where it fails and for
        // what the operator needs of it (no JSON tree of padding either way).
        let raw = <Box<RawValue>>::deserialize(deserializer)?;
        let mut text = serde_json::Deserializer::from_str(raw.get());
        let problem = match serde_path_to_error::deserialize::<_, MeetingBot>(&mut text) {
            Ok(mut bot) => {
                drop_unread(&mut bot.metadata);
                return Ok(Watched::Valid(bot));
            }
            Err(error) => format!("{}: {}", error.path(), error.inner()),
        };
        let Readable {
            mut metadata,
            status,
        } = serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
        drop_unread(&mut metadata);
        let reported = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"] == STALLED && c["message"].as_str() == Some(&invalid_message(&problem))
            });
        Ok(Watched::Invalid {
            metadata,
            problem,
            reported,
        })
    }
}

/// What the operator reads of an object that does not decode.
#[derive(Deserialize)]
struct Readable {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    status: serde_json::Value,
}

/// The part of kube's `Resource` that a form of a MeetingBot shares with
/// MeetingBot itself: its kind, group, version, plural and scope.
macro_rules! a_form_of_meetingbot {
    () => {
        type DynamicType = ();
        type Scope = k8s_openapi::NamespaceResourceScope;

        fn kind(dt: &()) -> std::borrow::Cow<'_, str> {
            crate::api::MeetingBot::kind(dt)
        }
        fn group(dt: &()) -> std::borrow::Cow<'_, str> {
            crate::api::MeetingBot::group(dt)
        }
        fn version(dt: &()) -> std::borrow::Cow<'_, str> {
            crate::api::MeetingBot::version(dt)
        }
        fn plural(dt: &()) -> std::borrow::Cow<'_, str> {
            crate::api::MeetingBot::plural(dt)
        }
    };
}
pub(super) use a_form_of_meetingbot;

impl Resource for Watched {
    a_form_of_meetingbot!();

    fn meta(&self) -> &ObjectMeta {
        match self {
            Watched::Valid(bot) => &bot.metadata,
            Watched::Invalid { metadata, .. } => metadata,
        }
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Watched::Valid(bot) => &mut bot.metadata,
            Watched::Invalid { metadata, .. } => metadata,
        }
    }
}

/// What status and the Event say of an object the operator cannot decode.
pub fn invalid_message(problem: &str) -> String {
    format!(
        "the operator cannot read this MeetingBot ({problem}); nothing is joined or left for it until \
         the field is fixed. To delete it meanwhile without leave, remove its finalizer by hand"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::annotation;
    use serde_json::json;

    #[test]
    fn the_cache_keeps_only_the_operators_own_annotations_and_no_labels() {
        let padding = "x".repeat(200 * 1024);
        let object = json!({
            "apiVersion": "liveai.lemonslice.com/v1alpha1",
            "kind": "MeetingBot",
            "metadata": {
                "name": "standup",
                "namespace": "team",
                "labels": {"team": "a"},
                "annotations": {
                    "tenant.example.com/padding": padding,
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    (annotation::RECONCILE_REQUESTED_AT): "1",
                },
                "managedFields": [{"manager": "kubectl"}],
            },
            "spec": {
                "sessionId": "s1",
                "meetingUrl": "https://meet.google.com/abc-defg-hij",
                "livekitUrl": "wss://x.livekit.cloud",
                "broadcastTokenSecretRef": {"name": "t", "key": "token"},
            },
        });
        let Watched::Valid(bot) = serde_json::from_value(object).unwrap() else {
            panic!("a valid MeetingBot");
        };
        let annotations = bot.metadata.annotations.unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            [annotation::RECONCILE_REQUESTED_AT]
        );
        assert_eq!(bot.metadata.labels, None);
        assert_eq!(bot.metadata.managed_fields, None);
    }

    #[test]
    fn an_object_that_does_not_decode_names_its_field_and_keeps_its_name() {
        let object = |status: serde_json::Value| {
            json!({
                "metadata": {"name": "broken", "namespace": "team", "labels": {"team": "a"}},
                "spec": {"sessionId": 7},
                "status": status,
            })
        };
        let Watched::Invalid {
            metadata,
            problem,
            reported,
        } = serde_json::from_value(object(json!({}))).unwrap()
        else {
            panic!("an invalid MeetingBot");
        };
        assert_eq!(metadata.name.as_deref(), Some("broken"));
        assert_eq!(metadata.labels, None);
        assert!(problem.starts_with("spec.sessionId: "), "{problem}");
        assert!(!reported);
        let stalled =
            json!({"conditions": [{"type": STALLED, "message": invalid_message(&problem)}]});
        let Watched::Invalid { reported, .. } = serde_json::from_value(object(stalled)).unwrap()
        else {
            panic!("an invalid MeetingBot");
        };
        assert!(reported, "status already says so");
    }
}
