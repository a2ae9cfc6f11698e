//! Lowering of checked learning rules (expression trees over local quantities, in natural units)
//! to learning-engine code: fixed-point typing with range analysis, constant multiplications as
//! `muli`, power-of-two rescalings as shifts, and the final conversion into accumulator units
//! with the rule's rounding (stochastic by default for plastic weights).
//!
//! Every value the generated code holds is an integer `n` standing for the real number `n · s`
//! (`s` the value's scale) with a known real range. Scales are chosen so that every intermediate
//! fits in 31 bits with one bit of headroom; when a range would not fit at the finest useful
//! scale, the scale is made coarser (losing precision, never wrapping).

use crate::front::model::{NormKind, RBinOp, RExpr, Rule, UpdateOp};
use nm_isa::fixed_point::{trace_max, Rounding};
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Reduce, Reg, Scope, Src, TraceSpec, NUM_REGS};
use nm_isa::ChipSpec;

/// Why a rule cannot be lowered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleLowerError {
    #[error("rule `{rule}`: expression needs more than {NUM_REGS} registers; split it with intermediate updates")]
    TooManyRegisters { rule: String },
    #[error("rule `{rule}`: division by a quantity whose range [{lo}, {hi}] contains zero")]
    DivisionByZeroRange { rule: String, lo: f64, hi: f64 },
    #[error("rule `{rule}`: the value {value} is not a finite number")]
    NotFinite { rule: String, value: f64 },
    #[error("rule `{rule}`: trace `{trace}` impulse {impulse} cannot be represented in the trace format")]
    TraceImpulse { rule: String, trace: String, impulse: f64 },
}

/// The real value of one raw LSB of each quantity a rule may load, fixed by quantization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RuleScales {
    /// Weight units per accumulator LSB.
    pub w: f64,
    /// Real value of one raw LSB of the pre-synaptic payload.
    pub xg: f64,
    /// Real value of one raw LSB of the post neuron's output, voltage and current.
    pub yg: f64,
    pub yv: f64,
    pub yu: f64,
    /// Real range of the pre-synaptic payload (`xg`) and of the post neuron's output (`yg`):
    /// e.g. `[0, 1]` for spikes and stochastic states, a rate population's output range, an
    /// input's values. `None`: the whole payload register. A tight range lets products of
    /// `xg`/`yg` keep their precision instead of being shifted down for values that never occur.
    pub xg_range: Option<(f64, f64)>,
    pub yg_range: Option<(f64, f64)>,
    /// Weight bounds in weight units (used as the range of `w`).
    pub w_range: (f64, f64),
}

/// Trace scales chosen for a rule: real trace units per raw LSB of x0, x1, y0, y1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceScales {
    pub x: [f64; 2],
    pub y: [f64; 2],
}

/// A value held in a register: `n` in `r` stands for `n · s`, within `[lo, hi]`.
#[derive(Clone, Copy, Debug)]
struct RegVal {
    r: Reg,
    s: f64,
    lo: f64,
    hi: f64,
}

/// A value during code generation.
#[derive(Clone, Copy, Debug)]
enum Val {
    Const(f64),
    Reg(RegVal),
}

/// Largest magnitude an intermediate may hold (one bit of headroom below `i32::MAX`).
const HEADROOM: f64 = (1u64 << 30) as f64;

/// The finest power-of-two scale at which `maxabs` still fits under [`HEADROOM`].
fn target_scale(maxabs: f64) -> f64 {
    if maxabs <= 0.0 || !maxabs.is_finite() {
        return 1.0;
    }
    2f64.powi((maxabs / HEADROOM).log2().ceil() as i32)
}

/// The scale at which a sum with the constant `c` is held: `st`, refined by exact power-of-two
/// steps (left shifts of the register) while `c` is not a whole number of LSBs and the sum (up
/// to `m`) still fits, so that e.g. `0.25 - post.spike` keeps its 0.25 instead of rounding it
/// to 0 at the integer scale of a spike.
fn const_scale(st: f64, c: f64, m: f64) -> f64 {
    let mut s = st;
    for _ in 0..40 {
        if (c / s).fract() == 0.0 || m / (s / 2.0) > HEADROOM {
            break;
        }
        s /= 2.0;
    }
    s
}

fn maxabs(lo: f64, hi: f64) -> f64 {
    lo.abs().max(hi.abs())
}

struct Gen<'a> {
    rule: &'a str,
    code: Vec<Instr>,
    free: Vec<Reg>,
    spec: &'a ChipSpec,
    scales: RuleScales,
    traces: TraceScales,
    signal_bits: &'a [u8],
}

impl<'a> Gen<'a> {
    fn alloc(&mut self) -> Result<Reg, RuleLowerError> {
        self.free.pop().ok_or_else(|| RuleLowerError::TooManyRegisters { rule: self.rule.to_string() })
    }

