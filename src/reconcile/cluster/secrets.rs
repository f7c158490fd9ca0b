//! Reading the credentials a vendor call needs: the broadcast token and API
//! key Secrets a MeetingBot references, and the operator's own API key.

use crate::api::API_KEY_FINALIZER_PREFIX;
use crate::lemonslice::SecretString;
use crate::reconcile::decide::plan::SecretProblem;
use crate::reconcile::schedule::secret_key;
use crate::{Error, Result};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{GetParams, Patch};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;

/// Why a Secret a call needs cannot be used: a problem with the Secret
/// itself (the step ends, saying so in status), or Kubernetes failed (the
/// reconcile ends).
pub enum Unmet {
    Secret(SecretProblem),
    Error(Error),
}

impl From<SecretProblem> for Unmet {
    fn from(problem: SecretProblem) -> Unmet {
        Unmet::Secret(problem)
    }
}

impl From<Error> for Unmet {
    fn from(error: Error) -> Unmet {
        Unmet::Error(error)
    }
}

/// The operator's own LemonSlice API key, used by MeetingBots without `apiKeySecretRef`.
#[derive(Debug)]
pub enum OperatorApiKey {
    Value(SecretString),
    /// A mounted Secret: read at every use, so a rotated key applies at once.
    File(PathBuf),
}

impl OperatorApiKey {
    pub async fn current(&self) -> Result<SecretString> {
        match self {
            OperatorApiKey::Value(key) => Ok(key.clone()),
            OperatorApiKey::File(path) => {
                let text = tokio::fs::read_to_string(path).await?;
                let key = text.trim();
                if key.is_empty() {
                    return Err(crate::Error::Config(format!(
                        "API key file {} is empty",
                        path.display()
                    )));
                }
                Ok(SecretString::new(key))
            }
        }
    }
}

/// What the operator last read of a Secret: kept for each Secret a call
/// read, so as small as the comparison allows.
#[derive(Clone, Copy, Debug)]
struct Digest {
    /// As a number where it is one (etcd's revisions are); any other
    /// version is never taken for the same.
    resource_version: Option<u64>,
    data: u64,
}

/// Where a credential lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretKeyRef {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

/// Reads Secrets on demand (the operator keeps none in memory, but for the
/// API keys of joined bots, below).
///
/// Of each Secret read it keeps a digest of the data (a keyed hash, with a key
/// drawn at start: it says nothing of the data outside this process) and the
/// resourceVersion: when the watch, which carries metadata only, reports a
/// newer version, [`SecretReader::data_changed`] reads the Secret once more
/// and compares. Remembered failures are forgotten only when the data that
/// the failing calls used has changed: a label, an annotation or a relist
/// changes nothing. (Watching whole Secrets instead would keep every Secret
/// of the watched namespaces, referenced or not, in the operator's memory.)
pub struct SecretReader {
    client: kube::Client,
    digests: Mutex<HashMap<Box<str>, Digest>>,
    hasher: RandomState,
    /// The last value of each per-bot API key Secret that a join used. Deleting a
    /// namespace deletes its Secrets while MeetingBots wait for leave, which
    /// still needs the key.
    api_keys_in_use: Mutex<HashMap<SecretKeyRef, SecretString>>,
}

/// The finalizer that keeps a per-bot API key Secret, for the MeetingBot
/// whose UID it names, while a bot that joined with the key may still need it
/// to leave: deleting a namespace deletes its Secrets and its MeetingBots at
/// once, and an operator that restarts meanwhile has no other copy.
pub fn key_finalizer(uid: &str) -> String {
    format!("{API_KEY_FINALIZER_PREFIX}{uid}")
}

