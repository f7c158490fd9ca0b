//! The MeetingBot resource and its spec: what users declare, with the
//! admission rules the API server enforces.

use super::{InvalidMeetingUrl, MeetingBotStatus, Platform, parse_go_duration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A LemonSlice avatar in a Zoom, Google Meet, Microsoft Teams or Webex meeting.
///
/// While the MeetingBot exists, the avatar of the LemonSlice session `sessionId`
/// is in the meeting at `meetingUrl`; deleting the MeetingBot makes it leave.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[allow(
    clippy::duplicated_attributes,
    reason = "every printcolumn names its own type_"
)]
#[kube(
    group = "liveai.lemonslice.com",
    version = "v1alpha1",
    kind = "MeetingBot",
    plural = "meetingbots",
    singular = "meetingbot",
    shortname = "mbot",
    category = "lemonslice",
    namespaced,
    status = "MeetingBotStatus",
    doc = "A LemonSlice avatar in a Zoom, Google Meet, Microsoft Teams or Webex meeting. While the \
           MeetingBot exists, the avatar of the LemonSlice session spec.sessionId is in the meeting \
           at spec.meetingUrl; deleting the MeetingBot makes it leave (spec.deletionPolicy). \
           status.phase and the Ready, Reconciling and Stalled conditions say where it is and why; \
           `kubectl get mbot -o wide` shows them.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        description = "The Ready condition's reason",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Platform", type_ = "string", json_path = ".status.platform"),
    printcolumn(name = "Bot ID", type_ = "string", json_path = ".status.meetingBotId"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Session",
        type_ = "string",
        priority = 1,
        json_path = ".spec.sessionId"
    ),
    printcolumn(
        name = "Joined",
        type_ = "date",
        priority = 1,
        json_path = ".status.joinedAt"
    ),
    printcolumn(
        name = "Install",
        type_ = "string",
        priority = 1,
        description = "The operator install that acts on it",
        json_path = ".status.install"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        priority = 1,
        description = "The Ready condition's message",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    selectable = ".status.phase",
    selectable = ".status.platform",
    selectable = ".spec.sessionId",
    selectable = ".status.install"
)]
#[x_kube(validation = Rule::new("has(self.meetingUrl) != has(self.meetingUrlSecretRef)")
    .message("exactly one of spec.meetingUrl and spec.meetingUrlSecretRef must be set"))]
#[serde(rename_all = "camelCase")]
pub struct MeetingBotSpec {
    /// The active LemonSlice session whose avatar joins the meeting, for example
    /// `livekit-3f7c2b91-9e1f-4a6a-8e9d-2c7c3e7d9b5a`. 1 to 256 characters of
    /// letters, digits, `.`, `_`, `:` and `-`, starting with a letter or digit.
    #[schemars(length(min = 1, max = 256), pattern(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"))]
    pub session_id: String,

