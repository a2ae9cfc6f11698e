//! Resource budgets end to end: sizes a `.nm` source, a `program.bin` or a checkpoint controls
//! are refused before allocation with an error naming the budget and how to raise it; each case
//! here was (or would have been) an allocation of gigabytes or an endless read.

use nm_compiler::budget::{self, Budget};
use nm_compiler::driver;
use nm_compiler::ir::CompileError;
use nm_compiler::passes::CompileOptions;
use nm_emulator::budget::{check_recorded, check_run, project, RunBudget};
use nm_emulator::{checkpoint, EmuError, Emulator, RunConfig};

fn compile_with(text: &str, b: Budget) -> Result<nm_isa::Program, CompileError> {
    let checked = driver::check_source("budget.nm", text, None);
    let model = checked.model.unwrap_or_else(|| panic!("does not check: {:#?}", checked.diagnostics.list));
    let mut opts = CompileOptions::new(model.target.spec.clone());
    opts.budget = b;
    driver::compile_model(&model, opts).map(|(p, _)| p)
}

#[test]
fn synapses_over_the_budget_are_refused_before_lowering() {
    // 2^48 synapses: lowering used to allocate them (an abort on any machine).
    let text = "pop a = lif(n = 16777216, v_th = 1)\nconnect a -> a all_to_all weight = 0.1\n";
    let e = compile_with(text, Budget::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, CompileError::OverBudget { budget: "synapses", needed, limit, .. }
            if needed == 1 << 48 && limit == budget::DEFAULT_SYNAPSES),
        "{msg}"
    );
    assert!(msg.contains("--max-synapses") && msg.contains("281474976710656"), "{msg}");
}

#[test]
fn neurons_over_the_budget_are_refused() {
    let text = "input x = poisson(n = 8, rate = 5 Hz)\npop a = lif(n = 5, v_th = 1)\nconnect x -> a weight = 0.1\n";
    let e = compile_with(text, Budget { neurons: 12, synapses: 1000 }).unwrap_err();
    assert!(matches!(e, CompileError::OverBudget { budget: "neurons", needed: 13, limit: 12, .. }), "{e}");
    assert!(e.to_string().contains("--max-neurons"), "{e}");
    // At the budget it compiles.
    compile_with(text, Budget { neurons: 13, synapses: 40 }).expect("13 neurons, 40 synapses fit");
    let e = compile_with(text, Budget { neurons: 13, synapses: 39 }).unwrap_err();
    assert!(matches!(e, CompileError::OverBudget { budget: "synapses", needed: 40, limit: 39, .. }), "{e}");
}

