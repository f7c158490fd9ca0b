//! Which of the watch's deliveries ask for a reconcile: a change to what
//! decisions read, made by someone other than this process. And what is
//! remembered of an object goes when the watch says it is gone.

use super::cached::Cached;
use super::uid::Uid;
use super::watched::Watched;
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// What the operator remembers of objects, as the triggers see it.
pub trait Remembered {
    /// The watch delivered `seen`: whether it is the echo of this process's write.
    fn observed(&self, seen: &Watched) -> bool;
    /// The object is gone: what is remembered of it goes too.
    fn forget(&self, uid: &str);
}

/// The reconciles a delivery asks for.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per delivery, as the watch's own event"
)]
pub enum Admitted {
    Nothing,
    Object(Cached),
    /// At the end of a listing, the listed objects that ask for one: kube's
    /// cache shows a listing only once it is complete, and a reconcile asked
    /// for before would find its object missing there (one created while
    /// the watch was down) and be dropped.
    Listed(Vec<ObjectRef<Cached>>),
}

pub struct Triggers<R> {
    remembered: Arc<R>,
    /// Per UID, the hash of what matters in the object as last delivered.
    delivered: HashMap<Uid, u64>,
    /// While the watch lists again, what it listed so far.
    relisted: Option<Relist>,
}

#[derive(Default)]
struct Relist {
    /// Per UID, the hash of what matters, as listed.
    listed: HashMap<Uid, u64>,
    /// The listed objects that ask for a reconcile.
    asked: Vec<ObjectRef<Cached>>,
}

impl<R: Remembered> Triggers<R> {
    pub fn new(remembered: Arc<R>) -> Triggers<R> {
        Triggers {
            remembered,
            delivered: HashMap::new(),
            relisted: None,
        }
    }

    /// The reconciles this delivery asks for.
    ///
    /// The echo of the operator's own write is skipped (see `own_writes`): the
    /// reconcile that wrote it goes on by itself, and a trigger for an object
    /// whose reconcile still runs would wait in kube's scheduler, which scans
    /// every waiting trigger each time it is polled.
    pub fn admit(&mut self, event: Event<Cached>) -> Admitted {
        match event {
            Event::Init => {
                self.relisted = Some(Relist::default());
                Admitted::Nothing
            }
            Event::InitApply(cached) => {
                let watched = cached.watched();
                let (uid, matters) = (uid_of(&cached), what_matters(&watched));
                let changed = self.delivered.get(&uid) != Some(&matters);
                let asks = self.asks(changed, &watched);
                let relist = self.relisted.get_or_insert_default();
                relist.listed.insert(uid, matters);
                if asks {
                    relist.asked.push(ObjectRef::from_obj(&cached));
                }
                Admitted::Nothing
            }
            Event::InitDone => {
                let Relist { listed, asked } = self.relisted.take().unwrap_or_default();
                // Gone while the watch was down: no Delete is coming for them.
                for gone in self
                    .delivered
                    .keys()
                    .filter(|uid| !listed.contains_key(*uid))
                {
                    self.remembered.forget(&gone.to_string());
                }
                self.delivered = listed;
                Admitted::Listed(asked)
            }
            Event::Apply(cached) => {
                let watched = cached.watched();
                let matters = what_matters(&watched);
                let changed = self.delivered.insert(uid_of(&cached), matters) != Some(matters);
                if self.asks(changed, &watched) {
                    Admitted::Object(cached)
                } else {
                    Admitted::Nothing
                }
            }
            Event::Delete(gone) => {
                self.delivered.remove(&uid_of(&gone));
                self.remembered
                    .forget(gone.meta().uid.as_deref().unwrap_or_default());
                Admitted::Nothing
            }
        }
    }

    /// Whether `watched` asks for a reconcile: it changed, and is not the
    /// echo of this process's write.
    fn asks(&self, changed: bool, watched: &Watched) -> bool {
        // Asked on every delivery, so that what a write returned is let go
        // as soon as the watch has brought it.
        let echo = self.remembered.observed(watched);
        changed && !echo
    }
}

fn uid_of(cached: &Cached) -> Uid {
    Uid::of(cached.meta().uid.as_deref().unwrap_or_default())
}

