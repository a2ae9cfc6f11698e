//! The learning engine of a core: runs the rules' handlers for the step's events in the order
//! documented on `LearnRule` (traces decay; `Pre` handlers for this step's arrivals; pre-trace
//! impulses; `Post` handlers for this step's post spikes; post-trace impulses; `Step` handlers;
//! `Epoch` handlers on the last step of an epoch; clamp of every touched accumulator to
//! `[w_min, w_max]`), executing each handler over [`Ctx`], our implementation of `LearnCtx` on
//! the core's state, with [`crate::fastlearn::exec_fast`]: the handlers pre-decoded once at load,
//! equal to `nm_isa::learn::exec` bit for bit (a differential test checks it).
//!
//! Fused kernels: a `Pre` or `Post` trigger whose handlers are one per-synapse handler of the
//! shape `w ← w ± f(trace)` ([`crate::fastlearn::FusedW`], recognised at load; the pair-STDP
//! rules `nmc` emits) runs without the interpreter, on rules with nearest readout: the same
//! events in the same order, the same write (`Ctx::write_w`), the same charges (invocations,
//! ops, cycles of the decoded handler). A synapse whose last write of the step it is (no
//! `Step`/`Epoch` handler follows; for a `Pre` event, its post does not spike this step if the
//! rule has `Post` handlers; no axon or post listed twice) is clamped and refreshed in the same
//! pass (the nearest refresh draws no PRNG and is idempotent, so this equals the end-of-step
//! refresh); the others are listed as touched as before. The `Post` kernel reads the gains in
//! CSC order (`RuleSlot::post_par`) and runs in batches whose arithmetic is vectorised on the
//! CPU's LIF kernel. `tests/fused_learning.rs` checks fused against interpreter on random rules.
//!
//! Decisions (where `LearnRule`'s documentation leaves a choice), as a chip would do them:
//! * A packet is a pre-synaptic event at the step it reaches the axon (the step after the
//!   spike); pre traces live per axon, so the synapse delay does not shift learning events. Only
//!   packets flagged as spikes run `Pre` handlers, add pre-trace impulses and make `xs = 1`; `xg`
//!   reads the payload of any packet of the step.
//! * Rules run in order of their first use on the core (synapse group order). Within a trigger
//!   the per-synapse handlers run first (arrivals in ascending axon order, each axon's synapses
//!   in order; spiking posts in neuron order, each post's synapses in order), then the per-post
//!   handlers (a `Pre` per-post handler once per post neuron that received a spike on a synapse
//!   of the rule, in neuron order); each event runs all its handlers in program order.
//!   `Step`/`Epoch` per-post handlers run for every neuron with an incoming synapse of the rule.
//! * After the clamp the weight readout of every touched synapse is recomputed with the rule's
//!   rounding (stochastic rounding draws the core's learning PRNG), then its efficacy gain.
//! * `LastPre` compares against the last synapse of the rule that delivered a packet to the post
//!   neuron (delivery order: ascending axon index) up to and including its spiking step.
//! * Each invocation costs `cycles_learning_dispatch` plus the op-table cycles of its ops; the
//!   trace decays and impulses are free (dedicated hardware).

use crate::core::{
    decay_traces, refresh_weight, CoreParams, CoreState, Formats, RuleSlot, RuleState, COUNT_MASK, SPIKE,
};
use crate::fastlearn::{exec_batch, exec_fast, round_nearest, FastCode, FastRule, FusedW, LaneCtx, LANES};
use crate::timing::{Charge, CostTable};
use nm_isa::fixed_point::{saturate, smax, smin, trace_add, Rounding};
use nm_isa::learn::{apply_weight_write_rounded, Dst, LearnCtx, LearnRule, Reduce, Src, Trigger};
use nm_isa::neuron::NeuronKind;
use nm_isa::rng::HwRng;

/// `LearnCtx` over one core's state for one handler invocation.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Current synapse, or `usize::MAX` in a per-post handler.
    pub syn: usize,
    pub post: usize,
    pub axon: usize,
    pub t1: u64,
    pub slot: &'a RuleSlot,
    pub rs: &'a RuleState,
    pub acc: &'a mut [i32],
    pub wr: &'a [i32],
    pub tag: &'a mut [i32],
    pub lgain: &'a [u16],
    pub touched: &'a mut Vec<u32>,
    pub touched_flag: &'a mut [bool],
    pub kind: &'a [NeuronKind],
    pub u: &'a [i32],
    pub v: &'a [i32],
    pub y: &'a [i32],
    pub spike_step: &'a [u64],
    pub arr_step: &'a [u64],
    pub arr_payload: &'a [i32],
    pub pay_step: &'a [u64],
    pub lastpre_at_spike: &'a [u32],
    pub signals: &'a [i32; 8],
    pub rng: &'a mut HwRng,
    pub fm: &'a Formats,
    /// Rounding of the learning-rate gain on a weight write (the rule's readout rounding).
    pub write_rounding: Rounding,
    /// List each touched synapse once (needed when the refresh draws the PRNG).
    pub dedup_touched: bool,
}

impl Ctx<'_> {
    #[inline]
    fn touch(&mut self, si: usize) {
        if !self.dedup_touched {
            // Nearest readout: the end-of-step clamp and refresh are idempotent and draw no
            // PRNG, so a synapse listed twice gets the same result as listed once.
            self.touched.push(si as u32);
        } else if !self.touched_flag[si] {
            self.touched_flag[si] = true;
            self.touched.push(si as u32);
        }
    }
    /// `st w`: `nm_isa::learn::apply_weight_write_rounded`, the learning-rate gain on the delta
    /// with the rule's rounding (nearest rounding branch-free); marks the synapse touched.
    #[inline(always)]
    fn write_w(&mut self, si: usize, value: i32) {
        let (acc, gain) = (self.acc[si], self.lgain[si]);
        self.acc[si] = if self.write_rounding == Rounding::Nearest {
            let delta = i64::from(value) - i64::from(acc);
            let scaled = if gain == 4096 { delta } else { round_nearest(delta * i64::from(gain), 12) };
            saturate(i64::from(acc) + scaled, self.fm.accumulator_bits)
        } else {
            apply_weight_write_rounded(acc, value, gain, self.fm.accumulator_bits, self.write_rounding, self.rng)
        };
        self.touch(si);
    }
    fn post_syns(&self) -> &[u32] {
        let p = self.post;
        &self.slot.post_syn[self.slot.post_start[p] as usize..self.slot.post_start[p + 1] as usize]
    }
}

impl LearnCtx for Ctx<'_> {
    #[inline(always)]
    fn load(&mut self, src: Src) -> i32 {
        let per_syn = self.syn != usize::MAX;
        let trace = |v: &Vec<i32>, i: usize| v.get(i).copied().unwrap_or(0);
        match src {
            Src::W if per_syn => self.acc[self.syn],
            Src::Wr if per_syn => self.wr[self.syn],
            Src::X0 if per_syn => trace(&self.rs.x[0], self.axon),
            Src::X1 if per_syn => trace(&self.rs.x[1], self.axon),
            Src::Xs if per_syn => i32::from(self.arr_step.get(self.axon) == Some(&self.t1)),
            Src::Xg if per_syn => {
                if self.pay_step.get(self.axon) == Some(&self.t1) {
                    self.arr_payload.get(self.axon).copied().unwrap_or(0)
                } else {
                    0
                }
            }
            Src::Tag if per_syn => self.tag[self.syn],
            Src::LastPre if per_syn => {
                i32::from(self.lastpre_at_spike.get(self.post).is_some_and(|&l| l as usize == self.syn))
            }
            Src::W | Src::Wr | Src::X0 | Src::X1 | Src::Xs | Src::Xg | Src::Tag | Src::LastPre => 0,
            Src::Y0 => trace(&self.rs.y[0], self.post),
            Src::Y1 => trace(&self.rs.y[1], self.post),
            Src::Ys => i32::from(self.spike_step[self.post] == self.t1),
            Src::Yg => match self.kind[self.post] {
                NeuronKind::Lif => i32::from(self.spike_step[self.post] == self.t1),
                _ => self.y[self.post],
            },
            Src::Yv => self.v[self.post],
            Src::Yu => self.u[self.post],
            Src::Rand => self.rng.next_signed_q16(),
            Src::RandU => (self.rng.next_u32() >> 16) as i32,
            Src::Sig(k) => self.signals[usize::from(k & 7)],
        }
    }

    #[inline(always)]
    fn store(&mut self, dst: Dst, value: i32) {
        if self.syn == usize::MAX {
            return;
        }
        let si = self.syn;
        match dst {
            Dst::W => self.write_w(si, value),
            Dst::Tag => {
                self.tag[si] = if self.fm.tag_bits == 0 { 0 } else { saturate(i64::from(value), self.fm.tag_bits) };
            }
        }
    }

    fn reduce(&mut self, kind: Reduce) -> (i64, u32) {
        let syns = self.post_syns();
        let n = syns.len() as u32;
        let v = match kind {
            Reduce::Max => syns.iter().map(|&s| i64::from(self.acc[s as usize])).max().unwrap_or(0),
            Reduce::Sum => syns.iter().map(|&s| i64::from(self.acc[s as usize])).sum(),
            Reduce::SumSq => {
                syns.iter().map(|&s| i64::from(self.acc[s as usize]).pow(2)).fold(0i64, |a, b| a.saturating_add(b))
            }
        };
        (v, n)
    }

    fn scale_weights(&mut self, factor: i32, sh: u8, rounding: nm_isa::fixed_point::Rounding) -> u32 {
        let p = self.post;
        let (a, b) = (self.slot.post_start[p] as usize, self.slot.post_start[p + 1] as usize);
        let ab = self.fm.accumulator_bits;
        for k in a..b {
            let si = self.slot.post_syn[k] as usize;
            let prod = i64::from(self.acc[si]) * i64::from(factor);
            let r = nm_isa::fixed_point::shift_round(prod, u32::from(sh), rounding, self.rng);
            self.acc[si] = saturate(r, ab);
            self.touch(si);
        }
        (b - a) as u32
    }

    fn rng(&mut self) -> &mut HwRng {
        self.rng
    }
}

