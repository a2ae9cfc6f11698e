//! Keys and multicast routing: key assignment (core `c` sends `c << key_shift | local index`,
//! inputs get aligned ranges above), dimension-order (XY) multicast trees, per-router tables,
//! exact compression (default-routed entries dropped, key/mask merging), ordered covering
//! ([`nm_isa::routemin`]) for tables still over the chip's limit, and a packet-level simulator
//! of the routing semantics of `nm_isa::program` used to check equivalence.

use crate::ir::{CompileError, Endpoint, InputId, Ir, RouteStats};
use crate::map::Grid;
use nm_isa::faults::{Dir, FaultIndex};
use nm_isa::ids::CoreId;
use nm_isa::program::{Dirs, RouteEntry, RouteTable};
use nm_isa::routemin::{ordered_covering, Need, Want};
use nm_isa::ChipSpec;
use std::collections::BTreeMap;

/// Bits of the local neuron index in a key.
pub fn key_shift(spec: &ChipSpec) -> u32 {
    32 - (spec.core.max_neurons.max(2) - 1).leading_zeros()
}

/// The `keys` pass: key layout and input injection cores.
pub fn assign_keys(ir: Ir, spec: &ChipSpec) -> Result<Ir, CompileError> {
    assign_keys_avoiding(ir, spec, &[])
}

/// [`assign_keys`] injecting no input at a core marked dead (`dead[c]`).
pub fn assign_keys_avoiding(mut ir: Ir, spec: &ChipSpec, dead: &[bool]) -> Result<Ir, CompileError> {
    let shift = key_shift(spec);
    let mut next: u64 = u64::from(spec.total_cores()) << shift;
    if next > 1u64 << 32 {
        return Err(CompileError::DoesNotFit {
            limit: "key space",
            place: format!("chip `{}`", spec.name),
            needed: next,
            available: 1 << 32,
            hint: "the system's cores x neurons per core exceed 32-bit spike keys; use a smaller system".into(),
        });
    }
    let grid = Grid::new(spec);
    let tables = crate::map::slice_tables(&ir);
    for i in ir.input_ids().collect::<Vec<_>>() {
        let ch = u64::from(ir.input(i).channels);
        let size = ch.next_power_of_two();
        let base = next.div_ceil(size) * size;
        next = base + size;
        if next > (1u64 << 32) {
            return Err(CompileError::DoesNotFit {
                limit: "key space",
                place: format!("input `{}`", ir.input(i).name),
                needed: next,
                available: 1 << 32,
                hint: "too many cores and input channels for 32-bit keys; use fewer input channels".into(),
            });
        }
        let mut inject = inject_core(&ir, spec, &grid, &tables, i);
        if dead.get(inject as usize).copied().unwrap_or(false) {
            let (x, y, _, _) = grid.pos[inject as usize];
            let alive = |c: u32| !dead.get(c as usize).copied().unwrap_or(false);
            inject = grid
                .around(x, y, 1, alive)
                .into_iter()
                .min_by_key(|&c| {
                    let (cx, cy, _, _) = grid.pos[c as usize];
                    ((cx - x).abs() + (cy - y).abs(), c)
                })
                .ok_or_else(|| CompileError::Faults("every core of the system is dead".into()))?;
        }
        let inp = ir.input_mut(i);
        inp.key_base = Some(base as u32);
        inp.inject_core = Some(CoreId(inject));
    }
    ir.key_shift = Some(shift);
    Ok(ir)
}

