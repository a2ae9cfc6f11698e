//! Fan-out resolution: the key-based multicast routing of `program.rs`, walked once at load for
//! every source (neuron or input channel) into a flat list of destinations `(core, axon)` plus
//! the mesh cost of its tree ([`MeshCost`]), so that the step loop never looks at a routing table.
//!
//! The walk follows `program.rs` exactly: a packet starts at its source router with no travel
//! direction; each router takes the first entry with `key & mask == entry.key`; with no match it
//! passes the packet straight on in its travel direction (default routing), or drops it at the
//! source ("no targets"). `LOCAL` delivers to the router's core, whose axon map turns the key
//! into an axon (no mapping: the packet is dropped there). Directions are on the global mesh of
//! all chips side by side (north = +y); a step across a chip edge is an inter-chip link hop, and
//! a step off the edge of the system drops the packet. A router reached twice from the same
//! direction is a routing loop and refuses the program.

use crate::error::EmuError;
use crate::faults::FaultTree;
use crate::timing::{CostTable, MeshCost};
use nm_isa::faults::{p_q32, Dir, FaultIndex};
use nm_isa::ids::CoreCoord;
use nm_isa::program::{Dirs, Program, RouteEntry};
use nm_isa::{ChipSpec, CoreId};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// FxHash-style hasher for the router's small integer keys: deterministic, and far cheaper than
/// the default SipHash, which dominated loading large programs (every key of every source is
/// looked up at every router of its tree).
#[derive(Clone, Copy, Debug, Default)]
struct KeyHasher(u64);

impl KeyHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }
    fn write_u8(&mut self, x: u8) {
        self.add(u64::from(x));
    }
    fn write_u32(&mut self, x: u32) {
        self.add(u64::from(x));
    }
    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }
    fn write_i64(&mut self, x: i64) {
        self.add(x as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// Resolved fan-out of many sources in CSR form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FanoutTable {
    /// Destinations of source `i`: `start[i] .. start[i + 1]`.
    pub start: Vec<u32>,
    /// Runtime core index (position in `Program::cores`) of each destination.
    pub dest_core: Vec<u32>,
    pub dest_axon: Vec<u32>,
    /// Synapse range of each destination axon (filled by the engine once cores are loaded);
    /// `dest_count` carries [`crate::core::PLAIN`].
    pub dest_first: Vec<u32>,
    pub dest_count: Vec<u32>,
    /// [`crate::core::Packet::at`] of each destination (filled with the engine's arena).
    pub dest_at: Vec<u32>,
    pub mesh: Vec<MeshCost>,
    pub routers: Vec<u32>,
    pub links: Vec<u32>,
    /// Router bitsets of the sources packed by [`FanoutTable::pack_router_bits`] (see
    /// [`MeshCost::bits`]).
    pub rbits: Vec<u64>,
}

impl FanoutTable {
    pub fn len(&self) -> usize {
        self.mesh.len()
    }
    pub fn is_empty(&self) -> bool {
        self.mesh.is_empty()
    }
    /// Turn each source's router list into a bitset over the words it spans, where that is
    /// no longer than the list and no router is listed twice (a list keeps its multiplicity);
    /// the lists left are compacted. The routers charged per packet are the same.
    pub fn pack_router_bits(&mut self) {
        let n = self.mesh.len();
        let (mut bits, mut lists) = (Vec::new(), Vec::new());
        let mut sorted = Vec::new();
        // The last source's list (`routers_first`, `routers_len`) and what it was packed into:
        // a source that shares the list (`Router::replay`) shares the packed form too.
        let mut last: Option<((u32, u32), MeshCost)> = None;
        for src in 0..n {
            let mc = &mut self.mesh[src];
            let list = (mc.routers_first, mc.routers_len);
            if let Some((l, packed)) = last.filter(|(l, _)| *l == list) {
                (mc.bits, mc.bits_word0, mc.routers_first, mc.routers_len) =
                    (packed.bits, packed.bits_word0, packed.routers_first, packed.routers_len);
                last = Some((l, *mc));
                continue;
            }
            let rs = &self.routers[mc.routers_first as usize..(mc.routers_first + mc.routers_len) as usize];
            sorted.clear();
            sorted.extend_from_slice(rs);
            sorted.sort_unstable();
            let distinct = sorted.windows(2).all(|w| w[0] != w[1]);
            if let (true, Some(&lo), Some(&hi)) = (distinct, sorted.first(), sorted.last()) {
                let (w0, w1) = (lo as usize / 64, hi as usize / 64 + 1);
                if w1 - w0 <= rs.len() && bits.len() + (w1 - w0) < u32::MAX as usize {
                    let first = bits.len();
                    bits.resize(first + (w1 - w0), 0u64);
                    for &r in rs {
                        bits[first + r as usize / 64 - w0] |= 1 << (r % 64);
                    }
                    (mc.bits, mc.bits_word0) = (true, w0 as u32);
                    mc.routers_first = first as u32;
                    mc.routers_len = (w1 - w0) as u32;
                    last = Some((list, *mc));
                    continue;
                }
            }
            let at = lists.len() as u32;
            lists.extend_from_slice(rs);
            mc.routers_first = at;
            mc.bits = false;
            last = Some((list, *mc));
        }
        self.routers = lists;
        self.rbits = bits;
    }

    /// The same table with every source's router and link lists (or router bitsets) copied
    /// out in source order, none shared: what two tables are compared by when one shares lists
    /// between sources (the walk reuse) and the other does not.
    pub fn unshared(&self) -> FanoutTable {
        let mut t = FanoutTable { mesh: Vec::with_capacity(self.mesh.len()), ..self.clone() };
        (t.routers, t.links, t.rbits) = (Vec::new(), Vec::new(), Vec::new());
        for mc in &self.mesh {
            let mut c = *mc;
            let r = mc.routers_first as usize..(mc.routers_first + mc.routers_len) as usize;
            if mc.bits {
                c.routers_first = t.rbits.len() as u32;
                t.rbits.extend_from_slice(&self.rbits[r]);
            } else {
                c.routers_first = t.routers.len() as u32;
                t.routers.extend_from_slice(&self.routers[r]);
            }
            c.links_first = t.links.len() as u32;
            t.links.extend_from_slice(&self.links[mc.links_first as usize..(mc.links_first + mc.links_len) as usize]);
            t.mesh.push(c);
        }
        t
    }

    /// The routers of source `src` as [`crate::timing::MeshMeter::charge_packet`] takes them.
    #[inline]
    pub fn routers_of(&self, src: usize) -> crate::timing::Routers<'_> {
        let mc = &self.mesh[src];
        let r = mc.routers_first as usize..(mc.routers_first + mc.routers_len) as usize;
        if mc.bits {
            crate::timing::Routers::Bits { word0: mc.bits_word0 as usize, bits: &self.rbits[r] }
        } else {
            crate::timing::Routers::List(&self.routers[r])
        }
    }

    /// Whether source `i` reaches any axon.
    #[inline]
    pub fn has_targets(&self, i: usize) -> bool {
        self.start[i + 1] > self.start[i]
    }
}

