//! Routing tables within the router limit by ordered covering: a network whose exactly compressed
//! tables overflow a lowered limit is routed within it, and the packet-level simulator shows every
//! key reaching exactly its destinations; the 64k-neuron random CUBA network (fan-in 80) compiles
//! on the `board` profile with every table within its 1024 entries.

use nm_compiler::ir::nets;
use nm_compiler::map::Grid;
use nm_compiler::passes::{run_passes, CompileOptions};
use nm_compiler::route::{check_delivery, compress, sources, sources_with, xy_entries, Source};
use nm_isa::ChipSpec;

fn max_entries(t: &[nm_isa::program::RouteTable]) -> usize {
    t.iter().map(|t| t.entries.len()).max().unwrap_or(0)
}

#[test]
fn ordered_covering_fits_a_lowered_limit_and_routes_exactly() {
    let ir = nets::random(12, 1500, 24, 20, 5).expect("net");
    let mut spec = ChipSpec::default_profile();
    let mut opts = CompileOptions::new(spec.clone());
    opts.verify = true;
    let done = run_passes(ir.clone(), &opts, None).expect("compiles at the real limit");
    let grid = Grid::new(&spec);
    let srcs = sources(&done, &spec);
    let plain = compress(&xy_entries(&grid, &srcs), &srcs);
    let plain_max = max_entries(&plain);
    assert!(plain_max > 8, "{plain_max}");
    // Limits the exact compression cannot meet, lowered until the pass refuses.
    let mut fitted = None;
    for lim in (plain_max / 2..plain_max).rev() {
        spec.core.max_route_entries = lim as u32;
        let mut opts = CompileOptions::new(spec.clone());
        opts.verify = true;
        match run_passes(ir.clone(), &opts, None) {
            Ok(d) => fitted = Some((lim, d)),
            Err(_) => break,
        }
    }
    let (lim, small) = fitted.expect("ordered covering fits a limit below the exact compression's tables");
    spec.core.max_route_entries = lim as u32;
    let routes = small.routes.as_ref().expect("routed");
    assert!(max_entries(routes) <= lim, "{} > {lim}", max_entries(routes));
    assert_ne!(routes, &plain);
    let fine = sources(&small, &spec);
    let whole = sources_with(&small, &spec, true);
    let a = check_delivery(&grid, routes, &fine);
    let b = check_delivery(&grid, routes, &whole);
    assert!(a.is_ok() || b.is_ok(), "block trees: {a:?}; slice trees: {b:?}");
}

#[test]
fn cuba_64k_random_fits_the_board() {
    let spec = ChipSpec::board_profile();
    assert_eq!(spec.core.max_route_entries, 1024);
    let ir = nets::cuba(64000, 80, None, 1).expect("net");
    let mut opts = CompileOptions::new(spec.clone());
    opts.verify = false;
    let done = run_passes(ir, &opts, None).expect("64k CUBA routes on the board");
    let routes = done.routes.as_ref().expect("routed");
    let max = max_entries(routes);
    assert!(max <= 1024, "{max}");
    let stats = done.route_stats.clone().expect("stats");
    assert_eq!(stats.max_entries as usize, max);
    // Packet-level check of every key of every 40th source block (all of them would take
    // minutes in the simulator: each tree covers most of the ~1200 cores), against the trees
    // the pass routed (per-block or whole-slice).
    let grid = Grid::new(&spec);
    let pick = |v: Vec<Source>| -> Vec<Source> { v.into_iter().step_by(40).collect() };
    let fine = pick(sources(&done, &spec));
    let whole = pick(sources_with(&done, &spec, true));
    assert!(fine.len() > 50);
    let a = check_delivery(&grid, routes, &fine);
    let b = check_delivery(&grid, routes, &whole);
    assert!(a.is_ok() || b.is_ok(), "block trees: {a:?}; slice trees: {b:?}");
}
