//! Run statistics: counts, cycles per step, chip time and real-time factors, energy by
//! component, seeds and drawn mismatch spreads; written as `stats.json`.

use crate::engine::Emulator;
use crate::faults::FaultStats;
use crate::mismatch::Spreads;
use crate::timing::{Counts, Energy};
use serde::{Deserialize, Serialize};

/// Cycles per step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CycleStats {
    pub min: u64,
    pub median: u64,
    pub max: u64,
    pub total: u64,
}

/// The seeds that make a run reproducible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeds {
    pub chip_seed: u64,
    pub noise_seed: u64,
    pub program_seed: u64,
    pub ideal: bool,
}

/// Everything `stats.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub program: String,
    pub chip: String,
    pub steps: u64,
    pub dt_ns: u64,
    pub neurons: u64,
    pub synapses: u64,
    pub spikes: u64,
    pub synaptic_events: u64,
    pub learning_invocations: u64,
    pub learning_ops: u64,
    pub packets: u64,
    pub router_hops: u64,
    pub link_crossings: u64,
    pub routing_dropped: u64,
    pub cycles_per_step: CycleStats,
    /// Time the chip takes at its clock, in seconds.
    pub chip_time_s: f64,
    /// Simulated (biological) time, in seconds.
    pub model_time_s: f64,
    /// Model time over chip time (> 1: the chip runs faster than real time).
    pub chip_realtime_factor: f64,
    /// Wall-clock time of the emulator, and model time over it.
    pub wall_time_s: f64,
    pub emulator_realtime_factor: f64,
    pub energy: Energy,
    pub seeds: Seeds,
    pub mismatch: Spreads,
    /// Injected faults and lost spikes (only with a fault map; absent from `stats.json` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultStats>,
}

impl Stats {
    pub fn new(emu: &Emulator, counts: Counts) -> Stats {
        let p = emu.program();
        let (min, median, max, total) = emu.cycle_log().summary();
        let cycles_per_step = CycleStats { min, median, max, total };
        let steps = emu.time();
        let chip_time_s = total as f64 / p.chip.timing.clock_hz;
        let model_time_s = steps as f64 * p.meta.dt_ns as f64 * 1e-9;
        let wall = emu.g.wall_seconds;
        let cfg = emu.config();
        Stats {
            program: p.meta.name.clone(),
            chip: p.chip.name.clone(),
            steps,
            dt_ns: p.meta.dt_ns,
            neurons: p.neuron_count(),
            synapses: p.synapse_count(),
            spikes: emu.g.spikes,
            synaptic_events: counts.synaptic_events,
            learning_invocations: counts.learning_invocations,
            learning_ops: counts.learning_ops,
            packets: counts.packets,
            router_hops: counts.router_hops,
            link_crossings: counts.link_crossings,
            routing_dropped: emu.routing_dropped,
            cycles_per_step,
            chip_time_s,
            model_time_s,
            chip_realtime_factor: if chip_time_s > 0.0 { model_time_s / chip_time_s } else { 0.0 },
            wall_time_s: wall,
            emulator_realtime_factor: if wall > 0.0 { model_time_s / wall } else { 0.0 },
            energy: Energy::from_counts(&p.chip, &counts),
            seeds: Seeds {
                chip_seed: cfg.chip_seed,
                noise_seed: cfg.noise_seed,
                program_seed: emu.seed(),
                ideal: cfg.ideal,
            },
            mismatch: emu.spreads(),
            faults: emu.fault_stats(),
        }
    }

    /// A short human summary (with a line on faults when the run had a fault map).
    pub fn summary(&self) -> String {
        let mut s = self.summary_base();
        if let Some(f) = &self.faults {
            s.push_str(&format!(
                "\nfaults (fault seed {}): {} dead cores, {} dead links, {} stuck synapses, {} bit flips, \
                 {} packets dropped; lost spikes {} (dead core {}, dead link {}, dropped {})",
                f.fault_seed,
                f.dead_cores,
                f.dead_links,
                f.stuck_synapses,
                f.bit_flips,
                f.packets_dropped,
                f.lost_spikes.total,
                f.lost_spikes.dead_core,
                f.lost_spikes.dead_link,
                f.lost_spikes.dropped
            ));
        }
        s
    }

    fn summary_base(&self) -> String {
        format!(
            "{} on `{}`: {} steps ({:.3} s model time), {} spikes, {} synaptic events, {} learning ops\n\
             cycles/step min {} median {} max {}; chip time {:.6} s ({:.1}x real time); emulator {:.3} s ({:.2}x real time)\n\
             energy {:.3e} J; seeds: chip {} noise {} program {}{}",
            self.program,
            self.chip,
            self.steps,
            self.model_time_s,
            self.spikes,
            self.synaptic_events,
            self.learning_ops,
            self.cycles_per_step.min,
            self.cycles_per_step.median,
            self.cycles_per_step.max,
            self.chip_time_s,
            self.chip_realtime_factor,
            self.wall_time_s,
            self.emulator_realtime_factor,
            self.energy.total_j,
            self.seeds.chip_seed,
            self.seeds.noise_seed,
            self.seeds.program_seed,
            if self.seeds.ideal { " (ideal chip)" } else { "" }
        )
    }
}
