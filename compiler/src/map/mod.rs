//! Partitioning and placement: per-slice resource demands, the `partition` pass (split
//! populations into slices that each fit a core), and the placement passes (naive sequential,
//! greedy + swap refinement) over the 2-D mesh of a multi-chip system.

mod place;

pub use place::{place, place_avoiding, place_naive, place_naive_avoiding, Grid, SliceGraph};

use crate::ir::{CompileError, Ir, PopId, Slice, SliceId};
use nm_isa::ChipSpec;

/// What a slice (or a core, summed) needs from a core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    pub neurons: u64,
    pub synapses: u64,
    /// Distinct pre-synaptic keys arriving (summed over projections: an upper bound per core).
    pub in_axons: u64,
    /// Neurons that send spikes.
    pub out_axons: u64,
    pub profiles: u64,
    pub learn_instrs: u64,
}

/// Resource names, in [`Demand::get`] order.
pub const RESOURCES: [&str; 6] =
    ["neurons", "synapse memory", "input axons", "output axons", "neuron profiles", "learning instructions"];

impl Demand {
    pub fn get(&self, r: usize) -> u64 {
        [self.neurons, self.synapses, self.in_axons, self.out_axons, self.profiles, self.learn_instrs][r]
    }
    pub fn add(&mut self, o: &Demand) {
        self.neurons += o.neurons;
        self.synapses += o.synapses;
        self.in_axons += o.in_axons;
        self.out_axons += o.out_axons;
        self.profiles += o.profiles;
        self.learn_instrs += o.learn_instrs;
    }
    pub fn sub(&mut self, o: &Demand) {
        self.neurons -= o.neurons;
        self.synapses -= o.synapses;
        self.in_axons -= o.in_axons;
        self.out_axons -= o.out_axons;
        self.profiles -= o.profiles;
        self.learn_instrs -= o.learn_instrs;
    }
    /// Whether `self + extra` fits in `lim`.
    #[inline]
    pub fn fits_with(&self, extra: &Demand, lim: &Demand) -> bool {
        self.neurons + extra.neurons <= lim.neurons
            && self.synapses + extra.synapses <= lim.synapses
            && self.in_axons + extra.in_axons <= lim.in_axons
            && self.out_axons + extra.out_axons <= lim.out_axons
            && self.profiles + extra.profiles <= lim.profiles
            && self.learn_instrs + extra.learn_instrs <= lim.learn_instrs
    }
}

/// The per-core limits of `spec` as a demand vector (synapses as a count).
pub fn core_limits(spec: &ChipSpec) -> Demand {
    let c = &spec.core;
    Demand {
        neurons: u64::from(c.max_neurons),
        synapses: spec.max_synapses_per_core(),
        in_axons: u64::from(c.max_input_axons),
        out_axons: u64::from(c.max_output_axons),
        profiles: u64::from(c.max_profiles),
        learn_instrs: u64::from(c.max_learning_instrs),
    }
}

/// Neuron → slice tables, one per population.
pub(crate) fn slice_tables(ir: &Ir) -> Vec<Vec<u32>> {
    ir.pop_ids()
        .map(|p| {
            let mut t = vec![0u32; ir.pop(p).size as usize];
            for &s in &ir.pop(p).slices {
                let sl = &ir.slices[s.index()];
                t[sl.offset as usize..(sl.offset + sl.len) as usize].fill(s.0);
            }
            t
        })
        .collect()
}

/// Learning instructions the plastic projections into `pop` need: one program rule per
/// distinct (identity, bounds), as code generation shares them.
fn learn_instrs(ir: &Ir, pop: PopId) -> u64 {
    let mut seen: Vec<(&str, u64, u64)> = Vec::new();
    let mut n = 0;
    for j in ir.projs_into(pop) {
        if let Some(pl) = &ir.proj(j).plasticity {
            let id = (pl.rule_name.as_str(), pl.w_min.to_bits(), pl.w_max.to_bits());
            if !seen.contains(&id) {
                seen.push(id);
                n += pl.rule.instr_count() as u64;
            }
        }
    }
    n
}

/// The demand of every slice.
pub fn slice_demands(ir: &Ir) -> Vec<Demand> {
    let tables = slice_tables(ir);
    let instrs: Vec<u64> = ir.pop_ids().map(|p| learn_instrs(ir, p)).collect();
    let mut d: Vec<Demand> = ir
        .slices
        .iter()
        .map(|s| Demand {
            neurons: u64::from(s.len),
            // Every neuron has a key and counts as an output axon (as `Program::validate` counts them).
            out_axons: u64::from(s.len),
            profiles: 1,
            learn_instrs: instrs[s.pop.index()],
            ..Demand::default()
        })
        .collect();
    for j in ir.proj_ids() {
        let pj = ir.proj(j);
        let table = &tables[pj.post.index()];
        for pre in 0..pj.conn.pre_size {
            let mut last = u32::MAX;
            for &post in pj.conn.row_posts(pre) {
                let s = table[post as usize];
                d[s as usize].synapses += 1;
                if s != last {
                    d[s as usize].in_axons += 1;
                    last = s;
                }
            }
        }
    }
    d
}

