//! One core at run time: its program turned into flat structure-of-arrays (neuron parameters
//! after mismatch, CSR synapses by axon with packed target/delay words, per-neuron delay ring
//! buffers) and its mutable state, plus the per-core phases of a step: synaptic delivery and
//! the neuron update (see `neuron.rs` of isa for the equations).
//!
//! Delivery: a packet that reaches axon `a` at step `t` adds, for every synapse of `a` with delay
//! `d`, its contribution to the ring slot of step `t + d − 1` of the target neuron; slot `t` is
//! read (and cleared) by the neuron update of step `t`. A packet sent at step `t` reaches its axons
//! at step `t + 1`, so a spike at `t` through a delay-`d` synapse is integrated at `t + d`. The ring
//! accumulates with 32-bit wrapping adds, which equals the exact sum wrapped to `current_bits`.
//! Contribution of a packet with payload `p` through a synapse of weight readout `w`, efficacy
//! gain `g` (Q.12) and group exponent `e`: `w' = round_nearest(w · g / 4096)`, then `w' · p · 2^e`
//! (arithmetic shift right for `e < 0`).
//!
//! Second synaptic current: a core whose profiles have a `decay_u2` (or whose groups feed
//! current 2) has ring rows of `2n` entries, `n + i` holding neuron `i`'s second-current input;
//! the per-synapse ring word `pe.0` then names the row entry (`target + n` for current-2 synapses)
//! while `syn_packed` keeps the true target. Cores without a second current keep rows of `n` and
//! the one-current update loop.

use crate::error::EmuError;
use crate::mismatch::{self, CoreDeviations};
use crate::timing::{Charge, CoreMeter, CostTable};
use nm_isa::fixed_point::{smax, smin, weight_readout, Rounding};
use nm_isa::learn::{Opcode, Src};
use nm_isa::neuron::NeuronKind;
use nm_isa::program::{Core, Program, SynKind};
use nm_isa::rng::HwRng;
use nm_isa::{ChipSpec, CoreId};
use serde::{Deserialize, Serialize};

/// Stream ids of the runtime hardware PRNGs (`HwRng::new(seed, stream)`).
pub mod streams {
    /// Stochastic neuron `i` of core `c`.
    pub fn neuron(core: u32, i: u32) -> u64 {
        (1 << 48) | (u64::from(core) << 20) | u64::from(i)
    }
    /// The learning engine of core `c`.
    pub fn learning(core: u32) -> u64 {
        (2 << 48) | u64::from(core)
    }
    /// Channel `ch` of input source `k`.
    pub fn input(k: u32, ch: u32) -> u64 {
        (3 << 48) | (u64::from(k) << 24) | u64::from(ch)
    }
    /// Row order of pattern input `k`.
    pub fn pattern_order(k: u32) -> u64 {
        (4 << 48) | u64::from(k)
    }
    /// Random schedule of signal `k`.
    pub fn signal(k: u32) -> u64 {
        (5 << 48) | u64::from(k)
    }
    /// Temporal noise of core `c` (seeded with the noise seed).
    pub fn noise(core: u32) -> u64 {
        (6 << 48) | u64::from(core)
    }
}

/// A hardware PRNG stream with a `Default` (for state structs); derefs to [`HwRng`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prng(pub HwRng);

impl Default for Prng {
    fn default() -> Prng {
        Prng(HwRng(1))
    }
}

impl std::ops::Deref for Prng {
    type Target = HwRng;
    fn deref(&self) -> &HwRng {
        &self.0
    }
}

impl std::ops::DerefMut for Prng {
    fn deref_mut(&mut self) -> &mut HwRng {
        &mut self.0
    }
}

/// A packet at a destination core: the axon it reached, that axon's synapse range (resolved at
/// load so delivery does not look the axon up) and its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    pub axon: u32,
    pub first: u32,
    /// Synapse count; bit 31 ([`PLAIN`]) set when the axon is plain (fast payload-1 delivery),
    /// bit 30 ([`SPIKE`]) when the packet is flagged as a spike.
    pub count: u32,
    pub payload: i32,
    /// Where the axon's synapse words start in the emulator's read-only copy of them (see
    /// [`deliver`]), or [`NO_ARENA`]. Derived state, not saved: a packet restored from a
    /// checkpoint reads the core's own words.
    #[serde(skip, default = "no_arena")]
    pub at: u32,
}

/// [`Packet::at`] of a packet that reads its core's own synapse words.
pub const NO_ARENA: u32 = u32::MAX;

fn no_arena() -> u32 {
    NO_ARENA
}

/// Bit of [`Packet::count`] marking a plain axon.
pub const PLAIN: u32 = 1 << 31;
/// Bit of [`Packet::count`] marking a packet flagged as a spike (for traces, `Pre` handlers, `xs`).
pub const SPIKE: u32 = 1 << 30;
/// The synapse-count bits of [`Packet::count`].
pub const COUNT_MASK: u32 = SPIKE - 1;

/// `w · 2^e` with an arithmetic shift for negative `e`, wrapped to 32 bits.
#[inline(always)]
pub fn shift_exp(x: i64, e: i8) -> i32 {
    if e >= 0 {
        (x << e) as i32
    } else {
        (x >> (-e).min(63)) as i32
    }
}

/// The efficacy `round_nearest(w · g / 4096)`.
#[inline(always)]
pub fn apply_gain(w: i32, gain_q12: u16) -> i32 {
    if gain_q12 == 4096 {
        return w;
    }
    // `shift_round(.., 12, Nearest, ..)` without data-dependent branches.
    crate::fastlearn::round_nearest(i64::from(w) * i64::from(gain_q12), 12) as i32
}

/// Multiply by `keep / 2^bits`, truncating toward zero (branch-free form of `fixed_point::decay`).
#[inline(always)]
pub fn decay_keep(x: i32, keep: i32, bits: u32) -> i32 {
    let p = i64::from(x) * i64::from(keep);
    ((p + ((p >> 63) & ((1i64 << bits) - 1))) >> bits) as i32
}

/// Per axon of a core, what the fused `Pre` kernel reads of its synapses
/// (`CoreParams::axon_rows`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxonRow {
    /// The target of the first synapse if the synapses' targets are consecutive (`first,
    /// first + 1, …`, as in a dense projection), else `u32::MAX`: the kernel then reads its
    /// per-post terms as one slice instead of a gather.
    pub post_run: u32,
    /// The rule slot of every synapse of the axon if they share one (`u8::MAX`: mixed, or no
    /// rule; an axon without synapses has `u8::MAX` too).
    pub rule: u8,
}

/// `x0` if `xs` is `x0, x0 + 1, …` (and not empty), else `u32::MAX` ([`AxonRow::post_run`],
/// [`RuleSlot::post_axon_run`], the recorder's contiguous cores).
pub(crate) fn run_start(mut xs: impl Iterator<Item = u32>) -> u32 {
    let Some(x0) = xs.next() else { return u32::MAX };
    if xs.enumerate().all(|(k, x)| u64::from(x) == u64::from(x0) + 1 + k as u64) {
        x0
    } else {
        u32::MAX
    }
}

/// `step ≥ 1` if `xs` is `x0, x0 + step, …` (1 for one value), else 0 (no value, a stride of 0,
/// a decreasing or an irregular sequence) ([`RuleSlot::post_syn_step`]).
pub(crate) fn step_of(xs: &[u32]) -> u32 {
    match xs {
        [] => 0,
        [_] => 1,
        [x0, x1, ..] if x1 > x0 => {
            let step = x1 - x0;
            let fits = xs.windows(2).all(|w| w[1].checked_sub(w[0]) == Some(step));
            if fits {
                step
            } else {
                0
            }
        }
        _ => 0,
    }
}

/// A learning rule as used on one core.
#[derive(Clone, Debug, Default)]
pub struct RuleSlot {
    /// Index into `Program::rules`.
    pub rule: usize,
    /// Incoming synapses of the rule per post neuron (CSC): `post_syn[post_start[i] .. post_start[i+1]]`.
    pub post_start: Vec<u32>,
    pub post_syn: Vec<u32>,
    /// The axon of each synapse of `post_syn` (`syn_axon[post_syn[k]]`, stored in CSC order).
    pub post_axon: Vec<u32>,
    /// Per post neuron, the first axon of its `post_axon` entries if they are consecutive
    /// (`first, first + 1, …`, as in a dense projection), else `u32::MAX`: the `Post` kernel
    /// then reads its per-axon terms as one slice instead of a gather.
    pub post_axon_run: Vec<u32>,
    /// The gains and exponent of each synapse of `post_syn` in CSC order, for the learning
    /// engine's `Post` kernel ([`crate::learning::post_params`]; empty: not built).
    pub post_par: Vec<crate::learning::SynPar>,
    /// The learning gains of `post_par`, alone: the lazy `Post` kernel reads only them.
    pub post_lgain: Vec<u16>,
    /// Per post neuron, the stride of its `post_syn` entries if they are `s, s + step, …` with
    /// `step ≥ 1` (a dense projection; 1 for a single synapse), else 0: the lazy `Post` kernel
    /// then computes their indices instead of reading them.
    pub post_syn_step: Vec<u32>,
    /// Neurons with at least one incoming synapse of the rule.
    pub posts: Vec<u32>,
    /// All synapses of the rule, in synapse order.
    pub syns: Vec<u32>,
    pub has: [bool; 4],
    /// Every synapse of the core is the rule's: a lazy kernel may mark a whole range of them
    /// stale (`Stale`), the ones between its own included, since settling a synapse that does
    /// not lag gives its values again.
    pub owns_core: bool,
}

/// A rule's trace state on one core: `x` per axon, `y` per neuron.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    pub x: [Vec<i32>; 2],
    pub y: [Vec<i32>; 2],
}

