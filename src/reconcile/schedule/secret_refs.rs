//! Which MeetingBots' specs name which Secrets, as the watch delivers them:
//! a Secret's event finds the MeetingBots that read it without a scan of
//! every MeetingBot (O(N) per event, O(N²) when a sync rotates many Secrets
//! at once), and what is known of an object goes with it.
//!
//! The index holds an entry per MeetingBot and one per Secret it names, so
//! each is kept small: a Secret's key is one text shared by both sides, and
//! the one object that names most Secrets is held without a list.

use super::{Cached, Uid, Watched};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use parking_lot::Mutex;
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A Secret, by namespace and name.
pub type SecretName = (String, String);

/// A Secret as the index keys it: `namespace/name`. A namespace holds no
/// `/`, so the first one splits the key back.
type SecretKey = Arc<str>;

/// A Secret's `namespace/name`, the key it has in the indexes kept of it.
pub fn secret_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// A `namespace/name` split back: a Secret's key, or a referrer's object.
fn name_of(key: &str) -> SecretName {
    let (namespace, name) = key.split_once('/').unwrap_or_default();
    (namespace.into(), name.into())
}

#[derive(Default)]
pub struct SecretRefs(Mutex<Index>);

#[derive(Default)]
struct Index {
    /// Per UID, the object and the Secrets its spec names.
    by_uid: HashMap<Uid, Referrer>,
    /// Per Secret, the UIDs of the objects whose spec names it.
    by_secret: HashMap<SecretKey, Referrers>,
}

/// The objects that name one Secret: a short list while they are few (most
/// Secrets are named by one object, held inline), a set once they are many
/// (a token Secret shared by a fleet), so that adding or removing one never
/// scans the fleet.
enum Referrers {
    Few(SmallVec<[Uid; 1]>),
    #[allow(
        clippy::box_collection,
        reason = "boxed, the set of a rare shared Secret does not widen every Secret's entry"
    )]
    Many(Box<HashSet<Uid>>),
}

/// How many objects a Secret's list holds before it becomes a set.
const FEW: usize = 8;

impl Default for Referrers {
    fn default() -> Self {
        Referrers::Few(SmallVec::new())
    }
}

impl Referrers {
    fn insert(&mut self, uid: Uid) {
        match self {
            Referrers::Few(few) if few.contains(&uid) => {}
            Referrers::Few(few) if few.len() < FEW => few.push(uid),
            Referrers::Few(few) => {
                let mut many: HashSet<Uid> = few.drain(..).collect();
                many.insert(uid);
                *self = Referrers::Many(Box::new(many));
            }
            Referrers::Many(many) => {
                many.insert(uid);
            }
        }
    }

