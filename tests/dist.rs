//! `make dist`'s artifacts, installed from nothing but them, the way users do:
//! the packaged chart lints strictly and installs by server dry run, the
//! one-file manifest applies by server dry run, and krew (built from its pinned
//! module by tests/cluster/krew.sh) installs the plugin's archive from the krew
//! manifest, after which `kubectl mbot` runs. Needs the local control plane,
//! helm, kubectl and kubectl-krew: `tests/cluster/with-cluster.sh` provides
//! them. A test binary of its own, as the image test is: its release build
//! would otherwise compete for the CPU with the timed integration tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|error| panic!("{program} runs (with-cluster.sh puts it on PATH): {error}"))
}

fn succeed_in(program: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> String {
    let output = run(program, args, dir, env);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn succeed(program: &str, args: &[&str]) -> String {
    succeed_in(program, args, &repo_root(), &[])
}

/// `kubectl apply --dry-run=server` of `manifest` (a file).
fn dry_run_apply(manifest: &Path, namespace: Option<&str>) -> String {
    let mut args = vec![
        "apply",
        "--dry-run=server",
        "-f",
        manifest.to_str().unwrap(),
    ];
    if let Some(namespace) = namespace {
        args.extend(["-n", namespace]);
    }
    succeed("kubectl", &args)
}

/// Deletes a namespace this test created, also when it fails.
struct Namespace(String);

impl Namespace {
    /// `name`, created unless it exists (then it is left alone afterwards).
    fn ensure(name: &str) -> Option<Namespace> {
        let phase = run(
            "kubectl",
            &["get", "namespace", name, "-o", "jsonpath={.status.phase}"],
            &repo_root(),
            &[],
        );
        let phase = String::from_utf8_lossy(&phase.stdout).into_owned();
        if phase == "Terminating" {
            // Left by an earlier run: nothing can be created in it until it is gone.
            succeed(
                "kubectl",
                &[
                    "wait",
                    "--for=delete",
                    &format!("namespace/{name}"),
                    "--timeout=120s",
                ],
            );
        } else if !phase.is_empty() {
            return None;
        }
        succeed("kubectl", &["create", "namespace", name]);
        Some(Namespace(name.to_owned()))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = run(
            "kubectl",
            &["delete", "namespace", &self.0, "--wait=false"],
            &repo_root(),
            &[],
        );
    }
}

#[test]
fn installs_from_dist_alone() {
    // hack/dist.sh builds the plugin in release mode, in the image test's
    // target folder: the two release builds share their dependencies.
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"))
        .join("image");
    let scratch = tempfile::tempdir().unwrap();
    let dist = scratch.path().join("dist");
    succeed_in(
        "hack/dist.sh",
        &[dist.to_str().unwrap()],
        &repo_root(),
        &[("CARGO_TARGET_DIR", target.to_str().unwrap())],
    );

    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let archive = format!(
        "kubectl-mbot_v{VERSION}_{}_{arch}.tar.gz",
        std::env::consts::OS
    );
    let chart = format!("meetingbot-operator-{VERSION}.tgz");
    let files: BTreeSet<String> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    for expected in [
        chart.as_str(),
        "meetingbot-operator.crds.yaml",
        "meetingbot-operator.yaml",
        "kubectl-mbot.krew.yaml",
        "SHA256SUMS",
        archive.as_str(),
    ] {
        assert!(files.contains(expected), "{expected} in {files:?}");
    }
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), files.len() - 1, "{sums}");
    succeed_in(
        "sha256sum",
        &["--check", "--strict", "SHA256SUMS"],
        &dist,
        &[],
    );
    let listed = succeed("tar", &["-tzf", dist.join(&archive).to_str().unwrap()]);
    let listed: Vec<&str> = listed.lines().collect();
    assert_eq!(listed[..2], ["LICENSE", "kubectl-mbot"], "{listed:?}");

    // The packaged chart: strict lint, its README and Artifact Hub metadata.
    let chart = dist.join(&chart);
    let chart = chart.to_str().unwrap();
    succeed("helm", &["lint", "--strict", chart]);
    let readme =
        std::fs::read_to_string(repo_root().join("charts/meetingbot-operator/README.md")).unwrap();
    assert_eq!(
        succeed("helm", &["show", "readme", chart]).trim(),
        readme.trim()
    );
    let shown = succeed("helm", &["show", "chart", chart]);
    for key in [
        "artifacthub.io/crds:",
        "artifacthub.io/crdsExamples:",
        "sources:",
        "icon:",
    ] {
        assert!(shown.contains(key), "{key} in {shown}");
    }

    // Server dry runs: the chart into a namespace of its own, the one-file
    // manifest into the namespace it names.
    let namespace = format!("dist-{}", std::process::id());
    let _created = Namespace::ensure(&namespace);
    let installed = succeed(
        "helm",
        &[
            "install",
            "meetingbot-operator",
            chart,
            "--namespace",
            &namespace,
            "--dry-run=server",
        ],
    );
    assert!(installed.contains("kubectl wait"), "NOTES: {installed}");
    let rendered = scratch.path().join("rendered.yaml");
    std::fs::write(
        &rendered,
        succeed(
            "helm",
            &[
                "template",
                "meetingbot-operator",
                chart,
                "--namespace",
                &namespace,
            ],
        ),
    )
    .unwrap();
    let applied = dry_run_apply(&rendered, Some(&namespace));
    for created in [
        "deployment.apps/meetingbot-operator created (server dry run)",
        "clusterrole.rbac.authorization.k8s.io/meetingbot-operator-view created (server dry run)",
        "clusterrole.rbac.authorization.k8s.io/meetingbot-operator-edit created (server dry run)",
    ] {
        assert!(applied.contains(created), "{created}: {applied}");
    }
    let _system = Namespace::ensure("meetingbot-system");
    let applied = dry_run_apply(&dist.join("meetingbot-operator.yaml"), None);
    for object in [
        "customresourcedefinition.apiextensions.k8s.io/meetingbots.liveai.lemonslice.com",
        "deployment.apps/meetingbot-operator",
    ] {
        assert!(applied.contains(object), "{object}: {applied}");
    }
    let crd = dry_run_apply(&dist.join("meetingbot-operator.crds.yaml"), None);
    assert!(crd.contains("meetingbots.liveai.lemonslice.com"), "{crd}");

    // krew installs the archive from the krew manifest; kubectl then finds the plugin.
    let krew_root = scratch.path().join("krew");
    let krew_root = krew_root.to_str().unwrap();
    let path = format!("{krew_root}/bin:{}", std::env::var("PATH").unwrap());
    let env = [
        ("KREW_ROOT", krew_root),
        ("KREW_NO_UPGRADE_CHECK", "1"),
        ("PATH", path.as_str()),
    ];
    let manifest = format!(
        "--manifest={}",
        dist.join("kubectl-mbot.krew.yaml").display()
    );
    let archive = format!("--archive={}", dist.join(&archive).display());
    // A tampered archive is refused: krew checks the manifest's sha256.
    let tampered = scratch.path().join("tampered.tar.gz");
    std::fs::write(&tampered, b"not the archive").unwrap();
    let refused = run(
        "kubectl",
        &[
            "krew",
            "install",
            &manifest,
            &format!("--archive={}", tampered.display()),
        ],
        scratch.path(),
        &env,
    );
    assert!(!refused.status.success(), "a wrong sha256 is refused");
    succeed_in(
        "kubectl",
        &["krew", "install", &manifest, &archive],
        scratch.path(),
        &env,
    );
    let version = succeed_in("kubectl", &["mbot", "--version"], scratch.path(), &env);
    assert_eq!(version.trim(), format!("kubectl-mbot {VERSION}"));
    // Its version command, against the local control plane (KUBECONFIG).
    let version = succeed_in("kubectl", &["mbot", "version"], scratch.path(), &env);
    assert!(
        version.contains(&format!("Client Version: {VERSION}")),
        "{version}"
    );
    let help = succeed_in("kubectl", &["mbot", "--help"], scratch.path(), &env);
    assert!(help.contains("retry-join"), "{help}");
    // krew's record of the install (`krew list` needs the plugin index, a git clone).
    let receipt = Path::new(krew_root).join("receipts/mbot.yaml");
    let receipt =
        std::fs::read_to_string(&receipt).unwrap_or_else(|e| panic!("{}: {e}", receipt.display()));
    assert!(
        receipt.contains(&format!("version: v{VERSION}")),
        "{receipt}"
    );
    let license = Path::new(krew_root).join(format!("store/mbot/v{VERSION}/LICENSE"));
    assert!(license.exists(), "{}", license.display());
}
