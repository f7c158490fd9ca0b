//! Where a join's answer points: the host the client called and the
//! meeting's audio stream on it.

use crate::state::random_hex;
use axum::http::{HeaderMap, Uri, header};
use url::Url;

/// The host the client called, from the URI (HTTP/2) or the `Host` header,
/// when it is a plain `host[:port]` that can go into a URL as it is.
pub(super) fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    let host = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => headers.get(header::HOST)?.to_str().ok()?,
    };
    let plain = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    plain.then_some(host)
}

/// `wss://HOST/agent-audio/SESSION?token=...`: where the vendor would stream
/// the meeting's audio. Nothing listens there; the token is fresh each time.
pub(super) fn websocket_url(host: &str, listen_host: &str, session_id: &str) -> String {
    let mut url = Url::parse(&format!("wss://{host}/"))
        .or_else(|_| Url::parse(&format!("wss://{listen_host}/")))
        .expect("the address the fake listens on makes a URL");
    url.path_segments_mut()
        .expect("a wss URL has a path")
        .pop_if_empty()
        .extend(["agent-audio", session_id]);
    url.query_pairs_mut()
        .append_pair("token", &random_hex::<16>());
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_websocket_url_names_the_host_and_session() {
        let url = websocket_url("fake.test:8080", "127.0.0.1:1", "session a");
        let (base, token) = url.split_once("?token=").unwrap();
        assert_eq!(base, "wss://fake.test:8080/agent-audio/session%20a");
        assert!(
            token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
            "{token}"
        );
    }

    #[test]
    fn only_a_plain_host_is_taken_from_the_request() {
        let uri = Uri::from_static("/liveai/sessions/s/join-meeting");
        let mut headers = HeaderMap::new();
        assert_eq!(request_host(&uri, &headers), None);
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9"));
        assert_eq!(request_host(&uri, &headers), Some("127.0.0.1:9"));
        headers.insert(header::HOST, HeaderValue::from_static("evil/path?x"));
        assert_eq!(request_host(&uri, &headers), None);
    }
}