    fn remove(&mut self, uid: &Uid) {
        match self {
            Referrers::Few(few) => few.retain(|other| other != uid),
            Referrers::Many(many) => {
                many.remove(uid);
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Referrers::Few(few) => few.is_empty(),
            Referrers::Many(many) => many.is_empty(),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = &Uid> + '_> {
        match self {
            Referrers::Few(few) => Box::new(few.iter()),
            Referrers::Many(many) => Box::new(many.iter()),
        }
    }
}

struct Referrer {
    /// The object's `namespace/name`.
    object: Box<str>,
    /// Sorted, without repeats; shared with `by_secret`'s keys.
    secrets: Box<[SecretKey]>,
}

impl SecretRefs {
    /// Objects whose references are indexed.
    pub fn len(&self) -> usize {
        self.0.lock().by_uid.len()
    }

    /// Notes which Secrets `seen`'s spec names now. Answers the Secrets that
    /// no object names any more.
    pub fn observed(&self, seen: &Watched) -> Vec<SecretName> {
        let Some(uid) = seen.meta().uid.as_deref().map(Uid::of) else {
            return Vec::new();
        };
        let namespace = seen.namespace().unwrap_or_default();
        let mut secrets: Vec<String> = match seen {
            Watched::Valid(bot) => bot
                .referenced_secrets()
                .map(|name| secret_key(&namespace, name))
                .collect(),
            Watched::Invalid { .. } => Vec::new(),
        };
        secrets.sort_unstable();
        secrets.dedup();
        let mut index = self.0.lock();
        let unchanged = index.by_uid.get(&uid).is_some_and(|known| {
            known
                .secrets
                .iter()
                .map(|key| &**key)
                .eq(secrets.iter().map(String::as_str))
        });
        if unchanged {
            return Vec::new();
        }
        let mut released = index.remove(&uid);
        if secrets.is_empty() {
            return released;
        }
        let mut keys = Vec::with_capacity(secrets.len());
        for secret in secrets {
            let name = name_of(&secret);
            released.retain(|other| *other != name);
            let key = match index.by_secret.get_key_value(secret.as_str()) {
                Some((key, _)) => key.clone(),
                None => SecretKey::from(secret),
            };
            index
                .by_secret
                .entry(key.clone())
                .or_default()
                .insert(uid.clone());
            keys.push(key);
        }
        let referrer = Referrer {
            object: format!("{namespace}/{}", seen.name_any()).into(),
            secrets: keys.into(),
        };
        index.by_uid.insert(uid, referrer);
        released
    }

    /// The object is gone: answers the Secrets that no object names any more.
    pub fn forget(&self, uid: &str) -> Vec<SecretName> {
        self.0.lock().remove(&Uid::of(uid))
    }

    /// The objects whose spec names Secret `name` of `namespace`.
    pub fn referencing(&self, namespace: &str, name: &str) -> Vec<ObjectRef<Cached>> {
        let index = self.0.lock();
        let Some(uids) = index.by_secret.get(secret_key(namespace, name).as_str()) else {
            return Vec::new();
        };
        uids.iter()
            .filter_map(|uid| index.by_uid.get(uid))
            .map(|referrer| {
                let (namespace, name) = name_of(&referrer.object);
                ObjectRef::new(&name).within(&namespace)
            })
            .collect()
    }
}

impl Index {
    fn remove(&mut self, uid: &Uid) -> Vec<SecretName> {
        let Some(referrer) = self.by_uid.remove(uid) else {
            return Vec::new();
        };
        let mut released = Vec::new();
        for key in referrer.secrets {
            if let Some(uids) = self.by_secret.get_mut(&key) {
                uids.remove(uid);
                if uids.is_empty() {
                    self.by_secret.remove(&key);
                    released.push(name_of(&key));
                }
            }
        }
        released
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.by_uid.is_empty() && self.by_secret.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApiKeySecretRef, MeetingBot, MeetingBotSpec};

    fn bot(name: &str, uid: &str, token: &str, api_key: Option<&str>) -> MeetingBot {
        let mut spec = MeetingBotSpec::example();
        spec.broadcast_token_secret_ref.name = token.into();
        spec.api_key_secret_ref = api_key.map(|name| ApiKeySecretRef {
            name: name.into(),
            key: "apiKey".into(),
        });
        let mut bot = MeetingBot::new(name, spec);
        bot.metadata.namespace = Some("ns".into());
        bot.metadata.uid = Some(uid.into());
        bot
    }

    fn names(refs: &SecretRefs, secret: &str) -> Vec<String> {
        let mut names: Vec<String> = refs
            .referencing("ns", secret)
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort();
        names
    }

    fn secret(name: &str) -> SecretName {
        ("ns".into(), name.into())
    }

    #[test]
    fn a_secret_finds_the_objects_that_name_it_in_its_namespace() {
        let refs = SecretRefs::default();
        refs.observed(&Watched::Valid(bot("a", "ua", "t1", Some("key"))));
        refs.observed(&Watched::Valid(bot("b", "ub", "t2", Some("key"))));
        // The same Secret twice in one spec counts once.
        refs.observed(&Watched::Valid(bot("c", "uc", "key", Some("key"))));
        assert_eq!(names(&refs, "t1"), ["a"]);
        assert_eq!(names(&refs, "key"), ["a", "b", "c"]);
        assert!(names(&refs, "other").is_empty());
        assert!(refs.referencing("elsewhere", "t1").is_empty());
    }

    #[test]
    fn a_spec_that_names_another_secret_moves_the_object_and_releases_the_old_one() {
        let refs = SecretRefs::default();
        assert!(
            refs.observed(&Watched::Valid(bot("a", "ua", "t1", None)))
                .is_empty()
        );
        assert!(
            refs.observed(&Watched::Valid(bot("b", "ub", "t1", None)))
                .is_empty()
        );
        assert!(
            refs.observed(&Watched::Valid(bot("a", "ua", "t2", None)))
                .is_empty(),
            "b still names t1"
        );
        assert_eq!(names(&refs, "t1"), ["b"]);
        assert_eq!(names(&refs, "t2"), ["a"]);
        assert_eq!(
            refs.observed(&Watched::Valid(bot("b", "ub", "t2", None))),
            [secret("t1")],
            "nobody names t1 any more"
        );
        assert_eq!(names(&refs, "t2"), ["a", "b"]);
        // An object the operator cannot decode names nothing it acts on.
        let invalid = Watched::Invalid {
            metadata: bot("b", "ub", "t2", None).metadata,
            problem: "spec: bad".into(),
            reported: false,
        };
        assert!(refs.observed(&invalid).is_empty());
        assert_eq!(names(&refs, "t2"), ["a"]);
    }

    #[test]
    fn a_secret_named_by_a_fleet_finds_each_of_them_and_is_released_by_the_last() {
        let refs = SecretRefs::default();
        let name = |i: usize| format!("bot-{i:02}");
        for i in 0..3 * FEW {
            refs.observed(&Watched::Valid(bot(&name(i), &name(i), "shared", None)));
        }
        assert_eq!(names(&refs, "shared").len(), 3 * FEW);
        for i in 0..3 * FEW - 1 {
            assert!(refs.forget(&name(i)).is_empty(), "others still name it");
        }
        assert_eq!(names(&refs, "shared"), [name(3 * FEW - 1)]);
        assert_eq!(refs.forget(&name(3 * FEW - 1)), [secret("shared")]);
        assert!(refs.0.lock().is_empty());
    }

    #[test]
    fn what_is_known_of_an_object_goes_with_it() {
        let refs = SecretRefs::default();
        refs.observed(&Watched::Valid(bot("a", "ua", "t1", Some("key"))));
        refs.observed(&Watched::Valid(bot("b", "ub", "t1", None)));
        assert!(refs.forget("ua").contains(&secret("key")));
        assert_eq!(names(&refs, "t1"), ["b"]);
        assert!(names(&refs, "key").is_empty());
        // The name created again is another object; the old one's delete comes later.
        refs.observed(&Watched::Valid(bot("b", "ub2", "t1", None)));
        assert!(refs.forget("ub").is_empty(), "ub2 still names t1");
        assert_eq!(names(&refs, "t1"), ["b"]);
        assert_eq!(refs.forget("ub2"), [secret("t1")]);
        assert!(refs.0.lock().is_empty());
        assert!(refs.forget("ub2").is_empty());
    }
}