    fn source(&self, src: Src) -> (f64, f64, f64) {
        let f = &self.spec.formats;
        let pay = (1i64 << (f.payload_bits - 1)) as f64;
        let volt = (1i64 << (f.voltage_bits - 1)) as f64;
        let cur = (1i64 << (f.current_bits - 1)) as f64;
        let tmax = f64::from(trace_max(f.trace_int_bits, f.trace_frac_bits));
        let accf = nm_isa::fixed_point::accumulator_frac_bits(f.accumulator_bits, f.weight_bits);
        let (wlo, whi) = self.scales.w_range;
        match src {
            Src::W => (self.scales.w, wlo, whi),
            Src::Wr => (self.scales.w * 2f64.powi(accf as i32), wlo, whi),
            Src::X0 => (self.traces.x[0], 0.0, tmax * self.traces.x[0]),
            Src::X1 => (self.traces.x[1], 0.0, tmax * self.traces.x[1]),
            Src::Y0 => (self.traces.y[0], 0.0, tmax * self.traces.y[0]),
            Src::Y1 => (self.traces.y[1], 0.0, tmax * self.traces.y[1]),
            Src::Xs | Src::Ys | Src::LastPre => (1.0, 0.0, 1.0),
            Src::Xg => {
                let (lo, hi) = self.scales.xg_range.unwrap_or((-pay * self.scales.xg, pay * self.scales.xg));
                (self.scales.xg, lo, hi)
            }
            Src::Yg => {
                let (lo, hi) = self.scales.yg_range.unwrap_or((-pay * self.scales.yg, pay * self.scales.yg));
                (self.scales.yg, lo, hi)
            }
            Src::Yv => (self.scales.yv, -volt * self.scales.yv, volt * self.scales.yv),
            Src::Yu => (self.scales.yu, -cur * self.scales.yu, cur * self.scales.yu),
            Src::Tag => {
                let t = (1i64 << f.tag_bits.max(1).saturating_sub(1)) as f64;
                (1.0, -t, t)
            }
            Src::Rand => (1.0 / 65536.0, -1.0, 1.0),
            Src::RandU => (1.0 / 65536.0, 0.0, 1.0),
            Src::Sig(k) => {
                let bits = self.signal_bits.get(usize::from(k)).copied().unwrap_or(16).max(1);
                let m = (1i64 << (bits - 1)) as f64;
                (1.0, -m, m)
            }
        }
    }

    /// Emit `rd ← rs · ratio` (so that the real value is kept when the scale changes by
    /// `1/ratio`), using a shift when `ratio` is a power of two.
    fn scale_reg(&mut self, rd: Reg, rs: Reg, ratio: f64, rounding: Rounding) {
        if ratio == 1.0 {
            if rd != rs {
                self.code.push(Instr::rr(Opcode::Mov, rd, rs));
            }
            return;
        }
        let l = ratio.abs().log2();
        if ratio > 0.0 && l.fract() == 0.0 && l.abs() <= 31.0 {
            let p = l as i32;
            if p > 0 {
                self.code.push(Instr::rrs(Opcode::Shl, rd, rs, p as u8));
            } else {
                let op = if rounding == Rounding::Stochastic { Opcode::Shrr } else { Opcode::Shr };
                self.code.push(Instr::rrs(op, rd, rs, (-p) as u8));
            }
            return;
        }
        // A ratio so small that `imm` at the largest single shift (31) is more than 0.1 % off
        // (or 0: a per-step update of 2e-8 converted into accumulator units is a ratio of
        // ~2^-35): multiply by a 30-bit `imm` with `>> 31` (round to nearest, at a resolution
        // 2^rem times finer than the result's LSB), then shift the remaining `rem` bits, the last
        // shift with the rule's rounding, so that stochastic rounding keeps the mean update.
        // An exact small `imm` (e.g. 6400 >> 31) keeps the one instruction.
        let total = 30.0 - l.ceil();
        let imm31 = (ratio * 2f64.powi(31)).round();
        // (Beyond two more shifts of 31 the result is below 2^-31 LSB for any 31-bit input: the
        // single instruction's 0 is then right.)
        if total > 31.0 && total <= 93.0 && (imm31 == 0.0 || (imm31 / (ratio * 2f64.powi(31)) - 1.0).abs() > 1e-3) {
            let imm = (ratio * 2f64.powi(total as i32)).round() as i32;
            self.code.push(Instr::rris(Opcode::Muli, rd, rs, imm, 31));
            // The shifts before the last round to nearest at a resolution still finer than the
            // last one's input; the last (widest) shift rounds as the rule says.
            let mut rem = total as i32 - 31;
            while rem > 31 {
                let k = (rem - 31).min(31);
                self.code.push(Instr::rrs(Opcode::Shr, rd, rd, k as u8));
                rem -= k;
            }
            let op = if rounding == Rounding::Stochastic { Opcode::Shrr } else { Opcode::Shr };
            self.code.push(Instr::rrs(op, rd, rd, rem as u8));
            return;
        }
        // imm / 2^sh ≈ ratio with |imm| < 2^31.
        let sh = total.clamp(0.0, 31.0) as u8;
        let imm = (ratio * 2f64.powi(i32::from(sh))).round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
        let op = if rounding == Rounding::Stochastic { Opcode::Mulir } else { Opcode::Muli };
        self.code.push(Instr::rris(op, rd, rs, imm, sh));
    }

