//! Exact Kubernetes resource quantities (`250m`, `1.5Gi`, `1e3`).
//!
//! Scheduling decisions compare sums of requests against allocatable, so the
//! arithmetic must match the API server's to the last unit: a float would make
//! `0.1 + 0.2` CPUs differ from `300m`. Values are therefore held as exact
//! integer nano-units, the finest precision `k8s.io/apimachinery` keeps.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Nano-units in one unit (one core, one byte).
const NANOS_PER_UNIT: i128 = 1_000_000_000;
const UNSIGNED_NANOS_PER_UNIT: u128 = NANOS_PER_UNIT.unsigned_abs();
/// Nano-units in one milli-unit.
const NANOS_PER_MILLI: i128 = 1_000_000;
/// `10^39` exceeds `i128::MAX`, so a number with more integer digits overflows.
const MAX_I128_DIGITS: i64 = 39;
/// Errors quote at most this many characters of the input, so a huge bogus
/// string cannot flood a log line.
const MAX_QUOTED_CHARS: usize = 64;

/// Decimal SI suffixes, largest first, with the power of ten of their nano-units.
const DECIMAL_SUFFIXES: [(&str, u32); 10] = [
    ("E", 27),
    ("P", 24),
    ("T", 21),
    ("G", 18),
    ("M", 15),
    ("k", 12),
    ("", 9),
    ("m", 6),
    ("u", 3),
    ("n", 0),
];

/// Binary SI suffixes, largest first, with the power of two of their units.
const BINARY_SUFFIXES: [(&str, u32); 6] = [
    ("Ei", 60),
    ("Pi", 50),
    ("Ti", 40),
    ("Gi", 30),
    ("Mi", 20),
    ("Ki", 10),
];

/// A Kubernetes resource quantity, held exactly as integer nano-units.
///
/// Parsing follows `resource.ParseQuantity` from `k8s.io/apimachinery`:
/// `[+-]digits[.digits]` followed by a binary SI suffix (`Ki`..`Ei`), a decimal
/// SI suffix (`n u m k M G T P E`, or none) or a decimal exponent (`e3`,
/// `E-2`). Like apimachinery, a value finer than `1n` is rounded up, away from
/// zero (`0.1n` is `1n`, `-1.5n` is `-2n`): asking for a sliver of a resource
/// still asks for some.
///
/// Deliberate differences, all stricter or wider rather than different:
/// - a string with no digits (`Gi`, `.`, `-`) is rejected; apimachinery reads
///   it as zero, which is never what the author meant;
/// - apimachinery caps magnitudes at `2^63 - 1` units; here values stay exact
///   up to `i128::MAX` nano-units (about `1.7e29` units) and anything larger
///   is an error, as is an exponent that does not fit in 32 bits.
///
/// [`Display`](fmt::Display) prints a canonical form that parses back to the
/// same value: the shorter of the decimal-SI form (`250m`, `1500M`) and, for
/// whole multiples of 1024, the binary-SI form (`2Gi`); ties go to decimal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    /// Never `i128::MIN`, so negation and `unsigned_abs` round-trip.
    nanos: i128,
}

/// Why a string is not a quantity; carries (a prefix of) the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {input:?}: {kind}")]
pub struct QuantityError {
    input: String,
    kind: QuantityErrorKind,
}

/// The specific way a quantity string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityErrorKind {
    #[error("empty string")]
    Empty,
    #[error("no digits (expected a number such as \"100Mi\" or \"0.5\")")]
    NoDigits,
    #[error(
        "unknown suffix {0:?} (expected one of n u m k M G T P E Ki Mi Gi Ti Pi Ei, \
         or an exponent such as e3)"
    )]
    BadSuffix(String),
    #[error("exponent does not fit in 32 bits")]
    ExponentOutOfRange,
    #[error("magnitude exceeds i128::MAX nano-units")]
    Overflow,
}

impl QuantityError {
    fn new(input: &str, kind: QuantityErrorKind) -> Self {
        Self {
            input: clip(input),
            kind,
        }
    }

    /// What was wrong with the input.
    pub fn kind(&self) -> &QuantityErrorKind {
        &self.kind
    }

