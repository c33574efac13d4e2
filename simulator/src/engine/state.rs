//! The replayed cluster: pods, where they run, and what the scheduler counts per node.

use crate::cluster::NodeState;

/// One pod of the replay.
#[derive(Debug, Clone)]
pub struct Pod {
    pub workload: u32,
    /// The replica's noise stream (its ordinal for a fixed set of replicas).
    pub slot: u32,
    pub uid: u64,
    pub node: Option<u32>,
    /// Step the pod was created (negative: before the replay began).
    pub created: i64,
    /// Step the pod was bound; it serves from `bound + startup`.
    pub bound: Option<usize>,
    /// For a CronJob's pod: steps it runs once bound.
    pub run_for: Option<usize>,
    /// CPU cores used over the last steps (a ring over the 5-minute window).
    pub cpu: Box<[f32]>,
    pub memory: f32,
}

impl Pod {
    /// The pod's 5-minute average CPU, as cAdvisor's rate over 5 minutes gives it.
    pub fn cpu_average(&self) -> f64 {
        self.cpu.iter().map(|&c| f64::from(c)).sum::<f64>() / self.cpu.len().max(1) as f64
    }

    pub fn is_ready(&self, step: usize, startup: usize) -> bool {
        self.bound.is_some_and(|b| step >= b + startup)
    }
}

/// Pods by id, with the live ones of each workload and per-node counts.
pub struct Pods {
    slots: Vec<Option<Pod>>,
    free: Vec<usize>,
    /// Live pod ids per workload, oldest first.
    pub by_workload: Vec<Vec<usize>>,
    /// `on_node[workload][node]`: pods of the workload bound to the node.
    on_node: Vec<Vec<u16>>,
    /// Unbound pods, in creation order.
    pub pending: Vec<usize>,
    next_uid: u64,
    window: usize,
}

impl Pods {
    pub fn new(workloads: usize, nodes: usize, window: usize) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            by_workload: vec![Vec::new(); workloads],
            on_node: vec![vec![0; nodes]; workloads],
            pending: Vec::new(),
            next_uid: 1,
            window: window.max(1),
        }
    }

    pub fn get(&self, id: usize) -> Option<&Pod> {
        self.slots.get(id).and_then(Option::as_ref)
    }

    /// Every live pod with its id.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Pod)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, p)| p.as_ref().map(|p| (id, p)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Pod> {
        self.slots.iter_mut().flatten()
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Creates an unbound pod; it waits in `pending` for the scheduler.
    pub fn create(
        &mut self,
        workload: usize,
        slot: u32,
        created: i64,
        run_for: Option<usize>,
    ) -> usize {
        let pod = Pod {
            workload: workload as u32,
            slot,
            uid: self.next_uid,
            node: None,
            created,
            bound: None,
            run_for,
            cpu: vec![0.0; self.window].into_boxed_slice(),
            memory: 0.0,
        };
        self.next_uid += 1;
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id] = Some(pod);
                id
            }
            None => {
                self.slots.push(Some(pod));
                self.slots.len() - 1
            }
        };
        self.by_workload[workload].push(id);
        self.pending.push(id);
        id
    }

    /// Binds a pod to `node` (the caller has checked it fits, and takes it out of
    /// `pending`: the scheduling pass drains the queue).
    pub fn bind(
        &mut self,
        id: usize,
        node: usize,
        step: usize,
        nodes: &mut [NodeState],
        requests: &crate::cluster::PodRequests,
    ) {
        let Some(pod) = self.slots.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        pod.node = Some(node as u32);
        pod.bound = Some(step);
        self.on_node[pod.workload as usize][node] += 1;
        nodes[node].bind(requests);
    }

    /// Deletes a pod, freeing what it held on its node.
    pub fn delete(
        &mut self,
        id: usize,
        nodes: &mut [NodeState],
        requests: &crate::cluster::PodRequests,
    ) -> Option<Pod> {
        let pod = self.slots.get_mut(id)?.take()?;
        self.free.push(id);
        let w = pod.workload as usize;
        self.by_workload[w].retain(|&p| p != id);
        match pod.node {
            Some(node) => {
                let node = node as usize;
                self.on_node[w][node] = self.on_node[w][node].saturating_sub(1);
                nodes[node].unbind(requests);
            }
            None => self.pending.retain(|&p| p != id),
        }
        Some(pod)
    }

    /// Pods of `workload` bound to `node`.
    pub fn count_on(&self, workload: usize, node: usize) -> u32 {
        u32::from(self.on_node[workload][node])
    }
}
