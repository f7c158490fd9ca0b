//! Every word of the operator that users see on a MeetingBot: annotation keys,
//! the finalizer, condition types, condition reasons and Event reasons. They
//! are defined here only, each group with the list of its names, which a test
//! holds against the README's tables.

/// The finalizer that makes deletion wait for the bot to leave.
pub const FINALIZER: &str = "liveai.lemonslice.com/leave";
/// Followed by a MeetingBot's UID: the finalizer that keeps a per-bot API key
/// Secret while a bot that joined with the key may still need it to leave.
pub const API_KEY_FINALIZER_PREFIX: &str = "liveai.lemonslice.com/key-for-";

/// Declares a module of `&str` constants, and `ALL`, the list of them: a name
/// cannot be added without being listed.
macro_rules! names {
    ($(#[$group_doc:meta])* $group:ident { $($(#[$doc:meta])* $name:ident = $value:expr;)* }) => {
        $(#[$group_doc])*
        pub mod $group {
            $($(#[$doc])* pub const $name: &str = $value;)*
            /// Every name of this group.
            pub const ALL: &[&str] = &[$($name),*];
        }
    };
}

names! {
    /// Annotations, all under the API group.
    annotation {
        /// The operator's record of the bot it put in the meeting (JSON, written
        /// whole): its id, session, when it joined, the spec and API key it
        /// joined with, and the UID of the MeetingBot that made it join.
        RECORD = "liveai.lemonslice.com/record";
        /// A join call began and its outcome has not been recorded (JSON).
        JOIN_IN_FLIGHT = "liveai.lemonslice.com/join-in-flight";
        /// Set by users to a new value to allow one more join after an unknown outcome.
        RETRY_JOIN = "liveai.lemonslice.com/retry-join";
        /// Set by users to `"true"` to forget the bot without calling leave.
        SKIP_LEAVE = "liveai.lemonslice.com/skip-leave";
        /// Set by users (any new value) to request a reconcile; echoed into status.
        RECONCILE_REQUESTED_AT = "liveai.lemonslice.com/reconcile-requested-at";
        /// Fingerprint of the spec whose bot left after `spec.maxDuration`: that
        /// spec does not join again.
        COMPLETED_SPEC = "liveai.lemonslice.com/completed-spec";
        /// Set by users (`kubectl mbot adopt`) to a bot id, or to JSON with
        /// `meetingBotId` and `sessionId`: record that bot, which is in the
        /// meeting, as this object's. Honoured only while no bot is recorded.
        ADOPT = "liveai.lemonslice.com/adopt";
        /// Set by users to the UID of a foreign record to make it this object's own.
        ADOPT_RECORD = "liveai.lemonslice.com/adopt-record";
        /// Set by users to the UID of a foreign record to drop it (no leave: the
        /// bot belongs to the other object) and join afresh.
        DISCARD_RECORD = "liveai.lemonslice.com/discard-record";
    }
}

names! {
    /// Condition types of the MeetingBot status.
    condition {
        /// True when the MeetingBot is where its spec wants it.
        READY = "Ready";
        /// Present only while true: the operator is making progress (kstatus).
        RECONCILING = "Reconciling";
        /// Present only while true: stuck until a person acts (kstatus).
        STALLED = "Stalled";
        /// Whether the Secret of `spec.writeConnectionSecretToRef` holds the bot's details.
        CONNECTION_SECRET_READY = "ConnectionSecretReady";
    }
}

names! {
    /// Condition reasons (CamelCase): what the operator decided, what a vendor
    /// call met, how a reconcile failed, and what became of the connection Secret.
    reason {
        /// The avatar is in the meeting.
        JOINED = "Joined";
        /// The bot is leaving, or its leave failed in a way a retry can cure.
        LEAVING = "Leaving";
        /// A referenced Secret does not exist.
        SECRET_NOT_FOUND = "SecretNotFound";
        /// A referenced Secret lacks the key, or its value is empty or not UTF-8.
        SECRET_KEY_NOT_FOUND = "SecretKeyNotFound";
        /// The meeting URL (in the spec or a Secret) is not one the operator may join.
        INVALID_MEETING_URL = "InvalidMeetingUrl";
        /// A join was sent and its answer never came: a bot may be in the meeting.
        JOIN_OUTCOME_UNKNOWN = "JoinOutcomeUnknown";
        /// LemonSlice refused the leave, or its API key Secret is gone.
        LEAVE_FAILED = "LeaveFailed";
        /// The session is still QUEUED.
        SESSION_QUEUED = "SessionQueued";
        /// The session is over: COMPLETED.
        SESSION_COMPLETED = "SessionCompleted";
        /// The session is over: TIMED_OUT.
        SESSION_TIMED_OUT = "SessionTimedOut";
        /// The session is over: FAILED.
        SESSION_FAILED = "SessionFailed";
        /// LemonSlice answered 404 for the session (or bot); also a session over.
        SESSION_NOT_FOUND = "SessionNotFound";
        /// Waiting for `spec.joinAt`.
        SCHEDULED = "Scheduled";
        /// `spec.suspend` keeps the avatar out.
        SUSPENDED = "Suspended";
        /// The avatar left after `spec.maxDuration`.
        COMPLETED = "Completed";
        /// The spec (or the whole object) cannot be decoded or holds a bad value.
        INVALID_SPEC = "InvalidSpec";
        /// The bot record names another MeetingBot's UID (a copy or a restore).
        FOREIGN_RECORD = "ForeignRecord";
        /// The record, or an adopt request, names a bot that another
        /// MeetingBot's status records.
        ADOPTION_CONFLICT = "AdoptionConflict";
        /// The record's copies (annotation and status) name different bots,
        /// and neither is provably the operator's latest.
        RECORD_CONFLICT = "RecordConflict";
        /// This install just claimed the MeetingBot: it acts on it, and no other.
        CLAIMED = "Claimed";
        /// The MeetingBot left the scope of the install that acted on it,
        /// which let it go; no install acts on it until one whose scope holds
        /// it takes it over.
        LEFT_SCOPE = "LeftScope";

        /// A vendor call's connection failed before the request was sent.
        CONNECT_FAILED = "ConnectFailed";
        /// LemonSlice answered 400 or 422: the request was malformed.
        INVALID_REQUEST = "InvalidRequest";
        /// LemonSlice answered 401 or 403: the API key was refused.
        UNAUTHORIZED = "Unauthorized";
        /// LemonSlice answered 409: the session's state does not allow the call.
        SESSION_CONFLICT = "SessionConflict";
        /// LemonSlice answered 429.
        RATE_LIMITED = "RateLimited";
        /// LemonSlice answered 503.
        VENDOR_UNAVAILABLE = "VendorUnavailable";
        /// LemonSlice answered another 5xx, or an unexpected status.
        VENDOR_ERROR = "VendorError";
        /// A vendor call was sent and no usable answer came back (also: a 404
        /// that is not in LemonSlice's error shape, such as a proxy's page).
        NO_ANSWER = "NoAnswer";
        /// A vendor call was answered with a redirect, which is not followed.
        REDIRECTED = "Redirected";

        /// A reconcile failed: the API server answered 401 or 403 (RBAC).
        KUBERNETES_FORBIDDEN = "KubernetesForbidden";
        /// A reconcile failed: the API server refused a write (400 or 422).
        KUBERNETES_WRITE_REFUSED = "KubernetesWriteRefused";
        /// A reconcile failed: the API server answered 404.
        KUBERNETES_NOT_FOUND = "KubernetesNotFound";
        /// A reconcile failed on another Kubernetes API error.
        KUBERNETES_ERROR = "KubernetesError";
        /// A reconcile failed: the MeetingBot lacks something every object has.
        INVALID_OBJECT = "InvalidObject";
        /// A reconcile failed on the operator's own configuration or files.
        OPERATOR_CONFIG_ERROR = "OperatorConfigError";
        /// A reconcile failed in the operator's HTTP client.
        HTTP_CLIENT_ERROR = "HttpClientError";

        /// The connection Secret was created or updated.
        CONNECTION_SECRET_WRITTEN = "ConnectionSecretWritten";
        /// A Secret of that name exists and this MeetingBot is not its controller.
        CONNECTION_SECRET_NOT_OWNED = "ConnectionSecretNotOwned";
        /// The connection Secret's write failed; the bot is in the meeting either way.
        CONNECTION_SECRET_FAILED = "ConnectionSecretFailed";
        /// The connection Secret was not written: the join's answer carried no
        /// websocket URL (the bot is in the meeting and recorded all the same).
        WEBSOCKET_URL_MISSING = "WebsocketUrlMissing";
    }
}

names! {
    /// Event reasons. Some Events carry the reason of the condition they
    /// accompany, and are listed here under that name.
    event {
        /// Normal: the avatar joined the meeting.
        JOINED = "Joined";
        /// Normal: the avatar left the meeting.
        LEFT = "Left";
        /// Normal: the spec changed, so the bot leaves and a new one joins.
        REJOINING = "Rejoining";
        /// Normal: the session of a joined bot is over.
        SESSION_ENDED = "SessionEnded";
        /// Normal: `spec.suspend` took the avatar out.
        SUSPENDED = "Suspended";
        /// Normal: the avatar left after `spec.maxDuration`.
        COMPLETED = "Completed";
        /// Warning: a join (or the session read before it) failed.
        JOIN_FAILED = "JoinFailed";
        /// Warning: a leave failed.
        LEAVE_FAILED = "LeaveFailed";
        /// Warning: a join's outcome was never learned.
        JOIN_OUTCOME_UNKNOWN = "JoinOutcomeUnknown";
        /// Normal: the session of a join whose outcome was never learned
        /// ended, taking any bot of it out; the join's record was cleared.
        UNKNOWN_JOIN_ENDED = "UnknownJoinEnded";
        /// Warning: the bot record names another MeetingBot's UID.
        FOREIGN_RECORD = "ForeignRecord";
        /// Warning: the record or an adopt request names a bot that another MeetingBot records.
        ADOPTION_CONFLICT = super::reason::ADOPTION_CONFLICT;
        /// Warning: the record's copies name different bots.
        RECORD_CONFLICT = super::reason::RECORD_CONFLICT;
        /// Warning: another operator install acts on the MeetingBot, so this one
        /// makes no call and no write for it.
        OTHER_INSTALL = "OtherInstall";
        /// Normal: the MeetingBot left this install's scope, which let it go.
        LEFT_SCOPE = super::reason::LEFT_SCOPE;
        /// Warning: the object cannot be decoded.
        INVALID_SPEC = super::reason::INVALID_SPEC;
        /// Warning: the connection Secret belongs to someone else.
        CONNECTION_SECRET_NOT_OWNED = super::reason::CONNECTION_SECRET_NOT_OWNED;
        /// Warning: the connection Secret could not be written.
        CONNECTION_SECRET_FAILED = super::reason::CONNECTION_SECRET_FAILED;
        /// Warning: a reconcile failed with the reason of this name.
        KUBERNETES_FORBIDDEN = super::reason::KUBERNETES_FORBIDDEN;
        /// Warning: a reconcile failed with the reason of this name.
        KUBERNETES_WRITE_REFUSED = super::reason::KUBERNETES_WRITE_REFUSED;
        /// Warning: a reconcile failed with the reason of this name.
        KUBERNETES_NOT_FOUND = super::reason::KUBERNETES_NOT_FOUND;
        /// Warning: a reconcile failed with the reason of this name.
        KUBERNETES_ERROR = super::reason::KUBERNETES_ERROR;
        /// Warning: a reconcile failed with the reason of this name.
        INVALID_OBJECT = super::reason::INVALID_OBJECT;
        /// Warning: a reconcile failed with the reason of this name.
        OPERATOR_CONFIG_ERROR = super::reason::OPERATOR_CONFIG_ERROR;
        /// Warning: a reconcile failed with the reason of this name.
        HTTP_CLIENT_ERROR = super::reason::HTTP_CLIENT_ERROR;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));

    /// The names in backticks in column `column` of the README's table whose
    /// header row starts with `header`.
    fn documented(header: &str, column: usize) -> BTreeSet<&'static str> {
        let mut lines = README.lines().skip_while(|line| !line.starts_with(header));
        assert!(
            lines.next().is_some(),
            "README.md has no table whose header starts with {header:?}"
        );
        lines
            .skip(1)
            .take_while(|line| line.starts_with('|'))
            .filter_map(|row| row.split('|').nth(column + 1))
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .collect()
    }

    /// Both ways: every name of `group` is in the table, and the table names nothing else.
    fn assert_documented(group: &str, all: &[&str], table: &str, in_readme: BTreeSet<&str>) {
        let defined: BTreeSet<&str> = all.iter().copied().collect();
        let undocumented: Vec<_> = defined.difference(&in_readme).collect();
        let undefined: Vec<_> = in_readme.difference(&defined).collect();
        assert!(
            undocumented.is_empty() && undefined.is_empty(),
            "{group}: defined in src/api/names.rs but missing from README.md's table {table}: \
             {undocumented:?}; named in that table but not defined in src/api/names.rs: {undefined:?}"
        );
    }

    #[test]
    fn each_group_lists_a_name_once() {
        for (group, all) in [
            ("annotation", annotation::ALL),
            ("condition", condition::ALL),
            ("reason", reason::ALL),
            ("event", event::ALL),
        ] {
            let distinct: BTreeSet<_> = all.iter().collect();
            assert_eq!(distinct.len(), all.len(), "{group} names a value twice");
        }
    }

    #[test]
    fn the_readme_documents_every_name_and_no_other() {
        const ANNOTATIONS: &str = "| annotation | written by |";
        assert_documented(
            "annotation",
            annotation::ALL,
            ANNOTATIONS,
            documented(ANNOTATIONS, 0),
        );
        const CONDITIONS: &str = "| condition | present | reasons |";
        assert_documented(
            "condition",
            condition::ALL,
            CONDITIONS,
            documented(CONDITIONS, 0),
        );
        const PHASES: &str = "| phase | condition (reason) |";
        let reasons = documented(PHASES, 1)
            .union(&documented(CONDITIONS, 2))
            .copied()
            .collect();
        assert_documented(
            "reason",
            reason::ALL,
            &format!("{PHASES} (column 2) or {CONDITIONS} (column 3)"),
            reasons,
        );
        const EVENTS: &str = "| Event | type | when |";
        assert_documented("event", event::ALL, EVENTS, documented(EVENTS, 0));
        for finalizer in [FINALIZER, API_KEY_FINALIZER_PREFIX] {
            assert!(
                README.contains(finalizer),
                "README.md never names the finalizer {finalizer}"
            );
        }
    }
}