/// Every per-core limit the placement in `ir` breaks (empty if none).
pub fn check_limits(ir: &Ir, spec: &ChipSpec) -> Vec<String> {
    let lim = core_limits(spec);
    let demands = slice_demands(ir);
    let mut load = vec![Demand::default(); spec.total_cores() as usize];
    for (s, d) in ir.slices.iter().zip(&demands) {
        if let Some(c) = s.core {
            if let Some(l) = load.get_mut(c.index()) {
                l.add(d);
            }
        }
    }
    let mut out = Vec::new();
    for (c, l) in load.iter().enumerate() {
        for (r, name) in RESOURCES.iter().enumerate() {
            if l.get(r) > lim.get(r) {
                out.push(format!("core{c}: {name} {} over the limit {}", l.get(r), lim.get(r)));
            }
        }
    }
    out
}

fn synapse_hint(spec: &ChipSpec) -> String {
    format!(
        "reduce the fan-in, or use a chip profile with more synapse memory per core \
         ({} bits per core, {} bits per synapse)",
        spec.core.synapse_memory_bits,
        spec.synapse_bits()
    )
}

/// The `partition` pass: split every population into contiguous slices that each fit one core.
pub fn partition(mut ir: Ir, spec: &ChipSpec) -> Result<Ir, CompileError> {
    let lim = core_limits(spec);
    ir.slices.clear();
    for p in ir.pop_ids() {
        ir.pop_mut(p).slices.clear();
    }
    let mut all: Vec<Slice> = Vec::new();
    for p in ir.pop_ids().collect::<Vec<_>>() {
        let pop = ir.pop(p);
        let n = pop.size;
        let li = learn_instrs(&ir, p);
        if li > lim.learn_instrs {
            return Err(CompileError::DoesNotFit {
                limit: "learning instructions",
                place: format!("population `{}`", pop.name),
                needed: li,
                available: lim.learn_instrs,
                hint: "its incoming plastic projections use rules too long for one core's learning engine; \
                       simplify the rules or use fewer distinct rules per population"
                    .into(),
            });
        }
        let max_n = lim.neurons.min(lim.out_axons);
        let ins = ir.projs_into(p);
        let mut deg = vec![0u32; n as usize];
        for &j in &ins {
            for &post in &ir.proj(j).conn.post {
                deg[post as usize] += 1;
            }
        }
        if let Some((i, &d)) = deg.iter().enumerate().find(|(_, &d)| u64::from(d) > lim.synapses) {
            return Err(CompileError::DoesNotFit {
                limit: "synapse memory",
                place: format!("population `{}` neuron {i} ({} incoming synapses)", pop.name, d),
                needed: u64::from(d) * spec.synapse_bits(),
                available: spec.core.synapse_memory_bits,
                hint: synapse_hint(spec),
            });
        }
        // Slices are filled up to the core's limits (the remainder of a population then packs
        // with other slices on a shared core), rather than balanced.
        let target = max_n;
        // Greedy contiguous cuts by neurons, synapses and distinct pre-synaptic sources (input
        // axons, counted exactly per projection with the transposed connectivity and stamps).
        let trans: Vec<(Vec<u64>, Vec<u32>)> = ins.iter().map(|&j| transpose(&ir.proj(j).conn)).collect();
        let mut stamps: Vec<Vec<u32>> =
            ins.iter().map(|&j| vec![u32::MAX; ir.proj(j).conn.pre_size as usize]).collect();
        let fresh = |stamps: &mut Vec<Vec<u32>>, i: usize, cur: u32| -> u64 {
            let mut new = 0;
            for ((ptr, pres), st) in trans.iter().zip(stamps.iter_mut()) {
                for &pre in &pres[ptr[i] as usize..ptr[i + 1] as usize] {
                    if st[pre as usize] != cur {
                        st[pre as usize] = cur;
                        new += 1;
                    }
                }
            }
            new
        };
        let mut cuts: Vec<(u32, u32)> = Vec::new();
        let (mut start, mut syn, mut ax, mut cur) = (0u32, 0u64, 0u64, 0u32);
        for i in 0..n {
            let d = u64::from(deg[i as usize]);
            let len = u64::from(i - start);
            let mut new = fresh(&mut stamps, i as usize, cur);
            if len > 0 && (len >= target || syn + d > lim.synapses || ax + new > lim.in_axons) {
                cuts.push((start, i - start));
                start = i;
                syn = 0;
                ax = 0;
                cur += 1;
                new = fresh(&mut stamps, i as usize, cur);
            }
            if new > lim.in_axons {
                return Err(CompileError::DoesNotFit {
                    limit: "input axons",
                    place: format!("population `{}` neuron {i}", ir.pop(p).name),
                    needed: new,
                    available: lim.in_axons,
                    hint: "the neuron has more distinct pre-synaptic sources than a core has input axons; \
                           reduce its fan-in or use a chip profile with more input axons"
                        .into(),
                });
            }
            syn += d;
            ax += new;
        }
        cuts.push((start, n - start));
        drop(trans);
        drop(stamps);
        // Split slices whose distinct pre-synaptic sources exceed the input axons.
        for _round in 0..40 {
            let axons = count_axons(&ir, &ins, n, &cuts);
            if axons.iter().all(|&a| a <= lim.in_axons) {
                break;
            }
            let mut next = Vec::with_capacity(cuts.len() + 1);
            for (&(off, len), &a) in cuts.iter().zip(&axons) {
                if a <= lim.in_axons {
                    next.push((off, len));
                    continue;
                }
                if len == 1 {
                    return Err(CompileError::DoesNotFit {
                        limit: "input axons",
                        place: format!("population `{}` neuron {off}", ir.pop(p).name),
                        needed: a,
                        available: lim.in_axons,
                        hint: "the neuron has more distinct pre-synaptic sources than a core has input axons; \
                               reduce its fan-in or use a chip profile with more input axons"
                            .into(),
                    });
                }
                let m = (a.div_ceil(lim.in_axons)).max(2).min(u64::from(len)) as u32;
                let base = len / m;
                let extra = len % m;
                let mut o = off;
                for q in 0..m {
                    let l = base + u32::from(q < extra);
                    next.push((o, l));
                    o += l;
                }
            }
            cuts = next;
        }
        let axons = count_axons(&ir, &ins, n, &cuts);
        if let Some(a) = axons.iter().find(|&&a| a > lim.in_axons) {
            return Err(CompileError::DoesNotFit {
                limit: "input axons",
                place: format!("population `{}`", ir.pop(p).name),
                needed: *a,
                available: lim.in_axons,
                hint: "splitting did not converge; reduce the fan-in".into(),
            });
        }
        let mut ids = Vec::with_capacity(cuts.len());
        for (off, len) in cuts {
            ids.push(SliceId(all.len() as u32));
            all.push(Slice { pop: p, offset: off, len, core: None, first: 0 });
        }
        ir.pop_mut(p).slices = ids;
    }
    ir.slices = all;
    ir.placement = None;
    Ok(ir)
}

