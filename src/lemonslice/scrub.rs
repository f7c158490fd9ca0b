//! Keeping what a call sent out of what the vendor answered: a vendor error may
//! echo the request (a FastAPI 422 quotes each faulty field's `input`, or the
//! whole body), in plain text, JSON-escaped or URL-encoded. A [`Scrubber`]
//! knows every secret value of one call, in every encoding it may come back in,
//! and replaces each by `[redacted]`.

use super::secret::SecretString;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use std::fmt;

/// What a secret is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not searched for: they would blank out
/// ordinary words and numbers. Keys, tokens and meeting passwords are longer.
pub const MIN_SECRET_CHARS: usize = 4;

/// RFC 3986 unreserved characters: what every percent-encoder leaves alone.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Python's `urllib.parse.quote` default, which keeps `/`.
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The secret values of one call, each in the encodings it may be echoed in.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Longest first, so that a value is replaced before any part of it.
    needles: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} needles)", self.needles.len())
    }
}

impl Scrubber {
    pub fn new() -> Scrubber {
        Scrubber::default()
    }

    /// A scrubber of these secrets.
    pub fn of(secrets: &[&SecretString]) -> Scrubber {
        secrets
            .iter()
            .fold(Scrubber::new(), |scrubber, secret| scrubber.secret(secret))
    }

    /// Adds a credential (API key, broadcast token).
    pub fn secret(mut self, secret: &SecretString) -> Scrubber {
        self.add(secret.expose());
        self.sort();
        self
    }