/// The core nearest the synapse-weighted centroid of an input's targets.
fn inject_core(ir: &Ir, spec: &ChipSpec, grid: &Grid, tables: &[Vec<u32>], i: InputId) -> u32 {
    let (mut x, mut y, mut w) = (0.0, 0.0, 0.0);
    for j in ir.projs_from(Endpoint::Input(i)) {
        let pj = ir.proj(j);
        let t = &tables[pj.post.index()];
        let mut count: BTreeMap<u32, f64> = BTreeMap::new();
        for &post in &pj.conn.post {
            *count.entry(t[post as usize]).or_insert(0.0) += 1.0;
        }
        for (s, n) in count {
            let c = ir.slices[s as usize].core.map_or(0, |c| c.0);
            let (gx, gy, _, _) = grid.pos[c as usize];
            x += n * f64::from(gx);
            y += n * f64::from(gy);
            w += n;
        }
    }
    if w == 0.0 {
        return 0;
    }
    grid.at((x / w).round() as i32, (y / w).round() as i32).unwrap_or(0).min(spec.total_cores() - 1)
}

/// One routed key block: keys `key .. key + !mask + 1` (aligned) leave router `src` for `dests`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub key: u32,
    pub mask: u32,
    pub src: u32,
    /// Destination cores, sorted.
    pub dests: Vec<u32>,
}

/// Split `[lo, hi)` into maximal aligned power-of-two blocks `(key, mask)`.
pub fn aligned_blocks(lo: u64, hi: u64) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut a = lo;
    while a < hi {
        let mut size = if a == 0 { 1u64 << 32 } else { 1u64 << a.trailing_zeros() };
        while a + size > hi {
            size >>= 1;
        }
        out.push((a as u32, !((size - 1) as u32)));
        a += size;
    }
    out
}

/// Every key block of the IR with its destination cores (empty for neurons without targets).
pub fn sources(ir: &Ir, spec: &ChipSpec) -> Vec<Source> {
    sources_with(ir, spec, false)
}

/// [`sources`]; with `whole_slices`, every block of a slice (or input) that has targets takes the
/// union of the slice's destinations, so that the slice has one tree: fewer, coarser entries,
/// at the price of packets delivered to cores whose axon map drops them.
pub fn sources_with(ir: &Ir, spec: &ChipSpec, whole_slices: bool) -> Vec<Source> {
    let shift = ir.key_shift.unwrap_or_else(|| key_shift(spec));
    let tables = crate::map::slice_tables(ir);
    let core_of_slice: Vec<u32> = ir.slices.iter().map(|s| s.core.map_or(0, |c| c.0)).collect();
    let mut stamp = vec![u32::MAX; spec.total_cores() as usize];
    let mut block_id = 0u32;
    let mut out = Vec::new();
    let mut blocks_of = |e: Endpoint, lo_idx: u32, base: u64, len: u32, src: u32, out: &mut Vec<Source>| {
        let projs = ir.projs_from(e);
        let start = out.len();
        for (key, mask) in aligned_blocks(base, base + u64::from(len)) {
            block_id += 1;
            let size = u64::from(!mask) + 1;
            let first = lo_idx as u64 + (u64::from(key) - base);
            let mut dests = Vec::new();
            for &j in &projs {
                let pj = ir.proj(j);
                let t = &tables[pj.post.index()];
                for pre in first..first + size {
                    for &post in pj.conn.row_posts(pre as u32) {
                        let c = core_of_slice[t[post as usize] as usize];
                        if stamp[c as usize] != block_id {
                            stamp[c as usize] = block_id;
                            dests.push(c);
                        }
                    }
                }
            }
            dests.sort_unstable();
            out.push(Source { key, mask, src, dests });
        }
        // Blocks whose destinations are most of the range's union take the union, so that their
        // trees coincide and their entries merge (a few packets more reach cores that drop them).
        let mut union: Vec<u32> = out[start..].iter().flat_map(|s| s.dests.iter().copied()).collect();
        union.sort_unstable();
        union.dedup();
        for s in &mut out[start..] {
            if !s.dests.is_empty() && (whole_slices || 4 * s.dests.len() >= 3 * union.len()) {
                s.dests.clone_from(&union);
            }
        }
    };
    for sl in &ir.slices {
        let c = sl.core.map_or(0, |c| c.0);
        let base = (u64::from(c) << shift) + u64::from(sl.first);
        blocks_of(Endpoint::Pop(sl.pop), sl.offset, base, sl.len, c, &mut out);
    }
    for i in ir.input_ids() {
        let inp = ir.input(i);
        let (Some(k), Some(c)) = (inp.key_base, inp.inject_core) else { continue };
        blocks_of(Endpoint::Input(i), 0, u64::from(k), inp.channels, c.0, &mut out);
    }
    out
}

