//! Writing the record into the annotations, and clearing it, as merge-patch
//! fragments (the record is read in `record`).

use super::{RecordedBot, annotation};
use std::collections::BTreeMap;

/// The annotations that record a joined bot (and clear a join in flight), as a
/// merge-patch fragment.
pub fn joined_annotations(recorded: &RecordedBot) -> BTreeMap<&'static str, Option<String>> {
    BTreeMap::from([
        (
            annotation::MEETING_BOT_ID,
            Some(recorded.meeting_bot_id.clone()),
        ),
        (
            annotation::MEETING_BOT_SESSION,
            Some(recorded.session_id.clone()),
        ),
        (annotation::JOINED_SPEC, recorded.joined_spec.clone()),
        (
            annotation::JOINED_AT,
            recorded.joined_at.map(|at| at.to_string()),
        ),
        (annotation::RECORD_UID, recorded.uid.clone()),
        (annotation::JOIN_IN_FLIGHT, None),
    ])
}

/// The annotations that forget a bot (after it left), as a merge-patch fragment.
pub fn forgotten_annotations() -> BTreeMap<&'static str, Option<String>> {
    [
        annotation::MEETING_BOT_ID,
        annotation::MEETING_BOT_SESSION,
        annotation::JOINED_SPEC,
        annotation::JOINED_AT,
        annotation::RECORD_UID,
        annotation::JOIN_IN_FLIGHT,
    ]
    .into_iter()
    .map(|key| (key, None))
    .collect()
}
