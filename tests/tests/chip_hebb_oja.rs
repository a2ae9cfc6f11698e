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
