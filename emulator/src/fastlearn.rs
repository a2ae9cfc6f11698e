//! Pre-decoded learning handlers: each rule's handlers are decoded once at load into a compact
//! op array (registers and selectors resolved, static cycle cost summed), and run by
//! [`exec_fast`], which must equal `nm_isa::learn::exec` bit for bit (the isa `exec` stays the
//! definition; `tests/fastlearn_diff.rs` checks the two on random programs and states).
//!
//! Handlers that draw no PRNG and reduce over no other synapse ([`FastCode::batchable`]) also
//! run over a batch of up to [`LANES`] distinct synapses at once ([`exec_batch`]): each op over
//! all lanes, so that its dispatch is paid once per batch. As such a handler reads and writes
//! only its own synapse's state, the result equals running the synapses one after the other.

use nm_isa::fixed_point::{shift_round, Rounding};
use nm_isa::learn::{isqrt, Dst, Instr, LearnCtx, LearnRule, Opcode, Reduce, Scope, Src, Trigger, NUM_REGS};

/// One pre-decoded instruction. Register fields are already masked to `0..8`, shifts to `0..32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FOp {
    Nop,
    /// `ld` of a valid source.
    Ld(u8, Src),
    /// `ld` of an unknown selector (reads 0).
    Zero(u8),
    Ldi(u8, i32),
    St(Dst, u8),
    /// `st` to an unknown selector (no effect).
    StNone,
    Mov(u8, u8),
    Add(u8, u8, u8),
    Sub(u8, u8, u8),
    Addi(u8, u8, i32),
    Mul(u8, u8, u8, u8, Rounding),
    Muli(u8, u8, i32, u8, Rounding),
    Shl(u8, u8, u8),
    Shr(u8, u8, u8, Rounding),
    Min(u8, u8, u8),
    Max(u8, u8, u8),
    Mini(u8, u8, i32),
    Maxi(u8, u8, i32),
    Neg(u8, u8),
    Abs(u8, u8),
    Sel(u8, u8, u8),
    Div(u8, u8, u8, u8),
    Sqrt(u8, u8, u8),
    Red(u8, Reduce),
    /// `red` with an unknown selector: no effect.
    RedNone,
    Wscale(u8, u8, Rounding),
}

/// A straight-line handler decoded once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FastCode {
    pub ops: Vec<FOp>,
    /// Sum of the op-table cycles of the ops (reductions add their synapse count at run time).
    pub cycles: u64,
    /// Number of instructions (for the op counter).
    pub len: u64,
    /// No PRNG draw (`Rand`, `RandU`, stochastic rounding) and no per-post op (`red`,
    /// `wscale`): the handler may run over a batch of distinct synapses with [`exec_batch`].
    pub batchable: bool,
}

impl FastCode {
    /// Decode `code` (any instruction words, canonical or not, as `exec` accepts them).
    pub fn decode(code: &[Instr]) -> FastCode {
        let ops: Vec<FOp> = code.iter().map(decode_one).collect();
        let cycles = code.iter().map(|i| u64::from(i.op.cycles())).sum();
        let batchable = ops.iter().all(|op| match *op {
            FOp::Ld(_, s) => !matches!(s, Src::Rand | Src::RandU),
            FOp::Mul(.., rnd) | FOp::Muli(.., rnd) | FOp::Shr(.., rnd) => rnd == Rounding::Nearest,
            FOp::Red(..) | FOp::RedNone | FOp::Wscale(..) => false,
            _ => true,
        });
        FastCode { ops, cycles, len: code.len() as u64, batchable }
    }
}