/// Global mesh geometry.
#[derive(Debug)]
struct Geometry {
    gw: i64,
    gh: i64,
    width: i64,
    height: i64,
}

impl Geometry {
    fn new(spec: &ChipSpec) -> Geometry {
        let width = i64::from(spec.mesh.width);
        let height = i64::from(spec.mesh.height);
        Geometry {
            gw: width * i64::from(spec.system.chips_x),
            gh: height * i64::from(spec.system.chips_y),
            width,
            height,
        }
    }
    fn global(&self, c: CoreCoord) -> (i64, i64) {
        (i64::from(c.chip_x) * self.width + i64::from(c.x), i64::from(c.chip_y) * self.height + i64::from(c.y))
    }
    fn id(&self, spec: &ChipSpec, gx: i64, gy: i64) -> CoreId {
        CoreId::from_coord(
            CoreCoord {
                chip_x: (gx / self.width) as u16,
                chip_y: (gy / self.height) as u16,
                x: (gx % self.width) as u16,
                y: (gy % self.height) as u16,
            },
            spec,
        )
    }
}

/// A router's table indexed for lookup: per distinct mask, masked key → first entry index, so
/// that the first entry (in table order) with `key & mask == entry.key` is found by hashing.
#[derive(Debug)]
struct RouteIndex {
    entries: Vec<RouteEntry>,
    /// Per distinct mask: the smallest entry index with it, and `key → first entry index`;
    /// sorted by that smallest index, so a lookup stops once no later group can match earlier.
    by_mask: Vec<(u32, usize, FastMap<u32, usize>)>,
}

impl RouteIndex {
    fn new(entries: &[RouteEntry]) -> RouteIndex {
        let mut by_mask: Vec<(u32, usize, FastMap<u32, usize>)> = Vec::new();
        let mut slot_of: FastMap<u32, usize> = FastMap::default();
        for (i, e) in entries.iter().enumerate() {
            let slot = *slot_of.entry(e.mask).or_insert_with(|| {
                // Entries are visited in order: a new mask's first entry is its smallest index.
                by_mask.push((e.mask, i, FastMap::default()));
                by_mask.len() - 1
            });
            by_mask[slot].2.entry(e.key).or_insert(i);
        }
        RouteIndex { entries: entries.to_vec(), by_mask }
    }

    /// The first entry (in table order) matching `key`.
    fn lookup(&self, key: u32) -> Option<&RouteEntry> {
        let mut best: Option<usize> = None;
        for (m, lowest, h) in &self.by_mask {
            if best.is_some_and(|b| b < *lowest) {
                break;
            }
            if let Some(&i) = h.get(&(key & m)) {
                best = Some(best.map_or(i, |b| b.min(i)));
            }
        }
        self.entries.get(best?)
    }
}

