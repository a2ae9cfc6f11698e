//! Timing and energy: the one interface through which every operation of a core (neuron
//! updates, synaptic events, learning dispatch and ops) and of the mesh (router hops, inter-chip
//! link latency and contention) is charged, in cycles and in counted events that energy is
//! derived from.
//!
//! A step of the chip costs `max over cores (core cycles) + mesh cycles + barrier`, where the
//! mesh cycles of a step are the largest of: the longest path latency of a packet sent this step
//! (`hops · cycles_router_hop + inter-chip hops · link_latency_cycles`), the busiest router
//! (`cycles_router_hop` per packet it forwards or delivers), and the busiest inter-chip link
//! (`link_cycles_per_spike` per packet, plus its latency).

use nm_isa::ChipSpec;
use serde::{Deserialize, Serialize};

/// Time in chip steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Step(pub u64);

/// Something a core or the mesh does that costs cycles and energy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// `n` neuron updates.
    NeuronUpdates(u64),
    /// `n` synaptic events (one synapse receiving one packet).
    SynapticEvents(u64),
    /// One learning-handler invocation that ran `ops` instructions costing `cycles` (op table).
    Learning { ops: u64, cycles: u64 },
    /// `invocations` learning-handler invocations running `ops` instructions of `cycles` in all.
    LearningBatch { invocations: u64, ops: u64, cycles: u64 },
}

/// Cycle and energy costs taken from a [`ChipSpec`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostTable {
    pub neuron_update: u64,
    pub synaptic_event: u64,
    pub learning_dispatch: u64,
    pub router_hop: u64,
    pub link_latency: u64,
    pub link_per_spike: u64,
    pub barrier: u64,
}

impl CostTable {
    pub fn new(spec: &ChipSpec) -> CostTable {
        let t = &spec.timing;
        CostTable {
            neuron_update: u64::from(t.cycles_neuron_update),
            synaptic_event: u64::from(t.cycles_synaptic_event),
            learning_dispatch: u64::from(t.cycles_learning_dispatch),
            router_hop: u64::from(t.cycles_router_hop),
            link_latency: u64::from(spec.system.link_latency_cycles),
            link_per_spike: u64::from(spec.system.link_cycles_per_spike),
            barrier: u64::from(t.cycles_barrier),
        }
    }
}

/// Event counts accumulated over a run (energy is derived from them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub neuron_updates: u64,
    pub synaptic_events: u64,
    pub learning_invocations: u64,
    pub learning_ops: u64,
    pub packets: u64,
    pub router_hops: u64,
    pub link_crossings: u64,
    /// Cores with neurons, summed over steps (static energy).
    pub core_steps: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.neuron_updates += o.neuron_updates;
        self.synaptic_events += o.synaptic_events;
        self.learning_invocations += o.learning_invocations;
        self.learning_ops += o.learning_ops;
        self.packets += o.packets;
        self.router_hops += o.router_hops;
        self.link_crossings += o.link_crossings;
        self.core_steps += o.core_steps;
    }
}

/// The per-core meter: cycles of the current step and event counts of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreMeter {
    /// Cycles charged in the current step.
    pub step_cycles: u64,
    pub counts: Counts,
}

impl CoreMeter {
    /// Charge one operation.
    #[inline]
    pub fn charge(&mut self, costs: &CostTable, c: Charge) {
        match c {
            Charge::NeuronUpdates(n) => {
                self.step_cycles += n * costs.neuron_update;
                self.counts.neuron_updates += n;
            }
            Charge::SynapticEvents(n) => {
                self.step_cycles += n * costs.synaptic_event;
                self.counts.synaptic_events += n;
            }
            Charge::Learning { ops, cycles } => {
                self.step_cycles += costs.learning_dispatch + cycles;
                self.counts.learning_invocations += 1;
                self.counts.learning_ops += ops;
            }
            Charge::LearningBatch { invocations, ops, cycles } => {
                self.step_cycles += invocations * costs.learning_dispatch + cycles;
                self.counts.learning_invocations += invocations;
                self.counts.learning_ops += ops;
            }
        }
    }
}

