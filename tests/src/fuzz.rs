//! Fuzz bodies shared by the `cargo fuzz` targets (`fuzz/fuzz_targets/*.rs`) and the stable
//! test `tests/tests/fuzz.rs`: the `.nm` front end, the `program.bin` decoder, the checkpoint
//! loader, and compile-then-emulate of small generated programs. Each body takes raw bytes and
//! panics only on a real finding (a panic inside the toolchain, or a broken round trip).
//!
//! The same module holds the seeded mutators and the seed corpus, so the stable test replays
//! exactly what a fuzzer would start from.

use nm_compiler::budget::Budget;
use nm_compiler::driver;
use nm_compiler::front::diag;
use nm_compiler::passes::CompileOptions;
use nm_emulator::{checkpoint, Emulator, RunConfig};
use nm_isa::binary::{self, HEADER_BYTES, SECTION_HEADER_BYTES};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::path::{Path, PathBuf};

/// The compile budget of the fuzz bodies: small enough that a fuzzed network stays far below
/// the memory budget of the stable test (`tests/tests/fuzz.rs`), large enough for every seed.
pub fn fuzz_budget() -> Budget {
    Budget { neurons: 1 << 16, synapses: 1 << 18 }
}

/// Steps a fuzz body emulates at most (keeps one input well below a millisecond or so).
pub const FUZZ_STEPS: u64 = 24;

/// Where data files named by fuzzed sources resolve (the bundled programs' folder, so the seeds
/// that read `data/...` files still check).
fn base_dir() -> PathBuf {
    crate::chip::programs_dir()
}

/// `.nm` front end: parse, check, render the diagnostics both ways; if the source checks,
/// compile it under [`fuzz_budget`] and round-trip the program through `program.bin`.
pub fn nm_source(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let checked = driver::check_source("fuzz.nm", text, Some(&base_dir()));
    let _ = diag::render_json(&checked.diagnostics, &checked.sources);
    let mut out = codespan_reporting::term::termcolor::NoColor::new(Vec::new());
    diag::write_human(&checked.diagnostics, &checked.sources, &mut out);
    let Some(model) = checked.model.filter(|_| !checked.diagnostics.has_errors()) else { return };
    let mut opts = CompileOptions::new(model.target.spec.clone());
    opts.budget = fuzz_budget();
    opts.refine_passes = 1;
    if let Ok((program, _report)) = driver::compile_model(&model, opts) {
        let bytes = binary::encode(&program);
        match binary::decode(&bytes) {
            Ok(back) => assert!(binary::encode(&back) == bytes, "program.bin round trip changed the bytes"),
            Err(e) => panic!("a compiled program does not decode: {e}"),
        }
    }
}

/// Recompute the length-independent CRC32 of every section that fits, so that mutations reach
/// the section parsers instead of stopping at the CRC check.
pub fn reseal_program_bin(bytes: &mut [u8]) {
    let mut at = HEADER_BYTES;
    while at + SECTION_HEADER_BYTES <= bytes.len() {
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let start = at + SECTION_HEADER_BYTES;
        let Some(end) = start.checked_add(len).filter(|&e| e <= bytes.len()) else { return };
        let crc = crc32fast::hash(&bytes[start..end]);
        bytes[at + 8..at + 12].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

/// Fix a checkpoint's length and CRC fields to its payload.
pub fn reseal_checkpoint(bytes: &mut [u8]) {
    const HEADER: usize = 24;
    if bytes.len() < HEADER {
        return;
    }
    let len = (bytes.len() - HEADER) as u64;
    bytes[12..20].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&bytes[HEADER..]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
}

/// A fuzz input's first byte is a mode: bit 0 reseals the CRCs of the rest, bit 1 also
/// emulates what decodes.
fn split_mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&m, rest)) => (m, rest),
        None => (0, data),
    }
}

/// Input channels above which [`program_bin`] does not emulate: loading is linear in the channels
/// (a 17-byte change made a legal 4,194,307-channel input, 1.2 s to load in release, over
/// libFuzzer's timeout with ASan). The decoder and `Program::validate` still see such inputs.
pub const FUZZ_MAX_CHANNELS: u64 = 1 << 16;