    /// Adds a meeting URL: the whole URL, its user info, and each value of its
    /// query string and fragment (a Zoom `pwd=`), raw and decoded.
    pub fn meeting_url(mut self, url: &str) -> Scrubber {
        let url = url.trim();
        self.add(url);
        if let Ok(parsed) = url::Url::parse(url) {
            // The form a URL parser would echo (normalised: a trailing slash, lower-case host).
            self.add(parsed.as_str());
            if let Some(password) = parsed.password() {
                self.add(password);
            }
            let query = parsed.query().unwrap_or_default();
            let fragment = parsed.fragment().unwrap_or_default();
            for part in [query, fragment] {
                for pair in part.split('&') {
                    let raw = pair.split_once('=').map_or(pair, |(_, value)| value);
                    self.add(raw);
                }
                for (_, value) in url::form_urlencoded::parse(part.as_bytes()) {
                    self.add(&value);
                }
            }
            self.add(query);
        }
        self.sort();
        self
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), REDACTED);
            }
        }
        text
    }

    /// The `detail` of a vendor error body, as one secret-free text. A
    /// FastAPI validation list (`[{"loc": [...], "msg": ..., "input": ...}]`)
    /// becomes `loc: msg` items without their `input` (which is what was
    /// sent); any other JSON keeps its shape with each string scrubbed.
    pub fn detail(&self, detail: &Value) -> String {
        let text = match detail {
            Value::String(text) => text.clone(),
            Value::Array(items) if !items.is_empty() && items.iter().all(is_validation_item) => {
                items
                    .iter()
                    .map(|item| self.validation_item(item))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
            other => self.scrub_json(other).to_string(),
        };
        self.scrub(&text)
    }

    fn validation_item(&self, item: &Value) -> String {
        let loc = match &item["loc"] {
            Value::Array(parts) => parts
                .iter()
                .map(|part| match part {
                    Value::String(name) => name.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("."),
            Value::String(loc) => loc.clone(),
            _ => String::new(),
        };
        let msg = match &item["msg"] {
            Value::String(msg) => msg.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let item = if loc.is_empty() {
            msg
        } else {
            format!("{loc}: {msg}")
        };
        self.scrub(&item)
    }

    /// A copy of `value` with every string (keys too) scrubbed.
    fn scrub_json(&self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.scrub(text)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.scrub_json(v)).collect()),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (self.scrub(k), self.scrub_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Adds `value` in each encoding it may be echoed in.
    fn add(&mut self, value: &str) {
        if value.chars().count() < MIN_SECRET_CHARS {
            return;
        }
        let json = json_escaped(value, false);
        let mut variants = vec![
            value.to_owned(),
            json.clone(),
            json_escaped(value, true),
            json.replace('/', "\\/"),
            // JSON text quoted inside a JSON string: `detail` holding an escaped body.
            json_escaped(&json, false),
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        ];
        for set in [UNRESERVED, UNRESERVED_AND_SLASH] {
            let encoded = utf8_percent_encode(value, set).to_string();
            variants.push(lower_hex_escapes(&encoded));
            variants.push(encoded);
        }
        // A percent-encoded value, JSON-escaped: the same text; twice encoded: `%` became `%25`.
        let once = utf8_percent_encode(value, UNRESERVED).to_string();
        variants.push(utf8_percent_encode(&once, UNRESERVED).to_string());
        for variant in variants {
            if variant.chars().count() >= MIN_SECRET_CHARS && !self.needles.contains(&variant) {
                self.needles.push(variant);
            }
        }
    }

    fn sort(&mut self) {
        self.needles
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }
}

/// An item of a FastAPI validation list: an object with `loc` and `msg`.
fn is_validation_item(item: &Value) -> bool {
    item.get("loc").is_some() && item.get("msg").is_some()
}

/// The inside of a JSON string holding `value`; with `ascii`, every non-ASCII
/// character as `\uXXXX` (Python's `json.dumps` default).
fn json_escaped(value: &str, ascii: bool) -> String {
    let quoted = serde_json::to_string(value).expect("a string serializes");
    let inner = &quoted[1..quoted.len() - 1];
    if !ascii {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(inner.len());
    for c in inner.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `%2F` as `%2f`: some encoders write lower-case hex.
fn lower_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut chars = encoded.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "sk-live-key/with+odd=chars é";
    const TOKEN: &str = "eyJhbGciOi.token-part";
    const URL: &str =
        "https://us02web.zoom.us/j/81234567890?pwd=Zm9vYmFyLzEyMw.1&uname=Guest%20Bot";
    const PASSWORD: &str = "Zm9vYmFyLzEyMw.1";

    fn scrubber() -> Scrubber {
        Scrubber::of(&[&SecretString::new(KEY), &SecretString::new(TOKEN)]).meeting_url(URL)
    }

    fn assert_clean(text: &str) {
        for secret in [KEY, TOKEN, URL, PASSWORD, "Guest Bot", "Guest%20Bot"] {
            assert!(!text.contains(secret), "{secret:?} in {text:?}");
        }
        for encoded in [
            serde_json::to_string(KEY).unwrap(),
            utf8_percent_encode(KEY, UNRESERVED).to_string(),
            utf8_percent_encode(URL, UNRESERVED).to_string(),
        ] {
            let inner = encoded.trim_matches('"');
            assert!(!text.contains(inner), "{inner:?} in {text:?}");
        }
    }

    #[test]
    fn plain_text_echoes_are_scrubbed() {
        let text = scrubber().scrub(&format!("bad key {KEY} for {URL} with token {TOKEN}"));
        assert_eq!(
            text,
            "bad key [redacted] for [redacted] with token [redacted]"
        );
    }

    #[test]
    fn query_values_are_scrubbed_on_their_own() {
        let text = scrubber().scrub(&format!("wrong passcode {PASSWORD}; meeting 81234567890"));
        assert_eq!(text, "wrong passcode [redacted]; meeting 81234567890");
        let text = scrubber().scrub("hello Guest Bot and Guest%20Bot and Guest+Bot");
        assert_eq!(text, "hello [redacted] and [redacted] and [redacted]");
    }

    #[test]
    fn url_encoded_echoes_are_scrubbed() {
        for text in [
            utf8_percent_encode(URL, UNRESERVED).to_string(),
            lower_hex_escapes(&utf8_percent_encode(URL, UNRESERVED).to_string()),
            utf8_percent_encode(URL, UNRESERVED_AND_SLASH).to_string(),
            url::form_urlencoded::byte_serialize(URL.as_bytes()).collect(),
            utf8_percent_encode(KEY, UNRESERVED).to_string(),
            url::form_urlencoded::byte_serialize(KEY.as_bytes()).collect(),
            utf8_percent_encode(
                &utf8_percent_encode(KEY, UNRESERVED).to_string(),
                UNRESERVED,
            )
            .to_string(),
        ] {
            let scrubbed = scrubber().scrub(&format!("echo: {text}"));
            assert_clean(&scrubbed);
            assert!(scrubbed.contains(REDACTED), "{scrubbed}");
        }
    }

    #[test]
    fn json_escaped_echoes_are_scrubbed() {
        for text in [
            serde_json::to_string(KEY).unwrap(),
            json_escaped(KEY, true),
            serde_json::to_string(URL).unwrap().replace('/', "\\/"),
            serde_json::to_string(&serde_json::to_string(KEY).unwrap()).unwrap(),
        ] {
            let scrubbed = scrubber().scrub(&text);
            assert_clean(&scrubbed);
            assert!(scrubbed.contains(REDACTED), "{scrubbed}");
        }
        assert_eq!(json_escaped("é", true), "\\u00e9");
        assert_eq!(json_escaped("😀", true), "\\ud83d\\ude00");
    }

    #[test]
    fn a_fastapi_422_keeps_loc_and_msg_and_drops_input() {
        let detail = json!([
            {"type": "url_parsing", "loc": ["body", "meeting_url"], "msg": format!("Input should be a valid URL, got {URL}"), "input": URL},
            {"type": "string_type", "loc": ["body", "broadcast_token"], "msg": "Input should be a valid string", "input": TOKEN},
            {"type": "missing", "loc": ["header", "x-api-key"], "msg": "bad key", "input": KEY, "ctx": {"given": KEY}},
        ]);
        let text = scrubber().detail(&detail);
        assert_eq!(
            text,
            "body.meeting_url: Input should be a valid URL, got [redacted]; \
             body.broadcast_token: Input should be a valid string; header.x-api-key: bad key"
        );
    }

    #[test]
    fn any_other_json_detail_keeps_its_shape_without_the_secrets() {
        let detail =
            json!({"input": {"meeting_url": URL, "broadcast_token": TOKEN}, KEY: [1, TOKEN]});
        let text = scrubber().detail(&detail);
        assert_clean(&text);
        assert!(text.contains("meeting_url"), "{text}");
        let body_as_string = json!(json!({"meeting_url": URL, "key": KEY}).to_string());
        assert_clean(&scrubber().detail(&body_as_string));
    }

    #[test]
    fn short_values_and_an_empty_scrubber_change_nothing() {
        let scrubber = Scrubber::of(&[&SecretString::new("abc")]).meeting_url("https://x.io/?a=1");
        assert_eq!(scrubber.scrub("abc a=1 1"), "abc a=1 1");
        assert_eq!(Scrubber::new().scrub("text"), "text");
        assert!(!format!("{:?}", Scrubber::of(&[&SecretString::new(KEY)])).contains(KEY));
    }
}
