//! Seeded, structure-aware mutations for fuzzing what Tidal reads from outside: request
//! bodies (JSON), config and trace files (YAML) and CSV. A mutation keeps most of a real
//! input, so it reaches deep into the parser and the decisions behind it, and breaks it in
//! the ways a hostile or broken peer would: fields dropped, retyped or duplicated, huge
//! arrays, deep nesting, absurd quantities, invalid UTF-8, truncation.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value};

/// Strings a Kubernetes quantity parser or a number parser must refuse or bound.
const ABSURD: [&str; 16] = [
    "1e308",
    "-1",
    "99999999999999999999999Ei",
    "NaN",
    "Infinity",
    "-0",
    "0.0000000001m",
    "1.5.5",
    "",
    "9223372036854775807",
    "18446744073709551616",
    "100000",
    "1E",
    "+.5Ki",
    "1e-308",
    "\u{0}",
];

/// Marks where [`Mutator::json`] puts deep nesting.
const NEST: &str = "__tidal_fuzz_nest__";
/// Deepest nesting one mutation builds (serde_json stops at 128 by itself).
const MAX_DEPTH: usize = 5_000;
/// Most copies one mutation makes of an array element (a Node is ~3 KB: ~6 MB).
const MAX_COPIES: usize = 2_000;

pub struct Mutator {
    rng: StdRng,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A mutated copy of the JSON document `seed`: one to three structural mutations, then
    /// one time in five some damage to the bytes.
    pub fn json(&mut self, seed: &Value) -> Vec<u8> {
        let mut doc = seed.clone();
        for _ in 0..self.rng.random_range(1..=3) {
            self.mutate_value(&mut doc);
        }
        let mut text = doc.to_string();
        let nest = format!("\"{NEST}\"");
        if text.contains(&nest) {
            let depth = self.rng.random_range(100..MAX_DEPTH);
            let deep = format!("{}1{}", "[{\"x\":".repeat(depth), "}]".repeat(depth));
            text = text.replace(&nest, &deep);
        }
        if self.rng.random_range(0..4) == 0 {
            self.duplicate_member(&mut text);
        }
        let mut bytes = text.into_bytes();
        if self.rng.random_range(0..5) == 0 {
            self.damage(&mut bytes);
        }
        bytes
    }

    /// A mutated copy of a text input (YAML, CSV): lines dropped, repeated or swapped,
    /// numbers made absurd, then sometimes damaged bytes.
    pub fn text(&mut self, seed: &str) -> Vec<u8> {
        let mut lines: Vec<String> = seed.lines().map(str::to_string).collect();
        for _ in 0..self.rng.random_range(1..=3) {
            if lines.is_empty() {
                lines.push(String::new());
            }
            let i = self.rng.random_range(0..lines.len());
            match self.rng.random_range(0..5) {
                0 => {
                    lines.remove(i);
                }
                1 => {
                    let copies = self.rng.random_range(1..=100);
                    let line = lines[i].clone();
                    lines.splice(i..i, std::iter::repeat_n(line, copies));
                }
                2 => {
                    let j = self.rng.random_range(0..lines.len());
                    lines.swap(i, j);
                }
                3 => lines[i] = self.absurd_numbers(&lines[i]),
                _ => {
                    let cut = self.rng.random_range(0..=lines[i].len());
                    let cut = (0..=cut)
                        .rev()
                        .find(|c| lines[i].is_char_boundary(*c))
                        .unwrap_or(0);
                    lines[i].truncate(cut);
                }
            }
        }
        let mut bytes = lines.join("\n").into_bytes();
        if self.rng.random_range(0..5) == 0 {
            self.damage(&mut bytes);
        }
        bytes
    }

    fn mutate_value(&mut self, doc: &mut Value) {
        let paths = paths(doc);
        let path = &paths[self.rng.random_range(0..paths.len())];
        let op = self.rng.random_range(0..6);
        if op == 0 {
            return remove(doc, path);
        }
        let Some(target) = doc.pointer_mut(path) else {
            return;
        };
        match op {
            1 => *target = self.scalar(),
            2 => {
                let first = match &*target {
                    Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
                    other => other.clone(),
                };
                let copies = if self.rng.random_range(0..200) == 0 {
                    MAX_COPIES
                } else {
                    self.rng.random_range(2..50)
                };
                *target = Value::Array(vec![first; copies]);
            }
            // Deep nesting goes in as text (see `json`): a deep `Value` would overflow the
            // stack when dropped or printed.
            3 => *target = Value::String(NEST.to_string()),
            4 => {
                let text = ABSURD[self.rng.random_range(0..ABSURD.len())];
                *target = Value::String(text.to_string());
            }
            _ => {
                // Many node names: what a cluster of thousands, or a fuzzer, sends.
                let names = (0..self.rng.random_range(1..2_000))
                    .map(|i| Value::String(format!("node-{i}-{}", self.rng.random::<u32>())))
                    .collect();
                *target = Value::Array(names);
            }
        }
    }

