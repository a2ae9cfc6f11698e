//! The learning engine: its instruction set, defined in one table ([`crate::for_each_op!`]), and the
//! reference semantics of every op ([`exec`]), which the emulator runs and the tests pin down.
//!
//! A learning program is straight-line code (no branches: bounded, statically known cost) run by
//! a core's plasticity processor on events: per synapse at a pre-synaptic spike, at a
//! post-synaptic spike, every step or at epoch ends; or once per post-neuron (reductions and
//! rescaling over a neuron's incoming weights). It has eight 32-bit signed registers `r0..r7`,
//! reads local quantities with `ld` (each in its native register format, see [`Src`]) and writes
//! the weight accumulator or the tag with `st`. All arithmetic saturates to 32 bits.
//!
//! Instruction word (64 bits, little-endian bit numbering, see `docs/isa.md`):
//! `op:8 | rd:3 | ra:3 | rb:3 | sh:5 | sel:6 | pad:4 | imm:32`. Fields an op does not use are zero;
//! the decoder refuses anything else, so decoding and encoding are exact inverses.

use crate::fixed_point::{shift_round, Rounding};
use crate::rng::HwRng;
use serde::{Deserialize, Serialize};

/// The op table. Each row: variant, mnemonic, opcode, operand signature, cycles, doc line.
/// Every consumer (encoder, decoder, disassembler, emulator dispatch, `docs/isa.md`) is derived
/// from it.
#[macro_export]
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            Nop    "nop"    0x00 None      1 "Do nothing.";
            Ld     "ld"     0x01 RdSel     1 "rd ← the local quantity `sel` (a `Src`), in its native format.";
            Ldi    "ldi"    0x02 RdImm     1 "rd ← imm.";
            St     "st"     0x03 SelRa     2 "Write ra to the destination `sel` (a `Dst`); a weight write goes through the synapse's learning-rate gain and saturates to the accumulator.";
            Mov    "mov"    0x04 RdRa      1 "rd ← ra.";
            Add    "add"    0x05 RdRaRb    1 "rd ← sat(ra + rb).";
            Sub    "sub"    0x06 RdRaRb    1 "rd ← sat(ra − rb).";
            Addi   "addi"   0x07 RdRaImm   1 "rd ← sat(ra + imm).";
            Mul    "mul"    0x08 RdRaRbSh  2 "rd ← sat(round_nearest((ra · rb) >> sh)).";
            Mulr   "mulr"   0x09 RdRaRbSh  3 "rd ← sat(round_stochastic((ra · rb) >> sh)), drawing the engine's PRNG.";
            Muli   "muli"   0x0a RdRaImmSh 2 "rd ← sat(round_nearest((ra · imm) >> sh)).";
            Mulir  "mulir"  0x0b RdRaImmSh 3 "rd ← sat(round_stochastic((ra · imm) >> sh)), drawing the engine's PRNG.";
            Shl    "shl"    0x0c RdRaSh    1 "rd ← sat(ra << sh).";
            Shr    "shr"    0x0d RdRaSh    1 "rd ← round_nearest(ra >> sh).";
            Shrr   "shrr"   0x0e RdRaSh    2 "rd ← round_stochastic(ra >> sh), drawing the engine's PRNG.";
            Min    "min"    0x0f RdRaRb    1 "rd ← min(ra, rb).";
            Max    "max"    0x10 RdRaRb    1 "rd ← max(ra, rb).";
            Mini   "mini"   0x11 RdRaImm   1 "rd ← min(ra, imm).";
            Maxi   "maxi"   0x12 RdRaImm   1 "rd ← max(ra, imm).";
            Neg    "neg"    0x13 RdRa      1 "rd ← sat(−ra).";
            Abs    "abs"    0x14 RdRa      1 "rd ← sat(|ra|).";
            Sel    "sel"    0x15 RdRaRb    1 "rd ← ra if rd ≠ 0, else rb.";
            Div    "div"    0x16 RdRaRbSh  16 "rd ← sat((ra << sh) / rb), truncating toward zero; rb = 0 gives the saturated value of ra's sign (0 for ra = 0).";
            Sqrt   "sqrt"   0x17 RdRaSh    12 "rd ← floor(sqrt(max(ra, 0) << sh)).";
            Red    "red"    0x18 RdSel     8 "Per-post scope: rd ← reduction `sel` (a `Reduce`) over the post neuron's incoming accumulators in this rule's synapse group (saturated); costs 8 + 1 per synapse.";
            Wscale "wscale" 0x19 RaSh      8 "Per-post scope: every incoming accumulator ← sat(round_nearest((acc · ra) >> sh)); costs 8 + 1 per synapse.";
            Wscaler "wscaler" 0x1a RaSh    8 "Per-post scope: every incoming accumulator ← sat(round_stochastic((acc · ra) >> sh)), one PRNG draw per synapse; costs 8 + 1 per synapse.";
        }
    };
}

