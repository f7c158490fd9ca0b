//! What the operator's own MeetingBot writes returned, until the watch
//! delivers them: a reconcile starts from the newest copy, and the watch can
//! tell its own echo from a change made by anyone else.

use super::uid::Uid;
use super::watched::drop_unread;
use crate::api::MeetingBot;
use kube::ResourceExt;
use parking_lot::Mutex;
use std::collections::HashMap;

/// Per UID, the objects this process's writes returned, until the watch
/// delivers that version or a newer one.
///
/// A reconcile that would start from an older cached copy starts from the
/// newest one instead, so that its fenced writes are not refused by the
/// operator's own previous write. Fencing still decides: if anyone else wrote
/// since, the write is refused as before.
///
/// Every MeetingBot write is fenced by the version its reconcile decided on,
/// so the version a write returned holds nothing but what that reconcile knew
/// and wrote; that reconcile goes on from it (or asks for its own requeue).
/// Its echo from the watch therefore needs no reconcile of its own, and
/// waiting for one would only hold a trigger in kube's scheduler while the
/// object's reconcile runs (see `triggers`).
#[derive(Default)]
pub struct OwnWrites(Mutex<HashMap<Uid, Written>>);

struct Written {
    /// The newest object a write returned. Boxed: the map's table keeps the
    /// size it grew to in a burst of writes, at a few bytes per entry.
    newest: Box<MeetingBot>,
    /// The versions written that the watch has not delivered yet, oldest first.
    unseen: Vec<u64>,
}

/// A resourceVersion as a number, where it is one (etcd's revisions are): the
/// order is only used to pick the newer copy and to recognise an echo, never
/// to skip a precondition.
fn version(bot: &impl ResourceExt) -> Option<u64> {
    bot.resource_version()?.parse().ok()
}

fn uid_of(bot: &impl ResourceExt) -> Option<Uid> {
    bot.meta().uid.as_deref().map(Uid::of)
}

impl OwnWrites {
    /// Remembers what a write returned (less what nobody reads).
    pub fn wrote(&self, bot: &MeetingBot) {
        let (Some(uid), Some(written_version)) = (uid_of(bot), version(bot)) else {
            return;
        };
        let mut bot = Box::new(bot.clone());
        drop_unread(&mut bot.metadata);
        let mut written = self.0.lock();
        match written.get_mut(&uid) {
            Some(known) => {
                if !known.unseen.contains(&written_version) {
                    known.unseen.push(written_version);
                    known.unseen.sort_unstable();
                }
                if version(&*known.newest) < Some(written_version) {
                    known.newest = bot;
                }
            }
            None => {
                written.insert(
                    uid,
                    Written {
                        newest: bot,
                        unseen: vec![written_version],
                    },
                );
            }
        }
    }

    /// The watch delivered `seen`: what of ours is no newer goes. Answers
    /// whether `seen` is exactly a version this process wrote.
    pub fn observed(&self, seen: &impl ResourceExt) -> bool {
        let (Some(uid), Some(seen_version)) = (uid_of(seen), version(seen)) else {
            return false;
        };
        let mut written = self.0.lock();
        let Some(known) = written.get_mut(&uid) else {
            return false;
        };
        let echo = known.unseen.contains(&seen_version);
        known.unseen.retain(|unseen| *unseen > seen_version);
        if version(&*known.newest) <= Some(seen_version) {
            written.remove(&uid);
        }
        echo
    }

    /// Our last write of `cached`'s object when it is newer than `cached`.
    pub fn newer_than(&self, cached: &MeetingBot) -> Option<MeetingBot> {
        self.with_newest(cached, |newest| {
            (!std::ptr::eq(newest, cached)).then(|| newest.clone())
        })
    }

    /// `look` at the newer of `cached` and our last write of its object,
    /// lent rather than cloned.
    pub fn with_newest<R>(&self, cached: &MeetingBot, look: impl FnOnce(&MeetingBot) -> R) -> R {
        let written = self.0.lock();
        let newer = uid_of(cached)
            .and_then(|uid| written.get(&uid))
            .map(|known| &*known.newest)
            .filter(|known| match (version(*known), version(cached)) {
                (Some(known), Some(cached)) => known > cached,
                _ => false,
            });
        look(newer.unwrap_or(cached))
    }

    pub fn forget(&self, uid: &str) {
        self.0.lock().remove(&Uid::of(uid));
    }

    /// Objects with a write of ours the watch has not brought yet.
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MeetingBotSpec;

    fn bot(uid: &str, rv: &str) -> MeetingBot {
        let mut bot = MeetingBot::new("b", MeetingBotSpec::example());
        bot.metadata.uid = Some(uid.into());
        bot.metadata.resource_version = Some(rv.into());
        bot
    }

    #[test]
    fn a_newer_own_write_replaces_an_older_cache_until_the_watch_catches_up() {
        let own = OwnWrites::default();
        own.wrote(&bot("u", "12"));
        assert_eq!(
            own.newer_than(&bot("u", "10"))
                .and_then(|b| b.metadata.resource_version),
            Some("12".into())
        );
        assert!(own.newer_than(&bot("u", "12")).is_none());
        assert!(own.newer_than(&bot("other", "1")).is_none());
        // An older write does not replace a newer one.
        own.wrote(&bot("u", "11"));
        assert!(own.newer_than(&bot("u", "11")).is_some());
        own.observed(&bot("u", "11"));
        assert_eq!(own.len(), 1);
        own.observed(&bot("u", "13"));
        assert_eq!(own.len(), 0);
    }

    #[test]
    fn only_the_versions_this_process_wrote_are_its_echoes() {
        let own = OwnWrites::default();
        own.wrote(&bot("u", "5"));
        own.wrote(&bot("u", "7"));
        assert!(!own.observed(&bot("u", "4")), "before our writes");
        assert!(own.observed(&bot("u", "5")));
        assert!(
            !own.observed(&bot("u", "6")),
            "someone else's, between ours"
        );
        assert!(own.observed(&bot("u", "7")));
        assert_eq!(own.len(), 0);
        assert!(!own.observed(&bot("u", "7")), "an echo is recognised once");
        // A version skipped by the watch (a relist) is no echo, and clears ours.
        own.wrote(&bot("u", "9"));
        assert!(!own.observed(&bot("u", "10")));
        assert_eq!(own.len(), 0);
    }

    #[test]
    fn versions_that_are_not_numbers_leave_the_cache_alone() {
        let own = OwnWrites::default();
        own.wrote(&bot("u", "x"));
        assert_eq!(own.len(), 0);
        own.wrote(&bot("u", "5"));
        assert!(own.newer_than(&bot("u", "y")).is_none());
        assert!(!own.observed(&bot("u", "y")));
    }
}
