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
    /// Figure legend of a run on the default target (10 % mismatch when on).
    fn legend(self) -> String {
        match self {
            Hw::Ideal => "ideal 8-bit chip".into(),
            Hw::Mismatch(s) => format!("8-bit chip, 10 % mismatch (chip seed {s})"),
        }
    }

    fn label(self) -> String {
        match self {
            Hw::Ideal => "ideal 8-bit chip".into(),
            Hw::Mismatch(s) => format!("mismatch on, chip seed {s}"),
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
    let configs = [
        ("target default", Hw::Ideal),
        ("target default", Hw::Mismatch(CHIP_SEED)),
        // learning-rules.md's own wording: 10 % per-synapse eta mismatch and nothing else.
        ("target default { mismatch = 0%; mismatch_learning_rate = 10% }", Hw::Mismatch(CHIP_SEED)),
    ];
    for (k, (target, hw)) in configs.into_iter().enumerate() {
        for &seed in &SEEDS {
            let r = oja_run(seed, target, hw);
            // The float reference of learning-rules.md (its own samples and start) and on the chip's.
            let own = hebb_oja::run_oja(&hebb_oja::OjaConfig::paper(), r.seed);
            println!("oja seed {seed} float reference (own samples): |cos| {:.4} |w| {:.4}", own.abs_cos, own.norm);
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
            if seed == SEEDS[0] && k < 2 {
                let pts = |v: &[f64]| v.iter().enumerate().map(|(i, &c)| (i as f64 * 100.0, c)).collect::<Vec<_>>();
                if k == 0 {
                    figure.push(Curve::line("float reference", palette[0], pts(&r.float.cos_trace)));
                }
                figure.push(Curve::line(&format!("chip: {}", hw.legend()), palette[k + 1], pts(&r.chip.cos_trace)));
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
    /// The same for the float reference on the chip's samples (every 100 samples up to 2000,
    /// then every 1000).
    float_trace: Vec<(f64, f64)>,
    /// Samples with no winner, exactly one, and two or more (ties of the race).
    winners: [usize; 3],
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
    let float = hebb_oja::run_instar_on(rows, &means, w0.clone(), 0.01, 0.01, &gain);
    let float_trace: Vec<(f64, f64)> = (0..20)
        .map(|j| j * 100)
        .chain((2..=rows.len() / 1000).map(|j| j * 1000))
        .map(|n| {
            let o = hebb_oja::run_instar_on(&rows[..n], &means, w0.clone(), 0.01, 0.01, &gain);
            (n as f64, hebb_oja::assign(&o.prototypes, &means).2)
        })
        .collect();
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
    let bias = chip::last_sample(&emu, "bias");
    // Winners per sample, from the spike recording: the neurons firing in the sample's last step.
    let spikes = &emu.recordings().spikes[0];
    let mut per_step = std::collections::HashMap::<i64, (usize, usize)>::new();
    for (&t, &id) in spikes.times.iter().zip(&spikes.ids) {
        if t > 0 && t % INSTAR_PRESENT as i64 == 0 {
            let e = per_step.entry(t).or_insert((0, id as usize));
            e.0 += 1;
        }
    }
    let mut winners = [0usize; 3];
    let mut wins = vec![0u64; k];
    for m in 1..=rows.len() as i64 {
        match per_step.get(&(m * INSTAR_PRESENT as i64)) {
            None => winners[0] += 1,
            Some(&(1, id)) => {
                winners[1] += 1;
                wins[id] += 1;
            }
            Some(_) => winners[2] += 1,
        }
    }
    let chip_out =
        hebb_oja::InstarOutcome { assignment, all_claimed, min_cos, wins, prototypes: protos, means: means.clone() };
    println!(
        "instar seed {seed} [{target}] {}: float claimed {} min cos {:.4} wins {:?}; chip claimed {} min cos {:.4} \
         assignment {:?}, single wins {:?}, samples with 0 / 1 / 2+ winners {winners:?}; chip biases (readout) {:?}",
        hw.label(),
        float.all_claimed,
        float.min_cos,
        float.wins,
        chip_out.all_claimed,
        chip_out.min_cos,
        chip_out.assignment.iter().map(|a| a.0).collect::<Vec<_>>(),
        chip_out.wins,
        bias
    );
    InstarRun { float, chip: chip_out, chip_trace, float_trace, winners }
}

fn instar_passes(o: &hebb_oja::InstarOutcome) -> bool {
    o.all_claimed && o.min_cos >= 0.99
}

#[test]
fn check_c_instar_with_competition_finds_the_cluster_centres() {
    let t0 = std::time::Instant::now();
    let mut figure = Vec::new();
    let palette = ["#1f77b4", "#d62728", "#2ca02c"];
    for (k, hw) in [Hw::Ideal, Hw::Mismatch(CHIP_SEED)].into_iter().enumerate() {
        for &seed in &SEEDS {
            let own = hebb_oja::run_instar(&hebb_oja::InstarConfig::paper(), seed);
            println!(
                "instar seed {seed} float reference (own samples): claimed {} min cos {:.4}",
                own.all_claimed, own.min_cos
            );
            assert!(instar_passes(&own), "float reference, seed {seed}: {own:?}");
            let r = instar_run(seed, "target default", hw);
            assert!(instar_passes(&r.float), "float on the chip's samples, seed {seed}: {:?}", r.float.assignment);
            // The competition is a 1-WTA: ties of the 0.1-resolution race are rare.
            assert!(r.winners[1] >= 19_000, "{}, seed {seed}: winners per sample {:?}", hw.label(), r.winners);
            assert!(
                instar_passes(&r.chip),
                "{}, seed {seed}: all claimed {} (assignment {:?}), min cos {:.4} (>= 0.99)",
                hw.label(),
                r.chip.all_claimed,
                r.chip.assignment,
                r.chip.min_cos
            );
            if seed == SEEDS[0] {
                if k == 0 {
                    figure.push(Curve::line("float reference (chip's samples)", palette[0], r.float_trace.clone()));
                }
                figure.push(Curve::line(&format!("chip: {}", hw.legend()), palette[k + 1], r.chip_trace.clone()));
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

// ---------------------------------------------------------------------------------------------
// Check A: every compiled per-synapse update, on random raw integers.

use nm_isa::fixed_point::Rounding;
use nm_isa::learn::{apply_weight_write, exec, Dst, Instr, LearnCtx, Opcode, Reduce, Scope, Src};
use nm_isa::rng::HwRng;

/// One synapse's view for the learning engine: raw sources, the accumulator, the engine PRNG.
struct Syn {
    src: std::collections::HashMap<u8, i32>,
    acc: i32,
    acc_bits: u8,
    rng: HwRng,
}

impl LearnCtx for Syn {
    fn load(&mut self, s: Src) -> i32 {
        if s == Src::W {
            self.acc
        } else {
            self.src.get(&s.sel()).copied().unwrap_or(0)
        }
    }
    fn store(&mut self, dst: Dst, value: i32) {
        if dst == Dst::W {
            self.acc = apply_weight_write(self.acc, value, 4096, self.acc_bits);
        }
    }
    fn reduce(&mut self, _: Reduce) -> (i64, u32) {
        (0, 0)
    }
    fn scale_weights(&mut self, _: i32, _: u8, _: Rounding) -> u32 {
        0
    }
    fn rng(&mut self) -> &mut HwRng {
        &mut self.rng
    }
}

/// Integer reference of a per-synapse handler: the op semantics of `docs/isa.md` written out in
/// `i128` with their own rounding helpers (half away from zero; stochastic: round up when the
/// dropped fraction, scaled to 32 bits, exceeds a fresh 32-bit draw, drawn only when non-zero).
fn int_reference(
    code: &[Instr],
    src: &std::collections::HashMap<u8, i32>,
    acc: i32,
    acc_bits: u8,
    rng: &mut HwRng,
) -> i32 {
    int_reference_gain(code, src, acc, acc_bits, 4096, rng)
}

/// [`int_reference`] for a synapse whose learning-rate gain is `gain_q12` (a store moves the
/// accumulator by `round_nearest((target − acc) · gain / 4096)`).
fn int_reference_gain(
    code: &[Instr],
    src: &std::collections::HashMap<u8, i32>,
    acc: i32,
    acc_bits: u8,
    gain_q12: u16,
    rng: &mut HwRng,
) -> i32 {
    let sat = |v: i128| v.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32;
    let nearest = |v: i128, sh: u32| -> i128 {
        if sh == 0 {
            return v;
        }
        let d = 1i128 << sh;
        let q = v.div_euclid(d);
        let f = v.rem_euclid(d);
        if 2 * f > d || (2 * f == d && v >= 0) {
            q + 1
        } else {
            q
        }
    };
    let stochastic = |v: i128, sh: u32, rng: &mut HwRng| -> i128 {
        if sh == 0 {
            return v;
        }
        let d = 1i128 << sh;
        let (q, f) = (v.div_euclid(d), v.rem_euclid(d));
        if f == 0 {
            return q;
        }
        let f32_ = if sh >= 32 { f >> (sh - 32) } else { f << (32 - sh) };
        if i128::from(rng.next_u32()) < f32_ {
            q + 1
        } else {
            q
        }
    };
    let mut r = [0i128; 8];
    let mut w = i128::from(acc);
    for ins in code {
        let (d, a, b, sh) = (usize::from(ins.rd), usize::from(ins.ra), usize::from(ins.rb), u32::from(ins.sh));
        let imm = i128::from(ins.imm);
        r[d] = match ins.op {
            Opcode::Ld => match Src::from_sel(ins.sel) {
                Some(Src::W) => w,
                Some(s) => i128::from(src.get(&s.sel()).copied().unwrap_or(0)),
                None => panic!("bad source"),
            },
            Opcode::Ldi => imm,
            Opcode::St => {
                // acc + (target - acc) · gain, saturated to the accumulator.
                let lim = (1i128 << (acc_bits - 1)) - 1;
                let moved = nearest((r[a] - w) * i128::from(gain_q12), 12);
                w = (w + moved).clamp(-lim - 1, lim);
                r[d]
            }
            Opcode::Mov => r[a],
            Opcode::Add => i128::from(sat(r[a] + r[b])),
            Opcode::Sub => i128::from(sat(r[a] - r[b])),
            Opcode::Addi => i128::from(sat(r[a] + imm)),
            Opcode::Mul => i128::from(sat(nearest(r[a] * r[b], sh))),
            Opcode::Muli => i128::from(sat(nearest(r[a] * imm, sh))),
            Opcode::Mulr => i128::from(sat(stochastic(r[a] * r[b], sh, rng))),
            Opcode::Mulir => i128::from(sat(stochastic(r[a] * imm, sh, rng))),
            Opcode::Shl => i128::from(sat(r[a] << sh)),
            Opcode::Shr => i128::from(sat(nearest(r[a], sh))),
            Opcode::Shrr => i128::from(sat(stochastic(r[a], sh, rng))),
            Opcode::Neg => i128::from(sat(-r[a])),
            Opcode::Abs => i128::from(sat(r[a].abs())),
            Opcode::Min => r[a].min(r[b]),
            Opcode::Max => r[a].max(r[b]),
            Opcode::Mini => r[a].min(imm),
            Opcode::Maxi => r[a].max(imm),
            Opcode::Sel => {
                if r[d] != 0 {
                    r[a]
                } else {
                    r[b]
                }
            }
            other => panic!("op {other:?} is not expected in a per-synapse Hebbian update"),
        };
    }
    w as i32
}

/// Payload scale (raw units per unit of value) of the rows of input `name`.
fn input_payload_scale(model: &Model, program: &Program, name: &str) -> f64 {
    let (rows, _) = patterns(model, name);
    let inp = program.inputs.iter().find(|i| i.name == name).expect("input");
    let raw = match &inp.kind {
        nm_isa::program::InputKind::Patterns { rows, .. } => rows,
        other => panic!("{other:?}"),
    };
    let (mut best, mut at) = (0.0f64, (0, 0));
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            if v.abs() > best {
                (best, at) = (v.abs(), (i, j));
            }
        }
    }
    let s = f64::from(raw[at.0][at.1]) / rows[at.0][at.1];
    2f64.powi(s.log2().round() as i32)
}

/// Payload scale of a rate population's output: its LUT's largest entry over the top of its range.
fn rate_payload_scale(program: &Program, top: f64) -> f64 {
    let lut = &program.luts[0];
    let m = lut.entries.iter().map(|e| e.abs()).max().expect("entries");
    2f64.powi((f64::from(m) / top).log2().round() as i32)
}

struct CheckA {
    file: &'static str,
    /// Rule index in the program and the weight bound (`bounds w in [.., hi]`, or |lo| if larger).
    w_bound: f64,
    /// Real value of one raw LSB of `xg` and `yg`.
    x_unit: f64,
    y_unit: f64,
}

/// Result of check A for one rule: (cases, bit-exact mismatches, largest |chip − float| in LSB).
fn check_a(c: &CheckA, cases: usize, seed: u64) -> (usize, usize, f64) {
    let (model, program) = build(c.file, &chip::program_text(c.file));
    let rule = &program.rules[0];
    let mrule = &model.rules[0];
    let (hi_idx, handler) = rule
        .handlers
        .iter()
        .enumerate()
        .find(|(_, h)| h.scope == Scope::Synapse)
        .unwrap_or_else(|| panic!("{}: no per-synapse handler", c.file));
    let update = &mrule.handlers[hi_idx].updates[0];
    let unit = c.w_bound / f64::from(rule.w_max.max(-rule.w_min));
    let acc_bits = program.chip.formats.accumulator_bits;
    let top = 1i32 << (program.chip.formats.payload_bits - 2);
    let mut draw = HwRng::new(seed, 0xA);
    let mut below = |n: u32| draw.next_u32() % n;
    let (mut bad, mut worst, mut ties, mut off, mut worst_bias) = (0usize, 0.0f64, 0usize, 0usize, 0.0f64);
    for case in 0..cases {
        let mut src = std::collections::HashMap::new();
        src.insert(Src::Xg.sel(), below(2 * top as u32 + 1) as i32 - top);
        src.insert(Src::Yg.sel(), below(2 * top as u32 + 1) as i32 - top);
        src.insert(Src::Ys.sel(), below(2) as i32);
        src.insert(Src::Sig(0).sel(), below(2) as i32);
        let span = (rule.w_max - rule.w_min) as u32 + 1;
        let acc = rule.w_min + below(span) as i32;
        let rng_seed = u64::from(below(u32::MAX));
        let mut syn = Syn { src: src.clone(), acc, acc_bits, rng: HwRng::new(rng_seed, 1) };
        exec(&handler.code, &mut syn);
        let int = int_reference(&handler.code, &src, acc, acc_bits, &mut HwRng::new(rng_seed, 1));
        if int != syn.acc {
            bad += 1;
            if bad <= 3 {
                println!("{} case {case}: engine {} vs integer reference {int} ({src:?}, acc {acc})", c.file, syn.acc);
            }
        }
        let real = |s: Src| -> f64 {
            let g = f64::from(src.get(&s.sel()).copied().unwrap_or(0));
            match s {
                Src::W => f64::from(acc) * unit,
                Src::Xg => g * c.x_unit,
                Src::Yg => g * c.y_unit,
                _ => g,
            }
        };
        let v = update.value.eval_f64(&real);
        let delta = match update.op {
            nm_compiler::front::model::UpdateOp::Add => v,
            nm_compiler::front::model::UpdateOp::Sub => -v,
            other => panic!("{other:?}"),
        };
        let expect = f64::from(acc) + delta / unit;
        let lim = f64::from((1i32 << (acc_bits - 1)) - 1);
        let expect = expect.clamp(-lim - 1.0, lim);
        worst = worst.max((f64::from(syn.acc) - expect).abs());
        // Stochastic rounding is unbiased on the compiled rule: the first 20 cases are run with
        // 4000 engine PRNG seeds each and the mean result must be the float value (the rounding
        // error's SD is at most 0.5 LSB, so the mean's is at most 0.008 LSB).
        if rule.readout == Rounding::Stochastic && case < 20 {
            let n = 4000u64;
            let mut sum = 0.0;
            for k in 0..n {
                let mut s2 = Syn { src: src.clone(), acc, acc_bits, rng: HwRng::new(k, 2) };
                exec(&handler.code, &mut s2);
                sum += f64::from(s2.acc);
            }
            let mean = sum / n as f64;
            assert!(
                (mean - expect).abs() <= 0.04,
                "{} case {case}: mean of stochastic rounding {mean:.4} vs float {expect:.4}",
                c.file
            );
            worst_bias = worst_bias.max((mean - expect).abs());
        }
        // Rounding of the float value itself: nearest rules give the correctly rounded float
        // update (half away from zero), stochastic ones its floor or ceiling. Values within 1e-6
        // of a tie (nearest) or of a whole number (stochastic) are counted, not judged: the
        // chip's constant for eta differs from the decimal by ~2^-30 and may break them either way.
        let got = f64::from(syn.acc);
        let f = expect - expect.floor();
        match rule.readout {
            Rounding::Nearest if (f - 0.5).abs() < 1e-6 => ties += 1,
            Rounding::Nearest => {
                let want = expect.signum() * (expect.abs() + 0.5).floor();
                if got != want {
                    off += 1;
                }
            }
            _ if !(1e-6..=1.0 - 1e-6).contains(&f) => {
                // A whole-number update (e.g. 0 when `learn` is 0) must come out exactly, or be a
                // tie broken by the constant's last bit.
                if got != expect.round() {
                    ties += 1;
                }
            }
            _ => {
                if got != expect.floor() && got != expect.ceil() {
                    off += 1;
                }
            }
        }
    }
    println!(
        "check A {}: {ties} ties left unjudged, {off} results not the rounded float update; \
         largest bias of stochastic rounding over 4000 draws {worst_bias:.4} LSB",
        c.file
    );
    assert_eq!(off, 0, "{}: {off} of {cases} updates are not the float update rounded ({:?})", c.file, rule.readout);
    (cases, bad, worst)
}

#[test]
fn check_a_updates_are_bit_exact_and_within_one_lsb_of_float() {
    let (om, op) = build("oja.nm", &chip::program_text("oja.nm"));
    let (hm, hp) = build("hebb.nm", &chip::program_text("hebb.nm"));
    let (im, ip) = build("instar.nm", &chip::program_text("instar.nm"));
    let (_, ap) = build("antihebb.nm", &chip::program_text("antihebb.nm"));
    let rules = [
        CheckA {
            file: "hebb.nm",
            w_bound: 1.0,
            x_unit: 1.0 / input_payload_scale(&hm, &hp, "x"),
            y_unit: 1.0 / rate_payload_scale(&hp, 8.0),
        },
        CheckA {
            file: "oja.nm",
            w_bound: 1.5,
            x_unit: 1.0 / input_payload_scale(&om, &op, "x"),
            y_unit: 1.0 / rate_payload_scale(&op, 8.0),
        },
        CheckA { file: "instar.nm", w_bound: 1.0, x_unit: 1.0 / input_payload_scale(&im, &ip, "x"), y_unit: 1.0 },
        CheckA {
            file: "antihebb.nm",
            w_bound: 1.0,
            x_unit: 1.0 / rate_payload_scale(&ap, 6.0),
            y_unit: 1.0 / rate_payload_scale(&ap, 6.0),
        },
    ];
    for (k, c) in rules.iter().enumerate() {
        let seed = 40 + k as u64;
        let (n, bad, worst) = check_a(c, 20_000, seed);
        println!("check A {} (seed {seed}): {n} cases, {bad} differ from the integer reference, |chip - float| <= {worst:.3} accumulator LSB", c.file);
        assert_eq!(bad, 0, "{}: the learning engine differs from the integer reference", c.file);
        assert!(worst <= 1.0, "{}: {worst} accumulator LSB from float", c.file);
    }
}

// ---------------------------------------------------------------------------------------------
// Property: Oja's weight stays within the stated angle of e1 over hardware variability.

/// A chip variant: profile, weight bits, one mismatch spread for every term, chip seed.
fn variant_target(profile: &str, weight_bits: u8, spread_pct: u32, chip_seed: u64) -> String {
    format!("target {profile} {{ weight_bits = {weight_bits}; mismatch = {spread_pct}%; chip_seed = {chip_seed} }}")
}

/// Seed of the property tests' case generator (so that every run draws the same cases).
const PROPTEST_SEED: u64 = 4;

fn oja_within_angle(profile: &str, weight_bits: u8, spread_pct: u32, chip_seed: u64, seed: u64) {
    let target = variant_target(profile, weight_bits, spread_pct, chip_seed);
    let r = oja_run(seed, &target, Hw::Mismatch(chip_seed));
    // learning-rules.md check B: |cos(w, e1)| >= 0.93 (the stated angle, acos 0.93 = 21.6 degrees).
    assert!(r.chip.abs_cos >= 0.93, "{target}, data seed {seed}: |cos(w, e1)| = {:.4}", r.chip.abs_cos);
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 8,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(PROPTEST_SEED),
        ..Default::default()
    })]
    /// Few cases in CI (fixed seed `PROPTEST_SEED`, each case prints its target); the sweep below
    /// runs 200.
    #[test]
    fn oja_stays_within_the_angle_of_e1_over_hardware(
        small in proptest::bool::ANY,
        weight_bits in 6u8..=8,
        spread_pct in 0u32..=10,
        chip_seed in 0u64..1000,
        seed in 1u64..=5,
    ) {
        oja_within_angle(if small { "small" } else { "default" }, weight_bits, spread_pct, chip_seed, seed);
    }
}

/// The larger sweep (about 12 s): `cargo test --release -p nm-tests --test chip_hebb_oja -- --ignored
/// --nocapture`. 200 cases drawn as the property's, with data seeds 1–20 instead of check B's
/// 1–5; every case runs (no shrinking) and the misses are printed. Asserted: no miss on check B's
/// data seeds (the property's domain), and beyond them exactly the misses of [`SWEEP_MISSES`]
/// (none in these 200 cases; a counter-example on data seed 8 is pinned in
/// [`a_mismatched_chip_misses_the_angle_on_data_seed_8`]).
#[test]
#[ignore = "larger sweep, 200 chip cases (~12 s): cargo test --release -p nm-tests --test chip_hebb_oja -- --ignored"]
fn oja_stays_within_the_angle_of_e1_sweep() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        rng_seed: proptest::test_runner::RngSeed::Fixed(PROPTEST_SEED + 1),
        ..Default::default()
    });
    let strategy = (proptest::bool::ANY, 6u8..=8, 0u32..=10, 0u64..100_000, 1u64..=20);
    let (mut misses, mut lowest) = (Vec::new(), (f64::INFINITY, String::new()));
    for _ in 0..200 {
        let (small, wb, spread, chip_seed, seed) = strategy.new_tree(&mut runner).expect("a case").current();
        let target = variant_target(if small { "small" } else { "default" }, wb, spread, chip_seed);
        let r = oja_run(seed, &target, Hw::Mismatch(chip_seed));
        if r.chip.abs_cos < lowest.0 {
            lowest = (r.chip.abs_cos, format!("{target}, data seed {seed}, float {:.4}", r.float.abs_cos));
        }
        if r.chip.abs_cos < 0.93 {
            misses.push((target, seed, r.chip.abs_cos, r.float.abs_cos));
        }
    }
    eprintln!("lowest |cos| {:.4} ({}); {} misses: {misses:?}", lowest.0, lowest.1, misses.len());
    assert!(misses.iter().all(|m| m.1 > 5), "a miss on check B's data seeds 1-5: {misses:?}");
    // The float run of each missing chip keeps the angle: the miss is the chip's.
    assert!(misses.iter().all(|m| m.3 >= 0.93), "{misses:?}");
    let got: Vec<(&str, u64)> = misses.iter().map(|m| (m.0.as_str(), m.1)).collect();
    assert_eq!(got, SWEEP_MISSES, "the sweep's misses changed: update the list and docs/reproductions.md");
}