/// A few steps of a decoded program on a chip instance drawn from `chip_seed`.
fn emulate_briefly(program: &nm_isa::Program, chip_seed: u64) {
    if program.inputs.iter().map(|i| u64::from(i.channels)).sum::<u64>() > FUZZ_MAX_CHANNELS {
        return;
    }
    let cfg =
        RunConfig { chip_seed, noise_seed: chip_seed ^ 0x5eed, ideal: chip_seed & 1 == 1, threads: 1, seed: None };
    if let Ok(mut emu) = Emulator::new(program, cfg) {
        emu.run(FUZZ_STEPS.min(program.meta.steps.max(1)));
        let _ = emu.stats();
    }
}

/// `program.bin` decoder: decode (CRCs resealed when the mode says so); what decodes must
/// encode back to the same bytes, and may be loaded and emulated for a few steps.
pub fn program_bin(data: &[u8]) {
    let (mode, rest) = split_mode(data);
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        reseal_program_bin(&mut bytes);
    }
    match binary::decode(&bytes) {
        Ok(p) => {
            assert!(binary::encode(&p) == bytes, "decode then encode changed the bytes");
            let _ = nm_isa::disasm::disassemble(&p);
            if mode & 2 == 2 {
                emulate_briefly(&p, u64::from(mode >> 2));
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Checkpoint loader: load (length and CRC resealed when the mode says so); what loads must run
/// a few steps and checkpoint again.
pub fn checkpoint_bytes(data: &[u8]) {
    let (mode, rest) = split_mode(data);
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        reseal_checkpoint(&mut bytes);
    }
    match checkpoint::from_bytes(&bytes, "fuzz.ckpt", Some(1)) {
        Ok(mut emu) => {
            if mode & 2 == 2 {
                emu.run(FUZZ_STEPS.min(4));
            }
            let again = checkpoint::to_bytes(&emu).expect("a loaded checkpoint encodes");
            checkpoint::from_bytes(&again, "again.ckpt", Some(1)).expect("a re-encoded checkpoint loads");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Reads choices from fuzz bytes (zeros once they run out).
#[derive(Debug)]
struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    /// A value in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }
    fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
        items[self.below(items.len())]
    }
}

/// A small `.nm` program built from fuzz bytes: a target, one or two inputs, one to three
/// populations of each neuron kind, projections of each connectivity (some plastic, some
/// delayed), signals, recordings. Every program it writes is meant to compile; those that do not
/// are still checked for panics.
pub fn generate_program(data: &[u8]) -> String {
    let mut c = Choices { data, pos: 0 };
    let mut s = String::new();
    let profile = c.pick(&["default", "small", "default"]);
    s += &format!(
        "target {profile} {{ weight_bits = {}; mismatch = {}%; chip_seed = {} }}\n",
        4 + c.below(5),
        c.below(20),
        c.byte()
    );
    s += &format!("sim {{ dt = 1 ms; duration = {} steps; seed = {} }}\n", 8 + c.below(40), c.byte());
    s += "signal phase = cycle(period = 5 steps, values = [1, 0])\n";
    let n_in = 1 + c.below(2);
    let mut sources: Vec<(String, usize)> = Vec::new();
    for k in 0..n_in {
        let n = 1 + c.below(8);
        let line = match c.below(3) {
            0 => format!("input in{k} = poisson(n = {n}, rate = {} Hz)", 5 + c.below(200)),
            1 => {
                let times: Vec<String> =
                    (0..1 + c.below(6)).map(|_| format!("[{}, {} steps]", c.below(n), c.below(30))).collect();
                format!("input in{k} = spikes(n = {n}, times = [{}])", times.join(", "))
            }
            _ => format!("input in{k} = current(n = {n}, value = 0.{})", 1 + c.below(9)),
        };
        let gate = if c.below(4) == 0 { " when phase == 1" } else { "" };
        s += &format!("{line}{gate}\n");
        sources.push((format!("in{k}"), n));
    }
    let n_pop = 1 + c.below(3);
    let mut pops: Vec<(String, usize, &str)> = Vec::new();
    for k in 0..n_pop {
        let n = 1 + c.below(12);
        let (kind, line) = match c.below(4) {
            0 | 1 => (
                "lif",
                format!(
                    "pop p{k} = lif(n = {n}, tau_m = {} ms, tau_syn = 5 ms, v_th = 0.{}, refractory = {} ms)",
                    5 + c.below(40),
                    1 + c.below(9),
                    c.below(4)
                ),
            ),
            2 => ("sampling", format!("pop p{k} = sampling(n = {n}, tau_ref = {} steps, bias = -0.5)", 1 + c.below(8))),
            _ => (
                "rate",
                format!("pop p{k} = rate(n = {n}, tau = {} ms, activation = linear, range = [-4, 4])", 1 + c.below(5)),
            ),
        };
        s += &format!("{line}\n");
        pops.push((format!("p{k}"), n, kind));
    }
    s += "rule stdp(a_plus = 0.01, a_minus = 0.012, tau = 20 ms) {\n  trace x(tau = tau) on pre += 1\n  \
          trace y(tau = tau) on post += 1\n  on post: w += a_plus * x\n  on pre:  w -= a_minus * y\n  \
          bounds w in [0, 1]\n}\n";
    s += "rule hebb(eta = 0.001) {\n  every step: w += eta * post.value * pre.value\n  bounds w in [-1, 1]\n}\n";
    let n_conn = 1 + c.below(4);
    let mut used = std::collections::HashSet::new();
    let mut conns = Vec::new();
    for _ in 0..n_conn {
        let from_input = c.below(2) == 0 || pops.len() == 1;
        let (pre, pre_n) = if from_input {
            sources[c.below(sources.len())].clone()
        } else {
            let p = &pops[c.below(pops.len())];
            (p.0.clone(), p.1)
        };
        let (post, post_n, kind) = pops[c.below(pops.len())].clone();
        if !used.insert((pre.clone(), post.clone())) {
            continue;
        }
        let pattern = match c.below(4) {
            0 => "all_to_all".to_string(),
            1 if pre_n == post_n => "one_to_one".to_string(),
            2 => format!("fixed_prob(p = 0.{}, seed = {})", 1 + c.below(9), c.byte()),
            3 => format!("fixed_in(n = {}, seed = {})", 1 + c.below(pre_n), c.byte()),
            _ => String::new(),
        };
        let delay = if c.below(3) == 0 { format!(" delay = {} ms", 1 + c.below(4)) } else { String::new() };
        let plastic = match (c.below(3), kind) {
            (0, "lif") => " plastic stdp",
            (1, "rate") => " plastic hebb",
            _ => "",
        };
        s += &format!(
            "connect {pre} -> {post} {pattern} weight = uniform(0, 0.{}, seed = {}){delay}{plastic}\n",
            1 + c.below(9),
            c.byte()
        );
        conns.push((pre, post));
    }
    let mut rec = Vec::new();
    for (name, _, kind) in &pops {
        match kind {
            &"rate" => rec.push(format!("output({name}) every {} steps", 1 + c.below(4))),
            _ => rec.push(format!("spikes({name})")),
        }
        if c.below(2) == 0 {
            rec.push(format!("v({name}) every {} steps", 1 + c.below(4)));
        }
    }
    for (pre, post) in &conns {
        if c.below(2) == 0 {
            rec.push(format!("weights({pre} -> {post}) every {} steps", 1 + c.below(6)));
        }
    }
    rec.push("signal(phase)".into());
    s += &format!("record {}\n", rec.join(", "));
    s
}

/// Compile-then-emulate: generate a small program from the bytes, compile it, emulate it
/// straight through, and again with a checkpoint taken and reloaded half way: both runs must
/// give identical recordings and counters (and compiling twice must give identical bytes).
pub fn compile_emulate(data: &[u8]) {
    let text = generate_program(data);
    let checked = driver::check_source("gen.nm", &text, Some(&base_dir()));
    let Some(model) = checked.model.filter(|_| !checked.diagnostics.has_errors()) else { return };
    let opts = || {
        let mut o = CompileOptions::new(model.target.spec.clone());
        o.budget = fuzz_budget();
        o.refine_passes = 2;
        o
    };
    let Ok((program, _)) = driver::compile_model(&model, opts()) else { return };
    let bytes = binary::encode(&program);
    let (again, _) = driver::compile_model(&model, opts()).expect("compiled once, compiles twice");
    assert!(binary::encode(&again) == bytes, "compiling twice gave different program.bin bytes:\n{text}");
    let program = binary::decode(&bytes).unwrap_or_else(|e| panic!("compiled program does not decode: {e}\n{text}"));
    let seed = u64::from(data.first().copied().unwrap_or(0));
    let cfg = RunConfig { chip_seed: seed, noise_seed: seed + 1, ideal: false, threads: 1, seed: None };
    let steps = program.meta.steps.min(FUZZ_STEPS * 2);
    let mut straight =
        Emulator::new(&program, cfg).unwrap_or_else(|e| panic!("compiled program does not load: {e}\n{text}"));
    straight.run(steps);
    let mut first = Emulator::new(&program, cfg).expect("loads twice");
    first.run(steps / 2);
    let ckpt = checkpoint::to_bytes(&first).expect("checkpoint encodes");
    let mut resumed = checkpoint::from_bytes(&ckpt, "mid.ckpt", Some(1)).expect("checkpoint loads");
    resumed.run(steps - steps / 2);
    assert!(straight.recordings() == resumed.recordings(), "resumed run recorded differently:\n{text}");
    let (a, b) = (straight.stats(), resumed.stats());
    assert_eq!((a.steps, a.spikes), (b.steps, b.spikes), "resumed run counted differently:\n{text}");
}

/// The seed corpus of `.nm` sources: the bundled programs and every diagnostics golden input.
pub fn nm_seeds() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for dir in ["programs", "programs/bench", "compiler/tests/diagnostics"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "nm")) {
            if let Ok(b) = std::fs::read(&p) {
                out.push((format!("{dir}/{}", p.file_name().unwrap_or_default().to_string_lossy()), b));
            }
        }
    }
    out
}

