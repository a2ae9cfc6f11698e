//! Fault injection: the run-time form of an `nm_isa::faults::FaultMap` (dead cores, dead and
//! lossy links, stuck-at synapses, bit flips in weight memory) and its counters.
//!
//! Everything random is drawn from the fault seed, from streams of its own, in a fixed order, so
//! a faulty run is bit-reproducible from (program, chip seed, noise seed, fault map, fault seed),
//! for any thread count, and resumes bit-identically from a checkpoint (the fault PRNG states
//! are part of it). When no fault map is given the emulator holds no [`FaultRuntime`] and the
//! step loop does not look at faults at all.
//!
//! - **Dead core**: the core and its router. Its neurons are never updated (no spikes), every
//!   packet that reaches its router is lost, with everything downstream of it.
//! - **Dead link**: carries nothing either way; the packet's subtree beyond it is lost.
//! - **Lossy link**: `packet_drop` on every link a packet takes (including the last link from the
//!   destination router into its core), combined with the link's own `link_drop`; one draw per
//!   link of the packet's multicast tree, parents before children, in routing order.
//! - **Stuck synapse**: its accumulator is forced to the stuck weight at load and again after
//!   every step's learning phase and bit flips (handlers of that step see their own write until
//!   the end of the step).
//! - **Bit flips**: every bit of every accumulator of the used cores flips with probability
//!   `bit_flip_rate` per step, after the learning phase; positions come from geometric gaps over
//!   the (step, bit) sequence, so the cost is per flip, not per bit. The readout is recomputed
//!   rounding to nearest.
//!
//! A *lost spike* is one (packet, destination axon) delivery that the fault-free chip would make.
//! The mesh cycles and energy of a faulty run are charged for the whole tree (an upper bound).

use crate::core::{refresh_weight, CoreParams, CoreState, Formats};
use crate::inputs::det_ln;
use nm_isa::faults::{p_q32, FaultMap};
use nm_isa::fixed_point::Rounding;
use nm_isa::program::Program;
use nm_isa::rng::HwRng;
use serde::{Deserialize, Serialize};

/// A fault map and the seed of its random draws.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultConfig {
    pub map: FaultMap,
    pub seed: u64,
}

/// Spikes (deliveries) lost, per cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostSpikes {
    pub dead_core: u64,
    pub dead_link: u64,
    pub dropped: u64,
    pub total: u64,
}

/// Injected faults and their effect (`stats.json` field `faults`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    pub fault_seed: u64,
    /// Dead cores of the map (whether or not the program uses them).
    pub dead_cores: u64,
    /// Dead links of the map.
    pub dead_links: u64,
    /// Synapse slots of the program's cores that are stuck.
    pub stuck_synapses: u64,
    /// Bits flipped so far.
    pub bit_flips: u64,
    /// Packet copies lost on a lossy link so far (one per failed draw).
    pub packets_dropped: u64,
    pub lost_spikes: LostSpikes,
}

/// Stream ids of the fault PRNGs (seeded with the fault seed).
pub mod streams {
    /// Packet drops (one stream for the whole system; routing is serial).
    pub const DROP: u64 = 7 << 48;
    /// Bit-flip positions.
    pub const FLIP: u64 = (7 << 48) | 1;
    /// Stuck-at selection of core `c`.
    pub fn stuck(core: u32) -> u64 {
        (8 << 48) | u64::from(core)
    }
}

/// The mutable part (checkpointed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultState {
    pub drop_rng: HwRng,
    pub flip_rng: HwRng,
    /// Absolute position `step · bits + bit` of the next flip (`u64::MAX`: none).
    pub next_flip: u64,
    pub stats: FaultStats,
}

/// Per-source tree data of a faulty routing, aligned with [`crate::route::FanoutTable`].
#[derive(Clone, Debug, Default)]
pub struct FaultTree {
    /// Lossy links of source `i`: `hop_start[i] .. hop_start[i + 1]`.
    pub hop_start: Vec<u32>,
    /// Parent hop (absolute index) or `u32::MAX` at the root; parents come first.
    pub hop_parent: Vec<u32>,
    /// Loss threshold of the hop ([`p_q32`]).
    pub hop_q32: Vec<u64>,
    /// Per destination of the fan-out table: the last lossy hop on its path (`u32::MAX`: none).
    pub dest_hop: Vec<u32>,
    /// Per source: deliveries lost every time it sends, to dead cores and to dead links.
    pub lost_core: Vec<u32>,
    pub lost_link: Vec<u32>,
}