/// The cases of [`oja_stays_within_the_angle_of_e1_sweep`] that miss the angle (target, data seed).
const SWEEP_MISSES: &[(&str, u64)] = &[];

/// A counter-example outside the property's domain, found by an earlier form of the sweep (its
/// cases drawn by proptest's runner, shrunk from 9 % on chip seed 44186): data seed 8 (beyond
/// check B's seeds 1–5, and the hardest draw: the float run reaches only 0.94) on chip seed 43496
/// at 8 % mismatch ends below the stated 0.93 with 6-bit and with 8-bit weights alike, while the
/// ideal chip on the same samples and the float run with this chip's learning-rate gains keep
/// it: the miss is the efficacy gains (`y = Σ g_i w_i x_i` moves the fixed point, by ±0.007 in cos
/// on check B's seeds) on a draw with little margin, not the weight width. Pinned, so that a
/// change of the chip model or the compiler shows up here (docs/reproductions.md, paper 4).
#[test]
fn a_mismatched_chip_misses_the_angle_on_data_seed_8() {
    let run = |bits: u8| oja_run(8, &variant_target("default", bits, 8, 43496), Hw::Mismatch(43496));
    let (r6, r8) = (run(6), run(8));
    let ideal = oja_run(8, &variant_target("default", 8, 0, 0), Hw::Ideal);
    eprintln!(
        "data seed 8, chip seed 43496, 8 %: 6-bit chip |cos| {:.4} (float {:.4}), 8-bit chip {:.4} (float {:.4}); \
         ideal 8-bit chip {:.4} (float {:.4})",
        r6.chip.abs_cos, r6.float.abs_cos, r8.chip.abs_cos, r8.float.abs_cos, ideal.chip.abs_cos, ideal.float.abs_cos
    );
    for (bits, r) in [(6, &r6), (8, &r8)] {
        assert!((0.92..0.93).contains(&r.chip.abs_cos), "{bits}-bit chip |cos| {:.4}", r.chip.abs_cos);
        assert!(r.float.abs_cos >= 0.93, "{bits}-bit float |cos| {:.4}", r.float.abs_cos);
    }
    assert!(ideal.chip.abs_cos >= 0.93, "ideal chip |cos| {:.4}", ideal.chip.abs_cos);
}