/// Seed `program.bin`s: the bundled programs (not the benchmarks) compiled, plus a generated one;
/// the first small (≤ 32 KiB) bundled program with rules once more with learning-rate trims on every
/// synapse (format version 3, as `nmc compile --calibration` writes it).
pub fn program_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut trimmed = false;
    for (name, text) in nm_seeds().into_iter().filter(|(n, _)| n.starts_with("programs/") && !n.contains("bench")) {
        let Ok(text) = String::from_utf8(text) else { continue };
        let checked = driver::check_source(&name, &text, Some(&base_dir()));
        let Some(model) = checked.model.filter(|_| !checked.diagnostics.has_errors()) else { continue };
        if let Ok((p, _)) = driver::compile_model(&model, CompileOptions::new(model.target.spec.clone())) {
            let bytes = binary::encode(&p);
            let small = bytes.len() <= 32 << 10;
            out.push((name.clone(), bytes));
            if !trimmed && small && !p.rules.is_empty() {
                let mut q = p.clone();
                for c in &mut q.cores {
                    c.lr_trim = (0..c.synapses.len()).map(|k| (k % 64) as i8 - 32).collect();
                }
                if q.validate().is_ok() {
                    out.push((format!("{name}+trims"), binary::encode(&q)));
                    trimmed = true;
                }
            }
        }
    }
    out
}