/// Fixed per-core data derived from the program and the chip instance.
#[derive(Clone, Debug)]
pub struct CoreParams {
    pub id: CoreId,
    pub n: usize,
    pub kind: Vec<NeuronKind>,
    pub all_lif: bool,
    pub keep_u: Vec<i32>,
    /// Keep factor of the second current per neuron (empty unless `two_currents`).
    pub keep_u2: Vec<i32>,
    /// The core has a second synaptic current (ring rows of `2n`).
    pub two_currents: bool,
    /// Entries per delay-ring row: `n`, or `2n` with a second current.
    pub ring_stride: usize,
    pub keep_v: Vec<i32>,
    pub dv: Vec<i32>,
    pub bias: Vec<i32>,
    pub vth: Vec<i32>,
    pub vreset: Vec<i32>,
    pub refr: Vec<i32>,
    /// LUT index per neuron, `u16::MAX` for none.
    pub lut: Vec<u16>,
    /// Temporal-noise amplitude per neuron (0: none).
    pub noise_amp: Vec<i32>,
    pub any_noise: bool,
    /// Axon `a` is synapses `axon_first[a] .. axon_first[a] + axon_count[a]`.
    pub axon_first: Vec<u32>,
    pub axon_count: Vec<u32>,
    /// What the fused `Pre` kernel needs to know of each axon's synapses, in one record per
    /// axon (one cache line for an arrival, not one per array).
    pub axon_rows: Vec<AxonRow>,
    /// All synapses of the axon are `Current` static-path synapses (fast delivery of payload 1).
    pub axon_plain: Vec<bool>,
    /// `target | (delay − 1) << 16`.
    pub syn_packed: Vec<u32>,
    pub syn_exp: Vec<i8>,
    pub syn_clamp: Vec<bool>,
    /// Rule slot of each synapse, `u8::MAX` if static.
    pub syn_rule: Vec<u8>,
    pub syn_wgain: Vec<u16>,
    pub syn_lgain: Vec<u16>,
    /// Axon of each synapse (`u32::MAX` if no axon covers it).
    pub syn_axon: Vec<u32>,
    pub ring_slots: usize,
    pub rules: Vec<RuleSlot>,
    pub track_lastpre: bool,
    pub has_clamp: bool,
    /// Every rule of the core reads its weights out rounding to nearest: every synapse's
    /// delivered value `pe` is then the nearest refresh of its accumulator (`refresh_weight`),
    /// or lags it (`Stale`) and settles to it, so [`deliver`] may compute a plain packet's
    /// values from the accumulators instead of settling them.
    pub pe_nearest: bool,
    /// Index of local neuron 0 in the global neuron fan-out table.
    pub fanout_base: usize,
    /// Per neuron: has routing targets.
    pub has_targets: Vec<bool>,
    pub devs: CoreDeviations,
    /// A dead core (fault injection): never updated.
    pub dead: bool,
    /// Every keep factor (`keep_u`, `keep_v`, `keep_u2`) lies in `0 ..= 2^decay_bits`, the
    /// precondition of the split 32-bit decay of the SIMD LIF kernels ([`decay_keep_split`]).
    pub keeps_fit: bool,
    /// The core is a member of the emulator's [`crate::cluster::Cluster`], which then holds its
    /// neuron state and updates it.
    pub in_cluster: bool,
}

/// Mutable per-core state (everything a checkpoint must hold).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreState {
    pub u: Vec<i32>,
    /// Second synaptic current (empty unless the core has one).
    #[serde(default)]
    pub u2: Vec<i32>,
    pub v: Vec<i32>,
    /// Refractory counter.
    pub cnt: Vec<i32>,
    /// Output of stochastic (`z`) and graded (`y`) neurons.
    pub y: Vec<i32>,
    pub nrng: Vec<HwRng>,
    pub ring: Vec<i32>,
    /// Clamp ring: `-1` none, else the forced state.
    pub clamp_ring: Vec<i8>,
    pub acc: Vec<i32>,
    /// Weight readout.
    pub wr: Vec<i32>,
    /// Efficacy after gain.
    pub weff: Vec<i32>,
    /// Per synapse `(target | (delay − 1) << 16, contribution of a payload-1 packet = weff · 2^exp)`,
    /// interleaved so that delivery touches one cache line per few synapses.
    pub pe: Vec<(u32, i32)>,
    pub tag: Vec<i32>,
    pub rules: Vec<RuleState>,
    /// Last synapse that delivered to each neuron, and its value latched at the neuron's last spike.
    pub lastpre: Vec<u32>,
    pub lastpre_at_spike: Vec<u32>,
    /// `step + 1` of the last spike of each neuron / arrival at each axon (0: never).
    pub spike_step: Vec<u64>,
    pub arr_step: Vec<u64>,
    pub arr_payload: Vec<i32>,
    /// `step + 1` of the last packet (spike or not) at each axon, for `xg`.
    pub pay_step: Vec<u64>,
    pub learn_rng: Prng,
    pub noise_rng: Prng,
    pub meter: CoreMeter,
    /// Packets reaching this core's axons at the next step: `(axon, payload)`.
    pub inbox_next: Vec<Packet>,
    /// Synaptic events of the packets for the next step that the router already added into
    /// the rings ([`deliver_plain`]); charged by [`deliver`] at that step.
    #[serde(default)]
    pub pending_events: u64,
    /// Packets reaching this core's axons this step.
    #[serde(skip)]
    pub inbox: Vec<Packet>,
    /// Neurons that spiked this step.
    #[serde(skip)]
    pub spikes: Vec<u32>,
    /// Packets this core sends this step `(neuron, payload, flagged as a spike)` (non-LIF cores;
    /// LIF-only cores send `spikes` with payload 1).
    #[serde(skip)]
    pub emit: Vec<(u32, i32, bool)>,
    #[serde(skip)]
    pub touched: Vec<u32>,
    /// Scratch list of learning events.
    #[serde(skip)]
    pub events: Vec<(u32, u32, u32)>,
    #[serde(skip)]
    pub touched_flag: Vec<bool>,
    /// Synapses whose readout, efficacy and delivered value lag their accumulator (see
    /// [`Stale`]); none outside a step.
    #[serde(skip)]
    pub stale: Stale,
}

/// The synapses of a core whose `wr`, `weff` and `pe` value have not yet been recomputed from
/// their accumulator since the learning engine last wrote it.
///
/// The fused kernels of a rule that runs entirely fused with nearest readout
/// (`crate::learning`) write only the accumulator and mark the synapse here: the nearest
/// refresh ([`refresh_weight`] with `Rounding::Nearest`) is a pure function of the accumulator
/// and the synapse's constants, so computing it later gives the same values as computing it at
/// once, provided nothing reads them in between. Everything that reads them settles first:
/// [`deliver`] the synapses of each packet's axon (only the delivered value `pe` for a plain
/// packet of payload 1, which moves the synapse from `bits` to `wbits`; on a core whose rules
/// all read out to nearest, `CoreParams::pe_nearest`, it computes a plain packet's values
/// from the accumulators instead and settles nothing), the engine every core
/// before sampling recorded weights and at the end of every public step call (so that outside
/// a step nothing lags: the state API, snapshots and checkpoints see current values). Only bit
/// membership is state-like, so equality compares the set bits alone.
#[derive(Clone, Debug, Default)]
pub struct Stale {
    /// One bit per synapse: `wr`, `weff` and `pe` lag the accumulator.
    pub bits: Vec<u64>,
    /// One bit per synapse: `wr` and `weff` lag the accumulator (`pe` does not).
    pub wbits: Vec<u64>,
    /// Some bit may be set (a hint: false means none is).
    pub any: bool,
    /// The readout's shift and largest magnitude (`refresh_weight`'s `sh` and `m`).
    pub sh: u32,
    pub m: i64,
    /// The SIMD kernel of the refresh.
    pub kernel: LifKernel,
}

impl PartialEq for Stale {
    fn eq(&self, o: &Stale) -> bool {
        let same = |a: &[u64], b: &[u64]| {
            (0..a.len().max(b.len())).all(|i| a.get(i).copied().unwrap_or(0) == b.get(i).copied().unwrap_or(0))
        };
        same(&self.bits, &o.bits) && same(&self.wbits, &o.wbits)
    }
}

impl Stale {
    /// Size the bits for `n` synapses and set the readout constants of `fm`.
    pub fn prepare(&mut self, n: usize, fm: &Formats) {
        let words = n.div_ceil(64);
        if self.bits.len() < words {
            self.bits.resize(words, 0);
            self.wbits.resize(words, 0);
        }
        self.sh = nm_isa::fixed_point::accumulator_frac_bits(fm.accumulator_bits, fm.weight_bits);
        self.m = (1i64 << fm.weight_bits) - 1;
        self.kernel = fm.lif_kernel;
    }

    /// Mark every synapse of `range` (within the prepared size) as lagging in full.
    #[inline]
    pub fn mark_range(&mut self, range: std::ops::Range<usize>) {
        self.any = true;
        let bits = &mut self.bits[..];
        for_words(range, bits.len(), |w, mask| bits[w] |= mask);
    }
}

/// `f(word, mask)` for the words of a bitset of `words` words that `range` covers, with the
/// mask of the range's bits in each.
#[inline(always)]
fn for_words(range: std::ops::Range<usize>, words: usize, mut f: impl FnMut(usize, u64)) {
    if range.is_empty() {
        return;
    }
    let (w0, w1) = (range.start / 64, range.end.div_ceil(64).min(words));
    for w in w0..w1 {
        let lo = if w == w0 { range.start % 64 } else { 0 };
        let hi = if (w + 1) * 64 > range.end { (1u64 << (range.end - w * 64)) - 1 } else { u64::MAX };
        f(w, hi & (u64::MAX << lo));
    }
}

/// What [`settle_range`] recomputes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// `wr`, `weff` and `pe` of every lagging synapse.
    Full,
    /// Only `pe` of the synapses whose `pe` lags (they then lag in `wr`, `weff` only).
    Delivered,
}

/// Recompute what `what` says for the lagging synapses of `range` (each value exactly as
/// `refresh_weight(p, s, si, Rounding::Nearest, fm)` gives it).
#[inline]
pub fn settle_range(p: &CoreParams, s: &mut CoreState, range: std::ops::Range<usize>, what: Settle) {
    let CoreState { acc, wr, weff, pe, stale, .. } = s;
    let Stale { bits, wbits, sh, m, kernel, .. } = stale;
    for_words(range, bits.len(), |w, mask| {
        let b = match what {
            Settle::Full => (bits[w] | wbits[w]) & mask,
            Settle::Delivered => bits[w] & mask,
        };
        if b == 0 {
            return;
        }
        bits[w] &= !mask;
        match what {
            Settle::Full => wbits[w] &= !mask,
            Settle::Delivered => wbits[w] |= b,
        }
        // The word's synapses from its lowest to its highest lagging one, refreshed where set.
        let (k0, k1) = (b.trailing_zeros() as usize, 64 - b.leading_zeros() as usize);
        let r = w * 64 + k0..w * 64 + k1;
        let words = SettleWords {
            acc: &acc[r.clone()],
            wr: &mut wr[r.clone()],
            weff: &mut weff[r.clone()],
            pe: &mut pe[r.clone()],
            wg: &p.syn_wgain[r.clone()],
            ex: &p.syn_exp[r],
        };
        settle_words(words, b >> k0, *sh, *m, what == Settle::Full, *kernel);
    });
}

/// Up to 64 consecutive synapses for [`settle_words`].
struct SettleWords<'a> {
    acc: &'a [i32],
    wr: &'a mut [i32],
    weff: &'a mut [i32],
    pe: &'a mut [(u32, i32)],
    wg: &'a [u16],
    ex: &'a [i8],
}