fn decode_one(ins: &Instr) -> FOp {
    let (d, a, b) = (ins.rd & 7, ins.ra & 7, ins.rb & 7);
    let sh = ins.sh & 31;
    match ins.op {
        Opcode::Nop => FOp::Nop,
        Opcode::Ld => Src::from_sel(ins.sel).map_or(FOp::Zero(d), |s| FOp::Ld(d, s)),
        Opcode::Ldi => FOp::Ldi(d, ins.imm),
        Opcode::St => Dst::from_sel(ins.sel).map_or(FOp::StNone, |t| FOp::St(t, a)),
        Opcode::Mov => FOp::Mov(d, a),
        Opcode::Add => FOp::Add(d, a, b),
        Opcode::Sub => FOp::Sub(d, a, b),
        Opcode::Addi => FOp::Addi(d, a, ins.imm),
        Opcode::Mul => FOp::Mul(d, a, b, sh, Rounding::Nearest),
        Opcode::Mulr => FOp::Mul(d, a, b, sh, Rounding::Stochastic),
        Opcode::Muli => FOp::Muli(d, a, ins.imm, sh, Rounding::Nearest),
        Opcode::Mulir => FOp::Muli(d, a, ins.imm, sh, Rounding::Stochastic),
        Opcode::Shl => FOp::Shl(d, a, sh),
        Opcode::Shr => FOp::Shr(d, a, sh, Rounding::Nearest),
        Opcode::Shrr => FOp::Shr(d, a, sh, Rounding::Stochastic),
        Opcode::Min => FOp::Min(d, a, b),
        Opcode::Max => FOp::Max(d, a, b),
        Opcode::Mini => FOp::Mini(d, a, ins.imm),
        Opcode::Maxi => FOp::Maxi(d, a, ins.imm),
        Opcode::Neg => FOp::Neg(d, a),
        Opcode::Abs => FOp::Abs(d, a),
        Opcode::Sel => FOp::Sel(d, a, b),
        Opcode::Div => FOp::Div(d, a, b, sh),
        Opcode::Sqrt => FOp::Sqrt(d, a, sh),
        Opcode::Red => Reduce::from_sel(ins.sel).map_or(FOp::RedNone, |k| FOp::Red(d, k)),
        Opcode::Wscale => FOp::Wscale(a, sh, Rounding::Nearest),
        Opcode::Wscaler => FOp::Wscale(a, sh, Rounding::Stochastic),
    }
}

#[inline(always)]
fn sat32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `div`: `(a << sh) / b` saturated to 32 bits; division by 0 gives the largest value of `a`'s
/// sign (0 for `a = 0`).
#[inline(always)]
fn div(ra: i32, rb: i32, sh: u8) -> i32 {
    if rb == 0 {
        match ra.signum() {
            1 => i32::MAX,
            -1 => i32::MIN,
            _ => 0,
        }
    } else {
        sat32((i64::from(ra) << sh) / i64::from(rb))
    }
}

/// Run a pre-decoded handler over `ctx`; returns the cycles it cost (dispatch excluded), exactly
/// as `nm_isa::learn::exec` on the instructions it was decoded from.
#[inline]
pub fn exec_fast(code: &FastCode, ctx: &mut impl LearnCtx) -> u64 {
    let mut r = [0i32; NUM_REGS];
    let mut extra = 0u64;
    for op in &code.ops {
        match *op {
            FOp::Nop | FOp::StNone | FOp::RedNone => {}
            FOp::Ld(d, s) => r[usize::from(d)] = ctx.load(s),
            FOp::Zero(d) => r[usize::from(d)] = 0,
            FOp::Ldi(d, imm) => r[usize::from(d)] = imm,
            FOp::St(t, a) => ctx.store(t, r[usize::from(a)]),
            FOp::Mov(d, a) => r[usize::from(d)] = r[usize::from(a)],
            FOp::Add(d, a, b) => r[usize::from(d)] = sat32(i64::from(r[usize::from(a)]) + i64::from(r[usize::from(b)])),
            FOp::Sub(d, a, b) => r[usize::from(d)] = sat32(i64::from(r[usize::from(a)]) - i64::from(r[usize::from(b)])),
            FOp::Addi(d, a, imm) => r[usize::from(d)] = sat32(i64::from(r[usize::from(a)]) + i64::from(imm)),
            FOp::Mul(d, a, b, sh, rnd) => {
                let p = i64::from(r[usize::from(a)]) * i64::from(r[usize::from(b)]);
                r[usize::from(d)] = sat32(shift_round(p, u32::from(sh), rnd, ctx.rng()));
            }
            FOp::Muli(d, a, imm, sh, rnd) => {
                let p = i64::from(r[usize::from(a)]) * i64::from(imm);
                r[usize::from(d)] = sat32(shift_round(p, u32::from(sh), rnd, ctx.rng()));
            }
            FOp::Shl(d, a, sh) => r[usize::from(d)] = sat32(i64::from(r[usize::from(a)]) << sh),
            FOp::Shr(d, a, sh, rnd) => {
                r[usize::from(d)] = sat32(shift_round(i64::from(r[usize::from(a)]), u32::from(sh), rnd, ctx.rng()))
            }
            FOp::Min(d, a, b) => r[usize::from(d)] = r[usize::from(a)].min(r[usize::from(b)]),
            FOp::Max(d, a, b) => r[usize::from(d)] = r[usize::from(a)].max(r[usize::from(b)]),
            FOp::Mini(d, a, imm) => r[usize::from(d)] = r[usize::from(a)].min(imm),
            FOp::Maxi(d, a, imm) => r[usize::from(d)] = r[usize::from(a)].max(imm),
            FOp::Neg(d, a) => r[usize::from(d)] = sat32(-i64::from(r[usize::from(a)])),
            FOp::Abs(d, a) => r[usize::from(d)] = sat32(i64::from(r[usize::from(a)]).abs()),
            FOp::Sel(d, a, b) => {
                let (d, a, b) = (usize::from(d), usize::from(a), usize::from(b));
                r[d] = if r[d] != 0 { r[a] } else { r[b] };
            }
            FOp::Div(d, a, b, sh) => r[usize::from(d)] = div(r[usize::from(a)], r[usize::from(b)], sh),
            FOp::Sqrt(d, a, sh) => {
                let v = (i64::from(r[usize::from(a)].max(0)) as u64) << sh;
                r[usize::from(d)] = sat32(isqrt(v) as i64);
            }
            FOp::Red(d, k) => {
                let (v, n) = ctx.reduce(k);
                r[usize::from(d)] = sat32(v);
                extra += u64::from(n);
            }
            FOp::Wscale(a, sh, rnd) => extra += u64::from(ctx.scale_weights(r[usize::from(a)], sh, rnd)),
        }
    }
    code.cycles + extra
}