/// `n` programs written by [`generate_program`] from seeded bytes, compiled to `program.bin`.
pub fn generated_program_seeds(n: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut m = Mutator::new(seed);
    let mut out = Vec::new();
    for k in 0..n {
        let text = generate_program(&m.random_bytes(96));
        let checked = driver::check_source("gen.nm", &text, None);
        let Some(model) = checked.model.filter(|_| !checked.diagnostics.has_errors()) else { continue };
        if let Ok((p, _)) = driver::compile_model(&model, CompileOptions::new(model.target.spec.clone())) {
            out.push((format!("generated{k}"), binary::encode(&p)));
        }
    }
    out
}

/// Seeds of at most `max_bytes` (the stable test keeps each case well below a millisecond).
pub fn at_most(seeds: Vec<(String, Vec<u8>)>, max_bytes: usize) -> Vec<(String, Vec<u8>)> {
    seeds.into_iter().filter(|(_, b)| b.len() <= max_bytes).collect()
}

/// Seed checkpoints: the small bundled programs run a few steps.
pub fn checkpoint_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut seeds = at_most(program_seeds(), 64 << 10);
    seeds.extend(generated_program_seeds(4, 7));
    for (name, bin) in seeds {
        let Ok(p) = binary::decode(&bin) else { continue };
        if p.neuron_count() > 64 {
            continue;
        }
        let Ok(mut emu) = Emulator::new(&p, RunConfig::default()) else { continue };
        emu.run(5);
        if let Ok(b) = checkpoint::to_bytes(&emu) {
            out.push((name, b));
        }
    }
    out
}

