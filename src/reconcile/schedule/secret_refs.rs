//! Which MeetingBots' specs name which Secrets, as the watch delivers them:
//! a Secret's event finds the MeetingBots that read it without a scan of
//! every MeetingBot (O(N) per event, O(N²) when a sync rotates many Secrets
//! at once), and what is known of an object goes with it.

use super::Watched;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

/// A Secret, by namespace and name.
pub type SecretName = (String, String);

#[derive(Default)]
pub struct SecretRefs(Mutex<Index>);

#[derive(Default)]
struct Index {
    /// Per UID, the object and the Secrets its spec names.
    by_uid: HashMap<String, Referrer>,
    /// Per Secret, the UIDs of the objects whose spec names it.
    by_secret: HashMap<SecretName, HashSet<String>>,
}

struct Referrer {
    namespace: String,
    name: String,
    /// Sorted, without repeats.
    secrets: Vec<String>,
}

impl SecretRefs {
    fn lock(&self) -> MutexGuard<'_, Index> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Objects whose references are indexed.
    pub fn len(&self) -> usize {
        self.lock().by_uid.len()
    }

    /// Notes which Secrets `seen`'s spec names now. Answers the Secrets that
    /// no object names any more.
    pub fn observed(&self, seen: &Watched) -> Vec<SecretName> {
        let Some(uid) = seen.uid() else {
            return Vec::new();
        };
        let mut secrets: Vec<&str> = match seen {
            Watched::Valid(bot) => bot.referenced_secrets().collect(),
            Watched::Invalid { .. } => Vec::new(),
        };
        secrets.sort_unstable();
        secrets.dedup();
        let mut index = self.lock();
        let unchanged = index.by_uid.get(&uid).is_some_and(|known| {
            known
                .secrets
                .iter()
                .map(String::as_str)
                .eq(secrets.iter().copied())
        });
        if unchanged {
            return Vec::new();
        }
        let mut released = index.remove(&uid);
        if secrets.is_empty() {
            return released;
        }
        let namespace = seen.namespace().unwrap_or_default();
        for secret in &secrets {
            let key = (namespace.clone(), (*secret).to_owned());
            released.retain(|name| *name != key);
            index.by_secret.entry(key).or_default().insert(uid.clone());
        }
        let referrer = Referrer {
            namespace,
            name: seen.name_any(),
            secrets: secrets.into_iter().map(str::to_owned).collect(),
        };
        index.by_uid.insert(uid, referrer);
        released
    }

    /// The object is gone: answers the Secrets that no object names any more.
    pub fn forget(&self, uid: &str) -> Vec<SecretName> {
        self.lock().remove(uid)
    }

    /// The objects whose spec names Secret `name` of `namespace`.
    pub fn referencing(&self, namespace: &str, name: &str) -> Vec<ObjectRef<Watched>> {
        let index = self.lock();
        let Some(uids) = index
            .by_secret
            .get(&(namespace.to_owned(), name.to_owned()))
        else {
            return Vec::new();
        };
        uids.iter()
            .filter_map(|uid| index.by_uid.get(uid))
            .map(|referrer| ObjectRef::new(&referrer.name).within(&referrer.namespace))
            .collect()
    }
}

impl Index {
    fn remove(&mut self, uid: &str) -> Vec<SecretName> {
        let Some(referrer) = self.by_uid.remove(uid) else {
            return Vec::new();
        };
        let mut released = Vec::new();
        for secret in referrer.secrets {
            let key = (referrer.namespace.clone(), secret);
            if let Some(uids) = self.by_secret.get_mut(&key) {
                uids.remove(uid);
                if uids.is_empty() {
                    self.by_secret.remove(&key);
                    released.push(key);
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
        assert!(refs.lock().is_empty());
        assert!(refs.forget("ub2").is_empty());
    }
}