/// The nearest refresh (`wr` and `weff` too if `FULL`) of synapse `k` of `x` where bit `k` of
/// `sel` is set, by `lane` (accumulator, gain, exponent → readout, efficacy, delivered value):
/// computed for every synapse, stored by select, so that the loop is vectorised; same values on
/// every kernel.
#[inline(always)]
fn settle_words_with<const FULL: bool>(x: SettleWords<'_>, sel: u64, lane: impl Fn(i32, u16, i8) -> (i32, i32, i32)) {
    let SettleWords { acc, wr, weff, pe, wg, ex } = x;
    let n = acc.len().min(64);
    let (wr, weff, pe, wg, ex) = (&mut wr[..n], &mut weff[..n], &mut pe[..n], &wg[..n], &ex[..n]);
    for k in 0..n {
        let on = (sel >> k) & 1 != 0;
        let (r, e, c) = lane(acc[k], wg[k], ex[k]);
        if FULL {
            wr[k] = if on { r } else { wr[k] };
            weff[k] = if on { e } else { weff[k] };
        }
        pe[k].1 = if on { c } else { pe[k].1 };
    }
}

/// [`settle_words_with`] in 64-bit arithmetic ([`refresh_weight`]'s nearest readout, for any
/// `sh` and `m`).
#[inline(always)]
fn settle_words_body<const FULL: bool>(x: SettleWords<'_>, sel: u64, sh: u32, m: i64) {
    settle_words_with::<FULL>(x, sel, |a, g, x| {
        let r = crate::fastlearn::round_nearest(i64::from(a), sh).clamp(-m, m) as i32;
        let e = apply_gain(r, g);
        (r, e, shift_exp(i64::from(e), x))
    })
}

/// [`settle_words_body`] in 32-bit lanes ([`nearest32`]), for `1 ≤ sh ≤ 31`, `m < 2^15` (a
/// weight of at most 15 bits, as every chip spec has) and exponents in `-127 ..= 63` (specs
/// allow `±16`): the same values. With `a = |acc| ≤ 2^31` and `half ≤ 2^30`, `a + half` fits a
/// `u32`; `|r| ≤ m` and `gain < 2^16` keep `r · gain` below `2^31`; and [`shift_exp`] of an
/// `i32` is, in 32 bits, a wrapping left shift (zero from 32 on, where the 64-bit shift leaves
/// no low bit) or an arithmetic right shift of at most 31 (the sign from 31 on).
#[inline(always)]
fn settle_words_body32<const FULL: bool>(x: SettleWords<'_>, sel: u64, sh: u32, m: i32) {
    settle_words_with::<FULL>(x, sel, |a, g, x| nearest32(a, g, x, sh, m))
}

/// The nearest refresh of accumulator `a` (readout, efficacy, delivered value) in 32 bits, as
/// [`settle_words_body32`] states it.
#[inline(always)]
fn nearest32(a: i32, wg: u16, sx: i8, sh: u32, m: i32) -> (i32, i32, i32) {
    let half = 1u32 << (sh - 1);
    let sign = a >> 31;
    let r = (((a.unsigned_abs() + half) >> sh) as i32 ^ sign).wrapping_sub(sign);
    let r = r.clamp(-m, m);
    // `apply_gain`: at 4096 the rounded product is `r` itself.
    let p = r * i32::from(wg);
    let ps = p >> 31;
    let e = ((((p.unsigned_abs() + 2048) >> 12) as i32) ^ ps).wrapping_sub(ps);
    let left = (e as u32).wrapping_shl(u32::from(sx.unsigned_abs()).min(31)) as i32;
    let left = if sx >= 32 { 0 } else { left };
    let right = e >> u32::from(sx.unsigned_abs()).min(31);
    (r, e, if sx >= 0 { left } else { right })
}

/// Whether [`nearest32`] equals the 64-bit refresh for readout shift `sh`, largest magnitude
/// `m` and exponents `ex`.
#[inline(always)]
fn nearest32_fits(sh: u32, m: i64, ex: &[i8]) -> bool {
    // A fold, not `all`: no early exit, so it vectorises.
    let (lo, hi) = ex.iter().fold((0i8, 0i8), |(lo, hi), &e| (lo.min(e), hi.max(e)));
    (1..=31).contains(&sh) && (0..1 << 15).contains(&m) && lo >= -127 && hi <= 63
}

/// A plain payload-1 packet's values computed from its synapses' accumulators (`acc`, with
/// their gains and exponents; targets and delays from `pe`'s words), added into the delay rings
/// as [`deliver_words`] adds settled ones: the same values ([`CoreParams::pe_nearest`]).
/// Returns false, adding nothing, if [`nearest32`] does not apply.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn deliver_from_acc(
    ring: &mut [i32],
    n: usize,
    mask: u64,
    t: u64,
    (acc, pe, wg, ex): (&[i32], &[(u32, i32)], &[u16], &[i8]),
    sh: u32,
    m: i64,
    kernel: LifKernel,
) -> bool {
    if !nearest32_fits(sh, m, ex) {
        return false;
    }
    #[inline(always)]
    fn values(acc: &[i32], wg: &[u16], ex: &[i8], sh: u32, m: i32, out: &mut [i32; 64]) {
        let k = acc.len().min(64);
        let (acc, wg, ex) = (&acc[..k], &wg[..k], &ex[..k]);
        for (o, ((&a, &g), &x)) in out.iter_mut().zip(acc.iter().zip(wg).zip(ex)) {
            *o = nearest32(a, g, x, sh, m).2;
        }
    }
    let mut c = [0i32; 64];
    for (((acc, pe), wg), ex) in acc.chunks(64).zip(pe.chunks(64)).zip(wg.chunks(64)).zip(ex.chunks(64)) {
        let m = m as i32;
        let out = &mut c;
        with_kernel!(kernel, values(acc: &[i32], wg: &[u16], ex: &[i8], sh: u32, m: i32, out: &mut [i32; 64]));
        if mask == 0 {
            // One ring row (every delay is one step), as in `deliver_words`.
            let ring = &mut ring[..n];
            for (&(pk, _), &v) in pe.iter().zip(c.iter()) {
                let idx = (pk & 0xFFFF) as usize;
                ring[idx] = ring[idx].wrapping_add(v);
            }
            continue;
        }
        for (&(pk, _), &v) in pe.iter().zip(c.iter()) {
            let idx = (((t + u64::from(pk >> 16)) & mask) as usize) * n + (pk & 0xFFFF) as usize;
            ring[idx] = ring[idx].wrapping_add(v);
        }
    }
    true
}

