//! Durations as users write them in a spec: Go's notation, as Kubernetes tools use it.

/// Parses a Go-style duration such as `90m`, `1h30m` or `1.5h`: positive, and
/// at most Go's longest (about 2562047h).
pub fn parse_go_duration(text: &str) -> Result<std::time::Duration, String> {
    let invalid = || format!("{text:?} is not a duration such as 90m or 1h30m");
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    if text.is_empty() || total <= 0.0 {
        return Err(format!("{text:?} must be a positive duration"));
    }
    // Go (and CEL, which reads durations as Go does) counts in signed nanoseconds.
    if total * 1e9 > i64::MAX as f64 {
        return Err(format!("{text:?} is longer than 2562047h"));
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(parse_go_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_go_duration("2562047h").is_ok());
        for bad in ["", "0s", "2562048h", "90", "m", "1d", "1h-5m", "1..5h"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }
}
