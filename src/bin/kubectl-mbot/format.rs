//! Durations and times for people, in kubectl's short style (45s, 3m20s, 2h5m, 3d).

use jiff::Timestamp;

/// How long ago `then` was, seen at `now` (never negative).
pub fn age(now: Timestamp, then: Timestamp) -> String {
    let seconds = now.duration_since(then).as_secs().max(0);
    short(seconds as u64)
}

/// A number of seconds, in a few characters.
pub fn short(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let two = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua}{b}{ub}")
        }
    };
    match seconds {
        0..60 => format!("{s}s"),
        60..600 => two(m, "m", s, "s"),
        600..3600 => format!("{m}m"),
        3600..86_400 => two(h, "h", m, "m"),
        _ => two(d, "d", h, "h"),
    }
}

/// A time as RFC 3339 (seconds), with how long ago it was.
pub fn when(now: Timestamp, then: Timestamp) -> String {
    format!(
        "{} ({} ago)",
        then.round(jiff::Unit::Second).unwrap_or(then),
        age(now, then)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (125, "2m5s"),
            (900, "15m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (90_000, "1d1h"),
        ];
        for (seconds, text) in cases {
            assert_eq!(short(seconds), text, "{seconds}");
        }
    }
}
