//! The faults the fake can inject into vendor calls, and the draw that
//! decides what happens to one call.

use axum::http::StatusCode;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A vendor endpoint, by the name that faults, counts and records use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Join,
    Leave,
    Session,
}

impl Endpoint {
    pub(crate) const ALL: [Endpoint; 3] = [Endpoint::Join, Endpoint::Leave, Endpoint::Session];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::Join => "join",
            Endpoint::Leave => "leave",
            Endpoint::Session => "session",
        }
    }
}

/// The faults injected into vendor calls. Every field has a default (no
/// fault), so `{}` and `Faults::default()` mean a well-behaved vendor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Delay added before handling each call.
    pub latency_ms: u64,
    /// Up to this much more delay, drawn uniformly for each call.
    pub jitter_ms: u64,
    /// Share (0 to 1) of calls answered with an error from `error_statuses`
    /// instead of being handled: such a call changes nothing.
    pub error_rate: f64,
    /// The statuses injected errors are drawn from, uniformly.
    pub error_statuses: Vec<u16>,
    /// When set, injected 429 and 503 answers carry `Retry-After` with it.
    pub retry_after_secs: Option<u64>,
    /// Share of joins that are carried out (the bot exists) but whose
    /// connection is closed without any answer.
    pub drop_join_rate: f64,
    /// Share of calls that are carried out but held without an answer for
    /// `hang_secs`, after which the connection is closed.
    pub hang_rate: f64,
    pub hang_secs: u64,
    /// Share of calls answered 422 with a FastAPI-style validation body that
    /// echoes every request field, the `X-API-Key` header's value and the
    /// whole body (as `input`s, and URL-encoded in `msg`): a careless vendor.
    /// Such a call changes nothing.
    pub echo_rate: f64,
    /// Share of calls that are carried out (a join makes its bot, a leave
    /// takes effect) and then answered by a front proxy instead of the
    /// vendor: `proxy_status` with a plain-text body, as Envoy answers when
    /// the upstream reset after it received the request.
    pub proxy_reset_rate: f64,
    /// The status of those proxy answers (400 to 599).
    pub proxy_status: u16,
    /// Share of calls answered `200 OK` by a front proxy with a page of its
    /// own (a maintenance or sign-in page) without reaching the vendor: such
    /// a call changes nothing, and its success proves nothing.
    pub proxy_page_rate: f64,
    /// When set, calls are not handled but answered `307 Temporary Redirect`
    /// with this `Location` (another host, say). Such a call changes nothing.
    pub redirect_to: Option<String>,
    /// The endpoints (`join`, `leave`, `session`) all the above applies to.
    pub endpoints: Vec<String>,
    /// The session ids all the above applies to; empty: every session.
    pub sessions: Vec<String>,
    /// What every successful join answers as `websocket_url` (whatever the
    /// endpoints and sessions above): the URL, as the contract says, or not.
    pub join_websocket_url: WebsocketUrlAnswer,
    /// Bytes of padding every successful join's answer carries in a field
    /// `padding` between `meeting_bot_id` and `websocket_url`, so that it can
    /// be as large as a test needs (the operator reads at most 64 KiB).
    pub join_answer_padding: usize,
}

/// What a successful join answers as `websocket_url`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebsocketUrlAnswer {
    /// The URL, as the contract says.
    #[default]
    Url,
    /// `null`.
    Null,
    /// `""`.
    Empty,
    /// No `websocket_url` field at all.
    Absent,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            latency_ms: 0,
            jitter_ms: 0,
            error_rate: 0.0,
            error_statuses: vec![503],
            retry_after_secs: None,
            drop_join_rate: 0.0,
            hang_rate: 0.0,
            hang_secs: 3600,
            echo_rate: 0.0,
            proxy_reset_rate: 0.0,
            proxy_status: 503,
            proxy_page_rate: 0.0,
            redirect_to: None,
            sessions: Vec::new(),
            endpoints: Endpoint::ALL.iter().map(|e| e.name().to_owned()).collect(),
            join_websocket_url: WebsocketUrlAnswer::Url,
            join_answer_padding: 0,
        }
    }
}

