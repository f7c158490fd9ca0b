//! `kubectl_complete-mbot`: kubectl completes a plugin's arguments by running
//! `kubectl_complete-<plugin>` from PATH with the words typed after the
//! plugin's name (the last one the word being completed, "" for a new one)
//! and reading one candidate a line, then `:<cobra directive>`.
//!
//! The answers come from the plugin itself (`kubectl-mbot __complete ...`),
//! which knows its verbs and flags: this runs the `kubectl-mbot` beside this
//! executable, else the one on PATH.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("kubectl-mbot")))
        .filter(|plugin| plugin.is_file());
    let plugin = beside.unwrap_or_else(|| "kubectl-mbot".into());
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Called as cobra's own `__complete` (by hand, or by a wrapper script): the same words.
    if args.first().map(String::as_str) == Some("__complete") {
        args.remove(0);
    }
    let mut command = Command::new(&plugin);
    command.arg("__complete").args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        eprintln!("cannot run {}: {error}", plugin.display());
        // ShellCompDirectiveError: the shell offers nothing.
        println!(":1");
        ExitCode::FAILURE
    }
    #[cfg(not(unix))]
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        _ => {
            println!(":1");
            ExitCode::FAILURE
        }
    }
}
