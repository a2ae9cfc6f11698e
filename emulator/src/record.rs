//! Probes: what a run records (spikes of populations, sampled neuron state, weights of
//! projections, signal values), resolved once from the program's symbols to runtime indices.

use crate::core::{CoreParams, CoreState};
use crate::error::EmuError;
use nm_isa::program::{Probe, ProbeKind, Program, StateVar};
use serde::{Deserialize, Serialize};

/// Recorded spikes of one spike probe.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpikeRecord {
    pub name: String,
    pub population: String,
    /// Step of each spike.
    pub times: Vec<i64>,
    /// Neuron index within the population.
    pub ids: Vec<i32>,
}

/// A sampled series: `data` holds `steps.len()` rows of `width` values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesRecord {
    pub name: String,
    /// `state:<var>`, `weights` or `signal`.
    pub what: String,
    /// Population, projection or signal name.
    pub of: String,
    pub every: u32,
    pub width: usize,
    pub steps: Vec<u64>,
    pub data: Vec<i32>,
}

/// Everything recorded so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recordings {
    pub spikes: Vec<SpikeRecord>,
    pub series: Vec<SeriesRecord>,
}

/// How a probe reads the state.
#[derive(Clone, Debug)]
enum Source {
    /// `(core index, local neuron)` per population neuron.
    Neurons(Vec<(u32, u32)>, StateVar),
    /// `(core index, synapse)` per synapse of the projection.
    Synapses(Vec<(u32, u32)>),
    Signal(u8),
}

/// The resolved probes.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    /// Per spike probe, per core: population index of each local neuron, or -1.
    spike_maps: Vec<Vec<Vec<i32>>>,
    /// Per spike probe, per core: `b` if the core's map is `b, b + 1, …` (the core holds a
    /// contiguous piece of the population, the usual case), else `i32::MIN`: such a core's
    /// spikes are recorded without reading its map.
    spike_offsets: Vec<Vec<i32>>,
    series: Vec<(Source, u32)>,
    /// Per core: whether any spike probe covers it.
    pub core_recorded: Vec<bool>,
}

impl Recorder {
    /// Per core (of `ncores`): whether a state probe reads its neurons (`V`, `U`, ...).
    pub fn state_probed(&self, ncores: usize) -> Vec<bool> {
        let mut out = vec![false; ncores];
        for (src, _) in &self.series {
            if let Source::Neurons(ns, _) = src {
                for &(ci, _) in ns {
                    if let Some(x) = out.get_mut(ci as usize) {
                        *x = true;
                    }
                }
            }
        }
        out
    }
}

fn pop_neurons(
    program: &Program,
    pop: u32,
    index_of: &dyn Fn(u32) -> Option<u32>,
) -> Result<Vec<(u32, u32)>, EmuError> {
    let info = program
        .symbols
        .populations
        .get(pop as usize)
        .ok_or_else(|| EmuError::Program(format!("probe names population {pop}, which does not exist")))?;
    // Found by the checkpoint fuzz target: a size of 2^32 - 1 allocated 32 GiB here. Every
    // recorded neuron lives on a core, so the program's neurons bound a probed population.
    let neurons = program.neuron_count();
    if u64::from(info.size) > neurons {
        return Err(EmuError::Program(format!(
            "probed population `{}` has size {}, above the {neurons} neurons of the program",
            info.name, info.size
        )));
    }
    let mut out = vec![(u32::MAX, 0); info.size as usize];
    for sl in &info.slices {
        let ci = index_of(sl.core.0).ok_or_else(|| {
            EmuError::Program(format!("population `{}` has a slice on unused core {}", info.name, sl.core))
        })?;
        let n = program.cores[ci as usize].neurons.len() as u64;
        if u64::from(sl.first) + u64::from(sl.len) > n
            || u64::from(sl.offset) + u64::from(sl.len) > u64::from(info.size)
        {
            return Err(EmuError::Program(format!("population `{}`: slice out of range", info.name)));
        }
        for k in 0..sl.len {
            out[(sl.offset + k) as usize] = (ci, sl.first + k);
        }
    }
    Ok(out)
}

/// `b` if `map` is `b, b + 1, …` with `b ≥ 0` (and not empty), else `i32::MIN`.
fn contiguous_base(map: &[i32]) -> i32 {
    match map.first() {
        // Entries below 0 become `u32` values above `i32::MAX`: never the run's next one.
        Some(&b) if b >= 0 => i32::try_from(crate::core::run_start(map.iter().map(|&x| x as u32))).unwrap_or(i32::MIN),
        _ => i32::MIN,
    }
}

