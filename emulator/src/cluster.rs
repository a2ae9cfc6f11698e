//! The static LIF cluster: the cores that only integrate and fire, laid side by side in one set
//! of arrays, so that one LIF loop updates all their neurons and a spike's synapses on them are
//! one flat list of ring additions (Brian2's layout, where the per-core layout costs a cache
//! miss or more per packet).
//!
//! A core is a member when every neuron is LIF without noise and the core has no learning rule,
//! no clamp synapse, no state probe, and the run has no faults; members share the ring depth and
//! the number of synaptic currents. Nothing about the chip changes: every member keeps its own
//! cycle meter, charged exactly as [`crate::core::deliver`] and [`crate::core::update_neurons`]
//! charge it, spikes go out in core order as before, and ring additions commute, so a run with
//! the cluster is bit-identical to one without ([`crate::engine::Emulator::set_synapse_arena`]
//! turns both off, for the differential tests).
//!
//! While the cluster exists it owns the members' `u`, `u2`, `v`, `cnt`, `ring`, `spike_step`
//! and `pending_events` (the members' own vectors are left empty, so a missed access fails
//! loudly instead of reading stale state), their spikes of the last step, and their counts since
//! it was built; a step touches no member's core state unless a packet was queued for it.
//! [`Cluster::write_back`] puts it all back for checkpoints and [`Cluster::dissolve`] ends it.

use crate::aligned::Aligned;
use crate::core::{lif_lanes, shift_exp, CoreParams, CoreState, Formats, LifLanes};
use crate::core::{COUNT_MASK, NO_ARENA, PLAIN};
use crate::route::FanoutTable;
use crate::timing::{CostTable, Counts};
use std::borrow::Cow;

/// Marks a runtime core that is not a member.
const NOT_MEMBER: u32 = u32::MAX;
/// Flat synapse words pack the global ring column in the low 24 bits and `delay − 1` above
/// (unless they hold their member too, [`Cluster::mem_shift`]).
const COL_BITS: u32 = 24;
const COL_MASK: u32 = (1 << COL_BITS) - 1;

/// Bits of an unsigned value below `x` (at least 1).
fn bits_below(x: usize) -> u32 {
    (usize::BITS - x.saturating_sub(1).leading_zeros()).max(1)
}

/// The members' state and parameters side by side, and the flat fan-out onto them.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// Runtime core index of each member, ascending.
    pub members: Vec<u32>,
    /// Member position of each runtime core, or [`NOT_MEMBER`].
    member_of: Vec<u32>,
    /// First neuron of each member in the arrays below, and the total (`members.len() + 1`).
    off: Vec<u32>,
    /// Neurons of all members.
    n: usize,
    two: bool,
    /// Ring depth of every member (a power of two).
    slots: usize,
    /// Row width of `ring`: `n`, or `2n` with a second current (second plane `n..2n`).
    row: usize,
    keeps_fit: bool,
    ring: Aligned<i32>,
    u: Aligned<i32>,
    u2: Aligned<i32>,
    v: Aligned<i32>,
    cnt: Aligned<i32>,
    ku: Aligned<i32>,
    ku2: Aligned<i32>,
    kv: Aligned<i32>,
    /// `ku`, `ku2`, `kv` and `refr` as `u16` when every value fits (then those four are left
    /// empty): the LIF loop reads half the bytes of them.
    k16: Option<[Aligned<u16>; 4]>,
    /// `cnt` as `u16` with `k16` (every count fits then, being at most a refractory period or
    /// a restored count that fitted; `cnt` is left empty).
    cnt16: Aligned<u16>,
    bias: Aligned<i32>,
    vth: Aligned<i32>,
    vr: Aligned<i32>,
    /// `bias` and `vr` as `u16` offsets above their smallest values (`o16.1`) when both span
    /// less than `2^16` (then those two are left empty). The thresholds vary too much for it
    /// under the default mismatch (±33 % at 4 σ: more than `2^16` units at CUBA's scale).
    o16: Option<([Aligned<u16>; 2], [i32; 2])>,
    refr: Aligned<i32>,
    /// `step + 1` of each neuron's last spike (0: never).
    spike_step: Vec<u64>,
    /// Synaptic events the router already added for the next step, per member.
    pending: Vec<u64>,
    /// Synaptic events and steps run since the cluster was built, per member and in all.
    events_total: Vec<u64>,
    steps: u64,
    /// The largest cycle count of a member in the last step.
    pub slowest: u64,
    /// Neurons (cluster-wide index) that spiked this step.
    spikes: Vec<u32>,
    /// The same spikes as member-local indices, member by member, and where each member's begin.
    pub out: MemberSpikes,
    /// Per fan-out source `src` (and one past the last): where its entries start in `flat`
    /// and `rest`, side by side so that a spike reads one record:
    /// `starts[src][0] .. starts[src + 1][0]` of `flat`, and so on.
    starts: Vec<[u32; 2]>,
    /// Synapse words on members, as `(column | (delay − 1) << 24, contribution)`.
    flat: Vec<(u32, i32)>,
    /// The member of each ring column (both planes): a flat word is one synaptic event of it.
    colmem: Vec<u32>,
    /// When the column, `delay − 1` and the member fit one word together (as they do unless
    /// the cluster is huge): the flat words are `column | (delay − 1) << col_bits | member <<
    /// mem_shift`, so that counting a word's event reads no `colmem` (a random access per
    /// event, out of the cache once the LIF loop has streamed a large cluster's arrays).
    /// `mem_shift` 0: the layout of [`COL_BITS`].
    col_bits: u32,
    mem_shift: u32,
    /// The fan-out destinations (indices into the table) not in `flat`.
    rest: Vec<u32>,
}