    /// The rejected input, shortened to its first 64 characters.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl Quantity {
    /// `millis` thousandths of a unit (`from_milli(250)` is `250m`).
    pub fn from_milli(millis: i64) -> Self {
        Self {
            nanos: i128::from(millis) * NANOS_PER_MILLI,
        }
    }

    /// `units` whole units (cores, bytes).
    pub fn from_value(units: i64) -> Self {
        Self {
            nanos: i128::from(units) * NANOS_PER_UNIT,
        }
    }

    /// The exact value in nano-units.
    pub fn as_nanos(self) -> i128 {
        self.nanos
    }

    /// The value in milli-units, like apimachinery's `MilliValue`: a fraction
    /// rounds away from zero ("ceil" of the magnitude), so `0.1m` is 1, and the
    /// result saturates at the `i64` bounds instead of wrapping.
    pub fn milli_value_ceil(self) -> i64 {
        saturate(div_away_from_zero(self.nanos, NANOS_PER_MILLI))
    }

    /// The value in whole units, like apimachinery's `Value`: a fraction
    /// rounds away from zero, so `1500m` is 2, and the result saturates at the
    /// `i64` bounds instead of wrapping.
    pub fn value_ceil(self) -> i64 {
        saturate(div_away_from_zero(self.nanos, NANOS_PER_UNIT))
    }

    /// The value in units as a float, for ratios and metrics where exactness
    /// no longer matters.
    pub fn as_f64(self) -> f64 {
        self.nanos as f64 / NANOS_PER_UNIT as f64
    }

    /// Whether the quantity is zero (Kubernetes treats a zero limit as unset).
    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// The sum, clamped to the representable range so summing a whole cluster
    /// can never panic or wrap.
    pub fn saturating_add(self, other: Self) -> Self {
        Self {
            nanos: self.nanos.saturating_add(other.nanos).max(-i128::MAX),
        }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse(input).map_err(|kind| QuantityError::new(input, kind))
    }
}

impl TryFrom<&K8sQuantity> for Quantity {
    type Error = QuantityError;

    fn try_from(quantity: &K8sQuantity) -> Result<Self, Self::Error> {
        quantity.0.parse()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimal = decimal_form(self.nanos);
        match binary_form(self.nanos) {
            Some(binary) if binary.len() < decimal.len() => f.pad(&binary),
            _ => f.pad(&decimal),
        }
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// Accepts strings and, like apimachinery's JSON decoding, bare numbers (so a
/// YAML config may say `cpu: 2` or `cpu: 0.5`).
struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes quantity such as \"250m\" or \"2Gi\"")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Quantity, E> {
        value.parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Quantity, E> {
        Ok(Quantity::from_value(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Quantity, E> {
        Ok(Quantity {
            nanos: i128::from(value) * NANOS_PER_UNIT,
        })
    }

    /// Rust prints the shortest decimal that reads back as the same `f64`, so
    /// `0.1` becomes exactly `100m` rather than the binary float's expansion.
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Quantity, E> {
        self.visit_str(&value.to_string())
    }
}

/// A quantity string split into its parts; the digit runs are ASCII digits.
struct Parts<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
    suffix: &'a str,
}

/// What a suffix multiplies the number by.
#[derive(Clone, Copy)]
enum Scale {
    PowerOfTen(i32),
    PowerOfTwo(u32),
}

fn parse(input: &str) -> Result<Quantity, QuantityErrorKind> {
    let parts = split(input)?;
    let scale = parse_suffix(parts.suffix)?;
    let magnitude = magnitude_nanos(parts.integer, parts.fraction, scale)?;
    let nanos = if parts.negative {
        -magnitude
    } else {
        magnitude
    };
    Ok(Quantity { nanos })
}

fn split(input: &str) -> Result<Parts<'_>, QuantityErrorKind> {
    if input.is_empty() {
        return Err(QuantityErrorKind::Empty);
    }
    let (negative, rest) = match input.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, input.strip_prefix('+').unwrap_or(input)),
    };
    let (integer, rest) = split_digits(rest);
    let (fraction, suffix) = match rest.strip_prefix('.') {
        Some(rest) => split_digits(rest),
        None => ("", rest),
    };
    if integer.is_empty() && fraction.is_empty() {
        return Err(QuantityErrorKind::NoDigits);
    }
    Ok(Parts {
        negative,
        integer,
        fraction,
        suffix,
    })
}