impl LaneCtx for Ctx<'_> {
    type Lane = Event;
    #[inline(always)]
    fn select(&mut self, (si, post, axon): Event) {
        self.syn = if si == u32::MAX { usize::MAX } else { si as usize };
        self.post = post as usize;
        self.axon = if axon == u32::MAX { usize::MAX } else { axon as usize };
    }

    /// Direct gathers for the per-synapse state and the traces (the sources a batchable handler
    /// loads most); the other sources lane by lane. Equal to `select` + `load` per lane.
    #[inline(always)]
    fn load_lanes(&mut self, src: Src, lanes: &[Event], out: &mut [i32]) {
        let syn_trace = |out: &mut [i32], xs: &[i32]| {
            for (o, &(si, _, axon)) in out.iter_mut().zip(lanes) {
                *o = if si == u32::MAX { 0 } else { xs.get(axon as usize).copied().unwrap_or(0) };
            }
        };
        let post_trace = |out: &mut [i32], ys: &[i32]| {
            for (o, &(_, post, _)) in out.iter_mut().zip(lanes) {
                *o = ys.get(post as usize).copied().unwrap_or(0);
            }
        };
        match src {
            Src::W => {
                for (o, &(si, _, _)) in out.iter_mut().zip(lanes) {
                    *o = if si == u32::MAX { 0 } else { self.acc[si as usize] };
                }
            }
            Src::X0 => syn_trace(out, &self.rs.x[0]),
            Src::X1 => syn_trace(out, &self.rs.x[1]),
            Src::Y0 => post_trace(out, &self.rs.y[0]),
            Src::Y1 => post_trace(out, &self.rs.y[1]),
            _ => {
                for (o, &lane) in out.iter_mut().zip(lanes) {
                    self.select(lane);
                    *o = self.load(src);
                }
            }
        }
    }

    #[inline(always)]
    fn store_lanes(&mut self, dst: Dst, lanes: &[Event], vals: &[i32]) {
        match dst {
            Dst::W => {
                for (&v, &(si, _, _)) in vals.iter().zip(lanes) {
                    if si != u32::MAX {
                        self.write_w(si as usize, v);
                    }
                }
            }
            Dst::Tag => {
                for (&v, &lane) in vals.iter().zip(lanes) {
                    self.select(lane);
                    self.store(dst, v);
                }
            }
        }
    }
}

/// Everything shared by the cores during the learning phase.
#[derive(Debug)]
pub struct LearnEnv<'a> {
    pub rules: &'a [LearnRule],
    /// `rules` pre-decoded (same order), see [`FastRule`].
    pub fast: &'a [FastRule],
    pub signals: &'a [i32; 8],
    pub epoch_steps: u32,
    pub fm: &'a Formats,
    pub costs: &'a CostTable,
}

/// A learning event: `(synapse or u32::MAX for a per-post invocation, post neuron, axon or u32::MAX)`.
type Event = (u32, u32, u32);

/// Run the learning phase of one core for step `t`. `arrivals` are this step's packets.
pub fn learn_core(p: &CoreParams, s: &mut CoreState, t: u64, arrivals: &[crate::core::Packet], env: &LearnEnv<'_>) {
    if p.rules.is_empty() {
        return;
    }
    let t1 = t + 1;
    let epoch_end = env.epoch_steps > 0 && t1.is_multiple_of(u64::from(env.epoch_steps));
    let mut ev: Vec<Event> = std::mem::take(&mut s.events);
    for (ri, slot) in p.rules.iter().enumerate() {
        let rule = &env.rules[slot.rule];
        let fast = &env.fast[slot.rule];
        let codes = |trig: Trigger| -> (&[FastCode], &[FastCode]) {
            let k = trig.code() as usize;
            (&fast.syn[k], &fast.post[k])
        };
        // A synapse whose last write of the step is in a fused kernel is clamped and refreshed
        // there (nearest readout only: no PRNG draw, so the refresh order does not matter);
        // later handlers of the step (`Step`, `Epoch`) may touch any synapse.
        let nearest = rule.readout == Rounding::Nearest;
        let later = slot.has[Trigger::Step.code() as usize] || (epoch_end && slot.has[Trigger::Epoch.code() as usize]);
        let rf = Refresh::new((rule.w_min, rule.w_max), env.fm);
        let fused_pre = fast.fused[Trigger::Pre.code() as usize].as_ref().filter(|_| nearest);
        let fused_post = fast.fused[Trigger::Post.code() as usize]
            .as_ref()
            .filter(|_| nearest && slot.post_par.len() == slot.post_syn.len());
        // The rule runs entirely fused (no interpreter reads `wr` of its synapses): its kernels
        // may leave the refresh to the synapses' next reader (`core::Stale`).
        let lazy = rf.batchable()
            && !slot.has[Trigger::Step.code() as usize]
            && !slot.has[Trigger::Epoch.code() as usize]
            && (!slot.has[Trigger::Pre.code() as usize] || fused_pre.is_some())
            && (!slot.has[Trigger::Post.code() as usize] || fused_post.is_some());
        // The fused `Pre` kernel reads the arriving axons' synapses: prefetch their cache lines
        // before the trace decays, so that the misses overlap with the decay.
        if fused_pre.is_some() {
            prefetch_arrivals(p, s, arrivals, lazy);
        }
        // Traces decay.
        {
            let rs = &mut s.rules[ri];
            for k in 0..2 {
                if let Some(ts) = rule.x[k] {
                    let keep = (4096i64 - i64::from(ts.decay.min(4096))) as i32;
                    decay_traces(&mut rs.x[k], keep as u32, 12, env.fm.trace_max, env.fm.lif_kernel);
                }
                if let Some(ts) = rule.y[k] {
                    let keep = (4096i64 - i64::from(ts.decay.min(4096))) as i32;
                    decay_traces(&mut rs.y[k], keep as u32, 12, env.fm.trace_max, env.fm.lif_kernel);
                }
            }
        }
        // Pre handlers: per arriving axon, per synapse of the rule (then its per-post handlers).
        if let (Some(fz), true) = (fused_pre, slot.has[Trigger::Pre.code() as usize]) {
            // `Post` handlers of this step may touch the synapses of the spiking posts again.
            let post_later = slot.has[Trigger::Post.code() as usize];
            fused_pre_events(p, s, ri, fz, arrivals, t1, (later, post_later, lazy), &rf, env);
        } else if slot.has[Trigger::Pre.code() as usize] {
            let (cs, cp) = codes(Trigger::Pre);
            ev.clear();
            let mut posts: Vec<u32> = Vec::new();
            for pk in arrivals.iter().filter(|pk| pk.count & SPIKE != 0) {
                let a = pk.axon as usize;
                let first = p.axon_first[a] as usize;
                for si in first..first + p.axon_count[a] as usize {
                    if usize::from(p.syn_rule[si]) != ri {
                        continue;
                    }
                    let post = p.syn_packed[si] & 0xFFFF;
                    ev.push((si as u32, post, pk.axon));
                    if !cp.is_empty() {
                        posts.push(post);
                    }
                }
            }
            // Per-synapse handlers first, then per-post handlers once per receiving post neuron.
            posts.sort_unstable();
            posts.dedup();
            ev.extend(posts.iter().map(|&post| (u32::MAX, post, u32::MAX)));
            run_events(p, s, ri, slot, cs, cp, &ev, t1, env, rule.readout);
        }
        // Pre-trace impulses.
        for k in 0..2 {
            if let Some(ts) = rule.x[k] {
                let xs = &mut s.rules[ri].x[k];
                for pk in arrivals.iter().filter(|pk| pk.count & SPIKE != 0) {
                    let x = &mut xs[pk.axon as usize];
                    *x = trace_add(*x, ts.impulse, env.fm.trace_max);
                }
            }
        }
        // Post handlers: per spiking neuron, its synapses of the rule, then its per-post handlers.
        if let (Some(fz), true) = (fused_post, slot.has[Trigger::Post.code() as usize]) {
            fused_post_events(s, ri, slot, fz, later, lazy, &rf, env);
        } else if slot.has[Trigger::Post.code() as usize] {
            let (cs, cp) = codes(Trigger::Post);
            ev.clear();
            for &i in &s.spikes {
                let post = i as usize;
                let (a, b) = (slot.post_start[post] as usize, slot.post_start[post + 1] as usize);
                if a == b {
                    continue;
                }
                if !cs.is_empty() {
                    ev.extend(slot.post_syn[a..b].iter().zip(&slot.post_axon[a..b]).map(|(&si, &ax)| (si, i, ax)));
                }
            }
            // Per-synapse handlers first, then the per-post handlers of the spiking neurons.
            if !cp.is_empty() {
                for &i in &s.spikes {
                    let post = i as usize;
                    if slot.post_start[post + 1] > slot.post_start[post] {
                        ev.push((u32::MAX, i, u32::MAX));
                    }
                }
            }
            run_events(p, s, ri, slot, cs, cp, &ev, t1, env, rule.readout);
        }
        // Post-trace impulses.
        for k in 0..2 {
            if let Some(ts) = rule.y[k] {
                let spikes = &s.spikes;
                let ys = &mut s.rules[ri].y[k];
                for &i in spikes {
                    let y = &mut ys[i as usize];
                    *y = trace_add(*y, ts.impulse, env.fm.trace_max);
                }
            }
        }
        for (trig, on) in [(Trigger::Step, true), (Trigger::Epoch, epoch_end)] {
            if !on || !slot.has[trig.code() as usize] {
                continue;
            }
            let (cs, cp) = codes(trig);
            ev.clear();
            if !cs.is_empty() {
                for &si in &slot.syns {
                    ev.push((si, p.syn_packed[si as usize] & 0xFFFF, p.syn_axon[si as usize]));
                }
            }
            if !cp.is_empty() {
                for &post in &slot.posts {
                    ev.push((u32::MAX, post, u32::MAX));
                }
            }
            run_events(p, s, ri, slot, cs, cp, &ev, t1, env, rule.readout);
        }
        // Clamp and refresh the touched synapses.
        let touched = std::mem::take(&mut s.touched);
        if rule.readout == Rounding::Nearest {
            refresh_nearest(p, s, &touched, (rule.w_min, rule.w_max), env.fm);
        } else {
            for &si in &touched {
                let si = si as usize;
                s.touched_flag[si] = false;
                s.acc[si] = s.acc[si]
                    .clamp(rule.w_min, rule.w_max)
                    .clamp(smin(env.fm.accumulator_bits) as i32, smax(env.fm.accumulator_bits) as i32);
                refresh_weight(p, s, si, rule.readout, env.fm);
            }
        }
        s.touched = touched;
        s.touched.clear();
    }
    ev.clear();
    s.events = ev;
}

/// Prefetch the cache lines of `xs[r]` (a hint only: no effect on any value); `r` is clipped to
/// `xs`.
#[inline(always)]
pub(crate) fn prefetch<T>(xs: &[T], r: std::ops::Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    {
        let end = r.end.min(xs.len());
        let Some(part) = xs.get(r.start..end) else { return };
        let bytes = std::mem::size_of_val(part);
        if bytes == 0 {
            return;
        }
        let base = part.as_ptr().cast::<i8>();
        // One hint per 64 bytes from the first, and one at the last byte (the range need not
        // start on a line boundary). `wrapping_add` stays inside `part`: no pointer is
        // dereferenced.
        let mut off = 0;
        while off < bytes {
            prefetch_line(base.wrapping_add(off));
            off += 64;
        }
        prefetch_line(base.wrapping_add(bytes - 1));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (xs, r);
}

/// Prefetch the cache line of `at` (x86-64).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_line(at: *const i8) {
    // SAFETY: `_mm_prefetch` is a cache hint (SSE, part of x86-64): it never faults, reads
    // nothing into the program and changes no state, whatever the address.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at)
    }
}

