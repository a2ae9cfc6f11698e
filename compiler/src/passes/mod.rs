//! The back-end pipeline: passes registered by name in one table, the verifier run after each
//! one in debug and test builds, and the public entry point [`compile_ir`].

use crate::ir::{print_ir, verify, CompileError, Ir};
use crate::report::Report;
use nm_isa::ids::CoreId;
use nm_isa::{ChipSpec, Program};

/// How slices are assigned to cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placer {
    /// Greedy placement refined by move/swap passes (the default).
    Greedy,
    /// The naive sequential baseline.
    Naive,
}

/// Options of a compilation.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub spec: ChipSpec,
    /// Seed of the placement refinement (the result is identical for identical input and seed).
    pub seed: u64,
    pub placer: Placer,
    /// Refinement passes of the placement (0: greedy only).
    pub refine_passes: u32,
    /// Run the verifier after every pass (on by default in debug builds).
    pub verify: bool,
    /// Per projection, the checked rule that the `lower_rules` pass lowers with the final
    /// quantization scales (empty for an IR built by hand with rules already lowered).
    pub rule_sources: Vec<Option<crate::lower::net::RuleSource>>,
    /// Faults of the target chip instance: placement puts no work on dead cores and routing
    /// avoids dead cores and links (`nmc compile --faults`). `None`: a fault-free chip.
    pub faults: Option<nm_isa::FaultMap>,
    /// Sizes the source may ask for, checked before lowering allocates them.
    pub budget: crate::budget::Budget,
}

impl CompileOptions {
    pub fn new(spec: ChipSpec) -> CompileOptions {
        CompileOptions {
            spec,
            seed: 1,
            placer: Placer::Greedy,
            refine_passes: 8,
            verify: cfg!(debug_assertions),
            rule_sources: Vec::new(),
            faults: None,
            budget: crate::budget::Budget::default(),
        }
    }

    /// Per core of the system: no work may go there, because it is dead in the fault map or
    /// cut off by dead cores and links from the largest connected part of the live mesh (so
    /// that every pair of usable cores has a live route). Empty without a fault map.
    pub fn dead_cores(&self) -> Vec<bool> {
        let Some(f) = &self.faults else { return Vec::new() };
        let spec = &self.spec;
        let n = spec.total_cores() as usize;
        let idx = f.index(spec);
        let mut comp = vec![u32::MAX; n];
        let mut sizes: Vec<usize> = Vec::new();
        for start in 0..n as u32 {
            if idx.core_dead(start) || comp[start as usize] != u32::MAX {
                continue;
            }
            let id = sizes.len() as u32;
            let mut stack = vec![start];
            comp[start as usize] = id;
            let mut size = 0;
            while let Some(c) = stack.pop() {
                size += 1;
                for d in nm_isa::faults::Dir::ALL {
                    let Some(nb) = nm_isa::faults::neighbour(spec, c, d) else { continue };
                    if comp[nb as usize] == u32::MAX && !idx.core_dead(nb) && !idx.link_dead(spec, c, d) {
                        comp[nb as usize] = id;
                        stack.push(nb);
                    }
                }
            }
            sizes.push(size);
        }
        // The largest part (the first one on ties).
        let best = (0..sizes.len()).max_by_key(|&k| (sizes[k], std::cmp::Reverse(k))).map(|k| k as u32);
        comp.iter().map(|&c| Some(c) != best).collect()
    }
}

/// What every pass sees besides the IR.
pub type Ctx = CompileOptions;

/// A pass: a function from IR to IR.
pub type Pass = fn(Ir, &Ctx) -> Result<Ir, CompileError>;

/// The pipeline, in order. `nmc compile --emit ir --after NAME` stops after `NAME`.
pub const PASSES: &[(&str, Pass)] = &[
    ("partition", pass_partition),
    ("place", pass_place),
    ("keys", pass_keys),
    ("route", pass_route),
    ("quantize", pass_quantize),
    ("lower_rules", pass_lower_rules),
];

/// Pass names, comma separated (for messages and `--help`).
pub fn pass_names() -> String {
    PASSES.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
}

fn pass_partition(ir: Ir, ctx: &Ctx) -> Result<Ir, CompileError> {
    crate::map::partition(ir, &ctx.spec)
}