/// [`settle_words_body`] compiled for `kernel` (AVX2 / AVX-512 if the CPU has them); in
/// 32-bit lanes ([`settle_words_body32`]) where the formats allow.
fn settle_words(x: SettleWords<'_>, sel: u64, sh: u32, m: i64, full: bool, kernel: LifKernel) {
    #[inline(always)]
    fn body(x: SettleWords<'_>, sel: u64, sh: u32, m: i64, full: bool) {
        let narrow = nearest32_fits(sh, m, x.ex);
        match (narrow, full) {
            (true, true) => settle_words_body32::<true>(x, sel, sh, m as i32),
            (true, false) => settle_words_body32::<false>(x, sel, sh, m as i32),
            (false, true) => settle_words_body::<true>(x, sel, sh, m),
            (false, false) => settle_words_body::<false>(x, sel, sh, m),
        }
    }
    with_kernel!(kernel, body(x: SettleWords<'_>, sel: u64, sh: u32, m: i64, full: bool))
}

/// [`settle_range`] in full over all of the core's synapses.
pub fn settle_all(p: &CoreParams, s: &mut CoreState) {
    if s.stale.any {
        settle_range(p, s, 0..s.acc.len(), Settle::Full);
        s.stale.any = false;
    }
}

fn bad(core: CoreId, what: String) -> EmuError {
    EmuError::Program(format!("core {core}: {what}"))
}

/// Build the runtime form of `core` (index `ci` in the program).
pub fn load_core(
    program: &Program,
    core: &Core,
    devs: CoreDeviations,
    ideal: bool,
    seed: u64,
    noise_seed: u64,
) -> Result<(CoreParams, CoreState), EmuError> {
    let spec: &ChipSpec = &program.chip;
    let f = &spec.formats;
    let id = core.id;
    let n = core.neurons.len();
    if n > spec.core.max_neurons as usize || n > 1 << 16 {
        return Err(bad(id, format!("{n} neurons exceed the core limit {}", spec.core.max_neurons)));
    }
    let dmax = 1u32 << f.decay_bits;
    for (i, p) in core.profiles.iter().enumerate() {
        if p.decay_u > dmax || p.decay_v > dmax || p.decay_u2.is_some_and(|d| d > dmax) {
            return Err(bad(id, format!("profile {i}: decay code above 2^decay_bits")));
        }
        if let Some(l) = p.lut {
            if usize::from(l) >= program.luts.len() {
                return Err(bad(id, format!("profile {i}: LUT {l} does not exist")));
            }
        }
    }
    let mut pr = CoreParams {
        id,
        n,
        kind: Vec::with_capacity(n),
        all_lif: true,
        keep_u: Vec::with_capacity(n),
        keep_u2: Vec::new(),
        two_currents: false,
        ring_stride: n,
        keep_v: Vec::with_capacity(n),
        dv: Vec::with_capacity(n),
        bias: Vec::with_capacity(n),
        vth: Vec::with_capacity(n),
        vreset: Vec::with_capacity(n),
        refr: Vec::with_capacity(n),
        lut: Vec::with_capacity(n),
        noise_amp: Vec::with_capacity(n),
        any_noise: false,
        axon_first: Vec::new(),
        axon_count: Vec::new(),
        axon_rows: Vec::new(),
        axon_plain: Vec::new(),
        syn_packed: Vec::new(),
        syn_exp: Vec::new(),
        syn_clamp: Vec::new(),
        syn_rule: Vec::new(),
        syn_wgain: Vec::new(),
        syn_lgain: Vec::new(),
        syn_axon: Vec::new(),
        ring_slots: 1,
        rules: Vec::new(),
        track_lastpre: false,
        has_clamp: false,
        pe_nearest: true,
        fanout_base: 0,
        has_targets: vec![false; n],
        devs,
        dead: false,
        keeps_fit: false,
        in_cluster: false,
    };
    let mut st = CoreState {
        learn_rng: Prng(HwRng::new(seed, streams::learning(id.0))),
        noise_rng: Prng(HwRng::new(noise_seed, streams::noise(id.0))),
        ..CoreState::default()
    };
    let vb = f.voltage_bits;
    pr.two_currents = core.profiles.iter().any(|p| p.decay_u2.is_some()) || core.groups.iter().any(|g| g.current != 0);
    if pr.two_currents {
        if 2 * n > 1 << 16 {
            return Err(bad(id, format!("{n} neurons with a second synaptic current exceed 32768")));
        }
        pr.ring_stride = 2 * n;
        pr.keep_u2.reserve(n);
    }
    for (i, nc) in core.neurons.iter().enumerate() {
        let Some(p) = core.profiles.get(usize::from(nc.profile)) else {
            return Err(bad(id, format!("neuron {i}: profile {} does not exist", nc.profile)));
        };
        let d = &pr.devs;
        let (vth, du, dv, bias) = if ideal {
            (nc.v_th, p.decay_u, p.decay_v, nc.bias)
        } else {
            let dv = mismatch::eff_decay(spec, p.decay_v, d.leak_v[i]);
            (
                mismatch::eff_threshold(spec, nc.v_th, d.threshold[i]),
                mismatch::eff_decay(spec, p.decay_u, d.leak_u[i]),
                dv,
                mismatch::eff_bias(spec, nc.bias, nc.v_th, p.decay_v, d.bias[i]),
            )
        };
        pr.kind.push(p.kind);
        pr.all_lif &= p.kind == NeuronKind::Lif;
        pr.keep_u.push((dmax - du) as i32);
        if pr.two_currents {
            // Unused (kept at 0) for a neuron without a second current. The second current's leak
            // shares the neuron's current-leak deviation (one mismatch draw per neuron, as before).
            let du2 = match p.decay_u2 {
                Some(c) if ideal => c,
                Some(c) => mismatch::eff_decay(spec, c, pr.devs.leak_u[i]),
                None => dmax,
            };
            pr.keep_u2.push((dmax - du2) as i32);
            st.u2.push(0);
        }
        pr.keep_v.push((dmax - dv) as i32);
        pr.dv.push(dv as i32);
        pr.bias.push(bias);
        pr.vth.push(vth);
        pr.vreset.push(p.v_reset.clamp(smin(vb) as i32, smax(vb) as i32));
        pr.refr.push(i32::from(p.refractory));
        pr.lut.push(p.lut.unwrap_or(u16::MAX));
        let amp = if p.noisy && !ideal && spec.mismatch.noise_rsd > 0.0 {
            (spec.mismatch.noise_rsd * f64::from(nc.v_th).abs() * 3f64.sqrt()).round().min(f64::from(i32::MAX)) as i32
        } else {
            0
        };
        pr.any_noise |= amp != 0;
        pr.noise_amp.push(amp);
        st.u.push(0);
        st.v.push(nc.v_init.clamp(smin(vb) as i32, smax(vb) as i32));
        st.cnt.push(0);
        st.y.push(0);
    }
    let fits = |k: &[i32]| k.iter().all(|&x| (0..=dmax as i32).contains(&x));
    pr.keeps_fit = fits(&pr.keep_u) && fits(&pr.keep_v) && fits(&pr.keep_u2);
    if !pr.all_lif {
        st.nrng = (0..n as u32).map(|i| HwRng::new(seed, streams::neuron(id.0, i))).collect();
    }
    // Synapses.
    let ns = core.synapses.len();
    if ns as u64 > spec.max_synapses_per_core() {
        return Err(bad(id, format!("{ns} synapses exceed the core's synapse memory")));
    }
    let mut rule_slot_of: Vec<Option<u8>> = vec![None; program.rules.len()];
    for (gi, g) in core.groups.iter().enumerate() {
        if g.weight_exp < f.weight_exp_min || g.weight_exp > f.weight_exp_max {
            return Err(bad(id, format!("group {gi}: weight exponent {} out of range", g.weight_exp)));
        }
        if let Some(r) = g.rule {
            let Some(rule) = program.rules.get(r.index()) else {
                return Err(bad(id, format!("group {gi}: rule {} does not exist", r.0)));
            };
            rule.validate().map_err(|e| bad(id, e))?;
            pr.pe_nearest &= rule.readout == Rounding::Nearest;
            if rule_slot_of[r.index()].is_none() {
                if pr.rules.len() >= 255 {
                    return Err(bad(id, "more than 255 learning rules".into()));
                }
                rule_slot_of[r.index()] = Some(pr.rules.len() as u8);
                let mut slot = RuleSlot { rule: r.index(), ..RuleSlot::default() };
                for h in &rule.handlers {
                    slot.has[usize::from(h.trigger.code())] = true;
                    if h.code.iter().any(|i| i.op == Opcode::Ld && Src::from_sel(i.sel) == Some(Src::LastPre)) {
                        pr.track_lastpre = true;
                    }
                }
                pr.rules.push(slot);
            }
        }
    }
    let wb = f.weight_bits;
    let ab = f.accumulator_bits;
    let max_delay = spec.core.max_delay.max(1);
    let mut max_doff = 0u32;
    let amin = smin(ab) as i32;
    let amax = smax(ab) as i32;
    let mut nearest = HwRng(1);
    for (si, s) in core.synapses.iter().enumerate() {
        if s.target as usize >= n {
            return Err(bad(id, format!("synapse {si}: target {} is not a neuron of the core", s.target)));
        }
        if s.delay == 0 || u32::from(s.delay) > max_delay {
            return Err(bad(id, format!("synapse {si}: delay {} outside 1..={max_delay}", s.delay)));
        }
        let Some(g) = core.groups.get(usize::from(s.group)) else {
            return Err(bad(id, format!("synapse {si}: group {} does not exist", s.group)));
        };
        let doff = u32::from(s.delay) - 1;
        max_doff = max_doff.max(doff);
        pr.syn_packed.push(s.target | (doff << 16));
        let ring_target = match g.current {
            0 => s.target,
            1 if g.kind == SynKind::Current
                && core.profiles[usize::from(core.neurons[s.target as usize].profile)].decay_u2.is_some() =>
            {
                s.target + n as u32
            }
            c => {
                return Err(bad(
                    id,
                    format!("synapse {si}: group {} feeds current {c} which neuron {} lacks", s.group, s.target),
                ))
            }
        };
        pr.syn_exp.push(g.weight_exp);
        let clamp = g.kind == SynKind::Clamp;
        pr.has_clamp |= clamp;
        pr.syn_clamp.push(clamp);
        let slot = g.rule.and_then(|r| rule_slot_of[r.index()]);
        pr.syn_rule.push(slot.unwrap_or(u8::MAX));
        let (wg, lg) = if ideal {
            (4096, 4096)
        } else {
            (
                mismatch::gain_q12(spec.mismatch.weight_gain_rsd, pr.devs.weight_gain[si]),
                mismatch::gain_q12(spec.mismatch.learning_rate_rsd, pr.devs.learning_rate[si]),
            )
        };
        pr.syn_wgain.push(wg);
        // The programmed learning-rate trim scales the mismatch gain (the ideal chip's is 1):
        // `nm_isa::fixed_point::trim_lgain_q12`, exact for trim 0.
        pr.syn_lgain.push(nm_isa::fixed_point::trim_lgain_q12(lg, core.lr_trim_of(si)));
        let acc = s.acc.clamp(amin, amax);
        let wr = weight_readout(acc, ab, wb, Rounding::Nearest, &mut nearest);
        let weff = apply_gain(wr, wg);
        st.acc.push(acc);
        st.wr.push(wr);
        st.weff.push(weff);
        st.pe.push((ring_target | (doff << 16), shift_exp(i64::from(weff), g.weight_exp)));
        st.tag.push(0);
        if let Some(sl) = slot {
            pr.rules[usize::from(sl)].syns.push(si as u32);
        }
    }
    pr.ring_slots = (max_doff as usize + 1).next_power_of_two();
    st.ring = vec![0; pr.ring_slots * pr.ring_stride];
    if pr.has_clamp {
        st.clamp_ring = vec![-1; pr.ring_slots * pr.ring_stride];
    }
    // Axons.
    pr.syn_axon = vec![u32::MAX; ns];
    if core.axons.len() > spec.core.max_input_axons as usize {
        return Err(bad(id, format!("{} axons exceed the core limit", core.axons.len())));
    }
    for (ai, a) in core.axons.iter().enumerate() {
        let end = u64::from(a.first) + u64::from(a.count);
        if end > ns as u64 {
            return Err(bad(id, format!("axon {ai}: synapses {}..{end} beyond the {ns} synapses", a.first)));
        }
        for x in &mut pr.syn_axon[a.first as usize..end as usize] {
            *x = ai as u32;
        }
        pr.axon_first.push(a.first);
        pr.axon_count.push(a.count);
        let r = a.first as usize..end as usize;
        let targets = &pr.syn_packed[r.clone()];
        let rules = &pr.syn_rule[r.clone()];
        pr.axon_rows.push(AxonRow {
            post_run: run_start(targets.iter().map(|&t| t & 0xFFFF)),
            rule: match rules.first() {
                Some(&r0) if rules.iter().all(|&x| x == r0) => r0,
                _ => u8::MAX,
            },
        });
        let plain = pr.syn_clamp[r.clone()].iter().all(|c| !c)
            && !(pr.track_lastpre && pr.syn_rule[r].iter().any(|&x| x != u8::MAX));
        pr.axon_plain.push(plain);
    }
    for (mi, m) in core.axon_map.iter().enumerate() {
        if u64::from(m.axon_base) + u64::from(m.count) > core.axons.len() as u64 {
            return Err(bad(id, format!("axon map entry {mi}: axons beyond the core's {}", core.axons.len())));
        }
    }
    // Learning state and per-post index.
    let na = core.axons.len();
    for slot in pr.rules.iter_mut() {
        let rule = &program.rules[slot.rule];
        let mut count = vec![0u32; n + 1];
        for &s in &slot.syns {
            count[core.synapses[s as usize].target as usize + 1] += 1;
        }
        for i in 0..n {
            count[i + 1] += count[i];
            if count[i + 1] > count[i] {
                slot.posts.push(i as u32);
            }
        }
        let mut fill = count.clone();
        slot.post_syn = vec![0; slot.syns.len()];
        for &s in &slot.syns {
            let t = core.synapses[s as usize].target as usize;
            slot.post_syn[fill[t] as usize] = s;
            fill[t] += 1;
        }
        slot.post_start = count;
        slot.owns_core = slot.syns.len() == core.synapses.len();
        slot.post_axon = slot.post_syn.iter().map(|&s| pr.syn_axon[s as usize]).collect();
        slot.post_axon_run = slot
            .post_start
            .windows(2)
            .map(|w| run_start(slot.post_axon[w[0] as usize..w[1] as usize].iter().copied()))
            .collect();
        slot.post_syn_step =
            slot.post_start.windows(2).map(|w| step_of(&slot.post_syn[w[0] as usize..w[1] as usize])).collect();
        let xs = |k: usize| if rule.x[k].is_some() { vec![0; na] } else { Vec::new() };
        let ys = |k: usize| if rule.y[k].is_some() { vec![0; n] } else { Vec::new() };
        st.rules.push(RuleState { x: [xs(0), xs(1)], y: [ys(0), ys(1)] });
    }
    if pr.track_lastpre {
        st.lastpre = vec![u32::MAX; n];
        st.lastpre_at_spike = vec![u32::MAX; n];
    }
    st.spike_step = vec![0; n];
    st.arr_step = vec![0; na];
    st.arr_payload = vec![0; na];
    st.pay_step = vec![0; na];
    st.touched_flag = vec![false; ns];
    st.spikes = Vec::with_capacity(n);
    let pars: Vec<_> = pr.rules.iter().map(|slot| crate::learning::post_params(&pr, slot)).collect();
    for (slot, par) in pr.rules.iter_mut().zip(pars) {
        slot.post_lgain = par.iter().map(|q| q.lgain).collect();
        slot.post_par = par;
    }
    Ok((pr, st))
}

/// Constants of the chip's formats the step loop needs.
#[derive(Clone, Copy, Debug)]
pub struct Formats {
    pub current_shift: u32,
    pub vmin: i64,
    pub vmax: i64,
    pub decay_bits: u32,
    pub payload_bits: u8,
    pub accumulator_bits: u8,
    pub weight_bits: u8,
    pub tag_bits: u8,
    pub trace_max: i32,
    /// Voltage and current fit 30 bits and decays 16: the LIF update runs in 32-bit lanes.
    pub narrow: bool,
    /// The kernel of the 32-bit-lane LIF update ([`LifKernel::detect`] unless a test or
    /// benchmark chose one; every kernel gives identical results).
    pub lif_kernel: LifKernel,
}

impl Formats {
    pub fn new(spec: &ChipSpec) -> Formats {
        let f = &spec.formats;
        Formats {
            current_shift: 32 - u32::from(f.current_bits),
            vmin: smin(f.voltage_bits),
            vmax: smax(f.voltage_bits),
            decay_bits: u32::from(f.decay_bits),
            payload_bits: f.payload_bits,
            accumulator_bits: f.accumulator_bits,
            weight_bits: f.weight_bits,
            tag_bits: f.tag_bits,
            trace_max: nm_isa::fixed_point::trace_max(f.trace_int_bits, f.trace_frac_bits),
            narrow: f.voltage_bits <= 30 && f.current_bits <= 30 && f.decay_bits <= 16,
            lif_kernel: LifKernel::detect(),
        }
    }
}

/// Phase 1: deliver this step's arrivals into the delay rings.
///
/// `arena`: the synapse words of every `(source, destination axon)` pair of the cores whose
/// words never change during a run (no learning, no faults), copied at load in source order, so
/// that the words one spike reaches on all its destination cores lie together in memory; a plain
/// packet of payload 1 with `at != NO_ARENA` reads `arena[at ..]`, equal to its core's
/// `pe[first ..]`.
pub fn deliver(p: &CoreParams, s: &mut CoreState, t: u64, costs: &CostTable, arena: &[(u32, i32)]) {
    // Row width of the delay rings (`2n` with a second current).
    let n = p.ring_stride;
    let mask = (p.ring_slots - 1) as u64;
    let t1 = t + 1;
    let learning = !p.rules.is_empty();
    // Events of the packets the router delivered directly (`deliver_plain`) for this step.
    let mut events = std::mem::take(&mut s.pending_events);
    let mut inbox = std::mem::take(&mut s.inbox);
    if learning || p.has_clamp {
        // Delivery order is ascending axon index (it matters for learning and clamps).
        inbox.sort_by_key(|pk| pk.axon);
    }
    if s.stale.any {
        // Settling reads the arriving synapses' accumulators and constants: start their cache
        // misses together.
        for pkt in &inbox {
            let r = pkt.first as usize..(pkt.first + (pkt.count & COUNT_MASK)) as usize;
            crate::learning::prefetch(&s.acc, r.clone());
            crate::learning::prefetch(&p.syn_wgain, r.clone());
            crate::learning::prefetch(&p.syn_exp, r);
        }
    }
    for pkt in &inbox {
        let payload = pkt.payload;
        let (first, count) = (pkt.first as usize, (pkt.count & COUNT_MASK) as usize);
        events += count as u64;
        if learning {
            let a = pkt.axon as usize;
            if pkt.count & SPIKE != 0 {
                s.arr_step[a] = t1;
            }
            s.pay_step[a] = t1;
            s.arr_payload[a] = payload;
        }
        let range = first..first + count;
        let plain = payload == 1 && pkt.count & PLAIN != 0;
        if plain && pkt.at == NO_ARENA && s.stale.any && p.pe_nearest {
            // The values the settled synapses would deliver, from their accumulators: nothing
            // settles, the synapses keep lagging until their next reader.
            let r = range.clone();
            let x = (&s.acc[r.clone()], &s.pe[r.clone()], &p.syn_wgain[r.clone()], &p.syn_exp[r]);
            if deliver_from_acc(&mut s.ring, n, mask, t, x, s.stale.sh, s.stale.m, s.stale.kernel) {
                continue;
            }
        }
        if s.stale.any {
            let what = if plain { Settle::Delivered } else { Settle::Full };
            settle_range(p, s, range.clone(), what);
        }
        if plain {
            if pkt.at != NO_ARENA {
                deliver_words(&mut s.ring, n, mask, t, &arena[pkt.at as usize..pkt.at as usize + count]);
            } else {
                deliver_words(&mut s.ring, n, mask, t, &s.pe[range]);
            }
            continue;
        }
        for si in range {
            let pk = s.pe[si].0;
            let idx = (((t + u64::from(pk >> 16)) & mask) as usize) * n + (pk & 0xFFFF) as usize;
            if p.syn_clamp[si] {
                s.clamp_ring[idx] = payload.clamp(0, 1) as i8;
            } else {
                let c = if payload == 1 {
                    s.pe[si].1
                } else {
                    shift_exp(i64::from(s.weff[si]) * i64::from(payload), p.syn_exp[si])
                };
                s.ring[idx] = s.ring[idx].wrapping_add(c);
            }
            if p.track_lastpre && p.syn_rule[si] != u8::MAX {
                s.lastpre[(p.syn_packed[si] & 0xFFFF) as usize] = si as u32;
            }
        }
    }
    s.inbox = inbox;
    s.meter.charge(costs, Charge::SynapticEvents(events));
}

/// Add the contributions of synapse words `pe` of a plain payload-1 packet delivered at step
/// `t` into the delay rings (rows of width `n`, `mask + 1` rows).
#[inline(always)]
fn deliver_words(ring: &mut [i32], n: usize, mask: u64, t: u64, pe: &[(u32, i32)]) {
    if mask == 0 {
        let ring = &mut ring[..n];
        for &(pk, e) in pe {
            let idx = (pk & 0xFFFF) as usize;
            ring[idx] = ring[idx].wrapping_add(e);
        }
    } else {
        for &(pk, e) in pe {
            let idx = (((t + u64::from(pk >> 16)) & mask) as usize) * n + (pk & 0xFFFF) as usize;
            ring[idx] = ring[idx].wrapping_add(e);
        }
    }
}

/// What [`deliver`] does at step `t` for a plain payload-1 packet with synapse words `pe` on a
/// core without learning or clamps, done by the router when the packet is sent (step `t − 1`);
/// the caller counts the events in [`CoreState::pending_events`].
#[inline]
pub fn deliver_plain(p: &CoreParams, s: &mut CoreState, t: u64, pe: &[(u32, i32)]) {
    deliver_words(&mut s.ring, p.ring_stride, (p.ring_slots - 1) as u64, t, pe);
}

/// Phase 2: integrate, update, fire and reset every neuron of the core.
pub fn update_neurons(
    p: &CoreParams,
    s: &mut CoreState,
    t: u64,
    fm: &Formats,
    luts: &[nm_isa::neuron::Lut],
    costs: &CostTable,
) {
    let n = p.n;
    let slot = (t as usize) & (p.ring_slots - 1);
    s.spikes.clear();
    s.emit.clear();
    let base = slot * p.ring_stride;
    if p.all_lif && !p.any_noise {
        if p.two_currents {
            lif_fast::<true>(p, s, base, fm);
        } else {
            lif_fast::<false>(p, s, base, fm);
        }
    } else {
        update_general(p, s, t, base, fm, luts);
    }
    let t1 = t + 1;
    for &i in &s.spikes {
        s.spike_step[i as usize] = t1;
    }
    if p.track_lastpre {
        for &i in &s.spikes {
            s.lastpre_at_spike[i as usize] = s.lastpre[i as usize];
        }
    }
    s.meter.charge(costs, Charge::NeuronUpdates(n as u64));
    s.meter.counts.core_steps += u64::from(n > 0);
}

/// `decay_keep` for `|x| < 2^31`, `keep ≤ 2^16`, in a form that vectorises on baseline x86-64
/// (one widening unsigned multiply, conditional negation by mask).
#[inline(always)]
pub fn decay_keep_u(x: i32, keep: u32, bits: u32) -> i32 {
    let m = ((u64::from(x.unsigned_abs()) * u64::from(keep)) >> bits) as u32 as i32;
    let sign = x >> 31;
    (m ^ sign).wrapping_sub(sign)
}

/// [`decay_keep_u`] in 32-bit multiplies only (so it vectorises to 8 or 16 lanes with AVX2 or
/// AVX-512 `vpmulld`), for `keep ≤ 2^bits` and `bits ≤ 16`: with `a = |x| = h·2^bits + l`,
/// `(a·keep) >> bits = h·keep + ((l·keep) >> bits)` exactly, since `h·keep·2^bits` is a multiple
/// of `2^bits`; `h·keep ≤ 2^(31−bits)·2^bits = 2^31` and `l·keep < 2^(2·bits) ≤ 2^32`, and the sum
/// is at most `2^31 + 2^bits`, so nothing overflows a `u32`.
#[inline(always)]
pub fn decay_keep_split(x: i32, keep: u32, bits: u32) -> i32 {
    let a = x.unsigned_abs();
    let h = a >> bits;
    let l = a & ((1u32 << bits) - 1);
    let m = (h * keep + ((l * keep) >> bits)) as i32;
    let sign = x >> 31;
    (m ^ sign).wrapping_sub(sign)
}

/// The implementation of the 32-bit-lane LIF update (all give identical results).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LifKernel {
    /// Baseline x86-64 (or any target): 64-bit widening multiply per decay.
    #[default]
    Scalar,
    /// x86-64 with AVX2: split 32-bit decays, 8 lanes.
    Avx2,
    /// x86-64 with AVX-512F: split 32-bit decays, 16 lanes.
    Avx512,
}

impl LifKernel {
    /// Whether this CPU can run the kernel.
    pub fn supported(self) -> bool {
        match self {
            LifKernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            LifKernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            LifKernel::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The kernels this CPU can run, `Scalar` first.
    pub fn available() -> Vec<LifKernel> {
        [LifKernel::Scalar, LifKernel::Avx2, LifKernel::Avx512].into_iter().filter(|k| k.supported()).collect()
    }

    /// The fastest kernel this CPU can run: AVX-512 where the CPU has it, else AVX2, else
    /// scalar. On an AMD EPYC the autovectorised AVX-512 loop was about 7 % faster than AVX2 at
    /// CUBA 4k (docs/performance.md, session 4); on an Intel Xeon the intrinsics loop of
    /// `lif_avx512` with cache-line-aligned arrays brought CUBA 4k to 0.75–0.8× the time of the
    /// autovectorised loop (session 9).
    /// Every kernel gives the same values.
    pub fn detect() -> LifKernel {
        [LifKernel::Avx512, LifKernel::Avx2].into_iter().find(|k| k.supported()).unwrap_or(LifKernel::Scalar)
    }
}

/// A per-neuron constant of the LIF update (keep factor, refractory period) as stored: `i32`,
/// or `u16` where every value fits (the static LIF cluster), which halves those arrays' bytes.
pub(crate) trait Konst: Copy + Default {
    /// Stored as `u16` (else `i32`): how the intrinsics loop loads and stores it.
    const NARROW: bool;
    fn get(self) -> i32;
    /// `x` as stored (the caller keeps `x` in the type's range: a refractory count at most the
    /// refractory period it started from).
    fn put(x: i32) -> Self;
}

impl Konst for i32 {
    const NARROW: bool = false;
    #[inline(always)]
    fn get(self) -> i32 {
        self
    }
    #[inline(always)]
    fn put(x: i32) -> i32 {
        x
    }
}

impl Konst for u16 {
    const NARROW: bool = true;
    #[inline(always)]
    fn get(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn put(x: i32) -> u16 {
        x as u16
    }
}

/// The slices and constants of the 32-bit-lane LIF update of one core (`input2`, `u2`, `ku2`
/// have length `n` with a second current, 0 otherwise).
pub(crate) struct LifLanes<'a, K: Konst = i32, O: Konst = i32> {
    pub(crate) input: &'a mut [i32],
    pub(crate) input2: &'a mut [i32],
    pub(crate) u: &'a mut [i32],
    pub(crate) u2: &'a mut [i32],
    pub(crate) v: &'a mut [i32],
    /// Refractory counters, stored as the refractory periods are (`u16` with them).
    pub(crate) cnt: &'a mut [K],
    /// Where the loop appends the indices of the neurons that fire.
    pub(crate) spikes: &'a mut Vec<u32>,
    pub(crate) ku: &'a [K],
    pub(crate) ku2: &'a [K],
    pub(crate) kv: &'a [K],
    /// Bias and reset: `base[j]` plus the stored value (bases 0 for `O = i32`).
    pub(crate) bias: &'a [O],
    pub(crate) vth: &'a [i32],
    pub(crate) vr: &'a [O],
    pub(crate) base: [i32; 2],
    pub(crate) refr: &'a [K],
    pub(crate) db: u32,
    pub(crate) cs: u32,
    pub(crate) vmin: i32,
    pub(crate) vmax: i32,
}

/// The 32-bit-lane LIF loop, generic over the second current and the decay form (`SPLIT`:
/// [`decay_keep_split`], else [`decay_keep_u`]); instantiated for the scalar and AVX2
/// kernels (the AVX-512 kernel runs `lif_avx512::lif`, the same update in intrinsics).
#[inline(always)]
fn lif_narrow_body<const TWO: bool, const SPLIT: bool, K: Konst, O: Konst>(a: LifLanes<'_, K, O>) {
    // A small core takes a small fire-flag buffer: zeroing the large one costs a `memset` call.
    if a.u.len() <= 64 {
        lif_blocks::<TWO, SPLIT, K, O, 64>(a)
    } else {
        lif_blocks::<TWO, SPLIT, K, O, { LIF_BLOCK + 16 }>(a)
    }
}

/// The blocks of [`lif_narrow_body`], with a fire-flag buffer of `B ≥ min(n, LIF_BLOCK + 15)`:
/// blocks of `LIF_BLOCK` neurons (the last one up to 15 more), each one vectorised loop whose
/// fire flags stay in the buffer on the stack (in the L1 cache), collected right after: the
/// flags never reach memory.
#[inline(always)]
fn lif_blocks<const TWO: bool, const SPLIT: bool, K: Konst, O: Konst, const B: usize>(a: LifLanes<'_, K, O>) {
    let n = a.u.len();
    let (db, cs, vmin, vmax, base, spikes) = (a.db, a.cs, a.vmin, a.vmax, a.base, a.spikes);
    let (input, u, v, cnt) = (&mut a.input[..n], a.u, &mut a.v[..n], &mut a.cnt[..n]);
    let (ku, kv, bias, vth, vr, refr) = (&a.ku[..n], &a.kv[..n], &a.bias[..n], &a.vth[..n], &a.vr[..n], &a.refr[..n]);
    let m2 = if TWO { n } else { 0 };
    let (input2, u2, ku2) = (&mut a.input2[..m2], &mut a.u2[..m2], &a.ku2[..m2]);
    let mut fired = [0i32; B];
    let mut at = 0;
    while at < n {
        let end = if n - at < LIF_BLOCK + 16 { n } else { at + LIF_BLOCK };
        let m = end - at;
        // A block of at least 16 neurons whose length is not a multiple of 16 ends with two
        // overlapping windows of 16, computed together from the same inputs, instead of a
        // scalar remainder.
        let tail = if m >= 16 { m % 16 } else { 0 };
        let direct = if tail != 0 { m - 16 - tail } else { m };
        let r = at..at + direct;
        let r2 = if TWO { r.clone() } else { 0..0 };
        let mut any = lif_narrow_loop::<TWO, SPLIT, K, O>(
            &mut input[r.clone()],
            &mut input2[r2.clone()],
            &mut u[r.clone()],
            &mut u2[r2.clone()],
            &mut v[r.clone()],
            &mut cnt[r.clone()],
            &mut fired[..direct],
            &ku[r.clone()],
            &ku2[r2],
            &kv[r.clone()],
            &bias[r.clone()],
            &vth[r.clone()],
            &vr[r.clone()],
            base,
            db,
            cs,
            vmin,
            vmax,
        );
        if tail != 0 {
            let (w1, w2) = (at + direct, end - 16);
            let mut pair = [0i32; 32];
            // The two windows of an array side by side, and back.
            macro_rules! win {
                ($x:expr) => {{
                    let mut w = [Default::default(); 32];
                    w[..16].copy_from_slice(&$x[w1..w1 + 16]);
                    w[16..].copy_from_slice(&$x[w2..w2 + 16]);
                    w
                }};
            }
            macro_rules! back {
                ($x:expr, $w:expr) => {{
                    $x[w1..w1 + 16].copy_from_slice(&$w[..16]);
                    $x[w2..w2 + 16].copy_from_slice(&$w[16..]);
                }};
            }
            let (mut wi, mut wu, mut wv, mut wc) = (win!(input), win!(u), win!(v), win!(cnt));
            let (mut wi2, mut wu2, wk2) = if TWO { (win!(input2), win!(u2), win!(ku2)) } else { Default::default() };
            let m2 = if TWO { 32 } else { 0 };
            any |= lif_narrow_loop::<TWO, SPLIT, K, O>(
                &mut wi,
                &mut wi2[..m2],
                &mut wu,
                &mut wu2[..m2],
                &mut wv,
                &mut wc,
                &mut pair,
                &win!(ku),
                &wk2[..m2],
                &win!(kv),
                &win!(bias),
                &win!(vth),
                &win!(vr),
                base,
                db,
                cs,
                vmin,
                vmax,
            );
            // The lanes both windows hold got the same values from the same inputs.
            back!(input, wi);
            back!(u, wu);
            back!(v, wv);
            back!(cnt, wc);
            if TWO {
                back!(input2, wi2);
                back!(u2, wu2);
            }
            fired[direct..direct + 16].copy_from_slice(&pair[..16]);
            fired[direct + 16..m].copy_from_slice(&pair[32 - tail..]);
        }
        if any != 0 {
            // The neurons that fired start their refractory period (the loop left 0 there).
            let from = spikes.len();
            collect_spikes(&fired[..m], at as u32, spikes);
            for &i in &spikes[from..] {
                cnt[i as usize] = refr[i as usize];
            }
        }
        at = end;
    }
}

/// Neurons per block of the 32-bit-lane LIF loop (a multiple of 16: whole AVX-512 vectors).
const LIF_BLOCK: usize = 256;

/// The loop of [`lif_narrow_body`] (a separate function so that the slices reach it as
/// arguments, which the compiler knows do not alias: no runtime overlap checks before the loop).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lif_narrow_loop<const TWO: bool, const SPLIT: bool, K: Konst, O: Konst>(
    input: &mut [i32],
    input2: &mut [i32],
    u: &mut [i32],
    u2: &mut [i32],
    v: &mut [i32],
    cnt: &mut [K],
    fired: &mut [i32],
    ku: &[K],
    ku2: &[K],
    kv: &[K],
    bias: &[O],
    vth: &[i32],
    vr: &[O],
    [bias0, vr0]: [i32; 2],
    db: u32,
    cs: u32,
    vmin: i32,
    vmax: i32,
) -> i32 {
    let n = u.len();
    let decay = |x: i32, k: i32| if SPLIT { decay_keep_split(x, k as u32, db) } else { decay_keep_u(x, k as u32, db) };
    let (input, v, cnt, fired) = (&mut input[..n], &mut v[..n], &mut cnt[..n], &mut fired[..n]);
    let (ku, kv, bias, vth, vr) = (&ku[..n], &kv[..n], &bias[..n], &vth[..n], &vr[..n]);
    let m2 = if TWO { n } else { 0 };
    let (input2, u2, ku2) = (&mut input2[..m2], &mut u2[..m2], &ku2[..m2]);
    let mut any = 0;
    // decay(v), u, u2, bias lie in [−2^29, 2^29) each, so their sum fits an i32.
    for i in 0..n {
        let inp = input[i];
        input[i] = 0;
        let un = (decay(u[i], ku[i].get()).wrapping_add(inp) << cs) >> cs;
        u[i] = un;
        let mut sum = decay(v[i], kv[i].get()) + un + (bias0 + bias[i].get());
        if TWO {
            let inp2 = input2[i];
            input2[i] = 0;
            let u2n = (decay(u2[i], ku2[i].get()).wrapping_add(inp2) << cs) >> cs;
            u2[i] = u2n;
            sum += u2n;
        }
        let vn = if sum < vmin {
            vmin
        } else if sum > vmax {
            vmax
        } else {
            sum
        };
        let c = cnt[i].get();
        let active = i32::from(c == 0);
        let fire = active & i32::from(vn >= vth[i]);
        let keep_mask = -(active & !fire & 1);
        v[i] = (vn & keep_mask) | ((vr0 + vr[i].get()) & !keep_mask);
        // Counting down; a neuron that fires (count 0) stays at 0 here and gets its
        // refractory period from the caller, which reads `refr` only for the neurons that fired.
        cnt[i] = K::put(c - i32::from(c != 0));
        fired[i] = fire;
        any |= fire;
    }
    any
}

fn lif_narrow_scalar<const TWO: bool, K: Konst, O: Konst>(a: LifLanes<'_, K, O>) {
    lif_narrow_body::<TWO, false, K, O>(a)
}

/// The loop compiled for AVX2 (callers must check the CPU has it: see [`lif_narrow`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lif_narrow_avx2<const TWO: bool, K: Konst, O: Konst>(a: LifLanes<'_, K, O>) {
    lif_narrow_body::<TWO, true, K, O>(a)
}

/// The loop compiled for AVX-512F (callers must check the CPU has it: see [`lif_narrow`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn lif_narrow_avx512<const TWO: bool, K: Konst, O: Konst>(a: LifLanes<'_, K, O>) {
    crate::lif_avx512::lif::<TWO, K, O>(a)
}

