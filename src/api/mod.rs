//! The `MeetingBot` API (`liveai.lemonslice.com/v1alpha1`): spec, status and
//! the admission rules the API server enforces. Knows nothing of HTTP.
//! `spec` and `status` hold the resource (`conditions` how its conditions
//! are read and merged), `record` what the operator records
//! on it (read there, written by `record_patch`), `fingerprint` what makes a
//! bot rejoin, `platform` and `duration` how spec fields are read, `names`
//! every name users see on a MeetingBot.

mod conditions;
mod duration;
mod fingerprint;
mod names;
mod platform;
mod record;
mod record_patch;
mod spec;
mod status;

pub use duration::parse_go_duration;
pub use fingerprint::fnv1a;
pub use names::{API_KEY_FINALIZER_PREFIX, FINALIZER, annotation, condition, event, reason};
pub use platform::{InvalidMeetingUrl, MAX_MEETING_URL_LEN, Platform};
pub use record::{
    AdoptRequest, BotRecord, JoinAttempt, JoinedKey, LEGACY_RECORD_ANNOTATIONS, RecordCopies,
    RecordedBot, Unreadable,
};
pub use record_patch::{forgotten_annotations, joined_annotations};
pub use spec::{
    ApiKeySecretRef, BroadcastTokenSecretRef, ConnectionSecretRef, DeletionPolicy, MeetingBot,
    MeetingBotSpec, MeetingUrlSecretRef,
};
pub use status::{MeetingBotStatus, Phase};

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_committed_crd_matches_the_types() {
        let generated = serde_saphyr::to_string(&MeetingBot::crd()).unwrap();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/meetingbot.yaml");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            generated == committed,
            "crds/meetingbot.yaml is out of date with src/api: regenerate it with `make crds`"
        );
    }
}