/// Direction from `a` to its neighbour `b` on the global mesh.
fn step_toward(grid: &Grid, at: u32, tx: i32, ty: i32) -> Option<(Dirs, u32)> {
    let (x, y, _, _) = grid.pos[at as usize];
    let (d, nx, ny) = if tx > x {
        (Dirs::EAST, x + 1, y)
    } else if tx < x {
        (Dirs::WEST, x - 1, y)
    } else if ty > y {
        (Dirs::NORTH, x, y + 1)
    } else if ty < y {
        (Dirs::SOUTH, x, y - 1)
    } else {
        return None;
    };
    grid.at(nx, ny).map(|n| (d, n))
}

/// The neighbour of `at` in direction `d`, if inside the mesh.
fn neighbour(grid: &Grid, at: u32, d: Dirs) -> Option<u32> {
    let (x, y, _, _) = grid.pos[at as usize];
    match d {
        Dirs::EAST => grid.at(x + 1, y),
        Dirs::WEST => grid.at(x - 1, y),
        Dirs::NORTH => grid.at(x, y + 1),
        Dirs::SOUTH => grid.at(x, y - 1),
        _ => None,
    }
}

/// An uncompressed entry and the direction the packet travels when it arrives (`None` at the source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEntry {
    pub core: u32,
    pub entry: RouteEntry,
    pub arriving: Option<Dirs>,
}

/// The XY multicast tree of every source: one entry at every router the tree touches.
pub fn xy_entries(grid: &Grid, sources: &[Source]) -> Vec<RawEntry> {
    let mut out = Vec::new();
    for s in sources.iter().filter(|s| !s.dests.is_empty()) {
        let mut tree: BTreeMap<u32, (u8, Option<Dirs>)> = BTreeMap::new();
        tree.insert(s.src, (0, None));
        for &d in &s.dests {
            let (tx, ty, _, _) = grid.pos[d as usize];
            let mut at = s.src;
            while let Some((dir, next)) = step_toward(grid, at, tx, ty) {
                tree.entry(at).or_insert((0, None)).0 |= dir.0;
                tree.entry(next).or_insert((0, Some(dir)));
                at = next;
            }
            tree.entry(d).or_insert((0, None)).0 |= Dirs::LOCAL.0;
        }
        for (core, (dirs, arriving)) in tree {
            out.push(RawEntry { core, entry: RouteEntry { key: s.key, mask: s.mask, dirs: Dirs(dirs) }, arriving });
        }
    }
    out
}

/// A tree `core → (outputs, arriving direction)` as raw entries.
fn tree_entries(s: &Source, tree: BTreeMap<u32, (u8, Option<Dirs>)>, out: &mut Vec<RawEntry>) {
    for (core, (dirs, arriving)) in tree {
        out.push(RawEntry { core, entry: RouteEntry { key: s.key, mask: s.mask, dirs: Dirs(dirs) }, arriving });
    }
}

/// Whether the tree touches a dead router or crosses a dead link.
fn tree_is_faulty(spec: &ChipSpec, faults: &FaultIndex, tree: &BTreeMap<u32, (u8, Option<Dirs>)>) -> bool {
    tree.iter().any(|(&c, &(dirs, _))| {
        faults.core_dead(c) || Dir::ALL.iter().any(|&d| dirs & d.bit().0 != 0 && faults.link_dead(spec, c, d))
    })
}

