//! Placement of slices onto cores: a slice traffic graph, the weighted hop metric of the
//! multi-chip mesh, a naive sequential placement (the baseline), and the greedy placement with
//! FM-style move/swap refinement (deterministic for a seed).

use super::{core_limits, slice_demands, slice_tables, Demand, RESOURCES};
use crate::ir::{CompileError, Endpoint, Ir, PlacementStats};
use nm_isa::ids::CoreId;
use nm_isa::ChipSpec;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Core coordinates of the global mesh and the hop metric.
#[derive(Clone, Debug)]
pub struct Grid {
    /// Per core: global x, global y, chip x, chip y.
    pub pos: Vec<(i32, i32, i32, i32)>,
    pub width: i32,
    pub height: i32,
    /// Cost of one inter-chip hop relative to an on-chip hop.
    pub chip_weight: f64,
    index: Vec<u32>,
}

impl Grid {
    pub fn new(spec: &ChipSpec) -> Grid {
        let w = i32::from(spec.mesh.width);
        let h = i32::from(spec.mesh.height);
        let width = w * i32::from(spec.system.chips_x);
        let height = h * i32::from(spec.system.chips_y);
        let mut pos = Vec::with_capacity(spec.total_cores() as usize);
        let mut index = vec![0u32; (width * height) as usize];
        for c in 0..spec.total_cores() {
            let k = CoreId(c).coord(spec).unwrap_or(nm_isa::ids::CoreCoord { chip_x: 0, chip_y: 0, x: 0, y: 0 });
            let gx = i32::from(k.chip_x) * w + i32::from(k.x);
            let gy = i32::from(k.chip_y) * h + i32::from(k.y);
            pos.push((gx, gy, i32::from(k.chip_x), i32::from(k.chip_y)));
            index[(gy * width + gx) as usize] = c;
        }
        let t = &spec.timing;
        let s = &spec.system;
        let chip_weight = (f64::from(s.link_latency_cycles + s.link_cycles_per_spike)
            / f64::from(t.cycles_router_hop.max(1)))
        .clamp(4.0, 1000.0);
        Grid { pos, width, height, chip_weight, index }
    }

    /// Weighted hops between two cores (on-chip hops 1, inter-chip hops `chip_weight`).
    #[inline]
    pub fn dist(&self, a: u32, b: u32) -> f64 {
        let (ax, ay, acx, acy) = self.pos[a as usize];
        let (bx, by, bcx, bcy) = self.pos[b as usize];
        let hops = (ax - bx).abs() + (ay - by).abs();
        let chips = (acx - bcx).abs() + (acy - bcy).abs();
        f64::from(hops - chips) + self.chip_weight * f64::from(chips)
    }

    /// Inter-chip hops between two cores.
    #[inline]
    pub fn chip_hops(&self, a: u32, b: u32) -> i32 {
        let (_, _, acx, acy) = self.pos[a as usize];
        let (_, _, bcx, bcy) = self.pos[b as usize];
        (acx - bcx).abs() + (acy - bcy).abs()
    }

    /// The core at global `(x, y)`, if inside the mesh.
    #[inline]
    pub fn at(&self, x: i32, y: i32) -> Option<u32> {
        (x >= 0 && y >= 0 && x < self.width && y < self.height).then(|| self.index[(y * self.width + x) as usize])
    }

    /// Cores in rings of growing Manhattan distance around `(x, y)`, passing `keep` until `want`
    /// were found (the ring being scanned is completed).
    pub(crate) fn around(&self, x: i32, y: i32, want: usize, mut keep: impl FnMut(u32) -> bool) -> Vec<u32> {
        let mut out = Vec::new();
        let max_r = self.width + self.height;
        for r in 0..=max_r {
            for dx in -r..=r {
                let dy = r - dx.abs();
                for dy in if dy == 0 { vec![0] } else { vec![dy, -dy] } {
                    if let Some(c) = self.at(x + dx, y + dy) {
                        if keep(c) {
                            out.push(c);
                        }
                    }
                }
            }
            if out.len() >= want {
                break;
            }
        }
        out
    }
}

