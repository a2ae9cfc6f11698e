//! The 32-bit-lane LIF loop of [`crate::core`] for the AVX-512 kernel, written in intrinsics.
//!
//! It computes exactly what `core::lif_narrow_loop` computes (and the block loop around it:
//! spikes in index order, refractory periods started for the neurons that fired), with the
//! instructions chosen for the machine's ports rather than left to the autovectoriser:
//!
//! * a decay `|x|·keep >> bits` is two `vpmuludq` (one 32 × 32 → 64-bit multiply per even or
//!   odd lane, one µop each) instead of the split form's four `vpmulld` µops and three shifts;
//! * the sign of the decayed value, the wrap of the current to its format (sign extension by a
//!   mask and an xor, `vpternlogd`) and the fire, refractory and reset selects are masks and
//!   blends, not shifts (a 512-bit shift runs on one port only);
//! * the fire flags are the compare's 16-bit mask, tested in a register: no flag array, no
//!   second pass to collect them.
//!
//! `lif_kernels::kernels_leave_identical_core_states` checks it against the scalar and 64-bit
//! loops on every core size from 1 to 300 neurons.

use std::arch::x86_64::{
    __m128i, __m512i, __mmask16, _mm256_loadu_si256, _mm256_storeu_si256, _mm512_abs_epi32, _mm512_add_epi32,
    _mm512_cmplt_epi32_mask, _mm512_cvtepi32_epi16, _mm512_cvtepu16_epi32, _mm512_loadu_si512, _mm512_mask_blend_epi32,
    _mm512_mask_cmpge_epi32_mask, _mm512_mask_cmplt_epi32_mask, _mm512_mask_storeu_epi32, _mm512_mask_sub_epi32,
    _mm512_maskz_loadu_epi32, _mm512_max_epi32, _mm512_min_epi32, _mm512_mul_epu32, _mm512_set1_epi32,
    _mm512_setzero_si512, _mm512_shuffle_epi32, _mm512_sll_epi64, _mm512_srl_epi64, _mm512_storeu_si512,
    _mm512_sub_epi32, _mm512_ternarylogic_epi32, _mm512_testn_epi32_mask, _mm_cvtsi32_si128, _MM_PERM_DDBB,
};

use crate::core::{Konst, LifLanes};

/// The loop's constants, broadcast to 16 lanes (shift counts in the low lane of an `__m128i`).
#[derive(Clone, Copy)]
struct Splat {
    bias0: __m512i,
    vr0: __m512i,
    vmin: __m512i,
    vmax: __m512i,
    /// `2^(32 − cs) − 1` and `2^(31 − cs)`: the current's wrap to `32 − cs` bits.
    wrap_mask: __m512i,
    wrap_sign: __m512i,
    one: __m512i,
    db: __m128i,
    up: __m128i,
}

/// Pointers to 16 lanes of each array of one window (raw, so that the tail's padded copies
/// and the slices themselves go through the same code).
struct Lanes<K, O> {
    input: *mut i32,
    input2: *mut i32,
    u: *mut i32,
    u2: *mut i32,
    v: *mut i32,
    cnt: *mut K,
    ku: *const K,
    ku2: *const K,
    kv: *const K,
    bias: *const O,
    vth: *const i32,
    vr: *const O,
}

/// 16 values from `p` as `i32` lanes (`u16` zero-extended); with `MASKED`, only the lanes set
/// in `m` (the others 0), for 32-bit `T` only.
///
/// # Safety
/// `p` points at 16 readable values of `T` (with `MASKED`: as many as the lanes of `m`, and
/// `T` is not narrow); the CPU has AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn load<T: Konst, const MASKED: bool>(p: *const T, m: __mmask16) -> __m512i {
    debug_assert!(!(MASKED && T::NARROW));
    // SAFETY: 16 values of `T` (32 or 64 bytes) are readable at `p`, or the lanes of `m` with
    // `MASKED` (a masked load does not touch the others), the caller's contract; the loads
    // are unaligned.
    unsafe {
        if MASKED {
            _mm512_maskz_loadu_epi32(m, p.cast())
        } else if T::NARROW {
            _mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast()))
        } else {
            _mm512_loadu_si512(p.cast())
        }
    }
}