/// Run the 32-bit-lane LIF loop with `kernel`, falling back to the scalar kernel when the CPU
/// lacks its features or the core's keep factors do not meet the split decay's precondition.
/// With [`decay_slice`] (whose scalar form also differs), the crate's `with_kernel!` (the same
/// dispatch for bodies that are the same on every kernel) and `learning::prefetch_line` (a cache
/// hint), `learning::gather_lanes` (AVX2 / AVX-512 lanes) and `scatter_lanes` (AVX-512 lanes),
/// bounds-checked, and the lane loads and stores of `lif_avx512`, the only `unsafe` of the
/// workspace: calling a
/// `#[target_feature]` function. The AVX-512 kernel runs `lif_avx512::lif` (intrinsics), the
/// others the generic body.
#[allow(unsafe_code)]
fn lif_narrow<const TWO: bool, K: Konst, O: Konst>(a: LifLanes<'_, K, O>, kernel: LifKernel, keeps_fit: bool) {
    let kernel = if keeps_fit && a.db <= 16 && kernel.supported() { kernel } else { LifKernel::Scalar };
    match kernel {
        LifKernel::Scalar => lif_narrow_scalar::<TWO, K, O>(a),
        // SAFETY: `kernel.supported()` checked above that the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        LifKernel::Avx2 => unsafe { lif_narrow_avx2::<TWO, K, O>(a) },
        // SAFETY: `kernel.supported()` checked above that the CPU has AVX-512F.
        #[cfg(target_arch = "x86_64")]
        LifKernel::Avx512 => unsafe { lif_narrow_avx512::<TWO, K, O>(a) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => lif_narrow_scalar::<TWO, K, O>(a),
    }
}

/// Decay every value of `xs` by `keep / 2^bits`, truncating toward zero (`decay_keep`), for
/// `keep ≤ 2^bits ≤ 2^16`: the learning engine's trace decay. With `kernel` AVX2 / AVX-512 the
/// loop runs the split 32-bit decay ([`decay_keep_split`]) in 8 / 16 lanes; every kernel gives
/// the same values.
pub fn decay_slice(xs: &mut [i32], keep: u32, bits: u32, kernel: LifKernel) {
    debug_assert!(bits <= 16 && keep <= 1 << bits);
    fn body<const SPLIT: bool>(xs: &mut [i32], keep: u32, bits: u32) {
        for x in xs.iter_mut() {
            *x = if SPLIT { decay_keep_split(*x, keep, bits) } else { decay_keep_u(*x, keep, bits) };
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn avx2(xs: &mut [i32], keep: u32, bits: u32) {
        body::<true>(xs, keep, bits)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn avx512(xs: &mut [i32], keep: u32, bits: u32) {
        body::<true>(xs, keep, bits)
    }
    let kernel = if bits <= 16 && keep <= 1 << bits && kernel.supported() { kernel } else { LifKernel::Scalar };
    #[allow(unsafe_code)]
    match kernel {
        LifKernel::Scalar => body::<false>(xs, keep, bits),
        // SAFETY: `kernel.supported()` checked above that the CPU has AVX2.
        #[cfg(target_arch = "x86_64")]
        LifKernel::Avx2 => unsafe { avx2(xs, keep, bits) },
        // SAFETY: `kernel.supported()` checked above that the CPU has AVX-512F.
        #[cfg(target_arch = "x86_64")]
        LifKernel::Avx512 => unsafe { avx512(xs, keep, bits) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => body::<false>(xs, keep, bits),
    }
}

/// [`decay_slice`] of a trace vector: every value lies in `0 ..= max` (the trace format:
/// `trace_add` saturates there, decays keep it, a restored checkpoint is checked). When
/// `max · keep < 2^31` every product fits 32 bits and, being non-negative, truncates by a
/// shift: `(x · keep) >> bits`, one 32-bit multiply per value (equal to `decay_keep`); otherwise
/// [`decay_slice`].
pub fn decay_traces(xs: &mut [i32], keep: u32, bits: u32, max: i32, kernel: LifKernel) {
    debug_assert!(xs.iter().all(|&x| (0..=max).contains(&x)), "trace outside 0..={max}");
    if !(bits <= 16 && keep <= 1 << bits && max >= 0 && (max as u64) * u64::from(keep) < 1 << 31) {
        return decay_slice(xs, keep, bits, kernel);
    }
    #[inline(always)]
    fn body(xs: &mut [i32], keep: u32, bits: u32) {
        for x in xs.iter_mut() {
            *x = ((*x as u32 * keep) >> bits) as i32;
        }
    }
    with_kernel!(kernel, body(xs: &mut [i32], keep: u32, bits: u32))
}

/// The LIF update of a core without noise: straight-line, branch-free per neuron; in 32-bit
/// lanes with mask selects when the formats allow it (so the loop vectorises, with the kernel of
/// `fm.lif_kernel`), 64-bit otherwise.
/// `TWO`: the core has a second synaptic current (`u2`, input in the second half of the row).
fn lif_fast<const TWO: bool>(p: &CoreParams, s: &mut CoreState, base: usize, fm: &Formats) {
    let n = p.n;
    let (input, input2) = s.ring[base..base + if TWO { 2 * n } else { n }].split_at_mut(n);
    let (u2, ku2) = if TWO { (&mut s.u2[..n], &p.keep_u2[..n]) } else { (&mut s.u2[..0], &p.keep_u2[..0]) };
    let (input2, u2, ku2) = if TWO { (&mut input2[..n], &mut u2[..n], &ku2[..n]) } else { (input2, u2, ku2) };
    let lanes = LifLanes {
        input,
        input2,
        u: &mut s.u[..n],
        u2,
        v: &mut s.v[..n],
        cnt: &mut s.cnt[..n],
        spikes: &mut s.spikes,
        ku: &p.keep_u[..n],
        ku2,
        kv: &p.keep_v[..n],
        bias: &p.bias[..n],
        vth: &p.vth[..n],
        vr: &p.vreset[..n],
        refr: &p.refr[..n],
        base: [0; 2],
        db: fm.decay_bits,
        cs: fm.current_shift,
        vmin: fm.vmin as i32,
        vmax: fm.vmax as i32,
    };
    lif_lanes::<TWO, i32, i32>(lanes, fm, p.keeps_fit);
}

/// The LIF update without noise over the neurons of `a` (one core, or the cores of a
/// [`crate::cluster::Cluster`] side by side): [`lif_narrow`] when `fm.narrow`, else in 64-bit
/// sums clamped to `fm.vmin ..= fm.vmax`. `a.vmin`/`a.vmax` are only read by the narrow loop.
pub(crate) fn lif_lanes<const TWO: bool, K: Konst, O: Konst>(a: LifLanes<'_, K, O>, fm: &Formats, keeps_fit: bool) {
    if fm.narrow {
        lif_narrow::<TWO, K, O>(a, fm.lif_kernel, keeps_fit);
        return;
    }
    let (db, cs) = (fm.decay_bits, fm.current_shift);
    let (vmin, vmax) = (fm.vmin, fm.vmax);
    let n = a.u.len();
    let LifLanes { input, input2, u, u2, v, cnt, spikes, ku, ku2, kv, bias, vth, vr, refr, base, .. } = a;
    let [bias0, vr0] = base;
    for i in 0..n {
        let inp = input[i];
        input[i] = 0;
        let un = (decay_keep(u[i], ku[i].get(), db).wrapping_add(inp) << cs) >> cs;
        u[i] = un;
        let mut sum = i64::from(decay_keep(v[i], kv[i].get(), db)) + i64::from(un) + i64::from(bias0 + bias[i].get());
        if TWO {
            let inp2 = input2[i];
            input2[i] = 0;
            let u2n = (decay_keep(u2[i], ku2[i].get(), db).wrapping_add(inp2) << cs) >> cs;
            u2[i] = u2n;
            sum += i64::from(u2n);
        }
        let vn = sum.clamp(vmin, vmax) as i32;
        let c = cnt[i].get();
        let active = c == 0;
        let fire = active & (vn >= vth[i]);
        v[i] = if active & !fire { vn } else { vr0 + vr[i].get() };
        cnt[i] = if fire { refr[i] } else { K::put((c - 1).max(0)) };
        if fire {
            spikes.push(i as u32);
        }
    }
}

/// Append `at` plus the indices of the set flags of `fired` to `spikes`, skipping 16 flags at a
/// time when none is set (an OR that vectorises).
fn collect_spikes(fired: &[i32], mut at: u32, spikes: &mut Vec<u32>) {
    let mut chunks = fired.chunks_exact(16);
    for ch in &mut chunks {
        if ch.iter().fold(0, |a, &b| a | b) != 0 {
            for (k, &f) in ch.iter().enumerate() {
                if f != 0 {
                    spikes.push(at + k as u32);
                }
            }
        }
        at += 16;
    }
    for (k, &f) in chunks.remainder().iter().enumerate() {
        if f != 0 {
            spikes.push(at + k as u32);
        }
    }
}

fn update_general(p: &CoreParams, s: &mut CoreState, _t: u64, base: usize, fm: &Formats, luts: &[nm_isa::neuron::Lut]) {
    let db = fm.decay_bits;
    let cs = fm.current_shift;
    let pmax = smax(fm.payload_bits);
    let pmin = smin(fm.payload_bits);
    for i in 0..p.n {
        let inp = s.ring[base + i];
        s.ring[base + i] = 0;
        let un = (decay_keep(s.u[i], p.keep_u[i], db).wrapping_add(inp) << cs) >> cs;
        s.u[i] = un;
        let u2n = if p.two_currents {
            let inp2 = s.ring[base + p.n + i];
            s.ring[base + p.n + i] = 0;
            let u2n = (decay_keep(s.u2[i], p.keep_u2[i], db).wrapping_add(inp2) << cs) >> cs;
            s.u2[i] = u2n;
            u2n
        } else {
            0
        };
        match p.kind[i] {
            NeuronKind::Lif => {
                let c = s.cnt[i];
                if c > 0 {
                    s.cnt[i] = c - 1;
                    s.v[i] = p.vreset[i];
                    continue;
                }
                let noise = if p.noise_amp[i] != 0 {
                    (i64::from(s.noise_rng.next_signed_q16()) * i64::from(p.noise_amp[i])) >> 16
                } else {
                    0
                };
                let vn = (i64::from(decay_keep(s.v[i], p.keep_v[i], db))
                    + i64::from(un)
                    + i64::from(u2n)
                    + i64::from(p.bias[i])
                    + noise)
                    .clamp(fm.vmin, fm.vmax) as i32;
                if vn >= p.vth[i] {
                    s.v[i] = p.vreset[i];
                    s.cnt[i] = p.refr[i];
                    s.spikes.push(i as u32);
                    if p.has_targets[i] {
                        s.emit.push((i as u32, 1, true));
                    }
                } else {
                    s.v[i] = vn;
                }
            }
            NeuronKind::Stochastic => {
                let clamp = if p.has_clamp {
                    let c = s.clamp_ring[base + i];
                    s.clamp_ring[base + i] = -1;
                    c
                } else {
                    -1
                };
                let c = s.cnt[i];
                if c > 1 && clamp < 0 {
                    // Active window: z stays 1 and the state is sent every step (not a spike).
                    s.cnt[i] = c - 1;
                    if p.has_targets[i] {
                        s.emit.push((i as u32, 1, false));
                    }
                    continue;
                }
                let fire = if clamp >= 0 {
                    clamp == 1
                } else {
                    let noise = if p.noise_amp[i] != 0 {
                        (i64::from(s.noise_rng.next_signed_q16()) * i64::from(p.noise_amp[i])) >> 16
                    } else {
                        0
                    };
                    let x = (i64::from(un) + i64::from(p.bias[i]) - i64::from(p.vth[i]) + noise)
                        .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
                    let prob = luts.get(usize::from(p.lut[i])).map_or(0, |l| l.lookup(x));
                    i32::from(s.nrng[i].next_u16()) < prob
                };
                if fire {
                    s.cnt[i] = p.refr[i];
                    s.y[i] = 1;
                    s.spikes.push(i as u32);
                    if p.has_targets[i] {
                        s.emit.push((i as u32, 1, true));
                    }
                } else {
                    s.cnt[i] = 0;
                    s.y[i] = 0;
                }
            }
            NeuronKind::Graded => {
                let drive = ((i64::from(un) + i64::from(p.bias[i])) * i64::from(p.dv[i])) >> db;
                let vn = (i64::from(decay_keep(s.v[i], p.keep_v[i], db)) + drive).clamp(fm.vmin, fm.vmax) as i32;
                s.v[i] = vn;
                let y = luts.get(usize::from(p.lut[i])).map_or(vn, |l| l.lookup(vn));
                s.y[i] = y;
                if p.has_targets[i] {
                    s.emit.push((i as u32, i64::from(y).clamp(pmin, pmax) as i32, true));
                }
            }
        }
    }
}

/// Recompute the readout and efficacy of synapse `si` after its accumulator changed.
#[inline]
pub fn refresh_weight(p: &CoreParams, s: &mut CoreState, si: usize, readout: Rounding, fm: &Formats) {
    let wr = if readout == Rounding::Nearest {
        // Same as `weight_readout`, without data-dependent branches (no PRNG draw either way).
        let sh = nm_isa::fixed_point::accumulator_frac_bits(fm.accumulator_bits, fm.weight_bits);
        let m = (1i64 << fm.weight_bits) - 1;
        crate::fastlearn::round_nearest(i64::from(s.acc[si]), sh).clamp(-m, m) as i32
    } else {
        weight_readout(s.acc[si], fm.accumulator_bits, fm.weight_bits, readout, &mut s.learn_rng)
    };
    s.wr[si] = wr;
    let weff = apply_gain(wr, p.syn_wgain[si]);
    s.weff[si] = weff;
    s.pe[si].1 = shift_exp(i64::from(weff), p.syn_exp[si]);
}

#[cfg(test)]
mod tests {
    //! Load-time facts the kernels rely on.
    use super::run_start;

    /// The 32-bit settle equals the 64-bit one at the edges of every input: accumulators at
    /// the `i32` limits and around rounding halves, gains 0, 4096, the largest and ones whose
    /// products fall on a rounding half, exponents
    /// over their whole range, every shift, the largest weight magnitude.
    #[test]
    fn narrow_settle_equals_the_wide_one() {
        use super::{settle_words_body, settle_words_body32, SettleWords};
        let mut r = nm_isa::rng::HwRng::new(3, 1);
        let edges = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX, 2047, 2048, -2048, 1 << 20, -(1 << 20) - 1];
        for sh in 1..=31u32 {
            for m in [1i64, 255, (1 << 15) - 1] {
                let acc: Vec<i32> = (0..64)
                    .map(|k| match k % 4 {
                        0 => edges[(k / 4) % edges.len()],
                        1 => ((r.next_u32() as i32) >> (r.next_u32() % 31)) | (1 << (sh - 1)),
                        _ => r.next_u32() as i32 >> (r.next_u32() % 32),
                    })
                    .collect();
                let wg: Vec<u16> = (0..64)
                    .map(|k| {
                        [0, 4096, u16::MAX, 1, 2048, 6144][k % 6].max((r.next_u32() as u16) & (k as u16 % 2 * u16::MAX))
                    })
                    .collect();
                let ex: Vec<i8> = (0..64).map(|k| (-127 + ((k * 3 + sh as usize) % 191) as i32) as i8).collect();
                let sel = u64::from(r.next_u32()) << 32 | u64::from(r.next_u32());
                let run = |narrow: bool| {
                    let (mut wr, mut weff, mut pe) = (vec![7; 64], vec![-7; 64], vec![(5u32, 9i32); 64]);
                    let x = SettleWords { acc: &acc, wr: &mut wr, weff: &mut weff, pe: &mut pe, wg: &wg, ex: &ex };
                    if narrow {
                        settle_words_body32::<true>(x, sel, sh, m as i32);
                    } else {
                        settle_words_body::<true>(x, sel, sh, m);
                    }
                    (wr, weff, pe)
                };
                assert_eq!(run(true), run(false), "sh {sh}, m {m}");
            }
        }
    }

    /// A plain packet's values computed from the accumulators add into the delay rings what
    /// the settled values add, on every kernel: rows shorter and longer than a chunk, repeated
    /// targets, one ring row and several (every delay slot), a shift and exponents that make
    /// the 32-bit form not apply
    /// (nothing added).
    #[test]
    fn values_from_the_accumulators_deliver_as_the_settled_ones() {
        use super::{deliver_from_acc, deliver_words, settle_words_body, LifKernel, SettleWords};
        let mut r = nm_isa::rng::HwRng::new(4, 1);
        let n = 40usize;
        for (kernel, slots) in LifKernel::available().into_iter().flat_map(|k| [(k, 1usize), (k, 4)]) {
            let mask = (slots - 1) as u64;
            for len in [1usize, 31, 64, 65, 150] {
                for sh in [1u32, 8, 16] {
                    let acc: Vec<i32> = (0..len).map(|_| (r.next_u32() as i32) >> (r.next_u32() % 32)).collect();
                    let wg: Vec<u16> = (0..len).map(|k| if k % 3 == 0 { 4096 } else { r.next_u32() as u16 }).collect();
                    let ex: Vec<i8> = (0..len).map(|_| (r.next_u32() % 33) as i8 - 16).collect();
                    let pe0: Vec<(u32, i32)> = (0..len)
                        .map(|_| ((r.next_u32() % n as u32) | (r.next_u32() % slots as u32) << 16, 0))
                        .collect();
                    let m = 255i64;
                    let t = u64::from(r.next_u32() % 100);
                    // Settled: every value refreshed, then delivered.
                    let mut pe = pe0.clone();
                    for c in 0..len.div_ceil(64) {
                        let q = c * 64..(c * 64 + 64).min(len);
                        let (mut wr, mut weff) = (vec![0; q.len()], vec![0; q.len()]);
                        let x = SettleWords {
                            acc: &acc[q.clone()],
                            wr: &mut wr,
                            weff: &mut weff,
                            pe: &mut pe[q.clone()],
                            wg: &wg[q.clone()],
                            ex: &ex[q],
                        };
                        settle_words_body::<true>(x, u64::MAX, sh, m);
                    }
                    let mut want = vec![7i32; n * slots];
                    deliver_words(&mut want, n, mask, t, &pe);
                    let mut got = vec![7i32; n * slots];
                    assert!(deliver_from_acc(&mut got, n, mask, t, (&acc, &pe0, &wg, &ex), sh, m, kernel));
                    assert_eq!(got, want, "{kernel:?}, {slots} ring rows, {len} synapses, sh {sh}");
                }
            }
            let mut ring = vec![0i32; n * slots];
            let one = ([5i32], [(3u32, 0i32)], [4096u16], [0i8]);
            assert!(!deliver_from_acc(&mut ring, n, mask, 0, (&one.0, &one.1, &one.2, &one.3), 0, 255, kernel));
            assert!(!deliver_from_acc(&mut ring, n, mask, 0, (&one.0, &one.1, &one.2, &[64]), 8, 255, kernel));
            assert!(ring.iter().all(|&x| x == 0), "nothing added where it does not apply");
        }
    }

    #[test]
    fn a_run_is_consecutive_from_its_first_entry() {
        assert_eq!(run_start([4u32, 5, 6].into_iter()), 4);
        assert_eq!(run_start([0u32].into_iter()), 0);
        assert_eq!(run_start([u32::MAX - 1, u32::MAX].into_iter()), u32::MAX - 1);
        // Empty, a gap, a repeat, descending, past the largest value.
        for xs in [&[][..], &[1, 3], &[2, 2], &[5, 4], &[u32::MAX - 1, u32::MAX, 0]] {
            assert_eq!(run_start(xs.iter().copied()), u32::MAX, "{xs:?}");
        }
    }
}
