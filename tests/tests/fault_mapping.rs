//! End to end, compiler and emulator together: a program compiled with a fault map, run on the
//! emulated chip with the same faults, never loses a spike to a dead core or link (nothing of it
//! goes there) and behaves exactly as on a fault-free chip; the same network compiled without
//! the map loses spikes on that chip.

use nm_compiler::driver;
use nm_compiler::passes::CompileOptions;
use nm_emulator::faults::FaultConfig;
use nm_emulator::Emulator;
use nm_isa::faults::{Dir, FaultMap, LinkRef};
use nm_isa::Program;
use nm_tests::chip;

fn compile(text: &str, faults: Option<FaultMap>) -> Program {
    let checked = driver::check_source("cuba.nm", text, Some(&chip::programs_dir()));
    let model = checked.model.expect("checks");
    let mut opts = CompileOptions::new(model.target.spec.clone());
    opts.faults = faults;
    driver::compile_model(&model, opts).unwrap_or_else(|e| panic!("{e}")).0
}

#[test]
fn a_program_compiled_around_faults_loses_nothing_on_the_faulty_chip() {
    let text = std::fs::read_to_string(chip::programs_dir().join("bench/cuba.nm")).expect("cuba.nm");
    let plain = compile(&text, None);
    let used: Vec<u32> = plain.cores.iter().map(|c| c.id.0).collect();
    assert!(used.len() > 4, "CUBA spreads over {} cores", used.len());
    // Kill the first four cores the plain program uses and links in the middle of the mesh.
    let faults = FaultMap {
        dead_cores: used[..4].to_vec(),
        dead_links: vec![
            LinkRef { core: 20, dir: Dir::East },
            LinkRef { core: 20, dir: Dir::North },
            LinkRef { core: 35, dir: Dir::West },
            LinkRef { core: 9, dir: Dir::North },
        ],
        ..FaultMap::default()
    };
    let moved = compile(&text, Some(faults.clone()));
    assert!(faults.route_violations(&moved, 5).is_empty());
    let steps = 1500;
    let cfg = chip::config(3, false, None);
    let fc = Some(FaultConfig { map: faults, seed: 11 });
    let mut on_faulty = Emulator::with_faults(&moved, cfg, fc.clone()).expect("loads");
    on_faulty.run(steps);
    let lost = on_faulty.fault_stats().expect("fault stats").lost_spikes;
    assert_eq!(lost.total, 0, "the program compiled around the faults lost spikes: {lost:?}");
    let mut on_good = Emulator::new(&moved, cfg).expect("loads");
    on_good.run(steps);
    assert!(on_good.stats().spikes > 1000, "CUBA is active");
    assert_eq!(on_faulty.recordings(), on_good.recordings(), "the faults changed a program that avoids them");
    // The program compiled for a fault-free chip does lose spikes there.
    let mut naive = Emulator::with_faults(&plain, cfg, fc).expect("loads");
    naive.run(steps);
    let lost = naive.fault_stats().expect("fault stats").lost_spikes;
    println!("plain program on the faulty chip: {lost:?}");
    assert!(lost.dead_core > 0, "{lost:?}");
}