/// `v.partition_point(|e| e.0 <= key)` for `v` sorted by `.0`, searched by galloping forward from
/// `hint` when `v[hint − 1].0 <= key` (else over the whole slice): the same index, found in
/// O(log d) for a partition point `d` places after the hint.
fn finger_partition(v: &[(u32, u32, u32)], hint: usize, key: u32) -> usize {
    let hint = hint.min(v.len());
    if hint > 0 && v[hint - 1].0 > key {
        return v.partition_point(|e| e.0 <= key);
    }
    // Here every element before `hint` is <= key: gallop to the first window holding the point.
    let (mut lo, mut step) = (hint, 1usize);
    loop {
        let hi = lo.saturating_add(step).min(v.len());
        if hi == v.len() || v[hi].0 > key {
            return lo + v[lo..hi].partition_point(|e| e.0 <= key);
        }
        lo = hi;
        step *= 2;
    }
}

/// [`Router::core_index`] of a core id without a runtime core.
const NO_CORE: u32 = u32::MAX;

/// Direction bits 1..=4 as `(bit, dx, dy)`.
const CARDINALS: [(u8, i64, i64); 4] =
    [(Dirs::NORTH.0, 0, 1), (Dirs::EAST.0, 1, 0), (Dirs::SOUTH.0, 0, -1), (Dirs::WEST.0, -1, 0)];

/// Everything the walk needs, built once per program.
#[derive(Debug)]
pub struct Router<'p> {
    spec: &'p ChipSpec,
    geo: Geometry,
    /// Routing table of each core id of the system (`None`: no table).
    tables: Vec<Option<RouteIndex>>,
    /// Per `(router, arrival direction)` of the global mesh: the walk (`visit_gen`) that last
    /// reached it, for loop detection without hashing; and the walk's stack, reused.
    visit: Vec<u32>,
    visit_gen: u32,
    #[allow(clippy::type_complexity)]
    stack: Vec<(i64, i64, u8, u64, u32, u32, u8)>,
    /// Core id → runtime core index ([`NO_CORE`]: no runtime core), over the system's core ids.
    core_index: Vec<u32>,
    /// Per runtime core: axon-map entries sorted by key as `(key_base, count, axon_base)`, or
    /// `None` when entries overlap (then the first match in program order decides, by a scan).
    sorted_maps: Vec<Option<Vec<(u32, u32, u32)>>>,
    /// Per runtime core: where the last lookup in `sorted_maps` ended. Sources are resolved in
    /// ascending key order, so a core's next lookup usually lies just after it (a finger search
    /// from here replaces most binary searches over the whole map).
    finger: Vec<std::cell::Cell<usize>>,
    program: &'p Program,
    costs: CostTable,
    /// Packets dropped (off the system edge or no axon mapping) while resolving.
    pub dropped: u64,
    /// Dead and lossy parts of the chip (fault injection); `None`: a fault-free chip.
    pub faults: Option<FaultIndex>,
    /// Per-source fault data of the resolved trees (filled only with `faults`).
    pub tree: FaultTree,
    /// Union of the care bits of every table's entries: two keys that agree on them (and are
    /// injected at the same core) first-match the same entry at every router, so they take the
    /// same tree.
    care: u32,
    /// The last fault-free walk, for the keys that take the same tree (see [`WalkTrace`]).
    trace: WalkTrace,
    /// Reuse that walk and read the tables through [`LookupMemo`] (on by default; off: every
    /// key walks its tree and looks up every router's table itself, the reference for tests).
    pub reuse_walks: bool,
    /// Built at the first walk with `reuse_walks` (`None` until then, or where it does not apply).
    memo: Option<LookupMemo>,
    memo_tried: bool,
}

/// Every router's first-match result for every distinct `key & care` of the program's sources,
/// computed router by router (so that a router's table is read while it is in cache, instead of
/// once per walk that passes it: at 64k neurons 1 334 walks of ~1 400 routers, each lookup a few
/// cache misses into hash maps of ~40 MB in all) and stored one row per tag, which a walk then
/// reads instead of the tables. Two keys that agree on the care bits first-match the same entry
/// at every router, so the row of `key & care` is the key's own lookup.
#[derive(Debug)]
struct LookupMemo {
    /// The distinct `key & care`, ascending.
    tags: Vec<u32>,
    /// Row length: core ids of the system.
    width: usize,
    /// `dirs[tag index · width + core id]`: the matching entry's directions, or [`NO_MATCH`]
    /// (no table, or no entry matches).
    dirs: Vec<u8>,
}

/// [`LookupMemo::dirs`] of a router without a match (validated directions are below 32).
const NO_MATCH: u8 = u8::MAX;

/// Largest [`LookupMemo::dirs`] built, in bytes (tags × core ids); beyond it the walks look the
/// tables up themselves.
const MEMO_BYTES: usize = 1 << 26;

