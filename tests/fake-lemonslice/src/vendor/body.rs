//! The vendor's request bodies, checked field by field: what is wrong is
//! named, a value is never quoted (the broadcast token is a credential).

use crate::state::JoinRequest;
use serde_json::{Map, Value};
use url::Url;

/// The join body, or what is wrong with it, naming every faulty field and
/// never quoting a value (the broadcast token is a credential).
pub(super) fn parse_join(body: &[u8]) -> Result<JoinRequest, String> {
    let fields = parse_object(body)?;
    let mut problems = Vec::new();
    let meeting_url = required_url(&fields, "meeting_url", "https", &mut problems);
    let livekit_url = required_url(&fields, "livekit_url", "wss", &mut problems);
    let broadcast_token = required_string(&fields, "broadcast_token", &mut problems);
    let bot_name = optional_string(&fields, "bot_name", &mut problems);
    match (meeting_url, livekit_url, broadcast_token) {
        (Some(meeting_url), Some(_), Some(_)) if problems.is_empty() => Ok(JoinRequest {
            meeting_url,
            bot_name,
        }),
        _ => Err(invalid_body(&problems)),
    }
}

/// The `meeting_bot_id` of a leave body, or what is wrong with it.
pub(super) fn parse_leave(body: &[u8]) -> Result<String, String> {
    let fields = parse_object(body)?;
    let mut problems = Vec::new();
    required_string(&fields, "meeting_bot_id", &mut problems).ok_or_else(|| invalid_body(&problems))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err("invalid body: not a JSON object".to_owned()),
        // serde_json's message says where parsing failed, not what it read.
        Err(error) => Err(format!("invalid body: not JSON ({error})")),
    }
}

fn invalid_body(problems: &[String]) -> String {
    format!("invalid body: {}", problems.join("; "))
}

fn required_string(
    fields: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    match fields.get(name) {
        None | Some(Value::Null) => problems.push(format!("{name}: field required")),
        Some(Value::String(value)) if value.is_empty() => {
            problems.push(format!("{name}: must not be empty"))
        }
        Some(Value::String(value)) => return Some(value.clone()),
        Some(_) => problems.push(format!("{name}: must be a string")),
    }
    None
}

fn optional_string(
    fields: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    match fields.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => {
            problems.push(format!("{name}: must be a string"));
            None
        }
    }
}

fn required_url(
    fields: &Map<String, Value>,
    name: &str,
    scheme: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    let value = required_string(fields, name, problems)?;
    let url = Url::parse(&value).ok();
    if url.is_some_and(|url| {
        url.scheme() == scheme && url.host_str().is_some_and(|host| !host.is_empty())
    }) {
        Some(value)
    } else {
        problems.push(format!("{name}: must be a URL starting with {scheme}://"));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_join_body_keeps_the_meeting_and_name() {
        let request = parse_join(
            br#"{"meeting_url": "https://meet.google.com/abc-defg-hij", "livekit_url": "wss://x.livekit.cloud",
                 "broadcast_token": "t", "bot_name": "Avatar"}"#,
        )
        .unwrap();
        assert_eq!(request.meeting_url, "https://meet.google.com/abc-defg-hij");
        assert_eq!(request.bot_name.as_deref(), Some("Avatar"));
    }

    #[test]
    fn every_faulty_join_field_is_named_and_no_value_quoted() {
        let problem = parse_join(
            br#"{"meeting_url": "http://meet.example", "livekit_url": "not a url",
                 "broadcast_token": 7, "bot_name": ["secret-name"]}"#,
        )
        .err()
        .unwrap();
        for name in ["meeting_url", "livekit_url", "broadcast_token", "bot_name"] {
            assert!(problem.contains(name), "{problem}");
        }
        assert!(
            !problem.contains("meet.example") && !problem.contains("secret-name"),
            "{problem}"
        );
    }

    #[test]
    fn a_body_that_is_not_a_json_object_says_so() {
        assert!(
            parse_join(b"meeting_url=x")
                .err()
                .unwrap()
                .contains("not JSON")
        );
        assert!(
            parse_leave(b"[]")
                .err()
                .unwrap()
                .contains("not a JSON object")
        );
        assert!(
            parse_leave(b"{}")
                .err()
                .unwrap()
                .contains("meeting_bot_id: field required")
        );
    }
}