/// Which fields an op uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operands {
    None,
    RdSel,
    RdImm,
    SelRa,
    RdRa,
    RdRaRb,
    RdRaImm,
    RdRaRbSh,
    RdRaImmSh,
    RdRaSh,
    RaSh,
}

impl Operands {
    pub fn uses_rd(self) -> bool {
        !matches!(self, Operands::None | Operands::SelRa | Operands::RaSh)
    }
    pub fn uses_ra(self) -> bool {
        !matches!(self, Operands::None | Operands::RdSel | Operands::RdImm)
    }
    pub fn uses_rb(self) -> bool {
        matches!(self, Operands::RdRaRb | Operands::RdRaRbSh)
    }
    pub fn uses_sh(self) -> bool {
        matches!(self, Operands::RdRaRbSh | Operands::RdRaImmSh | Operands::RdRaSh | Operands::RaSh)
    }
    pub fn uses_sel(self) -> bool {
        matches!(self, Operands::RdSel | Operands::SelRa)
    }
    pub fn uses_imm(self) -> bool {
        matches!(self, Operands::RdImm | Operands::RdRaImm | Operands::RdRaImmSh)
    }
}

macro_rules! define_opcode {
    ($($variant:ident $mnem:literal $code:literal $ops:ident $cycles:literal $doc:literal;)*) => {
        /// A learning-engine opcode.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Opcode {
            $(#[doc = $doc] $variant,)*
        }

        impl Opcode {
            /// Every opcode, in table order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant,)*];

            pub fn mnemonic(self) -> &'static str {
                match self { $(Opcode::$variant => $mnem,)* }
            }
            pub fn code(self) -> u8 {
                match self { $(Opcode::$variant => $code,)* }
            }
            pub fn from_code(code: u8) -> Option<Opcode> {
                match code { $($code => Some(Opcode::$variant),)* _ => None }
            }
            pub fn from_mnemonic(m: &str) -> Option<Opcode> {
                match m { $($mnem => Some(Opcode::$variant),)* _ => None }
            }
            pub fn operands(self) -> Operands {
                match self { $(Opcode::$variant => Operands::$ops,)* }
            }
            /// Base cycle cost of one execution (per-synapse ops of `red`/`wscale` come on top).
            pub fn cycles(self) -> u32 {
                match self { $(Opcode::$variant => $cycles,)* }
            }
            pub fn doc(self) -> &'static str {
                match self { $(Opcode::$variant => $doc,)* }
            }
        }
    };
}
for_each_op!(define_opcode);

/// Local quantities `ld` can read, each in its native format. `sel` values 16..=23 are the
/// broadcast signals 0..=7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Src {
    /// The synapse's learning accumulator (raw, `accumulator_bits` signed).
    W,
    /// The synapse's weight readout (sign + `weight_bits`).
    Wr,
    /// Pre-synaptic traces 0 and 1 (raw trace format).
    X0,
    X1,
    /// Post-synaptic traces 0 and 1 (raw trace format).
    Y0,
    Y1,
    /// 1 if the pre-synaptic neuron spiked this step (its packet arrived), else 0.
    Xs,
    /// 1 if the post-synaptic neuron spiked this step, else 0.
    Ys,
    /// Payload of the pre-synaptic packet of this step (graded value or state change), else 0.
    Xg,
    /// The post neuron's output this step: graded value, stochastic state `z`, or spike (0/1).
    Yg,
    /// The post neuron's membrane voltage (raw).
    Yv,
    /// The post neuron's synaptic current (raw).
    Yu,
    /// The synapse's tag (raw, `tag_bits` signed).
    Tag,
    /// 1 if this synapse delivered the last pre-synaptic packet its post neuron received before
    /// (or at) the post neuron's most recent spike, else 0 (paper 1's credit register `B`).
    LastPre,
    /// A fresh uniform draw in `[-1, 1)` as Q0.16 (`-65536 .. 65536`) from the engine's PRNG.
    Rand,
    /// A fresh uniform draw in `[0, 1)` as Q0.16 (`0 .. 65536`).
    RandU,
    /// Broadcast signal `k` (0..=7), its latched value for this step.
    Sig(u8),
}

impl Src {
    pub fn sel(self) -> u8 {
        match self {
            Src::W => 0,
            Src::Wr => 1,
            Src::X0 => 2,
            Src::X1 => 3,
            Src::Y0 => 4,
            Src::Y1 => 5,
            Src::Xs => 6,
            Src::Ys => 7,
            Src::Xg => 8,
            Src::Yg => 9,
            Src::Yv => 10,
            Src::Yu => 11,
            Src::Tag => 12,
            Src::LastPre => 13,
            Src::Rand => 14,
            Src::RandU => 15,
            Src::Sig(k) => 16 + (k & 7),
        }
    }

    pub fn from_sel(sel: u8) -> Option<Src> {
        Some(match sel {
            0 => Src::W,
            1 => Src::Wr,
            2 => Src::X0,
            3 => Src::X1,
            4 => Src::Y0,
            5 => Src::Y1,
            6 => Src::Xs,
            7 => Src::Ys,
            8 => Src::Xg,
            9 => Src::Yg,
            10 => Src::Yv,
            11 => Src::Yu,
            12 => Src::Tag,
            13 => Src::LastPre,
            14 => Src::Rand,
            15 => Src::RandU,
            16..=23 => Src::Sig(sel - 16),
            _ => return None,
        })
    }