/// Undirected slice traffic graph: expected packets per step between slices (a packet of a
/// neuron goes once to each slice holding any of its targets).
#[derive(Clone, Debug, Default)]
pub struct SliceGraph {
    /// Per slice: (neighbour, packets per step), sorted by neighbour.
    pub adj: Vec<Vec<(u32, f64)>>,
}

impl SliceGraph {
    pub fn build(ir: &Ir) -> SliceGraph {
        let tables = slice_tables(ir);
        let mut map: HashMap<(u32, u32), f64> = HashMap::new();
        for j in ir.proj_ids() {
            let pj = ir.proj(j);
            let Endpoint::Pop(pre_pop) = pj.pre else { continue };
            let rate = ir.endpoint_rate(pj.pre);
            let pre_t = &tables[pre_pop.index()];
            let post_t = &tables[pj.post.index()];
            for pre in 0..pj.conn.pre_size {
                let a = pre_t[pre as usize];
                let mut last = u32::MAX;
                for &post in pj.conn.row_posts(pre) {
                    let b = post_t[post as usize];
                    if b != last {
                        last = b;
                        if a != b {
                            let k = if a < b { (a, b) } else { (b, a) };
                            *map.entry(k).or_insert(0.0) += rate;
                        }
                    }
                }
            }
        }
        let mut adj = vec![Vec::new(); ir.slices.len()];
        let mut edges: Vec<_> = map.into_iter().collect();
        edges.sort_by_key(|x| x.0);
        for ((a, b), w) in edges {
            adj[a as usize].push((b, w));
            adj[b as usize].push((a, w));
        }
        for l in &mut adj {
            l.sort_by_key(|x| x.0);
        }
        SliceGraph { adj }
    }

    /// Σ traffic × weighted hops, and Σ traffic × inter-chip hops, of an assignment.
    pub fn cost(&self, grid: &Grid, core: &[u32]) -> (f64, f64) {
        let (c, x, _, _) = self.figures(grid, core);
        (c, x)
    }

    /// (Σ traffic × weighted hops, Σ traffic × inter-chip hops, inter-core traffic, Σ traffic × plain hops).
    pub fn figures(&self, grid: &Grid, core: &[u32]) -> (f64, f64, f64, f64) {
        let (mut c, mut x, mut t, mut h) = (0.0, 0.0, 0.0, 0.0);
        for (a, l) in self.adj.iter().enumerate() {
            for &(b, w) in l {
                let (ca, cb) = (core[a], core[b as usize]);
                if (b as usize) > a && ca != cb {
                    c += w * grid.dist(ca, cb);
                    x += w * f64::from(grid.chip_hops(ca, cb));
                    t += w;
                    let (ax, ay, _, _) = grid.pos[ca as usize];
                    let (bx, by, _, _) = grid.pos[cb as usize];
                    h += w * f64::from((ax - bx).abs() + (ay - by).abs());
                }
            }
        }
        (c, x, t, h)
    }
}