/// Multicast trees that avoid dead routers and links: the XY tree of a source when it touches
/// no dead part, else the union of breadth-first shortest paths over the live mesh (ties broken
/// by the fixed direction order east, west, north, south). A destination that cannot be reached
/// is an error naming it and why.
pub fn fault_aware_entries(
    grid: &Grid,
    spec: &ChipSpec,
    faults: &FaultIndex,
    sources: &[Source],
) -> Result<Vec<RawEntry>, CompileError> {
    let mut out = Vec::new();
    for s in sources.iter().filter(|s| !s.dests.is_empty()) {
        let xy = xy_entries(grid, std::slice::from_ref(s));
        let mut tree: BTreeMap<u32, (u8, Option<Dirs>)> = BTreeMap::new();
        for r in &xy {
            tree.insert(r.core, (r.entry.dirs.0, r.arriving));
        }
        if !tree_is_faulty(spec, faults, &tree) {
            out.extend(xy);
            continue;
        }
        if faults.core_dead(s.src) {
            return Err(CompileError::Faults(format!("key block {:#x} is sent from dead core{}", s.key, s.src)));
        }
        // Breadth-first search from the source over live routers and links.
        let n = grid.pos.len();
        let mut parent: Vec<Option<(u32, Dir)>> = vec![None; n];
        let mut seen = vec![false; n];
        seen[s.src as usize] = true;
        let mut queue = std::collections::VecDeque::from([s.src]);
        while let Some(c) = queue.pop_front() {
            for d in [Dir::East, Dir::West, Dir::North, Dir::South] {
                let Some(nb) = neighbour(grid, c, d.bit()) else { continue };
                if seen[nb as usize] || faults.core_dead(nb) || faults.link_dead(spec, c, d) {
                    continue;
                }
                seen[nb as usize] = true;
                parent[nb as usize] = Some((c, d));
                queue.push_back(nb);
            }
        }
        let mut tree: BTreeMap<u32, (u8, Option<Dirs>)> = BTreeMap::new();
        tree.insert(s.src, (0, None));
        for &d in &s.dests {
            if faults.core_dead(d) {
                return Err(CompileError::Faults(format!(
                    "key block {:#x} from core{} has targets on dead core{d}",
                    s.key, s.src
                )));
            }
            if !seen[d as usize] {
                let live = Dir::ALL
                    .iter()
                    .filter(|&&x| {
                        neighbour(grid, d, x.bit())
                            .is_some_and(|nb| !faults.core_dead(nb) && !faults.link_dead(spec, d, x))
                    })
                    .count();
                let why = if live == 0 {
                    "every link of the destination is dead or leads to a dead core".to_string()
                } else {
                    "the dead cores and links cut the mesh between them".to_string()
                };
                return Err(CompileError::Faults(format!("no live route from core{} to core{d}: {why}", s.src)));
            }
            let mut at = d;
            tree.entry(d).or_insert((0, None)).0 |= Dirs::LOCAL.0;
            while let Some((p, dir)) = parent[at as usize] {
                let e = tree.entry(at).or_insert((0, None));
                e.1 = Some(dir.bit());
                tree.entry(p).or_insert((0, None)).0 |= dir.bit().0;
                at = p;
            }
        }
        tree_entries(s, tree, &mut out);
    }
    Ok(out)
}

/// Uncompressed tables, one per router that has entries, sorted by core then key.
pub fn uncompressed_tables(raw: &[RawEntry]) -> Vec<RouteTable> {
    let mut by: BTreeMap<u32, Vec<RouteEntry>> = BTreeMap::new();
    for r in raw {
        by.entry(r.core).or_default().push(r.entry);
    }
    by.into_iter()
        .map(|(c, mut e)| {
            e.sort_by_key(|x| (x.key, x.mask));
            RouteTable { core: CoreId(c), entries: e }
        })
        .collect()
}