    /// Whether the source belongs to one synapse (so a per-post program may not read it).
    pub fn is_per_synapse(self) -> bool {
        matches!(self, Src::W | Src::Wr | Src::X0 | Src::X1 | Src::Xs | Src::Xg | Src::Tag | Src::LastPre)
    }

    pub fn name(self) -> String {
        match self {
            Src::W => "w".into(),
            Src::Wr => "wr".into(),
            Src::X0 => "x0".into(),
            Src::X1 => "x1".into(),
            Src::Y0 => "y0".into(),
            Src::Y1 => "y1".into(),
            Src::Xs => "xs".into(),
            Src::Ys => "ys".into(),
            Src::Xg => "xg".into(),
            Src::Yg => "yg".into(),
            Src::Yv => "yv".into(),
            Src::Yu => "yu".into(),
            Src::Tag => "tag".into(),
            Src::LastPre => "lastpre".into(),
            Src::Rand => "rand".into(),
            Src::RandU => "randu".into(),
            Src::Sig(k) => format!("sig{k}"),
        }
    }
}

/// Destinations `st` can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dst {
    /// The learning accumulator: `acc ← sat_acc(acc + round((ra − acc) · gain))`, where `gain`
    /// is the synapse's learning-rate gain (exactly 1 on an ideal chip) and `round` the rule's
    /// readout rounding ([`apply_weight_write_rounded`]).
    W,
    /// The tag (saturates to `tag_bits`).
    Tag,
}

impl Dst {
    pub fn sel(self) -> u8 {
        match self {
            Dst::W => 0,
            Dst::Tag => 1,
        }
    }
    pub fn from_sel(sel: u8) -> Option<Dst> {
        match sel {
            0 => Some(Dst::W),
            1 => Some(Dst::Tag),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dst::W => "w",
            Dst::Tag => "tag",
        }
    }
}

/// Per-post reductions over a neuron's incoming accumulators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reduce {
    /// Largest accumulator value.
    Max,
    /// Sum of accumulators.
    Sum,
    /// Sum of squares of the accumulators (saturated to 32 bits); take `sqrt` for the L2 norm.
    SumSq,
}

impl Reduce {
    pub fn sel(self) -> u8 {
        match self {
            Reduce::Max => 0,
            Reduce::Sum => 1,
            Reduce::SumSq => 2,
        }
    }
    pub fn from_sel(sel: u8) -> Option<Reduce> {
        match sel {
            0 => Some(Reduce::Max),
            1 => Some(Reduce::Sum),
            2 => Some(Reduce::SumSq),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Reduce::Max => "max",
            Reduce::Sum => "sum",
            Reduce::SumSq => "sumsq",
        }
    }
}

/// A register `r0..r7`.
pub type Reg = u8;

/// Number of registers.
pub const NUM_REGS: usize = 8;

/// One decoded instruction. Fields the opcode does not use are zero (see [`Instr::is_canonical`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Instr {
    pub op: Opcode,
    pub rd: Reg,
    pub ra: Reg,
    pub rb: Reg,
    /// Shift amount, 0..=31.
    pub sh: u8,
    /// Selector: a [`Src`], [`Dst`] or [`Reduce`] code, 0..=63.
    pub sel: u8,
    pub imm: i32,
}

impl Instr {
    /// An instruction with every field zero but the opcode.
    pub const fn new(op: Opcode) -> Instr {
        Instr { op, rd: 0, ra: 0, rb: 0, sh: 0, sel: 0, imm: 0 }
    }
    pub fn ld(rd: Reg, src: Src) -> Instr {
        Instr { rd, sel: src.sel(), ..Instr::new(Opcode::Ld) }
    }
    pub fn ldi(rd: Reg, imm: i32) -> Instr {
        Instr { rd, imm, ..Instr::new(Opcode::Ldi) }
    }
    pub fn st(dst: Dst, ra: Reg) -> Instr {
        Instr { ra, sel: dst.sel(), ..Instr::new(Opcode::St) }
    }
    pub fn rrr(op: Opcode, rd: Reg, ra: Reg, rb: Reg) -> Instr {
        Instr { rd, ra, rb, ..Instr::new(op) }
    }
    pub fn rrrs(op: Opcode, rd: Reg, ra: Reg, rb: Reg, sh: u8) -> Instr {
        Instr { rd, ra, rb, sh, ..Instr::new(op) }
    }
    pub fn rri(op: Opcode, rd: Reg, ra: Reg, imm: i32) -> Instr {
        Instr { rd, ra, imm, ..Instr::new(op) }
    }
    pub fn rris(op: Opcode, rd: Reg, ra: Reg, imm: i32, sh: u8) -> Instr {
        Instr { rd, ra, imm, sh, ..Instr::new(op) }
    }
    pub fn rrs(op: Opcode, rd: Reg, ra: Reg, sh: u8) -> Instr {
        Instr { rd, ra, sh, ..Instr::new(op) }
    }
    pub fn rr(op: Opcode, rd: Reg, ra: Reg) -> Instr {
        Instr { rd, ra, ..Instr::new(op) }
    }
    pub fn red(rd: Reg, kind: Reduce) -> Instr {
        Instr { rd, sel: kind.sel(), ..Instr::new(Opcode::Red) }
    }
    pub fn wscale(ra: Reg, sh: u8) -> Instr {
        Instr { ra, sh, ..Instr::new(Opcode::Wscale) }
    }
    pub fn wscaler(ra: Reg, sh: u8) -> Instr {
        Instr { ra, sh, ..Instr::new(Opcode::Wscaler) }
    }