impl SecretReader {
    /// Adds (`hold`) or removes this MeetingBot's finalizer on the Secret at
    /// `at`, in a write fenced by the version read. A Secret that is gone
    /// needs no release; one being deleted cannot be held (the join waits).
    pub async fn hold_key(&self, at: &SecretKeyRef, uid: &str, hold: bool) -> Result<()> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &at.namespace);
        let finalizer = key_finalizer(uid);
        for _ in 0..5 {
            let Some(secret) = secrets.get_metadata_opt(&at.name).await? else {
                // Gone: no MeetingBot held it, so no leave needs its value.
                self.api_keys_in_use.lock().remove(at);
                return Ok(());
            };
            let mut finalizers = secret.metadata.finalizers.clone().unwrap_or_default();
            let present = finalizers.contains(&finalizer);
            if !hold {
                finalizers.retain(|f| *f != finalizer);
                if !finalizers
                    .iter()
                    .any(|f| f.starts_with(API_KEY_FINALIZER_PREFIX))
                {
                    // Held by no other MeetingBot: no leave needs the value kept for one.
                    self.api_keys_in_use.lock().remove(at);
                }
            }
            if present == hold {
                return Ok(());
            }
            if hold {
                finalizers.push(finalizer.clone());
            }
            let patch = serde_json::json!({ "metadata": {
                "resourceVersion": secret.metadata.resource_version,
                "finalizers": finalizers,
            }});
            match secrets
                .patch_metadata(&at.name, &super::as_operator(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(error) if crate::is_conflict(&error) => continue,
                Err(kube::Error::Api(response)) if response.code == 404 && !hold => return Ok(()),
                Err(error) => return Err(error.into()),
            }
        }
        Err(crate::Error::Config(format!(
            "Secret {} kept changing while its finalizer was written",
            at.name
        )))
    }

    pub fn new(client: kube::Client) -> SecretReader {
        SecretReader {
            client,
            digests: Mutex::default(),
            hasher: RandomState::new(),
            api_keys_in_use: Mutex::default(),
        }
    }

    /// Whether the data of Secret `namespace/name` differs from when the
    /// operator last read it, now that the watch saw `resource_version`. False
    /// for a Secret never read (no call used it), for a version already read,
    /// and for a Secret that is gone (the absence is what a read will find).
    pub async fn data_changed(
        &self,
        namespace: &str,
        name: &str,
        resource_version: Option<&str>,
    ) -> Result<bool> {
        let key = secret_key(namespace, name);
        let Some(known) = self.digests.lock().get(key.as_str()).copied() else {
            return Ok(false);
        };
        let seen = resource_version.and_then(|version| version.parse().ok());
        if seen.is_some() && known.resource_version == seen {
            return Ok(false);
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let Some(secret) = secrets.get_opt(name).await? else {
            return Ok(false);
        };
        let digest = self.digest(&secret);
        let changed = digest.data != known.data;
        self.digests.lock().insert(key.into(), digest);
        Ok(changed)
    }

    fn digest(&self, secret: &Secret) -> Digest {
        let mut data: Vec<(&String, &[u8])> = secret
            .data
            .iter()
            .flatten()
            .map(|(key, value)| (key, value.0.as_slice()))
            .collect();
        data.sort();
        Digest {
            resource_version: secret
                .metadata
                .resource_version
                .as_deref()
                .and_then(|version| version.parse().ok()),
            data: self.hasher.hash_one(&data),
        }
    }

    /// How many Secrets' digests and per-bot API keys are kept.
    pub fn kept(&self) -> (usize, usize) {
        (self.digests.lock().len(), self.api_keys_in_use.lock().len())
    }

    /// No MeetingBot reads Secret `namespace/name` any more: its digest goes
    /// (a later read takes a new one).
    pub fn forget(&self, namespace: &str, name: &str) {
        self.digests
            .lock()
            .remove(secret_key(namespace, name).as_str());
    }

    /// The value of one key of a Secret, or why it cannot be had.
    ///
    /// Read first from the API server's watch cache: under a burst, a read
    /// from etcd cost more than a MeetingBot write (60 against 26 ms in
    /// `make bench`), and it is on every join's path. The cache is as fresh as
    /// the operator's own watch of Secrets, whose next change triggers the
    /// MeetingBot again; what it does not hold (a Secret or key created a
    /// moment ago) is read from etcd before it counts as missing.
    pub async fn read(&self, at: &SecretKeyRef) -> Result<SecretString, Unmet> {
        match self.read_at(at, &GetParams::any()).await {
            Err(Unmet::Secret(_)) => self.read_at(at, &GetParams::default()).await,
            read => read,
        }
    }

    async fn read_at(
        &self,
        at: &SecretKeyRef,
        freshness: &GetParams,
    ) -> Result<SecretString, Unmet> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &at.namespace);
        let secret = match secrets.get_with(&at.name, freshness).await {
            Ok(secret) => secret,
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                return Err(SecretProblem::NotFound {
                    secret: at.name.clone(),
                }
                .into());
            }
            Err(error) => return Err(Error::from(error).into()),
        };
        let digest = self.digest(&secret);
        self.digests
            .lock()
            .insert(secret_key(&at.namespace, &at.name).into(), digest);
        let value = secret
            .data
            .as_ref()
            .and_then(|data| data.get(&at.key))
            .and_then(|bytes| std::str::from_utf8(&bytes.0).ok())
            .map(str::trim)
            .filter(|value| !value.is_empty());
        let problem = || SecretProblem::KeyNotFound {
            secret: at.name.clone(),
            key: at.key.clone(),
        };
        Ok(value.map(SecretString::new).ok_or_else(problem)?)
    }

    /// Reads a per-bot API key for a join, and remembers it for the leave.
    pub async fn read_api_key(&self, at: &SecretKeyRef) -> Result<SecretString, Unmet> {
        let key = self.read(at).await?;
        self.api_keys_in_use.lock().insert(at.clone(), key.clone());
        Ok(key)
    }

    /// Reads a per-bot API key for a leave: when the Secret is gone, the value a
    /// join last used.
    pub async fn read_api_key_for_leave(&self, at: &SecretKeyRef) -> Result<SecretString, Unmet> {
        match self.read(at).await {
            Err(Unmet::Secret(problem)) => Ok(self
                .api_keys_in_use
                .lock()
                .get(at)
                .cloned()
                .ok_or(problem)?),
            read => read,
        }
    }
}