/// Store 16 lanes at `p` as `T` (`u16`: the low 16 bits of each lane, which the caller keeps
/// in range); with `MASKED`, only the lanes set in `m`, for 32-bit `T` only.
///
/// # Safety
/// As [`load`], for writes.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn store<T: Konst, const MASKED: bool>(p: *mut T, m: __mmask16, x: __m512i) {
    debug_assert!(!(MASKED && T::NARROW));
    // SAFETY: as in `load`, for writes.
    unsafe {
        if MASKED {
            _mm512_mask_storeu_epi32(p.cast(), m, x)
        } else if T::NARROW {
            _mm256_storeu_si256(p.cast(), _mm512_cvtepi32_epi16(x))
        } else {
            _mm512_storeu_si512(p.cast(), x)
        }
    }
}

/// `decay_keep_u(x, keep, db)` on 16 lanes, for `0 ≤ keep ≤ 2^db`, `db ≤ 16`: `p = |x|·keep`
/// in 64 bits for the even lanes and (after a shuffle) the odd lanes; an even lane's result is
/// the low half of `p >> db`, an odd lane's the high half of `p << (32 − db)`, which loses no
/// bit since `p ≤ 2^31·2^db < 2^(32+db)`. The sign goes back by a masked negation.
#[inline]
#[target_feature(enable = "avx512f")]
fn decay(x: __m512i, keep: __m512i, c: &Splat) -> __m512i {
    let a = _mm512_abs_epi32(x);
    let even = _mm512_srl_epi64(_mm512_mul_epu32(a, keep), c.db);
    let odd_a = _mm512_shuffle_epi32::<_MM_PERM_DDBB>(a);
    let odd_k = _mm512_shuffle_epi32::<_MM_PERM_DDBB>(keep);
    let odd = _mm512_sll_epi64(_mm512_mul_epu32(odd_a, odd_k), c.up);
    let m = _mm512_mask_blend_epi32(0xAAAA, even, odd);
    let zero = _mm512_setzero_si512();
    _mm512_mask_sub_epi32(m, _mm512_cmplt_epi32_mask(x, zero), zero, m)
}

/// `(x << cs) >> cs` (arithmetic): the sign extension of the low `32 − cs` bits,
/// `((x & mask) ^ sign) − sign`.
#[inline]
#[target_feature(enable = "avx512f")]
fn wrap(x: __m512i, c: &Splat) -> __m512i {
    // 0x6a: (a & b) ^ c.
    _mm512_sub_epi32(_mm512_ternarylogic_epi32::<0x6a>(x, c.wrap_mask, c.wrap_sign), c.wrap_sign)
}

/// One window of 16 neurons, those from `at`; returns the mask of those that fire (their
/// counters are left at 0 for the caller to set).
///
/// With `MASKED`, only the lanes set in `m` (the first ones) are read, written and may fire.
///
/// # Safety
/// Every pointer of `l` has 16 values from `at` behind it, or with `MASKED` as many as the
/// lanes of `m`, and then no array of `l` is narrow (`input2`, `u2`, `ku2` only read with
/// `TWO`); the CPU has AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn window<const TWO: bool, K: Konst, O: Konst, const MASKED: bool>(
    l: &Lanes<K, O>,
    at: usize,
    c: &Splat,
    m: __mmask16,
) -> __mmask16 {
    let zero = _mm512_setzero_si512();
    // SAFETY: every access below reads or writes the 16 values from `at` the caller vouches
    // for.
    unsafe {
        let inp = load::<_, MASKED>(l.input.add(at), m);
        store::<_, MASKED>(l.input.add(at), m, zero);
        let un = wrap(
            _mm512_add_epi32(decay(load::<_, MASKED>(l.u.add(at), m), load::<_, MASKED>(l.ku.add(at), m), c), inp),
            c,
        );
        store::<_, MASKED>(l.u.add(at), m, un);
        let bias = _mm512_add_epi32(load::<_, MASKED>(l.bias.add(at), m), c.bias0);
        let mut sum = _mm512_add_epi32(
            _mm512_add_epi32(decay(load::<_, MASKED>(l.v.add(at), m), load::<_, MASKED>(l.kv.add(at), m), c), un),
            bias,
        );
        if TWO {
            let inp2 = load::<_, MASKED>(l.input2.add(at), m);
            store::<_, MASKED>(l.input2.add(at), m, zero);
            let u2n = wrap(
                _mm512_add_epi32(
                    decay(load::<_, MASKED>(l.u2.add(at), m), load::<_, MASKED>(l.ku2.add(at), m), c),
                    inp2,
                ),
                c,
            );
            store::<_, MASKED>(l.u2.add(at), m, u2n);
            sum = _mm512_add_epi32(sum, u2n);
        }
        let vn = _mm512_min_epi32(_mm512_max_epi32(sum, c.vmin), c.vmax);
        let cnt = load::<_, MASKED>(l.cnt.add(at), m);
        // Counters are never negative: `c − (c ≠ 0)` is `max(c − 1, 0)`.
        store::<_, MASKED>(l.cnt.add(at), m, _mm512_max_epi32(_mm512_sub_epi32(cnt, c.one), zero));
        let active = _mm512_testn_epi32_mask(cnt, cnt);
        let vth = load::<_, MASKED>(l.vth.add(at), m);
        // Two compares rather than mask arithmetic (which goes through general registers).
        let keep = _mm512_mask_cmplt_epi32_mask(active, vn, vth);
        let fire = _mm512_mask_cmpge_epi32_mask(active, vn, vth);
        let reset = _mm512_add_epi32(load::<_, MASKED>(l.vr.add(at), m), c.vr0);
        store::<_, MASKED>(l.v.add(at), m, _mm512_mask_blend_epi32(keep, reset, vn));
        fire & m
    }
}