    /// True if every field is in range, every field the opcode does not use is zero, and the
    /// selector names a valid source / destination / reduction for the opcode.
    pub fn is_canonical(&self) -> bool {
        let o = self.op.operands();
        let regs_ok =
            usize::from(self.rd) < NUM_REGS && usize::from(self.ra) < NUM_REGS && usize::from(self.rb) < NUM_REGS;
        let unused_zero = (o.uses_rd() || self.rd == 0)
            && (o.uses_ra() || self.ra == 0)
            && (o.uses_rb() || self.rb == 0)
            && (o.uses_sh() || self.sh == 0)
            && (o.uses_sel() || self.sel == 0)
            && (o.uses_imm() || self.imm == 0);
        let sel_ok = match self.op {
            Opcode::Ld => Src::from_sel(self.sel).is_some(),
            Opcode::St => Dst::from_sel(self.sel).is_some(),
            Opcode::Red => Reduce::from_sel(self.sel).is_some(),
            _ => true,
        };
        regs_ok && self.sh < 32 && self.sel < 64 && unused_zero && sel_ok
    }
}

impl std::fmt::Display for Instr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.op.mnemonic();
        let sel = |s: u8| -> String {
            match self.op {
                Opcode::Ld => Src::from_sel(s).map(|x| x.name()).unwrap_or_else(|| format!("?{s}")),
                Opcode::St => Dst::from_sel(s).map(|x| x.name().to_string()).unwrap_or_else(|| format!("?{s}")),
                Opcode::Red => Reduce::from_sel(s).map(|x| x.name().to_string()).unwrap_or_else(|| format!("?{s}")),
                _ => format!("{s}"),
            }
        };
        match self.op.operands() {
            Operands::None => write!(f, "{m}"),
            Operands::RdSel => write!(f, "{m:<6} r{}, {}", self.rd, sel(self.sel)),
            Operands::RdImm => write!(f, "{m:<6} r{}, {}", self.rd, self.imm),
            Operands::SelRa => write!(f, "{m:<6} {}, r{}", sel(self.sel), self.ra),
            Operands::RdRa => write!(f, "{m:<6} r{}, r{}", self.rd, self.ra),
            Operands::RdRaRb => write!(f, "{m:<6} r{}, r{}, r{}", self.rd, self.ra, self.rb),
            Operands::RdRaImm => write!(f, "{m:<6} r{}, r{}, {}", self.rd, self.ra, self.imm),
            Operands::RdRaRbSh => write!(f, "{m:<6} r{}, r{}, r{}, >>{}", self.rd, self.ra, self.rb, self.sh),
            Operands::RdRaImmSh => write!(f, "{m:<6} r{}, r{}, {}, >>{}", self.rd, self.ra, self.imm, self.sh),
            Operands::RdRaSh => write!(f, "{m:<6} r{}, r{}, {}", self.rd, self.ra, self.sh),
            Operands::RaSh => write!(f, "{m:<6} r{}, >>{}", self.ra, self.sh),
        }
    }
}

/// What the learning engine sees while it runs one handler: the local quantities, the
/// destinations and the per-post reductions. The emulator implements it over its state; tests
/// implement it over plain structs.
pub trait LearnCtx {
    /// The current value of a source (for `Rand`/`RandU` the implementation draws from its PRNG).
    fn load(&mut self, src: Src) -> i32;
    /// Write a destination (the implementation applies the weight-write rule of [`Dst::W`]).
    fn store(&mut self, dst: Dst, value: i32);
    /// Reduce over the post neuron's incoming accumulators; returns the value and the synapse count.
    fn reduce(&mut self, kind: Reduce) -> (i64, u32);
    /// Rescale the post neuron's incoming accumulators, rounding with `rounding` (stochastic
    /// rounding draws the engine's PRNG once per synapse); returns the synapse count.
    fn scale_weights(&mut self, factor: i32, sh: u8, rounding: Rounding) -> u32;
    /// The engine's PRNG for stochastic rounding.
    fn rng(&mut self) -> &mut HwRng;
}

