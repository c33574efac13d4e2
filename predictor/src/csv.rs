//! History from CSV files: `ts,value` lines with Unix seconds, as in `shared/data/`.
//!
//! Rules (chosen so a file exported by hand, by pandas or from Prometheus loads as is):
//! - an optional header line (first content line whose two fields are both non-numeric);
//! - blank lines and lines starting with `#` are skipped; fields are trimmed;
//! - timestamps are Unix seconds; a decimal timestamp (`1628640000.5`, as Prometheus
//!   writes them) is rounded to the nearest second; values that look like milliseconds
//!   are refused rather than silently misread;
//! - an empty value or `NaN` is a missing sample (kept as `NaN`; cleaning fills it);
//!   infinite values are refused;
//! - timestamps must be strictly increasing (after rounding), so a shuffled or
//!   concatenated file is reported instead of being silently reordered.
//!
//! Every error carries the 1-based line number, what is wrong and what is expected.

use thiserror::Error;

/// Samples as read, in file order: (Unix seconds, value); `NaN` = missing.
pub type RawSeries = Vec<(i64, f64)>;

/// What every error message tells the user to provide.
const EXPECTED: &str = "expected ts,value with Unix seconds";

/// Timestamps at or above this (year 5138) are almost surely milliseconds.
const MAX_SECONDS: f64 = 1e11;

/// Longest excerpt of offending text quoted in an error.
const MAX_QUOTE: usize = 40;

/// A CSV line that cannot be read, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CsvError {
    #[error("line {line}: found {found} field(s); {EXPECTED}")]
    FieldCount { line: usize, found: usize },
    #[error("line {line}: timestamp \"{text}\" is not a number; {EXPECTED}")]
    BadTimestamp { line: usize, text: String },
    #[error("line {line}: timestamp \"{text}\" is out of range (milliseconds?); {EXPECTED}")]
    TimestampOutOfRange { line: usize, text: String },
    #[error("line {line}: value \"{text}\" is not a number; {EXPECTED}")]
    BadValue { line: usize, text: String },
    #[error(
        "line {line}: value \"{text}\" is not finite; {EXPECTED}, or NaN/empty for a missing sample"
    )]
    NonFiniteValue { line: usize, text: String },
    #[error(
        "line {line}: timestamp {ts} is not after {prev_ts} on line {prev_line}; expected strictly increasing timestamps"
    )]
    NotIncreasing {
        line: usize,
        ts: i64,
        prev_line: usize,
        prev_ts: i64,
    },
    #[error("no samples found; {EXPECTED}, one sample per line")]
    Empty,
}

impl CsvError {
    /// The 1-based line the error is about (the later one for out-of-order timestamps);
    /// `None` for an empty file.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::FieldCount { line, .. }
            | Self::BadTimestamp { line, .. }
            | Self::TimestampOutOfRange { line, .. }
            | Self::BadValue { line, .. }
            | Self::NonFiniteValue { line, .. }
            | Self::NotIncreasing { line, .. } => Some(*line),
            Self::Empty => None,
        }
    }
}

/// Parses `ts,value` CSV text into samples; see the module doc for the accepted format.
pub fn parse_csv(text: &str) -> Result<RawSeries, CsvError> {
    let mut out = RawSeries::new();
    let mut prev: Option<(usize, i64)> = None;
    let mut header_allowed = true;
    for (idx, raw_line) in text.lines().enumerate() {
        let line = idx + 1;
        let content = raw_line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content.split(',').map(str::trim).collect();
        let [ts_text, value_text] = fields[..] else {
            return Err(CsvError::FieldCount {
                line,
                found: fields.len(),
            });
        };
        let is_header =
            header_allowed && ts_text.parse::<f64>().is_err() && value_text.parse::<f64>().is_err();
        header_allowed = false;
        if is_header {
            continue;
        }
        let ts = parse_ts(line, ts_text)?;
        let value = parse_value(line, value_text)?;
        if let Some((prev_line, prev_ts)) = prev
            && ts <= prev_ts
        {
            return Err(CsvError::NotIncreasing {
                line,
                ts,
                prev_line,
                prev_ts,
            });
        }
        prev = Some((line, ts));
        out.push((ts, value));
    }
    if out.is_empty() {
        return Err(CsvError::Empty);
    }
    Ok(out)
}