/// What a key block at a router must keep doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    /// Matched by an entry with these outputs.
    Out(u8),
    /// Passes straight on in direction `d` by default routing; may also match an entry `Out(d)`.
    Straight(u8),
    /// Arrives at its source router without targets: must match nothing.
    NoMatch,
}

/// Compressed tables. Entries that only pass a packet straight on are left to default routing;
/// then each entry grows to its parent block (one more don't-care bit) whenever every key of
/// that block that can reach the router is matched by an entry with the same outputs, absorbing
/// them. Keys that never reach a router (unused neuron indices, padding of input ranges, keys of
/// other regions of the mesh) are don't-cares. So every key that reaches a router matches an
/// entry with the same outputs as before, or is passed straight on exactly as before.
pub fn compress(raw: &[RawEntry], sources: &[Source]) -> Vec<RouteTable> {
    compress_with(raw, sources, ORDERED_COVER_FROM)
}

/// Routers with more entries than this after exact merging also get ordered covering.
pub const ORDERED_COVER_FROM: usize = 32;

/// Most present key intervals examined for one candidate block of ordered covering.
const SCAN_CAP: usize = 128;

/// [`compress`], with ordered covering for routers that keep more than `ordered_from` entries
/// after exact merging: an entry may grow over keys that smaller entries (earlier in the table,
/// which is ordered by block size) already decide, so the first matching entry of every key
/// that reaches the router keeps its outputs.
pub fn compress_with(raw: &[RawEntry], sources: &[Source], ordered_from: usize) -> Vec<RouteTable> {
    // Without a limit ordered covering (the only fallible step) never runs.
    compress_within(raw, sources, ordered_from, usize::MAX).unwrap_or_default()
}

/// [`compress_with`], then, for every router whose table still has more than `limit` entries,
/// ordered covering in the sense of Mundy et al. 2016 ([`nm_isa::routemin::ordered_covering`])
/// over the router's exact required behaviour (every key block that reaches it, with the outputs
/// it needs, the direction it is passed straight on in, or "match nothing" at its source),
/// stopping at `limit` entries; the result replaces the table only if it is shorter, and it is
/// checked block by block against the required behaviour before it is returned.
pub fn compress_within(
    raw: &[RawEntry],
    sources: &[Source],
    ordered_from: usize,
    limit: usize,
) -> Result<Vec<RouteTable>, CompileError> {
    compress_inner(raw, sources, ordered_from, limit, false).map(|(t, _)| t)
}