/// Values that break careless code: zero, one, signed and unsigned extremes, huge sizes.
const EXTREMES: &[&str] = &[
    "0",
    "1",
    "-1",
    "255",
    "256",
    "65535",
    "65536",
    "16777216",
    "2147483647",
    "4294967295",
    "4294967296",
    "1e9",
    "1e308",
    "-1e308",
    "1e-308",
    "0.5",
    "inf",
    "nan",
    "99999999999999999999",
    "(((((((1)))))))",
];

/// A seeded mutator of fuzz inputs: byte flips, interesting bytes and integers, inserts,
/// deletes, duplicated ranges, splices of another input; for text, numbers swapped for
/// [`EXTREMES`] and tokens duplicated.
#[derive(Debug)]
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    /// Random bytes of random length (up to `max`).
    pub fn random_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    /// `1..=4` byte-level mutations of `input` (`other` is a splice partner).
    pub fn bytes(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let len = v.len();
            match self.below(8) {
                0 if len > 0 => {
                    let i = self.below(len);
                    v[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    v[i] = [0, 1, 0x7f, 0x80, 0xff][self.below(5)];
                }
                2 if len >= 4 => {
                    let i = self.below(len - 3);
                    let w: u32 = [0, 1, 0xffff, 0x7fff_ffff, 0xffff_ffff, 0x1_0000, 0x100_0000][self.below(7)];
                    v[i..i + 4].copy_from_slice(&w.to_le_bytes());
                }
                3 => {
                    let i = self.below(len + 1);
                    let n = 1 + self.below(8);
                    let ins: Vec<u8> = (0..n).map(|_| self.rng.next_u32() as u8).collect();
                    v.splice(i..i, ins);
                }
                4 if len > 0 => {
                    let i = self.below(len);
                    let n = 1 + self.below((len - i).min(64));
                    v.drain(i..i + n);
                }
                5 if len > 0 => {
                    let i = self.below(len);
                    let n = 1 + self.below((len - i).min(64));
                    let dup = v[i..i + n].to_vec();
                    let j = self.below(len + 1);
                    v.splice(j..j, dup);
                }
                6 if !other.is_empty() => {
                    let cut = self.below(len + 1);
                    let from = self.below(other.len());
                    v.truncate(cut);
                    v.extend_from_slice(&other[from..]);
                }
                _ if len > 0 => {
                    v.truncate(self.below(len));
                }
                _ => v.push(self.rng.next_u32() as u8),
            }
        }
        v
    }

    /// `1..=3` token-level mutations of source text: a number replaced by an extreme value, a
    /// word or symbol duplicated or removed, a line duplicated or removed.
    pub fn text(&mut self, input: &str) -> String {
        let mut s = input.to_string();
        for _ in 0..1 + self.below(3) {
            let toks = token_spans(&s);
            if toks.is_empty() {
                s.push_str(EXTREMES[self.below(EXTREMES.len())]);
                continue;
            }
            let (a, b) = toks[self.below(toks.len())];
            match self.below(6) {
                0 | 1 => {
                    let nums: Vec<_> = toks.iter().filter(|(a, _)| s.as_bytes()[*a].is_ascii_digit()).collect();
                    let (a, b) = if nums.is_empty() { (a, b) } else { *nums[self.below(nums.len())] };
                    s.replace_range(a..b, EXTREMES[self.below(EXTREMES.len())]);
                }
                2 => {
                    let t = s[a..b].to_string();
                    s.insert_str(b, &format!(" {t}"));
                }
                3 => s.replace_range(a..b, ""),
                4 => {
                    let lines: Vec<&str> = s.lines().collect();
                    let i = self.below(lines.len());
                    let mut l: Vec<String> = lines.iter().map(|x| x.to_string()).collect();
                    if self.below(2) == 0 {
                        l.insert(i, lines[i].to_string());
                    } else {
                        l.remove(i);
                    }
                    s = l.join("\n");
                }
                _ => {
                    let (c, d) = toks[self.below(toks.len())];
                    let t = s[c..d].to_string();
                    s.replace_range(a..b, &t);
                }
            }
        }
        s
    }

    /// A checkpoint with one number of its JSON payload replaced (structure-aware: the payload
    /// still parses, so the mutation reaches the loader's own checks), length and CRC resealed.
    pub fn checkpoint(&mut self, input: &[u8]) -> Vec<u8> {
        const HEADER: usize = 24;
        let Some(body) = input.get(HEADER..) else { return input.to_vec() };
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else { return input.to_vec() };
        let mut leaves = 0usize;
        count_leaves(&v, &mut leaves);
        for _ in 0..1 + self.below(2) {
            let target = self.below(leaves);
            let pick = self.below(8);
            let big = self.rng.next_u64();
            replace_leaf(&mut v, &mut { target }, pick, big);
        }
        let mut out = input[..HEADER].to_vec();
        out.extend_from_slice(&serde_json::to_vec(&v).unwrap_or_default());
        reseal_checkpoint(&mut out);
        out
    }
}

