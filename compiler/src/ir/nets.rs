//! Example networks built directly in the IR, shared by the back-end tests and the `nmc-bench`
//! benchmark: CUBA-style balanced networks, layered feed-forward, local 2-D sheets, random graphs.

use super::{below, CompileError, Connectivity, Endpoint, InputKind, InputSource, Ir, NeuronParams, Param, Syn};
use nm_isa::program::SynKind;

/// CUBA-style network (Vogels & Abbott 2005 as in Brian2's example, dt = 0.1 ms): `n` LIF
/// neurons, 80 % excitatory, `fan_in` synapses per neuron split 80/20. With `window = Some(w)`
/// every neuron draws its pre-synaptic partners from the `w` neurons nearest its own relative
/// position (a ring), which keeps big networks within the chip's axon and routing limits.
pub fn cuba(n: u32, fan_in: u32, window: Option<u32>, seed: u64) -> Result<Ir, CompileError> {
    let mut ir = Ir::new(&format!("cuba{n}"));
    ir.meta.dt_ns = 100_000;
    ir.meta.steps = 10_000;
    ir.meta.seed = seed;
    let ne = (n * 4 / 5).max(1);
    let ni = (n - ne).max(1);
    // Voltages in mV relative to the reset (-60 mV): threshold 10, resting level 11.
    let mut params = NeuronParams::lif(50.0, 200.0, 10.0, 0.0, 50);
    params.bias = Param::Const(11.0 * params.decay_v);
    params.v_init = Param::Each((0..ne.max(ni)).map(|i| 10.0 * f64::from(i % 97) / 97.0).collect());
    let mut pe = params.clone();
    if let Param::Each(v) = &mut pe.v_init {
        v.truncate(ne as usize);
    }
    let mut pi = params.clone();
    if let Param::Each(v) = &mut pi.v_init {
        v.truncate(ni as usize);
    }
    let e = ir.add_lif("exc", ne, pe)?;
    let i = ir.add_lif("inh", ni, pi)?;
    ir.pop_mut(e).rate = Some(0.00056);
    ir.pop_mut(i).rate = Some(0.00056);
    let dv = params.decay_v;
    let fe = (fan_in * 4 / 5).max(1);
    let fi = (fan_in - fe).max(1);
    let mut k = 0u64;
    for (pre, psize, f, w) in [(e, ne, fe, 1.62 * dv), (i, ni, fi, -9.0 * dv)] {
        for (post, qsize) in [(e, ne), (i, ni)] {
            k += 1;
            let s = seed.wrapping_mul(31).wrapping_add(k);
            let conn = match window {
                None => Connectivity::fixed_fan_in(psize, qsize, f, false, s, w, 8)?,
                Some(win) => {
                    let win = win.min(psize).max(1);
                    Connectivity::fan_in_with(psize, qsize, f, s, w, 8, move |j, rng| {
                        let centre = (u64::from(j) * u64::from(psize) / u64::from(qsize)) as i64;
                        let off = i64::from(below(rng, win)) - i64::from(win / 2);
                        (centre + off).rem_euclid(i64::from(psize)) as u32
                    })
                }
            };
            let name = format!("{}_{}", ir.pop(pre).name, ir.pop(post).name);
            ir.add_projection(&name, Endpoint::Pop(pre), post, conn, SynKind::Current, None, false)?;
        }
    }
    Ok(ir)
}

/// Layered feed-forward network: an input of `width` channels, then `layers` populations of
/// `width` neurons, each layer receiving `fan_in` random synapses per neuron from the previous one.
pub fn layered(layers: u32, width: u32, fan_in: u32, seed: u64) -> Result<Ir, CompileError> {
    let mut ir = Ir::new("layered");
    ir.meta.seed = seed;
    let input = ir.add_input(InputSource {
        name: "stim".into(),
        channels: width,
        kind: InputKind::Poisson { p: vec![0.02; width as usize] },
        gate: None,
        rate: None,
        key_base: None,
        inject_core: None,
    })?;
    let mut prev = Endpoint::Input(input);
    for l in 0..layers {
        let p = ir.add_lif(&format!("l{l}"), width, NeuronParams::lif(5.0, 20.0, 1.0, 0.0, 2))?;
        ir.pop_mut(p).rate = Some(0.02);
        let conn = Connectivity::fixed_fan_in(width, width, fan_in, false, seed + u64::from(l), 0.1, 1)?;
        ir.add_projection(&format!("w{l}"), prev, p, conn, SynKind::Current, None, false)?;
        prev = Endpoint::Pop(p);
    }
    Ok(ir)
}

/// A `side × side` sheet of LIF neurons (row-major), each connected to every other neuron within
/// Chebyshev distance `radius`.
pub fn local2d(side: u32, radius: u32, seed: u64) -> Result<Ir, CompileError> {
    let mut ir = Ir::new("local2d");
    ir.meta.seed = seed;
    let n = side * side;
    let p = ir.add_lif("sheet", n, NeuronParams::lif(5.0, 20.0, 1.0, 0.0, 2))?;
    ir.pop_mut(p).rate = Some(0.02);
    let r = radius as i64;
    let mut syns = Vec::new();
    for y in 0..i64::from(side) {
        for x in 0..i64::from(side) {
            for dy in -r..=r {
                for dx in -r..=r {
                    let (px, py) = (x + dx, y + dy);
                    if (dx, dy) == (0, 0) || px < 0 || py < 0 || px >= i64::from(side) || py >= i64::from(side) {
                        continue;
                    }
                    syns.push(Syn {
                        pre: (py * i64::from(side) + px) as u32,
                        post: (y * i64::from(side) + x) as u32,
                        weight: 0.05,
                        delay: 1,
                    });
                }
            }
        }
    }
    let conn = Connectivity::from_synapses(n, n, syns)?;
    ir.add_projection("lateral", Endpoint::Pop(p), p, conn, SynKind::Current, None, false)?;
    Ok(ir)
}

/// `pops` populations of `size` neurons with `projs` random projections (fan-in `fan_in`).
pub fn random(pops: u32, size: u32, projs: u32, fan_in: u32, seed: u64) -> Result<Ir, CompileError> {
    use rand_chacha::rand_core::SeedableRng;
    let mut ir = Ir::new("random");
    ir.meta.seed = seed;
    let ids: Vec<_> = (0..pops)
        .map(|k| ir.add_lif(&format!("p{k}"), size, NeuronParams::lif(5.0, 20.0, 1.0, 0.0, 2)))
        .collect::<Result<_, _>>()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for k in 0..projs {
        let a = ids[below(&mut rng, pops) as usize];
        let b = ids[below(&mut rng, pops) as usize];
        let conn = Connectivity::fixed_fan_in(size, size, fan_in, false, seed + u64::from(k), 0.2, 1)?;
        ir.add_projection(&format!("r{k}"), Endpoint::Pop(a), b, conn, SynKind::Current, None, false)?;
    }
    Ok(ir)
}