/// What a fault-free walk did that does not depend on the key beyond the tables' care bits:
/// the routers and links it passed (in walk order), its hops and link crossings, its drops off
/// the system edge, and the routers with a local output, in walk order with their latency.
/// Another key of the same tree differs only in which of those local cores map it to an axon.
#[derive(Debug, Default)]
struct WalkTrace {
    /// `(source core id, key & care)` of the walk, `None` before the first.
    tag: Option<(u32, u32)>,
    routers: Vec<u32>,
    links: Vec<u32>,
    hops: u32,
    link_crossings: u32,
    edge_drops: u64,
    locals: Vec<(u32, u64)>,
    /// Where the walk's router and link lists start in the table it was appended to: a replay
    /// that finds the same lists there points its source at them instead of copying them.
    at: (u32, u32),
    /// The deliveries of every key of the tree's block, built at the tree's first replay
    /// ([`Router::index_block`]); `None` until then, or where it does not apply.
    block: Option<BlockIndex>,
    /// Whether `block` was tried for this tree (it is built at most once per walk).
    block_tried: bool,
}

/// The keys that take one tree (those with the tag's care bits, when they are a contiguous
/// range) and what each delivers to: for every local output of the walk, in walk order, the
/// axon its core maps a key of the range to. A replay reads a key's deliveries here instead of
/// looking the key up in the axon map of every local core (at 64k neurons a core's tree has
/// ~1 300 local outputs, of which a key reaches ~80).
#[derive(Debug, Default)]
struct BlockIndex {
    /// First key of the range.
    lo: u32,
    /// `(key − lo, local output index, runtime core, axon)`, sorted by key, then local index.
    deliv: Vec<(u32, u32, u32, u32)>,
}

