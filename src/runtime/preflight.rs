//! `meetingbot-operator preflight-uninstall`: the check the chart's
//! pre-delete hook runs, so that `helm uninstall` cannot strand avatars.
//! Uninstalling while MeetingBots still hold the leave finalizer would leave
//! them undeletable (nobody removes it), their namespaces Terminating and
//! their avatars in meetings.

use crate::api::{FINALIZER, MeetingBot};
use config::PreflightArgs;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use std::process::ExitCode;

use super::config;

/// Lists the MeetingBots in scope that still hold the finalizer: exit 1 with
/// each of them and the ways out, exit 0 when there is none.
pub async fn uninstall(args: PreflightArgs) -> ExitCode {
    let install = match args.scope.install() {
        Ok(install) => install,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    match holding(&args, install).await {
        Ok(names) if names.is_empty() => {
            println!(
                "✔ no MeetingBot in this install's scope holds {FINALIZER}: safe to uninstall"
            );
            ExitCode::SUCCESS
        }
        Ok(names) => {
            eprintln!(
                "✗ {} MeetingBot(s) still hold {FINALIZER}: uninstalling now would leave them \
                 undeletable, their namespaces Terminating and their avatars in meetings:",
                names.len()
            );
            for name in &names {
                eprintln!("  {name}");
            }
            eprintln!(
                "Delete them first and wait until they are gone (`kubectl delete mbot --all -n \
                 NAMESPACE --wait`): their avatars leave. Or, knowing that the avatars stay and \
                 the finalizers must then be removed by hand, uninstall with `--no-hooks`."
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: cannot list MeetingBots: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `namespace/name` of every MeetingBot in scope that holds the finalizer,
/// but those another install acts on (their install takes their avatars out).
async fn holding(args: &PreflightArgs, install: &str) -> kube::Result<Vec<String>> {
    let client = kube::Client::try_default().await?;
    // Untyped, so that one object that does not decode hides no other.
    let resource = ApiResource::erase::<MeetingBot>(&());
    let apis: Vec<Api<DynamicObject>> = if args.scope.namespaces.is_empty() {
        vec![Api::all_with(client, &resource)]
    } else {
        args.scope
            .namespaces
            .iter()
            .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
            .collect()
    };
    let params = match &args.scope.label_selector {
        Some(selector) => ListParams::default().labels(selector),
        None => ListParams::default(),
    };
    let mut names = vec![];
    for api in apis {
        for bot in api.list(&params).await? {
            let holds = bot
                .metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == FINALIZER);
            if holds && !acted_on_elsewhere(&bot, install) {
                let ns = bot.metadata.namespace.unwrap_or_default();
                names.push(format!("{ns}/{}", bot.metadata.name.unwrap_or_default()));
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Whether another install acts on `bot`; one that does not decode counts
/// as this install's, which is the careful answer.
fn acted_on_elsewhere(bot: &DynamicObject, install: &str) -> bool {
    serde_json::to_value(bot)
        .and_then(serde_json::from_value::<MeetingBot>)
        .ok()
        .is_some_and(|bot| bot.acted_on_elsewhere(install))
}