fn no_room(ir: &Ir, spec: &ChipSpec, demands: &[Demand], slice: usize) -> CompileError {
    let lim = core_limits(spec);
    let mut total = Demand::default();
    for d in demands {
        total.add(d);
    }
    let cores = u64::from(spec.total_cores());
    // The resource that needs the most cores names the problem.
    let (r, need) = (0..RESOURCES.len())
        .map(|r| (r, total.get(r).div_ceil(lim.get(r).max(1))))
        .max_by_key(|&(r, n)| (n, std::cmp::Reverse(r)))
        .unwrap_or((0, 0));
    let sl = &ir.slices[slice];
    let pop = &ir.pop(sl.pop).name;
    let bigger = nm_isa::chip::PROFILE_NAMES
        .iter()
        .filter_map(|n| ChipSpec::profile(n))
        .filter(|p| p.name != spec.name)
        .find(|p| {
            let l = core_limits(p);
            (0..RESOURCES.len()).all(|r| l.get(r) * u64::from(p.total_cores()) >= total.get(r))
        })
        .map_or_else(
            || "use a chip spec with more chips (`system.chips_x` x `system.chips_y`), or ".to_string(),
            |p| format!("use chip profile `{}` ({} cores), or ", p.name, p.total_cores()),
        );
    // Synapse memory is counted in synapses internally and reported in bits.
    let unit = if r == 1 { spec.synapse_bits() } else { 1 };
    CompileError::DoesNotFit {
        limit: RESOURCES[r],
        place: format!(
            "the system `{}` ({cores} cores) when placing population `{pop}` neurons {}..{}",
            spec.name,
            sl.offset,
            sl.offset + sl.len
        ),
        needed: total.get(r) * unit,
        available: lim.get(r) * cores * unit,
        hint: format!(
            "the network needs at least {need} cores by {}; {bigger}reduce the network (fewer neurons or \
             fewer synapses per neuron)",
            RESOURCES[r]
        ),
    }
}

/// Naive sequential placement: slices in order, each on the current core if it fits, else the next.
pub fn place_naive(ir: &Ir, spec: &ChipSpec, demands: &[Demand]) -> Result<Vec<u32>, CompileError> {
    place_naive_avoiding(ir, spec, demands, &[])
}

/// `dead[c]`: core `c` takes no work (missing entries: alive).
#[inline]
fn is_dead(dead: &[bool], c: u32) -> bool {
    dead.get(c as usize).copied().unwrap_or(false)
}

/// A placement error with the dead cores named in its hint.
fn with_dead(e: CompileError, dead: &[bool]) -> CompileError {
    let n = dead.iter().filter(|&&d| d).count();
    match e {
        CompileError::DoesNotFit { limit, place, needed, available, hint } if n > 0 => CompileError::DoesNotFit {
            limit,
            place,
            needed,
            available,
            hint: format!("{hint} ({n} cores are dead or cut off by dead links in the fault map and take no work)"),
        },
        e => e,
    }
}

/// [`place_naive`] skipping the cores marked dead.
pub fn place_naive_avoiding(
    ir: &Ir,
    spec: &ChipSpec,
    demands: &[Demand],
    dead: &[bool],
) -> Result<Vec<u32>, CompileError> {
    let lim = core_limits(spec);
    let mut core = 0u32;
    while is_dead(dead, core) {
        core += 1;
    }
    let mut load = Demand::default();
    let mut out = Vec::with_capacity(ir.slices.len());
    for (s, d) in demands.iter().enumerate() {
        if !load.fits_with(d, &lim) {
            core += 1;
            while is_dead(dead, core) {
                core += 1;
            }
            load = Demand::default();
        }
        if core >= spec.total_cores() || !load.fits_with(d, &lim) {
            return Err(with_dead(no_room(ir, spec, demands, s), dead));
        }
        load.add(d);
        out.push(core);
    }
    Ok(out)
}

/// Breadth-first order over the slice graph, heaviest edges first, components in id order.
fn bfs_order(g: &SliceGraph) -> Vec<u32> {
    let n = g.adj.len();
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut queue = std::collections::VecDeque::new();
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        queue.push_back(start as u32);
        while let Some(a) = queue.pop_front() {
            order.push(a);
            let mut nb: Vec<(u32, f64)> =
                g.adj[a as usize].iter().copied().filter(|&(b, _)| !seen[b as usize]).collect();
            nb.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            for (b, _) in nb {
                seen[b as usize] = true;
                queue.push_back(b);
            }
        }
    }
    order
}

/// Σ w × dist from core `c` to the placed neighbours of `s` (skipping `skip`).
#[inline]
fn cost_at(g: &SliceGraph, grid: &Grid, core: &[u32], s: u32, c: u32, skip: u32) -> f64 {
    let mut t = 0.0;
    for &(b, w) in &g.adj[s as usize] {
        let cb = core[b as usize];
        if b != skip && cb != u32::MAX {
            t += w * grid.dist(c, cb);
        }
    }
    t
}