fn pass_place(mut ir: Ir, ctx: &Ctx) -> Result<Ir, CompileError> {
    if ir.slices.is_empty() && ir.pop_count() > 0 {
        return Err(CompileError::PassOrder { pass: "place", needs: "partition" });
    }
    let (cores, stats) = match ctx.placer {
        Placer::Greedy => crate::map::place_avoiding(&ir, &ctx.spec, ctx.seed, ctx.refine_passes, &ctx.dead_cores())?,
        Placer::Naive => {
            let demands = crate::map::slice_demands(&ir);
            let v = crate::map::place_naive_avoiding(&ir, &ctx.spec, &demands, &ctx.dead_cores())?;
            let grid = crate::map::Grid::new(&ctx.spec);
            let g = crate::map::SliceGraph::build(&ir);
            let (cost, inter, traffic, hops) = g.figures(&grid, &v);
            let mut used = v.clone();
            used.sort_unstable();
            used.dedup();
            let stats = crate::ir::PlacementStats {
                cost,
                naive_cost: Some(cost),
                greedy_cost: cost,
                inter_chip_traffic: inter,
                naive_inter_chip_traffic: Some(inter),
                cores_used: used.len() as u32,
                naive_cores_used: Some(used.len() as u32),
                refine_moves: 0,
                inter_core_traffic: traffic,
                mean_hops: if traffic > 0.0 { hops / traffic } else { 0.0 },
            };
            (v, stats)
        }
    };
    // Local neuron indices: slices of a core in slice order.
    let mut next = vec![0u32; ctx.spec.total_cores() as usize];
    for (s, &c) in ir.slices.iter_mut().zip(&cores) {
        s.core = Some(CoreId(c));
        s.first = next[c as usize];
        next[c as usize] += s.len;
    }
    ir.placement = Some(stats);
    Ok(ir)
}

fn pass_keys(ir: Ir, ctx: &Ctx) -> Result<Ir, CompileError> {
    if ir.placement.is_none() {
        return Err(CompileError::PassOrder { pass: "keys", needs: "place" });
    }
    crate::route::assign_keys_avoiding(ir, &ctx.spec, &ctx.dead_cores())
}

fn pass_route(ir: Ir, ctx: &Ctx) -> Result<Ir, CompileError> {
    if ir.key_shift.is_none() {
        return Err(CompileError::PassOrder { pass: "route", needs: "keys" });
    }
    match &ctx.faults {
        Some(f) => crate::route::route_avoiding(ir, &ctx.spec, Some(&f.index(&ctx.spec))),
        None => crate::route::route(ir, &ctx.spec),
    }
}

fn pass_quantize(ir: Ir, ctx: &Ctx) -> Result<Ir, CompileError> {
    crate::quant::quantize(ir, &ctx.spec)
}

fn pass_lower_rules(ir: Ir, ctx: &Ctx) -> Result<Ir, CompileError> {
    crate::lower::net::relower_rules(ir, &ctx.rule_sources, &ctx.spec)
}

/// Run the passes up to and including `after` (all if `None`), verifying after each when asked.
pub fn run_passes(mut ir: Ir, ctx: &Ctx, after: Option<&str>) -> Result<Ir, CompileError> {
    if let Some(a) = after {
        if !PASSES.iter().any(|p| p.0 == a) {
            return Err(CompileError::UnknownPass(a.into(), pass_names()));
        }
    }
    if ctx.verify {
        check(&ir, ctx, "input")?;
    }
    for &(name, pass) in PASSES {
        ir = pass(ir, ctx)?;
        if ctx.verify {
            check(&ir, ctx, name)?;
        }
        if after == Some(name) {
            break;
        }
    }
    Ok(ir)
}

fn check(ir: &Ir, ctx: &Ctx, pass: &str) -> Result<(), CompileError> {
    let problems = verify(ir, &ctx.spec);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CompileError::Verify { pass: pass.into(), problems })
    }
}

/// The IR text after pass `after` (`nmc compile --emit ir --after PASS`).
pub fn emit_ir_after(ir: Ir, ctx: &Ctx, after: &str) -> Result<String, CompileError> {
    Ok(print_ir(&run_passes(ir, ctx, Some(after))?))
}

/// Compile an IR into a program and its report.
pub fn compile_ir(ir: Ir, opts: &CompileOptions) -> Result<(Program, Report), CompileError> {
    opts.spec.validate().map_err(|e| CompileError::Invalid(e.to_string()))?;
    if let Some(f) = &opts.faults {
        f.validate(&opts.spec).map_err(|e| CompileError::Faults(e.to_string()))?;
    }
    // The input is always checked (cheap, linear); the passes in between only when asked.
    check(&ir, opts, "input")?;
    let ir = run_passes(ir, opts, None)?;
    let program = crate::codegen::generate(&ir, &opts.spec)?;
    program.validate()?;
    if let Some(f) = &opts.faults {
        // The guarantee, checked on the final tables: no packet touches a dead part.
        let bad = f.route_violations(&program, 5);
        if !bad.is_empty() {
            return Err(CompileError::Faults(format!("internal error, the routes use dead parts: {}", bad.join("; "))));
        }
    }
    let report = crate::report::build(&ir, &program);
    Ok((program, report))
}
