//! Reading the credentials a vendor call needs: the broadcast token and API
//! key Secrets a MeetingBot references, and the operator's own API key.

use super::decide::SecretProblem;
use crate::Result;
use crate::lemonslice::SecretString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

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

/// Where a credential lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretKeyRef {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

/// Reads Secrets on demand (the operator keeps none in memory, but for the
/// API keys of joined bots, below).
pub struct SecretReader {
    client: kube::Client,
    /// The last value of each per-bot API key Secret that a join used. Deleting a
    /// namespace deletes its Secrets while MeetingBots wait for leave, which
    /// still needs the key.
    api_keys_in_use: Mutex<HashMap<SecretKeyRef, SecretString>>,
}

impl SecretReader {
    pub fn new(client: kube::Client) -> SecretReader {
        SecretReader {
            client,
            api_keys_in_use: Mutex::default(),
        }
    }

    /// The value of one key of a Secret, or why it cannot be had.
    pub async fn read(&self, at: &SecretKeyRef) -> Result<Result<SecretString, SecretProblem>> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &at.namespace);
        let Some(secret) = secrets.get_opt(&at.name).await? else {
            return Ok(Err(SecretProblem::NotFound {
                secret: at.name.clone(),
            }));
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|data| data.get(&at.key))
            .and_then(|bytes| std::str::from_utf8(&bytes.0).ok())
            .map(str::trim)
            .filter(|value| !value.is_empty());
        Ok(value
            .map(SecretString::new)
            .ok_or_else(|| SecretProblem::KeyNotFound {
                secret: at.name.clone(),
                key: at.key.clone(),
            }))
    }

    /// Reads a per-bot API key for a join, and remembers it for the leave.
    pub async fn read_api_key(
        &self,
        at: &SecretKeyRef,
    ) -> Result<Result<SecretString, SecretProblem>> {
        let read = self.read(at).await?;
        if let Ok(key) = &read {
            self.remembered().insert(at.clone(), key.clone());
        }
        Ok(read)
    }

    /// Reads a per-bot API key for a leave: when the Secret is gone, the value a
    /// join last used.
    pub async fn read_api_key_for_leave(
        &self,
        at: &SecretKeyRef,
    ) -> Result<Result<SecretString, SecretProblem>> {
        Ok(match self.read(at).await? {
            Ok(key) => Ok(key),
            Err(problem) => self.remembered().get(at).cloned().ok_or(problem),
        })
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<SecretKeyRef, SecretString>> {
        self.api_keys_in_use
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