/// Mesh cost of one source's multicast tree, computed once at load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeshCost {
    /// Longest path latency to a destination, in cycles.
    pub latency: u64,
    /// Router-to-router transfers in the tree.
    pub hops: u32,
    /// Inter-chip link crossings in the tree.
    pub link_crossings: u32,
    /// Routers the packet visits: `routers[first .. first + len]` of the table.
    pub routers_first: u32,
    pub routers_len: u32,
    /// Links it crosses: `links[first .. first + len]` of the table.
    pub links_first: u32,
    pub links_len: u32,
    /// With `bits` (set by [`crate::route::FanoutTable::pack_router_bits`]) the routers are the
    /// bitset `rbits[routers_first .. routers_first + routers_len]` of routers
    /// `64 · bits_word0 ..` instead of a list.
    pub bits: bool,
    pub bits_word0: u32,
}

/// The routers a packet passes, as [`MeshMeter::charge_packet`] takes them: a list (a router
/// listed twice is charged twice), or a bitset of routers `64 · word0 ..` with each router once.
#[derive(Clone, Copy, Debug)]
pub enum Routers<'a> {
    List(&'a [u32]),
    Bits { word0: usize, bits: &'a [u64] },
}

/// The mesh meter: per-step router and link load, and run totals.
#[derive(Clone, Debug, Default)]
pub struct MeshMeter {
    /// Packets through every router this step, bit-sliced: bit `r % 64` of word
    /// `j · words + r / 64` is bit `j` of router `r`'s count (so a packet whose routers are
    /// given as a bitset adds 64 routers per word operation). A router's busy cycles are its
    /// count times the router hop cost.
    planes: Vec<u64>,
    words: usize,
    /// Words of the planes touched this step: `lo .. hi`.
    lo: usize,
    hi: usize,
    scratch: Vec<u64>,
    link_busy: Vec<u64>,
    touched_links: Vec<u32>,
    max_latency: u64,
    /// One `u32` counter per router (`64 · words` of them) instead of the bit planes, which
    /// then stay unused: [`MeshMeter::new`] takes them where the CPU has AVX-512F, where a
    /// bitset word costs four masked vector additions of 16 counters each, while the planes
    /// take one dependent load, xor and store per carry (about six per word at a few dozen
    /// packets per step). A counter would wrap only after 2^32 packets through one router in
    /// one step.
    counters: Vec<u32>,
    /// The CPU has AVX-512F: the counters are added by [`add_bits_avx512`].
    avx512: bool,
    pub counts: Counts,
}

impl MeshMeter {
    /// The meter of a system of `total_cores` routers: per-router counters where the CPU has
    /// AVX-512F, else the bit planes (both give the same cycles).
    pub fn new(total_cores: usize) -> MeshMeter {
        MeshMeter::with_counters(total_cores, avx512f())
    }

    /// The meter with per-router counters (`counters`; added with AVX-512F where the CPU has
    /// it, one bit at a time elsewhere) or with the bit planes.
    pub fn with_counters(total_cores: usize, counters: bool) -> MeshMeter {
        let words = total_cores.div_ceil(64).max(1);
        MeshMeter {
            planes: vec![0; words],
            words,
            lo: usize::MAX,
            link_busy: vec![0; total_cores * 4],
            counters: if counters { vec![0; words * 64] } else { Vec::new() },
            avx512: avx512f(),
            ..Default::default()
        }
    }

    /// Whether the meter counts with per-router counters (else with bit planes).
    pub fn has_counters(&self) -> bool {
        !self.counters.is_empty()
    }

    /// Add one packet to the counters of the routers set in `bits`, words `word0 ..` of the
    /// router bitset (the counter path of [`MeshMeter::charge_packet`]).
    #[inline]
    fn count_bits(&mut self, word0: usize, bits: &[u64]) {
        let end = (word0 + bits.len()) * 64;
        if end > self.counters.len() {
            // Never for a table built for this system; grown rather than indexed out of range.
            self.counters.resize(end, 0);
        }
        self.lo = self.lo.min(word0);
        self.hi = self.hi.max(word0 + bits.len());
        let counters = &mut self.counters[word0 * 64..end];
        #[cfg(target_arch = "x86_64")]
        if self.avx512 {
            // SAFETY: `avx512` says the CPU has AVX-512F (`avx512f`), and `counters` holds
            // `64 · bits.len()` counters (resized above).
            #[allow(unsafe_code)]
            unsafe {
                add_bits_avx512(counters, bits)
            };
            return;
        }
        for (k, &x) in bits.iter().enumerate() {
            let mut b = x;
            while b != 0 {
                counters[k * 64 + b.trailing_zeros() as usize] += 1;
                b &= b - 1;
            }
        }
    }

    /// Add one packet to the routers set in `x`, word `i` of the router bitset.
    #[inline]
    fn count_word(&mut self, i: usize, x: u64) {
        let mut c = x;
        let mut at = i;
        while c != 0 {
            if at >= self.planes.len() {
                self.planes.resize(self.planes.len() + self.words, 0);
            }
            let p = self.planes[at];
            self.planes[at] = p ^ c;
            c &= p;
            at += self.words;
        }
        self.lo = self.lo.min(i);
        self.hi = self.hi.max(i + 1);
    }

    /// Charge one packet sent over the tree `cost` (whose router and link lists are given).
    #[inline]
    pub fn charge_packet(&mut self, costs: &CostTable, cost: &MeshCost, routers: Routers<'_>, links: &[u32]) {
        self.counts.packets += 1;
        self.counts.router_hops += u64::from(cost.hops);
        self.counts.link_crossings += u64::from(cost.link_crossings);
        if cost.hops == 0 {
            return; // delivered by the source core's own router: no mesh traversal
        }
        self.max_latency = self.max_latency.max(cost.latency);
        match routers {
            Routers::List(rs) if self.has_counters() => {
                for &r in rs {
                    let r = r as usize;
                    if r >= self.counters.len() {
                        self.counters.resize((r / 64 + 1) * 64, 0);
                    }
                    self.counters[r] += 1;
                    self.lo = self.lo.min(r / 64);
                    self.hi = self.hi.max(r / 64 + 1);
                }
            }
            Routers::Bits { word0, bits } if self.has_counters() => self.count_bits(word0, bits),
            Routers::List(rs) => {
                for &r in rs {
                    self.count_word(r as usize / 64, 1 << (r % 64));
                }
            }
            Routers::Bits { word0, bits } => {
                for (k, &x) in bits.iter().enumerate() {
                    if x != 0 {
                        self.count_word(word0 + k, x);
                    }
                }
            }
        }
        for &l in links {
            let b = &mut self.link_busy[l as usize];
            if *b == 0 {
                self.touched_links.push(l);
            }
            *b += costs.link_per_spike;
        }
    }

    /// The mesh cycles of the step that just ended; resets the per-step load.
    pub fn finish_step(&mut self, costs: &CostTable) -> u64 {
        let mut m = self.max_latency;
        if self.lo < self.hi && self.has_counters() {
            let row = &mut self.counters[self.lo * 64..self.hi * 64];
            let best = row.iter().copied().max().unwrap_or(0);
            row.fill(0);
            m = m.max(u64::from(best) * costs.router_hop);
            (self.lo, self.hi) = (usize::MAX, 0);
        } else if self.lo < self.hi {
            // The largest count: from the top bit plane down, keep the routers that have the
            // bit whenever any has it.
            let (lo, hi, w) = (self.lo, self.hi, self.words);
            self.scratch.clear();
            self.scratch.resize(hi - lo, !0);
            let mut best = 0u64;
            for j in (0..self.planes.len() / w).rev() {
                let row = &mut self.planes[j * w + lo..j * w + hi];
                if self.scratch.iter().zip(row.iter()).any(|(c, p)| c & p != 0) {
                    best |= 1 << j;
                    for (c, p) in self.scratch.iter_mut().zip(row.iter()) {
                        *c &= p;
                    }
                }
                row.fill(0);
            }
            m = m.max(best * costs.router_hop);
            (self.lo, self.hi) = (usize::MAX, 0);
        }
        for &l in &self.touched_links {
            m = m.max(self.link_busy[l as usize] + costs.link_latency);
            self.link_busy[l as usize] = 0;
        }
        self.touched_links.clear();
        self.max_latency = 0;
        m
    }
}

/// Whether the CPU has AVX-512F.
fn avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Add 1 to `counters[64·k + j]` for every bit `j` set in `bits[k]`: four masked additions of
/// 16 lanes per word.
///
/// # Safety
/// The CPU has AVX-512F; `counters` holds at least `64 · bits.len()` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn add_bits_avx512(counters: &mut [u32], bits: &[u64]) {
    use std::arch::x86_64::{_mm512_loadu_si512, _mm512_mask_add_epi32, _mm512_set1_epi32, _mm512_storeu_si512};
    debug_assert!(counters.len() >= 64 * bits.len());
    let one = _mm512_set1_epi32(1);
    let base = counters.as_mut_ptr();
    for (k, &x) in bits.iter().enumerate() {
        if x == 0 {
            continue;
        }
        for q in 0..4 {
            let m = (x >> (16 * q)) as u16;
            if m != 0 {
                // SAFETY: lanes `64·k + 16·q ..+ 16` lie within `counters` (the caller's
                // length); unaligned loads and stores; AVX-512F is this function's feature.
                unsafe {
                    let p = base.add(64 * k + 16 * q);
                    let c = _mm512_loadu_si512(p.cast());
                    _mm512_storeu_si512(p.cast(), _mm512_mask_add_epi32(c, m, c, one));
                }
            }
        }
    }
}

