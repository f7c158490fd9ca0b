//! `kubectl-mbot __complete WORDS...`: the answers behind
//! `kubectl_complete-mbot`, in cobra's protocol: one candidate a line, then
//! `:<directive>` (4, NoFileComp, unless a flag wants a file).
//!
//! It offers the verbs, the flags, the values of `-o` and of `completion`,
//! namespaces after `-n`, and the MeetingBot names of the namespace given by
//! `-n` (else the kubeconfig's) where a verb takes a NAME.

use crate::cli::{Cli, Global};
use clap::{Arg, CommandFactory};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use std::process::ExitCode;

/// cobra's ShellCompDirective values.
const DIRECTIVE_ERROR: u32 = 1;
const DIRECTIVE_DEFAULT: u32 = 0;
const NO_FILE: u32 = 4;

/// What to complete, worked out from the words alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Want {
    Verbs,
    Flags(Option<String>),
    Values(Vec<String>),
    Namespaces,
    Names,
    /// A flag's value that is a file path (--kubeconfig): the shell's own completion.
    Files,
    Nothing,
}

/// The words typed so far (the last the one being completed): what it wants,
/// and the kubectl flags given (namespace, kubeconfig, context, ...).
pub fn understand(words: &[String]) -> (Want, Global) {
    let root = Cli::command();
    let (current, before) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let mut global = Global::default();
    let mut verb: Option<clap::Command> = None;
    let mut positionals = 0;
    let mut pending: Option<Arg> = None;
    let find = |verb: &Option<clap::Command>, flag: &str| -> Option<Arg> {
        let flag_matches = |a: &Arg| match flag.strip_prefix("--") {
            Some(long) => a.get_long() == Some(long),
            None => flag
                .strip_prefix('-')
                .and_then(|s| s.chars().next())
                .is_some_and(|c| a.get_short() == Some(c)),
        };
        root.get_arguments()
            .chain(verb.iter().flat_map(|v| v.get_arguments()))
            .find(|a| flag_matches(a))
            .cloned()
    };
    let take = |arg: &Arg, value: &str, global: &mut Global| match arg.get_id().as_str() {
        "namespace" => global.namespace = Some(value.to_owned()),
        "kubeconfig" => global.kubeconfig = Some(value.into()),
        "context" => global.context = Some(value.to_owned()),
        "cluster" => global.cluster = Some(value.to_owned()),
        "user" => global.user = Some(value.to_owned()),
        "as_user" => global.as_user = Some(value.to_owned()),
        "as_group" => global.as_group.push(value.to_owned()),
        _ => {}
    };
    for word in before {
        if let Some(arg) = pending.take() {
            take(&arg, word, &mut global);
            continue;
        }
        if word.starts_with('-') && word.len() > 1 {
            let (flag, inline) = match word.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (word.as_str(), None),
            };
            // -nNS: a short flag with its value attached.
            let (flag, inline) = match (flag.starts_with("--"), inline) {
                (false, None) if flag.len() > 2 => (&flag[..2], Some(&flag[2..])),
                other => (flag, other.1),
            };
            if let Some(arg) = find(&verb, flag)
                && arg.get_action().takes_values()
            {
                match inline {
                    Some(value) => take(&arg, value, &mut global),
                    None => pending = Some(arg),
                }
            }
            continue;
        }
        match &verb {
            None => verb = root.find_subcommand(word).cloned(),
            Some(_) => positionals += 1,
        }
    }
    if let Some(arg) = pending {
        let want = match arg.get_id().as_str() {
            "namespace" => Want::Namespaces,
            "kubeconfig" => Want::Files,
            _ => match values_of(&arg) {
                values if values.is_empty() => Want::Nothing,
                values => Want::Values(values),
            },
        };
        return (want, global);
    }
    if current.starts_with('-') {
        return (Want::Flags(verb.map(|v| v.get_name().to_owned())), global);
    }
    let want = match verb {
        None => Want::Verbs,
        Some(verb) => {
            let positional = verb
                .get_positionals()
                .nth(positionals)
                .map(|a| (a.get_id().as_str().to_owned(), values_of(a)));
            match positional {
                Some((id, _)) if id == "name" => Want::Names,
                Some((_, values)) if !values.is_empty() => Want::Values(values),
                _ => Want::Nothing,
            }
        }
    };
    (want, global)
}