#[inline]
fn sat32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Integer square root (floor) of a non-negative 64-bit value.
pub fn isqrt(v: u64) -> u64 {
    if v < 2 {
        return v;
    }
    let mut x = (v as f64).sqrt() as u64;
    while x.saturating_mul(x) > v {
        x -= 1;
    }
    while (x + 1).saturating_mul(x + 1) <= v {
        x += 1;
    }
    x
}

/// The weight-write rule of [`Dst::W`]: move the accumulator toward `target` by the difference
/// times `gain_q12` / 4096 (rounded to nearest), saturating to `accumulator_bits`.
#[inline]
pub fn apply_weight_write(acc: i32, target: i32, gain_q12: u16, accumulator_bits: u8) -> i32 {
    let mut unused = HwRng(1);
    apply_weight_write_rounded(acc, target, gain_q12, accumulator_bits, Rounding::Nearest, &mut unused)
}

/// [`apply_weight_write`] with the gained delta rounded by `rounding`. A rule with stochastic
/// rounding (`LearnRule::readout`) rounds it stochastically with the core's learning PRNG, so
/// that the learning-rate gain also acts on updates of about one accumulator LSB (rounded to
/// nearest, `1 · g` stays 1 for every gain in (0.5, 1.5) and the mismatch would vanish). The
/// PRNG is drawn only when the gain is not exactly 1.
pub fn apply_weight_write_rounded(
    acc: i32,
    target: i32,
    gain_q12: u16,
    accumulator_bits: u8,
    rounding: Rounding,
    rng: &mut HwRng,
) -> i32 {
    let delta = i64::from(target) - i64::from(acc);
    let scaled = if gain_q12 == 4096 { delta } else { shift_round(delta * i64::from(gain_q12), 12, rounding, rng) };
    crate::fixed_point::saturate(i64::from(acc) + scaled, accumulator_bits)
}

/// Execute one straight-line program over `ctx`; returns the cycles it cost (dispatch excluded).
pub fn exec(code: &[Instr], ctx: &mut impl LearnCtx) -> u64 {
    let mut r = [0i32; NUM_REGS];
    let mut cycles = 0u64;
    for ins in code {
        cycles += u64::from(step(ins, &mut r, ctx));
    }
    cycles
}

/// Execute one instruction on the register file `r`; returns its cycle cost.
#[inline]
pub fn step(ins: &Instr, r: &mut [i32; NUM_REGS], ctx: &mut impl LearnCtx) -> u32 {
    let (d, a, b) = (usize::from(ins.rd & 7), usize::from(ins.ra & 7), usize::from(ins.rb & 7));
    let sh = u32::from(ins.sh & 31);
    let mut extra = 0u32;
    match ins.op {
        Opcode::Nop => {}
        Opcode::Ld => r[d] = Src::from_sel(ins.sel).map_or(0, |s| ctx.load(s)),
        Opcode::Ldi => r[d] = ins.imm,
        Opcode::St => {
            if let Some(dst) = Dst::from_sel(ins.sel) {
                ctx.store(dst, r[a]);
            }
        }
        Opcode::Mov => r[d] = r[a],
        Opcode::Add => r[d] = sat32(i64::from(r[a]) + i64::from(r[b])),
        Opcode::Sub => r[d] = sat32(i64::from(r[a]) - i64::from(r[b])),
        Opcode::Addi => r[d] = sat32(i64::from(r[a]) + i64::from(ins.imm)),
        Opcode::Mul | Opcode::Mulr | Opcode::Muli | Opcode::Mulir => {
            let rhs = if matches!(ins.op, Opcode::Mul | Opcode::Mulr) { r[b] } else { ins.imm };
            let rounding =
                if matches!(ins.op, Opcode::Mulr | Opcode::Mulir) { Rounding::Stochastic } else { Rounding::Nearest };
            let p = i64::from(r[a]) * i64::from(rhs);
            r[d] = sat32(shift_round(p, sh, rounding, ctx.rng()));
        }
        Opcode::Shl => r[d] = sat32(i64::from(r[a]) << sh),
        Opcode::Shr => r[d] = sat32(shift_round(i64::from(r[a]), sh, Rounding::Nearest, ctx.rng())),
        Opcode::Shrr => r[d] = sat32(shift_round(i64::from(r[a]), sh, Rounding::Stochastic, ctx.rng())),
        Opcode::Min => r[d] = r[a].min(r[b]),
        Opcode::Max => r[d] = r[a].max(r[b]),
        Opcode::Mini => r[d] = r[a].min(ins.imm),
        Opcode::Maxi => r[d] = r[a].max(ins.imm),
        Opcode::Neg => r[d] = sat32(-i64::from(r[a])),
        Opcode::Abs => r[d] = sat32(i64::from(r[a]).abs()),
        Opcode::Sel => r[d] = if r[d] != 0 { r[a] } else { r[b] },
        Opcode::Div => {
            let num = i64::from(r[a]) << sh;
            r[d] = if r[b] == 0 {
                match r[a].signum() {
                    1 => i32::MAX,
                    -1 => i32::MIN,
                    _ => 0,
                }
            } else {
                sat32(num / i64::from(r[b]))
            };
        }
        Opcode::Sqrt => {
            let v = (i64::from(r[a].max(0)) as u64) << sh;
            r[d] = sat32(isqrt(v) as i64);
        }
        Opcode::Red => {
            if let Some(kind) = Reduce::from_sel(ins.sel) {
                let (v, n) = ctx.reduce(kind);
                r[d] = sat32(v);
                extra = n;
            }
        }
        Opcode::Wscale => extra = ctx.scale_weights(r[a], ins.sh & 31, Rounding::Nearest),
        Opcode::Wscaler => extra = ctx.scale_weights(r[a], ins.sh & 31, Rounding::Stochastic),
    }
    ins.op.cycles() + extra
}

