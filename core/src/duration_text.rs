//! Durations in config files as a person writes them: `14d`, `5m`, `1h30m`, `250ms`.
//!
//! Any form humantime reads is accepted (`2 weeks`, `90s`); what `tidal config` prints is
//! the shortest, in the units the documentation uses.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];

/// `14d`, `1h30m`, `45s`, `250ms`, `0s`.
pub fn format(duration: Duration) -> String {
    let mut seconds = duration.as_secs();
    let millis = duration.subsec_millis();
    let mut text = String::new();
    for (unit, size) in UNITS {
        if seconds >= size {
            text.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    if millis > 0 {
        text.push_str(&format!("{millis}ms"));
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}

pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*duration))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration ({e}); write one like 30s, 5m, 1h30m or 14d"
        ))
    })
}

/// The same for an optional duration.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(d) => serializer.serialize_some(&format(*d)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(deserialize_with = "super::deserialize")] Duration);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(d)| d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_what_a_person_would_type() {
        let cases = [
            (Duration::from_secs(14 * 86_400), "14d"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(5_400), "1h30m"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(0), "0s"),
            (Duration::from_secs(90_061), "1d1h1m1s"),
        ];
        for (duration, text) in cases {
            assert_eq!(format(duration), text);
            assert_eq!(
                humantime::parse_duration(text).ok(),
                Some(duration),
                "{text}"
            );
        }
    }
}
