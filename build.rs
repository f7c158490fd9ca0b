//! Sets `MEETINGBOT_GIT_SHA`, for the metric `meetingbot_operator_build_info`:
//! the variable of that name when the build has it (the image build passes it),
//! else the commit of the git checkout, else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=MEETINGBOT_GIT_SHA");
    let sha = match std::env::var("MEETINGBOT_GIT_SHA") {
        Ok(sha) if !sha.trim().is_empty() => sha.trim().to_owned(),
        _ => {
            // Built again when HEAD moves: a new commit or another branch.
            for path in ["HEAD", "logs/HEAD"] {
                if let Some(file) = git(&["rev-parse", "--git-path", path])
                    && std::path::Path::new(&file).exists()
                {
                    println!("cargo:rerun-if-changed={file}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=MEETINGBOT_GIT_SHA={sha}");
}
