//! The writes the commands make to a MeetingBot.

use crate::connect::{Target, api_error};
use anyhow::anyhow;
use kube::api::{Patch, PatchParams};
use meetingbot_operator::api::MeetingBot;
use serde_json::{Value, json};

/// The field manager of the plugin's writes.
const MANAGER: &str = "kubectl-mbot";

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// A new value for the annotations that request something "once per new value".
pub fn fresh_value() -> String {
    jiff::Timestamp::now().to_string()
}

/// Merge-patches the MeetingBot (annotations or spec).
pub async fn merge(target: &Target, name: &str, patch: Value, doing: &str) -> anyhow::Result<()> {
    target
        .bots()
        .patch(name, &params(), &Patch::Merge(patch))
        .await
        .map_err(|e| api_error(e, doing))?;
    Ok(())
}

/// Sets annotations with a merge patch.
pub async fn annotate(
    target: &Target,
    name: &str,
    annotations: &[(&str, &str)],
    doing: &str,
) -> anyhow::Result<()> {
    let map: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    merge(
        target,
        name,
        json!({"metadata": {"annotations": map}}),
        doing,
    )
    .await
}

/// A JSON Patch that sets annotations only if the object is still at the
/// resourceVersion it was read at: its first operation tests it.
pub fn guarded_annotations(bot: &MeetingBot, annotations: &[(&str, &str)]) -> Value {
    let version = bot.metadata.resource_version.clone().unwrap_or_default();
    let mut ops =
        vec![json!({"op": "test", "path": "/metadata/resourceVersion", "value": version})];
    if bot.metadata.annotations.is_none() {
        ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": {}}));
    }
    for (key, value) in annotations {
        // JSON Pointer: `~` is `~0` and `/` is `~1`.
        let escaped = key.replace('~', "~0").replace('/', "~1");
        ops.push(json!({"op": "add", "path": format!("/metadata/annotations/{escaped}"), "value": value}));
    }
    Value::Array(ops)
}

/// Applies [`guarded_annotations`]; a concurrent change is refused, not overwritten.
pub async fn guarded_annotate(
    target: &Target,
    bot: &MeetingBot,
    annotations: &[(&str, &str)],
) -> anyhow::Result<()> {
    let name = bot.metadata.name.as_deref().unwrap_or_default();
    let patch: json_patch::Patch = serde_json::from_value(guarded_annotations(bot, annotations))?;
    let result = target
        .bots()
        .patch(name, &params(), &Patch::Json::<()>(patch))
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(response)) if response.code == 409 || response.code == 422 => {
            Err(anyhow!(
                "MeetingBot {name} changed while this command read it ({}); nothing was written: \
             run the command again, it looks at the new state",
                response.message
            ))
        }
        Err(e) => Err(api_error(e, &format!("writing MeetingBot {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::bot;

    #[test]
    fn the_guarded_patch_tests_the_version_first_and_escapes_keys() {
        let patch = guarded_annotations(&bot(&[], None), &[("liveai.lemonslice.com/x", "1")]);
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
                {"op": "add", "path": "/metadata/annotations/liveai.lemonslice.com~1x", "value": "1"}
            ])
        );
        let mut bare = bot(&[], None);
        bare.metadata.annotations = None;
        let patch = guarded_annotations(&bare, &[("a", "1")]);
        assert_eq!(patch[1]["path"], "/metadata/annotations");
        serde_json::from_value::<json_patch::Patch>(patch).unwrap();
    }
}