    /// Materialise `v` in a register at scale `s`.
    fn materialize(&mut self, v: Val, s: f64, rounding: Rounding) -> Result<RegVal, RuleLowerError> {
        match v {
            Val::Const(c) => {
                let r = self.alloc()?;
                let n = (c / s).round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
                self.code.push(Instr::ldi(r, n));
                Ok(RegVal { r, s, lo: c, hi: c })
            }
            Val::Reg(RegVal { r, s: s0, lo, hi }) => {
                self.scale_reg(r, r, s0 / s, rounding);
                Ok(RegVal { r, s, lo, hi })
            }
        }
    }

    fn expr(&mut self, e: &RExpr) -> Result<Val, RuleLowerError> {
        Ok(match e {
            RExpr::Const(c) => {
                if !c.is_finite() {
                    return Err(RuleLowerError::NotFinite { rule: self.rule.into(), value: *c });
                }
                Val::Const(*c)
            }
            RExpr::Load(src) => {
                let (s, lo, hi) = self.source(*src);
                let r = self.alloc()?;
                self.code.push(Instr::ld(r, *src));
                Val::Reg(RegVal { r, s, lo, hi })
            }
            RExpr::Neg(a) => match self.expr(a)? {
                Val::Const(c) => Val::Const(-c),
                Val::Reg(RegVal { r, s, lo, hi }) => {
                    self.code.push(Instr::rr(Opcode::Neg, r, r));
                    Val::Reg(RegVal { r, s, lo: -hi, hi: -lo })
                }
            },
            RExpr::Abs(a) => match self.expr(a)? {
                Val::Const(c) => Val::Const(c.abs()),
                Val::Reg(RegVal { r, s, lo, hi }) => {
                    self.code.push(Instr::rr(Opcode::Abs, r, r));
                    let (l, h) = if lo >= 0.0 {
                        (lo, hi)
                    } else if hi <= 0.0 {
                        (-hi, -lo)
                    } else {
                        (0.0, maxabs(lo, hi))
                    };
                    Val::Reg(RegVal { r, s, lo: l, hi: h })
                }
            },
            RExpr::Min(a, b) | RExpr::Max(a, b) => {
                let is_min = matches!(e, RExpr::Min(..));
                let va = self.expr(a)?;
                let vb = self.expr(b)?;
                self.minmax(va, vb, is_min)?
            }
            RExpr::Bin(op, a, b) => {
                let va = self.expr(a)?;
                let vb = self.expr(b)?;
                match op {
                    RBinOp::Add => self.add(va, vb, false)?,
                    RBinOp::Sub => self.add(va, vb, true)?,
                    RBinOp::Mul => self.mul(va, vb)?,
                    RBinOp::Div => self.div(va, vb)?,
                }
            }
        })
    }

    fn minmax(&mut self, a: Val, b: Val, is_min: bool) -> Result<Val, RuleLowerError> {
        let (RegVal { r, s, lo, hi }, other) = match (a, b) {
            (Val::Const(x), Val::Const(y)) => return Ok(Val::Const(if is_min { x.min(y) } else { x.max(y) })),
            (Val::Reg(ra), other) | (other, Val::Reg(ra)) => (ra, other),
        };
        match other {
            Val::Const(c) => {
                let n = (c / s).round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
                let op = if is_min { Opcode::Mini } else { Opcode::Maxi };
                self.code.push(Instr::rri(op, r, r, n));
                let (l, h) = if is_min { (lo.min(c), hi.min(c)) } else { (lo.max(c), hi.max(c)) };
                Ok(Val::Reg(RegVal { r, s, lo: l, hi: h }))
            }
            Val::Reg(RegVal { r: r2, s: s2, lo: lo2, hi: hi2 }) => {
                let st = s.min(s2).max(target_scale(maxabs(lo, hi).max(maxabs(lo2, hi2))));
                self.scale_reg(r, r, s / st, Rounding::Nearest);
                self.scale_reg(r2, r2, s2 / st, Rounding::Nearest);
                let op = if is_min { Opcode::Min } else { Opcode::Max };
                self.code.push(Instr::rrr(op, r, r, r2));
                self.free.push(r2);
                let (l, h) = if is_min { (lo.min(lo2), hi.min(hi2)) } else { (lo.max(lo2), hi.max(hi2)) };
                Ok(Val::Reg(RegVal { r, s: st, lo: l, hi: h }))
            }
        }
    }

