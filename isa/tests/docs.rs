//! `docs/isa.md` is generated from the op table: the checked-in file must equal
//! `nm_isa::learn::isa_markdown()` (refresh with `NM_BLESS=1`).

mod common;

#[test]
fn isa_md_is_fresh() {
    common::check_golden("../docs/isa.md", &nm_isa::learn::isa_markdown());
}

#[test]
fn isa_md_lists_every_opcode() {
    let md = nm_isa::learn::isa_markdown();
    for op in nm_isa::learn::Opcode::ALL {
        assert!(md.contains(&format!("| `{}` | `{:#04x}` |", op.mnemonic(), op.code())), "{op:?}");
    }
}

/// One row of the profile table: its label and how to print a spec's value.
type Row = (&'static str, Box<dyn Fn(&nm_isa::chip::ChipSpec) -> String>);

/// The table of every number of the built-in profiles, as it appears in `docs/chip-model.md`.
fn profile_table() -> String {
    use nm_isa::chip::{ChipSpec, PROFILE_NAMES};
    let specs: Vec<ChipSpec> = PROFILE_NAMES.iter().filter_map(|n| ChipSpec::profile(n)).collect();
    let mut rows: Vec<Row> = Vec::new();
    macro_rules! row {
        ($name:literal, $f:expr) => {
            rows.push(($name, Box::new($f)));
        };
    }
    row!("mesh.width × mesh.height (cores per chip)", |s| format!(
        "{} × {} ({})",
        s.mesh.width,
        s.mesh.height,
        s.cores_per_chip()
    ));
    row!("system.chips_x × chips_y (total cores)", |s| format!(
        "{} × {} ({})",
        s.system.chips_x,
        s.system.chips_y,
        s.total_cores()
    ));
    row!("neurons in the system", |s| (u64::from(s.total_cores()) * u64::from(s.core.max_neurons)).to_string());
    row!("system.link_latency_cycles", |s| s.system.link_latency_cycles.to_string());
    row!("system.link_cycles_per_spike", |s| s.system.link_cycles_per_spike.to_string());
    row!("system.link_energy_pj", |s| s.system.link_energy_pj.to_string());
    row!("core.max_neurons", |s| s.core.max_neurons.to_string());
    row!("core.max_input_axons", |s| s.core.max_input_axons.to_string());
    row!("core.max_output_axons", |s| s.core.max_output_axons.to_string());
    row!("core.synapse_memory_bits", |s| s.core.synapse_memory_bits.to_string());
    row!("synapse_bits() (bits per synapse)", |s| s.synapse_bits().to_string());
    row!("max_synapses_per_core()", |s| s.max_synapses_per_core().to_string());
    row!("core.max_route_entries", |s| s.core.max_route_entries.to_string());
    row!("core.max_learning_instrs", |s| s.core.max_learning_instrs.to_string());
    row!("core.max_profiles", |s| s.core.max_profiles.to_string());
    row!("core.max_delay (steps)", |s| s.core.max_delay.to_string());
    row!("formats.weight_bits (+ sign)", |s| s.formats.weight_bits.to_string());
    row!("formats.weight_exp_min ..= weight_exp_max", |s| format!(
        "{} ..= {}",
        s.formats.weight_exp_min, s.formats.weight_exp_max
    ));
    row!("formats.current_bits", |s| s.formats.current_bits.to_string());
    row!("formats.voltage_bits", |s| s.formats.voltage_bits.to_string());
    row!("formats.decay_bits", |s| s.formats.decay_bits.to_string());
    row!("formats.trace_int_bits . trace_frac_bits", |s| format!(
        "{}.{}",
        s.formats.trace_int_bits, s.formats.trace_frac_bits
    ));
    row!("formats.accumulator_bits", |s| s.formats.accumulator_bits.to_string());
    row!("formats.synapse_overhead_bits", |s| s.formats.synapse_overhead_bits.to_string());
    row!("formats.payload_bits", |s| s.formats.payload_bits.to_string());
    row!("formats.tag_bits", |s| s.formats.tag_bits.to_string());
    row!("formats.learning_rate_trim_bits", |s| s.formats.learning_rate_trim_bits.to_string());
    row!("timing.clock_hz", |s| s.timing.clock_hz.to_string());
    row!("timing.cycles_neuron_update", |s| s.timing.cycles_neuron_update.to_string());
    row!("timing.cycles_synaptic_event", |s| s.timing.cycles_synaptic_event.to_string());
    row!("timing.cycles_learning_dispatch", |s| s.timing.cycles_learning_dispatch.to_string());
    row!("timing.cycles_router_hop", |s| s.timing.cycles_router_hop.to_string());
    row!("timing.cycles_barrier", |s| s.timing.cycles_barrier.to_string());
    row!("energy.neuron_update_pj", |s| s.energy.neuron_update_pj.to_string());
    row!("energy.synaptic_event_pj", |s| s.energy.synaptic_event_pj.to_string());
    row!("energy.learning_op_pj", |s| s.energy.learning_op_pj.to_string());
    row!("energy.router_hop_pj", |s| s.energy.router_hop_pj.to_string());
    row!("energy.core_static_pj_per_step", |s| s.energy.core_static_pj_per_step.to_string());
    row!("mismatch.threshold_rsd", |s| s.mismatch.threshold_rsd.to_string());
    row!("mismatch.leak_rsd", |s| s.mismatch.leak_rsd.to_string());
    row!("mismatch.bias_rsd", |s| s.mismatch.bias_rsd.to_string());
    row!("mismatch.weight_gain_rsd", |s| s.mismatch.weight_gain_rsd.to_string());
    row!("mismatch.learning_rate_rsd", |s| s.mismatch.learning_rate_rsd.to_string());
    row!("mismatch.noise_rsd", |s| s.mismatch.noise_rsd.to_string());
    row!("mismatch.default_chip_seed", |s| s.mismatch.default_chip_seed.to_string());
    let mut out = String::from("| field |");
    for s in &specs {
        out.push_str(&format!(" `{}` |", s.name));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(specs.len()));
    out.push('\n');
    for (name, f) in &rows {
        out.push_str(&format!("| `{name}` |"));
        for s in &specs {
            out.push_str(&format!(" {} |", f(s)));
        }
        out.push('\n');
    }
    out
}

#[test]
fn chip_model_profile_table_is_fresh() {
    const BEGIN: &str = "<!-- profiles:begin (generated by isa/tests/docs.rs; NM_BLESS=1 refreshes) -->\n";
    const END: &str = "<!-- profiles:end -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/chip-model.md");
    let text = std::fs::read_to_string(&path).expect("docs/chip-model.md exists");
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("docs/chip-model.md lacks the profile-table markers");
    };
    let current = &text[b + BEGIN.len()..e];
    let table = profile_table();
    if current != table {
        if std::env::var("NM_BLESS").is_ok_and(|v| v == "1") {
            let new = format!("{}{}{}", &text[..b + BEGIN.len()], table, &text[e..]);
            std::fs::write(&path, new).expect("write docs/chip-model.md");
        } else {
            panic!(
                "the profile table in docs/chip-model.md is stale (NM_BLESS=1 refreshes it):\n{}",
                common::line_diff(current, &table)
            );
        }
    }
}
