//! Every bundled program compiles, its `program.bin` decodes to the same program and
//! disassembles, and compiling twice gives identical bytes (determinism).

use nm_compiler::driver;
use nm_compiler::passes::CompileOptions;
use std::path::{Path, PathBuf};

fn programs() -> Vec<PathBuf> {
    nm_tests::chip::bundled_programs()
}

fn compile(path: &Path) -> Vec<u8> {
    let checked = driver::check_file(path).unwrap_or_else(|e| panic!("{e}"));
    let model = checked.model.unwrap_or_else(|| panic!("{}: {:?}", path.display(), checked.diagnostics));
    let mut opts = CompileOptions::new(model.target.spec.clone());
    // The IR verifier after every pass, also in release-mode test runs.
    opts.verify = true;
    let (program, _report) = driver::compile_model(&model, opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytes = nm_isa::binary::encode(&program);
    let back = nm_isa::binary::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(back, program, "{}: decode(encode(p)) != p", path.display());
    let listing = nm_isa::disasm::disassemble(&back);
    assert!(listing.contains("core 0"), "{}: disassembly lists no core", path.display());
    bytes
}

#[test]
fn every_program_compiles_decodes_and_disassembles_deterministically() {
    let files = programs();
    assert!(files.len() >= 11, "expected the bundled programs, found {files:?}");
    for f in &files {
        let a = compile(f);
        let b = compile(f);
        assert!(a == b, "{}: two compilations differ", f.display());
    }
}

/// LIF voltages are laid out with the reset potential as the chip's origin: reset 0, threshold
/// `v_th − v_reset` > 0. With the origin at 0 mV instead, 10 % threshold mismatch on −54 mV
/// moved thresholds by ±5.4 mV, below the −60 mV reset for some neurons, which then fired every
/// step (the STDP benchmark's neuron did: 10 kHz).
#[test]
fn lif_voltages_take_the_reset_as_origin_so_mismatch_spreads_the_reset_to_threshold_gap() {
    use nm_tests::chip;
    let text = chip::program_text("bench/stdp.nm");
    let p = chip::compile("stdp.nm", &chip::with_target(&text, "target default { mismatch = 10%; chip_seed = 3 }"));
    let core = &p.cores[0];
    assert!(core.profiles.iter().all(|pr| pr.v_reset == 0), "reset is the origin");
    assert!(core.neurons.iter().all(|n| n.v_th > 0), "threshold above the reset");
    let init = core.neurons[0].v_init;
    assert_eq!(init, 0, "v_init = v_reset = −60 mV is the origin");
    let mut total = 0;
    for seed in 0..3 {
        let emu = chip::run(&p, chip::config(seed, false, None), Some(10_000));
        let rec = &emu.recordings().spikes[0];
        let mut per = vec![0usize; 100];
        for &i in &rec.ids {
            per[i as usize] += 1;
        }
        let most = per.iter().copied().max().unwrap_or(0);
        assert!(most < 300, "chip seed {seed}: a neuron fired {most} times in 1 s (10 000 steps)");
        total += rec.ids.len();
    }
    assert!(total > 1000, "the neurons fire at all: {total} spikes over 3 chips x 100 neurons");
}
