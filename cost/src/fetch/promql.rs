//! The per-step expressions a report is built from, for evaluation at each step of a range
//! query or subquery, each aggregated `by (namespace, pod, container)`. The same definitions as
//! [`crate::Summary::from_dataset`] applies to per-step data:
//!
//! - a container runs in a step when kube-state-metrics says so (or, without that metric, when
//!   it has requests or usage then);
//! - CPU usage is the counter's increase since the previous step over the step; a step without
//!   a previous value (the container's first, after a scrape gap, after a restart) has none,
//!   so that a gap cannot read as a spike;
//! - charged is max(request, usage), either missing counting as 0.

/// Label filter for cAdvisor's per-container series (not the pod's cgroup or pause container).
pub const CADVISOR: &str = r#"container!="",container!="POD",pod!="""#;
pub const BY_CONTAINER: &str = "namespace, pod, container";

/// The range of one step of `step` seconds, one millisecond short: Prometheus 2's range
/// selectors include their left end, which would count a sample on a step boundary in two steps.
pub fn step_range(step: u64) -> String {
    format!("{}ms", step * 1000 - 1)
}

/// Expressions for steps of `step` seconds.
#[derive(Debug, Clone, Copy)]
pub struct Exprs<'a> {
    step: u64,
    /// Whether `kube_pod_container_status_running` exists (else requests or usage stand in).
    running_metric: bool,
    /// A regex the namespaces read must match, quoted for PromQL; empty for all.
    namespaces: &'a str,
}

impl<'a> Exprs<'a> {
    pub fn new(step: u64, running_metric: bool) -> Self {
        Self {
            step: step.max(1),
            running_metric,
            namespaces: "",
        }
    }

    /// The same expressions over the namespaces `regex` (see [`names_regex`]) matches only.
    pub fn in_namespaces(self, regex: &'a str) -> Self {
        Self {
            namespaces: regex,
            ..self
        }
    }

