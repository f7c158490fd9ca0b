use clap::Parser;
use kube::CustomResourceExt;
use meetingbot_operator::api::MeetingBot;
use meetingbot_operator::runtime::{self, config::Cli, config::Command};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => {
            runtime::memory::return_large_allocations();
            meetingbot_operator::lemonslice::install_crypto_provider();
            runtime::run(*args).await
        }
        Command::PreflightUninstall(args) => runtime::preflight::uninstall(args).await,
        Command::Check(args) => {
            meetingbot_operator::lemonslice::install_crypto_provider();
            runtime::check::run(args).await
        }
        Command::Crd => {
            let yaml = serde_saphyr::to_string(&MeetingBot::crd()).expect("the CRD serializes");
            print!("{yaml}");
            ExitCode::SUCCESS
        }
    }
}
