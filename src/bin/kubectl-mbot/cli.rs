//! The command line: flags and subcommands, as clap parses them.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Look after MeetingBots: see what needs you, and get a stuck bot going again.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mbot",
    bin_name = "kubectl mbot",
    version,
    after_help = "Exit codes: 0 done, 1 error or refusal (the message says what to do).\n\
                  kubectl finds this binary on PATH as `kubectl mbot`; put flags after `mbot`."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The usual kubectl flags.
#[derive(Debug, Args)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One screen on a MeetingBot: phase, bot, session, time left, conditions,
    /// latest Events and, when it needs you, the command that gets it going.
    Status {
        /// The MeetingBot.
        name: String,
    },
    /// MeetingBots, those that need attention (Stalled, stuck deleting) first.
    List {
        /// List MeetingBots of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Ask the operator to look at a MeetingBot now, and wait until it has.
    Reconcile {
        /// The MeetingBot.
        name: String,
        /// How long to wait for the operator, e.g. 30s or 2m.
        #[arg(long, default_value = "60s", value_parser = meetingbot_operator::api::parse_go_duration)]
        timeout: Duration,
    },
    /// Take the avatar out of the meeting and keep it out (spec.suspend=true).
    Suspend {
        /// The MeetingBot.
        name: String,
    },
    /// Let a suspended MeetingBot join again (spec.suspend=false).
    Resume {
        /// The MeetingBot.
        name: String,
    },
    /// Allow exactly one new join after a join whose outcome is unknown.
    /// The meeting may get a second avatar: asks for confirmation unless --yes.
    RetryJoin {
        /// The MeetingBot.
        name: String,
        /// Do not ask; needed when standard input is not a terminal.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Record a bot that is in the meeting (after a join whose outcome is
    /// unknown), or take over the record of a copied or restored MeetingBot.
    Adopt {
        /// The MeetingBot.
        name: String,
        /// The bot's id at LemonSlice (`meeting_bot_id`).
        #[arg(long, value_name = "ID")]
        bot_id: String,
        /// The session the bot joined under (default: the session of the
        /// join in flight, else spec.sessionId).
        #[arg(long, value_name = "SESSION")]
        session: Option<String>,
    },
    /// Drop the record copied from another MeetingBot (no leave: that bot is
    /// the other object's) and join afresh.
    DiscardRecord {
        /// The MeetingBot.
        name: String,
    },
    /// Print a shell completion script for kubectl-mbot.
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_go_anywhere_and_timeouts_are_go_durations() {
        let cli = Cli::try_parse_from([
            "kubectl-mbot",
            "reconcile",
            "standup",
            "-n",
            "team",
            "--timeout",
            "1m30s",
        ])
        .unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("team"));
        assert!(matches!(
            cli.command,
            Command::Reconcile { timeout, .. } if timeout == Duration::from_secs(90)
        ));
        assert!(
            Cli::try_parse_from(["kubectl-mbot", "reconcile", "x", "--timeout", "soon"]).is_err()
        );
    }
}