fn values_of(arg: &Arg) -> Vec<String> {
    arg.get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect()
}

/// The long flags of the verb (or of the root) and the global ones.
fn flags(verb: Option<&str>) -> Vec<String> {
    let root = Cli::command();
    let mut args: Vec<&Arg> = root.get_arguments().collect();
    let sub = verb.and_then(|v| root.find_subcommand(v));
    if let Some(sub) = sub {
        args.extend(sub.get_arguments());
    }
    let mut flags: Vec<String> = args
        .into_iter()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

fn verbs() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_owned())
        .collect()
}

/// Answers one completion request: prints the candidates and the directive.
pub fn run(words: Vec<String>) -> ExitCode {
    let current = words.last().cloned().unwrap_or_default();
    let (want, global) = understand(&words);
    let found: anyhow::Result<(Vec<String>, u32)> = match want {
        Want::Verbs => Ok((verbs(), NO_FILE)),
        Want::Flags(verb) => Ok((flags(verb.as_deref()), NO_FILE)),
        Want::Values(values) => Ok((values, NO_FILE)),
        Want::Files => Ok((vec![], DIRECTIVE_DEFAULT)),
        Want::Nothing => Ok((vec![], NO_FILE)),
        Want::Namespaces | Want::Names => from_cluster(&want, &global),
    };
    match found {
        Ok((candidates, directive)) => {
            for candidate in candidates.iter().filter(|c| c.starts_with(&current)) {
                println!("{candidate}");
            }
            println!(":{directive}");
        }
        Err(error) => {
            eprintln!("kubectl mbot: cannot complete: {error:#}");
            println!(":{DIRECTIVE_ERROR}");
        }
    }
    ExitCode::SUCCESS
}

fn from_cluster(want: &Want, global: &Global) -> anyhow::Result<(Vec<String>, u32)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut global = global.clone();
        // A completion must not hang the shell.
        global
            .request_timeout
            .get_or_insert(std::time::Duration::from_secs(5));
        let target = crate::connect::connect(&global).await?;
        let names = match want {
            Want::Namespaces => {
                let namespaces: Api<Namespace> = Api::all(target.client.clone());
                namespaces
                    .list_metadata(&ListParams::default())
                    .await?
                    .items
                    .into_iter()
                    .filter_map(|n| n.metadata.name)
                    .collect()
            }
            _ => target
                .bots()
                .list_metadata(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter_map(|b| b.metadata.name)
                .collect(),
        };
        Ok((names, NO_FILE))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(words: &[&str]) -> (Want, Global) {
        understand(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn verbs_then_names_of_the_namespace_given() {
        assert_eq!(want(&[""]).0, Want::Verbs);
        assert_eq!(want(&["st"]).0, Want::Verbs);
        let (what, global) = want(&["status", "-n", "team", ""]);
        assert_eq!(what, Want::Names);
        assert_eq!(global.namespace.as_deref(), Some("team"));
        let (what, global) = want(&["-n=team", "suspend", "st"]);
        assert_eq!(what, Want::Names);
        assert_eq!(global.namespace.as_deref(), Some("team"));
        assert_eq!(
            want(&["-nteam", "status", ""]).1.namespace.as_deref(),
            Some("team")
        );
        assert_eq!(want(&["status", "standup", ""]).0, Want::Nothing);
        assert_eq!(want(&["adopt", "standup", "--bot-id", ""]).0, Want::Nothing);
    }

    #[test]
    fn namespaces_after_n_and_values_of_output() {
        assert_eq!(want(&["status", "-n", ""]).0, Want::Namespaces);
        assert_eq!(want(&["--namespace", "t"]).0, Want::Namespaces);
        assert_eq!(
            want(&["list", "-o", ""]).0,
            Want::Values(vec![
                "json".into(),
                "yaml".into(),
                "wide".into(),
                "name".into()
            ])
        );
        assert!(
            matches!(want(&["completion", ""]).0, Want::Values(v) if v.contains(&"bash".to_owned()))
        );
        assert_eq!(want(&["--kubeconfig", ""]).0, Want::Files);
        assert_eq!(want(&["list", "--"]).0, Want::Flags(Some("list".into())));
        assert!(flags(Some("list")).contains(&"--selector".to_owned()));
        assert!(flags(None).contains(&"--namespace".to_owned()));
        assert!(verbs().contains(&"retry-join".to_owned()));
    }
}