/// Lanes of a batch: at most this many synapses run one handler together.
pub const LANES: usize = 256;

/// A [`LearnCtx`] that can point at one of several synapses (a lane of a batch).
pub trait LaneCtx: LearnCtx {
    type Lane: Copy;
    /// Make `lane` the current synapse of the following loads and stores.
    fn select(&mut self, lane: Self::Lane);
    /// `out[l] = load(src)` with lane `l` selected, for every lane. A context may override it
    /// with a direct gather; the result must equal this definition.
    #[inline(always)]
    fn load_lanes(&mut self, src: Src, lanes: &[Self::Lane], out: &mut [i32]) {
        for (o, &lane) in out.iter_mut().zip(lanes) {
            self.select(lane);
            *o = self.load(src);
        }
    }
    /// `store(dst, vals[l])` with lane `l` selected, lane after lane. A context may override it;
    /// the effects must equal this definition.
    #[inline(always)]
    fn store_lanes(&mut self, dst: Dst, lanes: &[Self::Lane], vals: &[i32]) {
        for (&v, &lane) in vals.iter().zip(lanes) {
            self.select(lane);
            self.store(dst, v);
        }
    }
}

/// `shift_round(v, sh, Rounding::Nearest, _)` for `sh < 32` (batches only use nearest
/// rounding: `batchable` excludes stochastic rounding, and no op rounds down).
#[inline(always)]
fn nearest(v: i64, sh: u8) -> i64 {
    round_nearest(v, u32::from(sh))
}

/// `nm_isa::fixed_point::shift_round(v, sh, Rounding::Nearest, _)` without branches on the
/// data (round half away from zero), for any `sh`.
#[inline(always)]
pub fn round_nearest(v: i64, sh: u32) -> i64 {
    if sh == 0 {
        return v;
    }
    // Half away from zero on the magnitude: `(|v| + half) >> sh`, then the sign back (in u64, so
    // `|i64::MIN|` and the added half cannot overflow; the result is below 2^63 for sh ≥ 1).
    let sh = sh.min(62);
    let half = 1u64 << (sh - 1);
    let r = ((v.unsigned_abs() + half) >> sh) as i64;
    let sign = v >> 63;
    (r ^ sign) - sign
}

/// Run a [`FastCode::batchable`] handler for every lane of `lanes` (at most [`LANES`], distinct
/// synapses), with the same effects as `exec_fast` lane after lane; returns the total cycles.
pub fn exec_batch<C: LaneCtx>(code: &FastCode, ctx: &mut C, lanes: &[C::Lane]) -> u64 {
    assert!(code.batchable && lanes.len() <= LANES, "exec_batch: not batchable or too many lanes");
    BATCH_REGS.with_borrow_mut(|r| exec_batch_in(code, ctx, lanes, r))
}

/// The register file of a batch: one row of [`LANES`] per register.
type BatchRegs = [[i32; LANES]; NUM_REGS];

std::thread_local! {
    /// Scratch registers of [`exec_batch`] (not state: every batch zeroes the lanes it uses).
    static BATCH_REGS: std::cell::RefCell<Box<BatchRegs>> = std::cell::RefCell::new(Box::new([[0; LANES]; NUM_REGS]));
}