fn parse_ts(line: usize, text: &str) -> Result<i64, CsvError> {
    // Integers first: exact for every i64, where f64 would lose precision.
    let secs = match text.parse::<i64>() {
        Ok(secs) => secs as f64,
        Err(_) => match text.parse::<f64>() {
            Ok(secs) if secs.is_finite() => secs.round(),
            _ => {
                return Err(CsvError::BadTimestamp {
                    line,
                    text: quote(text),
                });
            }
        },
    };
    if secs.abs() >= MAX_SECONDS {
        return Err(CsvError::TimestampOutOfRange {
            line,
            text: quote(text),
        });
    }
    // In range by the check above, so the cast is exact.
    Ok(secs as i64)
}

fn parse_value(line: usize, text: &str) -> Result<f64, CsvError> {
    if text.is_empty() {
        return Ok(f64::NAN);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_nan() => Ok(f64::NAN),
        Ok(v) if v.is_infinite() => Err(CsvError::NonFiniteValue {
            line,
            text: quote(text),
        }),
        Ok(v) => Ok(v),
        Err(_) => Err(CsvError::BadValue {
            line,
            text: quote(text),
        }),
    }
}

/// Offending text for a message, cut short so a garbage line cannot flood the terminal.
fn quote(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_comments_blank_lines_and_crlf() {
        let text = "# exported\r\nts,value\r\n\r\n60,1.5\r\n  120 , 2 \r\n# end\r\n";
        assert_eq!(parse_csv(text), Ok(vec![(60, 1.5), (120, 2.0)]));
    }

    #[test]
    fn no_header_is_fine() {
        assert_eq!(parse_csv("60,1\n120,2"), Ok(vec![(60, 1.0), (120, 2.0)]));
    }

    #[test]
    fn header_only_on_first_content_line() {
        let err = parse_csv("60,1\nts,value\n").unwrap_err();
        assert_eq!(err.line(), Some(2));
        assert!(matches!(err, CsvError::BadTimestamp { .. }), "{err}");
    }

    #[test]
    fn bad_value_names_line_and_expectation() {
        let err = parse_csv("ts,value\n60,1\n120,abc\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: value \"abc\" is not a number; expected ts,value with Unix seconds"
        );
    }

    #[test]
    fn decimal_timestamps_round_to_seconds() {
        assert_eq!(
            parse_csv("60.4,1\n119.6,2\n"),
            Ok(vec![(60, 1.0), (120, 2.0)])
        );
    }

    #[test]
    fn milliseconds_refused() {
        let err = parse_csv("1628640000000,1\n").unwrap_err();
        assert!(
            matches!(err, CsvError::TimestampOutOfRange { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_and_infinite_values() {
        let parsed = parse_csv("60,\n120,NaN\n180,3\n").expect("parses");
        assert!(parsed[0].1.is_nan() && parsed[1].1.is_nan());
        assert_eq!(parsed[2], (180, 3.0));
        let err = parse_csv("60,inf\n").unwrap_err();
        assert!(
            matches!(err, CsvError::NonFiniteValue { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn out_of_order_names_both_lines() {
        let err = parse_csv("ts,value\n120,1\n\n60,2\n").unwrap_err();
        assert_eq!(
            err,
            CsvError::NotIncreasing {
                line: 4,
                ts: 60,
                prev_line: 2,
                prev_ts: 120
            }
        );
        assert!(err.to_string().contains("line 4") && err.to_string().contains("line 2"));
    }

    #[test]
    fn wrong_field_count_and_empty() {
        let err = parse_csv("60,1,2\n").unwrap_err();
        assert_eq!(err, CsvError::FieldCount { line: 1, found: 3 });
        assert_eq!(parse_csv("ts,value\n# nothing\n"), Err(CsvError::Empty));
    }

    #[test]
    fn long_garbage_is_quoted_short() {
        let garbage = "x".repeat(1000);
        let msg = parse_csv(&format!("60,{garbage}\n"))
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 200, "{msg}");
    }
}