/// The members' spikes of the last step, for the router (taken out of the cluster while it
/// routes them).
#[derive(Clone, Debug, Default)]
pub struct MemberSpikes {
    /// Local neuron indices of the spikes, member after member.
    pub local: Vec<u32>,
    /// The members that spiked, ascending.
    pub hits: Vec<u32>,
    /// `hits[i]`'s spikes are `local[seg[i] .. seg[i + 1]]` (`hits.len() + 1` entries).
    pub seg: Vec<u32>,
    /// The fan-out index of each member's neuron 0 ([`CoreParams::fanout_base`]).
    pub fanout_base: Vec<usize>,
    /// The core index of each member (ascending, as `Cluster::members`).
    pub core: Vec<u32>,
    /// The fan-out index of every spike in `local`, in the same order.
    pub src: Vec<u32>,
}

impl MemberSpikes {
    /// Spikes of the `i`-th member that spiked (`hits[i]`).
    #[inline]
    pub fn of_hit(&self, i: usize) -> &[u32] {
        &self.local[self.seg[i] as usize..self.seg[i + 1] as usize]
    }

    /// Spikes of member `k`.
    pub fn of(&self, k: usize) -> &[u32] {
        self.hits.binary_search(&(k as u32)).map_or(&[], |i| self.of_hit(i))
    }

    /// Start the spike lists of a step.
    fn clear(&mut self) {
        self.local.clear();
        self.src.clear();
        self.hits.clear();
        self.seg.clear();
    }

    /// Add spike `local` (fan-out index `src`) of member `k` (members in ascending order).
    #[inline]
    fn push(&mut self, k: u32, local: u32, src: u32) {
        if self.hits.last() != Some(&k) {
            self.hits.push(k);
            self.seg.push(self.local.len() as u32);
        }
        self.local.push(local);
        self.src.push(src);
    }

    /// End the spike lists of a step.
    fn finish(&mut self) {
        self.seg.push(self.local.len() as u32);
    }
}

/// Whether core `p` can be a member (`probed`: a state probe reads it).
fn eligible(p: &CoreParams, probed: bool) -> bool {
    p.n > 0
        && p.all_lif
        && !p.any_noise
        && !p.dead
        && p.rules.is_empty()
        && !p.has_clamp
        && !p.track_lastpre
        && !probed
        && p.ring_slots <= 1 << (32 - COL_BITS)
}

