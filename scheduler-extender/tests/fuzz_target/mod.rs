//! The extender as a fuzz target: mutated real kube-scheduler request bodies (both
//! `nodeCacheCapable` modes) through the `filter` and `prioritize` handlers in-process, each
//! answer checked for its shape. Shared by `tests/fuzz.rs` (a short run in CI) and the root
//! example `fuzz_extender` (millions of requests).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tidal_scheduler_extender::http::{filter_call, prioritize_call};
use tidal_scheduler_extender::{Extender, ExtenderConfig};
use tidal_testkit::fuzz::Mutator;
use tidal_testkit::snapshot::{NodeFigures, snapshot};

const SEEDS: [&str; 2] = [
    include_str!("../fixtures/extender-filter-args-nodecache-true.json"),
    include_str!("../fixtures/extender-filter-args-nodecache-false.json"),
];

/// kube-scheduler's `MaxExtenderPriority`.
const MAX_SCORE: i64 = 10;

pub struct Target {
    ext: Arc<Extender>,
    seeds: Vec<Value>,
}

/// What a run saw; `malformed` keeps the first few answers that broke the wire format.
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: u64,
    pub answered: u64,
    pub rejected: u64,
    pub panics: u64,
    pub malformed: Vec<String>,
}

impl Tally {
    #[allow(
        dead_code,
        reason = "used by the fuzz_extender example, not by tests/fuzz.rs"
    )]
    pub fn add(&mut self, other: Tally) {
        self.requests += other.requests;
        self.answered += other.answered;
        self.rejected += other.rejected;
        self.panics += other.panics;
        self.malformed.extend(other.malformed);
        self.malformed.truncate(10);
    }

    pub fn clean(&self) -> bool {
        self.panics == 0 && self.malformed.is_empty()
    }
}

impl Target {
    /// An extender with a load for the fixtures' three nodes (one hot), so requests reach the
    /// scoring and filtering behind the parser.
    pub fn new() -> anyhow::Result<Self> {
        let ext = Extender::new(&ExtenderConfig::default(), Duration::from_secs(3600))
            .map_err(anyhow::Error::msg)?;
        let figures = [
            NodeFigures::new("node-1", 3.8),
            NodeFigures::new("node-2", 1.0),
            NodeFigures::new("node-3", 0.2),
        ];
        ext.install_load(snapshot(&figures), SystemTime::now());
        let seeds = SEEDS
            .iter()
            .map(|s| serde_json::from_str(s))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            ext: Arc::new(ext),
            seeds,
        })
    }

    /// `requests` mutated bodies from `seed`, each sent to both verbs.
    pub fn run(&self, seed: u64, requests: u64) -> Tally {
        let mut mutator = Mutator::new(seed);
        let mut tally = Tally::default();
        for i in 0..requests {
            let body = mutator.json(&self.seeds[(i % 2) as usize]);
            let body = axum::body::Bytes::from(body);
            tally.requests += 1;
            self.verb("filter", &body, &mut tally, filter_call);
            self.verb("prioritize", &body, &mut tally, prioritize_call);
        }
        tally
    }

    /// The `filter` answer to `body`; `Err` when it was refused.
    #[allow(
        dead_code,
        reason = "used by tests/fuzz.rs, not by the fuzz_extender example"
    )]
    pub fn filter(&self, body: &[u8]) -> anyhow::Result<Vec<u8>> {
        filter_call(&self.ext, &axum::body::Bytes::copy_from_slice(body))
            .map_err(|e| anyhow::anyhow!("refused: {e}"))
    }

    fn verb<E: std::fmt::Display>(
        &self,
        verb: &str,
        body: &axum::body::Bytes,
        tally: &mut Tally,
        call: impl Fn(&Extender, &axum::body::Bytes) -> Result<Vec<u8>, E>,
    ) {
        let ext = &self.ext;
        match catch_unwind(AssertUnwindSafe(|| call(ext, body))) {
            Err(_) => tally.panics += 1,
            Ok(Err(e)) => {
                tally.rejected += 1;
                if e.to_string().is_empty() && tally.malformed.len() < 10 {
                    tally
                        .malformed
                        .push(format!("{verb}: an empty error message"));
                }
            }
            Ok(Ok(answer)) => {
                tally.answered += 1;
                if let Err(why) = check(verb, body, &answer)
                    && tally.malformed.len() < 10
                {
                    tally.malformed.push(format!(
                        "{verb}: {why}: {}",
                        String::from_utf8_lossy(&answer[..answer.len().min(300)])
                    ));
                }
            }
        }
    }
}

/// `answer` is well formed for `verb`, or only refused by serde_json for what it echoes of
/// `request`.
pub fn check(verb: &str, request: &[u8], answer: &[u8]) -> Result<(), String> {
    well_formed(verb, answer).or_else(|why| {
        if echoes_the_request(request, &why) {
            Ok(())
        } else {
            Err(why)
        }
    })
}

/// What serde_json refuses that Go's decoder reads: nesting deeper than serde_json's limit of
/// 128 (Go allows 10,000) and numbers beyond `f64`.
const UNREADABLE: [&str; 2] = ["recursion limit", "number out of range"];

/// Full `Nodes` answers carry the passing Node objects exactly as kube-scheduler sent them, so
/// what serde_json refuses in them comes back as it came and is no fault of the answer. The
/// request may be refused for the other kind first: a number out of range in the pod comes
/// before a deep node, which the answer echoes while leaving the pod out.
fn echoes_the_request(request: &[u8], why: &str) -> bool {
    let unreadable = |error: &str| UNREADABLE.iter().any(|kind| error.contains(kind));
    unreadable(why)
        && serde_json::from_slice::<Value>(request).is_err_and(|e| unreadable(&e.to_string()))
}

/// The answer is what kube-scheduler decodes: `ExtenderFilterResult` for filter, a list of
/// `HostPriority` with scores in 0..=10 for prioritize.
fn well_formed(verb: &str, answer: &[u8]) -> Result<(), String> {
    let value: Value = serde_json::from_slice(answer).map_err(|e| format!("not JSON ({e})"))?;
    if verb == "filter" {
        let result = value.as_object().ok_or("not an object")?;
        let names = result
            .get("NodeNames")
            .is_some_and(|n| n.is_array() || n.is_null());
        let nodes = result
            .get("Nodes")
            .is_some_and(|n| n.is_object() || n.is_null());
        let failed = result.get("FailedNodes").is_some_and(Value::is_object);
        if !(names || nodes) || !failed {
            return Err("not an ExtenderFilterResult".into());
        }
        return Ok(());
    }
    for host in value.as_array().ok_or("not a list")? {
        let score = host["Score"].as_i64().ok_or("a host without a Score")?;
        if !host["Host"].is_string() || !(0..=MAX_SCORE).contains(&score) {
            return Err(format!("a bad HostPriority {host}"));
        }
    }
    Ok(())
}
