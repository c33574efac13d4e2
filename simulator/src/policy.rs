//! The policies a trace is replayed under, and what each is made of.

use std::fmt;
use std::str::FromStr;

/// A named policy of `tidal simulate --policies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// kube-scheduler's default profile: placement by requests.
    Requests,
    /// `requests` plus Tidal's extender.
    Tidal,
    /// `tidal` plus `tidal deschedule` every run interval.
    TidalDescheduler,
    /// `requests` plus the kubernetes-sigs descheduler's LowNodeUtilization on real usage.
    LowNodeUtilization,
    /// `requests` plus LowNodeUtilization on requests (its classic mode).
    LowNodeUtilizationRequests,
    /// Every pod placed knowing its own future usage; no evictions. Not runnable: the bound.
    Oracle,
    /// `requests` with HPAs scaling on observed CPU only (the same replay as `requests`,
    /// named for the comparison with `hpa+predict`).
    Hpa,
    /// `requests` with the predictor's day-ahead plans held as HPA floors.
    HpaPredict,
}

/// Where new pods go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Requests,
    Tidal,
    Oracle,
}

/// What moves running pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descheduler {
    Tidal,
    LowNodeUtilization { real_usage: bool },
}

impl Policy {
    pub const ALL: [Policy; 8] = [
        Policy::Requests,
        Policy::Tidal,
        Policy::TidalDescheduler,
        Policy::LowNodeUtilization,
        Policy::LowNodeUtilizationRequests,
        Policy::Oracle,
        Policy::Hpa,
        Policy::HpaPredict,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Requests => "requests",
            Policy::Tidal => "tidal",
            Policy::TidalDescheduler => "tidal+descheduler",
            Policy::LowNodeUtilization => "lownodeutilization",
            Policy::LowNodeUtilizationRequests => "lownodeutilization-requests",
            Policy::Oracle => "oracle",
            Policy::Hpa => "hpa",
            Policy::HpaPredict => "hpa+predict",
        }
    }

    pub fn placement(self) -> Placement {
        match self {
            Policy::Tidal | Policy::TidalDescheduler => Placement::Tidal,
            Policy::Oracle => Placement::Oracle,
            _ => Placement::Requests,
        }
    }

    pub fn descheduler(self) -> Option<Descheduler> {
        match self {
            Policy::TidalDescheduler => Some(Descheduler::Tidal),
            Policy::LowNodeUtilization => {
                Some(Descheduler::LowNodeUtilization { real_usage: true })
            }
            Policy::LowNodeUtilizationRequests => {
                Some(Descheduler::LowNodeUtilization { real_usage: false })
            }
            _ => None,
        }
    }

    /// Whether the predictor's plans hold HPA floors.
    pub fn predicts(self) -> bool {
        self == Policy::HpaPredict
    }

    /// The policy whose replay this one is, when two names run the same thing.
    pub fn same_replay_as(self) -> Policy {
        match self {
            Policy::Hpa => Policy::Requests,
            other => other,
        }
    }

    /// The default set: every policy, with the HPA pair only when a workload has an HPA.
    pub fn defaults(has_hpa: bool) -> Vec<Policy> {
        Self::ALL
            .into_iter()
            .filter(|p| has_hpa || !matches!(p, Policy::Hpa | Policy::HpaPredict))
            .collect()
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown policy {s:?}; the policies are {}",
                    names.join(", ")
                )
            })
    }
}
