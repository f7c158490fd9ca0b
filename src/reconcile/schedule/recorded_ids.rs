//! Which MeetingBots' statuses record which bot ids, as the watch delivers
//! them: the operator's own copies (tenants who may edit a MeetingBot do not
//! write its status), so that an id written into another object's
//! annotations can be told apart from the bot it belongs to.

use super::{Uid, Watched};
use kube::Resource;
use parking_lot::Mutex;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct RecordedIds(Mutex<Index>);

#[derive(Default)]
struct Index {
    /// Per UID, the bot id its status records (one text, shared with `by_id`).
    by_uid: HashMap<Uid, Arc<str>>,
    /// Per bot id, the UIDs whose status records it: one, unless a copy's
    /// status holds it too.
    by_id: HashMap<Arc<str>, SmallVec<[Uid; 1]>>,
}

impl RecordedIds {
    /// Objects whose status records a bot.
    pub fn len(&self) -> usize {
        self.0.lock().by_uid.len()
    }

    /// Notes what `seen`'s status records now.
    pub fn observed(&self, seen: &Watched) {
        let Some(text) = seen.meta().uid.as_deref() else {
            return;
        };
        let recorded = match seen {
            Watched::Valid(bot) => bot
                .status
                .as_ref()
                .filter(|status| status.record_uid.as_deref() == Some(text))
                .and_then(|status| status.meeting_bot_id.as_deref()),
            Watched::Invalid { .. } => None,
        };
        let uid = Uid::of(text);
        let mut index = self.0.lock();
        if index.by_uid.get(&uid).map(|id| &**id) == recorded {
            return;
        }
        index.remove(&uid);
        if let Some(id) = recorded {
            let id = match index.by_id.get_key_value(id) {
                Some((shared, _)) => shared.clone(),
                None => Arc::from(id),
            };
            index.by_id.entry(id.clone()).or_default().push(uid.clone());
            index.by_uid.insert(uid, id);
        }
    }

    pub fn forget(&self, uid: &str) {
        self.0.lock().remove(&Uid::of(uid));
    }

    /// Whether the status of a MeetingBot other than `uid` records `bot_id`.
    pub fn elsewhere(&self, bot_id: &str, uid: &str) -> bool {
        let uid = Uid::of(uid);
        self.0
            .lock()
            .by_id
            .get(bot_id)
            .is_some_and(|uids| uids.iter().any(|other| *other != uid))
    }
}

impl Index {
    fn remove(&mut self, uid: &Uid) {
        let Some(id) = self.by_uid.remove(uid) else {
            return;
        };
        if let Some(uids) = self.by_id.get_mut(&id) {
            uids.retain(|other| other != uid);
            if uids.is_empty() {
                self.by_id.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MeetingBot, MeetingBotSpec, MeetingBotStatus};

    fn recording(uid: &str, bot_id: Option<&str>, stamped: &str) -> Watched {
        let spec = MeetingBotSpec::new("s", "https://meet.google.com/abc-defg-hij", "wss://x", "t");
        let mut bot = MeetingBot::new(uid, spec);
        bot.metadata.uid = Some(uid.into());
        bot.status = Some(MeetingBotStatus {
            meeting_bot_id: bot_id.map(str::to_owned),
            record_uid: Some(stamped.into()),
            ..MeetingBotStatus::default()
        });
        Watched::Valid(bot)
    }

    #[test]
    fn only_an_objects_own_status_record_counts_and_it_goes_with_the_object() {
        let ids = RecordedIds::default();
        ids.observed(&recording("victim", Some("bot-1"), "victim"));
        assert!(ids.elsewhere("bot-1", "tenant"));
        assert!(!ids.elsewhere("bot-1", "victim"));
        // A copy's status stamped with the original's UID is not its own record.
        ids.observed(&recording("copy", Some("bot-1"), "victim"));
        assert!(!ids.elsewhere("bot-1", "victim"));
        // The bot left: its id is free.
        ids.observed(&recording("victim", None, "victim"));
        assert!(!ids.elsewhere("bot-1", "tenant"));
        ids.observed(&recording("victim", Some("bot-2"), "victim"));
        ids.forget("victim");
        assert!(!ids.elsewhere("bot-2", "tenant"));
    }
}
