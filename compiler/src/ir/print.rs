//! Stable text form of the IR (`nmc compile --emit ir --after PASS`): one line per node, edge,
//! slice and pass result, in id order, floats in Rust's shortest round-trip form.

use super::{Endpoint, InputKind, Ir, Param, Values};
use std::fmt::Write;

/// A float with 9 significant digits (stable across platforms' last-bit differences in `exp`/`ln`).
pub fn num(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let r: f64 = format!("{x:.8e}").parse().unwrap_or(x);
    format!("{r}")
}

fn param(p: &Param) -> String {
    match p {
        Param::Const(v) => num(*v),
        Param::Each(v) => format!("each[{}]", v.len()),
    }
}

/// Print `ir` as stable text.
pub fn print_ir(ir: &Ir) -> String {
    let mut s = String::new();
    let m = &ir.meta;
    let _ = writeln!(
        s,
        "ir `{}` dt_ns={} steps={} epoch_steps={} seed={}",
        m.name, m.dt_ns, m.steps, m.epoch_steps, m.seed
    );
    for p in ir.pop_ids() {
        let pop = ir.pop(p);
        let pr = &pop.params;
        let _ = write!(
            s,
            "pop {p} `{}` {} size={} decay_u={} decay_v={} th={} reset={} bias={} v_init={} refr={}",
            pop.name,
            pop.kind.mnemonic(),
            pop.size,
            num(pr.decay_u),
            num(pr.decay_v),
            param(&pr.threshold),
            num(pr.reset),
            param(&pr.bias),
            param(&pr.v_init),
            pr.refractory
        );
        if let Some(d) = pr.decay_u2 {
            let _ = write!(s, " decay_u2={}", num(d));
        }
        if let Some(l) = pr.lut {
            let _ = write!(s, " lut={l}");
        }
        if pr.noisy {
            s.push_str(" noisy");
        }
        if let Some(r) = pop.rate {
            let _ = write!(s, " rate={}", num(r));
        }
        if let Some(q) = ir.pop_quant.get(p.index()) {
            let _ = write!(s, " | scale={} du={} dv={}", num(q.scale), q.decay_u, q.decay_v);
            if let Some(d) = q.decay_u2 {
                let _ = write!(s, " du2={d}");
            }
        }
        s.push('\n');
        for &sl in &pop.slices {
            let x = &ir.slices[sl.index()];
            let _ = write!(s, "  slice {sl} [{}..{})", x.offset, x.offset + x.len);
            if let Some(c) = x.core {
                let _ = write!(s, " -> {c} first={}", x.first);
            }
            s.push('\n');
        }
    }
    for i in ir.input_ids() {
        let inp = ir.input(i);
        let kind = match &inp.kind {
            InputKind::Poisson { .. } => "poisson",
            InputKind::SpikeTimes { .. } => "spike_times",
            InputKind::Patterns { .. } => "patterns",
        };
        let _ = write!(
            s,
            "input {i} `{}` {kind} channels={} rate={}",
            inp.name,
            inp.channels,
            num(inp.rate.unwrap_or(0.0))
        );
        if let (Some(k), Some(c)) = (inp.key_base, inp.inject_core) {
            let _ = write!(s, " | key_base={k:#x} inject={c}");
        }
        s.push('\n');
    }
    for j in ir.proj_ids() {
        let pj = ir.proj(j);
        let pre = match pj.pre {
            Endpoint::Pop(_) | Endpoint::Input(_) => pj.pre.to_string(),
        };
        let w = match &pj.conn.weight {
            Values::Const(w) => num(*w),
            Values::Each(_) => format!("each(max |w| {})", num(pj.conn.max_abs_weight())),
        };
        let d = match &pj.conn.delay {
            Values::Const(d) => format!("{d}"),
            Values::Each(v) => format!("each(max {})", v.iter().max().copied().unwrap_or(0)),
        };
        let _ = write!(
            s,
            "proj {j} `{}` {pre} -> {} {:?} synapses={} weight={w} delay={d} sign={:?} traffic={}",
            pj.name,
            pj.post,
            pj.kind,
            pj.conn.len(),
            pj.sign,
            num(pj.traffic)
        );
        if let Some(pl) = &pj.plasticity {
            let _ = write!(s, " plastic={} [{}, {}]", pl.rule_name, num(pl.w_min), num(pl.w_max));
        }
        if pj.current != 0 {
            let _ = write!(s, " current={}", u32::from(pj.current) + 1);
        }
        if pj.allow_zero {
            s.push_str(" allow_zero");
        }
        if let Some(q) = &pj.quant {
            let _ = write!(
                s,
                " | exp={} scale={} max_err={:.6} mean_err={:.6} zeroed={}",
                q.weight_exp,
                num(q.scale),
                q.max_rel_error,
                q.mean_rel_error,
                q.zeroed
            );
            if let Some((lo, hi)) = q.acc_bounds {
                let _ = write!(s, " acc_bounds=[{lo}, {hi}]");
            }
        }
        s.push('\n');
    }
    if let Some(p) = &ir.placement {
        let _ = writeln!(
            s,
            "placement cores={} cost={:.3} greedy={:.3} naive={} inter_chip={:.3} moves={}",
            p.cores_used,
            p.cost,
            p.greedy_cost,
            p.naive_cost.map_or("n/a".to_string(), |c| format!("{c:.3}")),
            p.inter_chip_traffic,
            p.refine_moves
        );
    }
    if let Some(k) = ir.key_shift {
        let _ = writeln!(s, "keys shift={k}");
    }
    if let Some(routes) = &ir.routes {
        for t in routes {
            let _ = write!(s, "route {}:", t.core);
            for e in &t.entries {
                let _ = write!(s, " {:#x}/{:#x}->{:05b}", e.key, e.mask, e.dirs.0);
            }
            s.push('\n');
        }
    }
    if let Some(r) = &ir.route_stats {
        let _ = writeln!(
            s,
            "routing entries={} uncompressed={} max_per_router={}",
            r.entries, r.entries_uncompressed, r.max_entries
        );
    }
    for w in &ir.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}
