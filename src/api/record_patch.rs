//! Writing the record into its annotation, and clearing it, as merge-patch
//! fragments (the record is read in `record`).

use super::record::LEGACY_RECORD_ANNOTATIONS;
use super::{RecordedBot, annotation};
use std::collections::BTreeMap;

/// The annotations that record a joined bot, whole, in one value (and clear a
/// join in flight, and the adopt request it may answer), as a merge-patch fragment.
pub fn joined_annotations(recorded: &RecordedBot) -> BTreeMap<&'static str, Option<String>> {
    let record = serde_json::to_string(recorded).expect("a record serializes");
    let mut annotations = forgotten_annotations();
    annotations.insert(annotation::RECORD, Some(record));
    annotations.insert(annotation::ADOPT, None);
    annotations
}

/// The annotations that forget a bot (after it left), as a merge-patch fragment.
pub fn forgotten_annotations() -> BTreeMap<&'static str, Option<String>> {
    [annotation::RECORD, annotation::JOIN_IN_FLIGHT]
        .into_iter()
        .chain(LEGACY_RECORD_ANNOTATIONS)
        .map(|key| (key, None))
        .collect()
}