/// Energy by component, in joules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    pub neuron_update_j: f64,
    pub synaptic_event_j: f64,
    pub learning_j: f64,
    pub router_j: f64,
    pub link_j: f64,
    pub static_j: f64,
    pub total_j: f64,
}

impl Energy {
    pub fn from_counts(spec: &ChipSpec, c: &Counts) -> Energy {
        let e = &spec.energy;
        let pj = 1e-12;
        let mut en = Energy {
            neuron_update_j: c.neuron_updates as f64 * e.neuron_update_pj * pj,
            synaptic_event_j: c.synaptic_events as f64 * e.synaptic_event_pj * pj,
            learning_j: c.learning_ops as f64 * e.learning_op_pj * pj,
            router_j: c.router_hops as f64 * e.router_hop_pj * pj,
            link_j: c.link_crossings as f64 * spec.system.link_energy_pj * pj,
            static_j: c.core_steps as f64 * e.core_static_pj_per_step * pj,
            total_j: 0.0,
        };
        en.total_j = en.neuron_update_j + en.synaptic_event_j + en.learning_j + en.router_j + en.link_j + en.static_j;
        en
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nm_isa::rng::HwRng;

    /// The bit-sliced router counts and the per-router counters (vector and scalar additions)
    /// give the busiest router of a step exactly as one naive counter per router does, for
    /// packets given as lists (with repeats) and as bitsets, mixed.
    #[test]
    fn router_counts_give_the_busiest_router() {
        let costs = CostTable {
            neuron_update: 1,
            synaptic_event: 1,
            learning_dispatch: 1,
            router_hop: 3,
            link_latency: 0,
            link_per_spike: 0,
            barrier: 0,
        };
        let mut r = HwRng::new(5, 5);
        for case in 0..200u32 {
            let cores = 1 + (r.next_u32() % 700) as usize;
            // Counters (with AVX-512F where the CPU has it) and bit planes, alternately; the
            // counters one bit at a time on every fourth case.
            let mut m = MeshMeter::with_counters(cores, case % 2 == 0);
            assert_eq!(m.has_counters(), case % 2 == 0);
            if case % 4 == 2 {
                m.avx512 = false;
            }
            for _step in 0..3 {
                let mut naive = vec![0u64; cores];
                for _ in 0..r.next_u32() % (1 + case % 90) {
                    let cost = MeshCost { hops: 1, ..MeshCost::default() };
                    if r.next_u32().is_multiple_of(2) {
                        let list: Vec<u32> = (0..r.next_u32() % 40).map(|_| r.next_u32() % cores as u32).collect();
                        for &x in &list {
                            naive[x as usize] += costs.router_hop;
                        }
                        m.charge_packet(&costs, &cost, Routers::List(&list), &[]);
                    } else {
                        let w0 = (r.next_u32() as usize) % cores.div_ceil(64);
                        let words = 1 + (r.next_u32() as usize) % (cores.div_ceil(64) - w0);
                        let mut bits = vec![0u64; words];
                        for (k, b) in bits.iter_mut().enumerate() {
                            *b = u64::from(r.next_u32()) << 32 | u64::from(r.next_u32());
                            // Only routers that exist.
                            for bit in 0..64 {
                                if (w0 + k) * 64 + bit >= cores {
                                    *b &= !(1u64 << bit);
                                } else if *b >> bit & 1 == 1 {
                                    naive[(w0 + k) * 64 + bit] += costs.router_hop;
                                }
                            }
                        }
                        m.charge_packet(&costs, &cost, Routers::Bits { word0: w0, bits: &bits }, &[]);
                    }
                }
                let want = naive.iter().copied().max().unwrap_or(0);
                assert_eq!(m.finish_step(&costs), want, "case {case}");
            }
        }
    }
}

/// Cycles per step over a run, in memory bounded however long the run: the value of each of
/// the first [`CycleLog::KEPT`] steps, and the histogram of every step (exact minimum, median,
/// maximum and total). Checkpointed as its sorted histogram, so equal runs give equal bytes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(into = "CycleLogRepr", try_from = "CycleLogRepr")]
pub struct CycleLog {
    first: Vec<u64>,
    /// Steps of `c` cycles at index `c`, for `c < DENSE` (grown to the largest seen): a step is
    /// one increment, not a hash-map update.
    dense: Vec<u64>,
    /// Steps of `c ≥ DENSE` cycles (rare: such a step does thousands of operations).
    hist: std::collections::HashMap<u64, u64>,
    steps: u64,
    total: u64,
}

impl PartialEq for CycleLog {
    fn eq(&self, other: &CycleLog) -> bool {
        (self.steps, self.total) == (other.steps, other.total)
            && self.first == other.first
            && self.sorted() == other.sorted()
    }
}

impl Eq for CycleLog {}

/// The serialized form of a [`CycleLog`]: histogram entries `(cycles, steps)` in ascending order.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CycleLogRepr {
    first: Vec<u64>,
    hist: Vec<(u64, u64)>,
}