fn exec_batch_in<C: LaneCtx>(code: &FastCode, ctx: &mut C, lanes: &[C::Lane], r: &mut BatchRegs) -> u64 {
    let n = lanes.len();
    for row in r.iter_mut() {
        row[..n].fill(0);
    }
    macro_rules! lanes {
        ($d:expr, |$l:ident| $e:expr) => {{
            let d = usize::from($d);
            for $l in 0..n {
                let v = $e;
                r[d][$l] = v;
            }
        }};
    }
    for op in &code.ops {
        match *op {
            FOp::Nop | FOp::StNone => {}
            FOp::Ld(d, s) => ctx.load_lanes(s, lanes, &mut r[usize::from(d)][..n]),
            FOp::St(t, a) => ctx.store_lanes(t, lanes, &r[usize::from(a)][..n]),
            FOp::Zero(d) => lanes!(d, |l| {
                let _ = l;
                0
            }),
            FOp::Ldi(d, imm) => lanes!(d, |l| {
                let _ = l;
                imm
            }),
            FOp::Mov(d, a) => lanes!(d, |l| r[usize::from(a)][l]),
            FOp::Add(d, a, b) => {
                lanes!(d, |l| sat32(i64::from(r[usize::from(a)][l]) + i64::from(r[usize::from(b)][l])))
            }
            FOp::Sub(d, a, b) => {
                lanes!(d, |l| sat32(i64::from(r[usize::from(a)][l]) - i64::from(r[usize::from(b)][l])))
            }
            FOp::Addi(d, a, imm) => lanes!(d, |l| sat32(i64::from(r[usize::from(a)][l]) + i64::from(imm))),
            FOp::Mul(d, a, b, sh, _) => lanes!(d, |l| {
                let p = i64::from(r[usize::from(a)][l]) * i64::from(r[usize::from(b)][l]);
                sat32(nearest(p, sh))
            }),
            FOp::Muli(d, a, imm, sh, _) => lanes!(d, |l| {
                let p = i64::from(r[usize::from(a)][l]) * i64::from(imm);
                sat32(nearest(p, sh))
            }),
            FOp::Shl(d, a, sh) => lanes!(d, |l| sat32(i64::from(r[usize::from(a)][l]) << sh)),
            FOp::Shr(d, a, sh, _) => lanes!(d, |l| sat32(nearest(i64::from(r[usize::from(a)][l]), sh))),
            FOp::Min(d, a, b) => lanes!(d, |l| r[usize::from(a)][l].min(r[usize::from(b)][l])),
            FOp::Max(d, a, b) => lanes!(d, |l| r[usize::from(a)][l].max(r[usize::from(b)][l])),
            FOp::Mini(d, a, imm) => lanes!(d, |l| r[usize::from(a)][l].min(imm)),
            FOp::Maxi(d, a, imm) => lanes!(d, |l| r[usize::from(a)][l].max(imm)),
            FOp::Neg(d, a) => lanes!(d, |l| sat32(-i64::from(r[usize::from(a)][l]))),
            FOp::Abs(d, a) => lanes!(d, |l| sat32(i64::from(r[usize::from(a)][l]).abs())),
            FOp::Sel(d, a, b) => {
                let dd = usize::from(d);
                lanes!(d, |l| if r[dd][l] != 0 { r[usize::from(a)][l] } else { r[usize::from(b)][l] })
            }
            FOp::Div(d, a, b, sh) => lanes!(d, |l| div(r[usize::from(a)][l], r[usize::from(b)][l], sh)),
            FOp::Sqrt(d, a, sh) => lanes!(d, |l| {
                let v = (i64::from(r[usize::from(a)][l].max(0)) as u64) << sh;
                sat32(isqrt(v) as i64)
            }),
            FOp::Red(..) | FOp::RedNone | FOp::Wscale(..) => unreachable!("checked by `batchable`"),
        }
    }
    code.cycles * n as u64
}

/// The handlers of one rule, decoded and grouped by trigger and scope, in program order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FastRule {
    /// Indexed by `Trigger::code()`: per-synapse handlers, then per-post handlers.
    pub syn: [Vec<FastCode>; 4],
    pub post: [Vec<FastCode>; 4],
    /// Indexed by `Trigger::code()`, `Pre` and `Post` only: the trigger's handlers are a single
    /// per-synapse handler of the [`FusedW`] shape (and no per-post handler), which the learning
    /// engine may run with its fused kernels instead of the interpreter.
    pub fused: [Option<FusedW>; 4],
}

impl FastRule {
    pub fn decode(rule: &LearnRule) -> FastRule {
        let mut f = FastRule::default();
        for trig in Trigger::ALL {
            let k = trig.code() as usize;
            for h in rule.handlers.iter().filter(|h| h.trigger == trig) {
                let c = FastCode::decode(&h.code);
                match h.scope {
                    Scope::Synapse => f.syn[k].push(c),
                    Scope::PostNeuron => f.post[k].push(c),
                }
            }
        }
        for trig in [Trigger::Pre, Trigger::Post] {
            let k = trig.code() as usize;
            if let ([code], []) = (f.syn[k].as_slice(), f.post[k].as_slice()) {
                f.fused[k] = FusedW::recognise(code);
            }
        }
        f
    }

