//! Reconciling MeetingBots: `decide` (pure) plans the next step from what is
//! known; the steps carry plans out and report them in status and Events.
//!
//! The rooms, from the bottom up:
//! - `decide/`: pure. `plan` (what decide answers and steps learn), `memo`
//!   (failures met, per object), `status` (the status an ending shows),
//!   `connection_secret` (what the connection Secret's last write means for
//!   status), and the rules, a file per concern.
//! - `schedule/`: whether and when a reconcile runs. `watched` (objects as
//!   the watch decodes them), `triggers` (which deliveries ask for a
//!   reconcile), `own_writes` (what the operator's writes returned), `lanes`
//!   (whose turn it is), `waiting` (where reconciles wait for it).
//! - `cluster/`: Kubernetes services. `writes` (fenced writes of
//!   MeetingBots), `secrets` (referenced Secrets and the operator's key),
//!   `connection_secret` (the write of that Secret), `events`.
//! - `steps/`: one reconcile as a recipe, a file per step; `settle` ends it,
//!   recording a join first.
//! - On top: `context` (what reconciles share) and `metrics`, `report`
//!   (undecodable objects, failed reconciles), `watch` (the streams and the
//!   reconcile entry).
//!
//! Imports run one way: `decide` and `schedule` import nothing of
//! `reconcile` outside themselves; `cluster` imports only those two;
//! `steps` imports those three and `context` and `metrics`; `metrics` only
//! `decide`; `context` anything but `steps`, `report` and `watch`; `watch`
//! anything. The test below checks it on the sources.

mod cluster;
mod context;
mod decide;
mod metrics;
mod report;
mod schedule;
mod steps;
mod watch;

pub use cluster::OperatorApiKey;
pub use context::{Context, Gate, MANAGER, Settings};
pub use metrics::Metrics;
pub use watch::run;

#[cfg(test)]
mod tests {
    //! The import rule above, checked on the sources: every path a file of
    //! `reconcile` names (by `crate::reconcile::` or by `super::`) is resolved
    //! to the room it points into.

    use std::collections::BTreeSet;
    use std::path::Path;

    /// Each room, and the rooms it may import.
    const MAY_IMPORT: &[(&str, &[&str])] = &[
        ("decide", &[]),
        ("schedule", &[]),
        ("cluster", &["decide", "schedule"]),
        (
            "steps",
            &["cluster", "decide", "schedule", "context", "metrics"],
        ),
        ("metrics", &["decide"]),
        ("context", &["cluster", "decide", "schedule", "metrics"]),
        (
            "report",
            &["cluster", "context", "decide", "metrics", "schedule"],
        ),
        (
            "watch",
            &[
                "cluster", "context", "decide", "metrics", "report", "schedule", "steps",
            ],
        ),
    ];

    /// The module path of a file under `src/`, as segments.
    fn module_of(relative: &Path) -> Vec<String> {
        let mut segments: Vec<String> = relative
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        if segments.last().is_some_and(|s| s == "mod") {
            segments.pop();
        }
        segments
    }

    /// The rooms of `reconcile` that the line's paths lead into, from a file
    /// whose module is `module` (`inline` when the line is in a module
    /// written inside the file, such as its tests).
    fn rooms_named(line: &str, module: &[String], inline: bool) -> Vec<String> {
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let first_segment = |path: &str| {
            path.split(|c: char| !ident(c))
                .next()
                .unwrap_or("")
                .to_owned()
        };
        let mut rooms = Vec::new();
        let mut at = 0;
        while at < line.len() {
            let rest = &line[at..];
            let starts_path = !line[..at].ends_with(|c: char| ident(c) || c == ':');
            if starts_path && let Some(path) = rest.strip_prefix("crate::reconcile::") {
                rooms.push(first_segment(path));
                at += "crate::reconcile::".len();
            } else if starts_path && rest.starts_with("super::") {
                let mut path = rest;
                let mut ups = 0;
                while let Some(after) = path.strip_prefix("super::") {
                    ups += 1;
                    path = after;
                }
                let base = module.len() + usize::from(inline);
                let mut full: Vec<String> = module
                    .iter()
                    .take(base.saturating_sub(ups))
                    .cloned()
                    .collect();
                full.push(first_segment(path));
                if full.len() >= 2 && full[0] == "reconcile" {
                    rooms.push(full[1].clone());
                }
                at += "super::".len() * ups;
            } else {
                at += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        rooms
    }

    fn sources(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    #[test]
    fn imports_follow_the_rooms_rule() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src.join("reconcile"), &mut files);
        let mut broken = BTreeSet::new();
        for file in &files {
            let module = module_of(file.strip_prefix(&src).unwrap());
            let Some(room) = module.get(1) else { continue };
            let allowed = MAY_IMPORT
                .iter()
                .find(|(name, _)| name == room)
                .unwrap_or_else(|| panic!("{}: room {room} has no rule", file.display()))
                .1;
            for line in std::fs::read_to_string(file).unwrap().lines() {
                let code = line.split("//").next().unwrap_or("");
                let inline =
                    code.starts_with(char::is_whitespace) && code.trim_start().starts_with("use ");
                for named in rooms_named(code, &module, inline) {
                    if named != *room && !allowed.contains(&named.as_str()) {
                        broken.insert(format!(
                            "{}: {room} imports {named}",
                            file.strip_prefix(&src).unwrap().display()
                        ));
                    }
                }
            }
        }
        assert!(
            broken.is_empty(),
            "imports against the rooms rule:\n{}",
            broken.into_iter().collect::<Vec<_>>().join("\n")
        );
    }
}
