//! Subscriptions by regular expression (`SubscribedTopicRegex` of ConsumerGroupHeartbeat).
//!
//! Kafka's coordinator compiles the expression with RE2/J (`com.google.re2j.Pattern`) when a
//! member first brings it, answering INVALID_REGULAR_EXPRESSION (error code 128) if it does
//! not compile, and resolves it against the cluster's topic names with
//! `pattern.matcher(name).matches()`: the whole name must match, so `orders` selects the topic
//! `orders` alone and `orders.*` every topic that starts with it.
//!
//! We compile with the `regex` crate, whose syntax is RE2's. To be as strict as RE2/J and to
//! match as it does on topic names (ASCII only: `[a-zA-Z0-9._-]`), the expression is compiled
//! with Unicode mode off, which makes `\d`, `\w`, `\s` and `\b` ASCII classes as in RE2 and
//! lets `(?i)` fold ASCII case. Where the two differ:
//! - Both refuse lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`), backreferences (`\1`), possessive
//!   quantifiers (`a*+`) and other repetitions of a repetition (`a**`), atomic groups (`(?>`) and `\Z`; both take `\A`, `\z`, `(?i)`,
//!   `(?s)`, `(?m)`, `(?U)`, `(?P<name>…)`, `(?<name>…)`, `[[:alpha:]]` and `x{2,3}`.
//! - RE2/J takes, and we refuse (INVALID_REGULAR_EXPRESSION where Kafka would resolve): Unicode
//!   classes (`\p{L}`, `\pN`), octal escapes (`\0`, `\123`), quoting (`\Q…\E`), `\C`, and
//!   a `{` that does not start a counted repetition (`a{x}`: RE2/J a literal), and a `[`
//!   inside a class (RE2/J: a literal `[`; the crate: a nested class, so refused rather than
//!   read differently). On topic names these add nothing an ASCII class cannot say.
//! - We take, and RE2/J refuses: the verbose flag `(?x)`, the CRLF flag `(?R)`, and class
//!   set operations (`[a-z&&[^x]]`, `--`, `~~`).
//! - Whether an expression matches a name never differs: both are automata without
//!   backtracking, and a full match asks only whether the name is in the expression's language.
//!
//! Kafka's resolver matches every topic in the metadata image (then drops the topics the member
//! may not DESCRIBE); it does not skip internal topics. We do: Kafka's internal topics
//! (`__consumer_offsets`, `__transaction_state`, `__share_group_state`, exactly Kafka's
//! `Topic.isInternal`) are never matched, as the classic consumer's `exclude.internal.topics`
//! default does, so `.*` does not hand a consumer the coordinator's own partitions. Other names
//! starting with `__` are ordinary topics and match.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use uuid::Uuid;