/// [`compress_within`]; with `stop_on_overflow`, returns as soon as one table stays over `limit`
/// (the tables then are incomplete). The flag says whether a table stayed over the limit.
fn compress_inner(
    raw: &[RawEntry],
    sources: &[Source],
    ordered_from: usize,
    limit: usize,
    stop_on_overflow: bool,
) -> Result<(Vec<RouteTable>, bool), CompileError> {
    let mut over = false;
    // Per router: disjoint key intervals [lo, hi) -> tag.
    let mut by: BTreeMap<u32, BTreeMap<u64, (u64, Tag)>> = BTreeMap::new();
    let span = |key: u32, mask: u32| (u64::from(key), u64::from(key) + u64::from(!mask) + 1);
    for r in raw {
        let (lo, hi) = span(r.entry.key, r.entry.mask);
        let tag = match r.arriving {
            Some(d) if r.entry.dirs == d => Tag::Straight(d.0),
            _ => Tag::Out(r.entry.dirs.0),
        };
        by.entry(r.core).or_default().insert(lo, (hi, tag));
    }
    for s in sources.iter().filter(|s| s.dests.is_empty()) {
        let (lo, hi) = span(s.key, s.mask);
        by.entry(s.src).or_default().insert(lo, (hi, Tag::NoMatch));
    }
    let mut out = Vec::new();
    for (core, mut iv) in by {
        let mut work: Vec<u64> = iv.iter().filter(|(_, (_, t))| matches!(t, Tag::Out(_))).map(|(&lo, _)| lo).collect();
        while let Some(lo) = work.pop() {
            let Some(&(hi, Tag::Out(d))) = iv.get(&lo) else { continue };
            let size = hi - lo;
            if size >= 1 << 32 {
                continue;
            }
            let plo = lo & !(2 * size - 1);
            let phi = plo + 2 * size;
            // Every interval meeting the parent block must be inside it with the same outputs.
            let ok = iv
                .range(..phi)
                .rev()
                .take_while(|(_, &(h, _))| h > plo)
                .all(|(&l, &(h, t))| l >= plo && h <= phi && (t == Tag::Out(d) || t == Tag::Straight(d)));
            if !ok {
                continue;
            }
            let inside: Vec<u64> = iv.range(plo..phi).map(|(&l, _)| l).collect();
            for l in inside {
                iv.remove(&l);
            }
            iv.insert(plo, (phi, Tag::Out(d)));
            work.push(plo);
        }
        let outs = iv.values().filter(|(_, t)| matches!(t, Tag::Out(_))).count();
        let mut entries = if outs > ordered_from {
            ordered_cover(&iv)
        } else {
            let mut e: Vec<RouteEntry> = iv
                .iter()
                .filter_map(|(&lo, &(hi, t))| match t {
                    Tag::Out(d) => Some(RouteEntry { key: lo as u32, mask: !((hi - lo - 1) as u32), dirs: Dirs(d) }),
                    Tag::Straight(_) | Tag::NoMatch => None,
                })
                .collect();
            e.sort_by_key(|e| (e.key, e.mask));
            e
        };
        if entries.len() > limit {
            let needs: Vec<Need> = iv
                .iter()
                .map(|(&lo, &(hi, t))| Need {
                    key: lo as u32,
                    mask: !((hi - lo - 1) as u32),
                    want: match t {
                        Tag::Out(d) => Want::Route(Dirs(d)),
                        Tag::Straight(d) => Want::Default(Dirs(d)),
                        Tag::NoMatch => Want::Nothing,
                    },
                })
                .collect();
            let covered = ordered_covering(&needs, limit)?;
            if covered.len() < entries.len() {
                entries = covered;
            }
            over |= entries.len() > limit;
        }
        if !entries.is_empty() {
            out.push(RouteTable { core: CoreId(core), entries });
        }
        if over && stop_on_overflow {
            break;
        }
    }
    Ok((out, over))
}

/// Ordered covering over the required behaviour `iv` of one router (disjoint aligned intervals):
/// returns entries sorted by block size (smallest first), then key.
fn ordered_cover(iv: &BTreeMap<u64, (u64, Tag)>) -> Vec<RouteEntry> {
    // (lo, size) -> outputs
    let mut ent: BTreeMap<(u64, u64), u8> = BTreeMap::new();
    for (&lo, &(hi, t)) in iv {
        if let Tag::Out(d) = t {
            ent.insert((lo, hi - lo), d);
        }
    }
    // The outputs of the smallest entry of size in [size, below) containing block (lo, size).
    let first = |ent: &BTreeMap<(u64, u64), u8>, lo: u64, size: u64, below: u64| -> Option<u8> {
        let mut s = size;
        while s < below {
            if let Some(&d) = ent.get(&(lo & !(s - 1), s)) {
                return Some(d);
            }
            s *= 2;
        }
        None
    };
    let mut work: Vec<(u64, u64)> = ent.keys().copied().collect();
    while let Some((lo, size)) = work.pop() {
        let Some(&d) = ent.get(&(lo, size)) else { continue };
        if size >= 1 << 32 {
            continue;
        }
        let (psize, plo) = (2 * size, lo & !(2 * size - 1));
        if ent.contains_key(&(plo, psize)) {
            continue;
        }
        // Every present interval inside the parent must already be decided by a smaller entry,
        // or want these outputs.
        let mut ok = true;
        for (n, (&l, &(h, t))) in iv.range(plo..plo + psize).enumerate() {
            if n >= SCAN_CAP {
                ok = false;
                break;
            }
            if first(&ent, l, h - l, psize).is_none() && t != Tag::Out(d) && t != Tag::Straight(d) {
                ok = false;
                break;
            }
        }
        if !ok {
            continue;
        }
        ent.insert((plo, psize), d);
        // Entries inside with the same outputs whose next container says the same are redundant.
        let mut inside: Vec<(u64, u64)> = ent
            .range((plo, 0)..(plo + psize, 0))
            .filter(|(&(_, s), &x)| s < psize && x == d)
            .map(|(&k, _)| k)
            .collect();
        inside.sort_by_key(|&(l, s)| (s, l));
        let mut removed = 0;
        for (l, s) in inside {
            if first(&ent, l, 2 * s, psize * 2) == Some(d) {
                ent.remove(&(l, s));
                removed += 1;
            }
        }
        if removed == 0 {
            ent.remove(&(plo, psize));
            continue;
        }
        work.push((plo, psize));
    }
    let mut out: Vec<(u64, u64, u8)> = ent.into_iter().map(|((l, s), d)| (l, s, d)).collect();
    out.sort_by_key(|&(l, s, _)| (s, l));
    out.into_iter().map(|(l, s, d)| RouteEntry { key: l as u32, mask: !((s - 1) as u32), dirs: Dirs(d) }).collect()
}

