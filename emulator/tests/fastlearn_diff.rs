//! Differential test: the pre-decoded learning handlers (`fastlearn::exec_fast`) equal the isa's
//! reference interpreter `nm_isa::learn::exec` on random programs and random states — same
//! cycles, same loads, stores, reductions and PRNG draws, in the same order; and the batched
//! form (`exec_batch`) equals running the synapses one after the other.

use nm_emulator::fastlearn::{exec_batch, exec_fast, round_nearest, FastCode, LaneCtx, LANES};
use nm_isa::fixed_point::{saturate, shift_round, Rounding};
use nm_isa::learn::{exec, Dst, Instr, LearnCtx, Opcode, Reduce, Src};
use nm_isa::rng::HwRng;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A context over plain state that logs every effect.
#[derive(Clone, Debug, PartialEq)]
struct Mock {
    w: i32,
    tag: i32,
    srcs: [i32; 24],
    post_acc: Vec<i32>,
    rng: HwRng,
    log: Vec<(u8, i64)>,
}

impl LearnCtx for Mock {
    fn load(&mut self, src: Src) -> i32 {
        let v = match src {
            Src::W => self.w,
            Src::Tag => self.tag,
            Src::Rand => self.rng.next_signed_q16(),
            Src::RandU => (self.rng.next_u32() >> 16) as i32,
            s => self.srcs[usize::from(s.sel())],
        };
        self.log.push((0, i64::from(v)));
        v
    }
    fn store(&mut self, dst: Dst, value: i32) {
        match dst {
            Dst::W => self.w = value,
            Dst::Tag => self.tag = value,
        }
        self.log.push((1, i64::from(value)));
    }
    fn reduce(&mut self, kind: Reduce) -> (i64, u32) {
        let it = self.post_acc.iter().map(|&a| i64::from(a));
        let v = match kind {
            Reduce::Max => it.max().unwrap_or(0),
            Reduce::Sum => it.sum(),
            Reduce::SumSq => it.map(|a| a * a).fold(0i64, |a, b| a.saturating_add(b)),
        };
        self.log.push((2, v));
        (v, self.post_acc.len() as u32)
    }
    fn scale_weights(&mut self, factor: i32, sh: u8, rounding: Rounding) -> u32 {
        for a in self.post_acc.iter_mut() {
            *a = saturate(shift_round(i64::from(*a) * i64::from(factor), u32::from(sh), rounding, &mut self.rng), 24);
        }
        self.log.push((3, i64::from(factor)));
        self.post_acc.len() as u32
    }
    fn rng(&mut self) -> &mut HwRng {
        &mut self.rng
    }
}

fn value(r: &mut ChaCha8Rng) -> i32 {
    match r.next_u32() % 6 {
        0 => 0,
        1 => i32::MAX,
        2 => i32::MIN,
        3 => (r.next_u32() % 64) as i32 - 32,
        _ => r.next_u32() as i32,
    }
}

/// A random instruction: usually canonical, sometimes with stray fields or unknown selectors
/// (which `exec` also accepts).
fn instr(r: &mut ChaCha8Rng) -> Instr {
    let op = Opcode::ALL[r.next_u32() as usize % Opcode::ALL.len()];
    let mut i = Instr {
        op,
        rd: (r.next_u32() % 8) as u8,
        ra: (r.next_u32() % 8) as u8,
        rb: (r.next_u32() % 8) as u8,
        sh: (r.next_u32() % 32) as u8,
        sel: (r.next_u32() % 26) as u8,
        imm: value(r),
    };
    if op == Opcode::St || op == Opcode::Red {
        i.sel = (r.next_u32() % 4) as u8;
    }
    if r.next_u32().is_multiple_of(8) {
        i.rd = (r.next_u32() % 256) as u8;
        i.sh = (r.next_u32() % 256) as u8;
        i.sel = (r.next_u32() % 64) as u8;
    }
    i
}

