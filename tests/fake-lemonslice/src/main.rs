//! `fake-lemonslice`: the fake LemonSlice API as a process. Prints
//! `listening on http://HOST:PORT` on stdout once it accepts calls, logs to
//! stderr, and runs until interrupted.

use clap::Parser;
use fake_lemonslice::{Config, FakeServer, Faults};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// A fake LemonSlice API server: join, leave and session status, with faults
/// to inject and a control API under /_fake/.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// An accepted X-API-Key value (repeatable).
    #[arg(long = "api-key", required = true)]
    api_keys: Vec<String>,
    /// A session that exists from the start, ACTIVE (repeatable).
    #[arg(long = "session")]
    sessions: Vec<String>,
    /// Only the sessions named (here or through /_fake/sessions) exist.
    #[arg(long)]
    only_known_sessions: bool,
    /// Delay added before answering each vendor call.
    #[arg(long, default_value_t = Faults::default().latency_ms)]
    latency_ms: u64,
    /// Up to this much more delay, drawn uniformly for each call.
    #[arg(long, default_value_t = Faults::default().jitter_ms)]
    jitter_ms: u64,
    /// Share (0 to 1) of vendor calls answered with an injected error instead.
    #[arg(long, default_value_t = Faults::default().error_rate)]
    error_rate: f64,
    /// A status injected errors are drawn from (repeatable).
    #[arg(long = "error-status", default_values_t = Faults::default().error_statuses)]
    error_statuses: Vec<u16>,
    /// Retry-After, in seconds, on injected 429 and 503 answers.
    #[arg(long)]
    retry_after_secs: Option<u64>,
    /// Share of joins carried out whose connection is then closed without an answer.
    #[arg(long, default_value_t = Faults::default().drop_join_rate)]
    drop_join_rate: f64,
    /// Share of vendor calls carried out but held without an answer.
    #[arg(long, default_value_t = Faults::default().hang_rate)]
    hang_rate: f64,
    /// How long a hung call is held before its connection is closed.
    #[arg(long, default_value_t = Faults::default().hang_secs)]
    hang_secs: u64,
    /// An endpoint the faults apply to: join, leave or session (repeatable).
    #[arg(long = "fault-endpoint", default_values_t = Faults::default().endpoints)]
    fault_endpoints: Vec<String>,
}

impl Cli {
    fn into_config(self) -> Config {
        Config {
            api_keys: self.api_keys,
            sessions: self.sessions,
            only_known_sessions: self.only_known_sessions,
            faults: Faults {
                latency_ms: self.latency_ms,
                jitter_ms: self.jitter_ms,
                error_rate: self.error_rate,
                error_statuses: self.error_statuses,
                retry_after_secs: self.retry_after_secs,
                drop_join_rate: self.drop_join_rate,
                hang_rate: self.hang_rate,
                hang_secs: self.hang_secs,
                endpoints: self.fault_endpoints,
                ..Faults::default()
            },
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let listener = TcpListener::bind(cli.listen).await?;
    let server = FakeServer::serve(listener, cli.into_config()).await?;
    tracing::info!(url = server.url(), "fake LemonSlice ready");
    // The line scripts and tests wait for: flushed, since stdout is a pipe there.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.url())?;
    stdout.flush()?;
    drop(stdout);
    tokio::signal::ctrl_c().await?;
    tracing::info!("interrupted, stopping");
    Ok(())
}