/// Where a packet with `key` sent from router `src` ends up under `tables`, following the
/// documented semantics: first matching entry; no match at the source means no targets; no
/// match elsewhere passes straight on. Errors on leaving the mesh, loops or double delivery.
pub fn deliver(grid: &Grid, tables: &[RouteTable], key: u32, src: u32) -> Result<Vec<u32>, String> {
    let find = |c: u32| -> Option<Dirs> {
        let t = tables.binary_search_by_key(&c, |t| t.core.0).ok()?;
        tables[t].entries.iter().find(|e| key & e.mask == e.key).map(|e| e.dirs)
    };
    let mut got = Vec::new();
    let mut stack: Vec<(u32, Option<Dirs>)> = vec![(src, None)];
    let mut visits = 0usize;
    while let Some((c, travel)) = stack.pop() {
        visits += 1;
        if visits > 4 * grid.pos.len() + 8 {
            return Err(format!("key {key:#x}: routing loop"));
        }
        let out = match (find(c), travel) {
            (Some(d), _) => d,
            (None, None) => continue,
            (None, Some(t)) => t,
        };
        if out.contains(Dirs::LOCAL) {
            if got.contains(&c) {
                return Err(format!("key {key:#x}: delivered twice to core{c}"));
            }
            got.push(c);
        }
        for d in [Dirs::NORTH, Dirs::EAST, Dirs::SOUTH, Dirs::WEST] {
            if out.contains(d) {
                match neighbour(grid, c, d) {
                    Some(n) => stack.push((n, Some(d))),
                    None => return Err(format!("key {key:#x}: leaves the mesh at core{c}")),
                }
            }
        }
    }
    got.sort_unstable();
    Ok(got)
}

/// Check that `tables` deliver every key of every source to exactly its destinations.
pub fn check_delivery(grid: &Grid, tables: &[RouteTable], sources: &[Source]) -> Result<(), String> {
    for s in sources {
        let size = u64::from(!s.mask) + 1;
        for k in 0..size {
            let key = s.key + k as u32;
            let got = deliver(grid, tables, key, s.src)?;
            if got != s.dests {
                return Err(format!("key {key:#x} from core{}: delivered to {:?}, expected {:?}", s.src, got, s.dests));
            }
        }
    }
    Ok(())
}

/// The `route` pass: compressed tables within the router limit.
pub fn route(ir: Ir, spec: &ChipSpec) -> Result<Ir, CompileError> {
    route_avoiding(ir, spec, None)
}