    fn add(&mut self, a: Val, b: Val, sub: bool) -> Result<Val, RuleLowerError> {
        match (a, b) {
            (Val::Const(x), Val::Const(y)) => Ok(Val::Const(if sub { x - y } else { x + y })),
            (Val::Reg(RegVal { r, s, lo, hi }), Val::Const(c)) => {
                let c = if sub { -c } else { c };
                let (l, h) = (lo + c, hi + c);
                let st = const_scale(s.max(target_scale(maxabs(l, h))), c, maxabs(l, h));
                self.scale_reg(r, r, s / st, Rounding::Nearest);
                let n = (c / st).round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
                self.code.push(Instr::rri(Opcode::Addi, r, r, n));
                Ok(Val::Reg(RegVal { r, s: st, lo: l, hi: h }))
            }
            (Val::Const(c), Val::Reg(RegVal { r, s, lo, hi })) => {
                let (l, h) = if sub { (c - hi, c - lo) } else { (c + lo, c + hi) };
                let st = const_scale(s.max(target_scale(maxabs(l, h))), c, maxabs(l, h));
                self.scale_reg(r, r, s / st, Rounding::Nearest);
                if sub {
                    self.code.push(Instr::rr(Opcode::Neg, r, r));
                }
                let n = (c / st).round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
                self.code.push(Instr::rri(Opcode::Addi, r, r, n));
                Ok(Val::Reg(RegVal { r, s: st, lo: l, hi: h }))
            }
            (Val::Reg(RegVal { r, s, lo, hi }), Val::Reg(RegVal { r: r2, s: s2, lo: lo2, hi: hi2 })) => {
                let (l, h) = if sub { (lo - hi2, hi - lo2) } else { (lo + lo2, hi + hi2) };
                let st = s.min(s2).max(target_scale(maxabs(l, h)));
                self.scale_reg(r, r, s / st, Rounding::Nearest);
                self.scale_reg(r2, r2, s2 / st, Rounding::Nearest);
                let op = if sub { Opcode::Sub } else { Opcode::Add };
                self.code.push(Instr::rrr(op, r, r, r2));
                self.free.push(r2);
                Ok(Val::Reg(RegVal { r, s: st, lo: l, hi: h }))
            }
        }
    }

    fn mul(&mut self, a: Val, b: Val) -> Result<Val, RuleLowerError> {
        match (a, b) {
            (Val::Const(x), Val::Const(y)) => Ok(Val::Const(x * y)),
            (Val::Reg(RegVal { r, s, lo, hi }), Val::Const(c)) | (Val::Const(c), Val::Reg(RegVal { r, s, lo, hi })) => {
                let (l, h) = if c >= 0.0 { (lo * c, hi * c) } else { (hi * c, lo * c) };
                if c == 0.0 {
                    self.free.push(r);
                    return Ok(Val::Const(0.0));
                }
                let st = target_scale(maxabs(l, h));
                // n_out = n · c · s / st.
                self.scale_reg(r, r, c * s / st, Rounding::Nearest);
                Ok(Val::Reg(RegVal { r, s: st, lo: l, hi: h }))
            }
            (Val::Reg(RegVal { r, s, lo, hi }), Val::Reg(RegVal { r: r2, s: s2, lo: lo2, hi: hi2 })) => {
                let p = [lo * lo2, lo * hi2, hi * lo2, hi * hi2];
                let l = p.iter().copied().fold(f64::INFINITY, f64::min);
                let h = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let raw = s * s2;
                let sh = ((maxabs(l, h) / (raw * HEADROOM)).log2().ceil()).clamp(0.0, 31.0) as u8;
                self.code.push(Instr::rrrs(Opcode::Mul, r, r, r2, sh));
                self.free.push(r2);
                Ok(Val::Reg(RegVal { r, s: raw * 2f64.powi(i32::from(sh)), lo: l, hi: h }))
            }
        }
    }

    fn div(&mut self, a: Val, b: Val) -> Result<Val, RuleLowerError> {
        match b {
            Val::Const(c) => {
                if c == 0.0 {
                    return Err(RuleLowerError::DivisionByZeroRange { rule: self.rule.into(), lo: 0.0, hi: 0.0 });
                }
                self.mul(a, Val::Const(1.0 / c))
            }
            Val::Reg(RegVal { r: r2, s: s2, lo: lo2, hi: hi2 }) => {
                if lo2 <= 0.0 && hi2 >= 0.0 {
                    return Err(RuleLowerError::DivisionByZeroRange { rule: self.rule.into(), lo: lo2, hi: hi2 });
                }
                let RegVal { r, s, lo, hi } = match a {
                    Val::Const(c) => self.materialize(Val::Const(c), target_scale(c.abs()), Rounding::Nearest)?,
                    Val::Reg(v) => v,
                };
                let minb = lo2.abs().min(hi2.abs());
                let m = maxabs(lo, hi) / minb;
                let sign_lo = [lo / lo2, lo / hi2, hi / lo2, hi / hi2];
                let l = sign_lo.iter().copied().fold(f64::INFINITY, f64::min);
                let h = sign_lo.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                // n_out = (n_a << sh) / n_b stands for n_out · s / (s2 · 2^sh).
                let sh = ((HEADROOM * s / (m * s2)).log2().floor()).clamp(0.0, 31.0) as u8;
                self.code.push(Instr::rrrs(Opcode::Div, r, r, r2, sh));
                self.free.push(r2);
                Ok(Val::Reg(RegVal { r, s: s / (s2 * 2f64.powi(i32::from(sh))), lo: l, hi: h }))
            }
        }
    }
}

