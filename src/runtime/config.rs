//! The command line. Every flag of `run` can also be set from the environment.

use crate::api::parse_go_duration;
use crate::lemonslice::SecretString;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "meetingbot-operator",
    version,
    about = "Makes LemonSlice avatars join and leave meetings declared as MeetingBot resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator.
    Run(Box<RunArgs>),
    /// Print the MeetingBot CustomResourceDefinition as YAML.
    Crd,
    /// Before uninstalling: fail, listing them, while MeetingBots in scope
    /// still hold the leave finalizer (the chart's pre-delete hook).
    PreflightUninstall(PreflightArgs),
    /// Check a running operator through its metrics and health server: /readyz
    /// answers 200 and /metrics carries the build info (what `helm test` runs).
    Check(CheckArgs),
}

/// Which MeetingBots an install acts on, and who it is: what `run` acts on
/// and what `preflight-uninstall` checks.
#[derive(Debug, Args)]
pub struct Scope {
    /// Namespaces to watch, comma-separated; all when empty.
    #[arg(long, env = "WATCH_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Only MeetingBots matching this label selector (to shard a cluster between operators).
    #[arg(long, env = "LABEL_SELECTOR")]
    pub label_selector: Option<String>,

    /// Identity of this install (the chart sets NAMESPACE/RELEASE), stamped in the status of every
    /// MeetingBot it acts on: another install whose scope also holds the object makes no call for it.
    /// Replicas of one install share it; installs must not. Default: `default`, but not with
    /// --label-selector.
    #[arg(long, env = "INSTALL_ID", value_parser = parse_install_id)]
    pub install_id: Option<String>,
}

impl Scope {
    /// This install's identity. A label selector shards namespaces between
    /// installs, which under one default id would each take the others'
    /// MeetingBots for their own strays and hand them over (a leave with the
    /// wrong account, whose 404 proves nothing): it needs an id given.
    pub fn install(&self) -> Result<&str, String> {
        match (&self.install_id, &self.label_selector) {
            (Some(id), _) => Ok(id),
            (None, None) => Ok(DEFAULT_INSTALL_ID),
            (None, Some(_)) => Err(format!(
                "--label-selector needs --install-id (INSTALL_ID): shards share their namespaces with \
                 other installs, and each must tell its MeetingBots from theirs. Give this install an \
                 id of its own; --install-id={DEFAULT_INSTALL_ID} keeps acting on the MeetingBots it \
                 stamped so far, if no other install runs under that id"
            )),
        }
    }
}

/// The scope of the install about to be uninstalled, as its `run` takes it.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub scope: Scope,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Base URL of the operator's metrics and health server, e.g. http://meetingbot-operator-metrics:8080.
    #[arg(long, env = "OPERATOR_URL")]
    pub url: String,

    /// How long to keep trying before the check fails.
    #[arg(long, default_value = "60s", value_parser = parse_go_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of the LemonSlice API.
    #[arg(long, env = "LEMONSLICE_URL", default_value = crate::lemonslice::DEFAULT_BASE_URL, value_parser = parse_base_url)]
    pub lemonslice_url: String,

    /// File holding the operator's LemonSlice API key (a mounted Secret); re-read at every use.
    #[arg(long, env = "LEMONSLICE_API_KEY_FILE", conflicts_with = "api_key")]
    pub api_key_file: Option<PathBuf>,

    /// The operator's LemonSlice API key. Prefer --api-key-file: environment variables leak more easily.
    /// Held as a secret: `Debug` of the arguments prints `[redacted]`.
    #[arg(long = "api-key", env = "LEMONSLICE_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub api_key: Option<SecretString>,

    /// Timeout for connecting to LemonSlice.
    #[arg(long, env = "LEMONSLICE_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_go_duration)]
    pub connect_timeout: Duration,

    /// Timeout for a whole LemonSlice call.
    #[arg(long, env = "LEMONSLICE_TIMEOUT", default_value = "30s", value_parser = parse_go_duration)]
    pub call_timeout: Duration,

    /// Process-wide bound on LemonSlice calls per second, across all MeetingBots: past it,
    /// calls wait (counted in meetingbot_operator_lemonslice_throttled_total).
    #[arg(long, env = "VENDOR_CALLS_PER_SECOND", default_value_t = crate::lemonslice::DEFAULT_CALLS_PER_SECOND, value_parser = clap::value_parser!(u32).range(1..))]
    pub vendor_calls_per_second: u32,

    #[command(flatten)]
    pub scope: Scope,

    /// How many MeetingBots are reconciled at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// After a join whose outcome is unknown, join again instead of waiting for a human
    /// (prefers presence over uniqueness: the meeting may get two avatars).
    #[arg(long, env = "RETRY_UNKNOWN_JOINS")]
    pub retry_unknown_joins: bool,

    /// How often the session of a joined bot is read, to learn that it ended (±20 % per bot).
    #[arg(long, env = "SESSION_POLL_INTERVAL", default_value = "30s", value_parser = parse_go_duration)]
    pub session_poll_interval: Duration,

    /// Keep the token of the websocket URL out of MeetingBot status (on by
    /// default: whoever reads the status would hear the meeting). Use
    /// spec.writeConnectionSecretToRef to hand the full URL to the agent;
    /// `=false` writes it into status.
    #[arg(
        long,
        env = "REDACT_WEBSOCKET_TOKEN",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub redact_websocket_token: bool,

    /// Address of the metrics and health server (/metrics, /healthz, /readyz).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Elect a leader through a Lease, so that only one replica reconciles.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Name of the leader election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "meetingbot-operator")]
    pub lease_name: String,

    /// Namespace of the leader election Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// How long a Lease lasts without renewal; a standby takes over within it.
    #[arg(long, env = "LEASE_DURATION", default_value = "15s", value_parser = parse_go_duration)]
    pub lease_duration: Duration,

    /// Identity of this replica in the Lease and in Events (default: the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Log level or filter, e.g. `info` or `meetingbot_operator=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// How long a shutdown waits for in-flight LemonSlice calls.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = parse_go_duration)]
    pub shutdown_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// The identity of an install started without `--install-id`.
