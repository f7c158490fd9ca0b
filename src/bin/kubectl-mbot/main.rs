//! `kubectl mbot`: the kubectl plugin for MeetingBots. kubectl finds this
//! binary on PATH as `kubectl-mbot` and runs it for `kubectl mbot ...`.
//!
//! Exit codes follow kubectl's: 0 when done, 1 on an error or a refusal,
//! with a message that says what is wrong and what to do.

mod adopt;
mod check;
mod cli;
mod complete;
mod connect;
mod discard;
mod events;
mod format;
mod list;
mod output;
mod patch;
mod reconcile;
mod record;
mod retry_join;
mod select;
mod status;
mod suspend;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    // kubectl_complete-mbot's questions (cobra's protocol), before any parsing.
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("__complete") {
        return complete::run(args.collect());
    }
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
        Command::Status { name, output } => status::run(&target, &name, output).await,
        Command::List {
            all_namespaces,
            selector,
            output,
        } => list::run(&target, all_namespaces, selector.as_deref(), output).await,
        Command::Reconcile { which, timeout } => reconcile::run(&target, &which, timeout).await,
        Command::Suspend { which } => suspend::run(&target, &which, true).await,
        Command::Resume { which } => suspend::run(&target, &which, false).await,
        Command::RetryJoin { name, yes } => retry_join::run(&target, &name, yes).await,
        Command::Adopt {
            name,
            bot_id,
            session,
        } => adopt::run(&target, &name, &bot_id, session.as_deref()).await,
        Command::DiscardRecord { name } => discard::run(&target, &name).await,
        Command::Version { place } => check::version(&target, &place).await,
        Command::Check { pre, place } => check::check(&target, &place, pre).await,
        Command::Completion { .. } => unreachable!("handled before connecting"),
    }
}