/// Kafka's internal topics (`org.apache.kafka.common.internals.Topic.INTERNAL_TOPICS`).
pub const INTERNAL_TOPICS: [&str; 3] = [
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// Whether `name` is one of Kafka's internal topics, which a regular expression never selects.
pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// A regular expression a member subscribes with that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SubscribedTopicRegex `{pattern}` is not a valid regular expression: {reason}")]
pub struct InvalidRegex {
    pub pattern: String,
    pub reason: String,
}

impl InvalidRegex {
    /// The Kafka error a heartbeat with this expression is answered with.
    pub fn error(&self) -> ResponseError {
        ResponseError::InvalidRegularExpression
    }
}

/// A compiled `SubscribedTopicRegex`.
#[derive(Debug, Clone)]
pub struct TopicRegex {
    pattern: String,
    /// `pattern` anchored at both ends, for a full match.
    full: regex::bytes::Regex,
}

impl TopicRegex {
    /// Compiles `pattern`, refusing what RE2/J refuses (see the module docs for the
    /// differences).
    pub fn new(pattern: &str) -> Result<Self, InvalidRegex> {
        let invalid = |reason: String| InvalidRegex {
            pattern: pattern.to_owned(),
            reason,
        };
        if let Some(construct) = refused_by_re2j(pattern) {
            return Err(invalid(format!("{construct} is not supported")));
        }
        // Compile the expression as it came first: anchoring it inside a group could make an
        // invalid one (`a)|(b`) valid.
        build(pattern).map_err(|e| invalid(first_line(&e)))?;
        let full = build(&format!(r"\A(?:{pattern})\z")).map_err(|e| invalid(first_line(&e)))?;
        Ok(Self {
            pattern: pattern.to_owned(),
            full,
        })
    }

    /// The expression as the member sent it.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the expression selects the topic `name`: a full match, never an internal topic.
    pub fn matches(&self, name: &str) -> bool {
        !is_internal_topic(name) && self.full.is_match(name.as_bytes())
    }
}

/// The ids of the topics of `topics` (name, id) that `regex` selects.
pub fn resolve<'a>(
    regex: &TopicRegex,
    topics: impl IntoIterator<Item = (&'a str, Uuid)>,
) -> BTreeSet<Uuid> {
    topics
        .into_iter()
        .filter(|(name, _)| regex.matches(name))
        .map(|(_, id)| id)
        .collect()
}

fn build(pattern: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .octal(false)
        .build()
}

fn first_line(error: &regex::Error) -> String {
    // The crate's syntax errors draw the pattern over several lines; the last one says why.
    let text = error.to_string();
    text.lines()
        .rev()
        .find(|line| line.starts_with("error: "))
        .map(|line| line.trim_start_matches("error: ").to_owned())
        .unwrap_or(text)
}

/// The first construct of `pattern` that the `regex` crate takes but RE2/J refuses: the `x`
/// and `R` flags, class set operations, a `[` inside a class and a repetition of a repetition
/// (`a**`, `a*+`, `a{2}{3}`; a lazy `?` after one is fine). Scans escapes, classes and
/// counted repetitions as RE2 parses them.
fn refused_by_re2j(pattern: &str) -> Option<&'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    // Right after a repetition operator; and whether a lazy `?` may still follow it.
    let (mut repeated, mut lazy_allowed) = (false, false);
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if in_class {
            match c {
                '\\' => i += 1,
                ']' => in_class = false,
                '[' if next == Some(':') => {
                    match chars[i + 2..].windows(2).position(|w| w == [':', ']']) {
                        Some(end) => i += end + 3,
                        None => return Some("a nested character class"),
                    }
                }
                '[' => return Some("a nested character class"),
                '&' | '-' | '~' if next == Some(c) => {
                    return Some("a character class set operation");
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        let repeat_len = match c {
            '*' | '+' | '?' => Some(1),
            '{' => counted_repetition(&chars[i..]),
            _ => None,
        };
        if let Some(len) = repeat_len {
            if repeated {
                if c == '?' && lazy_allowed {
                    lazy_allowed = false;
                    i += 1;
                    continue;
                }
                return Some("a nested repetition operator");
            }
            (repeated, lazy_allowed) = (true, true);
            i += len;
            continue;
        }
        (repeated, lazy_allowed) = (false, false);
        match c {
            '\\' => i += 1,
            '[' => {
                in_class = true;
                // A `]` (after an optional `^`) first in a class is a literal.
                if chars.get(i + 1) == Some(&'^') {
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    i += 1;
                }
            }
            '(' if next == Some('?') => {
                let flags: String = chars[i + 2..]
                    .iter()
                    .take_while(|f| f.is_ascii_alphabetic() || **f == '-')
                    .collect();
                let closes = matches!(chars.get(i + 2 + flags.len()), Some(':' | ')'));
                if closes && flags.contains('x') {
                    return Some("the flag x");
                }
                if closes && flags.contains('R') {
                    return Some("the flag R");
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The length of the counted repetition (`{n}`, `{n,}`, `{n,m}`) `chars` starts with; RE2 reads
/// any other `{` as a literal.
fn counted_repetition(chars: &[char]) -> Option<usize> {
    let end = chars.iter().position(|&c| c == '}')?;
    let inner: String = chars[1..end].iter().collect();
    let (min, max) = inner.split_once(',').unwrap_or((&inner, "0"));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    (!min.is_empty() && digits(min) && digits(max)).then_some(end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiles(pattern: &str) -> bool {
        TopicRegex::new(pattern).is_ok()
    }

    fn matches(pattern: &str, name: &str) -> bool {
        TopicRegex::new(pattern)
            .expect("the test pattern compiles")
            .matches(name)
    }

    #[test]
    fn an_expression_must_match_the_whole_topic_name() {
        assert!(matches("orders", "orders"));
        assert!(!matches("orders", "orders-v2"));
        assert!(!matches("orders", "reorders"));
        assert!(matches("orders.*", "orders-v2"));
        assert!(matches(".*orders", "reorders"));
        assert!(!matches("^topic*", "topic-1"));
        assert!(matches("^topic.*$", "topic-1"));
    }

    #[test]
    fn alternation_is_anchored_as_a_whole() {
        // Anchoring each side would be wrong: `a|b` against "ab" must not match.
        assert!(!matches("a|b", "ab"));
        assert!(matches("a|b", "b"));
        assert!(matches("(a|b)+", "abba"));
    }

    #[test]
    fn internal_topics_are_never_matched() {
        for name in INTERNAL_TOPICS {
            assert!(!matches(".*", name), "{name}");
            assert!(!matches(name, name), "{name}");
        }
        // Only Kafka's internal topics: other names starting with `__` are ordinary topics.
        assert!(matches(".*", "__my_topic"));
        assert!(matches("__.*", "__consumer_offsets_backup"));
    }

    #[test]
    fn expressions_re2j_refuses_are_invalid() {
        for pattern in [
            "(?=a)a", "a(?!b)", "(?<=a)b", "(?<!a)b", r"(a)\1", "a*+", "a**", "a+?+", "a{2}{3}",
            "a?*", "(?>a)", r"a\Z", "(", "a)|(b", "[a-", "*a", "a{2,1}", r"\",
        ] {
            assert!(!compiles(pattern), "{pattern} should be refused");
        }
    }

    #[test]
    fn rust_only_syntax_is_refused_as_re2j_would() {
        for pattern in [
            "(?x)a b",
            "(?ix:a)",
            "(?R)a",
            "[a-z&&[^x]]",
            "[a--b]",
            "[a~~b]",
        ] {
            assert!(!compiles(pattern), "{pattern} should be refused");
        }
        // The same characters where they are not flags or set operations.
        assert!(matches(r"\(\?x\)", "(?x)"));
        assert!(matches("[x)]+", "x)"));
        assert!(matches("[&-]+", "&-"));
        assert!(matches("a-b&c", "a-b&c"));
        assert!(matches("[]x]+", "]x"));
        assert!(matches("a*?b+?c??d{1,2}?", "bcdd"));
    }

    #[test]
    fn unicode_classes_octal_quoting_and_literal_braces_are_refused_where_re2j_takes_them() {
        // The documented differences: Kafka would take these.
        for pattern in [
            r"\p{L}+", r"\pN", r"\0", r"\141", r"\Qa.b\E", r"\C", "a{x}", "[a[]",
        ] {
            assert!(!compiles(pattern), "{pattern}");
        }
    }

    #[test]
    fn re2_syntax_topic_names_use_is_accepted() {
        assert!(matches(r"\Aorders\z", "orders"));
        assert!(matches(r"(?i)ORDERS-\d+", "orders-12"));
        assert!(matches(r"(?P<env>prod|test)\.events", "prod.events"));
        assert!(matches(r"(?<env>prod|test)\.events", "test.events"));
        assert!(matches("[[:alpha:]]+_[[:digit:]]{2,3}", "abc_123"));
        assert!(matches(r"\w+\.\w+", "a_b.c1"));
        assert!(matches("(?s:.)+", "x"));
        assert!(!matches(r"a\.b", "axb"));
    }

    #[test]
    fn perl_classes_are_ascii_as_in_re2() {
        let regex = TopicRegex::new(r"\w+").expect("compiles");
        assert!(regex.full.is_match("abc_9".as_bytes()));
        assert!(!regex.full.is_match("é".as_bytes()));
        let digits = TopicRegex::new(r"\d").expect("compiles");
        assert!(!digits.full.is_match("٣".as_bytes()));
    }

    #[test]
    fn an_invalid_expression_maps_to_invalid_regular_expression() {
        let error = TopicRegex::new("a(?=b)").expect_err("lookahead is refused");
        assert_eq!(error.error(), ResponseError::InvalidRegularExpression);
        assert_eq!(error.error().code(), 128);
        assert_eq!(error.pattern, "a(?=b)");
        assert!(
            error
                .to_string()
                .starts_with("SubscribedTopicRegex `a(?=b)`"),
            "{error}"
        );
    }

    #[test]
    fn resolve_returns_the_ids_of_the_matching_topics() {
        let (a, b, c, internal) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Uuid::from_u128(4),
        );
        let topics = [
            ("orders-eu", a),
            ("orders-us", b),
            ("payments", c),
            ("__consumer_offsets", internal),
        ];
        let regex = TopicRegex::new("orders-.*|payments").expect("compiles");
        assert_eq!(resolve(&regex, topics), BTreeSet::from([a, b, c]));
        let everything = TopicRegex::new(".*").expect("compiles");
        assert_eq!(resolve(&everything, topics), BTreeSet::from([a, b, c]));
        let none = TopicRegex::new("orders").expect("compiles");
        assert_eq!(resolve(&none, topics), BTreeSet::new());
    }
}