/// Splits off the leading run of ASCII digits (always a char boundary).
fn split_digits(s: &str) -> (&str, &str) {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    s.split_at(len)
}

fn parse_suffix(suffix: &str) -> Result<Scale, QuantityErrorKind> {
    let decimal = DECIMAL_SUFFIXES
        .iter()
        .find(|(name, _)| *name == suffix)
        .map(|&(_, nano_power)| Scale::PowerOfTen(nano_power as i32 - 9));
    let binary = BINARY_SUFFIXES
        .iter()
        .find(|(name, _)| *name == suffix)
        .map(|&(_, power)| Scale::PowerOfTwo(power));
    match decimal.or(binary) {
        Some(scale) => Ok(scale),
        None => parse_exponent(suffix),
    }
}

/// `e3`, `E-2`, `e+6`: apimachinery's `DecimalExponent` form.
fn parse_exponent(suffix: &str) -> Result<Scale, QuantityErrorKind> {
    let bad = || QuantityErrorKind::BadSuffix(clip(suffix));
    let exponent = suffix.strip_prefix(['e', 'E']).ok_or_else(bad)?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // The syntax is valid, so the only possible failure is overflow.
    exponent
        .parse()
        .map(Scale::PowerOfTen)
        .map_err(|_| QuantityErrorKind::ExponentOutOfRange)
}

/// `integer.fraction × scale` in nano-units, rounded up to a whole nano-unit.
fn magnitude_nanos(integer: &str, fraction: &str, scale: Scale) -> Result<i128, QuantityErrorKind> {
    let mut digits: Vec<u8> = integer
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    let power_of_ten = match scale {
        Scale::PowerOfTen(power) => power,
        Scale::PowerOfTwo(power) => {
            digits = times_power_of_two(&digits, power);
            0
        }
    };
    // The digits, read as an integer, are scaled by 10^shift to reach nano-units.
    let fraction_len = i64::try_from(fraction.len()).unwrap_or(i64::MAX);
    let shift = i64::from(power_of_ten)
        .saturating_sub(fraction_len)
        .saturating_add(9);
    scale_rounding_up(&digits, shift).ok_or(QuantityErrorKind::Overflow)
}

/// Multiplies a decimal digit string by `2^power` (at most `2^60`), exactly.
fn times_power_of_two(digits: &[u8], power: u32) -> Vec<u8> {
    let factor = 1u128 << power;
    let mut reversed = Vec::with_capacity(digits.len() + 19);
    let mut carry = 0u128;
    for &digit in digits.iter().rev() {
        carry += u128::from(digit) * factor;
        reversed.push((carry % 10) as u8);
        carry /= 10;
    }
    while carry > 0 {
        reversed.push((carry % 10) as u8);
        carry /= 10;
    }
    reversed.reverse();
    reversed
}

/// `digits × 10^shift`, with any fraction rounded up; `None` past `i128::MAX`.
fn scale_rounding_up(digits: &[u8], shift: i64) -> Option<i128> {
    let Some(first) = digits.iter().position(|&d| d != 0) else {
        return Some(0);
    };
    let digits = &digits[first..];
    let integer_len = i64::try_from(digits.len()).ok()?.saturating_add(shift);
    if integer_len > MAX_I128_DIGITS {
        return None;
    }
    let (integer, fraction) = if shift >= 0 {
        (digits, &[][..])
    } else {
        digits.split_at(usize::try_from(integer_len.max(0)).ok()?)
    };
    let mut value = 0i128;
    for &digit in integer {
        value = value.checked_mul(10)?.checked_add(i128::from(digit))?;
    }
    for _ in 0..shift.max(0) {
        value = value.checked_mul(10)?;
    }
    let round_up = fraction.iter().any(|&d| d != 0);
    value.checked_add(i128::from(round_up))
}

