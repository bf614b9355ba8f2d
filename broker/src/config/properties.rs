//! The `key=value` file format of Kafka's `server.properties`: one setting per
//! line, `#` or `!` starts a comment, `=` or `:` separates key and value,
//! surrounding blanks are ignored.

/// Parses properties text into ordered `(key, value)` pairs. A line without a
/// separator, or a key given twice, is an error naming the line.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some(split) = line.find(['=', ':']) else {
            return Err(format!(
                "line {}: expected key=value, found {line:?}",
                index + 1
            ));
        };
        let key = line[..split].trim();
        let value = line[split + 1..].trim();
        if key.is_empty() {
            return Err(format!("line {}: missing key before '='", index + 1));
        }
        if pairs.iter().any(|(seen, _)| seen == key) {
            return Err(format!("line {}: {key} is set twice", index + 1));
        }
        pairs.push((key.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::parse_properties;

    #[test]
    fn comments_blanks_and_both_separators_are_understood() {
        let pairs = parse_properties(
            "# broker settings\n\n! also a comment\nnum.partitions = 8\nlog.retention.ms: 1000\n",
        )
        .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("num.partitions".to_owned(), "8".to_owned()),
                ("log.retention.ms".to_owned(), "1000".to_owned())
            ]
        );
    }

    #[test]
    fn malformed_lines_and_repeated_keys_name_the_line() {
        assert!(
            parse_properties("a=1\nnonsense\n")
                .unwrap_err()
                .starts_with("line 2")
        );
        assert!(
            parse_properties("=1\n")
                .unwrap_err()
                .contains("missing key")
        );
        assert!(
            parse_properties("a=1\na=2\n")
                .unwrap_err()
                .contains("a is set twice")
        );
    }
}