/// Start and end of every word, number or symbol of `s`.
fn token_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
        } else {
            i += s[i..].chars().next().map_or(1, char::len_utf8);
        }
        out.push((start, i));
    }
    out
}

fn count_leaves(v: &serde_json::Value, n: &mut usize) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| count_leaves(x, n)),
        serde_json::Value::Object(o) => o.values().for_each(|x| count_leaves(x, n)),
        _ => *n += 1,
    }
}

/// Replace leaf number `*k` (counting down) with a hostile value chosen by `pick`.
fn replace_leaf(v: &mut serde_json::Value, k: &mut usize, pick: usize, big: u64) -> bool {
    use serde_json::Value;
    match v {
        Value::Array(a) => {
            if pick == 7 && *k < a.len() && !a.is_empty() {
                // Shorten or lengthen an array: lengths that no longer match the program.
                if big & 1 == 0 {
                    a.pop();
                } else {
                    let last = a[a.len() - 1].clone();
                    a.push(last);
                }
                return true;
            }
            a.iter_mut().any(|x| replace_leaf(x, k, pick, big))
        }
        Value::Object(o) => o.values_mut().any(|x| replace_leaf(x, k, pick, big)),
        leaf => {
            if *k > 0 {
                *k -= 1;
                return false;
            }
            *leaf = match pick {
                0 => Value::from(0),
                1 => Value::from(u32::MAX),
                2 => Value::from(u64::MAX),
                3 => Value::from(-1),
                4 => Value::from(big),
                5 => Value::from(big % 1024),
                _ => Value::from(i64::MIN),
            };
            true
        }
    }
}
