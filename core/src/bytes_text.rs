//! Byte sizes in config files as Kubernetes writes them: `20Mi`, `1.5Gi`, `512M`, or a plain
//! number of bytes. What `tidal config` prints is the largest binary suffix that is exact.

use serde::{Deserialize, Deserializer, Serializer};

use crate::quantity::Quantity;

const SUFFIXES: [(&str, u32); 5] = [("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)];

/// `20Mi`, `1Gi`, `1536Ki`; bytes that no suffix divides stay a plain number.
pub fn format(bytes: f64) -> String {
    if bytes.fract() == 0.0 && bytes > 0.0 && bytes < 2f64.powi(63) {
        let whole = bytes as u64;
        for (suffix, shift) in SUFFIXES {
            if whole.trailing_zeros() >= shift {
                return format!("{}{suffix}", whole >> shift);
            }
        }
    }
    bytes.to_string()
}

pub fn serialize<S: Serializer>(bytes: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Number(f64),
        Quantity(String),
    }
    match Text::deserialize(deserializer)? {
        Text::Number(bytes) => Ok(bytes),
        Text::Quantity(text) => text.parse::<Quantity>().map(Quantity::as_f64).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a size ({e}); write one like 20Mi, 1.5Gi or 512M"
            ))
        }),
    }
}

/// The same for a whole number of bytes held as a `usize` (a buffer limit, say).
pub mod usize {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &usize, serializer: S) -> Result<S::Ok, S::Error> {
        super::serialize(&(*bytes as f64), serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
        let bytes = super::deserialize(deserializer)?;
        if bytes.fract() == 0.0 && (0.0..=usize::MAX as f64).contains(&bytes) {
            Ok(bytes as usize)
        } else {
            Err(serde::de::Error::custom(format!(
                "{bytes} is not a whole number of bytes; write one like 64Mi"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_what_a_person_would_type() {
        for (bytes, text) in [
            (20.0 * 1024.0 * 1024.0, "20Mi"),
            (1024.0 * 1024.0 * 1024.0, "1Gi"),
            (1536.0 * 1024.0, "1536Ki"),
            (1000.0, "1000"),
            (0.0, "0"),
        ] {
            assert_eq!(format(bytes), text);
            let parsed: Result<f64, String> = text
                .parse::<Quantity>()
                .map(Quantity::as_f64)
                .map_err(|e| e.to_string());
            assert_eq!(parsed, Ok(bytes), "{text}");
        }
    }
}