#[test]
fn exec_fast_equals_exec_on_random_programs_and_states() {
    let seed = 0x5eed_fa57u64;
    println!("fastlearn differential seed {seed:#x}");
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    for case in 0..20_000 {
        let len = 1 + r.next_u32() as usize % 24;
        let code: Vec<Instr> = (0..len).map(|_| instr(&mut r)).collect();
        let mut srcs = [0i32; 24];
        for s in srcs.iter_mut() {
            *s = value(&mut r);
        }
        let n = r.next_u32() as usize % 5;
        let state = Mock {
            w: value(&mut r),
            tag: value(&mut r),
            srcs,
            post_acc: (0..n).map(|_| (r.next_u32() % (1 << 20)) as i32 - (1 << 19)).collect(),
            rng: HwRng(r.next_u32() | 1),
            log: Vec::new(),
        };
        let (mut a, mut b) = (state.clone(), state);
        let ca = exec(&code, &mut a);
        let fast = FastCode::decode(&code);
        let cb = exec_fast(&fast, &mut b);
        assert_eq!(fast.len, code.len() as u64);
        assert_eq!((ca, &a), (cb, &b), "case {case} (seed {seed:#x}): {code:?}");
    }
}

/// Several synapses' states; `select` picks the current one.
#[derive(Clone, Debug, PartialEq)]
struct Lanes {
    states: Vec<Mock>,
    cur: usize,
}

impl LearnCtx for Lanes {
    fn load(&mut self, src: Src) -> i32 {
        self.states[self.cur].load(src)
    }
    fn store(&mut self, dst: Dst, value: i32) {
        self.states[self.cur].store(dst, value)
    }
    fn reduce(&mut self, kind: Reduce) -> (i64, u32) {
        self.states[self.cur].reduce(kind)
    }
    fn scale_weights(&mut self, factor: i32, sh: u8, rounding: Rounding) -> u32 {
        self.states[self.cur].scale_weights(factor, sh, rounding)
    }
    fn rng(&mut self) -> &mut HwRng {
        self.states[self.cur].rng()
    }
}

impl LaneCtx for Lanes {
    type Lane = usize;
    fn select(&mut self, lane: usize) {
        self.cur = lane;
    }
}

fn mock(r: &mut ChaCha8Rng) -> Mock {
    let mut srcs = [0i32; 24];
    for s in srcs.iter_mut() {
        *s = value(r);
    }
    Mock { w: value(r), tag: value(r), srcs, post_acc: Vec::new(), rng: HwRng(r.next_u32() | 1), log: Vec::new() }
}

#[test]
fn exec_batch_equals_one_synapse_after_the_other() {
    let seed = 0x0ba7_c4e5_u64;
    println!("fastlearn batch differential seed {seed:#x}");
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut tested = 0;
    while tested < 3000 {
        let len = 1 + r.next_u32() as usize % 16;
        let code: Vec<Instr> = (0..len).map(|_| instr(&mut r)).collect();
        let fast = FastCode::decode(&code);
        if !fast.batchable {
            continue;
        }
        tested += 1;
        let n = 1 + r.next_u32() as usize % LANES;
        let states: Vec<Mock> = (0..n).map(|_| mock(&mut r)).collect();
        let mut one = states.clone();
        let c_one: u64 = one.iter_mut().map(|m| exec(&code, m)).sum();
        let mut batch = Lanes { states, cur: 0 };
        let lanes: Vec<usize> = (0..n).collect();
        let c_batch = exec_batch(&fast, &mut batch, &lanes);
        assert_eq!((c_one, &one), (c_batch, &batch.states), "seed {seed:#x}: {code:?}");
    }
}

#[test]
fn round_nearest_equals_shift_round() {
    let seed = 0x0d0d_5eed_u64;
    println!("round_nearest differential seed {seed:#x}");
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut rng = HwRng(1);
    for _ in 0..200_000 {
        let sh = r.next_u32() % 70;
        let v = match r.next_u32() % 5 {
            // Exact ties and their neighbours, both signs: `k · 2^sh ± 2^(sh-1)` (± 1).
            4 if (1..31).contains(&sh) => {
                let k = i64::from(r.next_u32() as i32 >> (r.next_u32() % 32));
                let tie = (k << sh) + (1i64 << (sh - 1));
                tie + i64::from(r.next_u32() % 3) - 1
            }
            0 => i64::from(value(&mut r)),
            1 => (r.next_u64() as i64) >> (r.next_u32() % 64),
            2 => i64::from(value(&mut r)) * i64::from(value(&mut r)),
            _ => [i64::MIN, i64::MAX, -1, 0, 1][r.next_u32() as usize % 5],
        };
        assert_eq!(round_nearest(v, sh), shift_round(v, sh, Rounding::Nearest, &mut rng), "v {v} sh {sh}");
    }
}