    /// The same rule without fused handlers (everything on the interpreter), for differential
    /// tests of the fused kernels.
    pub fn without_fused(mut self) -> FastRule {
        self.fused = Default::default();
        self
    }
}

/// A unary op of a [`FusedW`] term, with the arithmetic of the [`FOp`] it comes from (nearest
/// rounding only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    Muli(i32, u8),
    Shr(u8),
    Shl(u8),
    Addi(i32),
    Mini(i32),
    Maxi(i32),
    Neg,
    Abs,
}

impl Unary {
    #[inline(always)]
    fn apply(self, v: i32) -> i32 {
        match self {
            Unary::Muli(imm, sh) => sat32(nearest(i64::from(v) * i64::from(imm), sh)),
            Unary::Shr(sh) => sat32(nearest(i64::from(v), sh)),
            Unary::Shl(sh) => sat32(i64::from(v) << sh),
            Unary::Addi(imm) => sat32(i64::from(v) + i64::from(imm)),
            Unary::Mini(imm) => v.min(imm),
            Unary::Maxi(imm) => v.max(imm),
            Unary::Neg => sat32(-i64::from(v)),
            Unary::Abs => sat32(i64::from(v).abs()),
        }
    }
}

/// How a [`FusedW`] handler combines the accumulator `w` with its term `d` (saturated to 32 bits,
/// as `add` / `sub`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    WPlusD,
    WMinusD,
    DMinusW,
}

/// A per-synapse handler recognised at load as `st w, w ⊕ f(trace)`: one trace load (`x0`,
/// `x1`, `y0`, `y1`) through a chain of unary ops with immediates ([`Unary`]), combined with one
/// load of `w` by `add` or `sub`, stored once to `w`; every other op of the handler only writes
/// registers that do not reach the store (no PRNG, no other store). The term depends on the trace
/// alone, so a fused kernel computes it once per trace value and applies the write directly. The
/// charges of an invocation stay those of the decoded handler (`len` ops, `cycles`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FusedW {
    pub src: Src,
    pub chain: Vec<Unary>,
    pub combine: Combine,
    /// Op count and op-table cycles of one invocation (of the handler it was recognised from).
    pub len: u64,
    pub cycles: u64,
}

/// Apply `chain` to every value of `out`, op after op (each a loop the compiler vectorises).
/// `known`: `(least, most)` with every value of `out` in `least ..= most` before the first op
/// (`least ≤ 0`, `most ≥ 0`: a bound, not necessarily reached). A `Muli` picks its loop from the
/// bound instead of a pass over the values (every loop gives the same values where it applies,
/// so a looser bound picks a loop as exact), and the bound follows the values through the ops
/// that keep non-negative values non-negative and ordered (`Muli` by `imm ≥ 0`, `Shr`: then
/// `op(most)` bounds the results).
#[inline(always)]
fn chain_over(chain: &[Unary], out: &mut [i32], mut known: Option<(i32, u32)>) {
    for &u in chain {
        let bound = known.take();
        // Non-negative values up to `m` (≤ `i32::MAX`) stay in `0 ..= u(m)` under `u`.
        known = match (u, bound) {
            (Unary::Muli(imm, _), Some((0, m))) if imm >= 0 && m <= i32::MAX as u32 => {
                Some((0, u.apply(m as i32) as u32))
            }
            (Unary::Shr(_), Some((0, m))) if m <= i32::MAX as u32 => Some((0, u.apply(m as i32) as u32)),
            _ => None,
        };
        match u {
            Unary::Muli(imm, sh) => {
                // One fold, not `all`: no early exit, so it vectorises.
                let (least, most) = bound
                    .unwrap_or_else(|| out.iter().fold((0i32, 0u32), |(l, m), &v| (l.min(v), m.max(v.unsigned_abs()))));
                if muli_fits32(most, imm, sh) {
                    out.iter_mut().for_each(|v| *v = nearest32(*v * imm, sh))
                } else if least >= 0 && imm >= 0 && (1..=62).contains(&sh) {
                    // Non-negative (traces): `v · imm < 2^62` and the half `≤ 2^61`, so the
                    // rounded magnitude is an unsigned 64-bit sum and shift (32 × 32 → 64-bit
                    // multiplies), saturated at `i32::MAX`.
                    let half = 1u64 << (sh - 1);
                    out.iter_mut().for_each(|v| {
                        let p = u64::from(*v as u32) * u64::from(imm as u32);
                        *v = ((p + half) >> sh).min(i32::MAX as u64) as i32
                    })
                } else {
                    out.iter_mut().for_each(|v| *v = Unary::Muli(imm, sh).apply(*v))
                }
            }
            Unary::Shr(sh) if sh <= 31 => out.iter_mut().for_each(|v| *v = nearest32(*v, sh)),
            Unary::Shr(sh) => out.iter_mut().for_each(|v| *v = Unary::Shr(sh).apply(*v)),
            Unary::Shl(sh) => out.iter_mut().for_each(|v| *v = Unary::Shl(sh).apply(*v)),
            Unary::Addi(imm) => out.iter_mut().for_each(|v| *v = Unary::Addi(imm).apply(*v)),
            Unary::Mini(imm) => out.iter_mut().for_each(|v| *v = (*v).min(imm)),
            Unary::Maxi(imm) => out.iter_mut().for_each(|v| *v = (*v).max(imm)),
            Unary::Neg => out.iter_mut().for_each(|v| *v = Unary::Neg.apply(*v)),
            Unary::Abs => out.iter_mut().for_each(|v| *v = Unary::Abs.apply(*v)),
        }
    }
}