    /// A value of another type than what was there, often absurd.
    fn scalar(&mut self) -> Value {
        match self.rng.random_range(0..8) {
            0 => Value::Null,
            1 => Value::Bool(self.rng.random()),
            2 => Value::from(-1),
            3 => Value::from(f64::MAX),
            4 => Value::from(u64::MAX),
            5 => Value::String("x".repeat(self.rng.random_range(0..10_000))),
            6 => Value::Array(Vec::new()),
            _ => Value::Object(Map::new()),
        }
    }

    /// Inserts a member right after a random `{`, often a key the object already has.
    fn duplicate_member(&mut self, text: &mut String) {
        let opens: Vec<usize> = text.match_indices('{').map(|(i, _)| i).collect();
        if opens.is_empty() {
            return;
        }
        let at = opens[self.rng.random_range(0..opens.len())] + 1;
        let key = [
            "Pod",
            "Nodes",
            "NodeNames",
            "metadata",
            "spec",
            "name",
            "uid",
            "resources",
        ][self.rng.random_range(0..8)];
        let value = self.scalar().to_string();
        text.insert_str(at, &format!("\"{key}\":{value},"));
    }

    /// Numbers in `line` replaced by absurd ones.
    fn absurd_numbers(&mut self, line: &str) -> String {
        let absurd = ABSURD[self.rng.random_range(0..ABSURD.len())];
        let mut out = String::with_capacity(line.len());
        let mut in_number = false;
        for c in line.chars() {
            if c.is_ascii_digit() {
                if !in_number {
                    out.push_str(absurd);
                }
                in_number = true;
            } else {
                in_number = false;
                out.push(c);
            }
        }
        out
    }

    /// Invalid UTF-8, a cut, or flipped bytes.
    fn damage(&mut self, bytes: &mut Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let at = self.rng.random_range(0..bytes.len());
        match self.rng.random_range(0..3) {
            0 => {
                bytes.splice(at..at, [0xff, 0xfe, 0xc3]);
            }
            1 => bytes.truncate(at),
            _ => {
                for _ in 0..self.rng.random_range(1..8) {
                    let i = self.rng.random_range(0..bytes.len());
                    bytes[i] ^= 1 << self.rng.random_range(0..8);
                }
            }
        }
    }
}

/// JSON pointers to every value of `doc`, the root included.
fn paths(doc: &Value) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut stack = vec![(String::new(), doc)];
    while let Some((path, value)) = stack.pop() {
        let children: Box<dyn Iterator<Item = (String, &Value)>> = match value {
            Value::Object(map) => Box::new(map.iter().map(|(k, v)| (escape(k), v))),
            Value::Array(items) => {
                Box::new(items.iter().enumerate().map(|(i, v)| (i.to_string(), v)))
            }
            _ => Box::new(std::iter::empty()),
        };
        for (key, child) in children {
            let child_path = format!("{path}/{key}");
            out.push(child_path.clone());
            stack.push((child_path, child));
        }
    }
    out
}

/// A key as a JSON pointer token (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Removes the member or element at `path` (the root cannot be removed: it becomes null).
fn remove(doc: &mut Value, path: &str) {
    let Some((parent, last)) = path.rsplit_once('/') else {
        *doc = Value::Null;
        return;
    };
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last.replace("~1", "/").replace("~0", "~"));
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_mutates_the_same_way_and_differently_each_time() {
        let doc =
            serde_json::json!({"Pod": {"metadata": {"name": "web"}}, "NodeNames": ["a", "b"]});
        let run = |seed| {
            let mut m = Mutator::new(seed);
            (0..50).map(|_| m.json(&doc)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let outputs = run(7);
        let distinct: std::collections::HashSet<_> = outputs.iter().collect();
        assert!(distinct.len() > 40, "{} distinct of 50", distinct.len());
        assert!(
            outputs
                .iter()
                .any(|o| serde_json::from_slice::<Value>(o).is_err())
        );
        assert!(
            outputs
                .iter()
                .any(|o| serde_json::from_slice::<Value>(o).is_ok())
        );
    }

    #[test]
    fn every_path_points_into_the_document() {
        let doc = serde_json::json!({"a/b": [1, {"~": 2}], "c": null});
        for path in paths(&doc) {
            assert!(doc.pointer(&path).is_some(), "{path}");
        }
        let mut removed = doc.clone();
        remove(&mut removed, "/a~1b/1/~0");
        assert_eq!(removed, serde_json::json!({"a/b": [1, {}], "c": null}));
        remove(&mut removed, "");
        assert_eq!(removed, Value::Null);
    }
}
