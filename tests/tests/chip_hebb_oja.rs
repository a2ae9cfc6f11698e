//! Paper 4 (Miconi) on the emulated chip: plain Hebb, instar, Oja and anti-Hebb compiled from
//! `programs/*.nm`; check A (each compiled update bit-exact against an integer reference and
//! within 1 LSB of float), check B (Oja finds e₁: float, ideal 8-bit chip, 10 % mismatch) and
//! check C (instar with 1-WTA competition finds the 4 cluster centres), each beside the float
//! reference of `nm_tests::reference::hebb_oja` on the same samples and seeds.

use nm_compiler::driver;
use nm_compiler::front::model::{InputKind, Model, PatternSource};
use nm_compiler::passes::CompileOptions;
use nm_emulator::plot::{lines_svg, Curve, Scale};
use nm_isa::fixed_point::accumulator_frac_bits;
use nm_isa::Program;
use nm_tests::chip;
use nm_tests::reference::hebb_oja::{self, OjaOutcome};

/// The seeds of check B and C (learning-rules.md: "over 5 seeds").
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
/// The chip instance of the mismatch runs (its learning-rate and efficacy gains are printed).
const CHIP_SEED: u64 = 7;

/// Check and compile a program text; the checked model carries the generated samples.
fn build(name: &str, text: &str) -> (Model, Program) {
    let checked = driver::check_source(name, text, Some(&chip::programs_dir()));
    let model = checked.model.unwrap_or_else(|| panic!("{name} does not check: {:#?}", checked.diagnostics.list));
    let opts = CompileOptions::new(model.target.spec.clone());
    let (program, _report) = driver::compile_model(&model, opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    (model, program)
}

/// Rows and generator of the model's input `name`.
fn patterns<'a>(model: &'a Model, name: &str) -> (&'a [Vec<f64>], &'a PatternSource) {
    let inp = model.inputs.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no input `{name}`"));
    match &inp.kind {
        InputKind::Patterns { rows, source, .. } => (rows, source),
        other => panic!("input `{name}` is not a pattern input: {other:?}"),
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Weight units per raw accumulator LSB of rule `rule` whose upper bound is `w_hi` weight units.
fn acc_unit(p: &Program, rule: usize, w_hi: f64) -> f64 {
    w_hi / f64::from(p.rules[rule].w_max)
}

/// Weight units per weight-readout LSB.
fn readout_unit(p: &Program, rule: usize, w_hi: f64) -> f64 {
    let f = &p.chip.formats;
    acc_unit(p, rule, w_hi) * f64::from(1u32 << accumulator_frac_bits(f.accumulator_bits, f.weight_bits))
}

/// One chip run of a learning check, with the float reference on the same data.
#[derive(Debug)]
struct OjaRun {
    seed: u64,
    float: OjaOutcome,
    chip: OjaOutcome,
}

/// What the chip configuration is: ideal (no mismatch) or one chip instance.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Hw {
    Ideal,
    Mismatch(u64),
}

impl Hw {
    fn label(self) -> String {
        match self {
            Hw::Ideal => "ideal 8-bit chip".into(),
            Hw::Mismatch(s) => format!("10 % mismatch, chip seed {s}"),
        }
    }
}

const OJA_W_HI: f64 = 1.5;

/// Check B on the chip: `programs/oja.nm` with data seed `seed` (initial-weight seed `seed + 100`)
/// under `target`, emulated ideal or on chip instance `hw`; the float rule runs on the same samples
/// from the same initial weights with the emulator's per-synapse learning-rate gains.
fn oja_run(seed: u64, target: &str, hw: Hw) -> OjaRun {
    let text = chip::program_text("oja.nm");
    assert!(text.contains("bounds w in [-1.5, 1.5]"), "oja.nm bounds changed: update OJA_W_HI");
    let text = chip::with_const(&text, "data_seed", &seed.to_string());
    let text = chip::with_const(&text, "w_seed", &(seed + 100).to_string());
    let text = chip::with_target(&text, target);
    let (model, program) = build("oja.nm", &text);
    let (rows, source) = patterns(&model, "x");
    let e1 = match source {
        PatternSource::Gaussian { axes, .. } => axes[0].clone(),
        other => panic!("oja.nm input is not a Gaussian generator: {other:?}"),
    };
    let unit = acc_unit(&program, 0, OJA_W_HI);
    let ru = readout_unit(&program, 0, OJA_W_HI);
    let core = &program.cores[0];
    let w0: Vec<f64> = core.synapses.iter().map(|s| f64::from(s.acc) * unit).collect();
    assert_eq!(w0.len(), 16, "one synapse per input channel");
    let (chip_seed, ideal) = match hw {
        Hw::Ideal => (0, true),
        Hw::Mismatch(s) => (s, false),
    };
    let emu = chip::run(&program, chip::config(chip_seed, ideal, None), None);
    let gains: Vec<f64> = if ideal {
        vec![1.0; 16]
    } else {
        let rsd = program.chip.mismatch.learning_rate_rsd;
        emu.deviations()[0]
            .learning_rate
            .iter()
            .map(|&g| f64::from(nm_emulator::mismatch::gain_q12(rsd, g)) / 4096.0)
            .collect()
    };
    let float = hebb_oja::run_oja_on(rows, &e1, &w0, 0.005, &gains);
    let rec = chip::series(&emu, "ff");
    let w_at = |k: usize| -> Vec<f64> { rec.data[k * 16..(k + 1) * 16].iter().map(|&v| f64::from(v) * ru).collect() };
    let n = rec.steps.len();
    let cos_trace: Vec<f64> = (0..n)
        .map(|k| {
            let w = w_at(k);
            dot(&w, &e1).abs() / dot(&w, &w).sqrt().max(1e-12)
        })
        .collect();
    let w = w_at(n - 1);
    let norm = dot(&w, &w).sqrt();
    let chip_out = OjaOutcome { abs_cos: dot(&w, &e1).abs() / norm, norm, cos_trace, w, e1 };
    println!(
        "oja seed {seed} [{}] {}: float |cos| {:.4} |w| {:.4}; chip |cos| {:.4} |w| {:.4}; lr gains {:?}",
        target,
        hw.label(),
        float.abs_cos,
        float.norm,
        chip_out.abs_cos,
        chip_out.norm,
        gains.iter().map(|g| (g * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    );
    OjaRun { seed, float, chip: chip_out }
}

fn oja_passes(o: &OjaOutcome) -> bool {
    o.abs_cos >= 0.93 && (o.norm - 1.0).abs() <= 0.08
}

#[test]
fn check_b_oja_finds_the_first_principal_component() {
    let t0 = std::time::Instant::now();
    let mut figure = Vec::new();
    let palette = ["#1f77b4", "#d62728", "#2ca02c"];
    for (k, hw) in [Hw::Ideal, Hw::Mismatch(CHIP_SEED)].into_iter().enumerate() {
        for &seed in &SEEDS {
            let r = oja_run(seed, "target default", hw);
            // The float reference of learning-rules.md (its own samples and start) and on the chip's.
            let own = hebb_oja::run_oja(&hebb_oja::OjaConfig::paper(), r.seed);
            assert!(oja_passes(&own), "float reference, seed {seed}: {:.4} {:.4}", own.abs_cos, own.norm);
            assert!(
                oja_passes(&r.float),
                "float on the chip's samples, seed {seed}: {:?}",
                (r.float.abs_cos, r.float.norm)
            );
            assert!(
                oja_passes(&r.chip),
                "{}, seed {seed}: |cos(w, e1)| {:.4} (>= 0.93), |w| {:.4} (1 +- 0.08)",
                hw.label(),
                r.chip.abs_cos,
                r.chip.norm
            );
            if seed == SEEDS[0] {
                let pts = |v: &[f64]| v.iter().enumerate().map(|(i, &c)| (i as f64 * 100.0, c)).collect::<Vec<_>>();
                if k == 0 {
                    figure.push(Curve::line("float reference", palette[0], pts(&r.float.cos_trace)));
                }
                figure.push(Curve::line(&format!("chip: {}", hw.label()), palette[k + 1], pts(&r.chip.cos_trace)));
            }
        }
    }
    chip::write_figure(
        "hebb_oja_oja_cos",
        &lines_svg(
            "Oja's rule: |cos(w, e1)| over training (data seed 1)",
            "sample",
            "|cos(w, e1)|",
            Scale::Linear,
            &figure,
        ),
    );
    println!("check B took {:.2} s", t0.elapsed().as_secs_f64());
}

/// One instar run: float reference on the chip's samples and the chip's outcome.
#[derive(Debug)]
struct InstarRun {
    float: hebb_oja::InstarOutcome,
    chip: hebb_oja::InstarOutcome,
    /// Per recorded sample: the smallest cosine of a prototype with its nearest cluster mean.
    chip_trace: Vec<(f64, f64)>,
}

/// Steps per sample of `programs/instar.nm`.
const INSTAR_PRESENT: usize = 25;

/// Check C on the chip: `programs/instar.nm` with data seed `seed` (initial weights `seed + 100`).
fn instar_run(seed: u64, target: &str, hw: Hw) -> InstarRun {
    let text = chip::program_text("instar.nm");
    assert!(text.contains("present = 25 steps"), "instar.nm presentation changed: update INSTAR_PRESENT");
    let text = chip::with_const(&text, "data_seed", &seed.to_string());
    let text = chip::with_const(&text, "w_seed", &(seed + 100).to_string());
    let text = chip::with_target(&text, target);
    let (model, program) = build("instar.nm", &text);
    let (rows, source) = patterns(&model, "x");
    let means = match source {
        PatternSource::Clusters { centres, .. } => centres.clone(),
        other => panic!("instar.nm input is not a cluster generator: {other:?}"),
    };
    let (k, d) = (means.len(), means[0].len());
    // The ff synapses in the core's synapse order (the weight probe's order): (channel, post).
    let core = &program.cores[0];
    let ff_group =
        core.groups.iter().position(|g| program.symbols.projections[g.proj.index()].name == "ff").expect("ff");
    let mut order = Vec::new();
    for (a, ax) in core.axons.iter().enumerate() {
        for si in ax.first..ax.first + ax.count {
            let s = core.synapses[si as usize];
            if usize::from(s.group) == ff_group {
                order.push((a, s.target as usize, si as usize));
            }
        }
    }
    let first_axon = order.iter().map(|o| o.0).min().expect("ff synapses");
    assert_eq!(order.len(), k * d, "every channel reaches every neuron");
    let unit = acc_unit(&program, 0, 1.0);
    let ru = readout_unit(&program, 0, 1.0);
    let mut w0 = vec![vec![0.0; d]; k];
    for &(a, post, si) in &order {
        w0[post][a - first_axon] = f64::from(core.synapses[si].acc) * unit;
    }
    let (chip_seed, ideal) = match hw {
        Hw::Ideal => (0, true),
        Hw::Mismatch(s) => (s, false),
    };
    let emu = chip::run(&program, chip::config(chip_seed, ideal, None), None);
    let mut gain = vec![1.0; k * d];
    if !ideal {
        let rsd = program.chip.mismatch.learning_rate_rsd;
        let dev = &emu.deviations()[0].learning_rate;
        for &(a, post, si) in &order {
            gain[post * d + a - first_axon] = f64::from(nm_emulator::mismatch::gain_q12(rsd, dev[si])) / 4096.0;
        }
    }
    let float = hebb_oja::run_instar_on(rows, &means, w0, 0.01, 0.01, &gain);
    let rec = chip::series(&emu, "ff");
    let protos_at = |j: usize| -> Vec<Vec<f64>> {
        let mut w = vec![vec![0.0; d]; k];
        for (n, &(a, post, _)) in order.iter().enumerate() {
            w[post][a - first_axon] = f64::from(rec.data[j * order.len() + n]) * ru;
        }
        w
    };
    let chip_trace: Vec<(f64, f64)> = (0..rec.steps.len())
        .map(|j| {
            let (_, _, m) = hebb_oja::assign(&protos_at(j), &means);
            (rec.steps[j] as f64 / INSTAR_PRESENT as f64, m)
        })
        .collect();
    let protos = protos_at(rec.steps.len() - 1);
    let (assignment, all_claimed, min_cos) = hebb_oja::assign(&protos, &means);
    let chip_out = hebb_oja::InstarOutcome {
        assignment,
        all_claimed,
        min_cos,
        wins: Vec::new(),
        prototypes: protos,
        means: means.clone(),
    };
    let bias = chip::last_sample(&emu, "bias");
    println!(
        "instar seed {seed} [{target}] {}: float claimed {} min cos {:.4} wins {:?}; chip claimed {} min cos {:.4} \
         assignment {:?}; chip biases (readout) {:?}",
        hw.label(),
        float.all_claimed,
        float.min_cos,
        float.wins,
        chip_out.all_claimed,
        chip_out.min_cos,
        chip_out.assignment.iter().map(|a| a.0).collect::<Vec<_>>(),
        bias
    );
    InstarRun { float, chip: chip_out, chip_trace }
}

fn instar_passes(o: &hebb_oja::InstarOutcome) -> bool {
    o.all_claimed && o.min_cos >= 0.99
}

#[test]
fn check_c_instar_with_competition_finds_the_cluster_centres() {
    let t0 = std::time::Instant::now();
    let mut figure = Vec::new();
    let palette = ["#d62728", "#2ca02c"];
    for (k, hw) in [Hw::Ideal, Hw::Mismatch(CHIP_SEED)].into_iter().enumerate() {
        for &seed in &SEEDS {
            let own = hebb_oja::run_instar(&hebb_oja::InstarConfig::paper(), seed);
            assert!(instar_passes(&own), "float reference, seed {seed}: {own:?}");
            let r = instar_run(seed, "target default", hw);
            assert!(instar_passes(&r.float), "float on the chip's samples, seed {seed}: {:?}", r.float.assignment);
            assert!(
                instar_passes(&r.chip),
                "{}, seed {seed}: all claimed {} (assignment {:?}), min cos {:.4} (>= 0.99)",
                hw.label(),
                r.chip.all_claimed,
                r.chip.assignment,
                r.chip.min_cos
            );
            if seed == SEEDS[0] {
                figure.push(Curve::line(&format!("chip: {}", hw.label()), palette[k], r.chip_trace.clone()));
            }
        }
    }
    chip::write_figure(
        "hebb_oja_instar_cos",
        &lines_svg(
            "Instar with 1-WTA: smallest cos(prototype, nearest cluster mean) (data seed 1)",
            "sample",
            "min cos",
            Scale::Linear,
            &figure,
        ),
    );
    println!("check C took {:.2} s", t0.elapsed().as_secs_f64());
}