/// What happens to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Handled and answered.
    Answer,
    /// Not handled; answered with this error instead.
    Inject(StatusCode),
    /// Not handled; answered 422, echoing the request.
    Echo,
    /// Not handled; answered 307 with the `Location` of `redirect_to`.
    Redirect,
    /// Not handled; answered 200 with a front proxy's own HTML page.
    ProxyPage,
    /// Handled; then answered by a front proxy with this status and a
    /// plain-text body instead of the vendor's answer.
    ProxyReset(StatusCode),
    /// Handled; the connection is then closed without an answer.
    Drop,
    /// Handled; the answer is held back this long, then the connection closed.
    Hang(Duration),
}

/// The draw for one call: how long it waits, then its fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub delay: Duration,
    pub fate: Fate,
}

impl Faults {
    /// Says what is wrong with these faults, if anything.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_join_rate", self.drop_join_rate),
            ("hang_rate", self.hang_rate),
            ("echo_rate", self.echo_rate),
            ("proxy_reset_rate", self.proxy_reset_rate),
            ("proxy_page_rate", self.proxy_page_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                problems.push(format!("{name} must be between 0 and 1"));
            }
        }
        if self.error_rate > 0.0 && self.error_statuses.is_empty() {
            problems.push("error_statuses must not be empty when error_rate is above 0".to_owned());
        }
        if let Some(status) = self
            .error_statuses
            .iter()
            .find(|s| !(400..=599).contains(*s))
        {
            problems.push(format!(
                "error_statuses: {status} is not an error status (400 to 599)"
            ));
        }
        if !(400..=599).contains(&self.proxy_status) {
            problems.push(format!(
                "proxy_status: {} is not an error status (400 to 599)",
                self.proxy_status
            ));
        }
        if let Some(location) = &self.redirect_to
            && axum::http::HeaderValue::from_str(location).is_err()
        {
            problems.push("redirect_to: not a valid Location header value".to_owned());
        }
        if let Some(name) = self
            .endpoints
            .iter()
            .find(|name| !Endpoint::ALL.iter().any(|e| e.name() == name.as_str()))
        {
            problems.push(format!(
                "endpoints: unknown endpoint {name:?} (join, leave or session)"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Draws what happens to one call to `endpoint` for `session_id`. The faults must be valid.
    pub(crate) fn plan(&self, endpoint: Endpoint, session_id: &str) -> Plan {
        let session_listed =
            self.sessions.is_empty() || self.sessions.iter().any(|s| s == session_id);
        if !session_listed || !self.endpoints.iter().any(|name| name == endpoint.name()) {
            return Plan {
                delay: Duration::ZERO,
                fate: Fate::Answer,
            };
        }
        let mut rng = rand::rng();
        let delay = Duration::from_millis(self.latency_ms + rng.random_range(0..=self.jitter_ms));
        let fate = if self.redirect_to.is_some() {
            Fate::Redirect
        } else if fires(&mut rng, self.echo_rate) {
            Fate::Echo
        } else if fires(&mut rng, self.proxy_page_rate) {
            Fate::ProxyPage
        } else if fires(&mut rng, self.error_rate) {
            // Valid faults have a status to draw, and only valid ones.
            let status = self.error_statuses.choose(&mut rng).copied().unwrap_or(503);
            Fate::Inject(StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
        } else if fires(&mut rng, self.proxy_reset_rate) {
            let status = StatusCode::from_u16(self.proxy_status);
            Fate::ProxyReset(status.unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
        } else if fires(&mut rng, self.hang_rate) {
            Fate::Hang(Duration::from_secs(self.hang_secs))
        } else if endpoint == Endpoint::Join && fires(&mut rng, self.drop_join_rate) {
            Fate::Drop
        } else {
            Fate::Answer
        };
        Plan { delay, fate }
    }

    /// The `Retry-After` an injected answer with `status` carries.
    pub(crate) fn retry_after(&self, status: StatusCode) -> Option<u64> {
        let throttles = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        );
        self.retry_after_secs.filter(|_| throttles)
    }
}

impl Faults {
    /// The body of a successful join's answer, shaped as `join_websocket_url`
    /// and `join_answer_padding` say.
    pub(crate) fn join_answer(&self, meeting_bot_id: &str, websocket_url: &str) -> String {
        // Written by hand: the fields' order (the id first) is part of the shape.
        let mut body = format!("{{\"meeting_bot_id\":{}", serde_json::json!(meeting_bot_id));
        if self.join_answer_padding > 0 {
            body.push_str(&format!(
                ",\"padding\":\"{}\"",
                "x".repeat(self.join_answer_padding)
            ));
        }
        let url = match self.join_websocket_url {
            WebsocketUrlAnswer::Url => Some(serde_json::json!(websocket_url)),
            WebsocketUrlAnswer::Null => Some(serde_json::Value::Null),
            WebsocketUrlAnswer::Empty => Some(serde_json::json!("")),
            WebsocketUrlAnswer::Absent => None,
        };
        if let Some(url) = url {
            body.push_str(&format!(",\"websocket_url\":{url}"));
        }
        body.push('}');
        body
    }
}

/// The plain-text body a front proxy answers with when its upstream reset
/// after it received the request (Envoy's words).
pub(crate) const PROXY_RESET_BODY: &str = "upstream connect error or disconnect/reset before headers. reset reason: connection termination";

/// Whether a fault with this `rate` fires: `random::<f64>()` is in [0, 1),
/// so a rate of 0 never does and a rate of 1 always does.
fn fires(rng: &mut impl Rng, rate: f64) -> bool {
    rng.random::<f64>() < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_object_means_no_faults_on_every_endpoint() {
        let faults: Faults = serde_json::from_str("{}").unwrap();
        assert_eq!(faults, Faults::default());
        assert_eq!(faults.endpoints, ["join", "leave", "session"]);
        assert!(faults.validate().is_ok());
        for endpoint in Endpoint::ALL {
            assert_eq!(
                faults.plan(endpoint, "s"),
                Plan {
                    delay: Duration::ZERO,
                    fate: Fate::Answer
                }
            );
        }
    }

    #[test]
    fn a_misspelt_field_is_refused_rather_than_ignored() {
        assert!(serde_json::from_str::<Faults>(r#"{"eror_rate": 1}"#).is_err());
    }

    #[test]
    fn validation_names_every_problem() {
        let faults = Faults {
            error_rate: 1.5,
            error_statuses: vec![200],
            endpoints: vec!["join".into(), "create".into()],
            ..Faults::default()
        };
        let problems = faults.validate().unwrap_err();
        assert!(problems.contains("error_rate"), "{problems}");
        assert!(problems.contains("200"), "{problems}");
        assert!(problems.contains("\"create\""), "{problems}");
    }

    #[test]
    fn rates_of_one_always_fire_in_order_error_hang_drop() {
        let all = Faults {
            error_rate: 1.0,
            error_statuses: vec![502],
            hang_rate: 1.0,
            hang_secs: 7,
            drop_join_rate: 1.0,
            ..Faults::default()
        };
        assert_eq!(
            all.plan(Endpoint::Join, "s").fate,
            Fate::Inject(StatusCode::BAD_GATEWAY)
        );
        let hang_and_drop = Faults {
            error_rate: 0.0,
            ..all
        };
        assert_eq!(
            hang_and_drop.plan(Endpoint::Join, "s").fate,
            Fate::Hang(Duration::from_secs(7))
        );
        let drop = Faults {
            hang_rate: 0.0,
            ..hang_and_drop
        };
        assert_eq!(drop.plan(Endpoint::Join, "s").fate, Fate::Drop);
        assert_eq!(
            drop.plan(Endpoint::Leave, "s").fate,
            Fate::Answer,
            "only joins are dropped"
        );
    }

    #[test]
    fn faults_spare_the_endpoints_not_listed() {
        let faults = Faults {
            latency_ms: 50,
            error_rate: 1.0,
            endpoints: vec!["leave".into()],
            ..Faults::default()
        };
        assert_eq!(faults.plan(Endpoint::Join, "s").fate, Fate::Answer);
        assert_eq!(faults.plan(Endpoint::Join, "s").delay, Duration::ZERO);
        let leave = faults.plan(Endpoint::Leave, "s");
        assert_eq!(leave.fate, Fate::Inject(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(leave.delay, Duration::from_millis(50));
    }

    #[test]
    fn faults_spare_the_sessions_not_listed_and_echo_comes_first() {
        let faults = Faults {
            echo_rate: 1.0,
            error_rate: 1.0,
            sessions: vec!["noisy".into()],
            ..Faults::default()
        };
        assert_eq!(faults.plan(Endpoint::Join, "quiet").fate, Fate::Answer);
        assert_eq!(faults.plan(Endpoint::Join, "noisy").fate, Fate::Echo);
        assert!(
            Faults {
                echo_rate: 2.0,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn a_proxy_page_answers_a_call_that_changes_nothing() {
        let faults = Faults {
            proxy_page_rate: 1.0,
            endpoints: vec!["leave".into()],
            ..Faults::default()
        };
        assert!(faults.validate().is_ok());
        assert_eq!(faults.plan(Endpoint::Leave, "s").fate, Fate::ProxyPage);
        assert_eq!(faults.plan(Endpoint::Join, "s").fate, Fate::Answer);
        assert!(
            Faults {
                proxy_page_rate: -0.5,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn a_redirect_comes_first_and_a_proxy_reset_before_hang_and_drop() {
        let faults = Faults {
            redirect_to: Some("http://elsewhere.test/x".into()),
            proxy_reset_rate: 1.0,
            proxy_status: 502,
            hang_rate: 1.0,
            echo_rate: 1.0,
            ..Faults::default()
        };
        assert!(faults.validate().is_ok());
        assert_eq!(faults.plan(Endpoint::Join, "s").fate, Fate::Redirect);
        let reset = Faults {
            redirect_to: None,
            echo_rate: 0.0,
            ..faults
        };
        assert_eq!(
            reset.plan(Endpoint::Leave, "s").fate,
            Fate::ProxyReset(StatusCode::BAD_GATEWAY)
        );
        let wrong = Faults {
            proxy_status: 200,
            redirect_to: Some("bad\nvalue".into()),
            ..Faults::default()
        };
        let problems = wrong.validate().unwrap_err();
        assert!(
            problems.contains("proxy_status") && problems.contains("redirect_to"),
            "{problems}"
        );
    }

    #[test]
    fn the_join_answer_takes_the_shape_asked_for() {
        let url = "wss://h/agent-audio/s?token=t";
        let answer = |faults: Faults| -> serde_json::Value {
            serde_json::from_str(&faults.join_answer("bot-1", url)).unwrap()
        };
        assert_eq!(
            answer(Faults::default()),
            serde_json::json!({"meeting_bot_id": "bot-1", "websocket_url": url})
        );
        for (shape, expected) in [
            (WebsocketUrlAnswer::Null, Some(serde_json::Value::Null)),
            (WebsocketUrlAnswer::Empty, Some(serde_json::json!(""))),
            (WebsocketUrlAnswer::Absent, None),
        ] {
            let body = answer(Faults {
                join_websocket_url: shape,
                ..Faults::default()
            });
            assert_eq!(body.get("websocket_url").cloned(), expected, "{shape:?}");
        }
        let padded = Faults {
            join_answer_padding: 70_000,
            ..Faults::default()
        }
        .join_answer("bot-1", url);
        assert!(padded.len() > 70_000);
        assert!(padded.starts_with(r#"{"meeting_bot_id":"bot-1","padding":"xxx"#));
    }

    #[test]
    fn only_throttling_statuses_carry_retry_after() {
        let faults = Faults {
            retry_after_secs: Some(3),
            ..Faults::default()
        };
        assert_eq!(faults.retry_after(StatusCode::TOO_MANY_REQUESTS), Some(3));
        assert_eq!(faults.retry_after(StatusCode::SERVICE_UNAVAILABLE), Some(3));
        assert_eq!(faults.retry_after(StatusCode::BAD_GATEWAY), None);
    }
}
