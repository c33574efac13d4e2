//! Properties of the scorer that must hold for every input.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use tidal_core::estimate::Estimate;
use tidal_core::load::{Capacity, NodeLoad, Usage};
use tidal_core::scoring::{
    Limits, MAX_SCORE, MissingMetrics, NodeView, Scorer, Thresholds, Weights,
};

fn scorer(on_missing: MissingMetrics) -> Scorer {
    Scorer {
        thresholds: Thresholds::default(),
        weights: Weights::default(),
        max_age: Duration::from_secs(60),
        on_missing,
    }
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..1e12,
        1 => prop::num::f64::ANY,
    ]
}

prop_compose! {
    fn any_load()(cpu_avg in any_f64(), cpu_peak in any_f64(), mem_avg in any_f64(), mem_peak in any_f64(),
                  cores in any_f64(), bytes in any_f64(), age in 0u64..600) -> (NodeLoad, u64) {
        (NodeLoad {
            cpu_cores: Usage { average: cpu_avg, peak: cpu_peak },
            memory_bytes: Usage { average: mem_avg, peak: mem_peak },
            capacity: Some(Capacity { cpu_cores: cores, memory_bytes: bytes }),
            sampled_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        }, age)
    }
}

proptest! {
    #[test]
    fn scores_are_always_within_0_to_10(
        (load, age) in any_load(),
        pending in (any_f64(), any_f64()),
        incoming in (any_f64(), any_f64()),
        fail_closed in any::<bool>(),
    ) {
        let policy = if fail_closed { MissingMetrics::FailClosed } else { MissingMetrics::FailOpen };
        let now = load.sampled_at + Duration::from_secs(age);
        let view = NodeView {
            load: Some(&load),
            allocatable: None,
            pending: Estimate { cpu_cores: pending.0, memory_bytes: pending.1 },
        };
        let verdict = scorer(policy).evaluate(now, view, Estimate { cpu_cores: incoming.0, memory_bytes: incoming.1 });
        prop_assert!(verdict.score <= MAX_SCORE);
        prop_assert!((0.0..=1.0).contains(&verdict.headroom));
    }

    #[test]
    fn with_fresh_metrics_a_node_over_threshold_never_passes(
        cores in 1.0f64..256.0,
        gib in 1.0f64..2048.0,
        cpu in 0.0f64..1.5,
        cpu_peak_extra in 0.0f64..0.5,
        mem in 0.0f64..1.5,
        mem_peak_extra in 0.0f64..0.5,
        pending_cores in 0.0f64..8.0,
        age in 0u64..60,
    ) {
        let bytes = gib * 1024.0 * 1024.0 * 1024.0;
        let load = NodeLoad {
            cpu_cores: Usage { average: cpu * cores, peak: (cpu + cpu_peak_extra) * cores },
            memory_bytes: Usage { average: mem * bytes, peak: (mem + mem_peak_extra) * bytes },
            capacity: None,
            sampled_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        };
        let now = load.sampled_at + Duration::from_secs(age);
        let pending = Estimate { cpu_cores: pending_cores, memory_bytes: 0.0 };
        let view = NodeView {
            load: Some(&load),
            allocatable: Some(Capacity { cpu_cores: cores, memory_bytes: bytes }),
            pending,
        };
        let s = scorer(MissingMetrics::FailOpen);
        let verdict = s.evaluate(now, view, Estimate::default());
        let t: Thresholds = s.thresholds;
        let over = |v: f64, l: Limits, peak: f64| v > l.average || peak > l.peak;
        let cpu_frac = (load.cpu_cores.average + pending_cores) / cores;
        let cpu_peak = (load.cpu_cores.peak + pending_cores) / cores;
        let breaches = over(cpu_frac, t.cpu, cpu_peak) || over(mem, t.memory, mem + mem_peak_extra);
        prop_assert_eq!(verdict.fits, !breaches, "{:?}", verdict);
        if breaches {
            prop_assert!(verdict.reason.is_some());
        }
    }
}

#[test]
fn stale_load_follows_the_missing_metrics_policy() {
    let load = NodeLoad {
        cpu_cores: Usage {
            average: 100.0,
            peak: 100.0,
        },
        memory_bytes: Usage {
            average: 1.0,
            peak: 1.0,
        },
        capacity: Some(Capacity {
            cpu_cores: 4.0,
            memory_bytes: 1e9,
        }),
        sampled_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    };
    let now = load.sampled_at + Duration::from_secs(61);
    let view = NodeView {
        load: Some(&load),
        allocatable: None,
        pending: Estimate::default(),
    };
    let open = scorer(MissingMetrics::FailOpen).evaluate(now, view, Estimate::default());
    assert!(open.fits);
    assert_eq!(open.score, tidal_core::scoring::NEUTRAL_SCORE);
    let reason = open.reason.map(|r| r.to_string()).unwrap_or_default();
    assert_eq!(
        reason,
        "load is stale: sampled 61s ago, max_age is 60s (fail-open)"
    );
    let closed = scorer(MissingMetrics::FailClosed).evaluate(now, view, Estimate::default());
    assert!(!closed.fits);
    let reason = closed.reason.map(|r| r.to_string()).unwrap_or_default();
    assert!(reason.ends_with("(fail-closed)"), "{reason}");
}

#[test]
fn a_cooler_node_scores_higher() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let load = |busy: f64| NodeLoad {
        cpu_cores: Usage {
            average: busy * 4.0,
            peak: busy * 4.0,
        },
        memory_bytes: Usage {
            average: 2e9,
            peak: 2e9,
        },
        capacity: Some(Capacity {
            cpu_cores: 4.0,
            memory_bytes: 8e9,
        }),
        sampled_at: at,
    };
    let s = scorer(MissingMetrics::FailOpen);
    let score = |l: &NodeLoad| {
        s.evaluate(
            at,
            NodeView {
                load: Some(l),
                allocatable: None,
                pending: Estimate::default(),
            },
            Estimate::default(),
        )
    };
    let (cold, warm) = (load(0.1), load(0.5));
    assert!(score(&cold).score > score(&warm).score);
    assert_eq!(
        score(&cold).score,
        8,
        "cpu 10% and memory 25% give 0.825 headroom"
    );
}

#[test]
fn an_overloaded_node_says_which_thresholds_and_estimates() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let load = NodeLoad {
        cpu_cores: Usage {
            average: 2.0,
            peak: 2.4,
        },
        memory_bytes: Usage {
            average: 1e9,
            peak: 1e9,
        },
        capacity: Some(Capacity {
            cpu_cores: 4.0,
            memory_bytes: 8e9,
        }),
        sampled_at: at,
    };
    let view = NodeView {
        load: Some(&load),
        allocatable: None,
        pending: Estimate::default(),
    };
    let incoming = Estimate {
        cpu_cores: 0.85,
        memory_bytes: 700.0 * 1024.0 * 1024.0,
    };
    let verdict = scorer(MissingMetrics::FailOpen).evaluate(at, view, incoming);
    assert!(!verdict.fits);
    let reason = verdict.reason.map(|r| r.to_string()).unwrap_or_default();
    assert_eq!(
        reason,
        "cpu average 71% > 65%, cpu peak 81% > 80% (incl. 850m cpu, 700Mi est. for new pods)"
    );
}