    /// HTTPS URL of the meeting to join, on Zoom (`zoom.us`, `*.zoom.us`, `zoom.com`),
    /// Google Meet (`meet.google.com`), Microsoft Teams (`teams.microsoft.com`,
    /// `teams.live.com`) or Webex (`*.webex.com`). At most 2048 characters, without
    /// a user name or password before the host. A URL that carries a password is
    /// better kept in a Secret: see `meetingUrlSecretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(
        validation = Rule::new("self.startsWith('https://') && isURL(self)").message("must be an https URL"),
        validation = Rule::new("!self.matches('^https://[^/?#]*@')")
            .message("must not carry a user name or password before the host"),
        validation = Rule::new(MEETING_HOST_RULE).message(
            "host must be a supported meeting platform: zoom.us or *.zoom.us, zoom.com, meet.google.com, \
             teams.microsoft.com, teams.live.com, or *.webex.com"
        ),
    )]
    pub meeting_url: Option<String>,

    /// The meeting URL from a Secret in the MeetingBot's namespace, instead of
    /// `meetingUrl`, for URLs that carry a password. The same platform rules apply
    /// when the operator reads it. A new URL in the Secret alone does not make the avatar rejoin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_url_secret_ref: Option<MeetingUrlSecretRef>,

    /// `wss://` URL of the session's LiveKit server, for example `wss://lemonslice-pb123.livekit.cloud`.
    #[schemars(length(min = 7, max = 2048), pattern(r"^wss://[^\s/?#@]+([/?#]\S*)?$"))]
    pub livekit_url: String,

    /// The Secret, in the MeetingBot's namespace, holding the LiveKit broadcast
    /// token (a JWT with room permissions) that publishes the avatar's video.
    pub broadcast_token_secret_ref: BroadcastTokenSecretRef,

    /// Display name of the avatar in the meeting: 1 to 100 characters, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), pattern(r"^[^\x00-\x1f\x7f]+$"))]
    pub bot_name: Option<String>,

    /// A Secret, in the MeetingBot's namespace, holding the LemonSlice API key to use
    /// for this bot. Without it the operator's own API key is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<ApiKeySecretRef>,

    /// What deleting the MeetingBot does to the avatar: `Leave` (default) makes it
    /// leave the meeting; `Orphan` lets the resource go without calling leave.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Join no earlier than this time (RFC 3339 with `T`, seconds and a zone,
    /// e.g. `2026-12-01T09:00:00Z`), before the year 9000. Until then the phase is Scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "join_at_schema")]
    #[x_kube(validation = Rule::new(
        "timestamp(self) >= timestamp('1970-01-01T00:00:00Z') && timestamp(self) < timestamp('9000-01-01T00:00:00Z')"
    ).message("must be a time between 1970 and the year 9000"))]
    pub join_at: Option<Time>,

    /// Leave once the avatar has been in the meeting this long, e.g. `90m` or
    /// `1h30m`, from 1s to 2562047h; the phase becomes Completed and the avatar does not rejoin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 64),
        pattern(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
    )]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s')")
        .message("must be at least 1s and at most 2562047h"))]
    pub max_duration: Option<String>,

    /// True takes the avatar out of the meeting and keeps it out (phase
    /// Suspended); back to false, it joins again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// A Secret in the MeetingBot's namespace that the operator writes, with the
    /// keys `websocketUrl` and `meetingBotId`, for the agent's pod to mount. It is
    /// owned by the MeetingBot and goes away with it. The operator needs the Helm
    /// value `connectionSecrets.enabled` (permission to write Secrets) for this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<ConnectionSecretRef>,
}

impl MeetingBotSpec {
    /// A spec with the required fields, its token under the key `token` of
    /// Secret `broadcast_token_secret`, and every option at its default.
    pub fn new(
        session_id: &str,
        meeting_url: &str,
        livekit_url: &str,
        broadcast_token_secret: &str,
    ) -> Self {
        MeetingBotSpec {
            session_id: session_id.into(),
            meeting_url: Some(meeting_url.into()),
            meeting_url_secret_ref: None,
            livekit_url: livekit_url.into(),
            broadcast_token_secret_ref: BroadcastTokenSecretRef {
                name: broadcast_token_secret.into(),
                key: BroadcastTokenSecretRef::default_key(),
            },
            bot_name: None,
            api_key_secret_ref: None,
            deletion_policy: DeletionPolicy::Leave,
            join_at: None,
            max_duration: None,
            suspend: false,
            write_connection_secret_to_ref: None,
        }
    }

    /// A valid spec (session `s1`, a Google Meet), for the tests.
    #[cfg(test)]
    pub(crate) fn example() -> MeetingBotSpec {
        MeetingBotSpec::new(
            "s1",
            "https://meet.google.com/abc-defg-hij",
            "wss://x.livekit.cloud",
            "t",
        )
    }
}

/// `spec.joinAt`'s schema: only the RFC 3339 forms the operator's time
/// library reads (the API server's `date-time` also takes forms without a
/// zone, which no controller could place in time).
fn join_at_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "maxLength": 35,
        "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$",
    })
}