/// Traffic-weighted centroid of the placed neighbours of `s`.
fn centroid(g: &SliceGraph, grid: &Grid, core: &[u32], s: u32) -> Option<(i32, i32)> {
    let (mut x, mut y, mut w) = (0.0, 0.0, 0.0);
    for &(b, wt) in &g.adj[s as usize] {
        let cb = core[b as usize];
        if cb != u32::MAX {
            let (gx, gy, _, _) = grid.pos[cb as usize];
            x += wt * f64::from(gx);
            y += wt * f64::from(gy);
            w += wt;
        }
    }
    (w > 0.0).then(|| ((x / w).round() as i32, (y / w).round() as i32))
}

/// Greedy placement then FM-style refinement; returns the core of every slice and the stats.
pub fn place(
    ir: &Ir,
    spec: &ChipSpec,
    seed: u64,
    refine_passes: u32,
) -> Result<(Vec<u32>, PlacementStats), CompileError> {
    place_avoiding(ir, spec, seed, refine_passes, &[])
}

/// [`place`] putting no slice on a core marked dead (`dead[c]`; missing entries: alive).
pub fn place_avoiding(
    ir: &Ir,
    spec: &ChipSpec,
    seed: u64,
    refine_passes: u32,
    dead: &[bool],
) -> Result<(Vec<u32>, PlacementStats), CompileError> {
    let demands = slice_demands(ir);
    let lim = core_limits(spec);
    let grid = Grid::new(spec);
    let g = SliceGraph::build(ir);
    let n = ir.slices.len();
    let ncores = spec.total_cores() as usize;
    let mut core = vec![u32::MAX; n];
    let mut load = vec![Demand::default(); ncores];
    let mut on_core: Vec<Vec<u32>> = vec![Vec::new(); ncores];
    let mut prev: Option<u32> = None;
    const CANDIDATES: usize = 8;
    for s in bfs_order(&g) {
        let d = &demands[s as usize];
        let (tx, ty) = centroid(&g, &grid, &core, s).unwrap_or_else(|| match prev {
            Some(p) => (grid.pos[p as usize].0, grid.pos[p as usize].1),
            None => (0, 0),
        });
        let cands = grid.around(tx, ty, CANDIDATES, |c| !is_dead(dead, c) && load[c as usize].fits_with(d, &lim));
        let best = cands
            .iter()
            .map(|&c| {
                let cost = cost_at(&g, &grid, &core, s, c, u32::MAX);
                let (cx, cy, _, _) = grid.pos[c as usize];
                let near = (cx - tx).abs() + (cy - ty).abs();
                (c, cost, near)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)).then(a.0.cmp(&b.0)));
        let Some((c, _, _)) = best else { return Err(with_dead(no_room(ir, spec, &demands, s as usize), dead)) };
        core[s as usize] = c;
        load[c as usize].add(d);
        on_core[c as usize].push(s);
        prev = Some(c);
    }
    let mut greedy_cost = g.cost(&grid, &core).0;
    let naive = place_naive_avoiding(ir, spec, &demands, dead).ok();
    // Never start worse than the naive placement (dense random graphs can favour it).
    if let Some(v) = &naive {
        let nc = g.cost(&grid, v).0;
        if nc < greedy_cost {
            greedy_cost = nc;
            core.clone_from(v);
            load.iter_mut().for_each(|l| *l = Demand::default());
            on_core.iter_mut().for_each(Vec::clear);
            for (s, &c) in core.iter().enumerate() {
                load[c as usize].add(&demands[s]);
                on_core[c as usize].push(s as u32);
            }
        }
    }
    let moves = refine(&g, &grid, &demands, &lim, &mut core, &mut load, &mut on_core, seed, refine_passes, dead);
    let (cost, inter, traffic, hops) = g.figures(&grid, &core);
    let used = |v: &[u32]| {
        let mut u: Vec<u32> = v.to_vec();
        u.sort_unstable();
        u.dedup();
        u.len() as u32
    };
    let stats = PlacementStats {
        cost,
        naive_cost: naive.as_ref().map(|v| g.cost(&grid, v).0),
        greedy_cost,
        inter_chip_traffic: inter,
        naive_inter_chip_traffic: naive.as_ref().map(|v| g.cost(&grid, v).1),
        cores_used: used(&core),
        naive_cores_used: naive.as_ref().map(|v| used(v)),
        refine_moves: moves,
        inter_core_traffic: traffic,
        mean_hops: if traffic > 0.0 { hops / traffic } else { 0.0 },
    };
    Ok((core, stats))
}

