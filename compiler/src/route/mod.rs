//! Keys and multicast routing: key assignment (core `c` sends `c << key_shift | local index`,
//! inputs get aligned ranges above), dimension-order (XY) multicast trees, per-router tables,
//! exact compression (default-routed entries dropped, key/mask merging), and a packet-level
//! simulator of the routing semantics of `nm_isa::program` used to check equivalence.

use crate::ir::{CompileError, Endpoint, InputId, Ir, RouteStats};
use crate::map::Grid;
use nm_isa::ids::CoreId;
use nm_isa::program::{Dirs, RouteEntry, RouteTable};
use nm_isa::ChipSpec;
use std::collections::{BTreeMap, BTreeSet};

/// Bits of the local neuron index in a key.
pub fn key_shift(spec: &ChipSpec) -> u32 {
    32 - (spec.core.max_neurons.max(2) - 1).leading_zeros()
}

/// The `keys` pass: key layout and input injection cores.
pub fn assign_keys(mut ir: Ir, spec: &ChipSpec) -> Result<Ir, CompileError> {
    let shift = key_shift(spec);
    let mut next: u64 = u64::from(spec.total_cores()) << shift;
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
        let inject = inject_core(&ir, spec, &grid, &tables, i);
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

/// Every routed key block of the IR with its destination cores.
pub fn sources(ir: &Ir, spec: &ChipSpec) -> Vec<Source> {
    let shift = ir.key_shift.unwrap_or_else(|| key_shift(spec));
    let tables = crate::map::slice_tables(ir);
    let core_of_slice: Vec<u32> = ir.slices.iter().map(|s| s.core.map_or(0, |c| c.0)).collect();
    let mut stamp = vec![u32::MAX; spec.total_cores() as usize];
    let mut block_id = 0u32;
    let mut out = Vec::new();
    let mut blocks_of = |e: Endpoint, lo_idx: u32, base: u64, len: u32, src: u32, out: &mut Vec<Source>| {
        let projs = ir.projs_from(e);
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
            if !dests.is_empty() {
                dests.sort_unstable();
                out.push(Source { key, mask, src, dests });
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

/// Compressed tables: entries that only pass a packet straight on are left to default routing,
/// then entries with the same outputs whose key sets are buddies (same mask, one differing key
/// bit) are merged repeatedly. Every step keeps each router's matched key set exactly, so no
/// entry ever captures a default-routed packet.
pub fn compress(raw: &[RawEntry]) -> Vec<RouteTable> {
    let mut by: BTreeMap<u32, BTreeMap<(u8, u32), BTreeSet<u32>>> = BTreeMap::new();
    for r in raw {
        if r.arriving.is_some_and(|d| r.entry.dirs == d) {
            continue;
        }
        by.entry(r.core).or_default().entry((r.entry.dirs.0, r.entry.mask)).or_default().insert(r.entry.key);
    }
    let mut out = Vec::new();
    for (core, mut groups) in by {
        loop {
            let mut changed = false;
            let keys: Vec<(u8, u32)> = groups.keys().copied().collect();
            for (dirs, mask) in keys {
                let Some(set) = groups.get(&(dirs, mask)) else { continue };
                // Lowest mask bit first: merging grows blocks in key order.
                let free = mask & mask.wrapping_neg();
                if free == 0 {
                    continue;
                }
                let mut merged = BTreeSet::new();
                let mut rest = BTreeSet::new();
                for &k in set {
                    if k & free == 0 && set.contains(&(k | free)) {
                        merged.insert(k);
                    } else if k & free != 0 && set.contains(&(k & !free)) {
                        // merged with its lower buddy
                    } else {
                        rest.insert(k);
                    }
                }
                if merged.is_empty() {
                    continue;
                }
                changed = true;
                groups.insert((dirs, mask), rest);
                groups.entry((dirs, mask & !free)).or_default().extend(merged);
            }
            groups.retain(|_, s| !s.is_empty());
            if !changed {
                break;
            }
        }
        let mut entries: Vec<RouteEntry> = groups
            .into_iter()
            .flat_map(|((d, mask), set)| set.into_iter().map(move |key| RouteEntry { key, mask, dirs: Dirs(d) }))
            .collect();
        entries.sort_by_key(|e| (e.key, e.mask));
        out.push(RouteTable { core: CoreId(core), entries });
    }
    out
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
pub fn route(mut ir: Ir, spec: &ChipSpec) -> Result<Ir, CompileError> {
    let grid = Grid::new(spec);
    let srcs = sources(&ir, spec);
    let raw = xy_entries(&grid, &srcs);
    let tables = compress(&raw);
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
    ir.route_stats = Some(RouteStats { entries_uncompressed: raw.len() as u64, entries, max_entries: max });
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
        let small = compress(&raw);
        let n_full: usize = full.iter().map(|t| t.entries.len()).sum();
        let n_small: usize = small.iter().map(|t| t.entries.len()).sum();
        assert!(n_small < n_full, "{n_small} vs {n_full}");
        check_delivery(&grid, &full, &srcs).expect("uncompressed delivers");
        check_delivery(&grid, &small, &srcs).expect("compressed delivers");
    }
}
