//! A MeetingBot as the watch delivers it: decoded one by one, so that one
//! undecodable object cannot stop the others; and what of every object is
//! kept out of the cache.

use crate::api::condition::STALLED;
use crate::api::{MeetingBot, MeetingBotSpec, MeetingBotStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ManagedFieldsEntry, ObjectMeta, OwnerReference, Time,
};
use kube::Resource;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt;

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
        let problem = match serde_path_to_error::deserialize::<_, Incoming>(&mut text) {
            Ok(Incoming {
                metadata,
                spec,
                status,
            }) => {
                return Ok(Watched::Valid(MeetingBot {
                    metadata,
                    spec,
                    status,
                }));
            }
            Err(error) => format!("{}: {}", error.path(), error.inner()),
        };
        let Readable { metadata, status } =
            serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
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

/// A MeetingBot as its text is decoded: as `MeetingBot`, but what
/// `drop_unread` would drop is skipped in the text instead of decoded (the
/// managed fields alone are a tree of a few dozen maps).
#[derive(Deserialize)]
struct Incoming {
    #[serde(with = "ReadMeta")]
    metadata: ObjectMeta,
    spec: MeetingBotSpec,
    #[serde(default)]
    status: Option<MeetingBotStatus>,
}

/// What the operator reads of an object that does not decode.
#[derive(Deserialize)]
struct Readable {
    #[serde(default, with = "ReadMeta")]
    metadata: ObjectMeta,
    #[serde(default)]
    status: serde_json::Value,
}

/// `ObjectMeta` as it is decoded here: every field but those `drop_unread`
/// drops, which are skipped. Naming each field keeps a field that a newer
/// `ObjectMeta` adds from being lost unnoticed: this stops compiling.
#[derive(Deserialize)]
#[serde(remote = "ObjectMeta", rename_all = "camelCase")]
struct ReadMeta {
    #[serde(default, deserialize_with = "own_annotations")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    creation_timestamp: Option<Time>,
    #[serde(default)]
    deletion_grace_period_seconds: Option<i64>,
    #[serde(default)]
    deletion_timestamp: Option<Time>,
    #[serde(default)]
    finalizers: Option<Vec<String>>,
    #[serde(default)]
    generate_name: Option<String>,
    #[serde(default)]
    generation: Option<i64>,
    #[serde(skip)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip)]
    managed_fields: Option<Vec<ManagedFieldsEntry>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    owner_references: Option<Vec<OwnerReference>>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    self_link: Option<String>,
    #[serde(default)]
    uid: Option<String>,
}

/// The operator's own annotations; any other value is skipped unread.
fn own_annotations<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Own;
    impl<'de> Visitor<'de> for Own {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of annotations")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
            inner.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut own = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if key.starts_with(OWN_ANNOTATIONS) {
                    own.insert(key, map.next_value()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(own))
        }
    }
    deserializer.deserialize_option(Own)
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
    fn skipping_unread_metadata_in_the_text_decodes_as_dropping_it_after() {
        let mut bot = MeetingBot::new("standup", crate::api::MeetingBotSpec::example());
        // Whole seconds: metadata times are written without a fraction.
        let now = Time(jiff::Timestamp::from_second(1_800_000_000).unwrap());
        bot.metadata = ObjectMeta {
            annotations: Some(BTreeMap::from([
                (annotation::RECONCILE_REQUESTED_AT.into(), "1".into()),
                ("tenant.example.com/note".into(), "\"quoted\" {}".into()),
            ])),
            creation_timestamp: Some(now.clone()),
            deletion_grace_period_seconds: Some(0),
            deletion_timestamp: Some(now),
            finalizers: Some(vec![crate::api::FINALIZER.into()]),
            generate_name: Some("stand".into()),
            generation: Some(3),
            labels: Some(BTreeMap::from([("team".into(), "a".into())])),
            managed_fields: Some(vec![ManagedFieldsEntry {
                manager: Some("kubectl".into()),
                ..ManagedFieldsEntry::default()
            }]),
            name: Some("standup".into()),
            namespace: Some("team".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: "u0".into(),
                ..OwnerReference::default()
            }]),
            resource_version: Some("42".into()),
            self_link: Some("/apis/x".into()),
            uid: Some("u1".into()),
        };
        let text = serde_json::to_string(&bot).unwrap();
        let Watched::Valid(read) = serde_json::from_str(&text).unwrap() else {
            panic!("a valid MeetingBot");
        };
        drop_unread(&mut bot.metadata);
        assert_eq!(read.metadata, bot.metadata);
        assert_eq!(read.spec, bot.spec);
        assert_eq!(read.status, bot.status);
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