/// Choose the trace scale (real units per raw LSB) for a trace with the given impulse: the finest
/// power of two that leaves 8 impulses of headroom in the trace format.
pub fn trace_scale(impulse: f64, spec: &ChipSpec) -> f64 {
    let tmax = f64::from(trace_max(spec.formats.trace_int_bits, spec.formats.trace_frac_bits));
    let imp = impulse.abs().max(f64::MIN_POSITIVE);
    let k = (tmax / (8.0 * imp)).log2().floor().clamp(-16.0, 24.0);
    2f64.powi(-(k as i32))
}

/// Lower a checked rule for one projection whose weights have the given scales.
/// `signal_bits[k]` is the width of broadcast signal `k`.
pub fn lower_rule(
    rule: &Rule,
    scales: &RuleScales,
    spec: &ChipSpec,
    signal_bits: &[u8],
) -> Result<(LearnRule, TraceScales), RuleLowerError> {
    let mut ts = TraceScales { x: [1.0; 2], y: [1.0; 2] };
    let mut x = [None, None];
    let mut y = [None, None];
    let tmax = trace_max(spec.formats.trace_int_bits, spec.formats.trace_frac_bits);
    for (side, traces, out, sc) in [(0, &rule.pre_traces, &mut x, &mut ts.x), (1, &rule.post_traces, &mut y, &mut ts.y)]
    {
        let _ = side;
        for (i, t) in traces.iter().take(2).enumerate() {
            let s = trace_scale(t.impulse, spec);
            let imp = (t.impulse / s).round();
            if !(1.0..=f64::from(tmax)).contains(&imp) {
                return Err(RuleLowerError::TraceImpulse {
                    rule: rule.name.clone(),
                    trace: t.name.clone(),
                    impulse: t.impulse,
                });
            }
            sc[i] = s;
            out[i] = Some(TraceSpec { decay: t.decay_code, impulse: imp as i32 });
        }
    }
    let mut handlers = Vec::new();
    for h in &rule.handlers {
        let mut g = Gen {
            rule: &rule.name,
            code: Vec::new(),
            free: (0..NUM_REGS as u8).rev().collect(),
            spec,
            scales: *scales,
            traces: ts,
            signal_bits,
        };
        for u in &h.updates {
            lower_update(&mut g, u.dst, u.op, &u.value, rule.rounding, rule.tag_bounds)?;
            debug_assert_eq!(g.free.len(), NUM_REGS);
        }
        handlers.push(Handler { trigger: h.trigger, scope: Scope::Synapse, code: g.code });
    }
    if let Some(n) = &rule.normalize {
        let target = (n.value / scales.w).round().clamp(1.0, f64::from(i32::MAX)) as i32;
        let mut code = Vec::new();
        match n.kind {
            NormKind::Max => code.push(Instr::red(0, Reduce::Max)),
            NormKind::Sum => code.push(Instr::red(0, Reduce::Sum)),
            NormKind::L2 => {
                code.push(Instr::red(0, Reduce::SumSq));
                code.push(Instr::rrs(Opcode::Sqrt, 0, 0, 0));
            }
        }
        // factor = target / reduction in Q16; acc ← acc · factor >> 16.
        code.push(Instr::ldi(1, target));
        code.push(Instr::rrrs(Opcode::Div, 1, 1, 0, 16));
        code.push(if rule.rounding == Rounding::Stochastic { Instr::wscaler(1, 16) } else { Instr::wscale(1, 16) });
        handlers.push(Handler { trigger: n.trigger, scope: Scope::PostNeuron, code });
    }
    let lo = (rule.bounds.0 / scales.w).round();
    let hi = (rule.bounds.1 / scales.w).round();
    let acc_max = nm_isa::fixed_point::smax(spec.formats.accumulator_bits) as f64;
    let learn = LearnRule {
        name: rule.name.clone(),
        x,
        y,
        handlers,
        w_min: lo.clamp(-acc_max, acc_max) as i32,
        w_max: hi.clamp(-acc_max, acc_max) as i32,
        readout: rule.rounding,
    };
    Ok((learn, ts))
}

