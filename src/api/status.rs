//! What the operator has observed and done for a MeetingBot, as its status shows it.

use super::{JoinedKey, Platform};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator has observed and done for a MeetingBot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingBotStatus {
    /// Where the MeetingBot is in its life: Pending, Scheduled, WaitingForSession, Joining, Joined, Leaving, Suspended, Completed, SessionEnded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The meeting platform, derived from `spec.meetingUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Id of the avatar in the meeting, as LemonSlice returned it; leave needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_bot_id: Option<String>,
    /// WebSocket URL on which the agent receives the meeting's audio, its
    /// query string (the token) shown as `[redacted]`; the full URL is in the
    /// Secret named by `spec.writeConnectionSecretToRef`. Only an operator
    /// run with `--redact-websocket-token=false` writes the token here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_url: Option<String>,
    /// The session the current avatar joined under (leave uses it, even after `spec.sessionId` changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// When the current avatar joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<Time>,
    /// UID of the MeetingBot that made the current avatar join: the record is
    /// this object's only when it equals `metadata.uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_uid: Option<String>,
    /// Fingerprint of the spec fields the current avatar joined with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_spec: Option<String>,
    /// The API key the current avatar joined with. Leave and session reads
    /// use it, even after `spec.apiKeySecretRef` changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_api_key: Option<JoinedKey>,
    /// The operator install (its `--install-id`) that acts on this
    /// MeetingBot: it alone calls LemonSlice for it; another install whose
    /// scope holds the object leaves it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    /// The `metadata.generation` that this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled, in the standard Kubernetes condition shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The value of the annotation `liveai.lemonslice.com/reconcile-requested-at`
    /// that the operator last handled (as Flux's resources do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// Where a MeetingBot is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Waiting for something before joining: a Secret, or a retry after a vendor error.
    Pending,
    /// A join call is in flight, or its outcome is being recorded.
    Joining,
    /// The avatar is in the meeting.
    Joined,
    /// The avatar is being taken out of the meeting.
    Leaving,
    /// The operator stopped trying; the Stalled condition says why and what to do.
    Failed,
    /// The session is still starting (QUEUED); the avatar joins once it is ACTIVE.
    WaitingForSession,
    /// The session is over (COMPLETED, TIMED_OUT, FAILED), and with it the avatar's presence.
    SessionEnded,
    /// Waiting for `spec.joinAt`.
    Scheduled,
    /// `spec.suspend` is true: the avatar is out of the meeting.
    Suspended,
    /// The avatar left after `spec.maxDuration`; it does not rejoin.
    Completed,
}