/// Whether every `v` with `|v| ≤ most` has `v · imm` inside the `i32` range and `sh ≤ 31`:
/// then [`Unary::Muli`] of it is [`nearest32`] of the 32-bit product (no saturation).
#[inline(always)]
fn muli_fits32(most: u32, imm: i32, sh: u8) -> bool {
    u64::from(most) * u64::from(imm.unsigned_abs()) < 1 << 31 && sh <= 31
}

/// [`nearest`] of an `i32` in 32-bit arithmetic, for `sh ≤ 31`: the same value (`|v| ≤ 2^31`
/// and the half `≤ 2^30`, so their sum fits a `u32`; the shifted magnitude is below `2^31`).
#[inline(always)]
fn nearest32(v: i32, sh: u8) -> i32 {
    if sh == 0 {
        return v;
    }
    let half = 1u32 << (sh - 1);
    let sign = v >> 31;
    ((((v.unsigned_abs() + half) >> sh) as i32) ^ sign).wrapping_sub(sign)
}

/// Symbolic register contents while recognising a [`FusedW`].
#[derive(Clone, Debug)]
enum Sym {
    Unknown,
    W,
    Term(Src, Vec<Unary>),
    Result(Src, Vec<Unary>, Combine),
}

impl FusedW {
    /// Recognise `code` (see [`FusedW`]), or `None`.
    pub fn recognise(code: &FastCode) -> Option<FusedW> {
        if !code.batchable {
            return None;
        }
        let mut r: [Sym; NUM_REGS] = std::array::from_fn(|_| Sym::Unknown);
        let mut stored: Option<(Src, Vec<Unary>, Combine)> = None;
        let unary = |s: &Sym, u: Unary| match s {
            Sym::Term(src, c) => {
                let mut c = c.clone();
                c.push(u);
                Sym::Term(*src, c)
            }
            _ => Sym::Unknown,
        };
        for op in &code.ops {
            let (d, v) = match *op {
                FOp::Nop | FOp::StNone => continue,
                FOp::St(Dst::W, a) => match (&r[usize::from(a)], &stored) {
                    (Sym::Result(s, c, k), None) => {
                        stored = Some((*s, c.clone(), *k));
                        continue;
                    }
                    _ => return None,
                },
                FOp::St(Dst::Tag, _) | FOp::Red(..) | FOp::RedNone | FOp::Wscale(..) => return None,
                FOp::Ld(d, s) => match s {
                    Src::W => (d, Sym::W),
                    Src::X0 | Src::X1 | Src::Y0 | Src::Y1 => (d, Sym::Term(s, Vec::new())),
                    // No side effect (`batchable` excludes the PRNG sources).
                    _ => (d, Sym::Unknown),
                },
                FOp::Mov(d, a) => (d, r[usize::from(a)].clone()),
                FOp::Muli(d, a, imm, sh, Rounding::Nearest) => (d, unary(&r[usize::from(a)], Unary::Muli(imm, sh))),
                FOp::Shr(d, a, sh, Rounding::Nearest) => (d, unary(&r[usize::from(a)], Unary::Shr(sh))),
                FOp::Shl(d, a, sh) => (d, unary(&r[usize::from(a)], Unary::Shl(sh))),
                FOp::Addi(d, a, imm) => (d, unary(&r[usize::from(a)], Unary::Addi(imm))),
                FOp::Mini(d, a, imm) => (d, unary(&r[usize::from(a)], Unary::Mini(imm))),
                FOp::Maxi(d, a, imm) => (d, unary(&r[usize::from(a)], Unary::Maxi(imm))),
                FOp::Neg(d, a) => (d, unary(&r[usize::from(a)], Unary::Neg)),
                FOp::Abs(d, a) => (d, unary(&r[usize::from(a)], Unary::Abs)),
                FOp::Add(d, a, b) => match (&r[usize::from(a)], &r[usize::from(b)]) {
                    (Sym::W, Sym::Term(s, c)) | (Sym::Term(s, c), Sym::W) => {
                        (d, Sym::Result(*s, c.clone(), Combine::WPlusD))
                    }
                    _ => (d, Sym::Unknown),
                },
                FOp::Sub(d, a, b) => match (&r[usize::from(a)], &r[usize::from(b)]) {
                    (Sym::W, Sym::Term(s, c)) => (d, Sym::Result(*s, c.clone(), Combine::WMinusD)),
                    (Sym::Term(s, c), Sym::W) => (d, Sym::Result(*s, c.clone(), Combine::DMinusW)),
                    _ => (d, Sym::Unknown),
                },
                FOp::Zero(d)
                | FOp::Ldi(d, _)
                | FOp::Muli(d, ..)
                | FOp::Shr(d, ..)
                | FOp::Mul(d, ..)
                | FOp::Min(d, ..)
                | FOp::Max(d, ..)
                | FOp::Sel(d, ..)
                | FOp::Div(d, ..)
                | FOp::Sqrt(d, ..) => (d, Sym::Unknown),
            };
            r[usize::from(d)] = v;
        }
        let (src, chain, combine) = stored?;
        Some(FusedW { src, chain, combine, len: code.len, cycles: code.cycles })
    }