/// Faults as the step loop uses them.
#[derive(Debug)]
pub struct FaultRuntime {
    pub cfg: FaultConfig,
    pub tree: FaultTree,
    /// Per runtime core: stuck synapses `(synapse, accumulator)`, sorted by synapse.
    pub stuck: Vec<Vec<(u32, i32)>>,
    /// Per runtime core: the stuck synapses of plastic groups (only learning or a bit flip can
    /// move a stuck synapse, so only these are forced back every step).
    stuck_plastic: Vec<Vec<(u32, i32)>>,
    /// Cumulative accumulator bits before each runtime core (last: total bits).
    pub bit_base: Vec<u64>,
    flip_q: f64,
    pub state: FaultState,
    alive: Vec<bool>,
}

impl FaultRuntime {
    /// Build the per-core parts for `program` (the routing part is filled by the router).
    pub fn new(cfg: FaultConfig, program: &Program, tree: FaultTree) -> FaultRuntime {
        let spec = &program.chip;
        let f = &spec.formats;
        let shift = u32::from(f.accumulator_bits) - u32::from(f.weight_bits) - 2;
        let wmax = spec.weight_max();
        let q_stuck = p_q32(cfg.map.stuck_fraction);
        let mut stuck = Vec::with_capacity(program.cores.len());
        let mut bit_base = vec![0u64];
        for c in &program.cores {
            let mut list: Vec<(u32, i32)> = Vec::new();
            if q_stuck > 0 {
                let mut rng = HwRng::new(cfg.seed, streams::stuck(c.id.0));
                for si in 0..c.synapses.len() as u32 {
                    let (a, b) = (rng.next_u32(), rng.next_u32());
                    if u64::from(a) < q_stuck {
                        let w = if b >> 31 == 0 { 0 } else { wmax };
                        list.push((si, w << shift));
                    }
                }
            }
            for s in cfg.map.stuck.iter().filter(|s| s.core == c.id.0 && (s.synapse as usize) < c.synapses.len()) {
                let acc = s.weight << shift;
                match list.binary_search_by_key(&s.synapse, |x| x.0) {
                    Ok(k) => list[k].1 = acc,
                    Err(k) => list.insert(k, (s.synapse, acc)),
                }
            }
            stuck.push(list);
            let last = *bit_base.last().unwrap_or(&0);
            bit_base.push(last + c.synapses.len() as u64 * u64::from(f.accumulator_bits));
        }
        let stats = FaultStats {
            fault_seed: cfg.seed,
            dead_cores: cfg.map.dead_cores.len() as u64,
            dead_links: cfg.map.dead_links.len() as u64,
            stuck_synapses: stuck.iter().map(|l| l.len() as u64).sum(),
            ..FaultStats::default()
        };
        let r = cfg.map.bit_flip_rate;
        let flip_q = if r > 0.0 && r < 1.0 { det_ln(1.0 - r) } else { 0.0 };
        let mut state = FaultState {
            drop_rng: HwRng::new(cfg.seed, streams::DROP),
            flip_rng: HwRng::new(cfg.seed, streams::FLIP),
            next_flip: u64::MAX,
            stats,
        };
        let total_bits = *bit_base.last().unwrap_or(&0);
        if r > 0.0 && total_bits > 0 {
            state.next_flip = gap(&mut state.flip_rng, r, flip_q);
        }
        let max_hops = tree.hop_start.windows(2).map(|w| (w[1] - w[0]) as usize).max().unwrap_or(0);
        FaultRuntime {
            cfg,
            tree,
            stuck,
            stuck_plastic: Vec::new(),
            bit_base,
            flip_q,
            state,
            alive: vec![false; max_hops],
        }
    }

    /// Force the stuck synapses of every core once and note the plastic ones (at load).
    pub fn prepare(&mut self, params: &[CoreParams], states: &mut [CoreState], fm: &Formats) {
        self.stuck_plastic = params
            .iter()
            .zip(&self.stuck)
            .map(|(p, l)| l.iter().copied().filter(|&(si, _)| p.syn_rule[si as usize] != u8::MAX).collect())
            .collect();
        for (ci, (p, s)) in params.iter().zip(states.iter_mut()).enumerate() {
            self.apply_stuck(ci, p, s, fm);
        }
    }