/// Check A through the whole emulator: `file` (with `round nearest`, so that every step is
/// deterministic) runs `steps` steps; before and after each step the test reads every synapse's
/// accumulator, the payload that reached it (the input row sent the step before) and the post
/// neuron's output, and the accumulator after the step must equal the integer reference of the
/// compiled handler on those raw values, with the synapse's learning-rate gain, clamped to the
/// rule's bounds. Returns the number of synapse updates compared.
fn engine_matches_integer_reference(file: &str, hw: Hw, steps: u64) -> usize {
    let text = chip::program_text(file).replace("round stochastic", "round nearest");
    let (_, program) = build(file, &text);
    let rule = &program.rules[0];
    let code = &rule.handlers.iter().find(|h| h.scope == Scope::Synapse).expect("per-synapse handler").code;
    let (chip_seed, ideal) = match hw {
        Hw::Ideal => (0, true),
        Hw::Mismatch(s) => (s, false),
    };
    let mut emu = nm_emulator::Emulator::new(&program, chip::config(chip_seed, ideal, None)).expect("loads");
    let rows = match &program.inputs[0].kind {
        nm_isa::program::InputKind::Patterns { rows, present_steps, .. } => {
            assert_eq!(*present_steps, 1, "{file}: one sample per step expected");
            rows.clone()
        }
        other => panic!("{other:?}"),
    };
    let core = &program.cores[0];
    let gains: Vec<u16> = (0..core.synapses.len())
        .map(|si| {
            if ideal {
                4096
            } else {
                nm_emulator::mismatch::gain_q12(
                    program.chip.mismatch.learning_rate_rsd,
                    emu.deviations()[0].learning_rate[si],
                )
            }
        })
        .collect();
    let acc_bits = program.chip.formats.accumulator_bits;
    let mut compared = 0;
    for t in 0..steps {
        let before = emu.synapse_state(0).expect("core 0").0.to_vec();
        emu.step();
        let after = emu.synapse_state(0).expect("core 0").0.to_vec();
        let y = emu.neuron_value(0, 0, nm_isa::program::StateVar::Y).expect("neuron 0");
        for (a, ax) in core.axons.iter().enumerate() {
            for si in ax.first..ax.first + ax.count {
                let si = si as usize;
                let x = if t == 0 { 0 } else { rows[(t as usize - 1) % rows.len()][a] };
                let mut src = std::collections::HashMap::new();
                src.insert(Src::Xg.sel(), x);
                src.insert(Src::Yg.sel(), y);
                let want = int_reference_gain(code, &src, before[si], acc_bits, gains[si], &mut HwRng::new(0, 0))
                    .clamp(rule.w_min, rule.w_max);
                assert_eq!(
                    after[si],
                    want,
                    "{file} {}: step {t}, synapse {si}: x {x}, y {y}, acc {}",
                    hw.label(),
                    before[si]
                );
                compared += 1;
            }
        }
    }
    compared
}

#[test]
fn check_a_the_emulator_applies_the_integer_update_every_step() {
    for hw in [Hw::Ideal, Hw::Mismatch(CHIP_SEED)] {
        let n = engine_matches_integer_reference("oja.nm", hw, 2000);
        println!("check A oja.nm on the emulator, {}: {n} synapse updates bit-exact", hw.label());
    }
}

/// Check C on other hardware (not in CI, about 10 s):
/// `cargo test --release -p nm-tests --test chip_hebb_oja instar_on_other_hardware -- --ignored`.
#[test]
#[ignore = "check C on four more chips (~10 s): cargo test --release -p nm-tests --test chip_hebb_oja instar_on_other_hardware -- --ignored"]
fn instar_on_other_hardware() {
    for (profile, bits, spread) in [("small", 6, 10), ("small", 8, 10), ("default", 6, 10), ("default", 7, 5)] {
        let target = variant_target(profile, bits, spread, CHIP_SEED);
        let r = instar_run(SEEDS[0], &target, Hw::Mismatch(CHIP_SEED));
        assert!(instar_passes(&r.chip), "{target}: {:?}, winners {:?}", r.chip.assignment, r.winners);
    }
}
