//! The compile report (`nmc compile --report`, text or JSON): cores used and their fill per
//! resource, traffic and hop counts against the naive sequential placement, routing-table
//! sizes, the quantization table and warnings.

use crate::ir::Ir;
use nm_isa::Program;
use serde::Serialize;
use std::fmt::Write;

/// Fill of one resource over the used cores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fill {
    pub resource: String,
    pub limit: u64,
    pub max: u64,
    pub mean: f64,
    /// Fullest core.
    pub max_core: u32,
}

/// Resource use of one core.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CoreFill {
    pub core: u32,
    pub neurons: u64,
    pub synapse_bits: u64,
    pub input_axons: u64,
    pub profiles: u64,
    pub groups: u64,
    pub route_entries: u64,
}

/// One row of the quantization table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuantRow {
    pub projection: String,
    pub synapses: u64,
    pub weight_exp: i8,
    /// Chip weight units per ideal unit.
    pub scale: f64,
    /// Chip weight readout units (as recorded by weight probes) per unit of the program's
    /// weights: `scale` over the pre payload scale (graded sources carry their value times it).
    pub weight_scale: f64,
    pub max_rel_error: f64,
    pub mean_rel_error: f64,
    pub zeroed: u64,
    pub saturated: u64,
}

/// Placement quality.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Traffic {
    /// Σ expected packets per step × weighted hops (inter-chip hops weighted `chip_hop_weight`).
    pub cost: f64,
    pub naive_cost: Option<f64>,
    /// `1 - cost / naive_cost`.
    pub improvement: Option<f64>,
    pub greedy_cost: f64,
    pub inter_chip: f64,
    pub naive_inter_chip: Option<f64>,
    pub chip_hop_weight: f64,
    pub naive_cores_used: Option<u32>,
    pub refine_moves: u64,
    /// Expected packets per step between different cores, and their mean mesh hops.
    pub inter_core_packets: f64,
    pub mean_hops: f64,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub program: String,
    pub chip: String,
    pub total_cores: u32,
    pub cores_used: u32,
    pub neurons: u64,
    pub synapses: u64,
    pub fill: Vec<Fill>,
    /// Per used core (JSON only; the text shows the summary).
    pub cores: Vec<CoreFill>,
    pub traffic: Option<Traffic>,
    pub route_entries: u64,
    pub route_entries_uncompressed: u64,
    pub route_entries_max: u32,
    pub quantization: Vec<QuantRow>,
    pub warnings: Vec<String>,
    /// What `nmc compile --calibration` changed (absent without a calibration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<nm_isa::calibration::ApplyReport>,
}

/// Build the report of a compiled IR and its program.
pub fn build(ir: &Ir, prog: &Program) -> Report {
    let spec = &prog.chip;
    let c = &spec.core;
    let mut fill = Vec::new();
    let mut add = |name: &str, limit: u64, vals: Vec<(u32, u64)>| {
        let (mut max, mut max_core, mut sum) = (0u64, 0u32, 0u64);
        for &(core, v) in &vals {
            sum += v;
            if v > max {
                max = v;
                max_core = core;
            }
        }
        let mean = if vals.is_empty() { 0.0 } else { sum as f64 / vals.len() as f64 };
        fill.push(Fill { resource: name.into(), limit, max, mean, max_core });
    };
    let per = |f: &dyn Fn(&nm_isa::program::Core) -> u64| -> Vec<(u32, u64)> {
        prog.cores.iter().map(|k| (k.id.0, f(k))).collect()
    };
    add("neurons", u64::from(c.max_neurons), per(&|k| k.neurons.len() as u64));
    add("synapse memory bits", c.synapse_memory_bits, per(&|k| k.synapses.len() as u64 * spec.synapse_bits()));
    add("input axons", u64::from(c.max_input_axons), per(&|k| k.axons.len() as u64));
    add("output axons", u64::from(c.max_output_axons), per(&|k| k.neurons.len() as u64));
    add("profiles", u64::from(c.max_profiles), per(&|k| k.profiles.len() as u64));
    add(
        "route entries",
        u64::from(c.max_route_entries),
        prog.routes.iter().map(|t| (t.core.0, t.entries.len() as u64)).collect(),
    );
    let traffic = ir.placement.as_ref().map(|p| Traffic {
        cost: p.cost,
        naive_cost: p.naive_cost,
        improvement: p.naive_cost.filter(|&n| n > 0.0).map(|n| 1.0 - p.cost / n),
        greedy_cost: p.greedy_cost,
        inter_chip: p.inter_chip_traffic,
        naive_inter_chip: p.naive_inter_chip_traffic,
        chip_hop_weight: crate::map::Grid::new(spec).chip_weight,
        naive_cores_used: p.naive_cores_used,
        refine_moves: p.refine_moves,
        inter_core_packets: p.inter_core_traffic,
        mean_hops: p.mean_hops,
    });
    let quantization = ir
        .proj_ids()
        .filter_map(|j| {
            let pj = ir.proj(j);
            pj.quant.as_ref().map(|q| QuantRow {
                projection: pj.name.clone(),
                synapses: pj.conn.len(),
                weight_exp: q.weight_exp,
                scale: q.scale,
                weight_scale: q.scale / pj.w_factor,
                max_rel_error: q.max_rel_error,
                mean_rel_error: q.mean_rel_error,
                zeroed: q.zeroed,
                saturated: q.saturated,
            })
        })
        .collect();
    let rs = ir.route_stats.clone().unwrap_or_default();
    let cores = prog
        .cores
        .iter()
        .map(|k| CoreFill {
            core: k.id.0,
            neurons: k.neurons.len() as u64,
            synapse_bits: k.synapses.len() as u64 * spec.synapse_bits(),
            input_axons: k.axons.len() as u64,
            profiles: k.profiles.len() as u64,
            groups: k.groups.len() as u64,
            route_entries: prog
                .routes
                .binary_search_by_key(&k.id, |t| t.core)
                .map_or(0, |i| prog.routes[i].entries.len() as u64),
        })
        .collect();
    Report {
        program: prog.meta.name.clone(),
        chip: spec.name.clone(),
        total_cores: spec.total_cores(),
        cores_used: prog.cores.len() as u32,
        neurons: prog.neuron_count(),
        synapses: prog.synapse_count(),
        fill,
        cores,
        traffic,
        route_entries: rs.entries,
        route_entries_uncompressed: rs.entries_uncompressed,
        route_entries_max: rs.max_entries,
        quantization,
        warnings: ir.warnings.clone(),
        calibration: None,
    }
}

