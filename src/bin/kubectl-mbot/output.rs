//! Printing as kubectl's printers do: tables through a tab writer (minimum
//! width 6, padding 3, as kubectl's `GetNewTabWriter`), JSON indented by four
//! spaces, YAML, `-o name` as `KIND.GROUP/NAME`, and lists in kubectl's
//! `List` shape.

use anyhow::Context;
use kube::Resource;
use meetingbot_operator::api::MeetingBot;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;

/// `-o` of a command that prints objects or facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Yaml,
    Wide,
    Name,
}

/// `-o` of a command that prints one document of facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DataFormat {
    Json,
    Yaml,
}

/// Rows (the first one the header) as kubectl's printers lay them out.
pub fn table(rows: &[Vec<String>]) -> String {
    // Go's tabwriter counts its padding inside the minimum width (6 with a
    // padding of 3); this crate adds the padding to it: 3 + 3.
    let mut writer = tabwriter::TabWriter::new(Vec::new()).minwidth(3).padding(3);
    for row in rows {
        // Tabs would break the columns; kubectl's printers replace them too.
        let cells: Vec<String> = row.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
        let _ = writeln!(writer, "{}", cells.join("\t"));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// JSON as `kubectl -o json` indents it.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .context("cannot write JSON")?;
    out.push(b'\n');
    Ok(String::from_utf8(out)?)
}

/// YAML, one document.
pub fn yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut text = serde_saphyr::to_string(value).context("cannot write YAML")?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Data in the format asked for.
pub fn data<T: Serialize>(value: &T, format: DataFormat) -> anyhow::Result<String> {
    match format {
        DataFormat::Json => json(value),
        DataFormat::Yaml => yaml(value),
    }
}

/// Objects as kubectl prints a list of them: `apiVersion: v1`, `kind: List`.
pub fn list_of(bots: &[MeetingBot]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": bots,
        "metadata": {"resourceVersion": ""},
    })
}

/// `-o name`: `meetingbot.liveai.lemonslice.com/NAME`, as kubectl prints it.
pub fn name_of(bot: &MeetingBot) -> String {
    format!(
        "{}.{}/{}",
        MeetingBot::kind(&()).to_lowercase(),
        MeetingBot::group(&()),
        bot.metadata.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::bot;

    #[test]
    fn columns_are_as_wide_as_kubectls() {
        let rows = vec![
            vec!["NAME".into(), "AGE".into(), "X".into()],
            vec!["standup".into(), "90m".into(), "last".into()],
            vec!["a".into(), "2d1h".into(), "-".into()],
        ];
        // Each column is its widest cell plus 3, at least 6; the last is not padded.
        assert_eq!(
            table(&rows),
            "NAME      AGE    X\nstandup   90m    last\na         2d1h   -\n"
        );
    }

    #[test]
    fn a_list_has_kubectls_shape_and_names_have_kind_and_group() {
        let list = list_of(&[bot(&[], None)]);
        assert_eq!(list["apiVersion"], "v1");
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"][0]["kind"], "MeetingBot");
        assert_eq!(list["items"][0]["metadata"]["name"], "standup");
        let text = json(&list).unwrap();
        assert!(text.starts_with("{\n    \"apiVersion\": \"v1\""), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, list);
        let yaml = yaml(&list).unwrap();
        assert!(yaml.contains("kind: List"), "{yaml}");
        assert_eq!(
            name_of(&bot(&[], None)),
            "meetingbot.liveai.lemonslice.com/standup"
        );
    }
}