/// `out[k] = xs[idx[k]]` for every `k`: with AVX-512 / AVX2 gathers when `kernel` is AVX-512 /
/// AVX2 (the lanes' loads issued together), else one load after the other.
///
/// # Panics
/// If an index is out of `xs` (as indexing would).
#[inline(always)]
fn gather_lanes(kernel: crate::core::LifKernel, xs: &[i32], idx: &[u32; FB], out: &mut [i32; FB]) {
    use crate::core::LifKernel;
    #[cfg(target_arch = "x86_64")]
    if matches!(kernel, LifKernel::Avx512 | LifKernel::Avx2) && kernel.supported() {
        assert_lanes_inside(xs.len(), idx);
        // SAFETY: the CPU has the kernel's features, AVX-512F or AVX2 (`supported`), and every
        // index is below `xs.len()`, which fits an `i32` (checked above), so each lane reads
        // inside `xs`.
        #[allow(unsafe_code)]
        unsafe {
            if kernel == LifKernel::Avx512 {
                gather_avx512(xs, idx, out)
            } else {
                gather_avx2(xs, idx, out)
            }
        };
        return;
    }
    let _ = kernel;
    for (o, &i) in out.iter_mut().zip(idx) {
        *o = xs[i as usize];
    }
}

/// `xs[idx[k]] = vals[k]` for every `k` in order (a repeated index keeps its last value): with
/// AVX-512 scatters when `kernel` is AVX-512, else one store after the other.
///
/// # Panics
/// If an index is out of `xs` (as indexing would).
#[inline(always)]
fn scatter_lanes(kernel: crate::core::LifKernel, xs: &mut [i32], idx: &[u32; FB], vals: &[i32; FB]) {
    #[cfg(target_arch = "x86_64")]
    if kernel == crate::core::LifKernel::Avx512 && kernel.supported() {
        assert_lanes_inside(xs.len(), idx);
        // SAFETY: as in `gather_lanes`: AVX-512F present, every lane writes inside `xs`. The
        // scatter writes the lanes of one instruction in lane order, and the instructions one
        // after the other, so a repeated index keeps its last value, as the loop below.
        #[allow(unsafe_code)]
        unsafe {
            scatter_avx512(xs, idx, vals)
        };
        return;
    }
    let _ = kernel;
    for (&i, &v) in idx.iter().zip(vals) {
        xs[i as usize] = v;
    }
}

/// Panic unless every index of `idx` is below `len` and `len` fits an `i32` (the gathers'
/// lane offsets are signed 32-bit).
#[inline(always)]
fn assert_lanes_inside(len: usize, idx: &[u32; FB]) {
    let max = idx.iter().fold(0u32, |m, &i| m.max(i));
    assert!((max as usize) < len && len <= i32::MAX as usize, "lane index {max} out of {len}");
}

/// [`gather_lanes`] in AVX-512 gathers of 16 lanes.
///
/// # Safety
/// The CPU has AVX-512F; every index is below `xs.len() ≤ i32::MAX`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn gather_avx512(xs: &[i32], idx: &[u32; FB], out: &mut [i32; FB]) {
    use std::arch::x86_64::{_mm512_i32gather_epi32, _mm512_loadu_si512, _mm512_storeu_si512};
    for (i, o) in idx.chunks_exact(16).zip(out.chunks_exact_mut(16)) {
        // SAFETY: `i` and `o` hold 16 `u32` / `i32` (unaligned loads and stores), and every
        // lane's offset points inside `xs` (the caller's contract).
        unsafe {
            let at = _mm512_loadu_si512(i.as_ptr().cast());
            let v = _mm512_i32gather_epi32::<4>(at, xs.as_ptr());
            _mm512_storeu_si512(o.as_mut_ptr().cast(), v);
        }
    }
}

/// [`gather_lanes`] in AVX2 gathers of 8 lanes.
///
/// # Safety
/// The CPU has AVX2; every index is below `xs.len() ≤ i32::MAX`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn gather_avx2(xs: &[i32], idx: &[u32; FB], out: &mut [i32; FB]) {
    use std::arch::x86_64::{__m256i, _mm256_i32gather_epi32, _mm256_loadu_si256, _mm256_storeu_si256};
    for (i, o) in idx.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
        // SAFETY: `i` and `o` hold 8 `u32` / `i32` (unaligned loads and stores), and every
        // lane's offset points inside `xs` (the caller's contract).
        unsafe {
            let at = _mm256_loadu_si256(i.as_ptr().cast::<__m256i>());
            let v = _mm256_i32gather_epi32::<4>(xs.as_ptr(), at);
            _mm256_storeu_si256(o.as_mut_ptr().cast::<__m256i>(), v);
        }
    }
}

/// [`scatter_lanes`] in AVX-512 scatters of 16 lanes.
///
/// # Safety
/// The CPU has AVX-512F; every index is below `xs.len() ≤ i32::MAX`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn scatter_avx512(xs: &mut [i32], idx: &[u32; FB], vals: &[i32; FB]) {
    use std::arch::x86_64::{_mm512_i32scatter_epi32, _mm512_loadu_si512};
    for (i, v) in idx.chunks_exact(16).zip(vals.chunks_exact(16)) {
        // SAFETY: as in `gather_avx512`.
        unsafe {
            let at = _mm512_loadu_si512(i.as_ptr().cast());
            let v = _mm512_loadu_si512(v.as_ptr().cast());
            _mm512_i32scatter_epi32::<4>(xs.as_mut_ptr(), at, v);
        }
    }
}

/// Prefetch the per-synapse arrays the fused `Pre` kernel reads and writes, over the synapses of
/// this step's spiking arrivals.
/// (`lazy`: only those the kernel without the refresh reads; `deliver` already read the
/// accumulators).
fn prefetch_arrivals(p: &CoreParams, s: &CoreState, arrivals: &[crate::core::Packet], lazy: bool) {
    for pk in arrivals.iter().filter(|pk| pk.count & SPIKE != 0) {
        // The packet carries the axon's synapse range.
        let (first, count) = (pk.first as usize, (pk.count & COUNT_MASK) as usize);
        let r = first..first + count;
        prefetch(&p.syn_rule, r.clone());
        prefetch(&p.syn_packed, r.clone());
        prefetch(&p.syn_lgain, r.clone());
        if lazy {
            continue;
        }
        prefetch(&s.acc, r.clone());
        prefetch(&p.syn_wgain, r.clone());
        prefetch(&p.syn_exp, r.clone());
        prefetch(&s.wr, r.clone());
        prefetch(&s.weff, r);
    }
}

/// The end-of-step clamp and the readout of a rule with nearest readout.
struct Refresh {
    w_min: i32,
    w_max: i32,
    amin: i32,
    amax: i32,
    /// Fraction bits of the accumulator below the weight.
    sh: u32,
    /// Largest weight magnitude.
    m: i64,
}

impl Refresh {
    fn new((w_min, w_max): (i32, i32), fm: &Formats) -> Refresh {
        Refresh {
            w_min,
            w_max,
            amin: smin(fm.accumulator_bits) as i32,
            amax: smax(fm.accumulator_bits) as i32,
            sh: nm_isa::fixed_point::accumulator_frac_bits(fm.accumulator_bits, fm.weight_bits),
            m: (1i64 << fm.weight_bits) - 1,
        }
    }

    /// `acc[si]` clamped to `[w_min, w_max]` and to the accumulator, then `core::refresh_weight`
    /// (readout, efficacy gain, delivered value) inlined. Idempotent.
    #[inline(always)]
    fn one(&self, p: &CoreParams, acc: &mut [i32], wr: &mut [i32], weff: &mut [i32], pe: &mut [(u32, i32)], si: usize) {
        self.one_with(acc, wr, weff, pe, si, p.syn_wgain[si], p.syn_exp[si]);
    }

    /// [`Refresh::one`] with the synapse's weight gain and exponent given.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn one_with(
        &self,
        acc: &mut [i32],
        wr: &mut [i32],
        weff: &mut [i32],
        pe: &mut [(u32, i32)],
        si: usize,
        wgain: u16,
        exp: i8,
    ) {
        let a = acc[si].clamp(self.w_min, self.w_max).clamp(self.amin, self.amax);
        acc[si] = a;
        let r = round_nearest(i64::from(a), self.sh).clamp(-self.m, self.m) as i32;
        wr[si] = r;
        let e = crate::core::apply_gain(r, wgain);
        weff[si] = e;
        pe[si].1 = crate::core::shift_exp(i64::from(e), exp);
    }

    /// The clamps are ranges (`w_min ≤ w_max`), so that they equal `max` then `min` (the
    /// batched kernels' form); otherwise the one-by-one kernels run (and `clamp` panics as in
    /// the interpreter's refresh).
    fn batchable(&self) -> bool {
        self.w_min <= self.w_max && self.amin <= self.amax
    }

    /// `Ctx::write_w` with nearest gain rounding: the new accumulator after the handler stores
    /// `value` over `acc` with learning-rate gain `gain`.
    #[inline(always)]
    ///
    /// Branch-free, so that the batched kernels' lanes vectorise: at `gain = 4096` the rounded
    /// product is `delta` itself (`(|delta| · 4096 + 2048) >> 12 = |delta|`, and `|delta| < 2^34`).
    fn write(&self, acc: i32, value: i32, gain: u16) -> i32 {
        let delta = i64::from(value) - i64::from(acc);
        let scaled = round_nearest(delta * i64::from(gain), 12);
        (i64::from(acc) + scaled).clamp(i64::from(self.amin), i64::from(self.amax)) as i32
    }
}

/// The end-of-step clamp and refresh of the touched synapses of a rule with nearest readout
/// ([`Refresh::one`] for each). Synapses may be listed more than once.
fn refresh_nearest(p: &CoreParams, s: &mut CoreState, touched: &[u32], (w_min, w_max): (i32, i32), fm: &Formats) {
    let rf = Refresh::new((w_min, w_max), fm);
    let (acc, wr, weff, pe) = (&mut s.acc, &mut s.wr, &mut s.weff, &mut s.pe);
    for &si in touched {
        rf.one(p, acc, wr, weff, pe, si as usize);
    }
}

/// The per-synapse constants the learning engine reads for a synapse, copied in a rule's CSC
/// order (`RuleSlot::post_par`) so that a post spike reads them in sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynPar {
    pub lgain: u16,
    pub wgain: u16,
    pub exp: i8,
}

/// `RuleSlot::post_par` of `slot`: built at the end of `core::load_core`, from the final
/// per-synapse gains and exponents.
pub fn post_params(p: &CoreParams, slot: &RuleSlot) -> Vec<SynPar> {
    slot.post_syn
        .iter()
        .map(|&si| {
            let si = si as usize;
            SynPar { lgain: p.syn_lgain[si], wgain: p.syn_wgain[si], exp: p.syn_exp[si] }
        })
        .collect()
}

std::thread_local! {
    /// Scratch lanes of the fused `Pre` kernel (not state: a batch starts empty).
    static PRE_LANES: std::cell::RefCell<Box<PreLanes>> = std::cell::RefCell::new(Box::new(PreLanes::new()));
}

