//! How much memory a descheduler run's snapshot takes at 5,000 nodes / 150,000 pods.
//!
//! The objects are realistic API server answers (`tidal_testkit::realistic`: managed fields,
//! probes, the service-account volume, container statuses, node images, Deployments'
//! last-applied annotations), generated one list page of 500 at a time and decoded from JSON text the
//! way `kube` decodes a list response and reduced as `list_objects` reduces each page, then
//! joined by `assemble`. Reports the live heap (a counting allocator, so memory the allocator
//! keeps after a free is not counted) and the process's RSS. Figures in BENCHMARKS.md.
//!
//! `cargo run --release -p tidal-descheduler --example snapshot_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use kube::core::ObjectList;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tidal_core::usage::{PodUsage, SustainedLoad};
use tidal_descheduler::slim::stripped;
use tidal_descheduler::snapshot::{Figures, KubeObjects, assemble, listed_pod};
use tidal_testkit::realistic::{REPLICAS, app, budget, deployment, hex, node, pod, replica_set};

const NODES: usize = 5_000;
const PODS_PER_NODE: usize = 30;
const PAGE: usize = 500;
const MIB: f64 = 1024.0 * 1024.0;

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `VmRSS` and `VmHWM` (peak) from `/proc/self/status`, in MiB; 0 where unreadable.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn report(stage: &str) {
    let (rss, peak_rss) = rss();
    let mib = |bytes: &AtomicUsize| bytes.load(Ordering::Relaxed) as f64 / MIB;
    let (heap, peak_heap) = (mib(&LIVE), mib(&PEAK));
    println!(
        "{stage:<30} heap {heap:>6.0} MiB (peak {peak_heap:>6.0})   RSS {rss:>6.0} MiB (peak {peak_rss:>6.0})"
    );
}

/// Decodes `count` objects, one list page of JSON text at a time, each passed through `keep`
/// as the list calls do.
fn list<K: DeserializeOwned + Clone, T>(
    count: usize,
    item: impl Fn(usize) -> Value,
    keep: fn(K) -> Option<T>,
) -> Vec<T> {
    let mut all = Vec::new();
    for start in (0..count).step_by(PAGE) {
        let items: Vec<Value> = (start..count.min(start + PAGE)).map(&item).collect();
        let text = json!({"apiVersion": "v1", "kind": "List",
            "metadata": {"resourceVersion": "1000000"}, "items": items})
        .to_string();
        drop(items);
        match serde_json::from_str::<ObjectList<K>>(&text) {
            Ok(page) => all.extend(page.items.into_iter().filter_map(keep)),
            Err(e) => panic!("generated page does not decode: {e}"),
        }
    }
    all.shrink_to_fit();
    all
}

/// Sustained load for every node and usage for every pod, as Prometheus would give them.
fn figures(now: SystemTime) -> Figures {
    let sustained = (0..NODES)
        .map(|n| {
            let load = SustainedLoad {
                cpu_cores: 8.0,
                memory_bytes: 3e10,
                sampled_at: now,
            };
            (format!("10.0.{}.{}", n / 250, n % 250), load)
        })
        .collect();
    let pod_usage: HashMap<(String, String), PodUsage> = (0..NODES * PODS_PER_NODE)
        .map(|i| {
            let (namespace, app_name, hash) = app(i / REPLICAS);
            let usage = PodUsage {
                cpu_cores: 0.2,
                memory_bytes: 4e8,
            };
            (
                (namespace, format!("{app_name}-{hash}-{}", &hex(i, 5))),
                usage,
            )
        })
        .collect();
    Figures {
        sustained,
        pod_usage,
        ..Figures::default()
    }
}

fn main() {
    let now = SystemTime::now();
    let workloads = NODES * PODS_PER_NODE / REPLICAS;
    let figures = figures(now);
    report("Prometheus figures");
    // Each kind reduced as `list_objects` reduces it.
    let nodes = list(NODES, node, Some);
    report("+ nodes listed");
    let pods = list(NODES * PODS_PER_NODE, |i| pod(i, NODES), listed_pod);
    report("+ pods listed");
    let replica_sets = list(workloads, replica_set, stripped);
    let deployments = list(workloads, deployment, stripped);
    let budgets = list(workloads, budget, stripped);
    report("+ workloads and budgets listed");
    let objects = KubeObjects {
        nodes,
        pods,
        replica_sets,
        deployments,
        stateful_sets: Vec::new(),
        jobs: Vec::new(),
        budgets,
    };
    let snapshot = assemble(objects, &figures, now + Duration::from_secs(1));
    report("snapshot assembled from them");
    println!(
        "{} nodes, {} pods, {} workloads, {} budgets",
        snapshot.nodes.len(),
        snapshot.pods.len(),
        snapshot.workloads.len(),
        snapshot.budgets.len()
    );
}