impl<'p> Router<'p> {
    pub fn new(program: &'p Program, costs: CostTable) -> Router<'p> {
        // A table of a core outside the system is never reached by a walk (which stays on the
        // global mesh), so it is left out.
        let total = program.chip.total_cores() as usize;
        let mut tables: Vec<Option<RouteIndex>> = (0..total).map(|_| None).collect();
        for t in &program.routes {
            if let Some(slot) = tables.get_mut(t.core.0 as usize) {
                *slot = Some(RouteIndex::new(&t.entries));
            }
        }
        let mut core_index = vec![NO_CORE; total];
        for (i, c) in program.cores.iter().enumerate() {
            if let Some(slot) = core_index.get_mut(c.id.0 as usize) {
                *slot = i as u32;
            }
        }
        let sorted_maps = program
            .cores
            .iter()
            .map(|c| {
                let mut v: Vec<(u32, u32, u32)> =
                    c.axon_map.iter().map(|m| (m.key_base, m.count, m.axon_base)).collect();
                v.sort_unstable();
                let disjoint = v.windows(2).all(|w| u64::from(w[0].0) + u64::from(w[0].1) <= u64::from(w[1].0));
                disjoint.then_some(v)
            })
            .collect();
        let care = program
            .routes
            .iter()
            .filter(|t| (t.core.0 as usize) < total)
            .flat_map(|t| t.entries.iter())
            .fold(0u32, |c, e| c | e.mask);
        Router {
            care,
            trace: WalkTrace::default(),
            reuse_walks: true,
            memo: None,
            memo_tried: false,
            finger: program.cores.iter().map(|_| std::cell::Cell::new(0)).collect(),
            spec: &program.chip,
            geo: Geometry::new(&program.chip),
            tables,
            visit: vec![0; total * 5],
            visit_gen: 0,
            stack: Vec::new(),
            core_index,
            sorted_maps,
            program,
            costs,
            dropped: 0,
            faults: None,
            tree: FaultTree::default(),
        }
    }

    /// The runtime core index of core id `id`, if it has one.
    fn core_idx(&self, id: u32) -> Option<u32> {
        self.core_index.get(id as usize).copied().filter(|&ci| ci != NO_CORE)
    }

    fn axon_of(&self, core_idx: u32, key: u32) -> Option<u32> {
        if let Some(Some(v)) = self.sorted_maps.get(core_idx as usize) {
            let i = self.finger.get(core_idx as usize).map_or_else(
                || v.partition_point(|e| e.0 <= key),
                |f| {
                    let i = finger_partition(v, f.get(), key);
                    f.set(i);
                    i
                },
            );
            let &(base, count, axon) = v.get(i.checked_sub(1)?)?;
            return (key - base < count).then(|| axon + (key - base));
        }
        let core = &self.program.cores[core_idx as usize];
        core.axon_map.iter().find_map(|m| {
            let off = key.checked_sub(m.key_base)?;
            (off < m.count).then(|| m.axon_base + off)
        })
    }

    /// Walk the tree of `key` injected at `source` and append it to `out`.
    pub fn resolve(&mut self, source: CoreId, key: u32, out: &mut FanoutTable) -> Result<(), EmuError> {
        if out.start.is_empty() {
            out.start.push(0);
        }
        let mut cost = MeshCost {
            routers_first: out.routers.len() as u32,
            links_first: out.links.len() as u32,
            ..MeshCost::default()
        };
        let Some(coord) = source.coord(self.spec) else {
            return Err(EmuError::Program(format!("source core {source} is outside the system")));
        };
        let start = self.geo.global(coord);
        let faulty = self.faults.is_some();
        let tag = Some((source.0, key & self.care));
        if !faulty && self.reuse_walks && self.trace.tag == tag {
            self.replay(key, out, &mut cost);
            out.mesh.push(cost);
            out.start.push(out.dest_core.len() as u32);
            return Ok(());
        }
        if !faulty {
            let t = &mut self.trace;
            t.tag = None;
            t.locals.clear();
            t.edge_drops = 0;
            t.block = None;
            t.block_tried = false;
        }
        if faulty && self.tree.hop_start.is_empty() {
            self.tree.hop_start.push(0);
        }
        let (mut lost_core, mut lost_link) = (0u32, 0u32);
        // (gx, gy, travel dir bit or 0, latency so far, hops so far, last lossy hop, fault state:
        // 0 alive, 1 through a dead core, 2 across a dead link)
        let mut stack = std::mem::take(&mut self.stack);
        stack.clear();
        stack.push((start.0, start.1, 0, 0, 0, u32::MAX, 0));
        self.visit_gen = self.visit_gen.wrapping_add(1);
        if self.visit_gen == 0 {
            self.visit.fill(0);
            self.visit_gen = 1;
        }
        if self.reuse_walks && !self.memo_tried {
            self.memo_tried = true;
            self.memo = self.build_memo();
        }
        // The memo's row of this key (taken out of `self` while the walk borrows it mutably).
        let memo = if self.reuse_walks { self.memo.take() } else { None };
        let row = memo.as_ref().and_then(|m| {
            let ti = m.tags.binary_search(&(key & self.care)).ok()?;
            m.dirs.get(ti * m.width..(ti + 1) * m.width)
        });
        let result = self.walk(source, key, out, &mut cost, &mut stack, &mut lost_core, &mut lost_link, row);
        self.memo = memo;
        self.stack = stack;
        result?;
        if !faulty {
            let t = &mut self.trace;
            let (r0, l0) = (cost.routers_first as usize, cost.links_first as usize);
            t.routers.clear();
            t.routers.extend_from_slice(&out.routers[r0..]);
            t.links.clear();
            t.links.extend_from_slice(&out.links[l0..]);
            (t.hops, t.link_crossings) = (cost.hops, cost.link_crossings);
            t.at = (r0 as u32, l0 as u32);
            t.tag = tag;
        }
        out.mesh.push(cost);
        out.start.push(out.dest_core.len() as u32);
        if faulty {
            self.tree.hop_start.push(self.tree.hop_parent.len() as u32);
            self.tree.lost_core.push(lost_core);
            self.tree.lost_link.push(lost_link);
        }
        Ok(())
    }

    /// [`Router::walk`] for `key`, a key of the tree in `self.trace`: the same routers, links,
    /// hops and edge drops, and at each local output the key's own axon lookup.
    fn replay(&mut self, key: u32, out: &mut FanoutTable, cost: &mut MeshCost) {
        let t = &self.trace;
        // The keys of a core share their tree: one copy of its lists (checked, since the walk
        // may have been appended to another table).
        let (r0, l0) = (t.at.0 as usize, t.at.1 as usize);
        if out.routers.get(r0..r0 + t.routers.len()) == Some(&t.routers[..])
            && out.links.get(l0..l0 + t.links.len()) == Some(&t.links[..])
        {
            (cost.routers_first, cost.links_first) = t.at;
        } else {
            out.routers.extend_from_slice(&t.routers);
            out.links.extend_from_slice(&t.links);
        }
        cost.routers_len = t.routers.len() as u32;
        cost.links_len = t.links.len() as u32;
        (cost.hops, cost.link_crossings) = (t.hops, t.link_crossings);
        let mut dropped = t.edge_drops;
        if !self.trace.block_tried {
            self.trace.block_tried = true;
            self.trace.block = self.index_block();
        }
        let t = &self.trace;
        if let Some(b) = &t.block {
            let off = key.wrapping_sub(b.lo);
            let i = b.deliv.partition_point(|d| d.0 < off);
            let mut found = 0u64;
            for &(_, j, ci, axon) in b.deliv[i..].iter().take_while(|d| d.0 == off) {
                out.dest_core.push(ci);
                out.dest_axon.push(axon);
                cost.latency = cost.latency.max(t.locals[j as usize].1);
                found += 1;
            }
            self.dropped += dropped + t.locals.len() as u64 - found;
            return;
        }
        for &(id, lat) in &t.locals {
            match self.core_idx(id).and_then(|ci| self.axon_of(ci, key).map(|a| (ci, a))) {
                Some((ci, axon)) => {
                    out.dest_core.push(ci);
                    out.dest_axon.push(axon);
                    cost.latency = cost.latency.max(lat);
                }
                None => dropped += 1,
            }
        }
        self.dropped += dropped;
    }

    /// The [`BlockIndex`] of the tree in `self.trace`, if the keys with its tag are one range
    /// (the care bits are high bits) and every local core's axon map is sorted and disjoint (as
    /// [`Router::axon_of`] then reads it: a key maps where an entry's range holds it). Each
    /// key's deliveries are then those of `axon_of` at each local output, in walk order.
    fn index_block(&self) -> Option<BlockIndex> {
        let t = &self.trace;
        let (_, tag) = t.tag?;
        let span = (!self.care).checked_add(1);
        if span.is_some_and(|s| !s.is_power_of_two()) {
            return None;
        }
        // The range `lo .. lo + span` (`span` = 2^32 when nothing is cared about).
        let (lo, hi) = (u64::from(tag), u64::from(tag) + span.map_or(1 << 32, u64::from));
        let mut deliv = Vec::new();
        for (j, &(id, _)) in t.locals.iter().enumerate() {
            let Some(ci) = self.core_idx(id) else { continue };
            let v = self.sorted_maps.get(ci as usize)?.as_ref()?;
            // The entries overlapping the range: the last one starting at or below `lo` (if it
            // reaches into the range), then those starting inside it. Blocks are indexed in
            // ascending key order, so the core's finger is usually just below `lo`.
            let f = self.finger.get(ci as usize);
            let p = f.map_or_else(|| v.partition_point(|e| e.0 <= tag), |f| finger_partition(v, f.get(), tag));
            let first = p.saturating_sub(1);
            let mut end = first;
            for &(base, count, axon) in v[first..].iter().take_while(|e| u64::from(e.0) < hi) {
                let (b, e) = (u64::from(base).max(lo), (u64::from(base) + u64::from(count)).min(hi));
                for k in b..e {
                    deliv.push(((k - lo) as u32, j as u32, ci, axon + (k - u64::from(base)) as u32));
                }
                end += 1;
            }
            if let Some(f) = f {
                f.set(end.max(p));
            }
        }
        deliv.sort_unstable_by_key(|d| (d.0, d.1));
        Some(BlockIndex { lo: tag, deliv })
    }

    /// The [`LookupMemo`] of the program's sources (neurons and input channels), unless its
    /// size exceeds [`MEMO_BYTES`] or a table entry's directions collide with [`NO_MATCH`].
    fn build_memo(&self) -> Option<LookupMemo> {
        let width = self.tables.len();
        let p = self.program;
        let neuron_keys = p.cores.iter().flat_map(|c| (0..c.neurons.len() as u32).map(|i| c.key_base.wrapping_add(i)));
        let input_keys = p.inputs.iter().flat_map(|s| (0..s.channels).map(|ch| s.key_base.wrapping_add(ch)));
        let mut tags: Vec<u32> = neuron_keys.chain(input_keys).map(|k| k & self.care).collect();
        tags.sort_unstable();
        tags.dedup();
        if tags.len().checked_mul(width)? > MEMO_BYTES {
            return None;
        }
        let tables = self.tables.iter().flatten();
        if tables.flat_map(|t| t.entries.iter()).any(|e| e.dirs.0 == NO_MATCH) {
            return None;
        }
        let mut dirs = vec![NO_MATCH; tags.len() * width];
        for (id, t) in self.tables.iter().enumerate() {
            let Some(t) = t else { continue };
            for (ti, &tag) in tags.iter().enumerate() {
                if let Some(e) = t.lookup(tag) {
                    dirs[ti * width + id] = e.dirs.0;
                }
            }
        }
        Some(LookupMemo { tags, width, dirs })
    }

    /// The walk of [`Router::resolve`] from the packets on `stack`, reading each router's match
    /// from `row` (the key's [`LookupMemo`] row), or from the tables where there is none.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn walk(
        &mut self,
        source: CoreId,
        key: u32,
        out: &mut FanoutTable,
        cost: &mut MeshCost,
        stack: &mut Vec<(i64, i64, u8, u64, u32, u32, u8)>,
        lost_core: &mut u32,
        lost_link: &mut u32,
        row: Option<&[u8]>,
    ) -> Result<(), EmuError> {
        while let Some((gx, gy, dir, lat, hops, hop, mut dead)) = stack.pop() {
            // The walk stays on the mesh (pushes are bounds-checked): the slot exists.
            let slot =
                ((gy * self.geo.gw + gx) as usize) * 5 + if dir == 0 { 0 } else { dir.trailing_zeros() as usize };
            let fresh = self.visit.get(slot).is_some_and(|&g| g != self.visit_gen);
            if let (true, Some(v)) = (fresh, self.visit.get_mut(slot)) {
                *v = self.visit_gen;
            }
            if !fresh {
                return Err(EmuError::Routing(format!(
                    "routing loop for key {key:#x} from core {source} (router at global ({gx}, {gy}) reached twice)"
                )));
            }
            let id = self.geo.id(self.spec, gx, gy);
            let entry = match row {
                Some(r) => r.get(id.0 as usize).copied().filter(|&d| d != NO_MATCH).map(Dirs),
                None => {
                    self.tables.get(id.0 as usize).and_then(Option::as_ref).and_then(|t| t.lookup(key)).map(|e| e.dirs)
                }
            };
            let dirs = match entry {
                Some(d) => d,
                None if dir == 0 => continue, // no targets at the source
                None => Dirs(dir),
            };
            if dirs.0 != 0 {
                out.routers.push(id.0);
                cost.routers_len += 1;
            }
            if dead == 0 && self.faults.as_ref().is_some_and(|f| f.core_dead(id.0)) {
                dead = 1;
            }
            if dirs.contains(Dirs::LOCAL) {
                if self.faults.is_none() {
                    self.trace.locals.push((id.0, lat));
                }
                match self.core_idx(id.0).and_then(|ci| self.axon_of(ci, key).map(|a| (ci, a))) {
                    Some(_) if dead == 1 => *lost_core += 1,
                    Some(_) if dead == 2 => *lost_link += 1,
                    Some((ci, axon)) => {
                        out.dest_core.push(ci);
                        out.dest_axon.push(axon);
                        cost.latency = cost.latency.max(lat);
                        if let Some(f) = &self.faults {
                            // The last link, from the router into its core.
                            let h = self.lossy_hop(hop, f.packet_drop);
                            self.tree.dest_hop.push(h);
                        }
                    }
                    None => self.dropped += 1,
                }
            }
            for &(bit, dx, dy) in CARDINALS.iter().rev() {
                if dirs.0 & bit == 0 {
                    continue;
                }
                let (nx, ny) = (gx + dx, gy + dy);
                if nx < 0 || ny < 0 || nx >= self.geo.gw || ny >= self.geo.gh {
                    self.dropped += 1;
                    self.trace.edge_drops += 1;
                    continue;
                }
                let crosses = nx.div_euclid(self.geo.width) != gx.div_euclid(self.geo.width)
                    || ny.div_euclid(self.geo.height) != gy.div_euclid(self.geo.height);
                let (mut nhop, mut ndead) = (hop, dead);
                if let (Some(f), 0) = (&self.faults, dead) {
                    let d = Dir::from_bit(bit).unwrap_or(Dir::North);
                    if f.link_dead(self.spec, id.0, d) {
                        ndead = 2;
                    } else {
                        let loss = f.link_loss(self.spec, id.0, d);
                        nhop = self.lossy_hop(hop, loss);
                    }
                }
                let mut nlat = lat + self.costs.router_hop;
                cost.hops += 1;
                if crosses {
                    let chip = id.0 / self.spec.cores_per_chip();
                    out.links.push(chip * 4 + bit.trailing_zeros() - 1);
                    cost.links_len += 1;
                    cost.link_crossings += 1;
                    nlat += self.costs.link_latency;
                }
                stack.push((nx, ny, bit, nlat, hops + 1, nhop, ndead));
            }
        }
        Ok(())
    }

