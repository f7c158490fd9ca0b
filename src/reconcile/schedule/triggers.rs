//! Which of the watch's deliveries ask for a reconcile: a change to what
//! decisions read, made by someone other than this process. And what is
//! remembered of an object goes when the watch says it is gone.

use super::watched::Watched;
use kube::runtime::watcher::Event;
use kube::{Resource, ResourceExt};
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

pub struct Triggers<R> {
    remembered: Arc<R>,
    /// Per UID, the hash of what matters in the object as last delivered.
    delivered: HashMap<String, u64>,
    /// While the watch lists again, the objects listed so far.
    relisted: Option<HashMap<String, u64>>,
}

impl<R: Remembered> Triggers<R> {
    pub fn new(remembered: Arc<R>) -> Triggers<R> {
        Triggers {
            remembered,
            delivered: HashMap::new(),
            relisted: None,
        }
    }

    /// The object to reconcile for this delivery, if any.
    ///
    /// The echo of the operator's own write is skipped (see `own_writes`): the
    /// reconcile that wrote it goes on by itself, and a trigger for an object
    /// whose reconcile still runs would wait in kube's scheduler, which scans
    /// every waiting trigger each time it is polled.
    pub fn admit(&mut self, event: Event<Watched>) -> Option<Watched> {
        match event {
            Event::Init => {
                self.relisted = Some(HashMap::new());
                None
            }
            Event::InitApply(watched) => {
                let (uid, matters) = (watched.uid().unwrap_or_default(), what_matters(&watched));
                let changed = self.delivered.get(&uid) != Some(&matters);
                self.relisted.get_or_insert_default().insert(uid, matters);
                self.unless_echo(changed, watched)
            }
            Event::InitDone => {
                let listed = self.relisted.take().unwrap_or_default();
                // Gone while the watch was down: no Delete is coming for them.
                for gone in self
                    .delivered
                    .keys()
                    .filter(|uid| !listed.contains_key(*uid))
                {
                    self.remembered.forget(gone);
                }
                self.delivered = listed;
                None
            }
            Event::Apply(watched) => {
                let matters = what_matters(&watched);
                let changed = self
                    .delivered
                    .insert(watched.uid().unwrap_or_default(), matters)
                    != Some(matters);
                self.unless_echo(changed, watched)
            }
            Event::Delete(gone) => {
                let uid = gone.uid().unwrap_or_default();
                self.delivered.remove(&uid);
                self.remembered.forget(&uid);
                None
            }
        }
    }

    /// `watched` when it changed and is not the echo of this process's write.
    fn unless_echo(&self, changed: bool, watched: Watched) -> Option<Watched> {
        // Asked on every delivery, so that what a write returned is let go
        // as soon as the watch has brought it.
        let echo = self.remembered.observed(&watched);
        (changed && !echo).then_some(watched)
    }
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
    use std::sync::Mutex;

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
            self.forgotten.lock().unwrap().push(uid.to_owned());
        }
    }

    fn bot(uid: &str, version: &str, annotation: Option<&str>) -> Watched {
        let mut bot = MeetingBot::new("b", MeetingBotSpec::example());
        bot.metadata.uid = Some(uid.into());
        bot.metadata.resource_version = Some(version.into());
        if let Some(value) = annotation {
            bot.annotations_mut().insert("a".into(), value.into());
        }
        Watched::Valid(bot)
    }

    fn triggers(own_versions: Vec<&'static str>) -> Triggers<Memory> {
        Triggers::new(Arc::new(Memory {
            own_versions,
            ..Memory::default()
        }))
    }

    fn admitted(triggers: &mut Triggers<Memory>, event: Event<Watched>) -> Option<String> {
        triggers
            .admit(event)
            .and_then(|watched| watched.meta().resource_version.clone())
    }

    #[test]
    fn changes_by_others_trigger_and_echoes_of_own_writes_do_not() {
        let mut triggers = triggers(vec!["2"]);
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("u", "1", None))),
            Some("1".into())
        );
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("u", "2", Some("ours")))),
            None
        );
        // Someone else puts back what was there before our write: a change.
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("u", "3", None))),
            Some("3".into())
        );
        // A write that changes nothing decisions read (status, labels) is no trigger.
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("u", "4", None))),
            None
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
        assert_eq!(admitted(&mut triggers, Event::Init), None);
        assert_eq!(
            admitted(&mut triggers, Event::InitApply(bot("kept", "1", None))),
            None
        );
        assert_eq!(
            admitted(
                &mut triggers,
                Event::InitApply(bot("changed", "5", Some("x")))
            ),
            Some("5".into())
        );
        assert_eq!(admitted(&mut triggers, Event::InitDone), None);
        assert_eq!(*triggers.remembered.forgotten.lock().unwrap(), ["deleted"]);
        assert!(
            triggers
                .admit(Event::Delete(bot("kept", "2", None)))
                .is_none()
        );
        assert_eq!(
            *triggers.remembered.forgotten.lock().unwrap(),
            ["deleted", "kept"]
        );
        assert_eq!(
            admitted(&mut triggers, Event::Apply(bot("kept", "3", None))),
            Some("3".into()),
            "a name created again is a new object"
        );
    }
}