#[test]
fn files_over_the_budget_or_endless_are_refused() {
    let dir = std::env::temp_dir().join(format!("nm-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("big.csv");
    std::fs::write(&f, "1,2\n".repeat(100)).unwrap();
    assert_eq!(budget::read_bounded(&f, 400).unwrap().len(), 400);
    let e = budget::read_bounded(&f, 399).unwrap_err();
    assert!(e.contains("399-byte file budget") && e.contains(budget::FILE_BYTES_VAR), "{e}");
    let e = budget::read_bounded(std::path::Path::new("/dev/zero"), 1 << 20).unwrap_err();
    assert!(e.contains("not a regular file"), "{e}");
    // Through the front end: a chip spec that never ends is a diagnostic, not a hang.
    let checked = driver::check_source("t.nm", "target \"/dev/zero\"\n", None);
    let d = &checked.diagnostics.list;
    assert!(d.iter().any(|d| d.code == "E0701" && d.message.contains("not a regular file")), "{d:#?}");
}

fn small_program() -> nm_isa::Program {
    let text = "sim { duration = 100 steps }\ninput x = poisson(n = 4, rate = 200 Hz)\n\
                pop a = lif(n = 3, tau_m = 10 ms, v_th = 0.2)\nconnect x -> a weight = 0.3\n\
                record spikes(a), v(a) every 1 steps, weights(x -> a) every 10 steps\n";
    compile_with(text, Budget::default()).expect("compiles")
}

#[test]
fn population_sizes_beyond_the_program_are_refused() {
    // Found by the checkpoint fuzz target: a population size of 2^32 - 1 in a checkpoint made
    // the recorder allocate 32 GiB. The emulator now bounds a probed population by the
    // program's neurons before allocating.
    let mut p = small_program();
    p.symbols.populations[0].size = u32::MAX;
    let e = Emulator::new(&p, RunConfig::default()).expect_err("refused");
    assert!(e.to_string().contains("above the 3 neurons"), "{e}");
    let mut emu = Emulator::new(&small_program(), RunConfig::default()).unwrap();
    emu.run(3);
    let ck = checkpoint::to_bytes(&emu).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&ck[24..]).unwrap();
    v["program"]["symbols"]["populations"][0]["size"] = serde_json::Value::from(u32::MAX);
    let mut bad = ck[..24].to_vec();
    bad.extend(serde_json::to_vec(&v).unwrap());
    nm_tests::fuzz::reseal_checkpoint(&mut bad);
    let e = checkpoint::from_bytes(&bad, "bad.ckpt", Some(1)).expect_err("refused");
    assert!(e.to_string().contains("above the 3 neurons"), "{e}");
}

#[test]
fn recordings_are_projected_and_checked() {
    let p = small_program();
    // v(a): 3 values every step; weights: 12 values every 10 steps; plus 8 bytes per row.
    let proj = project(&p, 0, 100);
    assert_eq!(proj.memory, 100 * (3 * 4 + 8) + 10 * (12 * 4 + 8));
    let b = RunBudget { max_steps: 1000, max_record_bytes: proj.memory - 1 };
    let e = check_run(&p, 0, 100, &b, None).unwrap_err();
    assert!(matches!(e, EmuError::Budget { budget: "recording", .. }), "{e}");
    assert!(e.to_string().contains("--max-record-bytes"), "{e}");
    check_run(&p, 0, 100, &RunBudget { max_record_bytes: proj.memory, ..b }, None).expect("at the budget");
    let e = check_run(&p, 0, 1001, &b, None).unwrap_err();
    assert!(matches!(e, EmuError::Budget { budget: "steps", needed: 1001, limit: 1000, .. }), "{e}");
    // A recording that would fill the disk is refused up front with its projected size.
    let huge = RunBudget { max_steps: u64::MAX, max_record_bytes: u64::MAX };
    let tmp = std::env::temp_dir();
    let free = nm_emulator::budget::available_disk(&tmp).expect("statvfs works here");
    let steps = free / 20 + 1_000_000;
    let e = check_run(&p, 0, steps, &huge, Some(&tmp)).unwrap_err();
    // (Other processes write to the same disk: the free space may move between the two looks.)
    assert!(
        matches!(e, EmuError::Budget { budget: "disk", limit, .. } if limit.abs_diff(free) < free / 10 + (1 << 30)),
        "{e}"
    );
    assert!(e.to_string().contains("project"), "{e}");
    // Spikes cannot be projected: checked as they grow.
    let mut emu = Emulator::new(&p, RunConfig::default()).unwrap();
    emu.run(100);
    let spikes: usize = emu.recordings().spikes.iter().map(|s| s.times.len()).sum();
    assert!(spikes > 0, "the test program must spike");
    let held = nm_emulator::budget::recorded_bytes(emu.recordings());
    check_recorded(emu.recordings(), 100, &RunBudget { max_steps: 100, max_record_bytes: held }, None).unwrap();
    let e = check_recorded(emu.recordings(), 100, &RunBudget { max_steps: 100, max_record_bytes: held - 1 }, None)
        .unwrap_err();
    assert!(e.to_string().contains(&format!("{spikes} spikes")), "{e}");
}

#[test]
fn checkpoint_step_counter_must_match_its_history() {
    // Found by the checkpoint fuzz target: `global.t` set to 2^32 - 1 made the Poisson inputs
    // draw their way up to that step (93 s for one input). Now refused at load.
    let mut emu = Emulator::new(&small_program(), RunConfig::default()).unwrap();
    emu.run(3);
    let ck = checkpoint::to_bytes(&emu).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&ck[24..]).unwrap();
    v["global"]["t"] = serde_json::Value::from(u32::MAX);
    let mut bad = ck[..24].to_vec();
    bad.extend(serde_json::to_vec(&v).unwrap());
    nm_tests::fuzz::reseal_checkpoint(&mut bad);
    let t0 = std::time::Instant::now();
    let e = checkpoint::from_bytes(&bad, "bad.ckpt", Some(1)).expect_err("refused");
    assert!(e.to_string().contains("step counter 4294967295 does not match the 3 steps"), "{e}");
    assert!(t0.elapsed().as_secs_f64() < 1.0);
    // The undamaged checkpoint still loads and continues.
    let mut back = checkpoint::from_bytes(&ck, "ok.ckpt", Some(1)).unwrap();
    back.run(2);
    assert_eq!(back.time(), 5);
}
