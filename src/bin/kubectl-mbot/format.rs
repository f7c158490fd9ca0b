//! Durations and times for people, exactly as kubectl prints them: a port of
//! apimachinery's `HumanDuration` (k8s.io/apimachinery/pkg/util/duration), the
//! function behind every AGE column of `kubectl get`.

use jiff::{SignedDuration, Timestamp};

/// How long ago `then` was, seen at `now`, as kubectl's AGE column shows it.
pub fn age(now: Timestamp, then: Timestamp) -> String {
    human_duration(now.duration_since(then))
}

/// apimachinery's `HumanDuration`: about two or three significant figures,
/// `<invalid>` for a time more than a second in the future (a little clock
/// skew reads as `0s`).
pub fn human_duration(d: SignedDuration) -> String {
    // Go's int(d.Seconds()) truncates toward zero, as as_secs does.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return match s {
            0 => format!("{minutes}m"),
            _ => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return match m {
            0 => format!("{hours}h"),
            _ => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return match h {
            0 => format!("{}d", hours / 24),
            _ => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = hours / 24 % 365;
        return match dy {
            0 => format!("{}y", hours / 24 / 365),
            _ => format!("{}y{dy}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
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

    const MS: i64 = 1;
    const SEC: i64 = 1000 * MS;
    const MIN: i64 = 60 * SEC;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    const YEAR: i64 = 365 * DAY;

    fn check(cases: &[(i64, &str)]) {
        for (millis, want) in cases {
            let d = SignedDuration::from_millis(*millis);
            assert_eq!(human_duration(d), *want, "HumanDuration({d:?})");
        }
    }

    /// apimachinery's TestHumanDuration, case for case.
    #[test]
    fn human_duration_matches_apimachinerys_table() {
        check(&[
            (SEC, "1s"),
            (70 * SEC, "70s"),
            (190 * SEC, "3m10s"),
            (70 * MIN, "70m"),
            (47 * HOUR, "47h"),
            (49 * HOUR, "2d1h"),
            ((8 * 24 + 2) * HOUR, "8d"),
            (367 * DAY, "367d"),
            ((365 * 2 * 24 + 25) * HOUR, "2y1d"),
            ((365 * 8 * 24 + 2) * HOUR, "8y"),
        ]);
    }

    /// apimachinery's TestHumanDurationBoundaries, case for case (its
    /// `-2s + 1ns` is -1.999s here: both truncate to -1s).
    #[test]
    fn human_duration_matches_apimachinerys_boundaries() {
        check(&[
            (-2 * SEC, "<invalid>"),
            (-2 * SEC + MS, "0s"),
            (0, "0s"),
            (SEC - MS, "0s"),
            (2 * MIN - MS, "119s"),
            (2 * MIN, "2m"),
            (2 * MIN + SEC, "2m1s"),
            (10 * MIN - MS, "9m59s"),
            (10 * MIN, "10m"),
            (10 * MIN + SEC, "10m"),
            (3 * HOUR - MS, "179m"),
            (3 * HOUR, "3h"),
            (3 * HOUR + MIN, "3h1m"),
            (8 * HOUR - MS, "7h59m"),
            (8 * HOUR, "8h"),
            (8 * HOUR + 59 * MIN, "8h"),
            (2 * DAY - MS, "47h"),
            (2 * DAY, "2d"),
            (2 * DAY + HOUR, "2d1h"),
            (8 * DAY - MS, "7d23h"),
            (8 * DAY, "8d"),
            (8 * DAY + 23 * HOUR, "8d"),
            (2 * YEAR - MS, "729d"),
            (2 * YEAR, "2y"),
            (2 * YEAR + 23 * HOUR, "2y"),
            (2 * YEAR + 23 * HOUR + 59 * MIN, "2y"),
            (2 * YEAR + 24 * HOUR - MS, "2y"),
            (2 * YEAR + 24 * HOUR, "2y1d"),
            (3 * YEAR, "3y"),
            (4 * YEAR, "4y"),
            (5 * YEAR, "5y"),
            (6 * YEAR, "6y"),
            (7 * YEAR, "7y"),
            (8 * YEAR - MS, "7y364d"),
            (8 * YEAR, "8y"),
            (8 * YEAR + 364 * DAY, "8y"),
            (9 * YEAR, "9y"),
        ]);
    }

    /// The durations the issue found printed differently from kubectl.
    #[test]
    fn ages_read_as_kubectl_prints_them() {
        check(&[(90 * MIN, "90m"), (25 * HOUR, "25h"), (125 * SEC, "2m5s")]);
        let now = Timestamp::now();
        let then = now - SignedDuration::from_secs(5400);
        assert_eq!(age(now, then), "90m");
        assert_eq!(age(then, now), "<invalid>");
    }
}
