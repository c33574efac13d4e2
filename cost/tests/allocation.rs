//! The pure cost steps on hand-made data: allocation and idle by hand, owner resolution,
//! right-sizing on known distributions, pre-scaling arithmetic, and the HTML's SVG structure.

use std::collections::BTreeMap;

use tidal_cost::allocate::{allocate, workload};
use tidal_cost::fetch::counter_rates;
use tidal_cost::prescale::{compare, forecast_plan};
use tidal_cost::render::{self, Format};
use tidal_cost::summary::quantile;
use tidal_cost::{
    ContainerData, ContainerKey, CostConfig, Dataset, NodeData, Owners, Summary, Timeline,
    build_report,
};

const GIB: f64 = (1u64 << 30) as f64;

fn key(ns: &str, pod: &str, container: &str) -> ContainerKey {
    ContainerKey {
        namespace: ns.into(),
        pod: pod.into(),
        container: container.into(),
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

/// `data` reduced as the database reduces it, at the default right-sizing percentiles.
fn summary(data: &Dataset) -> Summary {
    let r = CostConfig::default().rightsizing;
    Summary::from_dataset(data, (r.cpu_percentile, r.memory_percentile))
}

/// Four one-hour steps; one 2-core / 4 GiB node at the default prices.
/// api: requests 1 core / 1 GiB, uses 0.5 core then 1.5 cores, 0.5 GiB.
/// cron: no requests, runs in steps 2 and 3 only, 0.25 core, 2 GiB.
fn dataset() -> Dataset {
    let tl = Timeline {
        start: 0.0,
        step_secs: 3600.0,
        steps: 4,
    };
    let mut api = ContainerData::new(key("shop", "api-7f-abc", "api"), 4);
    api.node = Some("n1".into());
    api.running = vec![1.0; 4];
    api.cpu_request = vec![1.0; 4];
    api.memory_request = vec![GIB; 4];
    api.cpu_usage = vec![0.5, 0.5, 1.5, 1.5];
    api.memory_usage = vec![0.5 * GIB; 4];
    api.memory_peak = vec![0.5 * GIB; 4];
    let mut cron = ContainerData::new(key("ops", "backup-123-xyz", "backup"), 4);
    cron.node = Some("n1".into());
    cron.running = vec![0.0, 0.0, 1.0, 1.0];
    cron.cpu_usage = vec![f64::NAN, f64::NAN, 0.25, 0.25];
    cron.memory_usage = vec![f64::NAN, f64::NAN, 2.0 * GIB, 2.0 * GIB];
    let owners = Owners {
        pods: BTreeMap::from([
            (pair("shop", "api-7f-abc"), pair("ReplicaSet", "api-7f")),
            (pair("ops", "backup-123-xyz"), pair("Job", "backup-123")),
        ]),
        replica_sets: BTreeMap::from([(pair("shop", "api-7f"), pair("Deployment", "api"))]),
        jobs: BTreeMap::from([(pair("ops", "backup-123"), pair("CronJob", "backup"))]),
    };
    Dataset {
        timeline: tl,
        containers: vec![api, cron],
        nodes: vec![NodeData {
            name: "n1".into(),
            cpu_cores: vec![2.0; 4],
            memory_bytes: vec![4.0 * GIB; 4],
            labels: Some(BTreeMap::new()),
        }],
        owners,
        warnings: Vec::new(),
        queries: 0,
    }
}

#[test]
fn allocation_and_idle_by_hand() {
    let data = dataset();
    let a = allocate(&summary(&data), &CostConfig::default().prices);
    let (cpu, mem) = (0.031611, 0.004237);
    // api: CPU max(1, 0.5) ×2 h + max(1, 1.5) ×2 h = 5 core-h; memory 1 GiB × 4 h.
    let api = 5.0 * cpu + 4.0 * mem;
    // backup: 0.25 core × 2 h, 2 GiB × 2 h.
    let backup = 0.5 * cpu + 4.0 * mem;
    let node = 8.0 * cpu + 16.0 * mem;
    let by = |kind: &str| {
        a.workloads
            .iter()
            .find(|w| w.key.kind == kind)
            .map(|w| w.usage.total_cost())
            .unwrap_or(f64::NAN)
    };
    assert!(
        (by("Deployment") - api).abs() < 1e-12,
        "{}",
        by("Deployment")
    );
    assert!((by("CronJob") - backup).abs() < 1e-12, "{}", by("CronJob"));
    assert!((a.total.node_cost - node).abs() < 1e-12);
    assert!((a.total.idle_cost - (node - api - backup)).abs() < 1e-12);
    // Cost-weighted efficiency of api: CPU 4/4 core-h used/requested, memory 2/4 GiB-h.
    let w = a
        .workloads
        .iter()
        .find(|w| w.key.kind == "Deployment")
        .map(|w| w.usage);
    let w = w.unwrap_or_default();
    assert_eq!(w.cpu_efficiency(), Some(1.0));
    assert_eq!(w.memory_efficiency(), Some(0.5));
    let expected = (1.0 * 5.0 * cpu + 0.5 * 4.0 * mem) / api;
    assert!((w.efficiency().unwrap_or(f64::NAN) - expected).abs() < 1e-12);
    // Idle over time adds up to the idle total.
    let idle: f64 = a.over_time.idle.iter().sum();
    assert!((idle - a.total.idle_cost).abs() < 1e-12);
}

#[test]
fn owners_resolve_to_controllers() {
    let data = dataset();
    let w = workload(&data.owners, "shop", "api-7f-abc");
    assert_eq!((w.kind.as_str(), w.name.as_str()), ("Deployment", "api"));
    let w = workload(&data.owners, "ops", "backup-123-xyz");
    assert_eq!((w.kind.as_str(), w.name.as_str()), ("CronJob", "backup"));
    let w = workload(&data.owners, "ops", "debug");
    assert_eq!((w.kind.as_str(), w.name.as_str()), ("Pod", "debug"));
}

#[test]
fn percentiles_are_prometheus_quantiles_of_the_busiest_day() {
    // 90 quiet steps at 0.1 core and 10 bursts at 2 cores: p90 barely sees the bursts, p95 does.
    let mut bursty: Vec<f64> = [vec![0.1; 90], vec![2.0; 10]].concat();
    assert!((quantile(&mut bursty, 0.9).unwrap_or(0.0) - 0.29).abs() < 1e-9);
    assert_eq!(quantile(&mut bursty, 0.95), Some(2.0));
    // Two days of hourly steps: a quiet day at 0.1..0.5 core, then a busy one at 1..5.
    let mut data = dataset();
    data.timeline.steps = 48;
    data.containers.truncate(1);
    let api = &mut data.containers[0];
    api.running = vec![1.0; 48];
    api.cpu_usage = (0..48)
        .map(|i| (i % 24 % 5 + 1) as f64 * if i < 24 { 0.1 } else { 1.0 })
        .collect();
    api.memory_peak = (0..48).map(|i| i as f64).collect();
    let mut busy: Vec<f64> = api.cpu_usage[24..].to_vec();
    let summary = summary(&data);
    let t = &summary.containers[0];
    assert_eq!(t.cpu_percentile, quantile(&mut busy, 0.95));
    assert_eq!(t.memory_percentile, Some(47.0));
    assert_eq!(t.memory_peak, Some(47.0));
    assert_eq!(t.running_steps, 48.0);
}

#[test]
fn rightsizing_recommends_percentile_times_margin_and_prices_the_cut() {
    let mut data = dataset();
    // A day of 100 steps: api uses 0.01..1.00 cores (uniform), memory 100 MiB flat, requests
    // 2 cores / 1 GiB.
    let n = 100;
    data.timeline.steps = n;
    data.timeline.step_secs = 864.0;
    data.nodes[0].cpu_cores = vec![8.0; n];
    data.nodes[0].memory_bytes = vec![16.0 * GIB; n];
    data.containers.truncate(1);
    let api = &mut data.containers[0];
    api.running = vec![1.0; n];
    api.cpu_request = vec![2.0; n];
    api.memory_request = vec![GIB; n];
    api.cpu_usage = (1..=n).map(|i| i as f64 / 100.0).collect();
    api.memory_usage = vec![100.0 * 1024.0 * 1024.0; n];
    api.memory_peak = api.memory_usage.clone();
    api.memory_limit = Some(105.0 * 1024.0 * 1024.0);
    let config = CostConfig::default();
    let report = build_report(&summary(&data), &config);
    let r = &report.rightsizing[0];
    // Prometheus's quantile: between the 95th and 96th of 100, at 0.05 of the way.
    assert!((r.cpu_usage_percentile - 0.9505).abs() < 1e-12);
    assert!((r.cpu_recommended - 0.9505 * 1.15).abs() < 1e-12);
    assert!((r.memory_recommended - 115.0 * 1024.0 * 1024.0).abs() < 1e-6);
    // Saving: every step charged 2 cores before and max(1.093075, usage) after, at 730 h a
    // month.
    let after: f64 = (1..=n).map(|i| (i as f64 / 100.0).max(0.9505 * 1.15)).sum();
    let cpu_saved = (2.0 * n as f64 - after) / n as f64 * 730.0 * 0.031611;
    assert!(
        (r.cpu_monthly_saving - cpu_saved).abs() < 1e-9,
        "{} vs {cpu_saved}",
        r.cpu_monthly_saving
    );
    assert!(
        r.risks.iter().any(|x| x.contains("OOM-kill risk")),
        "{:?}",
        r.risks
    );
}

#[test]
fn prescale_static_peak_versus_plan() {
    // Night 2 nodes, day 6: static holds 6 for all 24 slots.
    let needed: Vec<f64> = (0..24)
        .map(|h| if (8..20).contains(&h) { 6.0 } else { 2.0 })
        .collect();
    let s = compare("cluster", "node", 1.0, &needed, &needed, 0.5, "test");
    assert_eq!(s.static_unit_hours, 144.0);
    assert_eq!(s.planned_unit_hours, 12.0 * 6.0 + 12.0 * 2.0);
    assert!((s.saving() - (144.0 - 96.0) * 0.5).abs() < 1e-12);
    assert_eq!(s.under_provisioned_slots, 0);
    // The predictor's day-ahead plan over 10 days where day 5 has a spike in hour 3: the first
    // two days are held at the peak, later days follow the daily shape, and only the
    // unforeseeable spike is under-provisioned.
    let mut days: Vec<f64> = (0..10).flat_map(|_| needed.clone()).collect();
    days[5 * 24 + 3] = 9.0;
    let plan = forecast_plan(&days, 0, 3600);
    assert!(plan[..48].iter().all(|p| *p == 9.0), "{:?}", &plan[..48]);
    assert!((plan[7 * 24 + 3] - 2.0).abs() < 0.5, "{}", plan[7 * 24 + 3]);
    assert!(plan[7 * 24 + 12] >= 6.0 - 1e-9, "{}", plan[7 * 24 + 12]);
    let s = compare("cluster", "node", 1.0, &days, &plan, 1.0, "test");
    assert_eq!(s.under_provisioned_slots, 1);
    assert_eq!(s.static_units, 9.0);
    assert!(s.saving() > 0.0);
}

#[test]
fn cpu_counters_become_cores_per_step() {
    // 60 s steps: a counter growing 30 s per step is half a core. After a gap, a restart or at
    // the window's start with no earlier value, the step is unknown rather than a spike.
    let mut t = vec![30.0, 60.0, 90.0, f64::NAN, 150.0, 180.0, 10.0, 40.0];
    counter_rates(&mut t, Some(0.0), 60.0);
    assert_eq!(&t[..3], &[0.5, 0.5, 0.5]);
    assert!(
        t[3].is_nan() && t[4].is_nan(),
        "the gap and the step after it"
    );
    assert_eq!(t[5], 0.5);
    assert!(t[6].is_nan(), "restarted");
    assert_eq!(t[7], 0.5);
    let mut t = vec![1e6, 1e6 + 30.0];
    counter_rates(&mut t, None, 60.0);
    assert!(t[0].is_nan());
    assert_eq!(t[1], 0.5);
}

/// The HTML page is well formed where it matters: balanced tags in every SVG, the three
/// charts present, names escaped.
#[test]
fn html_charts_are_well_formed_svg() {
    let mut data = dataset();
    data.containers[0].key.namespace = "shop<&>".into();
    data.owners
        .pods
        .insert(pair("shop<&>", "api-7f-abc"), pair("ReplicaSet", "api-7f"));
    let report = build_report(&summary(&data), &CostConfig::default());
    let html = render::render(&report, Format::Html, 10).unwrap_or_default();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("shop<&>"), "names are escaped");
    assert!(html.contains("shop&lt;&amp;&gt;"));
    let svgs: Vec<&str> = html
        .split("<svg ")
        .skip(1)
        .map(|s| s.split("</svg>").next().unwrap_or(""))
        .collect();
    assert_eq!(
        svgs.len(),
        4,
        "cost over time, CPU and memory request vs usage, idle share"
    );
    for svg in &svgs {
        assert_balanced(svg);
        assert!(svg.contains("<rect"), "{svg}");
    }
    assert!(svgs[0].contains("idle"), "{}", svgs[0]);
    assert_balanced(
        &html
            .replace("<!DOCTYPE html>", "")
            .replace("<meta charset=\"utf-8\">", ""),
    );
}

/// Every opening tag is closed in order (self-closing tags excepted).
fn assert_balanced(text: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .map(|e| start + e)
            .unwrap_or_else(|| panic!("unclosed < in {rest}"));
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.ends_with('/') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(closing) = tag.strip_prefix('/') {
            let open = stack.pop();
            assert_eq!(
                open.as_deref(),
                Some(closing.trim()),
                "mismatched </{closing}>"
            );
        } else {
            stack.push(name);
        }
    }
    // The fragment after the first `<svg ` starts inside the svg tag itself.
    assert!(stack.is_empty() || stack == ["svg"], "unclosed: {stack:?}");
}