std::thread_local! {
    /// Scratch terms of the fused kernels (one per trace entry; not state).
    static TERMS: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The trace vector `src` of a [`FusedW`] (empty if the rule has no such trace: reads 0).
fn fused_trace(rs: &RuleState, src: Src) -> (&[i32], bool) {
    match src {
        Src::X0 => (&rs.x[0], true),
        Src::X1 => (&rs.x[1], true),
        Src::Y0 => (&rs.y[0], false),
        _ => (&rs.y[1], false),
    }
}

/// The `Pre` per-synapse handler of the [`FusedW`] shape (and no `Pre` per-post handler), fused:
/// the same events in the same order as `learn_core`'s interpreter path (spiking arrivals in
/// order, each axon's synapses of the rule in order), the same writes and charges. A synapse is
/// clamped and refreshed at once unless a later handler of the step may touch it again (`later`:
/// `Step`/`Epoch` handlers; `post_later`: `Post` handlers, for the synapses of this step's
/// spiking posts; an axon arriving twice in the step), in which case it is listed as touched.
#[allow(clippy::too_many_arguments)]
fn fused_pre_events(
    p: &CoreParams,
    s: &mut CoreState,
    ri: usize,
    fz: &FusedW,
    arrivals: &[crate::core::Packet],
    t1: u64,
    (later, post_later, lazy): (bool, bool, bool),
    rf: &Refresh,
    env: &LearnEnv<'_>,
) {
    let mut last = None;
    let mut repeat = false;
    for pk in arrivals.iter().filter(|pk| pk.count & SPIKE != 0) {
        repeat |= last.is_some_and(|a| a >= pk.axon);
        last = Some(pk.axon);
    }
    if last.is_none() {
        return;
    }
    let defer_all = later || repeat;
    if lazy {
        s.stale.prepare(s.acc.len(), env.fm);
    }
    let CoreState { rules, acc, wr, weff, pe, touched, spike_step, meter, spikes, stale, .. } = s;
    let (traces, per_axon) = fused_trace(&rules[ri], fz.src);
    let t0 = fz.term(0);
    let mut n = 0u64;
    let batched = !defer_all && rf.batchable();
    // No synapse is deferred (no post spiked this step, or no `Post` handler follows): each
    // axon's synapses are updated in place.
    let in_place = batched && (!post_later || spikes.is_empty());
    TERMS.with_borrow_mut(|terms| {
        if !per_axon {
            fz.terms_into(traces, terms, env.fm.lif_kernel, env.fm.trace_max);
        }
        PRE_LANES.with_borrow_mut(|lanes| {
            lanes.n = 0;
            for pk in arrivals.iter().filter(|pk| pk.count & SPIKE != 0) {
                let a = pk.axon as usize;
                // The packet carries the axon's synapse range (`axon_first`, `axon_count`).
                let (first, count) = (pk.first as usize, (pk.count & COUNT_MASK) as usize);
                let d_axon = if per_axon { fz.term(traces.get(a).copied().unwrap_or(0)) } else { 0 };
                debug_assert_eq!((p.axon_first[a] as usize, p.axon_count[a] as usize), (first, count), "axon {a}");
                let range = first..first + count;
                let row =
                    p.axon_rows.get(a).copied().unwrap_or(crate::core::AxonRow { post_run: u32::MAX, rule: u8::MAX });
                let uniform = batched && (count == 0 || usize::from(row.rule) == ri);
                if uniform && in_place {
                    let r = range;
                    let x = PreAxon {
                        acc: &mut acc[r.clone()],
                        wr: &mut wr[r.clone()],
                        weff: &mut weff[r.clone()],
                        pe: &mut pe[r.clone()],
                        packed: &p.syn_packed[r.clone()],
                        lg: &p.syn_lgain[r.clone()],
                        wg: &p.syn_wgain[r.clone()],
                        ex: &p.syn_exp[r.clone()],
                    };
                    let tm = Terms { terms, d_axon: per_axon.then_some(d_axon), t0, run: row.post_run };
                    pre_in_place(rf, fz, x, tm, lazy, env.fm.lif_kernel);
                    if lazy {
                        stale.mark_range(r);
                    }
                    n += count as u64;
                    continue;
                }
                if uniform {
                    // Distinct synapses (the axons arrive in ascending order, `!repeat`), so the
                    // batch equals the one-by-one loop below.
                    for si in range {
                        let post = (p.syn_packed[si] & 0xFFFF) as usize;
                        let d = if per_axon { d_axon } else { terms.get(post).copied().unwrap_or(t0) };
                        let k = lanes.n;
                        let a0 = acc[si];
                        lanes.l.a[k] = a0;
                        lanes.l.v[k] = fz.result(a0, d);
                        lanes.l.lg[k] = p.syn_lgain[si];
                        lanes.l.wg[k] = p.syn_wgain[si];
                        lanes.l.ex[k] = p.syn_exp[si];
                        lanes.si[k] = si as u32;
                        lanes.defer[k] = post_later && spike_step[post] == t1;
                        lanes.n += 1;
                        if lanes.n == FB {
                            lanes.flush(rf, SynState { acc, wr, weff, pe, touched }, env.fm.lif_kernel);
                        }
                    }
                    n += count as u64;
                    continue;
                }
                lanes.flush(rf, SynState { acc, wr, weff, pe, touched }, env.fm.lif_kernel);
                for si in range {
                    if usize::from(p.syn_rule[si]) != ri {
                        continue;
                    }
                    let post = (p.syn_packed[si] & 0xFFFF) as usize;
                    let d = if per_axon { d_axon } else { terms.get(post).copied().unwrap_or(t0) };
                    let a0 = acc[si];
                    acc[si] = rf.write(a0, fz.result(a0, d), p.syn_lgain[si]);
                    n += 1;
                    if defer_all || (post_later && spike_step[post] == t1) {
                        touched.push(si as u32);
                    } else {
                        rf.one(p, acc, wr, weff, pe, si);
                    }
                }
            }
            lanes.flush(rf, SynState { acc, wr, weff, pe, touched }, env.fm.lif_kernel);
        });
    });
    if n > 0 {
        meter.charge(env.costs, Charge::LearningBatch { invocations: n, ops: n * fz.len, cycles: n * fz.cycles });
    }
}

/// One post neuron's synapses of a rule, in CSC order.
struct PostSyns<'a> {
    syn: &'a [u32],
    axon: &'a [u32],
    /// `axon` is `run, run + 1, …` (`RuleSlot::post_axon_run`; `u32::MAX`: not known to be).
    run: u32,
    /// `syn` is `syn[0], syn[0] + step, …` (`RuleSlot::post_syn_step`; 0: not known to be).
    step: u32,
    par: &'a [SynPar],
    /// The learning gains of `par` (`RuleSlot::post_lgain`).
    lg: &'a [u16],
}

/// The per-synapse state a fused kernel writes.
struct SynState<'a> {
    acc: &'a mut [i32],
    wr: &'a mut [i32],
    weff: &'a mut [i32],
    pe: &'a mut [(u32, i32)],
    touched: &'a mut Vec<u32>,
}

/// Lanes of the batched fused kernels.
const FB: usize = 64;

/// Inputs and outputs of [`lanes_math`], one entry per lane.
struct Lanes {
    /// In: the accumulator; out: after the write and the clamp.
    a: [i32; FB],
    /// In: the value the handler stores; out: the accumulator after the write, before the clamp.
    v: [i32; FB],
    lg: [u16; FB],
    wg: [u16; FB],
    ex: [i8; FB],
    wr: [i32; FB],
    weff: [i32; FB],
    pe: [i32; FB],
}

impl Lanes {
    fn new() -> Lanes {
        Lanes { a: [0; FB], v: [0; FB], lg: [0; FB], wg: [0; FB], ex: [0; FB], wr: [0; FB], weff: [0; FB], pe: [0; FB] }
    }
}

/// One arriving axon's synapses (all of the rule) for [`pre_in_place`].
struct PreAxon<'a> {
    acc: &'a mut [i32],
    wr: &'a mut [i32],
    weff: &'a mut [i32],
    pe: &'a mut [(u32, i32)],
    packed: &'a [u32],
    lg: &'a [u16],
    wg: &'a [u16],
    ex: &'a [i8],
}

/// The fused `Pre` write of every synapse of `x`, clamped and refreshed at once ([`Refresh::write`]
/// then [`Refresh::one_with`]); the term is `d_axon` or, per post, `terms[post]` (`t0` beyond).
/// Needs `rf.batchable()`.
#[inline(always)]
fn pre_in_place_body<const LAZY: bool>(rf: &Refresh, fz: &FusedW, x: PreAxon<'_>, tm: Terms<'_>) {
    let PreAxon { acc, wr, weff, pe, packed, lg, wg, ex } = x;
    let Terms { terms, d_axon, t0, run } = tm;
    let n = acc.len();
    let (wr, weff, pe, packed, lg, wg, ex) =
        (&mut wr[..n], &mut weff[..n], &mut pe[..n], &packed[..n], &lg[..n], &wg[..n], &ex[..n]);
    // `fz.result(w, d)` as `sat32(sw · w + sd · d)`.
    let (sw, sd) = match fz.combine {
        crate::fastlearn::Combine::WPlusD => (1i64, 1i64),
        crate::fastlearn::Combine::WMinusD => (1, -1),
        crate::fastlearn::Combine::DMinusW => (-1, 1),
    };
    let mut dbuf = [0i32; FB];
    let mut pbuf = [0i32; FB];
    let mut at = 0;
    while at < n {
        let m = (n - at).min(FB);
        let r = at..at + m;
        let (acc, wr, weff, packed, lg, wg, ex) = (
            &mut acc[r.clone()],
            &mut wr[r.clone()],
            &mut weff[r.clone()],
            &packed[r.clone()],
            &lg[r.clone()],
            &wg[r.clone()],
            &ex[r.clone()],
        );
        let dbuf = &mut dbuf[..m];
        // Consecutive targets inside the terms: one slice, not a gather.
        let first = (run as usize).wrapping_add(at);
        match (d_axon, terms.get(first..first.wrapping_add(m)).filter(|_| run != u32::MAX)) {
            (Some(d), _) => dbuf.fill(d),
            (None, Some(part)) => dbuf.copy_from_slice(part),
            (None, None) => {
                for (d, &pk) in dbuf.iter_mut().zip(packed) {
                    *d = terms.get((pk & 0xFFFF) as usize).copied().unwrap_or(t0);
                }
            }
        }
        let pbuf = &mut pbuf[..m];
        for k in 0..m {
            let a0 = acc[k];
            let v =
                (i64::from(a0) * sw + i64::from(dbuf[k]) * sd).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            let w = rf.write(a0, v, lg[k]);
            let a = w.max(rf.w_min).min(rf.w_max).max(rf.amin).min(rf.amax);
            acc[k] = a;
            if !LAZY {
                let r = round_nearest(i64::from(a), rf.sh).max(-rf.m).min(rf.m) as i32;
                wr[k] = r;
                let e = crate::core::apply_gain(r, wg[k]);
                weff[k] = e;
                pbuf[k] = crate::core::shift_exp(i64::from(e), ex[k]);
            }
        }
        if !LAZY {
            for (p, &v) in pe[r].iter_mut().zip(pbuf.iter()) {
                p.1 = v;
            }
        }
        at += m;
    }
}