impl From<CycleLog> for CycleLogRepr {
    fn from(log: CycleLog) -> CycleLogRepr {
        CycleLogRepr { hist: log.sorted(), first: log.first }
    }
}

impl TryFrom<CycleLogRepr> for CycleLog {
    type Error = String;
    /// Refuses a histogram that is not strictly ascending, has an empty entry or overflows, and
    /// per-step values that are not the histogram's first steps.
    fn try_from(r: CycleLogRepr) -> Result<CycleLog, String> {
        let mut log = CycleLog { first: Vec::new(), ..CycleLog::default() };
        for (k, &(c, n)) in r.hist.iter().enumerate() {
            if n == 0 || (k > 0 && r.hist[k - 1].0 >= c) {
                return Err(format!("cycle histogram entry {k} ({c}: {n}) is empty or out of order"));
            }
            log.steps = log.steps.checked_add(n).ok_or("cycle histogram overflows")?;
            log.total = c.checked_mul(n).and_then(|x| log.total.checked_add(x)).ok_or("cycle total overflows")?;
            *log.slot(c) = n;
        }
        let expect = log.steps.min(CycleLog::KEPT as u64) as usize;
        let mut seen: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
        for &c in &r.first {
            *seen.entry(c).or_default() += 1;
        }
        if r.first.len() != expect || seen.iter().any(|(&c, &n)| log.count(c) < n) {
            return Err(format!(
                "{} per-step cycle counts do not fit a histogram of {} steps",
                r.first.len(),
                log.steps
            ));
        }
        log.first = r.first;
        Ok(log)
    }
}

