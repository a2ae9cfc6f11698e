//! Robustness of learning under hardware faults: paper 1's winner selection
//! (`programs/stdp_select.nm`) run on emulated chips with injected faults (lost packets,
//! stuck-at synapses, bit flips in weight memory), over many chip and fault seeds. Shared by the
//! property test `tests/tests/robustness.rs` and the `nm-robustness` binary, which writes the
//! table of `docs/robustness.md`.
//!
//! One run: compile the program once; for chip seed `s` run it with `RunConfig` from
//! [`crate::chip::config`]`(s, false, Some(s))` (chip instance `s`, noise seed `s + 0x5eed`, input
//! and learning seed `s`) and fault seed `s + FAULT_SEED_OFFSET`. Outcome: whether the input with
//! the largest final `p_i` (below) is `argmax λ_i g_i` (`g_i` the synapse's efficacy gain on that
//! chip instance: the answer of the fault-free chip, as in `learning-rules.md`), and the final
//! `p_max = max_i λ_i g_i w_i / Σ_j λ_j g_j w_j`.

use crate::chip;
use crate::reference::stdp_select::RATES;
use nm_emulator::faults::{FaultConfig, FaultStats};
use nm_emulator::Emulator;
use nm_isa::faults::FaultMap;
use nm_isa::Program;
use rayon::prelude::*;

/// Fault seed of chip seed `s`: `s + FAULT_SEED_OFFSET`.
pub const FAULT_SEED_OFFSET: u64 = 1000;

/// A fault level of the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    pub packet_drop: f64,
    pub stuck_fraction: f64,
    pub bit_flip_rate: f64,
}

impl Level {
    pub const fn new(packet_drop: f64, stuck_fraction: f64, bit_flip_rate: f64) -> Level {
        Level { packet_drop, stuck_fraction, bit_flip_rate }
    }

    pub fn map(&self) -> FaultMap {
        FaultMap {
            packet_drop: self.packet_drop,
            stuck_fraction: self.stuck_fraction,
            bit_flip_rate: self.bit_flip_rate,
            ..FaultMap::default()
        }
    }
}

/// The fault levels of the table in `docs/robustness.md`.
pub const LEVELS: &[Level] = &[
    Level::new(0.0, 0.0, 0.0),
    Level::new(0.05, 0.0, 0.0),
    Level::new(0.2, 0.0, 0.0),
    Level::new(0.5, 0.0, 0.0),
    Level::new(0.0, 0.01, 0.0),
    Level::new(0.05, 0.01, 0.0),
    Level::new(0.0, 0.05, 0.0),
    Level::new(0.0, 0.1, 0.0),
    Level::new(0.0, 0.0, 1e-7),
    Level::new(0.0, 0.0, 1e-6),
    Level::new(0.0, 0.0, 1e-5),
    Level::new(0.05, 0.01, 1e-6),
];

/// What one run found.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub chip_seed: u64,
    pub fault_seed: u64,
    /// Input channel with the largest final `p_i = λ_i g_i w_i / Σ_j λ_j g_j w_j` (lowest index
    /// on ties), as the float reference defines the winner.
    pub chip_winner: usize,
    /// `argmax λ_i g_i`.
    pub target: usize,
    pub p_max: f64,
    /// Synapses of the 10 that are stuck, and whether the target's is one of them.
    pub stuck: usize,
    pub target_stuck: bool,
    pub post_spikes: u64,
    pub faults: FaultStats,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.chip_winner == self.target
    }
}

/// The `sim` item the robustness table was measured with: 1 ms steps for 200 s (the
/// reproduction in `chip_stdp_select.rs` uses 0.1 ms steps for 300 s, where a step rarely holds
/// two input spikes; here 1 ms keeps the 12 × 40 faulty runs fast, and per-step fault rates
/// such as bit flips are per 1 ms step).
pub const SIM: &str = "sim { dt = 1 ms; duration = 200 s; seed = 1 }";

/// The program of the experiment (`programs/stdp_select.nm` with [`SIM`]), compiled once.
pub fn program() -> Program {
    let text = chip::with_sim(&chip::program_text("stdp_select.nm"), SIM);
    chip::compile("stdp_select.nm", &text)
}

/// Synapse index (on the only core) of every input channel.
fn synapse_of_channel(p: &Program) -> Vec<usize> {
    let core = &p.cores[0];
    let inp = &p.inputs[0];
    (0..inp.channels)
        .map(|ch| {
            let key = inp.key_base + ch;
            let m = core
                .axon_map
                .iter()
                .find(|m| key >= m.key_base && key - m.key_base < m.count)
                .expect("every channel reaches the neuron");
            core.axons[(m.axon_base + key - m.key_base) as usize].first as usize
        })
        .collect()
}