/// [`pre_in_place_body`] (`lazy`: without the refresh, which the caller marks stale) compiled
/// for `kernel` (AVX2 / AVX-512 if the CPU has them; same values).
fn pre_in_place(
    rf: &Refresh,
    fz: &FusedW,
    x: PreAxon<'_>,
    terms: Terms<'_>,
    lazy: bool,
    kernel: crate::core::LifKernel,
) {
    #[inline(always)]
    fn body(rf: &Refresh, fz: &FusedW, x: PreAxon<'_>, terms: Terms<'_>, lazy: bool) {
        if lazy {
            pre_in_place_body::<true>(rf, fz, x, terms)
        } else {
            pre_in_place_body::<false>(rf, fz, x, terms)
        }
    }
    with_kernel!(kernel, body(rf: &Refresh, fz: &FusedW, x: PreAxon<'_>, terms: Terms<'_>, lazy: bool))
}

/// The terms of [`pre_in_place`]: `d_axon` for every synapse, or per post `terms[post]` (`t0`
/// beyond).
struct Terms<'a> {
    terms: &'a [i32],
    d_axon: Option<i32>,
    t0: i32,
    /// The axon's targets are `run, run + 1, …` (`CoreParams::axon_rows`; `u32::MAX`: not
    /// known to be).
    run: u32,
}

/// A batch of `Pre` events of the fused kernel being gathered: lanes `0..n` hold synapse
/// `si[k]` (distinct), which is listed as touched instead of refreshed if `defer[k]`.
struct PreLanes {
    l: Lanes,
    si: [u32; FB],
    defer: [bool; FB],
    n: usize,
}

impl PreLanes {
    fn new() -> PreLanes {
        PreLanes { l: Lanes::new(), si: [0; FB], defer: [false; FB], n: 0 }
    }

    /// Run [`lanes_math`] over the gathered lanes and scatter them: a deferred synapse gets the
    /// written accumulator (as `fused_pre_events`' one-by-one loop), the others the clamped
    /// one and its refresh.
    fn flush(&mut self, rf: &Refresh, st: SynState<'_>, kernel: crate::core::LifKernel) {
        if self.n == 0 {
            return;
        }
        let SynState { acc, wr, weff, pe, touched } = st;
        lanes_math(rf, &mut self.l, kernel);
        let l = &self.l;
        for k in 0..self.n {
            let si = self.si[k] as usize;
            if self.defer[k] {
                acc[si] = l.v[k];
                touched.push(si as u32);
            } else {
                acc[si] = l.a[k];
                wr[si] = l.wr[k];
                weff[si] = l.weff[k];
                pe[si].1 = l.pe[k];
            }
        }
        self.n = 0;
    }
}

/// [`Refresh::write`] then [`Refresh::one_with`] on every lane (all `FB`, whatever the batch
/// size: unused lanes hold finite values and are not stored), as loops the compiler vectorises.
/// Needs `rf.batchable()` (the clamps as `max`/`min`).
#[inline(always)]
fn lanes_math_body(rf: &Refresh, l: &mut Lanes) {
    for k in 0..FB {
        let w = rf.write(l.a[k], l.v[k], l.lg[k]);
        l.v[k] = w;
        let a = w.max(rf.w_min).min(rf.w_max).max(rf.amin).min(rf.amax);
        l.a[k] = a;
        let r = round_nearest(i64::from(a), rf.sh).max(-rf.m).min(rf.m) as i32;
        l.wr[k] = r;
        let e = crate::core::apply_gain(r, l.wg[k]);
        l.weff[k] = e;
        l.pe[k] = crate::core::shift_exp(i64::from(e), l.ex[k]);
    }
}

/// [`lanes_math_body`] compiled for `kernel` (AVX2 / AVX-512 if the CPU has them; same values).
fn lanes_math(rf: &Refresh, l: &mut Lanes, kernel: crate::core::LifKernel) {
    with_kernel!(kernel, lanes_math_body(rf: &Refresh, l: &mut Lanes))
}

/// `post_loop::<_, false>` in batches of [`FB`] synapses (distinct synapses, so the same as one
/// after the other): gather, [`lanes_math`], scatter.
#[allow(clippy::too_many_arguments)]
fn post_batched(
    fz: &FusedW,
    rf: &Refresh,
    syns: PostSyns<'_>,
    st: SynState<'_>,
    terms: &[i32],
    d: i32,
    per_axon: bool,
    kernel: crate::core::LifKernel,
) {
    let SynState { acc, wr, weff, pe, .. } = st;
    let mut l = Lanes::new();
    for ((sy, ax), par) in syns.syn.chunks(FB).zip(syns.axon.chunks(FB)).zip(syns.par.chunks(FB)) {
        for (k, ((&si, &ax), p)) in sy.iter().zip(ax).zip(par).enumerate() {
            let a0 = acc[si as usize];
            let d = if per_axon { terms.get(ax as usize).copied().unwrap_or(d) } else { d };
            l.a[k] = a0;
            l.v[k] = fz.result(a0, d);
            l.lg[k] = p.lgain;
            l.wg[k] = p.wgain;
            l.ex[k] = p.exp;
        }
        lanes_math(rf, &mut l, kernel);
        for (k, &si) in sy.iter().enumerate() {
            let si = si as usize;
            acc[si] = l.a[k];
            wr[si] = l.wr[k];
            weff[si] = l.weff[k];
            pe[si].1 = l.pe[k];
        }
    }
}

/// The fused `Post` handler over one post's synapses: the term from `terms[axon]` (`t0` beyond
/// it) if `PER_AXON`, else the post's term `d`; each synapse listed as touched if `DEFER`, else
/// clamped and refreshed at once.
#[inline(always)]
fn post_loop<const PER_AXON: bool, const DEFER: bool>(
    fz: &FusedW,
    rf: &Refresh,
    syns: PostSyns<'_>,
    st: SynState<'_>,
    terms: &[i32],
    d: i32,
) {
    let SynState { acc, wr, weff, pe, touched } = st;
    for ((&si, &ax), par) in syns.syn.iter().zip(syns.axon).zip(syns.par) {
        let si = si as usize;
        let d = if PER_AXON { terms.get(ax as usize).copied().unwrap_or(d) } else { d };
        let a0 = acc[si];
        acc[si] = rf.write(a0, fz.result(a0, d), par.lgain);
        if DEFER {
            touched.push(si as u32);
        } else {
            rf.one_with(acc, wr, weff, pe, si, par.wgain, par.exp);
        }
    }
}

/// The arguments of [`post_lazy`]: one post's synapses, the accumulators and stale marks they
/// write, the terms per axon (if `per_axon`) or the post's term `d`.
struct LazyPost<'a> {
    fz: &'a FusedW,
    rf: &'a Refresh,
    syns: PostSyns<'a>,
    acc: &'a mut [i32],
    stale: &'a mut crate::core::Stale,
    terms: &'a [i32],
    d: i32,
    per_axon: bool,
    /// Mark the span from the first to the last synapse stale at once, not synapse by synapse
    /// (`RuleSlot::owns_core`).
    span: bool,
}