    /// The term `f(trace)`.
    #[inline(always)]
    pub fn term(&self, trace: i32) -> i32 {
        self.chain.iter().fold(trace, |v, u| u.apply(v))
    }

    /// `out[i] = term(traces[i])` for every trace, op after op over the whole slice; with
    /// `kernel` AVX2 / AVX-512 the same loops compiled for those features (vectorised; every
    /// kernel gives the same values). `out` is padded to a multiple of 16 values with `term(0)`
    /// (what the kernels read beyond the traces), so that every loop runs in whole vectors.
    /// Every trace lies in `0 ..= max` (the trace format: `trace_add` saturates there, decays
    /// keep it, a restored checkpoint is checked; as `core::decay_traces` relies on).
    pub fn terms_into(&self, traces: &[i32], out: &mut Vec<i32>, kernel: crate::core::LifKernel, max: i32) {
        debug_assert!(traces.iter().all(|&x| (0..=max).contains(&x)), "trace outside 0..={max}");
        out.clear();
        out.extend_from_slice(traces);
        // Zeros do not move the folds of `chain_over` (they start at 0) nor leave `0 ..= max`.
        out.resize(traces.len().next_multiple_of(16), 0);
        let (chain, out, known) = (&self.chain[..], &mut out[..], Some((0, max.max(0) as u32)));
        with_kernel!(kernel, chain_over(chain: &[Unary], out: &mut [i32], known: Option<(i32, u32)>))
    }