    /// `metric{matchers}`, in the namespaces read.
    fn select(self, metric: &str, matchers: &str) -> String {
        match (matchers, self.namespaces) {
            (m, "") => format!("{metric}{{{m}}}"),
            ("", ns) => format!(r#"{metric}{{namespace=~"{ns}"}}"#),
            (m, ns) => format!(r#"{metric}{{{m},namespace=~"{ns}"}}"#),
        }
    }

    pub fn step(self) -> u64 {
        self.step
    }

    fn window(self) -> String {
        step_range(self.step)
    }

    fn request(self, resource: &str, unit: &str) -> String {
        format!(
            "clamp_min(max by ({BY_CONTAINER}) (avg_over_time({}[{w}])), 0)",
            self.select(
                "kube_pod_container_resource_requests",
                &format!(r#"resource="{resource}",unit="{unit}""#)
            ),
            w = self.window()
        )
    }

    pub fn cpu_request(self) -> String {
        self.request("cpu", "core")
    }

    pub fn memory_request(self) -> String {
        self.request("memory", "byte")
    }

    /// The CPU counter at the step's end, or one step earlier.
    fn cpu_counter(self, offset: bool) -> String {
        let offset = if offset {
            format!(" offset {}s", self.step)
        } else {
            String::new()
        };
        format!(
            "max by ({BY_CONTAINER}) (last_over_time({}[{w}]{offset}))",
            self.select("container_cpu_usage_seconds_total", CADVISOR),
            w = self.window()
        )
    }

    /// Cores used in the step.
    pub fn cpu_usage(self) -> String {
        format!(
            "(({} - {}) >= 0) / {}",
            self.cpu_counter(false),
            self.cpu_counter(true),
            self.step
        )
    }

    fn working_set(self, function: &str) -> String {
        format!(
            "sum by ({BY_CONTAINER}) ({function}({}[{w}]))",
            self.select("container_memory_working_set_bytes", CADVISOR),
            w = self.window()
        )
    }

    /// Working-set bytes, averaged over the step.
    pub fn memory_usage(self) -> String {
        self.working_set("avg_over_time")
    }

    /// Working-set bytes, the step's highest.
    pub fn memory_peak(self) -> String {
        self.working_set("max_over_time")
    }

    /// 1 for each container running in the step.
    pub fn running(self) -> String {
        if self.running_metric {
            format!(
                "max by ({BY_CONTAINER}) (max_over_time({}[{w}])) >= 0.5",
                self.select("kube_pod_container_status_running", ""),
                w = self.window()
            )
        } else {
            format!(
                "({} or {} or {} or {}) * 0 + 1",
                self.cpu_request(),
                self.memory_request(),
                self.cpu_counter(false),
                self.memory_usage()
            )
        }
    }

    /// max(request, usage), either missing counting as 0. Each is evaluated once: labelled
    /// apart so that `or` keeps both, then the higher taken per container.
    fn charged(request: &str, usage: &str) -> String {
        format!(
            r#"max by ({BY_CONTAINER}) (label_replace({request}, "charged", "request", "", "") or label_replace({usage}, "charged", "usage", "", ""))"#
        )
    }

    pub fn cpu_charged(self) -> String {
        Self::charged(&self.cpu_request(), &self.cpu_usage())
    }

    pub fn memory_charged(self) -> String {
        Self::charged(&self.memory_request(), &self.memory_usage())
    }

    /// `expr` in the steps its container ran.
    pub fn while_running(self, expr: &str) -> String {
        format!("({expr}) and ({})", self.running())
    }

    /// Each pod's controller (`owner_kind`, `owner_name`) in the step, from `kube_pod_owner`,
    /// for controllers whose labels also match `matchers` (each led by a comma).
    fn controllers(self, matchers: &str) -> String {
        format!(
            "max by (namespace, pod, owner_kind, owner_name) (last_over_time({}[{w}]))",
            self.select(
                "kube_pod_owner",
                &format!(
                    r#"owner_is_controller!="false",owner_kind!="<none>",owner_kind!=""{matchers}"#
                )
            ),
            w = self.window()
        )
    }

    /// Cores used per step, summed per pod owner (`namespace, owner_kind, owner_name`) for the
    /// owners whose names match `controllers` and for the pods without one (their own owner:
    /// `owner_name` = the pod, no `owner_kind`) whose names match `pods`. The other pods without
    /// an owner add up to one series per namespace without `owner_name`.
    pub fn owner_cores(self, controllers: &str, pods: &str) -> String {
        let used = self.while_running(&self.cpu_usage());
        let controlled = self.controllers(&format!(r#",owner_name=~"{controllers}""#));
        let itself = format!(
            r#"label_replace(max by (namespace, pod) ({}), "owner_name", "$1", "pod", "({pods})") unless on (namespace, pod) ({})"#,
            self.running(),
            self.controllers("")
        );
        format!(
            "sum by (namespace, owner_kind, owner_name) (({used}) * on (namespace, pod) group_left (owner_kind, owner_name) (({controlled}) or on (namespace, pod) ({itself})))"
        )
    }

    /// Per pod, the cores its running containers used in the step (those with a value).
    pub fn pod_cpu_usage(self) -> String {
        format!(
            "sum by (namespace, pod) ({})",
            self.while_running(&self.cpu_usage())
        )
    }

    /// Per pod, the working-set bytes of its running containers (those with a value).
    pub fn pod_memory_usage(self) -> String {
        format!(
            "sum by (namespace, pod) ({})",
            self.while_running(&self.memory_usage())
        )
    }

    /// 1 for each pod with a container running in the step.
    pub fn pod_running(self) -> String {
        format!("max by (namespace, pod) ({})", self.running())
    }

    /// `aggregation` (`sum`, `count`, ...) of the per-pod `pod_expr` over each controller's
    /// pods, by `namespace, owner_kind, owner_name`, for controllers of the kinds the regex
    /// `kinds` matches; pods without a controller drop out. One series per controller, however
    /// many pods it had.
    pub fn per_controller(self, aggregation: &str, pod_expr: &str, kinds: &str) -> String {
        let controllers = self.controllers(&format!(r#",owner_kind=~"{kinds}""#));
        format!(
            "{aggregation} by (namespace, owner_kind, owner_name) (({pod_expr}) * on (namespace, pod) group_left (owner_kind, owner_name) ({controllers}))"
        )
    }

    /// A subquery over `steps` steps ending at the evaluation time: one point per step.
    pub fn over(self, expr: &str, steps: usize) -> String {
        let range_ms = steps as u64 * self.step * 1000 - 1;
        format!("({expr})[{range_ms}ms:{}s]", self.step)
    }
}

/// A regex, quoted for a PromQL string, that matches every name of `groups` and perhaps more: a
/// group of more than two names becomes their common prefix followed by anything, and a regex
/// longer than [`MAX_NAMES_REGEX`] matches everything, so that the query stays short. It
/// matches no name when `groups` is empty.
pub fn names_regex<'a>(groups: impl IntoIterator<Item = Vec<&'a str>>) -> String {
    let escape = |name: &str| {
        let mut out = String::with_capacity(name.len());
        for c in name.chars() {
            if r"\.+*?()|[]{}^$".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    let mut alternatives: Vec<String> = Vec::new();
    for names in groups {
        if names.len() <= 2 {
            alternatives.extend(names.iter().map(|n| escape(n)));
        } else {
            let first = names[0];
            let common = names.iter().fold(first.len(), |len, n| {
                first
                    .bytes()
                    .zip(n.bytes())
                    .take(len)
                    .take_while(|(a, b)| a == b)
                    .count()
            });
            let prefix = first.get(..common).unwrap_or("");
            alternatives.push(format!("{}.*", escape(prefix)));
        }
    }
    alternatives.sort();
    alternatives.dedup();
    let regex = alternatives.join("|");
    if regex.len() > MAX_NAMES_REGEX {
        return ".*".to_string();
    }
    regex.replace('\\', r"\\").replace('"', r#"\""#)
}

/// Bytes of a names regex kept as it is. VictoriaMetrics refuses queries over 16 KiB by default
/// (`-search.maxQueryLen`).
const MAX_NAMES_REGEX: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_regex_lists_few_names_and_shortens_many() {
        assert_eq!(
            names_regex([vec!["web-7d9f", "web-a8c2"]]),
            "web-7d9f|web-a8c2"
        );
        assert_eq!(
            names_regex([vec!["report-1", "report-2", "report-3"], vec!["db-0"]]),
            "db-0|report-.*"
        );
        // Escaped for the regex, then for the PromQL string.
        assert_eq!(names_regex([vec!["api.v2"]]), r"api\\.v2");
        assert_eq!(names_regex(Vec::<Vec<&str>>::new()), "");
        let names: Vec<String> = (0..2000).map(|i| format!("pod-{i}-abc")).collect();
        let singles = names.iter().map(|n| vec![n.as_str()]);
        assert_eq!(names_regex(singles), ".*");
    }
}
