//! `meetingbot-operator check`: what the chart's `helm test` Pod runs. It asks
//! a running operator's metrics and health server whether it is ready and
//! exports its metrics, retrying until a deadline.

use super::config::CheckArgs;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// One look: `Ok` with what was seen, or why it is not (yet) fine.
async fn look(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let get = |path: &'static str| {
        let request = client.get(format!("{}{path}", url.trim_end_matches('/')));
        async move {
            let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
            let status = response.status();
            let body = response.text().await.map_err(|e| format!("{path}: {e}"))?;
            Ok::<_, String>((status, body))
        }
    };
    let (status, body) = get("/readyz").await?;
    if !status.is_success() {
        return Err(format!("/readyz answered {status}: {}", body.trim()));
    }
    let (status, body) = get("/metrics").await?;
    let build = body
        .lines()
        .find(|line| line.starts_with("meetingbot_operator_build_info{"));
    match (status.is_success(), build) {
        (true, Some(build)) => Ok(build.to_owned()),
        (true, None) => Err("/metrics has no meetingbot_operator_build_info".into()),
        (false, _) => Err(format!("/metrics answered {status}")),
    }
}

pub async fn run(args: CheckArgs) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            eprintln!("error: cannot build an HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = Instant::now() + args.timeout;
    loop {
        match look(&client, &args.url).await {
            Ok(build) => {
                println!("the operator at {} is ready: {build}", args.url);
                return ExitCode::SUCCESS;
            }
            Err(why) if Instant::now() >= deadline => {
                eprintln!(
                    "error: the operator at {} is not ready after {:?}: {why}",
                    args.url, args.timeout
                );
                return ExitCode::FAILURE;
            }
            Err(why) => eprintln!("waiting: {why}"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
