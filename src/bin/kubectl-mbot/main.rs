//! `kubectl mbot`: the kubectl plugin for MeetingBots. kubectl finds this
//! binary on PATH as `kubectl-mbot` and runs it for `kubectl mbot ...`.
//!
//! Exit codes follow kubectl's: 0 when done, 1 on an error or a refusal,
//! with a message that says what is wrong and what to do.

mod adopt;
mod cli;
mod connect;
mod discard;
mod events;
mod format;
mod list;
mod patch;
mod reconcile;
mod record;
mod retry_join;
mod status;
mod suspend;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // --help and --version are not errors; usage errors exit 1, as kubectl's do.
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Command::Completion { shell } = cli.command {
        clap_complete::generate(
            shell,
            // The script completes the binary as its own command.
            &mut Cli::command().bin_name("kubectl-mbot"),
            "kubectl-mbot",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let target = connect::connect(&cli.global).await?;
    match cli.command {
        Command::Status { name } => status::run(&target, &name).await,
        Command::List { all_namespaces } => list::run(&target, all_namespaces).await,
        Command::Reconcile { name, timeout } => reconcile::run(&target, &name, timeout).await,
        Command::Suspend { name } => suspend::run(&target, &name, true).await,
        Command::Resume { name } => suspend::run(&target, &name, false).await,
        Command::RetryJoin { name, yes } => retry_join::run(&target, &name, yes).await,
        Command::Adopt {
            name,
            bot_id,
            session,
        } => adopt::run(&target, &name, &bot_id, session.as_deref()).await,
        Command::DiscardRecord { name } => discard::run(&target, &name).await,
        Command::Completion { .. } => unreachable!("handled before connecting"),
    }
}
