//! Credentials that must never reach a log line, an Event, an error or a
//! `Debug` print: the API key, the broadcast token and the websocket URL's token.

use std::fmt;

/// A credential. Its `Debug` prints `[redacted]` and it has no `Display`;
/// the value is only reachable through [`SecretString::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The websocket URL returned by join. Its query string carries a token, so
/// `Debug` and `Display` show the URL without it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebsocketUrl(SecretString);

impl WebsocketUrl {
    pub fn new(url: impl Into<String>) -> Self {
        WebsocketUrl(SecretString::new(url))
    }

    /// The full URL, token included, for status and the agent that listens on it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL with any query string and fragment replaced by `[redacted]`.
    pub fn redacted(&self) -> String {
        redact_query(self.expose())
    }
}

/// A URL with its query string and fragment (where tokens and passwords go) replaced by `[redacted]`.
pub fn redact_query(url: &str) -> String {
    match url.find(['?', '#']) {
        Some(at) => format!("{}?[redacted]", &url[..at]),
        None => url.to_owned(),
    }
}

impl fmt::Debug for WebsocketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebsocketUrl({})", self.redacted())
    }
}

impl fmt::Display for WebsocketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces every occurrence of each secret in `text` by `[redacted]`: vendor
/// error details may echo what was sent.
pub fn scrub(text: &str, secrets: &[&SecretString]) -> String {
    secrets
        .iter()
        .map(|secret| secret.expose())
        // Very short values would blank out ordinary words; real keys and tokens are long.
        .filter(|value| value.len() >= 4)
        .fold(text.to_owned(), |text, value| {
            text.replace(value, "[redacted]")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = SecretString::new("sk-live-123456");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let url = WebsocketUrl::new("wss://example.com/agent-audio/s1?token=abcdef");
        assert_eq!(
            format!("{url:?}"),
            "WebsocketUrl(wss://example.com/agent-audio/s1?[redacted])"
        );
        assert_eq!(
            url.to_string(),
            "wss://example.com/agent-audio/s1?[redacted]"
        );
        assert_eq!(
            url.expose(),
            "wss://example.com/agent-audio/s1?token=abcdef"
        );
    }

    #[test]
    fn scrub_removes_echoed_secrets() {
        let key = SecretString::new("sk-live-123456");
        let text = scrub("bad key sk-live-123456, try again", &[&key]);
        assert_eq!(text, "bad key [redacted], try again");
    }
}