/// A Secret's name as the API server accepts it (a DNS subdomain).
const SECRET_NAME: &str = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
/// A key of a Secret's data as the API server accepts it.
const SECRET_KEY: &str = r"^[-._a-zA-Z0-9]+$";

/// A key of a Secret, in the MeetingBot's own namespace, holding the meeting URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct MeetingUrlSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_NAME))]
    pub name: String,
    /// Key in the Secret's data that holds the meeting URL.
    #[serde(default = "MeetingUrlSecretRef::default_key")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY))]
    pub key: String,
}

impl MeetingUrlSecretRef {
    fn default_key() -> String {
        "meetingUrl".into()
    }
}

/// The Secret that receives the bot's connection details.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ConnectionSecretRef {
    /// Name of the Secret, in the MeetingBot's namespace.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_NAME))]
    pub name: String,
}

/// CEL rule on `spec.meetingUrl`: right after `https://` comes a platform's
/// host — exactly its domain or, where allowed, a subdomain — and then a port
/// (at most 65535, as a URL parser reads it), a path, a query or the end. One regular expression keeps the rule's cost
/// within the API server's budget; `api::Platform` holds the same rules in Rust.
const MEETING_HOST_RULE: &str = r"self.matches('^(?i)https://((zoom\\.us|zoom\\.com|meet\\.google\\.com|teams\\.microsoft\\.com|teams\\.live\\.com)|([a-z0-9-]+\\.)+(zoom\\.us|webex\\.com))(:0*([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?#]|$)')";

/// A key of a Secret in the MeetingBot's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct BroadcastTokenSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_NAME))]
    pub name: String,
    /// Key in the Secret's data that holds the broadcast token.
    #[serde(default = "BroadcastTokenSecretRef::default_key")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY))]
    pub key: String,
}

impl BroadcastTokenSecretRef {
    fn default_key() -> String {
        "token".into()
    }
}

/// A key of a Secret in the MeetingBot's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ApiKeySecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_NAME))]
    pub name: String,
    /// Key in the Secret's data that holds the LemonSlice API key.
    #[serde(default = "ApiKeySecretRef::default_key")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY))]
    pub key: String,
}

impl ApiKeySecretRef {
    fn default_key() -> String {
        "apiKey".into()
    }
}

/// What deleting a MeetingBot does to its avatar.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Call leave, so that the avatar leaves the meeting.
    #[default]
    Leave,
    /// Let the resource go without calling leave; the avatar stays until the session ends.
    Orphan,
}

impl MeetingBot {
    /// The platform of the spec's meeting URL; `None` when the URL is in a Secret.
    pub fn platform(&self) -> Option<Result<Platform, InvalidMeetingUrl>> {
        self.spec
            .meeting_url
            .as_deref()
            .map(Platform::from_meeting_url)
    }

    /// The names of the Secrets (of its own namespace) this MeetingBot's spec reads.
    pub fn referenced_secrets(&self) -> impl Iterator<Item = &str> {
        let spec = &self.spec;
        std::iter::once(spec.broadcast_token_secret_ref.name.as_str())
            .chain(spec.api_key_secret_ref.as_ref().map(|r| r.name.as_str()))
            .chain(
                spec.meeting_url_secret_ref
                    .as_ref()
                    .map(|r| r.name.as_str()),
            )
    }

    /// `spec.maxDuration`, parsed; `Err` names what is wrong with it.
    pub fn max_duration(&self) -> Option<Result<std::time::Duration, String>> {
        let text = self.spec.max_duration.as_deref()?;
        // The CRD's rule: at least a second, so that no leave is due before
        // the join's record is written.
        Some(parse_go_duration(text).and_then(|max| {
            if max < std::time::Duration::from_secs(1) {
                Err(format!("{text:?} must be at least 1s"))
            } else {
                Ok(max)
            }
        }))
    }
}