/// Windows per block: the loop over a block's windows keeps their fire masks and makes no
/// call (a call would spill the constants' registers, all caller-saved); the spikes are
/// collected after it.
const BLOCK: usize = 16;

/// The LIF update of `a` (what `core::lif_blocks` does with the scalar or autovectorised
/// loop), for `a.db ≤ 16`, keep factors in `0 ..= 2^db` and `a.cs ≥ 1`.
///
/// # Panics
/// If a slice of `a` is shorter than `a.u` (`input2`, `u2`, `ku2` only with `TWO`).
#[target_feature(enable = "avx512f")]
pub(crate) fn lif<const TWO: bool, K: Konst, O: Konst>(a: LifLanes<'_, K, O>) {
    let n = a.u.len();
    assert!(a.db <= 16 && (1..32).contains(&a.cs), "decay bits {} / current shift {}", a.db, a.cs);
    let (input, u, v, cnt) = (&mut a.input[..n], a.u, &mut a.v[..n], &mut a.cnt[..n]);
    let (ku, kv, bias, vth, vr, refr) = (&a.ku[..n], &a.kv[..n], &a.bias[..n], &a.vth[..n], &a.vr[..n], &a.refr[..n]);
    let m2 = if TWO { n } else { 0 };
    let (input2, u2, ku2) = (&mut a.input2[..m2], &mut a.u2[..m2], &a.ku2[..m2]);
    let bits = 32 - a.cs;
    let c = Splat {
        bias0: _mm512_set1_epi32(a.base[0]),
        vr0: _mm512_set1_epi32(a.base[1]),
        vmin: _mm512_set1_epi32(a.vmin),
        vmax: _mm512_set1_epi32(a.vmax),
        wrap_mask: _mm512_set1_epi32(((1u32 << bits) - 1) as i32),
        wrap_sign: _mm512_set1_epi32((1u32 << (bits - 1)) as i32),
        one: _mm512_set1_epi32(1),
        db: _mm_cvtsi32_si128(a.db as i32),
        up: _mm_cvtsi32_si128(32 - a.db as i32),
    };
    let spikes = a.spikes;
    let mut fired = |fire: __mmask16, at: usize, cnt: &mut [K]| {
        let mut f = fire;
        while f != 0 {
            let i = at + f.trailing_zeros() as usize;
            spikes.push(i as u32);
            cnt[i] = refr[i];
            f &= f - 1;
        }
    };
    // Pointers into the slices from `at` (the second current's arrays are empty without `TWO`,
    // never read then).
    macro_rules! lanes {
        ($at:expr) => {{
            let at = $at;
            Lanes {
                input: input[at..].as_mut_ptr(),
                input2: if TWO { input2[at..].as_mut_ptr() } else { input2.as_mut_ptr() },
                u: u[at..].as_mut_ptr(),
                u2: if TWO { u2[at..].as_mut_ptr() } else { u2.as_mut_ptr() },
                v: v[at..].as_mut_ptr(),
                cnt: cnt[at..].as_mut_ptr(),
                ku: ku[at..].as_ptr(),
                ku2: if TWO { ku2[at..].as_ptr() } else { ku2.as_ptr() },
                kv: kv[at..].as_ptr(),
                bias: bias[at..].as_ptr(),
                vth: vth[at..].as_ptr(),
                vr: vr[at..].as_ptr(),
            }
        }};
    }
    let full = n / 16 * 16;
    let mut masks = [0 as __mmask16; BLOCK];
    let mut from = 0;
    while from < full {
        let len = (full - from).min(16 * BLOCK);
        // Pointers derived afresh for each block (the spikes' fix-up below writes `cnt`
        // through the slice).
        let l = lanes!(0);
        let mut any = 0;
        for (k, m) in masks[..len / 16].iter_mut().enumerate() {
            // SAFETY: `from + 16·k + 16 ≤ full ≤ n` and every slice has length `n` (`m2 = n`
            // with `TWO`), so each pointer has 16 values behind it from there; the CPU has
            // AVX-512F (this function's feature).
            #[allow(unsafe_code)]
            let f = unsafe { window::<TWO, K, O, false>(&l, from + 16 * k, &c, 0xFFFF) };
            *m = f;
            any |= f;
        }
        if any != 0 {
            for (k, &m) in masks[..len / 16].iter().enumerate() {
                if m != 0 {
                    fired(m, from + 16 * k, cnt);
                }
            }
        }
        from += len;
    }
    if full < n {
        let t = n - full;
        if K::NARROW || O::NARROW {
            // 16-bit arrays: the last lanes through padded copies (the padding's lanes are
            // computed and dropped).
            macro_rules! pad {
                ($x:expr) => {{
                    let mut w = [Default::default(); 16];
                    w[..t].copy_from_slice(&$x[full..]);
                    w
                }};
            }
            let (mut wi, mut wu, mut wv, mut wc) = (pad!(input), pad!(u), pad!(v), pad!(cnt));
            let (mut wi2, mut wu2, wk2) = if TWO { (pad!(input2), pad!(u2), pad!(ku2)) } else { Default::default() };
            let (wku, wkv, wb, wth, wvr) = (pad!(ku), pad!(kv), pad!(bias), pad!(vth), pad!(vr));
            let l = Lanes {
                input: wi.as_mut_ptr(),
                input2: wi2.as_mut_ptr(),
                u: wu.as_mut_ptr(),
                u2: wu2.as_mut_ptr(),
                v: wv.as_mut_ptr(),
                cnt: wc.as_mut_ptr(),
                ku: wku.as_ptr(),
                ku2: wk2.as_ptr(),
                kv: wkv.as_ptr(),
                bias: wb.as_ptr(),
                vth: wth.as_ptr(),
                vr: wvr.as_ptr(),
            };
            // SAFETY: every pointer is to a 16-value array on the stack; AVX-512F as above.
            #[allow(unsafe_code)]
            let fire = unsafe { window::<TWO, K, O, false>(&l, 0, &c, 0xFFFF) } & ((1u32 << t) - 1) as u16;
            input[full..].copy_from_slice(&wi[..t]);
            u[full..].copy_from_slice(&wu[..t]);
            v[full..].copy_from_slice(&wv[..t]);
            cnt[full..].copy_from_slice(&wc[..t]);
            if TWO {
                input2[full..].copy_from_slice(&wi2[..t]);
                u2[full..].copy_from_slice(&wu2[..t]);
            }
            if fire != 0 {
                fired(fire, full, cnt);
            }
        } else {
            // 32-bit arrays only: the last lanes by masked loads and stores.
            let l = lanes!(full);
            // SAFETY: every slice has `t` values from `full` (`m2 = n` with `TWO`), the lanes
            // of the mask, and none is narrow; AVX-512F as above.
            #[allow(unsafe_code)]
            let fire = unsafe { window::<TWO, K, O, true>(&l, 0, &c, ((1u32 << t) - 1) as __mmask16) };
            if fire != 0 {
                fired(fire, full, cnt);
            }
        }
    }
}
