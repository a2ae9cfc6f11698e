//! The IR verifier: checks every invariant the passes rely on and reports each broken one with
//! the node (population, input, projection, slice, core) it concerns.

use super::{Endpoint, Ir};
use nm_isa::ChipSpec;

/// Every broken invariant of `ir` for `spec`; empty when the IR is sound.
pub fn verify(ir: &Ir, spec: &ChipSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut bad = |s: String| out.push(s);
    for p in ir.pop_ids() {
        let pop = ir.pop(p);
        let pr = &pop.params;
        if pop.size == 0 {
            bad(format!("{p} `{}`: no neurons", pop.name));
        }
        for (what, v) in [("decay_u", pr.decay_u), ("decay_v", pr.decay_v), ("decay_u2", pr.decay_u2.unwrap_or(0.0))] {
            if !(0.0..=1.0).contains(&v) {
                bad(format!("{p} `{}`: {what} = {v} is not a fraction in [0, 1]", pop.name));
            }
        }
        if pr.decay_u2.is_some() && pop.kind != nm_isa::neuron::NeuronKind::Lif {
            bad(format!("{p} `{}`: only LIF populations can have a second synaptic current", pop.name));
        }
        for (what, v) in [("threshold", &pr.threshold), ("bias", &pr.bias), ("v_init", &pr.v_init)] {
            if !v.is_finite() {
                bad(format!("{p} `{}`: {what} is not finite", pop.name));
            }
            if let super::Param::Each(vals) = v {
                if vals.len() != pop.size as usize {
                    bad(format!("{p} `{}`: {what} has {} values for {} neurons", pop.name, vals.len(), pop.size));
                }
            }
        }
        if !pr.reset.is_finite() {
            bad(format!("{p} `{}`: reset is not finite", pop.name));
        }
        if let Some(l) = pr.lut {
            if usize::from(l) >= ir.luts.len() {
                bad(format!("{p} `{}`: lut {l} does not exist", pop.name));
            }
        }
        if let Some(s) = pr.scale {
            if !(s.is_finite() && s > 0.0) {
                bad(format!("{p} `{}`: voltage scale {s} is not positive", pop.name));
            }
        }
    }
    for j in ir.proj_ids() {
        let pj = ir.proj(j);
        let c = &pj.conn;
        let here = format!("{j} `{}`", pj.name);
        if c.pre_size != ir.endpoint_size(pj.pre) || c.post_size != ir.pop(pj.post).size {
            bad(format!("{here}: connectivity size does not match its endpoints"));
        }
        if c.row_ptr.len() != c.pre_size as usize + 1
            || c.row_ptr.first() != Some(&0)
            || c.row_ptr.last() != Some(&(c.post.len() as u64))
            || c.row_ptr.windows(2).any(|w| w[0] > w[1])
        {
            bad(format!("{here}: malformed CSR row pointers"));
            continue;
        }
        let mut unsorted = false;
        for pre in 0..c.pre_size {
            let r = c.row_posts(pre);
            if r.iter().any(|&x| x >= c.post_size) {
                bad(format!("{here}: pre {pre} targets a post index outside 0..{}", c.post_size));
            }
            unsorted |= r.windows(2).any(|w| w[0] > w[1]);
        }
        if unsorted {
            bad(format!("{here}: CSR rows are not sorted by post index"));
        }
        for (what, n) in [("weights", c.weight.stored()), ("delays", c.delay.stored())] {
            if n != 1 && n != c.post.len() {
                bad(format!("{here}: {n} {what} for {} synapses", c.post.len()));
            }
        }
        if c.weight.stored_iter().any(|w| !w.is_finite()) {
            bad(format!("{here}: a weight is not finite"));
        }
        if !c.is_empty() {
            let max_delay = spec.core.max_delay.min(255) as u8;
            if let Some(d) = c.delay.stored_iter().find(|&d| d == 0 || d > max_delay) {
                bad(format!("{here}: delay {d} outside 1..={max_delay} (chip `{}`)", spec.name));
            }
        }
        if let Some(pl) = &pj.plasticity {
            if !(pl.w_min.is_finite() && pl.w_max.is_finite() && pl.w_min <= pl.w_max) {
                bad(format!("{here}: weight bounds [{}, {}] are not ordered", pl.w_min, pl.w_max));
            }
            if let Err(e) = pl.rule.validate() {
                bad(format!("{here}: {e}"));
            }
        }
        if let Endpoint::Input(i) = pj.pre {
            if i.index() >= ir.input_count() {
                bad(format!("{here}: pre {i} does not exist"));
            }
        }
    }
    for (k, pr) in ir.probes.iter().enumerate() {
        let ok = match pr.kind {
            super::ProbeKind::Spikes(p) | super::ProbeKind::State(p, _) => p.index() < ir.pop_count(),
            super::ProbeKind::Weights(j) => j.index() < ir.proj_count(),
            super::ProbeKind::Signal(s) => ir.signals.iter().any(|x| x.id == s),
        };
        if !ok {
            bad(format!("probe {k} `{}`: refers to something that does not exist", pr.name));
        }
    }
    if !ir.slices.is_empty() {
        for p in ir.pop_ids() {
            let pop = ir.pop(p);
            let mut next = 0u32;
            for &s in &pop.slices {
                let Some(sl) = ir.slices.get(s.index()) else {
                    bad(format!("{p}: slice {s} does not exist"));
                    continue;
                };
                if sl.pop != p || sl.offset != next || sl.len == 0 {
                    bad(format!("{p} `{}`: {s} [{}..+{}) does not continue at {next}", pop.name, sl.offset, sl.len));
                }
                next = sl.offset + sl.len;
            }
            if next != pop.size {
                bad(format!("{p} `{}`: slices cover {next} of {} neurons", pop.name, pop.size));
            }
        }
    }
    if ir.placement.is_some() {
        for (k, sl) in ir.slices.iter().enumerate() {
            match sl.core {
                None => bad(format!("s{k}: not placed")),
                Some(c) if c.0 >= spec.total_cores() => {
                    bad(format!("s{k}: core {c} outside the {} cores of `{}`", spec.total_cores(), spec.name))
                }
                Some(_) => {}
            }
        }
        if out.is_empty() {
            out.extend(crate::map::check_limits(ir, spec));
        }
    }
    if let Some(routes) = &ir.routes {
        for t in routes {
            if t.entries.len() as u64 > u64::from(spec.core.max_route_entries) {
                out.push(format!(
                    "router {}: {} entries, limit {}",
                    t.core,
                    t.entries.len(),
                    spec.core.max_route_entries
                ));
            }
        }
    }
    out
}