fn div_away_from_zero(n: i128, d: i128) -> i128 {
    let quotient = n / d;
    if n % d == 0 {
        quotient
    } else {
        quotient + n.signum()
    }
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

fn sign(nanos: i128) -> &'static str {
    if nanos < 0 { "-" } else { "" }
}

/// The largest decimal SI suffix that leaves an integer mantissa.
fn decimal_form(nanos: i128) -> String {
    let magnitude = nanos.unsigned_abs();
    if magnitude == 0 {
        return "0".to_owned();
    }
    let (suffix, unit) = DECIMAL_SUFFIXES
        .iter()
        .map(|&(suffix, power)| (suffix, 10u128.pow(power)))
        .find(|&(_, unit)| magnitude.is_multiple_of(unit))
        .unwrap_or(("n", 1));
    format!("{}{}{suffix}", sign(nanos), magnitude / unit)
}

/// The largest binary SI suffix that leaves an integer mantissa, if any.
fn binary_form(nanos: i128) -> Option<String> {
    let magnitude = nanos.unsigned_abs();
    if magnitude == 0 || !magnitude.is_multiple_of(UNSIGNED_NANOS_PER_UNIT) {
        return None;
    }
    let units = magnitude / UNSIGNED_NANOS_PER_UNIT;
    BINARY_SUFFIXES
        .iter()
        .find(|&&(_, power)| units.is_multiple_of(1 << power))
        .map(|&(suffix, power)| format!("{}{}{suffix}", sign(nanos), units >> power))
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn nanos(s: &str) -> i128 {
        q(s).as_nanos()
    }

    fn kind(s: &str) -> QuantityErrorKind {
        match s.parse::<Quantity>() {
            Ok(v) => panic!("{s:?} should be rejected, parsed as {v}"),
            Err(e) => e.kind().clone(),
        }
    }

    const GI: i128 = 1 << 30;
    const UNIT: i128 = NANOS_PER_UNIT;

    #[test]
    fn parses_every_suffix_form() {
        let cases: &[(&str, i128)] = &[
            ("250m", 250_000_000),
            ("1.5", 1_500_000_000),
            ("2Gi", 2 * GI * UNIT),
            ("1e3", 1000 * UNIT),
            ("100Ki", 102_400 * UNIT),
            ("0.1", 100_000_000),
            ("+1", UNIT),
            ("-2", -2 * UNIT),
            ("5e-3", 5_000_000),
            ("12E", 12 * 10i128.pow(18) * UNIT),
            ("1E-2", 10_000_000),
            ("1.5E6", 1_500_000 * UNIT),
            ("1e+3", 1000 * UNIT),
            ("0", 0),
            ("-0", 0),
            ("007", 7 * UNIT),
            ("1.", UNIT),
            (".5", 500_000_000),
            ("-.5m", -500_000),
            ("3n", 3),
            ("7u", 7000),
            ("2k", 2000 * UNIT),
            ("1M", 10i128.pow(6) * UNIT),
            ("1G", 10i128.pow(9) * UNIT),
            ("1T", 10i128.pow(12) * UNIT),
            ("1P", 10i128.pow(15) * UNIT),
            ("1Mi", (1 << 20) * UNIT),
            ("1Ti", (1 << 40) * UNIT),
            ("1Pi", (1 << 50) * UNIT),
            ("1Ei", (1 << 60) * UNIT),
            ("1.5Gi", 1_610_612_736 * UNIT),
            ("0.5Ki", 512 * UNIT),
            ("1e0003", 1000 * UNIT),
        ];
        for &(input, expected) in cases {
            assert_eq!(nanos(input), expected, "{input}");
        }
    }

    #[test]
    fn rounds_sub_nano_values_up_away_from_zero_like_apimachinery() {
        assert_eq!(nanos("1.5n"), 2);
        assert_eq!(nanos("0.1n"), 1);
        assert_eq!(nanos("1.0n"), 1);
        assert_eq!(nanos("-1.5n"), -2);
        assert_eq!(nanos("1e-100"), 1);
        assert_eq!(nanos("1e-2147483648"), 1);
        assert_eq!(nanos("0e-2147483648"), 0);
        // 1e-10 Ki = 102.4n
        assert_eq!(nanos("0.0000000001Ki"), 103);
        assert_eq!(
            nanos("1.0000000000000000000000000000000000000000001"),
            UNIT + 1
        );
    }

    #[test]
    fn rejects_malformed_input_precisely() {
        use QuantityErrorKind::*;
        assert_eq!(kind(""), Empty);
        for s in ["Gi", ".", "-", "+", "--1", "+-1", "m", "e3", " 1", "１"] {
            assert_eq!(kind(s), NoDigits, "{s:?}");
        }
        for (s, suffix) in [
            ("1.2.3", ".3"),
            ("1GB", "GB"),
            ("1 Gi", " Gi"),
            ("1K", "K"),
            ("1ki", "ki"),
            ("1i", "i"),
            ("0.1mi", "mi"),
            ("1e", "e"),
            ("1E+", "E+"),
            ("-3.01e-", "e-"),
            ("1e3.5", "e3.5"),
            ("1Ee3", "Ee3"),
            ("1e+-3", "e+-3"),
            ("1 ", " "),
            ("1µ", "µ"),
            ("0x10", "x10"),
        ] {
            assert_eq!(kind(s), BadSuffix(suffix.to_owned()), "{s:?}");
        }
        assert_eq!(kind("1e2147483648"), ExponentOutOfRange);
        assert_eq!(kind("1e99999999999999999999"), ExponentOutOfRange);
        assert_eq!(kind("1e2147483647"), Overflow);
        assert_eq!(kind("1e30"), Overflow);
        assert_eq!(kind(&format!("{}", i128::MAX)), Overflow);
    }

    #[test]
    fn error_message_names_input_and_problem() {
        let err = "1GB".parse::<Quantity>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "invalid quantity \"1GB\": unknown suffix \"GB\" (expected one of n u m k M G T P E \
                 Ki Mi Gi Ti Pi Ei, or an exponent such as e3)"
            )
        );
        let long = "9".repeat(1000) + "x";
        let err = long.parse::<Quantity>().err();
        assert!(err.is_some_and(|e| e.input().chars().count() == MAX_QUOTED_CHARS + 1));
    }

    #[test]
    fn range_edges_are_exact() {
        let max = Quantity { nanos: i128::MAX };
        assert_eq!(q(&max.to_string()), max);
        assert_eq!(q(&format!("{}n", i128::MAX)), max);
        assert_eq!(q(&format!("-{}n", i128::MAX)).as_nanos(), -i128::MAX);
        assert_eq!(
            kind(&format!("{}n", i128::MAX as u128 + 1)),
            QuantityErrorKind::Overflow
        );
        assert_eq!(max.saturating_add(max), max);
        assert_eq!(
            Quantity { nanos: -i128::MAX }
                .saturating_add(Quantity { nanos: -5 })
                .as_nanos(),
            -i128::MAX
        );
    }

    #[test]
    fn displays_canonically() {
        let cases = [
            ("250m", "250m"),
            ("1.5", "1500m"),
            ("1000m", "1"),
            ("2000", "2k"),
            ("2Gi", "2Gi"),
            ("2147483648", "2Gi"),
            ("1024", "1Ki"),
            ("1024000", "1024k"),
            ("1536Mi", "1536Mi"),
            ("1e9", "1G"),
            ("1e21", "1000E"),
            ("0.1n", "1n"),
            ("1.5u", "1500n"),
            ("-2Gi", "-2Gi"),
            ("-250m", "-250m"),
            ("0", "0"),
            ("-0", "0"),
            ("12E", "12E"),
        ];
        for (input, shown) in cases {
            assert_eq!(q(input).to_string(), shown, "{input}");
        }
        assert_eq!(format!("{:>6}", q("1Ki")), "   1Ki");
    }

    #[test]
    fn accessors_round_away_from_zero_and_saturate() {
        assert_eq!(q("1500m").value_ceil(), 2);
        assert_eq!(q("-1500m").value_ceil(), -2);
        assert_eq!(q("2Gi").value_ceil(), 2_147_483_648);
        assert_eq!(q("0.1m").milli_value_ceil(), 1);
        assert_eq!(q("1n").milli_value_ceil(), 1);
        assert_eq!(q("1.5").milli_value_ceil(), 1500);
        assert_eq!(q("12E").value_ceil(), i64::MAX);
        assert_eq!(q("-12E").milli_value_ceil(), i64::MIN);
        assert_eq!(q("250m").as_f64(), 0.25);
        assert_eq!(Quantity::from_milli(250), q("250m"));
        assert_eq!(Quantity::from_value(-3), q("-3"));
        assert_eq!(Quantity::from_value(i64::MIN).value_ceil(), i64::MIN);
        assert!(q("0m").is_zero());
    }

    #[test]
    fn converts_from_k8s_openapi() {
        let ok = Quantity::try_from(&K8sQuantity("512Mi".to_owned()));
        assert_eq!(ok, Ok(Quantity::from_value(512 << 20)));
        assert!(Quantity::try_from(&K8sQuantity("lots".to_owned())).is_err());
    }

    #[test]
    fn serde_uses_the_string_form_and_accepts_numbers() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::to_string(&q("2Gi"))?, "\"2Gi\"");
        assert_eq!(serde_json::from_str::<Quantity>("\"250m\"")?, q("250m"));
        assert_eq!(serde_json::from_str::<Quantity>("2")?, q("2"));
        assert_eq!(serde_json::from_str::<Quantity>("-2")?, q("-2"));
        assert_eq!(serde_json::from_str::<Quantity>("0.1")?, q("100m"));
        assert_eq!(serde_json::from_str::<Quantity>("1e3")?, q("1k"));
        assert!(serde_json::from_str::<Quantity>("\"1GB\"").is_err());
        assert!(serde_json::from_str::<Quantity>("true").is_err());
        Ok(())
    }

    /// Values with many trailing zeros, so every suffix (and binary forms) is exercised.
    fn interesting_nanos() -> impl Strategy<Value = i128> {
        prop_oneof![
            (-i128::MAX..=i128::MAX),
            (any::<i64>(), 0u32..=19).prop_map(|(m, p)| i128::from(m) * 10i128.pow(p)),
            (any::<i32>(), 0u32..=27).prop_map(|(m, p)| i128::from(m) * 10i128.pow(p)),
            (any::<i32>(), 0u32..=60).prop_map(|(m, p)| i128::from(m) * (1i128 << p) * UNIT),
        ]
    }

    proptest! {
        #[test]
        fn display_round_trips(nanos in interesting_nanos()) {
            let value = Quantity { nanos };
            let shown = value.to_string();
            prop_assert_eq!(shown.parse::<Quantity>(), Ok(value), "{}", shown);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = s.parse::<Quantity>();
        }

        #[test]
        fn quantity_like_strings_never_panic_and_reparse(
            s in "[+-]?[0-9]{0,45}\\.?[0-9]{0,45}[eEinumkKMGTP]{0,3}[+-]?[0-9]{0,12}"
        ) {
            if let Ok(value) = s.parse::<Quantity>() {
                prop_assert_eq!(value.to_string().parse::<Quantity>(), Ok(value));
            }
        }

        #[test]
        fn ceil_accessors_match_independent_arithmetic(
            units in 0i64..=1_000_000_000_000,
            nano_fraction in 0i64..1_000_000_000,
            negative in any::<bool>(),
        ) {
            let sign = if negative { "-" } else { "" };
            let value = q(&format!("{sign}{units}.{nano_fraction:09}"));
            let away = |n: i64| if negative { -n } else { n };
            let whole = units + i64::from(nano_fraction > 0);
            let millis = units * 1000 + (nano_fraction + 999_999) / 1_000_000;
            prop_assert_eq!(value.value_ceil(), away(whole));
            prop_assert_eq!(value.milli_value_ceil(), away(millis));
        }

        #[test]
        fn binary_and_decimal_spellings_agree(mantissa in 0i64..1_000_000, power in 0u32..=6) {
            let binary = q(&format!("{mantissa}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power as usize]));
            let bytes = i128::from(mantissa) << (10 * power);
            prop_assert_eq!(binary.as_nanos(), bytes * UNIT);
            prop_assert_eq!(q(&format!("{bytes}")), binary);
        }
    }
}