/// [`route`] around the dead routers and links of `faults` (see [`fault_aware_entries`]).
pub fn route_avoiding(mut ir: Ir, spec: &ChipSpec, faults: Option<&FaultIndex>) -> Result<Ir, CompileError> {
    let grid = Grid::new(spec);
    let limit = spec.core.max_route_entries as usize;
    let trees = |srcs: &[Source]| match faults {
        Some(f) if !f.dead_cores.is_empty() || !f.dead_links.is_empty() => fault_aware_entries(&grid, spec, f, srcs),
        _ => Ok(xy_entries(&grid, srcs)),
    };
    // Per-block trees, exact compression, ordered covering where a table is still over the limit;
    // if that cannot fit, one tree per slice (whole_slices), compressed the same way.
    let srcs = sources(&ir, spec);
    let raw = trees(&srcs)?;
    let (mut tables, over) = compress_inner(&raw, &srcs, ORDERED_COVER_FROM, limit, true)?;
    let mut raw_len = raw.len();
    if over {
        let srcs = sources_with(&ir, spec, true);
        let raw = trees(&srcs)?;
        tables = compress_inner(&raw, &srcs, ORDERED_COVER_FROM, limit, false)?.0;
        raw_len = raw.len();
    }
    let entries: u64 = tables.iter().map(|t| t.entries.len() as u64).sum();
    let max = tables.iter().map(|t| t.entries.len()).max().unwrap_or(0) as u32;
    if let Some(t) = tables.iter().find(|t| t.entries.len() as u64 > u64::from(spec.core.max_route_entries)) {
        return Err(CompileError::DoesNotFit {
            limit: "routing entries",
            place: format!("the router of {}", t.core),
            needed: t.entries.len() as u64,
            available: u64::from(spec.core.max_route_entries),
            hint: "too many distinct multicast trees cross this router; use more local connectivity, \
                   fewer populations, or a chip profile with larger routing tables"
                .into(),
        });
    }
    ir.route_stats = Some(RouteStats { entries_uncompressed: raw_len as u64, entries, max_entries: max });
    ir.routes = Some(tables);
    Ok(ir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_exactly() {
        for (lo, hi) in [(0u64, 1u64), (3, 17), (1024, 2048), (5, 6), (7, 300)] {
            let b = aligned_blocks(lo, hi);
            let mut keys = Vec::new();
            for (k, m) in b {
                assert_eq!(k & !m, 0, "aligned");
                keys.extend(u64::from(k)..u64::from(k) + u64::from(!m) + 1);
            }
            assert_eq!(keys, (lo..hi).collect::<Vec<_>>());
        }
    }

    #[test]
    fn compressed_equals_uncompressed_on_a_mesh() {
        let spec = ChipSpec::default_profile();
        let grid = Grid::new(&spec);
        let srcs = vec![
            Source { key: 0, mask: !3, src: 0, dests: vec![0, 9, 127] },
            Source { key: 4, mask: !3, src: 0, dests: vec![0, 9, 127] },
            Source { key: 64, mask: !0, src: 77, dests: vec![3, 40] },
            Source { key: 65, mask: !0, src: 77, dests: vec![] },
        ];
        let raw = xy_entries(&grid, &srcs);
        let full = uncompressed_tables(&raw);
        let small = compress(&raw, &srcs);
        let n_full: usize = full.iter().map(|t| t.entries.len()).sum();
        let n_small: usize = small.iter().map(|t| t.entries.len()).sum();
        assert!(n_small < n_full, "{n_small} vs {n_full}");
        check_delivery(&grid, &full, &srcs).expect("uncompressed delivers");
        check_delivery(&grid, &small, &srcs).expect("compressed delivers");
        let ordered = compress_with(&raw, &srcs, 0);
        check_delivery(&grid, &ordered, &srcs).expect("ordered covering delivers");
    }
}