const DEFAULT_INSTALL_ID: &str = "default";

/// An install identity: 1 to 128 characters, letters, digits and `-._/`
/// (it is written into status and quoted in Events).
fn parse_install_id(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._/".contains(c);
    if text.is_empty() || text.len() > 128 || !text.chars().all(allowed) {
        return Err(format!(
            "{text:?}: an install id has 1 to 128 characters, letters, digits and -._/"
        ));
    }
    Ok(text.to_owned())
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::new(text))
}

fn parse_base_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|error| format!("{text:?} is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must be an http or https URL"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("0s").is_err());
        assert_eq!(
            parse_go_duration("1m30s"),
            Ok(Duration::from_secs(90)),
            "the same grammar as spec.maxDuration"
        );
        assert!(parse_go_duration("ten seconds").is_err());
    }

    #[test]
    fn an_install_id_is_a_short_plain_name() {
        assert_eq!(
            parse_install_id("team-a/meetingbot"),
            Ok("team-a/meetingbot".into())
        );
        assert!(parse_install_id("").is_err());
        assert!(parse_install_id("a b").is_err());
        assert!(parse_install_id(&"x".repeat(129)).is_err());
    }

    #[test]
    fn debug_of_the_arguments_hides_the_api_key() {
        let cli = Cli::try_parse_from([
            "meetingbot-operator",
            "run",
            "--api-key",
            "sk-very-secret-7731",
        ])
        .unwrap();
        let Command::Run(args) = &cli.command else {
            panic!("run parses")
        };
        assert_eq!(
            args.api_key.as_ref().map(SecretString::expose),
            Some("sk-very-secret-7731")
        );
        let printed = format!("{cli:?}");
        assert!(!printed.contains("sk-very-secret-7731"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    /// The arguments of `run` with `flags`.
    fn run_with(flags: &[&str]) -> RunArgs {
        let words = ["meetingbot-operator", "run"].iter().chain(flags);
        let Command::Run(args) = Cli::try_parse_from(words).unwrap().command else {
            panic!("run parses")
        };
        *args
    }

    #[test]
    fn a_label_selector_needs_an_install_id_of_its_own() {
        let install = |flags: &[&str]| run_with(flags).scope.install().map(str::to_owned);
        assert_eq!(install(&[]), Ok(DEFAULT_INSTALL_ID.into()));
        let refused = install(&["--label-selector=shard=a"]).unwrap_err();
        assert!(refused.contains("--install-id"), "{refused}");
        assert_eq!(
            install(&["--label-selector=shard=a", "--install-id=team-a/shard-a"]),
            Ok("team-a/shard-a".into())
        );
    }

    #[test]
    fn the_websocket_token_stays_out_of_status_unless_asked_for() {
        let redacts = |flags: &[&str]| run_with(flags).redact_websocket_token;
        assert!(redacts(&[]), "redacted by default");
        assert!(
            redacts(&["--redact-websocket-token"]),
            "the flag alone, as before it was the default"
        );
        assert!(!redacts(&["--redact-websocket-token=false"]));
    }
}
