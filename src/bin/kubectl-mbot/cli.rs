//! The command line: flags and subcommands, as clap parses them.

use crate::output::{DataFormat, Format};
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
#[derive(Clone, Debug, Default, Args)]
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
    /// The kubeconfig cluster to use (default: the context's).
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use (default: the context's).
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Act as this user, e.g. system:serviceaccount:NS:NAME (impersonation).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Act as a member of this group (repeat for several); needs --as.
    #[arg(
        long = "as-group",
        global = true,
        value_name = "GROUP",
        requires = "as_user"
    )]
    pub as_group: Vec<String>,
    /// How long to wait for one answer of the API server, e.g. 5s, 1m, or a
    /// number of seconds; 0 waits as long as it takes.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_request_timeout)]
    pub request_timeout: Option<Duration>,
}

/// kubectl's --request-timeout: a bare number is seconds, else a Go duration;
/// zero means no timeout.
pub fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => meetingbot_operator::api::parse_go_duration(text).map_err(|e| e.to_string()),
    }
}

/// Which MeetingBots a command acts on: one by name, those matching a
/// selector, or every one in the namespace.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Selection {
    /// The MeetingBot.
    pub name: Option<String>,
    /// Every MeetingBot of the namespace whose labels match, e.g. team=a.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Every MeetingBot of the namespace.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One screen on a MeetingBot: phase, bot, session, time left, conditions,
    /// latest Events and, when it needs you, the command that gets it going.
    Status {
        /// The MeetingBot.
        name: String,
        /// Print the same facts as data: json or yaml.
        #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
        output: Option<DataFormat>,
    },
    /// MeetingBots, those that need attention (Stalled, stuck deleting) first.
    List {
        /// List MeetingBots of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Only MeetingBots whose labels match, e.g. team=a or 'env in (prod)'.
        #[arg(short = 'l', long, value_name = "SELECTOR")]
        selector: Option<String>,
        /// json or yaml (a kubectl List), wide (more columns) or name.
        #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
        output: Option<Format>,
    },
    /// Ask the operator to look at MeetingBots now, and wait until it has.
    Reconcile {
        #[command(flatten)]
        which: Selection,
        /// How long to wait for the operator, e.g. 30s or 2m.
        #[arg(long, default_value = "60s", value_parser = meetingbot_operator::api::parse_go_duration)]
        timeout: Duration,
    },
    /// Take the avatar out of the meeting and keep it out (spec.suspend=true).
    Suspend {
        #[command(flatten)]
        which: Selection,
    },
    /// Let a suspended MeetingBot join again (spec.suspend=false).
    Resume {
        #[command(flatten)]
        which: Selection,
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
    /// The plugin's version, the API server's, and the operator's (its
    /// Deployment's image) and leader (the holder of its Lease).
    Version {
        #[command(flatten)]
        place: Where,
    },
    /// One line per fact (✔/✗): the CRD, the operator's Deployment and Lease,
    /// and your rights on MeetingBots; exit 1 when something is wrong.
    Check {
        /// Before install: the server's version, no CRD or a compatible one,
        /// and your right to create CRDs.
        #[arg(long)]
        pre: bool,
        #[command(flatten)]
        place: Where,
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
            Command::Reconcile { timeout, ref which } if timeout == Duration::from_secs(90)
                && which.name.as_deref() == Some("standup")
        ));
        assert!(
            Cli::try_parse_from(["kubectl-mbot", "reconcile", "x", "--timeout", "soon"]).is_err()
        );
    }

    #[test]
    fn a_selection_is_a_name_a_selector_or_all_and_only_one() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["kubectl-mbot"].iter().chain(args)).map(|cli| cli.command)
        };
        assert!(matches!(
            parse(&["suspend", "-l", "team=a"]),
            Ok(Command::Suspend { which }) if which.selector.as_deref() == Some("team=a")
        ));
        assert!(matches!(
            parse(&["resume", "--all"]),
            Ok(Command::Resume { which }) if which.all && which.name.is_none()
        ));
        assert!(parse(&["suspend"]).is_err(), "something to act on");
        assert!(parse(&["suspend", "x", "--all"]).is_err(), "only one way");
        assert!(parse(&["reconcile", "-l", "a=b", "--all"]).is_err());
        assert!(
            parse(&["retry-join", "--all"]).is_err(),
            "one name at a time"
        );
        assert!(matches!(
            parse(&["list", "-o", "wide", "-l", "team=a"]),
            Ok(Command::List {
                output: Some(Format::Wide),
                ..
            })
        ));
        assert!(parse(&["status", "x", "-o", "wide"]).is_err());
    }

    #[test]
    fn kubectls_global_flags_parse() {
        let cli = Cli::try_parse_from([
            "kubectl-mbot",
            "list",
            "--as=system:serviceaccount:ns:nobody",
            "--as-group",
            "a",
            "--as-group=b",
            "--cluster",
            "c",
            "--user",
            "u",
            "--request-timeout",
            "5",
        ])
        .unwrap();
        let g = cli.global;
        assert_eq!(
            g.as_user.as_deref(),
            Some("system:serviceaccount:ns:nobody")
        );
        assert_eq!(g.as_group, ["a", "b"]);
        assert_eq!(
            (g.cluster.as_deref(), g.user.as_deref()),
            (Some("c"), Some("u"))
        );
        assert_eq!(g.request_timeout, Some(Duration::from_secs(5)));
        assert_eq!(parse_request_timeout("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_request_timeout("soon").is_err());
        assert!(Cli::try_parse_from(["kubectl-mbot", "list", "--as-group", "a"]).is_err());
    }
}

/// Where to look for the operator.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Where {
    /// The operator's namespace (default: that of the chart's Deployment, else -n's).
    #[arg(long, value_name = "NAMESPACE")]
    pub operator_namespace: Option<String>,
    /// The operator's leader-election Lease (default: the Deployment's
    /// LEASE_NAME, else meetingbot-operator).
    #[arg(long, value_name = "NAME")]
    pub lease_name: Option<String>,
}