impl Report {
    /// JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Human-readable text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "program `{}` on chip `{}`: {} of {} cores, {} neurons, {} synapses",
            self.program, self.chip, self.cores_used, self.total_cores, self.neurons, self.synapses
        );
        let _ = writeln!(s, "\nfill per core        limit        max   mean  fullest");
        for f in &self.fill {
            let pct = if f.limit > 0 { 100.0 * f.max as f64 / f.limit as f64 } else { 0.0 };
            let _ = writeln!(
                s,
                "  {:<20} {:>9} {:>9} ({pct:5.1} %) {:>9.1}  core{}",
                f.resource, f.limit, f.max, f.mean, f.max_core
            );
        }
        if let Some(t) = &self.traffic {
            let _ = writeln!(s, "\ntraffic (packets/step x hops, inter-chip hop = {} hops)", t.chip_hop_weight);
            let _ = writeln!(
                s,
                "  placement           {:.3} (greedy {:.3}, {} refinement moves)",
                t.cost, t.greedy_cost, t.refine_moves
            );
            match (t.naive_cost, t.improvement) {
                (Some(n), Some(i)) => {
                    let _ = writeln!(s, "  naive sequential    {n:.3}  -> {:.1} % lower", 100.0 * i);
                }
                (Some(n), None) => {
                    let _ = writeln!(s, "  naive sequential    {n:.3}");
                }
                _ => {
                    let _ = writeln!(s, "  naive sequential    does not fit");
                }
            }
            let _ = writeln!(
                s,
                "  inter-chip traffic  {:.3} (naive {})",
                t.inter_chip,
                t.naive_inter_chip.map_or("n/a".into(), |v| format!("{v:.3}"))
            );
        }
        let _ = writeln!(
            s,
            "\nrouting: {} entries ({} before compression), at most {} in one router",
            self.route_entries, self.route_entries_uncompressed, self.route_entries_max
        );
        let _ = writeln!(s, "\nquantization        synapses  exp      scale   max err  mean err  zeroed  saturated");
        for q in &self.quantization {
            let _ = writeln!(
                s,
                "  {:<16} {:>10} {:>4} {:>10.4} {:>9.5} {:>9.5} {:>7} {:>10}",
                q.projection,
                q.synapses,
                q.weight_exp,
                q.scale,
                q.max_rel_error,
                q.mean_rel_error,
                q.zeroed,
                q.saturated
            );
        }
        if let Some(c) = &self.calibration {
            let _ = writeln!(
                s,
                "\ncalibration: {} neurons, {} learning-rate trims (codes {}..={}), {} clamped at the end of the range",
                c.neurons, c.synapses, c.trim_lo, c.trim_hi, c.trims_clamped
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }

    /// Record what a calibration changed; clamped trims also become a warning.
    pub fn set_calibration(&mut self, c: nm_isa::calibration::ApplyReport) {
        if c.trims_clamped > 0 {
            self.warnings.push(format!(
                "{} of {} learning-rate trims hit the end of the code range {}..={}; those synapses keep part of \
                 their gain error",
                c.trims_clamped, c.synapses, c.trim_lo, c.trim_hi
            ));
        }
        self.calibration = Some(c);
    }
}