/// Post → pre index of a projection: `(col_ptr, pres)`, pres of post `j` at `col_ptr[j]..col_ptr[j + 1]`.
fn transpose(c: &crate::ir::Connectivity) -> (Vec<u64>, Vec<u32>) {
    let mut ptr = vec![0u64; c.post_size as usize + 1];
    for &post in &c.post {
        ptr[post as usize + 1] += 1;
    }
    for j in 0..c.post_size as usize {
        ptr[j + 1] += ptr[j];
    }
    let mut fill = ptr.clone();
    let mut pres = vec![0u32; c.post.len()];
    for pre in 0..c.pre_size {
        for &post in c.row_posts(pre) {
            pres[fill[post as usize] as usize] = pre;
            fill[post as usize] += 1;
        }
    }
    (ptr, pres)
}

/// Distinct pre-synaptic sources per candidate slice `cuts` of a population of `n` neurons.
fn count_axons(ir: &Ir, ins: &[crate::ir::ProjId], n: u32, cuts: &[(u32, u32)]) -> Vec<u64> {
    let mut table = vec![0u32; n as usize];
    for (k, &(off, len)) in cuts.iter().enumerate() {
        table[off as usize..(off + len) as usize].fill(k as u32);
    }
    let mut a = vec![0u64; cuts.len()];
    for &j in ins {
        let c = &ir.proj(j).conn;
        for pre in 0..c.pre_size {
            let mut last = u32::MAX;
            for &post in c.row_posts(pre) {
                let s = table[post as usize];
                if s != last {
                    a[s as usize] += 1;
                    last = s;
                }
            }
        }
    }
    a
}