    /// A new lossy hop below `parent` when `loss > 0` (else the path keeps `parent`).
    fn lossy_hop(&mut self, parent: u32, loss: f64) -> u32 {
        let q = p_q32(loss);
        if q == 0 {
            return parent;
        }
        self.tree.hop_parent.push(parent);
        self.tree.hop_q32.push(q);
        self.tree.hop_parent.len() as u32 - 1
    }

    /// Deliveries of the last resolved source lost to dead cores or links.
    pub fn last_static_lost(&self) -> u32 {
        match (self.tree.lost_core.last(), self.tree.lost_link.last()) {
            (Some(a), Some(b)) => a + b,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nm_isa::rng::HwRng;

    /// The finger search finds the partition point of a binary search from any hint.
    #[test]
    fn finger_partition_equals_partition_point() {
        let mut r = HwRng::new(3, 2);
        for _ in 0..300 {
            let mut v: Vec<(u32, u32, u32)> = (0..r.next_u32() % 70).map(|_| (r.next_u32() % 200, 0, 0)).collect();
            v.sort_unstable();
            for _ in 0..40 {
                let (key, hint) = (r.next_u32() % 220, (r.next_u32() % 80) as usize);
                assert_eq!(finger_partition(&v, hint, key), v.partition_point(|e| e.0 <= key), "{v:?} {hint} {key}");
            }
        }
    }

    /// Two routers sending a key to each other are a routing loop: refused at load, naming the
    /// key and the router reached twice.
    #[test]
    fn a_routing_loop_is_refused() {
        use crate::netbuild::{lif_profile, NetBuilder, Pre};
        use nm_isa::neuron::NeuronConfig;
        use nm_isa::program::{RouteTable, SynKind};
        let mut b = NetBuilder::new(ChipSpec::default_profile(), "loop", 100_000);
        let mut cores = Vec::new();
        for core in [0u32, 1] {
            let pr = b.add_profile(core, lif_profile(300, 300, 2, 0));
            let g = b.add_group(core, 0, SynKind::Current, None, 0);
            let n = b.add_neuron(core, NeuronConfig { profile: pr, bias: 0, v_th: 1000, v_init: 0 });
            cores.push((n, g));
        }
        b.connect(Pre::Neuron(cores[0].0), cores[1].0, 100, 1, cores[1].1);
        let mut prog = b.build();
        let (a, c) = (prog.cores[0].id, prog.cores[1].id);
        let key = prog.cores[0].key_base;
        let ca = a.coord(&prog.chip).unwrap();
        let cc = c.coord(&prog.chip).unwrap();
        // Core 1 sits east of core 0 on the default placement of the builder.
        assert_eq!((cc.x, cc.y), (ca.x + 1, ca.y));
        prog.routes = vec![
            RouteTable { core: a, entries: vec![RouteEntry { key, mask: u32::MAX, dirs: Dirs::EAST }] },
            RouteTable { core: c, entries: vec![RouteEntry { key, mask: u32::MAX, dirs: Dirs::WEST }] },
        ];
        let costs = CostTable::new(&prog.chip);
        let mut router = Router::new(&prog, costs);
        let mut out = FanoutTable::default();
        match router.resolve(a, key, &mut out) {
            Err(EmuError::Routing(m)) => assert!(m.contains("routing loop") && m.contains("reached twice"), "{m}"),
            other => panic!("expected a routing loop, got {other:?}"),
        }
        // With core 1 delivering locally there is no loop, and walking the same key twice is not
        // one either (each walk has its own visit stamps).
        prog.routes[1].entries[0].dirs = Dirs::LOCAL;
        let mut router = Router::new(&prog, costs);
        assert!(router.resolve(a, key, &mut out).is_ok());
        assert!(router.resolve(a, key, &mut out).is_ok(), "a second walk of the same key is not a loop");
    }

    /// Packing router lists into bitsets keeps every source's routers, each as often as listed.
    #[test]
    fn packed_routers_are_the_listed_ones() {
        let mut r = HwRng::new(9, 4);
        let mut fan = FanoutTable::default();
        let mut lists = Vec::new();
        for _ in 0..400 {
            let span = 1 + r.next_u32() % 900;
            let base = r.next_u32() % 3000;
            let list: Vec<u32> = (0..r.next_u32() % 60).map(|_| base + r.next_u32() % span).collect();
            fan.mesh.push(MeshCost {
                routers_first: fan.routers.len() as u32,
                routers_len: list.len() as u32,
                ..MeshCost::default()
            });
            fan.routers.extend_from_slice(&list);
            lists.push(list);
        }
        fan.pack_router_bits();
        let mut packed = 0;
        for (src, list) in lists.iter().enumerate() {
            let mut got: Vec<u32> = match fan.routers_of(src) {
                crate::timing::Routers::List(rs) => rs.to_vec(),
                crate::timing::Routers::Bits { word0, bits } => {
                    packed += 1;
                    (0..bits.len() * 64)
                        .filter(|&b| bits[b / 64] >> (b % 64) & 1 == 1)
                        .map(|b| (word0 * 64 + b) as u32)
                        .collect()
                }
            };
            let mut want = list.clone();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "source {src}");
        }
        assert!(packed > 50 && packed < 400, "{packed} of 400 packed: both forms should occur");
    }

    /// The indexed first-match lookup equals a scan of the table in order, on random tables
    /// with few and many distinct masks, overlapping entries and keys near the entries.
    #[test]
    fn indexed_lookup_is_the_first_match() {
        let mut r = HwRng::new(7, 1);
        for case in 0..200u32 {
            let masks: Vec<u32> = (0..1 + case % 40).map(|_| r.next_u32() | 0xFFFF_0000).collect();
            let entries: Vec<RouteEntry> = (0..1 + r.next_u32() % 300)
                .map(|k| {
                    let mask = masks[(r.next_u32() as usize) % masks.len()];
                    RouteEntry { key: r.next_u32() & mask & 0x00FF_FFFF, mask, dirs: Dirs((k % 31 + 1) as u8) }
                })
                .collect();
            let idx = RouteIndex::new(&entries);
            for _ in 0..300 {
                let base = entries[(r.next_u32() as usize) % entries.len()].key;
                let key = if r.next_u32().is_multiple_of(2) {
                    base ^ (r.next_u32() & 0xFF)
                } else {
                    r.next_u32() & 0x00FF_FFFF
                };
                let scan = entries.iter().find(|e| key & e.mask == e.key);
                assert_eq!(idx.lookup(key), scan, "case {case}, key {key:#x}");
            }
        }
    }
}