impl Recorder {
    pub fn new(program: &Program) -> Result<(Recorder, Recordings), EmuError> {
        let index: std::collections::HashMap<u32, u32> =
            program.cores.iter().enumerate().map(|(i, c)| (c.id.0, i as u32)).collect();
        let index_of = |id: u32| index.get(&id).copied();
        let mut r = Recorder { core_recorded: vec![false; program.cores.len()], ..Recorder::default() };
        let mut recs = Recordings::default();
        for Probe { name, kind, every } in &program.probes {
            let every = (*every).max(1);
            match *kind {
                ProbeKind::Spikes { pop } => {
                    let ns = pop_neurons(program, pop.0, &index_of)?;
                    let mut maps: Vec<Vec<i32>> = program.cores.iter().map(|c| vec![-1; c.neurons.len()]).collect();
                    for (k, &(ci, li)) in ns.iter().enumerate() {
                        if ci != u32::MAX {
                            maps[ci as usize][li as usize] = k as i32;
                            r.core_recorded[ci as usize] = true;
                        }
                    }
                    r.spike_offsets.push(maps.iter().map(|m| contiguous_base(m)).collect());
                    r.spike_maps.push(maps);
                    recs.spikes.push(SpikeRecord {
                        name: name.clone(),
                        population: program.symbols.populations[pop.index()].name.clone(),
                        ..SpikeRecord::default()
                    });
                }
                ProbeKind::State { pop, var } => {
                    let ns = pop_neurons(program, pop.0, &index_of)?;
                    recs.series.push(SeriesRecord {
                        name: name.clone(),
                        what: format!("state:{var:?}").to_lowercase(),
                        of: program.symbols.populations[pop.index()].name.clone(),
                        every,
                        width: ns.len(),
                        ..SeriesRecord::default()
                    });
                    r.series.push((Source::Neurons(ns, var), every));
                }
                ProbeKind::Weights { proj } => {
                    let mut syns = Vec::new();
                    for (ci, c) in program.cores.iter().enumerate() {
                        for (si, s) in c.synapses.iter().enumerate() {
                            if c.groups.get(usize::from(s.group)).is_some_and(|g| g.proj == proj) {
                                syns.push((ci as u32, si as u32));
                            }
                        }
                    }
                    let of = program
                        .symbols
                        .projections
                        .get(proj.index())
                        .map_or_else(|| format!("proj{}", proj.0), |p| p.name.clone());
                    recs.series.push(SeriesRecord {
                        name: name.clone(),
                        what: "weights".into(),
                        of,
                        every,
                        width: syns.len(),
                        ..SeriesRecord::default()
                    });
                    r.series.push((Source::Synapses(syns), every));
                }
                ProbeKind::Signal { signal } => {
                    let of = program
                        .signals
                        .iter()
                        .find(|s| s.id == signal)
                        .map_or_else(|| format!("sig{}", signal.0), |s| s.name.clone());
                    recs.series.push(SeriesRecord {
                        name: name.clone(),
                        what: "signal".into(),
                        of,
                        every,
                        width: 1,
                        ..SeriesRecord::default()
                    });
                    r.series.push((Source::Signal(signal.0), every));
                }
            }
        }
        Ok((r, recs))
    }

    /// Record the spikes of core `ci` at step `t`.
    pub fn spikes(&self, recs: &mut Recordings, ci: usize, t: u64, spikes: &[u32]) {
        for (k, maps) in self.spike_maps.iter().enumerate() {
            let rec = &mut recs.spikes[k];
            let base = self.spike_offsets[k][ci];
            if base != i32::MIN {
                // Ids `base + i` for every local neuron `i` of the core.
                for &i in spikes {
                    rec.times.push(t as i64);
                    rec.ids.push(base + i as i32);
                }
                continue;
            }
            let map = &maps[ci];
            for &i in spikes {
                let id = map[i as usize];
                if id >= 0 {
                    rec.times.push(t as i64);
                    rec.ids.push(id);
                }
            }
        }
    }

    /// A series of synapse weights is due at step `t` (its readouts must be settled first, see
    /// `core::Stale`).
    pub fn samples_synapses_at(&self, t: u64) -> bool {
        self.series.iter().any(|(src, every)| matches!(src, Source::Synapses(_)) && t.is_multiple_of(u64::from(*every)))
    }

    /// Sample the series due at step `t`.
    pub fn sample(
        &self,
        recs: &mut Recordings,
        t: u64,
        params: &[CoreParams],
        states: &[CoreState],
        signal_value: &dyn Fn(u8) -> i32,
    ) {
        for (k, (src, every)) in self.series.iter().enumerate() {
            if !t.is_multiple_of(u64::from(*every)) {
                continue;
            }
            let rec = &mut recs.series[k];
            rec.steps.push(t);
            match src {
                Source::Neurons(ns, var) => {
                    for &(ci, li) in ns {
                        rec.data.push(if ci == u32::MAX {
                            0
                        } else {
                            neuron_value(&params[ci as usize], &states[ci as usize], li as usize, *var, t)
                        });
                    }
                }
                Source::Synapses(ss) => {
                    for &(ci, si) in ss {
                        rec.data.push(states[ci as usize].wr[si as usize]);
                    }
                }
                Source::Signal(id) => rec.data.push(signal_value(*id)),
            }
        }
    }
}

/// The value of `var` of neuron `i` after step `t`.
pub fn neuron_value(p: &CoreParams, s: &CoreState, i: usize, var: StateVar, t: u64) -> i32 {
    match var {
        StateVar::V => s.v[i],
        StateVar::U => s.u[i],
        StateVar::Y => match p.kind[i] {
            nm_isa::neuron::NeuronKind::Lif => i32::from(s.spike_step[i] == t + 1),
            _ => s.y[i],
        },
        StateVar::Trace0 | StateVar::Trace1 => {
            let k = usize::from(var == StateVar::Trace1);
            s.rules.iter().find_map(|r| r.y[k].get(i).copied()).unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    //! The recorder's shortcut for cores that hold a contiguous piece of a population.
    use super::contiguous_base;

    #[test]
    fn a_core_map_is_contiguous_only_if_every_entry_follows_the_first() {
        assert_eq!(contiguous_base(&[0, 1, 2]), 0);
        assert_eq!(contiguous_base(&[7]), 7);
        assert_eq!(contiguous_base(&[5, 6, 7, 8]), 5);
        // Not recorded, a gap, a neuron of the core outside the population, a reordering.
        for map in [&[][..], &[-1, -1], &[0, 2], &[3, 4, -1], &[-1, 0, 1], &[1, 0]] {
            assert_eq!(contiguous_base(map), i32::MIN, "{map:?}");
        }
    }
}