/// Hashes what decisions read: spec, annotations, finalizers, deletion, the
/// record's copy in status (a restore or another writer may change it) and
/// the install acting on it (another install lets it go).
fn what_matters(watched: &Watched) -> u64 {
    let mut hasher = DefaultHasher::new();
    let metadata = watched.meta();
    metadata.generation.hash(&mut hasher);
    metadata.annotations.hash(&mut hasher);
    metadata.finalizers.hash(&mut hasher);
    metadata.deletion_timestamp.is_some().hash(&mut hasher);
    match watched {
        Watched::Valid(bot) => {
            let status = bot.status.as_ref();
            status.map(|s| &s.meeting_bot_id).hash(&mut hasher);
            status.map(|s| &s.record_uid).hash(&mut hasher);
            status.map(|s| &s.install).hash(&mut hasher);
        }
        Watched::Invalid { problem, .. } => problem.hash(&mut hasher),
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MeetingBot, MeetingBotSpec};
    use kube::ResourceExt;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Memory {
        own_versions: Vec<&'static str>,
        forgotten: Mutex<Vec<String>>,
    }

    impl Remembered for Memory {
        fn observed(&self, seen: &Watched) -> bool {
            let version = seen.meta().resource_version.as_deref().unwrap_or_default();
            self.own_versions.contains(&version)
        }
        fn forget(&self, uid: &str) {
            self.forgotten.lock().push(uid.to_owned());
        }
    }

    fn bot(uid: &str, version: &str, annotation: Option<&str>) -> Cached {
        let mut bot = MeetingBot::new("b", MeetingBotSpec::example());
        bot.metadata.uid = Some(uid.into());
        bot.metadata.resource_version = Some(version.into());
        if let Some(value) = annotation {
            bot.annotations_mut().insert("a".into(), value.into());
        }
        Cached::from(Watched::Valid(bot))
    }

    fn triggers(own_versions: Vec<&'static str>) -> Triggers<Memory> {
        Triggers::new(Arc::new(Memory {
            own_versions,
            ..Memory::default()
        }))
    }

    /// The resourceVersions of what the delivery asks to reconcile.
    fn admitted(triggers: &mut Triggers<Memory>, event: Event<Cached>) -> Vec<String> {
        match triggers.admit(event) {
            Admitted::Nothing => vec![],
            Admitted::Object(cached) => {
                cached.meta().resource_version.clone().into_iter().collect()
            }
            Admitted::Listed(keys) => keys
                .into_iter()
                .filter_map(|key| key.extra.resource_version)
                .collect(),
        }
    }

    #[test]
    fn changes_by_others_trigger_and_echoes_of_own_writes_do_not() {
        let mut triggers = triggers(vec!["2"]);
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("u", "1", None))),
            ["1"]
        );
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("u", "2", Some("ours")))),
            [""; 0]
        );
        // Someone else puts back what was there before our write: a change.
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("u", "3", None))),
            ["3"]
        );
        // A write that changes nothing decisions read (status, labels) is no trigger.
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("u", "4", None))),
            [""; 0]
        );
    }

    #[test]
    fn a_relist_triggers_what_changed_and_forgets_what_went_unseen() {
        let mut triggers = triggers(vec![]);
        for event in [
            Event::Init,
            Event::InitApply(bot("kept", "1", None)),
            Event::InitApply(bot("changed", "1", None)),
            Event::InitApply(bot("deleted", "1", None)),
            Event::InitDone,
        ] {
            triggers.admit(event);
        }
        assert!(admitted(&mut triggers, Event::Init).is_empty());
        assert!(admitted(&mut triggers, Event::InitApply(bot("kept", "1", None))).is_empty());
        // Asked for only once the listing is done, when kube's cache holds it.
        assert!(
            admitted(
                &mut triggers,
                Event::InitApply(bot("changed", "5", Some("x")))
            )
            .is_empty()
        );
        assert_eq!(admitted(&mut triggers, Event::InitDone), ["5"]);
        assert_eq!(*triggers.remembered.forgotten.lock(), ["deleted"]);
        assert!(admitted(&mut triggers, Event::Delete(bot("kept", "2", None))).is_empty());
        assert_eq!(*triggers.remembered.forgotten.lock(), ["deleted", "kept"]);
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("kept", "3", None))),
            ["3"],
            "a name created again is a new object"
        );
    }
}