impl Cluster {
    /// Gather the members among `params` (the largest group by neurons sharing ring depth and
    /// current count) out of `states`, and flatten the fan-out `fan` onto them with the synapse
    /// words of `arena`. `None` when no core qualifies or the run has faults.
    pub fn build(
        params: &mut [CoreParams],
        states: &mut [CoreState],
        fan: &FanoutTable,
        arena: &[(u32, i32)],
        probed: &[bool],
        faults: bool,
    ) -> Option<Cluster> {
        if faults || arena.is_empty() {
            return None;
        }
        // Neurons per (ring depth, two currents) among eligible cores.
        let mut groups: Vec<((usize, bool), usize)> = Vec::new();
        for (ci, p) in params.iter().enumerate() {
            if !eligible(p, probed.get(ci).copied().unwrap_or(true)) {
                continue;
            }
            let key = (p.ring_slots, p.two_currents);
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1 += p.n,
                None => groups.push((key, p.n)),
            }
        }
        // The largest group (the first of equals).
        let ((slots, two), _) = groups.iter().copied().fold(None, |b: Option<((usize, bool), usize)>, g| match b {
            Some(b) if b.1 >= g.1 => Some(b),
            _ => Some(g),
        })?;
        let planes = if two { 2 } else { 1 };
        let mut c = Cluster { slots, two, member_of: vec![NOT_MEMBER; params.len()], ..Cluster::default() };
        c.out.clear();
        let mut total = 0usize;
        for (ci, p) in params.iter().enumerate() {
            if eligible(p, probed.get(ci).copied().unwrap_or(true)) && (p.ring_slots, p.two_currents) == (slots, two) {
                if (total + p.n) * planes > COL_MASK as usize {
                    break;
                }
                c.member_of[ci] = c.members.len() as u32;
                c.members.push(ci as u32);
                c.off.push(total as u32);
                total += p.n;
            }
        }
        c.off.push(total as u32);
        c.n = total;
        c.row = total * planes;
        c.keeps_fit = true;
        c.ring = vec![0; slots * c.row].into();
        for (k, &ci) in c.members.iter().enumerate() {
            let (p, s) = (&mut params[ci as usize], &mut states[ci as usize]);
            let (n, o) = (p.n, c.off[k] as usize);
            for r in 0..slots {
                for i in 0..n {
                    c.ring[r * c.row + o + i] = s.ring[r * p.ring_stride + i];
                    if two {
                        c.ring[r * c.row + total + o + i] = s.ring[r * p.ring_stride + n + i];
                    }
                }
            }
            c.u.append(&mut s.u);
            c.v.append(&mut s.v);
            c.cnt.append(&mut s.cnt);
            c.spike_step.append(&mut s.spike_step);
            c.out.fanout_base.push(p.fanout_base);
            c.out.core.push(ci);
            s.ring = Vec::new();
            if two {
                c.u2.append(&mut s.u2);
                c.ku2.extend_from_slice(&p.keep_u2[..n]);
            }
            c.ku.extend_from_slice(&p.keep_u[..n]);
            c.kv.extend_from_slice(&p.keep_v[..n]);
            c.bias.extend_from_slice(&p.bias[..n]);
            c.vth.extend_from_slice(&p.vth[..n]);
            c.vr.extend_from_slice(&p.vreset[..n]);
            c.refr.extend_from_slice(&p.refr[..n]);
            c.keeps_fit &= p.keeps_fit;
            c.pending.push(std::mem::take(&mut s.pending_events));
            c.events_total.push(0);
            // The last step's spikes (set by `update_neurons` before the cluster existed).
            for &i in &s.spikes {
                c.out.push(k as u32, i, (p.fanout_base + i as usize) as u32);
            }
            p.in_cluster = true;
        }
        c.out.finish();
        let narrow = |x: &[i32]| x.iter().map(|&v| u16::try_from(v).ok()).collect::<Option<Vec<u16>>>();
        if let (Some(ku), Some(ku2), Some(kv), Some(refr), Some(cnt)) =
            (narrow(&c.ku), narrow(&c.ku2), narrow(&c.kv), narrow(&c.refr), narrow(&c.cnt))
        {
            c.k16 = Some([ku.into(), ku2.into(), kv.into(), refr.into()]);
            (c.ku, c.ku2, c.kv, c.refr) = Default::default();
            (c.cnt16, c.cnt) = (cnt.into(), Aligned::default());
        }
        // Offsets above the smallest value, when every one fits a `u16`.
        let offsets = |x: &[i32]| {
            let lo = x.iter().copied().min().unwrap_or(0);
            let o = x.iter().map(|&v| u16::try_from(i64::from(v) - i64::from(lo)).ok()).collect::<Option<Vec<u16>>>();
            o.map(|o| (o, lo))
        };
        if let (Some((b, b0)), Some((r, r0))) = (offsets(&c.bias), offsets(&c.vr)) {
            c.o16 = Some(([b.into(), r.into()], [b0, r0]));
            (c.bias, c.vr) = Default::default();
        }
        // The LIF loop's arrays on cache lines (the `u16` ones are already).
        for x in [
            &mut c.u,
            &mut c.u2,
            &mut c.v,
            &mut c.cnt,
            &mut c.ku,
            &mut c.ku2,
            &mut c.kv,
            &mut c.bias,
            &mut c.vth,
            &mut c.vr,
            &mut c.refr,
        ] {
            x.align();
        }
        for _plane in 0..planes {
            for k in 0..c.members.len() {
                c.colmem.extend(std::iter::repeat_n(k as u32, (c.off[k + 1] - c.off[k]) as usize));
            }
        }
        c.flatten(params, fan, arena);
        Some(c)
    }

    /// The column of local ring target `tg` (`< 2n` with a second current) of member `k` of
    /// `n` neurons.
    #[inline]
    fn column(&self, k: usize, n: usize, tg: usize) -> usize {
        let o = self.off[k] as usize;
        if tg < n {
            o + tg
        } else {
            self.n + o + (tg - n)
        }
    }

    fn flatten(&mut self, params: &[CoreParams], fan: &FanoutTable, arena: &[(u32, i32)]) {
        self.starts = vec![[0; 2]];
        let (cb, db, mb) = (bits_below(self.row), self.slots.trailing_zeros(), bits_below(self.members.len()));
        (self.col_bits, self.mem_shift) = if cb + db + mb <= 32 { (cb, cb + db) } else { (COL_BITS, 0) };
        for src in 0..fan.len() {
            for d in fan.start[src] as usize..fan.start[src + 1] as usize {
                let dc = fan.dest_core[d] as usize;
                let (count, at) = (fan.dest_count[d], fan.dest_at[d]);
                let k = self.member_of[dc];
                if k == NOT_MEMBER || at == NO_ARENA || count & PLAIN == 0 {
                    self.rest.push(d as u32);
                    continue;
                }
                let cnt = count & COUNT_MASK;
                let n = params[dc].n;
                for &(pk, e) in &arena[at as usize..(at + cnt) as usize] {
                    debug_assert!(((pk >> 16) as usize) < self.slots, "a delay beyond the ring");
                    let col = self.column(k as usize, n, (pk & 0xFFFF) as usize) as u32;
                    let w = if self.mem_shift > 0 {
                        col | (pk >> 16) << cb | k << self.mem_shift
                    } else {
                        col | (pk >> 16) << COL_BITS
                    };
                    self.flat.push((w, e));
                }
            }
            self.starts.push([self.flat.len() as u32, self.rest.len() as u32]);
        }
    }

    /// Whether the LIF keep factors and refractory periods are stored as `u16` (see
    /// `Cluster::k16`).
    pub fn narrow_constants(&self) -> bool {
        self.k16.is_some()
    }

    /// Whether the flat synapse words hold their member (see `Cluster::mem_shift`).
    pub fn words_hold_members(&self) -> bool {
        self.mem_shift > 0
    }

    /// Rewrite the flat synapse words without their members (the layout of huge clusters, in
    /// which every event looks its member up in `colmem`), for tests of that layout.
    pub fn drop_members_from_words(&mut self) {
        if self.mem_shift == 0 {
            return;
        }
        let (cb, ms) = (self.col_bits, self.mem_shift);
        for (w, _) in &mut self.flat {
            let (col, delay) = (*w & ((1 << cb) - 1), (*w & !(u32::MAX << ms)) >> cb);
            *w = col | delay << COL_BITS;
        }
        (self.col_bits, self.mem_shift) = (COL_BITS, 0);
    }

    /// Whether the LIF bias and reset are stored as `u16` offsets (see `Cluster::o16`).
    pub fn narrow_offsets(&self) -> bool {
        self.o16.is_some()
    }

    /// What the router does for a payload-1 packet of source `src` sent at step `t1 − 1` on its
    /// destinations on members: add its synapse words into the rings for step `t1`, counting
    /// the events for that step's delivery. Returns the destinations left to send one by one.
    #[inline]
    pub fn send_flat(&mut self, src: usize, t1: u64) -> &[u32] {
        let mask = (self.slots - 1) as u64;
        let row = self.row;
        let (s0, s1) = (self.starts[src], self.starts[src + 1]);
        let (a, b) = (s0[0] as usize, s1[0] as usize);
        let ring = &mut self.ring[..];
        let (colmem, pending) = (&self.colmem[..row], &mut self.pending[..]);
        let (cb, ms) = (self.col_bits, self.mem_shift);
        let cmask = (1u32 << cb) - 1;
        let flat = &self.flat[a..b];
        match (mask == 0, ms > 0) {
            (true, true) => {
                let ring = &mut ring[..row];
                for &(w, e) in flat {
                    let col = (w & cmask) as usize;
                    ring[col] = ring[col].wrapping_add(e);
                    pending[(w >> ms) as usize] += 1;
                }
            }
            (false, true) => {
                for &(w, e) in flat {
                    let col = (w & cmask) as usize;
                    // `w >> cb` is `delay − 1 + member · slots`: the member vanishes in the mask.
                    let idx = (((t1 + u64::from(w >> cb)) & mask) as usize) * row + col;
                    ring[idx] = ring[idx].wrapping_add(e);
                    pending[(w >> ms) as usize] += 1;
                }
            }
            (true, false) => {
                let ring = &mut ring[..row];
                for &(w, e) in flat {
                    let col = (w & COL_MASK) as usize;
                    ring[col] = ring[col].wrapping_add(e);
                    pending[colmem[col] as usize] += 1;
                }
            }
            (false, false) => {
                for &(w, e) in flat {
                    let col = (w & COL_MASK) as usize;
                    let idx = (((t1 + u64::from(w >> COL_BITS)) & mask) as usize) * row + col;
                    ring[idx] = ring[idx].wrapping_add(e);
                    pending[colmem[col] as usize] += 1;
                }
            }
        }
        let (a, b) = (s0[1] as usize, s1[1] as usize);
        &self.rest[a..b]
    }

    /// Prefetch the record of source `src` that [`Cluster::prefetch_source`] reads (a hint only).
    #[inline]
    pub fn prefetch_starts(&self, src: usize) {
        crate::learning::prefetch(&self.starts, src..src + 2);
    }

    /// Prefetch what [`Cluster::send_flat`] reads for source `src` (a hint only).
    #[inline]
    pub fn prefetch_source(&self, src: usize) {
        use crate::learning::prefetch;
        if let (Some(s0), Some(s1)) = (self.starts.get(src), self.starts.get(src + 1)) {
            prefetch(&self.flat, s0[0] as usize..s1[0] as usize);
        }
    }

    /// Phases 1–4 of step `t` on every member: deliver the packets queued for the members in
    /// `queued` (as [`crate::core::deliver`] does for a core without learning or clamps; a
    /// member's packets stay in `inbox_next`, its inbox is never swapped), update and fire all
    /// neurons in one LIF loop, and charge each member what `deliver` and `update_neurons`
    /// would charge it ([`Cluster::slowest`]: the largest).
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        params: &[CoreParams],
        states: &mut [CoreState],
        queued: &mut Vec<u32>,
        t: u64,
        fm: &Formats,
        costs: &CostTable,
        arena: &[(u32, i32)],
    ) {
        let mask = (self.slots - 1) as u64;
        for &ci in queued.iter() {
            let k = self.member_of[ci as usize] as usize;
            let (p, s) = (&params[ci as usize], &mut states[ci as usize]);
            for pkt in &s.inbox_next {
                let (first, count) = (pkt.first as usize, (pkt.count & COUNT_MASK) as usize);
                self.pending[k] += count as u64;
                let words = if pkt.at != NO_ARENA { &arena[pkt.at as usize..] } else { &s.pe[first..] };
                for (j, &(pk, e)) in words[..count].iter().enumerate() {
                    let c = if pkt.payload == 1 {
                        e
                    } else {
                        let si = first + j;
                        shift_exp(i64::from(s.weff[si]) * i64::from(pkt.payload), p.syn_exp[si])
                    };
                    let col = self.column(k, p.n, (pk & 0xFFFF) as usize);
                    let idx = (((t + u64::from(pk >> 16)) & mask) as usize) * self.row + col;
                    self.ring[idx] = self.ring[idx].wrapping_add(c);
                }
            }
            s.inbox_next.clear();
        }
        queued.clear();
        self.spikes.clear();
        let n = self.n;
        let base = ((t & mask) as usize) * self.row;
        let (input, input2) = self.ring[base..base + self.row].split_at_mut(n);
        let m2 = if self.two { n } else { 0 };
        // One loop over the members' neurons, with the constants as stored.
        macro_rules! lif {
            ($ku:expr, $ku2:expr, $kv:expr, $refr:expr, $cnt:expr, $bias:expr, $vr:expr, $base:expr) => {{
                let lanes = LifLanes {
                    input,
                    input2: &mut input2[..m2],
                    u: &mut self.u[..n],
                    u2: &mut self.u2[..m2],
                    v: &mut self.v[..n],
                    cnt: &mut $cnt[..n],
                    spikes: &mut self.spikes,
                    ku: &$ku[..n],
                    ku2: &$ku2[..m2],
                    kv: &$kv[..n],
                    bias: &$bias[..n],
                    vth: &self.vth[..n],
                    vr: &$vr[..n],
                    base: $base,
                    refr: &$refr[..n],
                    db: fm.decay_bits,
                    cs: fm.current_shift,
                    vmin: fm.vmin as i32,
                    vmax: fm.vmax as i32,
                };
                if self.two {
                    lif_lanes::<true, _, _>(lanes, fm, self.keeps_fit);
                } else {
                    lif_lanes::<false, _, _>(lanes, fm, self.keeps_fit);
                }
            }};
        }
        let cnt16 = &mut self.cnt16;
        match (&self.k16, &self.o16) {
            (Some([ku, ku2, kv, refr]), Some(([b, r], base))) => lif!(ku, ku2, kv, refr, cnt16, b, r, *base),
            (Some([ku, ku2, kv, refr]), None) => lif!(ku, ku2, kv, refr, cnt16, self.bias, self.vr, [0; 2]),
            (None, Some(([b, r], base))) => lif!(self.ku, self.ku2, self.kv, self.refr, self.cnt, b, r, *base),
            (None, None) => lif!(self.ku, self.ku2, self.kv, self.refr, self.cnt, self.bias, self.vr, [0; 2]),
        }
        let t1 = t + 1;
        let out = &mut self.out;
        out.clear();
        for &g in &self.spikes {
            let k = self.colmem[g as usize];
            let o = self.off[k as usize];
            out.push(k, g - o, (out.fanout_base[k as usize] + (g - o) as usize) as u32);
            self.spike_step[g as usize] = t1;
        }
        out.finish();
        let mut slowest = 0u64;
        let (cu, ce) = (costs.neuron_update, costs.synaptic_event);
        for ((pending, total), w) in self.pending.iter_mut().zip(&mut self.events_total).zip(self.off.windows(2)) {
            let ev = std::mem::take(pending);
            *total += ev;
            slowest = slowest.max(u64::from(w[1] - w[0]) * cu + ev * ce);
        }
        self.slowest = slowest;
        self.steps += 1;
    }

    /// The counts of member `k` since the cluster was built.
    fn counts(&self, k: usize) -> Counts {
        let n = u64::from(self.off[k + 1] - self.off[k]);
        Counts {
            neuron_updates: n * self.steps,
            synaptic_events: self.events_total[k],
            core_steps: self.steps,
            ..Counts::default()
        }
    }

    /// Add the members' counts since the cluster was built to `c`.
    pub fn add_counts(&self, c: &mut Counts) {
        for k in 0..self.members.len() {
            c.add(&self.counts(k));
        }
    }

    /// Members with packets waiting in `inbox_next` (for a cluster built between steps).
    pub fn queued_members(&self, states: &[CoreState]) -> Vec<u32> {
        self.members.iter().copied().filter(|&ci| !states[ci as usize].inbox_next.is_empty()).collect()
    }

    /// Whether neuron `i` of member core `ci` spiked in the last step (`t`: steps run).
    pub fn spiked_last(&self, ci: usize, i: usize, t: u64) -> Option<bool> {
        let k = self.member_index(ci)?;
        Some(self.spike_step[self.off[k] as usize + i] == t)
    }

    /// The member index of runtime core `ci`, if it is a member.
    #[inline]
    pub fn member_index(&self, ci: usize) -> Option<usize> {
        self.member_of.get(ci).copied().filter(|&k| k != NOT_MEMBER).map(|k| k as usize)
    }

    fn range(&self, k: usize) -> std::ops::Range<usize> {
        self.off[k] as usize..self.off[k + 1] as usize
    }

    /// `(u, v, refractory counter)` of member core `ci` (the counters copied when stored as
    /// `u16`).
    pub fn neuron_state(&self, ci: usize) -> Option<crate::engine::NeuronState<'_>> {
        let r = self.range(self.member_index(ci)?);
        Some((&self.u[r.clone()], &self.v[r.clone()], self.counters(r)))
    }

    /// `(u, v)` of member core `ci`.
    pub fn membrane(&self, ci: usize) -> Option<(&[i32], &[i32])> {
        let r = self.range(self.member_index(ci)?);
        Some((&self.u[r.clone()], &self.v[r]))
    }

    /// The refractory counters of the neurons `r`.
    fn counters(&self, r: std::ops::Range<usize>) -> Cow<'_, [i32]> {
        if self.k16.is_some() {
            Cow::Owned(self.cnt16[r].iter().map(|&c| i32::from(c)).collect())
        } else {
            Cow::Borrowed(&self.cnt[r])
        }
    }

    /// `(u, v)` of member core `ci`, mutable.
    pub fn neuron_state_mut(&mut self, ci: usize) -> Option<(&mut [i32], &mut [i32])> {
        let r = self.range(self.member_index(ci)?);
        Some((&mut self.u[r.clone()], &mut self.v[r]))
    }

    /// The second current of member core `ci` (empty without one).
    pub fn second_current(&self, ci: usize) -> Option<&[i32]> {
        let r = self.range(self.member_index(ci)?);
        Some(if self.two { &self.u2[r] } else { &[] })
    }

    /// Put the members' state back into `states` (which must be the states the cluster was
    /// built from, or a copy of them).
    pub fn write_back(&self, params: &[CoreParams], states: &mut [CoreState]) {
        for (k, &ci) in self.members.iter().enumerate() {
            let (p, s) = (&params[ci as usize], &mut states[ci as usize]);
            let r = self.range(k);
            let (n, o) = (p.n, r.start);
            s.u = self.u[r.clone()].to_vec();
            s.v = self.v[r.clone()].to_vec();
            s.cnt = self.counters(r.clone()).into_owned();
            if self.two {
                s.u2 = self.u2[r].to_vec();
            }
            s.ring = vec![0; self.slots * p.ring_stride];
            for row in 0..self.slots {
                for i in 0..n {
                    s.ring[row * p.ring_stride + i] = self.ring[row * self.row + o + i];
                    if self.two {
                        s.ring[row * p.ring_stride + n + i] = self.ring[row * self.row + self.n + o + i];
                    }
                }
            }
            s.pending_events = self.pending[k];
            s.spike_step = self.spike_step[self.range(k)].to_vec();
            s.spikes = self.out.of(k).to_vec();
            s.meter.counts.add(&self.counts(k));
        }
    }

    /// End the cluster: the members' state goes back into `states`.
    pub fn dissolve(self, params: &mut [CoreParams], states: &mut [CoreState]) {
        self.write_back(params, states);
        for &ci in &self.members {
            params[ci as usize].in_cluster = false;
        }
    }
}