/// [`post_loop::<PER_AXON, false>`] without the refresh: each synapse's accumulator written and
/// clamped (as [`Refresh::one`]), and the synapse marked stale (`core::Stale`) for its next
/// reader to refresh; compiled for `kernel`.
fn post_lazy(a: LazyPost<'_>, kernel: crate::core::LifKernel) {
    #[inline(always)]
    fn body(a: LazyPost<'_>, kernel: crate::core::LifKernel) {
        let LazyPost { fz, rf, syns, acc, stale, terms, d, per_axon, span } = a;
        let x = (fz, rf, syns, acc, stale, terms, d, kernel);
        match (per_axon, span) {
            (true, false) => post_lazy_body::<true, false>(x),
            (true, true) => post_lazy_body::<true, true>(x),
            (false, false) => post_lazy_body::<false, false>(x),
            (false, true) => post_lazy_body::<false, true>(x),
        }
    }
    with_kernel!(kernel, body(a: LazyPost<'_>, kernel: crate::core::LifKernel))
}

/// The body of [`post_lazy`], in chunks of [`FB`] synapses (distinct, so the same as one after
/// the other): gather, arithmetic over the lanes, scatter.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn post_lazy_body<const PER_AXON: bool, const SPAN: bool>(
    (fz, rf, syns, acc, stale, terms, d, kernel): (
        &FusedW,
        &Refresh,
        PostSyns<'_>,
        &mut [i32],
        &mut crate::core::Stale,
        &[i32],
        i32,
        crate::core::LifKernel,
    ),
) {
    stale.any = true;
    let bits = &mut stale.bits[..];
    let (sw, sd) = match fz.combine {
        crate::fastlearn::Combine::WPlusD => (1i64, 1i64),
        crate::fastlearn::Combine::WMinusD => (1, -1),
        crate::fastlearn::Combine::DMinusW => (-1, 1),
    };
    let mut a = [0i32; FB];
    let mut dd = [d; FB];
    let mut lg = [4096u16; FB];
    let len = syns.syn.len();
    // A post's synapses at a constant stride (`RuleSlot::post_syn_step`, a dense projection):
    // their indices computed, not read from `post_syn` (whose stream pushed the accumulators out
    // of the L2 cache).
    let step = syns.step as usize;
    let s0 = syns.syn.first().map_or(0, |&s| s as usize);
    let mut ib = [0u32; FB];
    let chunk = |c: usize, ib: &mut [u32; FB]| -> usize {
        let m = (len - c * FB).min(FB);
        for (k, i) in ib[..m].iter_mut().enumerate() {
            *i = (s0 + (c * FB + k) * step) as u32;
        }
        m
    };
    // Full chunks gather their accumulators in vector gathers (AVX2, AVX-512) and scatter them
    // in AVX-512 instructions, whose loads overlap; without AVX-512 the accumulators of the first
    // chunk, then each chunk's those of the next, are prefetched, so that their cache misses
    // overlap with the chunk's work.
    let vector = kernel == crate::core::LifKernel::Avx512 && kernel.supported();
    let prefetch_chunk = |acc: &[i32], c: usize| {
        if step != 0 {
            for k in (c * FB..len).take(FB) {
                prefetch_line(acc.as_ptr().wrapping_add(s0 + k * step).cast());
            }
        } else {
            for &si in syns.syn.iter().skip(c * FB).take(FB) {
                prefetch_line(acc.as_ptr().wrapping_add(si as usize).cast());
            }
        }
    };
    if !vector {
        prefetch_chunk(acc, 0);
    }
    for c in 0..len.div_ceil(FB) {
        if !vector {
            prefetch_chunk(acc, c + 1);
        }
        let sy: &[u32] = if step != 0 {
            let m = chunk(c, &mut ib);
            &ib[..m]
        } else {
            &syns.syn[c * FB..(c * FB + FB).min(len)]
        };
        let m = sy.len();
        let full = <&[u32; FB]>::try_from(sy).ok();
        match full {
            Some(sy) => gather_lanes(kernel, acc, sy, &mut a),
            None => {
                for (k, &si) in sy.iter().enumerate() {
                    a[k] = acc[si as usize];
                }
            }
        }
        if PER_AXON {
            // Consecutive axons inside the terms: one slice, not a gather.
            let first = (syns.run as usize).wrapping_add(c * FB);
            match terms.get(first..first.wrapping_add(m)).filter(|_| syns.run != u32::MAX) {
                Some(run) => dd[..run.len()].copy_from_slice(run),
                None => {
                    for (k, &x) in syns.axon[c * FB..c * FB + m].iter().enumerate() {
                        dd[k] = terms.get(x as usize).copied().unwrap_or(d);
                    }
                }
            }
        }
        lg[..m].copy_from_slice(&syns.lg[c * FB..c * FB + m]);
        // Every lane (unused ones hold finite values and are not stored), so that it vectorises.
        if post_narrow_fits(sw, &a, &dd) {
            post_math_narrow(rf, sd as i32, &mut a, &dd, &lg);
        } else {
            post_math_wide(rf, (sw, sd), &mut a, &dd, &lg);
        }
        match full {
            Some(sy) => scatter_lanes(kernel, acc, sy, &a),
            None => {
                for (k, &si) in sy.iter().enumerate() {
                    acc[si as usize] = a[k];
                }
            }
        }
        if !SPAN {
            for &si in sy {
                let si = si as usize;
                bits[si / 64] |= 1u64 << (si % 64);
            }
        }
    }
    if SPAN && len > 0 {
        let (lo, hi) = if step != 0 {
            (s0, s0 + (len - 1) * step)
        } else {
            let (lo, hi) = syns.syn.iter().fold((u32::MAX, 0), |(lo, hi), &si| (lo.min(si), hi.max(si)));
            (lo as usize, hi as usize)
        };
        stale.mark_range(lo..hi + 1);
    }
}

/// The lazy `Post` kernel's arithmetic on every lane: the handler's value `sat32(sw · a + sd ·
/// d)`, written with the lane's gain ([`Refresh::write`]) and clamped to the rule's and the
/// accumulator's bounds.
#[inline(always)]
fn post_math_wide(rf: &Refresh, (sw, sd): (i64, i64), a: &mut [i32; FB], dd: &[i32; FB], lg: &[u16; FB]) {
    for k in 0..FB {
        let a0 = a[k];
        let v = (i64::from(a0) * sw + i64::from(dd[k]) * sd).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let w = rf.write(a0, v, lg[k]);
        a[k] = w.max(rf.w_min).min(rf.w_max).max(rf.amin).min(rf.amax);
    }
}

/// Whether [`post_math_narrow`] equals [`post_math_wide`] on these lanes: the accumulator's own
/// weight (`sw = 1`), every `|a| < 2^30` and every `|d| < 2^15`.
#[inline(always)]
fn post_narrow_fits(sw: i64, a: &[i32; FB], dd: &[i32; FB]) -> bool {
    let ma = a.iter().fold(0u32, |m, &x| m.max(x.unsigned_abs()));
    let md = dd.iter().fold(0u32, |m, &x| m.max(x.unsigned_abs()));
    sw == 1 && ma < 1 << 30 && md < 1 << 15
}

/// [`post_math_wide`] for `sw = 1` in 32-bit lanes, where [`post_narrow_fits`]: `a + sd · d`
/// does not saturate, so the written delta is `sd · d` itself; `|sd · d · gain| < 2^31`, and
/// the rounded product is below `2^19`, so `a` plus it fits an `i32`.
#[inline(always)]
fn post_math_narrow(rf: &Refresh, sd: i32, a: &mut [i32; FB], dd: &[i32; FB], lg: &[u16; FB]) {
    for k in 0..FB {
        let a0 = a[k];
        let p = dd[k] * sd * i32::from(lg[k]);
        let ps = p >> 31;
        let scaled = ((((p.unsigned_abs() + 2048) >> 12) as i32) ^ ps).wrapping_sub(ps);
        // `Refresh::write`'s clamp to the accumulator's bounds is left out: the last clamp
        // gives the same value after the rule's bounds either way (`batchable` bounds).
        a[k] = (a0 + scaled).max(rf.w_min).min(rf.w_max).max(rf.amin).min(rf.amax);
    }
}

/// The `Post` per-synapse handler of the [`FusedW`] shape (and no `Post` per-post handler),
/// fused: spiking posts in order, each post's synapses of the rule in CSC order, as
/// `learn_core`'s interpreter path. A synapse is clamped and refreshed at once unless `Step` /
/// `Epoch` handlers follow (`later`) or a post is listed twice, in which case it is listed as
/// touched.
#[allow(clippy::too_many_arguments)]
fn fused_post_events(
    s: &mut CoreState,
    ri: usize,
    slot: &RuleSlot,
    fz: &FusedW,
    later: bool,
    lazy: bool,
    rf: &Refresh,
    env: &LearnEnv<'_>,
) {
    if s.spikes.is_empty() {
        return;
    }
    if lazy {
        s.stale.prepare(s.acc.len(), env.fm);
    }
    let CoreState { rules, acc, wr, weff, pe, touched, spikes, meter, stale, .. } = s;
    let repeat = spikes.windows(2).any(|w| w[0] >= w[1]);
    let defer_all = later || repeat;
    let (traces, per_axon) = fused_trace(&rules[ri], fz.src);
    let t0 = fz.term(0);
    let mut n = 0u64;
    TERMS.with_borrow_mut(|terms| {
        let mut have_terms = false;
        for &i in spikes.iter() {
            let post = i as usize;
            let (a, b) = (slot.post_start[post] as usize, slot.post_start[post + 1] as usize);
            if a == b {
                continue;
            }
            if per_axon && !have_terms {
                fz.terms_into(traces, terms, env.fm.lif_kernel, env.fm.trace_max);
                have_terms = true;
            }
            let d_post = if per_axon { 0 } else { fz.term(traces.get(post).copied().unwrap_or(0)) };
            let syns = PostSyns {
                syn: &slot.post_syn[a..b],
                axon: &slot.post_axon[a..b],
                run: slot.post_axon_run.get(post).copied().unwrap_or(u32::MAX),
                step: slot.post_syn_step.get(post).copied().unwrap_or(0),
                par: &slot.post_par[a..b],
                lg: &slot.post_lgain[a..b],
            };
            let st = SynState { acc, wr, weff, pe, touched };
            match (per_axon, defer_all) {
                (true, false) if lazy && rf.batchable() => post_lazy(
                    LazyPost { fz, rf, syns, acc, stale, terms, d: t0, per_axon: true, span: slot.owns_core },
                    env.fm.lif_kernel,
                ),
                (false, false) if lazy && rf.batchable() => post_lazy(
                    LazyPost { fz, rf, syns, acc, stale, terms: &[], d: d_post, per_axon: false, span: slot.owns_core },
                    env.fm.lif_kernel,
                ),
                _ if !defer_all && rf.batchable() => post_batched(
                    fz,
                    rf,
                    syns,
                    st,
                    if per_axon { terms } else { &[] },
                    if per_axon { t0 } else { d_post },
                    per_axon,
                    env.fm.lif_kernel,
                ),
                (true, false) => post_loop::<true, false>(fz, rf, syns, st, terms, t0),
                (true, true) => post_loop::<true, true>(fz, rf, syns, st, terms, t0),
                (false, false) => post_loop::<false, false>(fz, rf, syns, st, &[], d_post),
                (false, true) => post_loop::<false, true>(fz, rf, syns, st, &[], d_post),
            }
            n += (b - a) as u64;
        }
    });
    if n > 0 {
        meter.charge(env.costs, Charge::LearningBatch { invocations: n, ops: n * fz.len, cycles: n * fz.cycles });
    }
}

/// Run the handlers `syn_codes` (per-synapse events) or `post_codes` (per-post events) for every
/// event in order, over one context, and charge every invocation.
#[allow(clippy::too_many_arguments)]
fn run_events(
    p: &CoreParams,
    s: &mut CoreState,
    ri: usize,
    slot: &RuleSlot,
    syn_codes: &[FastCode],
    post_codes: &[FastCode],
    events: &[Event],
    t1: u64,
    env: &LearnEnv<'_>,
    write_rounding: Rounding,
) {
    if events.is_empty() || (syn_codes.is_empty() && post_codes.is_empty()) {
        return;
    }
    let (mut invocations, mut ops, mut cycles) = (0u64, 0u64, 0u64);
    let mut ctx = Ctx {
        syn: usize::MAX,
        post: 0,
        axon: usize::MAX,
        t1,
        slot,
        rs: &s.rules[ri],
        acc: &mut s.acc,
        wr: &s.wr,
        tag: &mut s.tag,
        lgain: &p.syn_lgain,
        touched: &mut s.touched,
        touched_flag: &mut s.touched_flag,
        kind: &p.kind,
        u: &s.u,
        v: &s.v,
        y: &s.y,
        spike_step: &s.spike_step,
        arr_step: &s.arr_step,
        arr_payload: &s.arr_payload,
        pay_step: &s.pay_step,
        lastpre_at_spike: &s.lastpre_at_spike,
        signals: env.signals,
        rng: &mut s.learn_rng,
        fm: env.fm,
        write_rounding,
        dedup_touched: write_rounding != Rounding::Nearest,
    };
    // Per-synapse events of strictly ascending synapse index (hence distinct synapses) run in
    // batches when every per-synapse handler is batchable: same effects as one after the other.
    // A stochastic gain rounding draws from the learning PRNG at each store, so those rules run
    // one synapse after the other to keep the draw order.
    let batch =
        !syn_codes.is_empty() && syn_codes.iter().all(|c| c.batchable) && write_rounding != Rounding::Stochastic;
    let mut i = 0;
    while i < events.len() {
        let ev = events[i];
        if batch && ev.0 != u32::MAX {
            let mut j = i + 1;
            while j < events.len() && j - i < LANES && events[j].0 != u32::MAX && events[j].0 > events[j - 1].0 {
                j += 1;
            }
            let lanes = &events[i..j];
            let n = lanes.len() as u64;
            for code in syn_codes {
                cycles += exec_batch(code, &mut ctx, lanes);
                ops += code.len * n;
                invocations += n;
            }
            i = j;
            continue;
        }
        let codes = if ev.0 == u32::MAX { post_codes } else { syn_codes };
        ctx.select(ev);
        for code in codes {
            cycles += exec_fast(code, &mut ctx);
            ops += code.len;
            invocations += 1;
        }
        i += 1;
    }
    s.meter.charge(env.costs, Charge::LearningBatch { invocations, ops, cycles });
}

#[cfg(test)]
mod tests {
    //! `Ctx`'s direct lane gathers and stores against the per-lane definition of `LaneCtx`.
    use super::*;
    use nm_isa::chip::ChipSpec;

    /// Owned state behind a `Ctx`.
    struct World {
        slot: RuleSlot,
        rs: RuleState,
        acc: Vec<i32>,
        wr: Vec<i32>,
        tag: Vec<i32>,
        lgain: Vec<u16>,
        touched: Vec<u32>,
        flag: Vec<bool>,
        kind: Vec<NeuronKind>,
        st: Vec<i32>,
        steps: Vec<u64>,
        lastpre: Vec<u32>,
        sig: [i32; 8],
        rng: HwRng,
        fm: Formats,
    }

    impl World {
        fn new(seed: u64, ns: usize, na: usize, n: usize) -> World {
            let mut r = HwRng::new(seed, 1);
            let mut v = |len: usize, m: u32| (0..len).map(|_| (r.next_u32() % m) as i32 - (m / 2) as i32).collect();
            let fm = Formats::new(&ChipSpec::default_profile());
            World {
                slot: RuleSlot::default(),
                rs: RuleState { x: [v(na, 4000), v(na, 4000)], y: [v(n, 4000), v(n, 4000)] },
                acc: v(ns, 60000),
                wr: v(ns, 500),
                tag: v(ns, 200),
                lgain: (0..ns).map(|i| 3500 + (i as u16 * 37) % 1200).collect(),
                touched: Vec::new(),
                flag: vec![false; ns],
                kind: vec![NeuronKind::Lif; n],
                st: v(n, 1000),
                steps: vec![5; na.max(n)],
                lastpre: vec![0; n],
                sig: [1, 2, 3, 4, 5, 6, 7, 8],
                rng: HwRng::new(seed, 2),
                fm,
            }
        }
        fn ctx(&mut self, write_rounding: Rounding) -> Ctx<'_> {
            Ctx {
                syn: usize::MAX,
                post: 0,
                axon: usize::MAX,
                t1: 5,
                slot: &self.slot,
                rs: &self.rs,
                acc: &mut self.acc,
                wr: &self.wr,
                tag: &mut self.tag,
                lgain: &self.lgain,
                touched: &mut self.touched,
                touched_flag: &mut self.flag,
                kind: &self.kind,
                u: &self.st,
                v: &self.st,
                y: &self.st,
                spike_step: &self.steps,
                arr_step: &self.steps,
                arr_payload: &self.st,
                pay_step: &self.steps,
                lastpre_at_spike: &self.lastpre,
                signals: &self.sig,
                rng: &mut self.rng,
                fm: &self.fm,
                write_rounding,
                dedup_touched: write_rounding != Rounding::Nearest,
            }
        }
    }

    #[test]
    fn lane_gathers_and_stores_equal_lane_by_lane() {
        let (ns, na, n) = (300, 40, 30);
        let srcs = [Src::W, Src::Wr, Src::X0, Src::X1, Src::Y0, Src::Y1, Src::Tag, Src::Yv, Src::Xs, Src::Sig(3)];
        for seed in 0..20u64 {
            let mut r = HwRng::new(seed, 9);
            // Lanes: synapses (some repeated), a per-post lane, axons out of range.
            let lanes: Vec<Event> = (0..64)
                .map(|k| match r.next_u32() % 10 {
                    0 => (u32::MAX, r.next_u32() % n as u32, u32::MAX),
                    1 => (r.next_u32() % ns as u32, r.next_u32() % n as u32, na as u32 + 3),
                    _ => (
                        (k * 4 + (r.next_u32() % 3) as usize) as u32 % ns as u32,
                        r.next_u32() % n as u32,
                        r.next_u32() % na as u32,
                    ),
                })
                .collect();
            let vals: Vec<i32> = (0..lanes.len()).map(|_| (r.next_u32() % 70000) as i32 - 35000).collect();
            for rounding in [Rounding::Nearest, Rounding::Stochastic] {
                let (mut a, mut b) = (World::new(seed, ns, na, n), World::new(seed, ns, na, n));
                {
                    let (mut ca, mut cb) = (a.ctx(rounding), b.ctx(rounding));
                    for &src in &srcs {
                        let mut oa = vec![0; lanes.len()];
                        let mut ob = vec![0; lanes.len()];
                        ca.load_lanes(src, &lanes, &mut oa);
                        for (o, &lane) in ob.iter_mut().zip(&lanes) {
                            cb.select(lane);
                            *o = cb.load(src);
                        }
                        assert_eq!(oa, ob, "seed {seed}, {src:?}");
                    }
                    for dst in [Dst::W, Dst::Tag] {
                        ca.store_lanes(dst, &lanes, &vals);
                        for (&v, &lane) in vals.iter().zip(&lanes) {
                            cb.select(lane);
                            cb.store(dst, v);
                        }
                    }
                }
                assert_eq!(a.acc, b.acc, "seed {seed}, {rounding:?}");
                assert_eq!(a.tag, b.tag);
                assert_eq!(a.touched, b.touched);
                assert_eq!(a.flag, b.flag);
                assert_eq!(a.rng, b.rng);
            }
        }
    }

    /// The batched kernels' branch-free [`Refresh::write`] against the ISA's definition
    /// (`apply_weight_write_rounded`, whose unit gain skips the product), at the unit gain, the
    /// gain range's edges and random gains, with accumulators and values at the formats' edges.
    #[test]
    fn branch_free_write_equals_the_isa_write() {
        let mut r = HwRng::new(77, 3);
        let mut rng = HwRng::new(1, 1);
        for bits in [16u8, 24, 32] {
            let mut fm = Formats::new(&ChipSpec::default_profile());
            fm.accumulator_bits = bits;
            let rf = Refresh::new((i32::MIN, i32::MAX), &fm);
            let (lo, hi) = (smin(bits) as i32, smax(bits) as i32);
            let edges = [lo, lo + 1, -1, 0, 1, hi - 1, hi, i32::MIN, i32::MAX];
            let gains = [0u16, 1, 2047, 2048, 4095, 4096, 4097, 8191, u16::MAX];
            for k in 0..20_000usize {
                let pick = |r: &mut HwRng| {
                    if r.next_u32().is_multiple_of(4) {
                        edges[(r.next_u32() as usize) % edges.len()]
                    } else {
                        r.next_u32() as i32 >> (r.next_u32() % 24)
                    }
                };
                let acc = pick(&mut r).clamp(lo, hi);
                let value = pick(&mut r);
                let gain = if k.is_multiple_of(3) { gains[k / 3 % gains.len()] } else { r.next_u32() as u16 };
                let want = apply_weight_write_rounded(acc, value, gain, bits, Rounding::Nearest, &mut rng);
                assert_eq!(rf.write(acc, value, gain), want, "bits {bits}, acc {acc}, value {value}, gain {gain}");
            }
        }
    }

    /// The lazy `Post` kernel computes the indices of a post's synapses when they lie at a
    /// constant stride (`RuleSlot::post_syn_step`): the same accumulators and stale bits as
    /// reading them from `post_syn`, on every kernel (AVX2 and AVX-512 gathers, scalar loads),
    /// for strides 1, 4 and 25, lengths around the chunk size, a stride sequence ending at the
    /// last accumulator, per-axon and per-post terms, marked span by span and synapse by synapse;
    /// and every kernel gives the scalar kernel's accumulators.
    #[test]
    fn strided_synapses_computed_equal_the_ones_read() {
        use crate::fastlearn::{Combine, FusedW};
        let fm = Formats::new(&ChipSpec::default_profile());
        let rf = Refresh::new((-3000, 9000), &fm);
        let mut scalars: std::collections::HashMap<String, Vec<i32>> = std::collections::HashMap::new();
        for kernel in crate::core::LifKernel::available() {
            let mut r = HwRng::new(7, 3);
            for &(len, step, s0) in
                &[(1, 1, 0), (5, 1, 3), (63, 4, 1), (64, 25, 2), (65, 25, 0), (200, 4, 7), (1000, 25, 24)]
            {
                let syn: Vec<u32> = (0..len as u32).map(|k| s0 + k * step).collect();
                assert_eq!(crate::core::step_of(&syn), step, "{len} synapses at stride {step}");
                // The last synapse is the last accumulator.
                let ns = syn[len - 1] as usize + 1;
                let axon: Vec<u32> = (0..len as u32).collect();
                let par: Vec<SynPar> = (0..len)
                    .map(|_| SynPar { lgain: 3000 + (r.next_u32() % 2200) as u16, wgain: 4096, exp: 0 })
                    .collect();
                let lg: Vec<u16> = par.iter().map(|q| q.lgain).collect();
                let terms: Vec<i32> = (0..len).map(|_| (r.next_u32() % 4000) as i32 - 2000).collect();
                let acc0: Vec<i32> = (0..ns).map(|_| (r.next_u32() % 12000) as i32 - 3000).collect();
                for combine in [Combine::WPlusD, Combine::DMinusW] {
                    let fz = FusedW { src: Src::X0, chain: Vec::new(), combine, len: 3, cycles: 3 };
                    for (per_axon, span) in [(true, false), (true, true), (false, false), (false, true)] {
                        let mut out = Vec::new();
                        for st in [0, step] {
                            let mut acc = acc0.clone();
                            let mut stale = crate::core::Stale::default();
                            stale.prepare(ns, &fm);
                            let syns = PostSyns { syn: &syn, axon: &axon, run: 0, step: st, par: &par, lg: &lg };
                            let a = LazyPost {
                                fz: &fz,
                                rf: &rf,
                                syns,
                                acc: &mut acc,
                                stale: &mut stale,
                                terms: if per_axon { &terms } else { &[] },
                                d: -321,
                                per_axon,
                                span,
                            };
                            post_lazy(a, kernel);
                            out.push((acc, stale.bits));
                        }
                        let at = format!("{kernel:?}, {len} synapses from {s0} at stride {step}, {combine:?}, per axon {per_axon}, span {span}");
                        assert_eq!(out[1], out[0], "{at}");
                        assert_ne!(out[0].0, acc0, "{at}: nothing written");
                        let key = format!("{len} {step} {combine:?} {per_axon} {span}");
                        let scalar = scalars.entry(key).or_insert_with(|| out[1].0.clone());
                        assert_eq!(&out[1].0, scalar, "{at}: as the scalar kernel");
                    }
                }
            }
        }
    }

    /// `step_of`: the stride of an increasing arithmetic sequence, 1 for one value, and 0 for
    /// none, a constant, a decreasing or an irregular sequence.
    #[test]
    fn step_of_finds_constant_strides_only() {
        use crate::core::step_of;
        assert_eq!(step_of(&[]), 0);
        assert_eq!(step_of(&[7]), 1);
        assert_eq!(step_of(&[3, 28, 53, 78]), 25);
        assert_eq!(step_of(&[0, 1]), 1);
        assert_eq!(step_of(&[5, 5, 5]), 0);
        assert_eq!(step_of(&[9, 6, 3]), 0);
        assert_eq!(step_of(&[0, 4, 8, 13]), 0);
        assert_eq!(step_of(&[0, 4, 8, 4]), 0);
        assert_eq!(step_of(&[1, u32::MAX]), u32::MAX - 1);
        assert_eq!(step_of(&[0, u32::MAX - 1, 1]), 0);
    }

    /// The lazy `Post` kernel reads a post's per-axon terms as one slice when its axons are
    /// consecutive (`RuleSlot::post_axon_run`): the same accumulators and stale bits as the
    /// gather, on every kernel, for runs inside the terms, reaching past them (the default term
    /// beyond) and of every length around the chunk size. Marking its span stale
    /// (`RuleSlot::owns_core`) gives the same accumulators and marks exactly the synapses from
    /// the first to the last; every kernel gives the scalar kernel's accumulators.
    #[test]
    fn consecutive_axons_read_as_a_slice_equal_the_gather() {
        use crate::fastlearn::{Combine, FusedW};
        let fm = Formats::new(&ChipSpec::default_profile());
        let rf = Refresh::new((-3000, 9000), &fm);
        let cases = [(1, 0, 10), (63, 2, 100), (64, 0, 64), (65, 7, 200), (200, 30, 1000), (130, 0, 100)];
        let mut scalars: Vec<Option<Vec<i32>>> = vec![None; cases.len() * 3];
        for kernel in crate::core::LifKernel::available() {
            // The same draws for every kernel.
            let mut r = HwRng::new(5, 8);
            for (ci, &(len, run, nterms)) in cases.iter().enumerate() {
                for (ki, combine) in [Combine::WPlusD, Combine::WMinusD, Combine::DMinusW].into_iter().enumerate() {
                    let scalar_out = &mut scalars[ci * 3 + ki];
                    let fz = FusedW { src: Src::X0, chain: Vec::new(), combine, len: 3, cycles: 3 };
                    let ns = 4 * len + 9;
                    let syn: Vec<u32> = (0..len as u32).map(|k| k * 4 + 1 + k % 3).collect();
                    let axon: Vec<u32> = (run..run + len as u32).collect();
                    let par: Vec<SynPar> = (0..len)
                        .map(|_| SynPar { lgain: 3000 + (r.next_u32() % 2200) as u16, wgain: 4096, exp: 0 })
                        .collect();
                    let terms: Vec<i32> = (0..nterms).map(|_| (r.next_u32() % 4000) as i32 - 2000).collect();
                    let acc0: Vec<i32> = (0..ns).map(|_| (r.next_u32() % 12000) as i32 - 3000).collect();
                    let mut out = Vec::new();
                    for (run, span) in [(run, false), (u32::MAX, false), (run, true), (u32::MAX, true)] {
                        let mut acc = acc0.clone();
                        let mut stale = crate::core::Stale::default();
                        stale.prepare(ns, &fm);
                        let lg: Vec<u16> = par.iter().map(|q| q.lgain).collect();
                        let syns = PostSyns { syn: &syn, axon: &axon, run, step: 0, par: &par, lg: &lg };
                        let a = LazyPost {
                            fz: &fz,
                            rf: &rf,
                            syns,
                            acc: &mut acc,
                            stale: &mut stale,
                            terms: &terms,
                            d: 17,
                            per_axon: true,
                            span,
                        };
                        post_lazy(a, kernel);
                        out.push((acc, stale.bits));
                    }
                    let at = format!("{kernel:?}, {len} synapses from axon {run}, {nterms} terms");
                    assert_eq!(out[0], out[1], "{at}");
                    assert_ne!(out[0].0, acc0, "nothing written");
                    // Marked as a span: the same accumulators; exactly the synapses from the
                    // first to the last are marked, the post's own among them.
                    let span: Vec<u64> = {
                        let mut st = crate::core::Stale::default();
                        st.prepare(ns, &fm);
                        st.mark_range(syn[0] as usize..syn[len - 1] as usize + 1);
                        st.bits
                    };
                    for k in [2, 3] {
                        assert_eq!(out[k].0, out[0].0, "{at}: span");
                        assert_eq!(out[k].1, span, "{at}: span");
                    }
                    assert!(out[0].1.iter().zip(&span).all(|(&b, &s)| b & !s == 0), "{at}");
                    // The scalar kernel's accumulators on every kernel.
                    let scalar = scalar_out.get_or_insert_with(|| out[0].0.clone());
                    assert_eq!(&out[0].0, scalar, "{at}: as the scalar kernel");
                }
            }
        }
    }

    /// The lazy `Post` kernel's 32-bit arithmetic equals the 64-bit one wherever
    /// `post_narrow_fits` admits it: accumulators and terms at the limits it admits, gains 0,
    /// 4096, the largest and ones whose products fall on a rounding half, both signs of the
    /// term, several bounds; and it admits none past them.
    #[test]
    fn narrow_post_arithmetic_equals_the_wide_one() {
        let fm = Formats::new(&ChipSpec::default_profile());
        let mut r = HwRng::new(12, 8);
        let ea = [0, 1, -1, (1 << 30) - 1, -(1 << 30) + 1, 2047, -2048, 5000, -9000];
        let ed = [0, 1, -1, (1 << 15) - 1, -(1 << 15) + 1, 1024, -512, 3];
        let eg = [0u16, 4096, u16::MAX, 1, 2048, 6144, 2];
        for (w_min, w_max) in [(-3000, 9000), (0, 255 << 8), (i32::MIN, i32::MAX), (100, 100)] {
            let mut rf = Refresh::new((w_min, w_max), &fm);
            for (amin, amax) in [(rf.amin, rf.amax), (-(1 << 30), 1 << 30), (i32::MIN, i32::MAX)] {
                (rf.amin, rf.amax) = (amin, amax);
                for round in 0..40 {
                    let a: [i32; FB] = std::array::from_fn(|k| match (k + round) % 3 {
                        0 => ea[(k + round) % ea.len()],
                        _ => (r.next_u32() as i32) >> (2 + r.next_u32() % 30),
                    });
                    let dd: [i32; FB] = std::array::from_fn(|k| match (k + round) % 2 {
                        0 => ed[(k * 7 + round) % ed.len()],
                        _ => (r.next_u32() as i32) >> (17 + r.next_u32() % 15),
                    });
                    let lg: [u16; FB] = std::array::from_fn(|k| match k % 2 {
                        0 => eg[(k + round) % eg.len()],
                        _ => r.next_u32() as u16,
                    });
                    for sd in [1i64, -1] {
                        assert!(post_narrow_fits(1, &a, &dd));
                        let (mut x, mut y) = (a, a);
                        post_math_narrow(&rf, sd as i32, &mut x, &dd, &lg);
                        post_math_wide(&rf, (1, sd), &mut y, &dd, &lg);
                        assert_eq!(x, y, "bounds {w_min} {w_max} {amin} {amax}, sd {sd}");
                    }
                }
            }
        }
        let (a, dd) = ([5; FB], [5; FB]);
        assert!(post_narrow_fits(1, &a, &dd) && !post_narrow_fits(-1, &a, &dd));
        let (mut a2, mut d2) = (a, dd);
        a2[9] = 1 << 30;
        d2[63] = -(1 << 15);
        assert!(!post_narrow_fits(1, &a2, &dd) && !post_narrow_fits(1, &a, &d2));
    }

    /// The lane gathers and scatters of the `Post` kernel equal indexing on every kernel,
    /// repeated indices included (the last lane's value stays), and panic on an index out of
    /// bounds.
    #[test]
    fn gathered_and_scattered_lanes_equal_indexing() {
        let mut r = HwRng::new(9, 8);
        for kernel in crate::core::LifKernel::available() {
            for n in [FB, 100, 5000] {
                let xs: Vec<i32> = (0..n).map(|_| r.next_u32() as i32).collect();
                let mut idx = [0u32; FB];
                for i in idx.iter_mut() {
                    *i = r.next_u32() % n as u32;
                }
                // Repeats inside one 16-lane instruction and across instructions.
                idx[5] = idx[3];
                idx[40] = idx[3];
                idx[63] = (n - 1) as u32;
                let mut got = [0i32; FB];
                gather_lanes(kernel, &xs, &idx, &mut got);
                for k in 0..FB {
                    assert_eq!(got[k], xs[idx[k] as usize], "{kernel:?} {n}: gather lane {k}");
                }
                let vals: [i32; FB] = std::array::from_fn(|k| k as i32 * 7 - 100);
                let (mut a, mut b) = (xs.clone(), xs.clone());
                scatter_lanes(kernel, &mut a, &idx, &vals);
                for (&i, &v) in idx.iter().zip(&vals) {
                    b[i as usize] = v;
                }
                assert_eq!(a, b, "{kernel:?} {n}: scatter");
                assert_eq!(a[idx[3] as usize], vals[40], "{kernel:?}: the last repeat stays");
                let mut bad = idx;
                bad[17] = n as u32;
                let caught = std::panic::catch_unwind(|| {
                    let mut o = [0i32; FB];
                    gather_lanes(kernel, &xs, &bad, &mut o);
                });
                assert!(caught.is_err(), "{kernel:?}: a gather out of bounds");
                let caught = std::panic::catch_unwind(|| {
                    let mut ys = xs.clone();
                    scatter_lanes(kernel, &mut ys, &bad, &vals);
                });
                assert!(caught.is_err(), "{kernel:?}: a scatter out of bounds");
            }
        }
    }

    /// The in-place `Pre` kernel reads an axon's per-post terms as one slice when its targets
    /// are consecutive (`CoreParams::axon_rows`): the same synapse state as the gather, on
    /// every kernel, lazy or not, for runs inside the terms and reaching past them.
    #[test]
    fn consecutive_targets_read_as_a_slice_equal_the_gather() {
        use crate::fastlearn::{Combine, FusedW};
        let fm = Formats::new(&ChipSpec::default_profile());
        let rf = Refresh::new((-3000, 9000), &fm);
        let mut r = HwRng::new(6, 8);
        for kernel in crate::core::LifKernel::available() {
            for (len, run, nterms) in [(1, 0, 10), (25, 3, 40), (64, 0, 64), (100, 5, 300), (90, 0, 70)] {
                for (combine, lazy) in [(Combine::WPlusD, true), (Combine::WMinusD, false), (Combine::DMinusW, true)] {
                    let fz = FusedW { src: Src::Y0, chain: Vec::new(), combine, len: 3, cycles: 3 };
                    let packed: Vec<u32> = (run..run + len as u32).map(|t| t | (1 + t % 2) << 16).collect();
                    let lg: Vec<u16> = (0..len).map(|_| 3000 + (r.next_u32() % 2200) as u16).collect();
                    let wg: Vec<u16> = (0..len).map(|_| 3500 + (r.next_u32() % 1200) as u16).collect();
                    let ex: Vec<i8> = (0..len).map(|_| (r.next_u32() % 3) as i8).collect();
                    let terms: Vec<i32> = (0..nterms).map(|_| (r.next_u32() % 4000) as i32 - 2000).collect();
                    let acc0: Vec<i32> = (0..len).map(|_| (r.next_u32() % 12000) as i32 - 3000).collect();
                    let mut out = Vec::new();
                    for run in [run, u32::MAX] {
                        let (mut acc, mut wr, mut weff) = (acc0.clone(), vec![0; len], vec![0; len]);
                        let mut pe: Vec<(u32, i32)> = packed.iter().map(|&p| (p, 0)).collect();
                        let x = PreAxon {
                            acc: &mut acc,
                            wr: &mut wr,
                            weff: &mut weff,
                            pe: &mut pe,
                            packed: &packed,
                            lg: &lg,
                            wg: &wg,
                            ex: &ex,
                        };
                        pre_in_place(&rf, &fz, x, Terms { terms: &terms, d_axon: None, t0: 11, run }, lazy, kernel);
                        out.push((acc, wr, weff, pe));
                    }
                    assert_eq!(out[0], out[1], "{kernel:?}, {len} synapses to posts {run}.., {nterms} terms");
                    assert_ne!(out[0].0, acc0, "nothing written");
                }
            }
        }
    }
}