/// Move / swap hill climbing over candidate cores near each slice's neighbours' centroid.
#[allow(clippy::too_many_arguments)]
fn refine(
    g: &SliceGraph,
    grid: &Grid,
    demands: &[Demand],
    lim: &Demand,
    core: &mut [u32],
    load: &mut [Demand],
    on_core: &mut [Vec<u32>],
    seed: u64,
    passes: u32,
    dead: &[bool],
) -> u64 {
    let n = core.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut moves = 0u64;
    for _ in 0..passes {
        let mut order: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = crate::ir::below(&mut rng, i as u32 + 1) as usize;
            order.swap(i, j);
        }
        let mut gained = 0.0;
        let mut pass_moves = 0u64;
        for &s in &order {
            if g.adj[s as usize].is_empty() {
                continue;
            }
            let cur = core[s as usize];
            let Some((tx, ty)) = centroid(g, grid, core, s) else { continue };
            let mut cands = grid.around(tx, ty, 6, |c| c != cur && !is_dead(dead, c));
            for &(b, _) in g.adj[s as usize].iter().take(16) {
                let cb = core[b as usize];
                if cb != cur && !cands.contains(&cb) {
                    cands.push(cb);
                }
            }
            let here = cost_at(g, grid, core, s, cur, u32::MAX);
            let ds = &demands[s as usize];
            // (gain, target core, swapped slice)
            let mut best: Option<(f64, u32, Option<u32>)> = None;
            for &c in &cands {
                if load[c as usize].fits_with(ds, lim) {
                    let gain = here - cost_at(g, grid, core, s, c, u32::MAX);
                    if gain > 1e-9 && best.is_none_or(|b| gain > b.0) {
                        best = Some((gain, c, None));
                    }
                }
                for &t in &on_core[c as usize] {
                    let dt = &demands[t as usize];
                    let mut lc = load[cur as usize];
                    lc.sub(ds);
                    let mut lt = load[c as usize];
                    lt.sub(dt);
                    if !lc.fits_with(dt, lim) || !lt.fits_with(ds, lim) {
                        continue;
                    }
                    let gain = cost_at(g, grid, core, s, cur, t) - cost_at(g, grid, core, s, c, t)
                        + cost_at(g, grid, core, t, c, s)
                        - cost_at(g, grid, core, t, cur, s);
                    if gain > 1e-9 && best.is_none_or(|b| gain > b.0) {
                        best = Some((gain, c, Some(t)));
                    }
                }
            }
            if let Some((gain, c, t)) = best {
                let cu = cur as usize;
                load[cu].sub(ds);
                on_core[cu].retain(|&x| x != s);
                if let Some(t) = t {
                    let dt = &demands[t as usize];
                    load[c as usize].sub(dt);
                    on_core[c as usize].retain(|&x| x != t);
                    load[cu].add(dt);
                    on_core[cu].push(t);
                    core[t as usize] = cur;
                }
                load[c as usize].add(ds);
                on_core[c as usize].push(s);
                core[s as usize] = c;
                gained += gain;
                pass_moves += 1;
            }
        }
        moves += pass_moves;
        if pass_moves == 0 || gained <= 0.0 {
            break;
        }
    }
    moves
}