impl CycleLog {
    /// Steps whose own cycle count is kept ([`CycleLog::first`]).
    pub const KEPT: usize = 1 << 16;

    /// Cycle counts below this are counted in a dense array.
    const DENSE: u64 = 1 << 16;

    /// The counter of `cycles`.
    #[inline]
    fn slot(&mut self, cycles: u64) -> &mut u64 {
        if cycles < Self::DENSE {
            let c = cycles as usize;
            if c >= self.dense.len() {
                self.dense.resize(c + 1, 0);
            }
            &mut self.dense[c]
        } else {
            self.hist.entry(cycles).or_default()
        }
    }

    /// Steps of `cycles` cycles.
    fn count(&self, cycles: u64) -> u64 {
        if cycles < Self::DENSE {
            self.dense.get(cycles as usize).copied().unwrap_or(0)
        } else {
            self.hist.get(&cycles).copied().unwrap_or(0)
        }
    }

    /// Log one step of `cycles`.
    #[inline]
    pub fn push(&mut self, cycles: u64) {
        if self.first.len() < Self::KEPT {
            self.first.push(cycles);
        }
        *self.slot(cycles) += 1;
        self.steps += 1;
        self.total = self.total.saturating_add(cycles);
    }

    /// The cycles of each of the first `min(steps, KEPT)` steps.
    pub fn first(&self) -> &[u64] {
        &self.first
    }

