//! Which meeting platform a meeting URL belongs to.
//!
//! The CRD refuses unsupported URLs at admission with CEL rules; this module
//! holds the same rules in Rust, so the operator can name the platform in
//! status and refuse anything that reached it by another road (an object
//! stored before the rules existed, a URL read from a Secret).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest meeting URL the API accepts.
pub const MAX_MEETING_URL_LEN: usize = 2048;

/// The meeting platform of a meeting URL, one that LemonSlice can join (in
/// status: derived from `spec.meetingUrl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Platform {
    /// Zoom: `zoom.us`, `*.zoom.us`, `zoom.com`.
    Zoom,
    /// Google Meet: `meet.google.com`.
    GoogleMeet,
    /// Microsoft Teams: `teams.microsoft.com`, `teams.live.com`.
    MicrosoftTeams,
    /// Webex: `*.webex.com`.
    Webex,
}

/// Why a meeting URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMeetingUrl {
    #[error("is longer than {MAX_MEETING_URL_LEN} characters")]
    TooLong,
    #[error("is not a URL")]
    NotAUrl,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name or password before the host")]
    UserInfo,
    #[error(
        "host {0:?} is not a supported meeting platform (Zoom, Google Meet, Microsoft Teams, Webex)"
    )]
    UnsupportedHost(String),
}

impl Platform {
    /// Parses a meeting URL and names its platform. The rules match the CRD's.
    pub fn from_meeting_url(meeting_url: &str) -> Result<Platform, InvalidMeetingUrl> {
        if meeting_url.chars().count() > MAX_MEETING_URL_LEN {
            return Err(InvalidMeetingUrl::TooLong);
        }
        let url = url::Url::parse(meeting_url).map_err(|_| InvalidMeetingUrl::NotAUrl)?;
        if url.scheme() != "https" {
            return Err(InvalidMeetingUrl::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidMeetingUrl::UserInfo);
        }
        let host = url.host_str().ok_or(InvalidMeetingUrl::NotAUrl)?;
        Platform::from_host(host).ok_or_else(|| InvalidMeetingUrl::UnsupportedHost(host.to_owned()))
    }

    fn from_host(host: &str) -> Option<Platform> {
        // `url` lower-cases hosts; matching is exact or on a `.`-suffix so that
        // look-alikes such as `evilzoom.us` or `zoom.us.evil.com` fail.
        let is_or_under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        let under = |domain: &str| host.ends_with(&format!(".{domain}"));
        if is_or_under("zoom.us") || host == "zoom.com" {
            Some(Platform::Zoom)
        } else if host == "meet.google.com" {
            Some(Platform::GoogleMeet)
        } else if host == "teams.microsoft.com" || host == "teams.live.com" {
            Some(Platform::MicrosoftTeams)
        } else if under("webex.com") {
            Some(Platform::Webex)
        } else {
            None
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_platform_of_real_meeting_urls() {
        let cases = [
            ("https://zoom.us/j/1234567890?pwd=AbC123", Platform::Zoom),
            ("https://us05web.zoom.us/j/85412345678", Platform::Zoom),
            ("https://acme.zoom.us/my/jdoe", Platform::Zoom),
            ("https://zoom.com/j/1", Platform::Zoom),
            ("https://meet.google.com/abc-defg-hij", Platform::GoogleMeet),
            (
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_N2Ex%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d",
                Platform::MicrosoftTeams,
            ),
            (
                "https://teams.live.com/meet/9876543210123?p=Secret1",
                Platform::MicrosoftTeams,
            ),
            ("https://acme.webex.com/meet/jdoe", Platform::Webex),
            (
                "https://acme.webex.com/acme/j.php?MTID=m1234abcd",
                Platform::Webex,
            ),
            ("https://MEET.GOOGLE.COM/abc", Platform::GoogleMeet),
        ];
        for (url, platform) in cases {
            assert_eq!(Platform::from_meeting_url(url), Ok(platform), "{url}");
        }
    }

    #[test]
    fn refuses_look_alikes_and_unsafe_forms() {
        let cases = [
            ("http://zoom.us/j/1", InvalidMeetingUrl::NotHttps),
            (
                "https://zoom.us.evil.com/j/1",
                InvalidMeetingUrl::UnsupportedHost("zoom.us.evil.com".into()),
            ),
            (
                "https://evilzoom.us/j/1",
                InvalidMeetingUrl::UnsupportedHost("evilzoom.us".into()),
            ),
            (
                "https://webex.com/meet",
                InvalidMeetingUrl::UnsupportedHost("webex.com".into()),
            ),
            (
                "https://sub.zoom.com/j/1",
                InvalidMeetingUrl::UnsupportedHost("sub.zoom.com".into()),
            ),
            ("https://user:pw@zoom.us/j/1", InvalidMeetingUrl::UserInfo),
            (
                "https://user@meet.google.com/x",
                InvalidMeetingUrl::UserInfo,
            ),
            ("zoom.us/j/1", InvalidMeetingUrl::NotAUrl),
        ];
        for (url, error) in cases {
            assert_eq!(Platform::from_meeting_url(url), Err(error), "{url}");
        }
        let long = format!("https://zoom.us/j/{}", "1".repeat(MAX_MEETING_URL_LEN));
        assert_eq!(
            Platform::from_meeting_url(&long),
            Err(InvalidMeetingUrl::TooLong)
        );
    }
}