#[test]
fn an_empty_cluster_reads_as_sentences() {
    let data = Dataset {
        timeline: Timeline {
            start: 1_700_000_000.0,
            step_secs: 300.0,
            steps: 12,
        },
        containers: Vec::new(),
        nodes: Vec::new(),
        owners: Owners::default(),
        warnings: Vec::new(),
        queries: 0,
    };
    let report = build_report(&summary(&data), &CostConfig::default());
    let markdown = render::markdown::render(&report, 10);
    assert!(!markdown.contains("()"), "{markdown}");
    assert!(!markdown.contains("No rows"), "{markdown}");
    for sentence in [
        "No container ran in the window",
        "No workload ran in the window",
        "No node capacity series",
        "nothing to right-size",
        "no pre-scaling comparison",
    ] {
        assert!(
            markdown.contains(sentence),
            "{sentence} missing:\n{markdown}"
        );
    }
}

/// A week of three services on two nodes, hourly, with a daily cycle.
fn week() -> Dataset {
    let steps = 7 * 24;
    let tl = Timeline {
        start: 1_733_011_200.0,
        step_secs: 3600.0,
        steps,
    };
    let daily =
        |i: usize, base: f64| base * (1.3 + (i as f64 / 24.0 * std::f64::consts::TAU).sin());
    let mut containers = Vec::new();
    for (n, (ns, base)) in [("shop", 1.2), ("search", 0.8), ("batch", 0.4)]
        .into_iter()
        .enumerate()
    {
        let mut c = ContainerData::new(key(ns, &format!("{ns}-6d-{n}"), ns), steps);
        c.node = Some(format!("n{}", n % 2 + 1));
        c.running = vec![1.0; steps];
        c.cpu_request = vec![2.0 * base; steps];
        c.memory_request = vec![4.0 * GIB; steps];
        c.cpu_usage = (0..steps).map(|i| daily(i, base)).collect();
        c.memory_usage = vec![2.5 * GIB; steps];
        c.memory_peak = vec![3.0 * GIB; steps];
        containers.push(c);
    }
    let node = |name: &str| NodeData {
        name: name.into(),
        cpu_cores: vec![8.0; steps],
        memory_bytes: vec![32.0 * GIB; steps],
        labels: Some(BTreeMap::new()),
    };
    Dataset {
        timeline: tl,
        containers,
        nodes: vec![node("n1"), node("n2")],
        owners: Owners::default(),
        warnings: Vec::new(),
        queries: 0,
    }
}

/// What a reviewer sees: titled charts with labelled axes, hover values, in a real browser.
#[test]
fn html_report_renders_in_headless_chromium() {
    let report = build_report(&summary(&week()), &CostConfig::default());
    let html = render::render(&report, Format::Html, 10).unwrap_or_default();
    for visible in [
        ">Cost over time by namespace, plus idle</text>",
        ">CPU requested vs used, costliest workloads</text>",
        ">Memory requested vs used, costliest workloads</text>",
        ">$ per 1.0 h column</text>",
        ">time (UTC)</text>",
        ">cores, averaged over the window</text>",
        ">GiB, averaged over the window</text>",
        "<title>2024-12-01 00:00 UTC · shop: $",
    ] {
        assert!(html.contains(visible), "{visible} missing");
    }
    // A tick per day of the week under the cost-over-time chart, at midnight.
    for day in 1..=7 {
        assert!(
            html.contains(&format!(">12-0{day} 00:00</text>")),
            "day {day}"
        );
    }
    let png = tidal_testkit::chromium::screenshot("cost-report", &html).expect("screenshot");
    if let Some(png) = png {
        assert!(png.len() > 50_000, "a {}-byte screenshot", png.len());
    }
}