    /// The value the handler stores, from the accumulator `w` and the term `d`.
    #[inline(always)]
    pub fn result(&self, w: i32, d: i32) -> i32 {
        match self.combine {
            Combine::WPlusD => sat32(i64::from(w) + i64::from(d)),
            Combine::WMinusD => sat32(i64::from(w) - i64::from(d)),
            Combine::DMinusW => sat32(i64::from(d) - i64::from(w)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::LifKernel;

    /// `chain_over` (32-bit `Muli` / `Shr` where they fit, unsigned 64-bit `Muli` on
    /// non-negative values) gives what `Unary::apply` gives value by value, on every kernel:
    /// products just inside and just outside the `i32` range, both signs, non-negative values
    /// alone, rounding halves, saturation, shifts 0 to 63.
    #[test]
    fn chain_over_equals_apply_value_by_value() {
        let imms = [
            0,
            1,
            -1,
            3,
            3417,
            4096,
            -4096,
            1 << 15,
            -(1 << 15),
            46341,
            886_646_177,
            1_610_612_736,
            i32::MAX,
            i32::MIN,
        ];
        let shs = [0u8, 1, 12, 15, 31, 32, 40, 62, 63];
        let base = [0, 1, -1, 2, -2, 2047, 2048, -2048, 6144, 65535, 1 << 16, 46340, 46341, i32::MAX, i32::MIN];
        for &imm in &imms {
            for &sh in &shs {
                // The largest magnitude whose product with `imm` fits, and one past it.
                let edge = if imm == 0 { i32::MAX as u64 } else { ((1u64 << 31) - 1) / u64::from(imm.unsigned_abs()) };
                for most in [edge, edge + 1] {
                    let most = most.min(i32::MAX as u64) as i32;
                    let mut vals: Vec<i32> = base.iter().map(|&v: &i32| v.clamp(-most, most)).collect();
                    vals.extend([most, -most, most / 2, -(most / 3)]);
                    // Also the non-negative values alone (traces: the unsigned 64-bit path).
                    let traces: Vec<i32> = vals.iter().chain(&base).copied().filter(|&v| v >= 0).collect();
                    // And those up to the edge alone (bounded traces: the bound decides the loop).
                    let bounded: Vec<i32> = vals.iter().copied().filter(|&v| v >= 0).collect();
                    for (u, vals) in [Unary::Muli(imm, sh), Unary::Shr(sh)]
                        .into_iter()
                        .flat_map(|u| [(u, &vals), (u, &traces), (u, &bounded)])
                    {
                        let want: Vec<i32> = vals.iter().map(|&v| u.apply(v)).collect();
                        // Without a bound, and (values all non-negative) with the exact
                        // bound, a looser one and the loosest.
                        let top = vals.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
                        let mut bounds = vec![None];
                        if vals.iter().all(|&v| v >= 0) {
                            let looser = top.saturating_mul(2).min(i32::MAX as u32);
                            bounds.extend([top, looser, i32::MAX as u32].map(|b| Some((0, b))));
                        }
                        for kernel in LifKernel::available() {
                            for &known in &bounds {
                                let mut got = vals.clone();
                                let chain = [u];
                                let (chain, out) = (&chain[..], &mut got[..]);
                                with_kernel!(kernel, chain_over(chain: &[Unary], out: &mut [i32], known: Option<(i32, u32)>));
                                assert_eq!(got, want, "{u:?} on {kernel:?}, values up to {most}, bound {known:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// `terms_into` gives `term` of every trace, then `term(0)` up to a multiple of 16 values,
    /// on every kernel: lengths around the vector widths, chains of several ops with a negation
    /// (`term(0)` is then not 0 only where an `Addi` precedes), traces up to `i32::MAX`.
    #[test]
    fn terms_into_pads_with_the_term_of_zero() {
        let chains = [
            vec![Unary::Muli(3417, 12)],
            vec![Unary::Muli(1 << 15, 12), Unary::Neg],
            vec![Unary::Addi(-7), Unary::Muli(46341, 3), Unary::Shr(2), Unary::Maxi(-100)],
            vec![Unary::Muli(i32::MAX, 1), Unary::Abs],
            // The pair-STDP terms `nmc` emits (gmax · a_pre · trace in two steps), and with a
            // shift, a negative factor and a saturating one between them (the bound follows
            // through the first two only).
            vec![Unary::Muli(886_646_177, 15), Unary::Muli(3417, 31)],
            vec![Unary::Muli(886_646_177, 15), Unary::Shr(3), Unary::Muli(3417, 28)],
            vec![Unary::Muli(886_646_177, 15), Unary::Muli(-3417, 31), Unary::Muli(3, 0)],
            vec![Unary::Muli(1 << 20, 0), Unary::Muli(1 << 12, 1), Unary::Muli(3, 1)],
            // 32 767 · 65 540 is just past 2^31: the bound after the first op picks 64 bits.
            vec![Unary::Muli(1, 0), Unary::Muli(65_540, 0)],
            // and after a shift: 16 384 · 131 080 is just past 2^31.
            vec![Unary::Shr(1), Unary::Muli(131_080, 0)],
        ];
        for chain in chains {
            let fz = FusedW { src: Src::Y0, chain, combine: Combine::WMinusD, len: 1, cycles: 1 };
            for (n, max) in
                [0usize, 1, 9, 15, 16, 17, 25, 31, 33, 1000].into_iter().flat_map(|n| [(n, i32::MAX), (n, 32767)])
            {
                // Traces up to `max` (reached at every 5th value), the others spread below.
                let traces: Vec<i32> =
                    (0..n as i32).map(|i| if i % 5 == 0 { max - i } else { (i * 7919) % (max / 2) }).collect();
                for kernel in LifKernel::available() {
                    let mut out = vec![-1; 3];
                    fz.terms_into(&traces, &mut out, kernel, max);
                    assert_eq!(out.len(), n.next_multiple_of(16), "{n} on {kernel:?}");
                    for (i, &v) in out.iter().enumerate() {
                        let want = fz.term(traces.get(i).copied().unwrap_or(0));
                        assert_eq!(v, want, "{:?}: value {i} of {n} on {kernel:?}", fz.chain);
                    }
                }
            }
        }
    }
}
