//! Parsers for typed flag values: durations (`30s`, `5m`, `1500ms`) and byte
//! sizes (`64MiB`, `1GB`, `1048576`), so that flags and config files say what
//! they mean instead of bare numbers.

use std::time::Duration;

/// Parses a duration such as `30s`, `5m`, `1h`, `250ms` or `2d`. A bare number
/// is read as seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (expected e.g. 30s, 5m, 250ms)"))?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {text:?} (use ms, s, m, h or d)"
            ));
        }
    };
    value
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is too large"))
}

/// Parses a byte size such as `1048576`, `64KiB`, `64MiB`, `1GiB`, `10MB`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a byte size (expected e.g. 1048576, 64MiB)"))?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?} (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_every_unit_and_bare_seconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(parse_duration("").unwrap_err().contains("not a duration"));
        assert!(
            parse_duration("ten seconds")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(
            parse_duration("10 fortnights")
                .unwrap_err()
                .contains("unknown duration unit")
        );
        assert!(
            parse_duration("99999999999999999d")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn byte_sizes_read_binary_and_decimal_units() {
        assert_eq!(parse_bytes("1048576"), Ok(1_048_576));
        assert_eq!(parse_bytes("64KiB"), Ok(65_536));
        assert_eq!(parse_bytes("1MiB"), Ok(1_048_576));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
    }

    #[test]
    fn bad_byte_sizes_say_what_is_wrong() {
        assert!(parse_bytes("-1").unwrap_err().contains("not a byte size"));
        assert!(
            parse_bytes("3 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(
            parse_bytes("99999999999TiB")
                .unwrap_err()
                .contains("too large")
        );
    }
}
