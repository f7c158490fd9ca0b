//! The container image's binary: built exactly as the Dockerfile builds it, it
//! must need nothing that the distroless `cc` base lacks, and it must run. No
//! image can be pulled or built on the machines this runs on, so the binary is
//! what is checked. A test binary of its own: its release build would
//! otherwise compete for the CPU with the timed integration tests.

use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn succeed(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_release_binary_needs_only_what_the_image_base_has() {
    // As the Dockerfile builds it, in a target folder of its own.
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let build = "cargo build --release --locked --bin meetingbot-operator";
    assert!(
        dockerfile.contains(&format!("RUN {build}")),
        "the Dockerfile builds with: {build}"
    );
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"))
        .join("image");
    let mut args: Vec<&str> = build.split(' ').skip(1).collect();
    let target_arg = format!("--target-dir={}", target.display());
    args.push(&target_arg);
    succeed("cargo", &args);
    let binary = target.join("release/meetingbot-operator");
    let binary = binary.to_str().unwrap();

    let dynamic = succeed("readelf", &["--dynamic", binary]);
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| line.split('[').nth(1)?.split(']').next())
        .collect();
    // What distroless's cc image carries: glibc and libgcc_s.
    let in_the_base = [
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "ld-linux-x86-64.so.2",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
    ];
    assert!(
        !needed.is_empty(),
        "a glibc binary, as the cc base expects: {dynamic}"
    );
    for library in &needed {
        assert!(
            in_the_base.contains(library),
            "{library} is not in the image base; needed: {needed:?}"
        );
    }

    let version = succeed(binary, &["--version"]);
    assert_eq!(
        version.trim(),
        format!("meetingbot-operator {}", env!("CARGO_PKG_VERSION"))
    );
    let crd = succeed(binary, &["crd"]);
    assert_eq!(
        crd,
        std::fs::read_to_string(repo_root().join("crds/meetingbot.yaml")).unwrap()
    );
}