    /// Steps logged.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// `(cycles, steps)` in ascending order of cycles.
    pub fn sorted(&self) -> Vec<(u64, u64)> {
        let dense = self.dense.iter().enumerate().filter(|(_, &n)| n > 0).map(|(c, &n)| (c as u64, n));
        let mut wide: Vec<(u64, u64)> = self.hist.iter().map(|(&c, &n)| (c, n)).collect();
        wide.sort_unstable();
        dense.chain(wide).collect()
    }

    /// `(min, median, max, total)`; the median is the value at index `steps / 2` of the sorted
    /// steps (0 for an empty log).
    pub fn summary(&self) -> (u64, u64, u64, u64) {
        let v = self.sorted();
        let (Some(&(min, _)), Some(&(max, _))) = (v.first(), v.last()) else { return (0, 0, 0, 0) };
        let mid = self.steps / 2;
        let mut seen = 0;
        let mut median = max;
        for &(c, n) in &v {
            seen += n;
            if seen > mid {
                median = c;
                break;
            }
        }
        (min, median, max, self.total)
    }
}

#[cfg(test)]
mod cycle_log_tests {
    //! The histogram against the per-step list it replaces.
    use super::CycleLog;
    use nm_isa::rng::HwRng;

    /// `(min, value at index len / 2 of the sorted list, max, sum)`: what the stats computed
    /// from the list of every step's cycles.
    fn by_sorting(xs: &[u64]) -> (u64, u64, u64, u64) {
        let mut v = xs.to_vec();
        v.sort_unstable();
        (
            v.first().copied().unwrap_or(0),
            v.get(v.len() / 2).copied().unwrap_or(0),
            v.last().copied().unwrap_or(0),
            v.iter().sum(),
        )
    }

    #[test]
    fn summary_equals_the_sorted_list() {
        let mut r = HwRng::new(5, 0);
        for len in [0usize, 1, 2, 3, 10, 101, 1000, CycleLog::KEPT + 3] {
            for spread in [1u32, 7, 1000, u32::MAX] {
                let xs: Vec<u64> = (0..len).map(|_| 16 + u64::from(r.next_u32() % spread)).collect();
                let mut log = CycleLog::default();
                for &x in &xs {
                    log.push(x);
                }
                assert_eq!(log.summary(), by_sorting(&xs), "len {len}, spread {spread}");
                assert_eq!(log.steps(), len as u64);
                assert_eq!(log.first(), &xs[..len.min(CycleLog::KEPT)]);
                let json = serde_json::to_string(&log).unwrap();
                let back: CycleLog = serde_json::from_str(&json).unwrap();
                assert_eq!(back, log);
                assert_eq!(serde_json::to_string(&back).unwrap(), json, "the bytes are canonical");
            }
        }
    }

    #[test]
    fn damaged_histograms_are_refused() {
        let ok = r#"{"first":[5,3,5],"hist":[[3,1],[5,2]]}"#;
        assert!(serde_json::from_str::<CycleLog>(ok).is_ok());
        for bad in [
            r#"{"first":[5,3,5],"hist":[[5,2],[3,1]]}"#,
            r#"{"first":[5,3,5],"hist":[[3,1],[5,2],[9,0]]}"#,
            r#"{"first":[5,3],"hist":[[3,1],[5,2]]}"#,
            r#"{"first":[5,3,3],"hist":[[3,1],[5,2]]}"#,
            r#"{"first":[],"hist":[[3,18446744073709551615],[5,2]]}"#,
            r#"{"first":[],"hist":[[18446744073709551615,2]]}"#,
        ] {
            assert!(serde_json::from_str::<CycleLog>(bad).is_err(), "{bad}");
        }
    }
}