/// When a handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Trigger {
    /// At a pre-synaptic spike, for every synapse of the arriving axon in the rule's group.
    Pre,
    /// At a post-synaptic spike, for every incoming synapse of the neuron in the group.
    Post,
    /// Every time step.
    Step,
    /// At the last step of every epoch (see [`crate::program::Meta::epoch_steps`]).
    Epoch,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [Trigger::Pre, Trigger::Post, Trigger::Step, Trigger::Epoch];
    pub fn code(self) -> u8 {
        match self {
            Trigger::Pre => 0,
            Trigger::Post => 1,
            Trigger::Step => 2,
            Trigger::Epoch => 3,
        }
    }
    pub fn from_code(c: u8) -> Option<Trigger> {
        Trigger::ALL.get(usize::from(c)).copied()
    }
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Pre => "on_pre",
            Trigger::Post => "on_post",
            Trigger::Step => "every_step",
            Trigger::Epoch => "every_epoch",
        }
    }
}

/// Whether a handler runs per synapse or once per post neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    Synapse,
    PostNeuron,
}

/// One handler of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handler {
    pub trigger: Trigger,
    pub scope: Scope,
    pub code: Vec<Instr>,
}

/// A trace kept by the learning engine: `x0, x1` per pre-synaptic axon, `y0, y1` per post neuron.
/// Every step each trace decays by `decay` (12-bit code, truncating); at a spike of its owner it
/// gains `impulse` (saturating). See [`crate::fixed_point::trace_add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceSpec {
    pub decay: u32,
    pub impulse: i32,
}

/// A compiled learning rule: traces, handlers, weight bounds and readout.
///
/// Order within the learning phase of a step: traces decay; `Pre` handlers for this step's
/// arrivals (seeing post traces without this step's post spikes); pre-trace impulses; `Post`
/// handlers for this step's post spikes (seeing pre traces with this step's arrivals); post-trace
/// impulses; `Step` handlers; `Epoch` handlers on the last step of an epoch; finally every touched
/// accumulator is clamped to `[w_min, w_max]`. Within one trigger, the per-synapse handlers run
/// before the per-post-neuron handlers (so a normalisation sees the updates of the same spike).
/// Only packets flagged as spikes trigger `Pre` handlers, pre-trace impulses and `xs = 1`; `xg`
/// is the payload of this step's packet from the synapse's pre-synaptic source (0 if none).
/// `lastpre` marks the synapse whose packet was delivered last (in delivery order: ascending
/// axon index within a step) to the post neuron up to and including its spiking step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnRule {
    pub name: String,
    /// Traces x0, x1 (pre) and y0, y1 (post); `None` if unused.
    pub x: [Option<TraceSpec>; 2],
    pub y: [Option<TraceSpec>; 2],
    pub handlers: Vec<Handler>,
    /// Bounds on the accumulator (raw accumulator units).
    pub w_min: i32,
    pub w_max: i32,
    /// Rounding from accumulator to the weight readout.
    pub readout: Rounding,
}

impl LearnRule {
    /// Instructions over all handlers.
    pub fn instr_count(&self) -> usize {
        self.handlers.iter().map(|h| h.code.len()).sum()
    }