    /// Force every stuck synapse of runtime core `ci` to its value.
    pub fn apply_stuck(&self, ci: usize, p: &CoreParams, s: &mut CoreState, fm: &Formats) {
        for &(si, acc) in &self.stuck[ci] {
            force(p, s, si as usize, acc, fm);
        }
    }

    /// Bit flips of step `t` (after the learning phase), then the stuck synapses.
    pub fn end_of_step(&mut self, t: u64, params: &[CoreParams], states: &mut [CoreState], fm: &Formats) {
        let total = *self.bit_base.last().unwrap_or(&0);
        if total > 0 && self.state.next_flip != u64::MAX {
            let end = (t + 1).saturating_mul(total);
            let ab = u32::from(fm.accumulator_bits);
            let mask = if ab >= 32 { u32::MAX } else { (1u32 << ab) - 1 };
            while self.state.next_flip < end {
                let pos = self.state.next_flip % total;
                let ci = self.bit_base.partition_point(|&b| b <= pos) - 1;
                let off = pos - self.bit_base[ci];
                let (si, bit) = ((off / u64::from(ab)) as usize, (off % u64::from(ab)) as u32);
                if !params[ci].dead {
                    let s = &mut states[ci];
                    let raw = (s.acc[si] as u32 & mask) ^ (1 << bit);
                    // Sign-extend the accumulator word back.
                    s.acc[si] = ((raw << (32 - ab)) as i32) >> (32 - ab);
                    refresh_weight(&params[ci], s, si, Rounding::Nearest, fm);
                    self.state.stats.bit_flips += 1;
                    if let Ok(k) = self.stuck[ci].binary_search_by_key(&(si as u32), |x| x.0) {
                        force(&params[ci], s, si, self.stuck[ci][k].1, fm);
                    }
                }
                let g = gap(&mut self.state.flip_rng, self.cfg.map.bit_flip_rate, self.flip_q);
                self.state.next_flip = self.state.next_flip.saturating_add(1).saturating_add(g);
            }
        }
        for (ci, p) in params.iter().enumerate() {
            if !p.dead {
                for &(si, acc) in &self.stuck_plastic[ci] {
                    force(p, &mut states[ci], si as usize, acc, fm);
                }
            }
        }
    }

    /// Which destinations of source `src` receive this packet: fills `keep` (one flag per
    /// destination of the fan-out range) and counts losses.
    #[inline]
    pub fn filter(&mut self, src: usize, ndest: usize, dest_first: usize, keep: &mut Vec<bool>) {
        let t = &self.tree;
        let st = &mut self.state.stats;
        let lc = u64::from(t.lost_core[src]);
        let ll = u64::from(t.lost_link[src]);
        st.lost_spikes.dead_core += lc;
        st.lost_spikes.dead_link += ll;
        st.lost_spikes.total += lc + ll;
        keep.clear();
        let (ha, hb) = (t.hop_start[src] as usize, t.hop_start[src + 1] as usize);
        if ha == hb {
            keep.resize(ndest, true);
            return;
        }
        for h in ha..hb {
            let parent = t.hop_parent[h];
            let up = parent == u32::MAX || self.alive[parent as usize - ha];
            let ok = if up {
                let lost = u64::from(self.state.drop_rng.next_u32()) < t.hop_q32[h];
                st.packets_dropped += u64::from(lost);
                !lost
            } else {
                false
            };
            self.alive[h - ha] = ok;
        }
        for d in dest_first..dest_first + ndest {
            let h = t.dest_hop[d];
            let ok = h == u32::MAX || self.alive[h as usize - ha];
            if !ok {
                st.lost_spikes.dropped += 1;
                st.lost_spikes.total += 1;
            }
            keep.push(ok);
        }
    }
}

/// Set synapse `si`'s accumulator to `acc` (and its readout) if it differs.
#[inline]
fn force(p: &CoreParams, s: &mut CoreState, si: usize, acc: i32, fm: &Formats) {
    if s.acc[si] != acc {
        s.acc[si] = acc;
        refresh_weight(p, s, si, Rounding::Nearest, fm);
    }
}

/// Geometric gap: failures before the next success of probability `r` (`lnq = ln(1 − r)`).
fn gap(rng: &mut HwRng, r: f64, lnq: f64) -> u64 {
    if r >= 1.0 {
        return 0;
    }
    let u = (f64::from(rng.next_u32()) + 1.0) / 4_294_967_296.0;
    let g = (det_ln(u) / lnq).floor();
    if g.is_finite() && g < 1.8e19 {
        g as u64
    } else {
        u64::MAX / 2
    }
}