fn lower_update(
    g: &mut Gen<'_>,
    dst: Dst,
    op: UpdateOp,
    value: &RExpr,
    rounding: Rounding,
    tag_bounds: Option<(f64, f64)>,
) -> Result<(), RuleLowerError> {
    // Scale of the destination: accumulator units for w, raw integers for the tag.
    let sd = match dst {
        Dst::W => g.scales.w,
        Dst::Tag => 1.0,
    };
    let cur_src = match dst {
        Dst::W => Src::W,
        Dst::Tag => Src::Tag,
    };
    let v = match op {
        UpdateOp::Mul => {
            let (s, lo, hi) = g.source(cur_src);
            let r = g.alloc()?;
            g.code.push(Instr::ld(r, cur_src));
            let cur = Val::Reg(RegVal { r, s, lo, hi });
            let e = g.expr(value)?;
            g.mul(cur, e)?
        }
        _ => g.expr(value)?,
    };
    let v = g.materialize(v, sd, rounding)?;
    let r = v.r;
    // The value to store ends in `out`; a tag is clamped to its declared bounds first.
    let clamp_tag = |g: &mut Gen<'_>, out: Reg| {
        if let (Dst::Tag, Some((lo, hi))) = (dst, tag_bounds) {
            g.code.push(Instr::rri(Opcode::Maxi, out, out, lo.round() as i32));
            g.code.push(Instr::rri(Opcode::Mini, out, out, hi.round() as i32));
        }
    };
    match op {
        UpdateOp::Add | UpdateOp::Sub => {
            let rw = g.alloc()?;
            g.code.push(Instr::ld(rw, cur_src));
            let o = if op == UpdateOp::Add { Opcode::Add } else { Opcode::Sub };
            g.code.push(Instr::rrr(o, rw, rw, r));
            clamp_tag(g, rw);
            g.code.push(Instr::st(dst, rw));
            g.free.push(rw);
        }
        UpdateOp::Set | UpdateOp::Mul => {
            clamp_tag(g, r);
            g.code.push(Instr::st(dst, r));
        }
    }
    g.free.push(r);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::model::{Handler as MHandler, Trace, Update};
    use nm_isa::learn::{exec, LearnCtx, Trigger};
    use nm_isa::rng::HwRng;

    /// One synapse's view, with the raw values of every source.
    struct Ctx {
        w: i32,
        raw: std::collections::HashMap<u8, i32>,
        rand: i32,
        rng: HwRng,
        acc_bits: u8,
    }

    impl LearnCtx for Ctx {
        fn load(&mut self, src: Src) -> i32 {
            match src {
                Src::W => self.w,
                Src::Rand | Src::RandU => self.rand,
                s => self.raw.get(&s.sel()).copied().unwrap_or(0),
            }
        }
        fn store(&mut self, dst: Dst, value: i32) {
            if dst == Dst::W {
                self.w = nm_isa::learn::apply_weight_write(self.w, value, 4096, self.acc_bits);
            }
        }
        fn reduce(&mut self, _: Reduce) -> (i64, u32) {
            (i64::from(self.w), 1)
        }
        fn scale_weights(&mut self, factor: i32, sh: u8, _: Rounding) -> u32 {
            self.w = ((i64::from(self.w) * i64::from(factor)) >> sh) as i32;
            1
        }
        fn rng(&mut self) -> &mut HwRng {
            &mut self.rng
        }
    }

    fn ld(s: Src) -> Box<RExpr> {
        Box::new(RExpr::Load(s))
    }
    fn c(x: f64) -> Box<RExpr> {
        Box::new(RExpr::Const(x))
    }
    fn bin(op: RBinOp, a: Box<RExpr>, b: Box<RExpr>) -> Box<RExpr> {
        Box::new(RExpr::Bin(op, a, b))
    }

    fn rule(op: UpdateOp, value: RExpr) -> Rule {
        Rule {
            name: "t".into(),
            span: crate::front::span::Span::default(),
            tag_bounds: None,
            source: "t".into(),
            params: vec![],
            pre_traces: vec![Trace { name: "x".into(), tau: Some(0.02), decay_code: 200, impulse: 1.0 }],
            post_traces: vec![Trace { name: "y".into(), tau: Some(0.02), decay_code: 200, impulse: 0.5 }],
            handlers: vec![MHandler { trigger: Trigger::Post, updates: vec![Update { dst: Dst::W, op, value }] }],
            bounds: (-1.0, 1.0),
            normalize: None,
            rounding: Rounding::Nearest,
        }
    }

    /// Every rule of learning-rules.md lowered to integer code agrees with float evaluation of
    /// the same update on the same raw inputs within one accumulator LSB plus 0.2 % of the update.
    #[test]
    fn lowered_updates_match_float_semantics() {
        use RBinOp::*;
        let spec = ChipSpec::default_profile();
        let scales = RuleScales {
            w: 1.0 / (255.0 * 128.0),
            xg: 1.0 / 256.0,
            yg: 1.0 / 256.0,
            yv: 1e-3,
            yu: 1e-3,
            w_range: (-1.0, 1.0),
            xg_range: None,
            yg_range: None,
        };
        let hebb = *bin(Mul, c(0.01), bin(Mul, ld(Src::Xg), ld(Src::Yg)));
        let instar = *bin(Mul, c(0.01), bin(Mul, ld(Src::Yg), bin(Sub, ld(Src::Xg), ld(Src::W))));
        let oja = *bin(Mul, c(0.005), bin(Mul, ld(Src::Yg), bin(Sub, ld(Src::Xg), bin(Mul, ld(Src::Yg), ld(Src::W)))));
        let stdp = *bin(Mul, c(0.01), ld(Src::X0));
        let mult = *bin(Add, c(1.0), bin(Mul, c(0.01), bin(Add, ld(Src::LastPre), ld(Src::Rand))));
        let clip = RExpr::Min(bin(Mul, c(0.3), ld(Src::Y0)), c(0.05));
        let divide = *bin(Div, ld(Src::Xg), bin(Add, c(2.0), ld(Src::Ys)));
        // A constant that is not a whole number of the spike's integer LSB (paper 4's threshold).
        let fraction = *bin(Mul, c(0.01), bin(Sub, c(0.25), ld(Src::Ys)));
        let cases = [
            (UpdateOp::Add, hebb),
            (UpdateOp::Add, instar),
            (UpdateOp::Add, oja),
            (UpdateOp::Sub, stdp),
            (UpdateOp::Mul, mult),
            (UpdateOp::Add, clip),
            (UpdateOp::Set, divide),
            (UpdateOp::Add, fraction),
        ];
        let mut rng = HwRng::new(42, 0);
        for (k, (op, e)) in cases.into_iter().enumerate() {
            let r = rule(op, e.clone());
            let (lr, ts) = lower_rule(&r, &scales, &spec, &[]).expect("lowers");
            lr.validate().expect("valid rule");
            let code = &lr.handlers[0].code;
            for _ in 0..500 {
                let w = (rng.next_u32() % 60000) as i32 - 30000;
                let w = w.clamp(-(255 * 128), 255 * 128) / 2;
                let mut raw = std::collections::HashMap::new();
                raw.insert(Src::Xg.sel(), (rng.next_u32() % 512) as i32 - 256);
                raw.insert(Src::Yg.sel(), (rng.next_u32() % 512) as i32 - 256);
                raw.insert(Src::X0.sel(), (rng.next_u32() % 2048) as i32);
                raw.insert(Src::Y0.sel(), (rng.next_u32() % 2048) as i32);
                raw.insert(Src::LastPre.sel(), (rng.next_u32() % 2) as i32);
                raw.insert(Src::Ys.sel(), (rng.next_u32() % 2) as i32);
                let rand = rng.next_signed_q16();
                let mut ctx = Ctx { w, raw: raw.clone(), rand, rng: HwRng::new(1, 1), acc_bits: 16 };
                exec(code, &mut ctx);
                let real = |s: Src| -> f64 {
                    let g = |x: Src| f64::from(raw.get(&x.sel()).copied().unwrap_or(0));
                    match s {
                        Src::W => f64::from(w) * scales.w,
                        Src::Xg => g(s) * scales.xg,
                        Src::Yg => g(s) * scales.yg,
                        Src::X0 => g(s) * ts.x[0],
                        Src::Y0 => g(s) * ts.y[0],
                        Src::Rand => f64::from(rand) / 65536.0,
                        other => g(other),
                    }
                };
                let v = r.handlers[0].updates[0].value.eval_f64(&real);
                let w0 = f64::from(w) * scales.w;
                let expect = match op {
                    UpdateOp::Add => w0 + v,
                    UpdateOp::Sub => w0 - v,
                    UpdateOp::Mul => w0 * v,
                    UpdateOp::Set => v,
                };
                let got = f64::from(ctx.w) * scales.w;
                let tol = 1.5 * scales.w + 2e-3 * (expect - w0).abs();
                assert!((got - expect).abs() <= tol, "case {k}: got {got}, expected {expect} (w0 {w0}), code {code:?}");
            }
        }
    }

    /// A product of 0/1 states (`post.value * pre.value` of stochastic units, payload 1 = raw 1)
    /// with a small rate keeps the rate's precision when the ranges say the states are 0 or 1
    /// (with the whole payload register as the range, `contrastive.nm` compiled to zero updates).
    #[test]
    fn products_of_binary_states_keep_their_precision() {
        use RBinOp::*;
        let spec = ChipSpec::default_profile();
        // 1.0 = 4096 accumulator units: eta * g = 2.67e-4 is 1.09 units per step.
        let scales = RuleScales {
            w: 1.0 / 4096.0,
            xg: 1.0,
            yg: 1.0,
            yv: 1.0,
            yu: 1.0,
            w_range: (-2.0, 2.0),
            xg_range: Some((0.0, 1.0)),
            yg_range: Some((0.0, 1.0)),
        };
        let e = *bin(Mul, c(8e-5 / 0.3), bin(Mul, ld(Src::Yg), ld(Src::Xg)));
        let mut r = rule(UpdateOp::Add, e);
        r.rounding = nm_isa::fixed_point::Rounding::Stochastic;
        let mean_delta = |scales: &RuleScales| {
            let (lr, _) = lower_rule(&r, scales, &spec, &[]).expect("lowers");
            let code = &lr.handlers[0].code;
            let mut raw = std::collections::HashMap::new();
            raw.insert(Src::Xg.sel(), 1);
            raw.insert(Src::Yg.sel(), 1);
            let mut ctx = Ctx { w: 0, raw, rand: 0, rng: HwRng::new(3, 3), acc_bits: 16 };
            let n = 20_000;
            for _ in 0..n {
                exec(code, &mut ctx);
            }
            f64::from(ctx.w) / f64::from(n)
        };
        let want = 8e-5 / 0.3 * 4096.0;
        let got = mean_delta(&scales);
        assert!((got - want).abs() < 0.03 * want, "mean update {got} accumulator units, want {want}");
    }

    /// An update far below one accumulator LSB (paper 3's long run: `eta / T = 2e-8` per step,
    /// written as two factors of 1e-4 and 2e-4, against a 24-bit accumulator's 4.8e-7) is
    /// converted with a shift of more than 31 bits: it must not round to a zero multiplier, and
    /// stochastic rounding keeps its mean.
    #[test]
    fn tiny_updates_keep_their_mean_under_stochastic_rounding() {
        use RBinOp::*;
        let spec = ChipSpec::default_profile();
        // 8-bit weights in [-1.99, 1.99] (1.0 = 128) with 14 accumulator bits below the LSB.
        let scales = RuleScales {
            w: 1.0 / 128.0 / 16384.0,
            xg: 1.0,
            yg: 1.0,
            yv: 1.0,
            yu: 1.0,
            w_range: (-1.99, 1.99),
            xg_range: Some((0.0, 1.0)),
            yg_range: Some((0.0, 1.0)),
        };
        // 1e-4 * (2e-4 * (0.3 - y x)): +6e-9 per step when not coincident, -1.4e-8 when coincident.
        let inner = bin(Sub, c(0.3), bin(Mul, ld(Src::Yg), ld(Src::Xg)));
        let e = *bin(Mul, c(1e-4), bin(Mul, c(2e-4), inner));
        let mut r = rule(UpdateOp::Add, e);
        r.rounding = nm_isa::fixed_point::Rounding::Stochastic;
        let (lr, _) = lower_rule(&r, &scales, &spec, &[]).expect("lowers");
        let code = &lr.handlers[0].code;
        assert!(!code.iter().any(|i| i.imm == 0 && matches!(i.op, Opcode::Muli | Opcode::Mulir)), "{code:?}");
        for (state, want) in [(0, 0.3 * 2e-8), (1, -0.7 * 2e-8)] {
            let mut raw = std::collections::HashMap::new();
            raw.insert(Src::Xg.sel(), state);
            raw.insert(Src::Yg.sel(), 1);
            let mut ctx = Ctx { w: 1 << 20, raw, rand: 0, rng: HwRng::new(5, 5), acc_bits: 24 };
            let n = 400_000;
            for _ in 0..n {
                exec(code, &mut ctx);
            }
            let got = f64::from(ctx.w - (1 << 20)) * scales.w / f64::from(n);
            assert!((got - want).abs() < 0.05 * want.abs(), "state {state}: mean update {got}, want {want}; {code:?}");
        }
    }

    #[test]
    fn normalisation_and_traces_are_lowered() {
        let spec = ChipSpec::default_profile();
        let scales = RuleScales {
            w: 1.0 / 128.0,
            xg: 1.0,
            yg: 1.0,
            yv: 1.0,
            yu: 1.0,
            w_range: (0.0, 255.0),
            xg_range: None,
            yg_range: None,
        };
        let mut r = rule(UpdateOp::Add, RExpr::Const(0.0));
        r.bounds = (0.0, 255.0);
        r.normalize =
            Some(crate::front::model::Normalize { kind: NormKind::Max, value: 200.0, trigger: Trigger::Post });
        let (lr, ts) = lower_rule(&r, &scales, &spec, &[]).expect("lowers");
        lr.validate().expect("valid");
        assert_eq!(lr.handlers.len(), 2);
        assert_eq!(lr.handlers[1].scope, Scope::PostNeuron);
        // Impulse 1.0 at the chosen scale fits 8 times in the trace format.
        let imp = lr.x[0].expect("x0").impulse;
        assert!(f64::from(imp) * ts.x[0] == 1.0 && imp * 8 <= 32767, "{imp} {ts:?}");
        assert_eq!(lr.w_max, 255 * 128);
    }
}