/// Run the experiment on chip seed `chip_seed` at `level`, for `steps` steps (the program's
/// 200 s when `None`).
pub fn run_one(p: &Program, level: &Level, chip_seed: u64, steps: Option<u64>) -> Outcome {
    assert_eq!(p.cores.len(), 1, "stdp_select is one neuron on one core");
    let fault_seed = chip_seed + FAULT_SEED_OFFSET;
    let cfg = chip::config(chip_seed, false, Some(chip_seed));
    let faults = Some(FaultConfig { map: level.map(), seed: fault_seed });
    let mut emu = Emulator::with_faults(p, cfg, faults).unwrap_or_else(|e| panic!("{e}"));
    emu.run(steps.unwrap_or(p.meta.steps));
    let syn = synapse_of_channel(p);
    let rsd = p.chip.mismatch.weight_gain_rsd;
    let devs = emu.deviations();
    let gain: Vec<f64> =
        syn.iter().map(|&s| f64::from(nm_emulator::mismatch::gain_q12(rsd, devs[0].weight_gain[s])) / 4096.0).collect();
    let (_, wr) = emu.synapse_state(0).expect("core 0");
    let w: Vec<f64> = syn.iter().map(|&s| f64::from(wr[s])).collect();
    let argmax = |v: &[f64]| (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b });
    let drive: Vec<f64> = (0..w.len()).map(|i| RATES[i] * gain[i]).collect();
    let target = argmax(&drive);
    let eff: Vec<f64> = (0..w.len()).map(|i| drive[i] * w[i]).collect();
    let chip_winner = argmax(&eff);
    let total: f64 = eff.iter().sum();
    let p_max = if total > 0.0 { (0..w.len()).map(|i| drive[i] * w[i]).fold(0.0, f64::max) / total } else { 0.0 };
    let stuck_set: Vec<u32> = emu.stuck_synapses(0).iter().map(|x| x.0).collect();
    let stuck = syn.iter().filter(|&&s| stuck_set.contains(&(s as u32))).count();
    Outcome {
        chip_seed,
        fault_seed,
        chip_winner,
        target,
        p_max,
        stuck,
        target_stuck: stuck_set.contains(&(syn[target] as u32)),
        post_spikes: emu.stats().spikes,
        faults: emu.fault_stats().unwrap_or_default(),
    }
}

/// Runs of chip seeds `seeds` at `level`, in seed order (in parallel; results do not depend on it).
pub fn sweep(p: &Program, level: &Level, seeds: &[u64], steps: Option<u64>) -> Vec<Outcome> {
    seeds.par_iter().map(|&s| run_one(p, level, s, steps)).collect()
}

/// Median of `v` (0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// One table row (markdown) of a level's outcomes.
pub fn table_row(level: &Level, runs: &[Outcome]) -> String {
    let ok = runs.iter().filter(|o| o.ok()).count();
    let with_stuck = runs.iter().filter(|o| o.stuck > 0).count();
    let target_stuck = runs.iter().filter(|o| o.target_stuck).count();
    let ok_target_free = runs.iter().filter(|o| !o.target_stuck && o.ok()).count();
    let n_target_free = runs.len() - target_stuck;
    let lost: u64 = runs.iter().map(|o| o.faults.lost_spikes.total).sum();
    let flips: u64 = runs.iter().map(|o| o.faults.bit_flips).sum();
    let spikes = median(runs.iter().map(|o| o.post_spikes as f64).collect());
    format!(
        "| {:.0} % | {:.0} % | {} | **{ok}/{}** | {ok_target_free}/{n_target_free} | {with_stuck} / {target_stuck} | {:.3} | {:.0} | {} | {} |",
        100.0 * level.packet_drop,
        100.0 * level.stuck_fraction,
        if level.bit_flip_rate == 0.0 { "0".to_string() } else { format!("{:.0e}", level.bit_flip_rate) },
        runs.len(),
        median(runs.iter().map(|o| o.p_max).collect()),
        spikes,
        lost / runs.len().max(1) as u64,
        flips / runs.len().max(1) as u64,
    )
}

/// The header of [`table_row`]'s table.
pub const TABLE_HEADER: &str = "| packet drop per link | stuck synapses | bit flips per bit per step | winner = argmax λg | … where the winner's synapse is not stuck | runs with a stuck synapse / with the winner's stuck | median final p_max | median post spikes | lost spikes per run | bit flips per run |\n|---|---|---|---|---|---|---|---|---|---|";