    /// Structural checks the decoder and the compiler both apply: canonical instructions, no
    /// per-synapse source or `st w` in a per-post handler, no `red`/`wscale` in a per-synapse one,
    /// ordered bounds.
    pub fn validate(&self) -> Result<(), String> {
        if self.w_min > self.w_max {
            return Err(format!("rule `{}`: w_min {} > w_max {}", self.name, self.w_min, self.w_max));
        }
        for h in &self.handlers {
            for (i, ins) in h.code.iter().enumerate() {
                if !ins.is_canonical() {
                    return Err(format!(
                        "rule `{}`, {} handler, instruction {i}: not canonical",
                        self.name,
                        h.trigger.name()
                    ));
                }
                let per_post = h.scope == Scope::PostNeuron;
                let bad = match ins.op {
                    Opcode::Ld => per_post && Src::from_sel(ins.sel).is_some_and(Src::is_per_synapse),
                    Opcode::St => per_post,
                    Opcode::Red | Opcode::Wscale | Opcode::Wscaler => !per_post,
                    _ => false,
                };
                if bad {
                    return Err(format!(
                        "rule `{}`, {} handler, instruction {i} (`{ins}`): not allowed in a {} handler",
                        self.name,
                        h.trigger.name(),
                        if per_post { "per-post" } else { "per-synapse" }
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Operands {
    /// The assembly syntax of the operands (as [`Instr`]'s `Display` prints them).
    pub fn syntax(self) -> &'static str {
        match self {
            Operands::None => "",
            Operands::RdSel => "rd, sel",
            Operands::RdImm => "rd, imm",
            Operands::SelRa => "sel, ra",
            Operands::RdRa => "rd, ra",
            Operands::RdRaRb => "rd, ra, rb",
            Operands::RdRaImm => "rd, ra, imm",
            Operands::RdRaRbSh => "rd, ra, rb, >>sh",
            Operands::RdRaImmSh => "rd, ra, imm, >>sh",
            Operands::RdRaSh => "rd, ra, sh",
            Operands::RaSh => "ra, >>sh",
        }
    }
}

impl Src {
    /// One line on what the source reads.
    pub fn doc(self) -> &'static str {
        match self {
            Src::W => "The synapse's learning accumulator (raw, `accumulator_bits` signed).",
            Src::Wr => "The synapse's weight readout (sign + `weight_bits`).",
            Src::X0 | Src::X1 => "Pre-synaptic trace (raw trace format, unsigned `trace_int_bits.trace_frac_bits`).",
            Src::Y0 | Src::Y1 => "Post-synaptic trace (raw trace format).",
            Src::Xs => "1 if the pre-synaptic packet arrived this step, else 0.",
            Src::Ys => "1 if the post-synaptic neuron spiked this step, else 0.",
            Src::Xg => "Payload of this step's pre-synaptic packet (graded value or state change), else 0.",
            Src::Yg => "The post neuron's output this step: graded value, stochastic state `z`, or spike (0/1).",
            Src::Yv => "The post neuron's membrane voltage (raw).",
            Src::Yu => "The post neuron's synaptic current (raw).",
            Src::Tag => "The synapse's tag (raw, `tag_bits` signed).",
            Src::LastPre => {
                "1 if this synapse delivered the last pre-synaptic packet its post neuron received at or before its most recent spike."
            }
            Src::Rand => "A fresh uniform draw in [-1, 1) as Q0.16 (-65536 .. 65536) from the engine's PRNG.",
            Src::RandU => "A fresh uniform draw in [0, 1) as Q0.16 (0 .. 65536) from the engine's PRNG.",
            Src::Sig(_) => "Broadcast signal k (0..=7), its latched value for this step.",
        }
    }
}

/// `docs/isa.md`, generated from the op table and the selector enums (a test keeps the checked-in
/// file equal to this text).
pub fn isa_markdown() -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# The learning-engine instruction set\n");
    let _ = writeln!(
        w,
        "<!-- Generated by `nm_isa::learn::isa_markdown()` from the op table in `isa/src/learn.rs`; do not edit.\n     \
         Refresh with `NM_BLESS=1 cargo test -p nm-isa --test docs`. -->\n"
    );
    let _ = writeln!(
        w,
        "Each core has a plasticity processor that runs small straight-line programs (no branches, so the cost of a \
         handler is known statically) on events: per synapse at a pre-synaptic spike (`on_pre`), at a post-synaptic \
         spike (`on_post`), every step (`every_step`) or at the end of an epoch (`every_epoch`); or once per post \
         neuron (reductions and rescaling over the neuron's incoming accumulators). It has {NUM_REGS} signed 32-bit \
         registers `r0..r{}`, all zero when a handler starts. Arithmetic saturates to 32 bits. By convention \
         fractions are Q15.16 (`1.0 = 65536`), but every op is plain integer arithmetic with an explicit shift.\n",
        NUM_REGS - 1
    );
    let _ = writeln!(w, "## Instruction word\n");
    let _ = writeln!(
        w,
        "Every instruction is one 64-bit little-endian word; fields in bit order (bit 0 is the least significant):\n"
    );
    let _ = writeln!(w, "| field | bits | width | meaning |\n|---|---|---|---|");
    for (name, r) in crate::binary::INSTR_FIELDS.iter() {
        let meaning = match *name {
            "op" => "opcode (table below)",
            "rd" => "destination register",
            "ra" => "first source register",
            "rb" => "second source register",
            "sh" => "shift amount 0..=31",
            "sel" => "selector: a source (`ld`), destination (`st`) or reduction (`red`)",
            "pad" => "zero",
            _ => "immediate, two's complement",
        };
        let _ = writeln!(w, "| `{name}` | {}..={} | {} | {meaning} |", r.start, r.end - 1, r.end - r.start);
    }
    let _ = writeln!(
        w,
        "\nFields an opcode does not use must be zero, registers must be below {NUM_REGS}, and the selector must name a \
         valid source, destination or reduction for the opcode: the decoder refuses any other word, so encoding and \
         decoding are exact inverses.\n"
    );
    let _ = writeln!(w, "## Opcodes\n");
    let _ = writeln!(
        w,
        "`sat` saturates to i32; `round_nearest` rounds half away from zero; `round_stochastic` rounds up with \
         probability equal to the dropped fraction, comparing it with a 32-bit draw of the engine's PRNG (drawn only \
         when the dropped bits are non-zero). Cycles are per execution; a handler invocation also costs the chip's \
         `timing.cycles_learning_dispatch`.\n"
    );
    let _ = writeln!(w, "| mnemonic | opcode | operands | cycles | semantics |\n|---|---|---|---|---|");
    for op in Opcode::ALL {
        let cycles = match op {
            Opcode::Red | Opcode::Wscale | Opcode::Wscaler => format!("{} + 1/synapse", op.cycles()),
            _ => op.cycles().to_string(),
        };
        let operands = match op.operands().syntax() {
            "" => "—".to_string(),
            syntax => format!("`{syntax}`"),
        };
        let _ = writeln!(
            w,
            "| `{}` | `{:#04x}` | {operands} | {cycles} | {} |",
            op.mnemonic(),
            op.code(),
            op.doc().replace('|', "\\|")
        );
    }
    let _ = writeln!(w, "\n## Sources (`ld rd, sel`)\n");
    let _ = writeln!(
        w,
        "Per-synapse sources may not be read by a per-post-neuron handler.\n\n| sel | name | per synapse | reads |\n|---|---|---|---|"
    );
    for sel in 0..64u8 {
        if let Some(src) = Src::from_sel(sel) {
            let per = if src.is_per_synapse() { "yes" } else { "no" };
            let _ = writeln!(w, "| {sel} | `{}` | {per} | {} |", src.name(), src.doc());
        }
    }
    let _ = writeln!(w, "\n## Destinations (`st sel, ra`)\n");
    let _ = writeln!(w, "Only per-synapse handlers may store.\n\n| sel | name | writes |\n|---|---|---|");
    let _ = writeln!(
        w,
        "| {} | `{}` | `acc ← sat_acc(acc + round((ra − acc) · gain))`: the accumulator moves toward `ra` by the \
         synapse's learning-rate gain (Q12, exactly 1 on an ideal chip), saturating to `accumulator_bits`; `round` is \
         the rule's readout rounding (nearest, or stochastic for a stochastically rounded rule, drawing the learning \
         PRNG only when the gain is not 1). |",
        Dst::W.sel(),
        Dst::W.name()
    );
    let _ = writeln!(w, "| {} | `{}` | The tag, saturating to `tag_bits`. |", Dst::Tag.sel(), Dst::Tag.name());
    let _ = writeln!(w, "\n## Reductions (`red rd, sel`, per-post-neuron handlers only)\n");
    let _ = writeln!(w, "| sel | name | value over the post neuron's incoming accumulators in the rule's synapse group |\n|---|---|---|");
    for r in [Reduce::Max, Reduce::Sum, Reduce::SumSq] {
        let what = match r {
            Reduce::Max => "largest accumulator",
            Reduce::Sum => "sum of accumulators (saturated to i32)",
            Reduce::SumSq => "sum of squares (saturated to i32); `sqrt` of it is the L2 norm",
        };
        let _ = writeln!(w, "| {} | `{}` | {what} |", r.sel(), r.name());
    }
    let _ = writeln!(w, "\n## Handlers and the learning phase\n");
    let _ = writeln!(w, "| trigger | code | runs |\n|---|---|---|");
    for t in Trigger::ALL {
        let runs = match t {
            Trigger::Pre => "at a pre-synaptic spike, for every synapse of the arriving axon in the rule's groups",
            Trigger::Post => "at a post-synaptic spike, for every incoming synapse of the neuron in the rule's groups",
            Trigger::Step => "every time step",
            Trigger::Epoch => "at the last step of every epoch (`meta.epoch_steps`)",
        };
        let _ = writeln!(w, "| `{}` | {} | {runs} |", t.name(), t.code());
    }
    let _ = writeln!(
        w,
        "\nA handler's scope is `per synapse` (code 0) or `per post neuron` (code 1); `red` and `wscale` are only \
         allowed per post neuron, `st` and per-synapse sources only per synapse.\n\n\
         Order within the learning phase of a step: traces decay; `on_pre` handlers for this step's arrivals (seeing \
         post traces without this step's post spikes); pre-trace impulses; `on_post` handlers for this step's post \
         spikes (seeing pre traces with this step's arrivals); post-trace impulses; `every_step` handlers; \
         `every_epoch` handlers on the last step of an epoch; finally every touched accumulator is clamped to the \
         rule's `[w_min, w_max]`."
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for &op in Opcode::ALL {
            assert_eq!(Opcode::from_code(op.code()), Some(op));
            assert_eq!(Opcode::from_mnemonic(op.mnemonic()), Some(op));
            assert!(op.cycles() > 0);
        }
    }

    #[test]
    fn selectors_round_trip() {
        for sel in 0..64u8 {
            if let Some(s) = Src::from_sel(sel) {
                assert_eq!(s.sel(), sel);
            }
        }
    }
}
