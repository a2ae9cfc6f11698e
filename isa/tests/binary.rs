//! Property tests of `program.bin`: arbitrary valid programs on the `default` and `small` profiles
//! round-trip exactly; arbitrary, truncated, bit-flipped and count-patched inputs are refused with
//! an offset inside the input, never a panic, and never an allocation beyond the input's size.

use nm_isa::binary::{decode, encode, DecodeErrorKind, SECTION_HEADER_BYTES};
use nm_isa::builder::example_program;
use nm_isa::chip::ChipSpec;
use nm_isa::fixed_point::{smax, smin, trace_max, Rounding};
use nm_isa::ids::{CoreId, PopId, ProjId, RuleId, SignalId};
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Operands, Reduce, Scope, Src, TraceSpec, Trigger};
use nm_isa::neuron::{Lut, NeuronConfig, NeuronKind, NeuronProfile};
use nm_isa::program::*;
use proptest::prelude::*;

/// A small deterministic generator (SplitMix64) driving the program recipe.
struct G(u64);

impl G {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        nm_isa::rng::splitmix64(self.0)
    }
    /// Uniform in `lo ..= hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() % span) as i64
    }
    fn upto(&mut self, n: usize) -> usize {
        self.range(0, n as i64) as usize
    }
    fn below(&mut self, n: usize) -> usize {
        self.range(0, n as i64 - 1) as usize
    }
    fn flip(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn i32(&mut self) -> i32 {
        self.next() as i32
    }
    fn name(&mut self) -> String {
        let n = self.upto(12);
        (0..n).map(|_| char::from(b'a' + self.below(26) as u8)).collect::<String>()
            + if self.flip() { "é" } else { "" }
    }
    fn signed(&mut self, bits: u8) -> i32 {
        self.range(smin(bits), smax(bits)) as i32
    }
}

fn gen_instr(g: &mut G, scope: Scope) -> Instr {
    loop {
        let op = Opcode::ALL[g.below(Opcode::ALL.len())];
        let per_post = scope == Scope::PostNeuron;
        if (per_post && op == Opcode::St) || (!per_post && matches!(op, Opcode::Red | Opcode::Wscale | Opcode::Wscaler))
        {
            continue;
        }
        let o = op.operands();
        let mut i = Instr::new(op);
        if o.uses_rd() {
            i.rd = g.below(8) as u8;
        }
        if o.uses_ra() {
            i.ra = g.below(8) as u8;
        }
        if o.uses_rb() {
            i.rb = g.below(8) as u8;
        }
        if o.uses_sh() {
            i.sh = g.below(32) as u8;
        }
        if o.uses_imm() {
            i.imm = g.i32();
        }
        if o == Operands::RdSel || o == Operands::SelRa {
            i.sel = match op {
                Opcode::Ld => {
                    let s = Src::from_sel(g.below(24) as u8).unwrap_or(Src::W);
                    if per_post && s.is_per_synapse() {
                        continue;
                    }
                    s.sel()
                }
                Opcode::St => Dst::from_sel(g.below(2) as u8).unwrap_or(Dst::W).sel(),
                _ => Reduce::from_sel(g.below(3) as u8).unwrap_or(Reduce::Sum).sel(),
            };
        }
        assert!(i.is_canonical(), "{i:?}");
        return i;
    }
}

fn gen_rule(g: &mut G, chip: &ChipSpec) -> LearnRule {
    let f = &chip.formats;
    let tm = trace_max(f.trace_int_bits, f.trace_frac_bits);
    let trace = |g: &mut G| {
        g.flip().then(|| TraceSpec {
            decay: g.range(0, 1 << f.decay_bits) as u32,
            impulse: g.range(-i64::from(tm), i64::from(tm)) as i32,
        })
    };
    let x = [trace(g), trace(g)];
    let y = [trace(g), trace(g)];
    let handlers = (0..g.upto(4))
        .map(|_| {
            let scope = if g.flip() { Scope::Synapse } else { Scope::PostNeuron };
            let trigger = Trigger::ALL[g.below(4)];
            let code = (0..g.upto(10)).map(|_| gen_instr(g, scope)).collect();
            Handler { trigger, scope, code }
        })
        .collect();
    let a = g.signed(f.accumulator_bits);
    let b = g.signed(f.accumulator_bits);
    LearnRule { name: g.name(), x, y, handlers, w_min: a.min(b), w_max: a.max(b), readout: Rounding::ALL[g.below(3)] }
}

fn gen_signal(g: &mut G, id: u8) -> Signal {
    let bits = g.range(1, 16) as u8;
    let m = (1i64 << bits) - 1;
    let v = |g: &mut G| g.range(-m, m) as i32;
    let schedule = match g.below(4) {
        0 => Schedule::Constant(v(g)),
        1 => Schedule::Cycle { period: g.range(1, 1000) as u32, values: (0..1 + g.upto(4)).map(|_| v(g)).collect() },
        2 => Schedule::Random {
            len: if g.flip() {
                PhaseLen::Fixed(g.range(1, 100) as u32)
            } else {
                PhaseLen::Geometric { p_end_q32: g.range(1, u32::MAX.into()) as u32 }
            },
            p_one_q32: g.next() as u32,
            value_one: v(g),
            value_zero: v(g),
        },
        _ => {
            let mut step = 0u64;
            Schedule::List(
                (0..g.upto(5))
                    .map(|_| {
                        step += g.range(1, 50) as u64;
                        (step, v(g))
                    })
                    .collect(),
            )
        }
    };
    Signal { id: SignalId(id), name: g.name(), bits, schedule }
}

/// A valid program from a seed: every section populated with random but consistent content.
fn gen_program(small: bool, seed: u64) -> Program {
    let chip = if small { ChipSpec::small_profile() } else { ChipSpec::default_profile() };
    let g = &mut G(seed);
    let f = chip.formats;
    let mut p = Program::new(chip.clone(), &g.name());
    p.meta = Meta {
        name: g.name(),
        dt_ns: g.range(1, 1 << 40) as u64,
        steps: g.next(),
        epoch_steps: g.next() as u32,
        seed: g.next(),
    };
    p.luts = (0..g.upto(3))
        .map(|_| Lut {
            name: g.name(),
            shift: g.range(0, 31) as u8,
            entries: (0..1 + g.upto(20)).map(|_| g.i32()).collect(),
        })
        .collect();
    p.rules = (0..g.upto(3)).map(|_| gen_rule(g, &chip)).collect();
    p.signals = (0..g.upto(3) as u8).map(|id| gen_signal(g, id)).collect();
    let npops = 1 + g.upto(2);
    // Inputs.
    p.inputs = (0..g.upto(3))
        .map(|_| {
            let channels = g.range(1, 5) as u32;
            let kind = match g.below(3) {
                0 => InputKind::Poisson { p_q32: (0..channels).map(|_| g.next() as u32).collect() },
                1 => {
                    let mut step = 0;
                    InputKind::SpikeTimes {
                        events: (0..g.upto(6))
                            .map(|_| {
                                step += g.range(0, 3) as u64;
                                (step, g.below(channels as usize) as u32)
                            })
                            .collect(),
                    }
                }
                _ => {
                    let encoding = [Encoding::Rate, Encoding::Graded, Encoding::Clamp][g.below(3)];
                    let rows = (0..1 + g.upto(3))
                        .map(|_| {
                            (0..channels)
                                .map(|_| if encoding == Encoding::Clamp { g.range(0, 1) as i32 } else { g.i32() })
                                .collect()
                        })
                        .collect();
                    let order = if g.flip() { PatternOrder::Random } else { PatternOrder::Sequential };
                    InputKind::Patterns { rows, present_steps: g.range(1, 100) as u32, order, encoding }
                }
            };
            let gate = match p.signals.len() {
                0 => None,
                n if g.flip() => {
                    let s = &p.signals[g.below(n)];
                    let m = (1i64 << s.bits) - 1;
                    Some(Gate { signal: s.id, value: g.range(-m, m) as i32 })
                }
                _ => None,
            };
            InputSource {
                name: g.name(),
                channels,
                key_base: g.range(0, i64::from(u32::MAX) - 8) as u32,
                inject_core: CoreId(g.below(chip.total_cores() as usize) as u32),
                kind,
                gate,
            }
        })
        .collect();
    // Symbols: populations first (slices are filled in with the cores), projections.
    p.symbols.populations = (0..npops)
        .map(|_| PopInfo {
            name: g.name(),
            kind: NeuronKind::ALL[g.below(3)],
            size: g.range(0, 50) as u32,
            slices: vec![],
        })
        .collect();
    p.symbols.projections = (0..1 + g.upto(2))
        .map(|_| ProjInfo {
            name: g.name(),
            pre: if !p.inputs.is_empty() && g.flip() {
                Endpoint::Input(g.below(p.inputs.len()) as u32)
            } else {
                Endpoint::Pop(PopId(g.below(npops) as u32))
            },
            post: PopId(g.below(npops) as u32),
            synapses: g.next() >> 20,
        })
        .collect();
    // Cores: distinct sorted ids; small learning programs so that every core fits its limit.
    let total = chip.total_cores() as usize;
    let mut ids: Vec<u32> = (0..g.upto(3)).map(|_| g.below(total) as u32).collect();
    ids.sort_unstable();
    ids.dedup();
    let (vlo, vhi) = (smin(f.voltage_bits), smax(f.voltage_bits));
    for id in ids {
        let nprof = 1 + g.upto(3);
        let profiles: Vec<NeuronProfile> = (0..nprof)
            .map(|_| {
                let mut kind = NeuronKind::ALL[g.below(3)];
                if p.luts.is_empty() && kind == NeuronKind::Stochastic {
                    kind = NeuronKind::Lif;
                }
                let lut = (!p.luts.is_empty() && (kind == NeuronKind::Stochastic || g.flip()))
                    .then(|| g.below(p.luts.len()) as u16);
                NeuronProfile {
                    kind,
                    decay_u: g.range(0, 1 << f.decay_bits) as u32,
                    decay_v: g.range(0, 1 << f.decay_bits) as u32,
                    refractory: g.next() as u16,
                    v_reset: g.range(vlo, vhi) as i32,
                    lut,
                    noisy: g.flip(),
                    decay_u2: (kind == NeuronKind::Lif && g.flip()).then(|| g.range(0, 1 << f.decay_bits) as u32),
                }
            })
            .collect();
        let neurons: Vec<NeuronConfig> = (0..g.upto(12))
            .map(|_| NeuronConfig {
                profile: g.below(nprof) as u8,
                bias: g.range(vlo, vhi) as i32,
                v_th: g.range(vlo, vhi) as i32,
                v_init: g.range(vlo, vhi) as i32,
            })
            .collect();
        let groups: Vec<SynGroup> = (0..g.upto(3))
            .map(|_| SynGroup {
                weight_exp: g.range(f.weight_exp_min.into(), f.weight_exp_max.into()) as i8,
                kind: SynKind::Current,
                rule: (!p.rules.is_empty() && g.flip()).then(|| RuleId(g.below(p.rules.len()) as u16)),
                proj: ProjId(g.below(p.symbols.projections.len()) as u32),
                current: 0,
            })
            .collect();
        let mut axons = Vec::new();
        let mut synapses = Vec::new();
        for _ in 0..g.upto(8) {
            let n = if neurons.is_empty() || groups.is_empty() { 0 } else { g.upto(4) };
            axons.push(Axon { first: synapses.len() as u32, count: n as u32 });
            for _ in 0..n {
                synapses.push(Synapse {
                    target: g.below(neurons.len()) as u32,
                    acc: g.signed(f.accumulator_bits),
                    delay: g.range(1, chip.core.max_delay.into()) as u8,
                    group: g.below(groups.len()) as u16,
                });
            }
        }
        // Axon map: consecutive chunks of axons on increasing, non-overlapping key ranges.
        let mut axon_map = Vec::new();
        let (mut a, mut key) = (0u32, g.range(0, 1 << 20) as u32);
        while (a as usize) < axons.len() {
            let count = g.range(1, (axons.len() - a as usize) as i64) as u32;
            axon_map.push(AxonMapEntry { key_base: key, count, axon_base: a });
            a += count;
            key += count + g.range(0, 100) as u32;
        }
        let key_base = g.range(0, 1 << 30) as u32;
        for (k, pop) in p.symbols.populations.iter_mut().enumerate() {
            if !neurons.is_empty() && g.flip() {
                let first = g.below(neurons.len()) as u32;
                let len = g.range(0, (neurons.len() as u32 - first).into()) as u32;
                let offset = g.range(0, 10) as u32;
                pop.size = pop.size.max(offset + len);
                pop.slices.push(Slice { core: CoreId(id), first, len, offset });
                let _ = k;
            }
        }
        // Learning-rate trims (format version 3) on about a third of the cores.
        let lr_trim = if g.below(3) == 0 {
            synapses.iter().map(|_| g.signed(f.learning_rate_trim_bits) as i8).collect()
        } else {
            Vec::new()
        };
        p.cores.push(Core { id: CoreId(id), profiles, neurons, key_base, groups, axon_map, axons, synapses, lr_trim });
    }
    // Routing tables on random routers.
    let mut rids: Vec<u32> = (0..g.upto(3)).map(|_| g.below(total) as u32).collect();
    rids.sort_unstable();
    rids.dedup();
    p.routes = rids
        .into_iter()
        .map(|id| RouteTable {
            core: CoreId(id),
            entries: (0..g.upto(5))
                .map(|_| {
                    let mask = !((1u32 << g.range(0, 16)) - 1);
                    RouteEntry { key: g.next() as u32 & mask, mask, dirs: Dirs(g.range(0, 31) as u8) }
                })
                .collect(),
        })
        .collect();
    // Probes.
    p.probes = (0..g.upto(4))
        .filter_map(|_| {
            let kind = match g.below(4) {
                0 => ProbeKind::Spikes { pop: PopId(g.below(npops) as u32) },
                1 => ProbeKind::State {
                    pop: PopId(g.below(npops) as u32),
                    var: [StateVar::V, StateVar::U, StateVar::Y, StateVar::Trace0, StateVar::Trace1][g.below(5)],
                },
                2 => ProbeKind::Weights { proj: ProjId(g.below(p.symbols.projections.len()) as u32) },
                _ if !p.signals.is_empty() => ProbeKind::Signal { signal: p.signals[g.below(p.signals.len())].id },
                _ => return None,
            };
            Some(Probe { name: g.name(), kind, every: g.range(1, 100) as u32 })
        })
        .collect();
    // A wider trim (also version 3) now and then; the codes drawn above stay in range.
    if g.below(5) == 0 {
        p.chip.formats.learning_rate_trim_bits = 8;
    }
    if let Err(e) = p.validate() {
        panic!("generator made an invalid program (seed {seed}): {e}");
    }
    p
}

/// Recompute the CRC32 of every section whose header is intact enough to walk, so that a
/// mutation reaches the payload parsers instead of stopping at the CRC check.
fn fix_crcs(bytes: &mut [u8]) {
    let mut pos = 16;
    while pos + SECTION_HEADER_BYTES <= bytes.len() {
        let len = u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
        let start = pos + SECTION_HEADER_BYTES;
        let Some(end) = start.checked_add(len).filter(|&e| e <= bytes.len()) else { return };
        let crc = crc32fast::hash(&bytes[start..end]);
        bytes[pos + 8..pos + 12].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

/// Start and payload length of section `id` in a valid encoding.
fn section(bytes: &[u8], id: u8) -> (usize, usize) {
    let mut pos = 16;
    loop {
        let len = u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
        if bytes[pos] == id {
            return (pos + SECTION_HEADER_BYTES, len);
        }
        pos += SECTION_HEADER_BYTES + len;
    }
}

fn assert_refused(bytes: &[u8]) {
    match decode(bytes) {
        Ok(_) => {}
        Err(e) => assert!(e.offset <= bytes.len(), "offset {} outside input of {} bytes: {e}", e.offset, bytes.len()),
    }
}

fn arb_program() -> impl Strategy<Value = Program> {
    (any::<bool>(), any::<u64>()).prop_map(|(small, seed)| gen_program(small, seed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn valid_programs_round_trip(p in arb_program()) {
        let bytes = encode(&p);
        let text = nm_isa::disasm::disassemble(&p);
        let heading = format!("chip `{}`", p.chip.name);
        prop_assert!(text.contains(&heading), "no chip heading in the disassembly");
        prop_assert_eq!(decode(&bytes), Ok(p));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(decode(&bytes).is_err());
        assert_refused(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(p in arb_program(), flips in proptest::collection::vec((any::<usize>(), 0..8u8), 1..4), fix in any::<bool>()) {
        let mut bytes = encode(&p);
        for (pos, bit) in flips {
            let i = pos % bytes.len();
            bytes[i] ^= 1 << bit;
        }
        if fix {
            fix_crcs(&mut bytes);
        }
        assert_refused(&bytes);
    }

    #[test]
    fn patched_counts_are_refused_or_valid(p in arb_program(), pos in any::<usize>(), value in prop_oneof![Just(u32::MAX), Just(1u32 << 30), 1u32 << 16..u32::MAX, 0u32..64]) {
        let mut bytes = encode(&p);
        let i = 16 + pos % (bytes.len() - 16 - 3);
        bytes[i..i + 4].copy_from_slice(&value.to_le_bytes());
        fix_crcs(&mut bytes);
        assert_refused(&bytes);
    }
}

#[test]
fn example_programs_round_trip() {
    for name in ["default", "small", "board"] {
        let p = example_program(ChipSpec::profile(name).expect("profile"));
        assert_eq!(decode(&encode(&p)), Ok(p));
    }
}

#[test]
fn every_truncation_of_a_full_program_is_refused() {
    let bytes = encode(&example_program(ChipSpec::small_profile()));
    for n in 0..bytes.len() {
        let e = decode(&bytes[..n]).expect_err("truncated input");
        assert!(e.offset <= n, "length {n}: {e}");
    }
}

#[test]
fn every_single_bit_flip_is_refused_or_harmless() {
    let bytes = encode(&example_program(ChipSpec::small_profile()));
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            // Without fixing the CRC every flip in a payload is a CRC error; with it, the parser
            // must still refuse or accept a valid program, never panic.
            let e = decode(&b).expect_err("CRC or header catches a flip");
            assert!(e.offset <= b.len());
            fix_crcs(&mut b);
            if let Ok(p) = decode(&b) {
                p.validate().expect("a decoded program is valid");
            }
        }
    }
}

#[test]
fn a_billion_synapses_is_refused_before_allocation() {
    // One core, whose synapse list is the last thing in the cores section.
    let p = example_program(ChipSpec::small_profile());
    let nsyn = p.cores.last().map_or(0, |c| c.synapses.len());
    let mut bytes = encode(&p);
    let (start, len) = section(&bytes, 4);
    let at = start + len - 11 * nsyn - 4;
    assert_eq!(u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize, nsyn);
    bytes[at..at + 4].copy_from_slice(&1_000_000_000u32.to_le_bytes());
    fix_crcs(&mut bytes);
    let e = decode(&bytes).expect_err("too many synapses");
    assert_eq!(e.offset, at);
    assert!(matches!(e.kind, DecodeErrorKind::TooMany { what: "core.synapses", count: 1_000_000_000, .. }), "{e}");
    // Within the chip's limit but beyond the bytes that remain.
    bytes[at..at + 4].copy_from_slice(&5000u32.to_le_bytes());
    fix_crcs(&mut bytes);
    let e = decode(&bytes).expect_err("not enough bytes");
    assert!(matches!(e.kind, DecodeErrorKind::TooLong { what: "core.synapses", count: 5000, .. }), "{e}");
}

#[test]
fn a_tiny_file_claiming_a_huge_section_is_refused() {
    let mut bytes = encode(&Program::new(ChipSpec::small_profile(), "x"));
    bytes.truncate(40);
    bytes[16 + 4..16 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = decode(&bytes).expect_err("section longer than the file");
    assert_eq!(e.offset, 20);
    assert!(e.to_string().starts_with("bad section length"), "{e}");
}

#[test]
fn invalid_program_is_reported_at_its_section() {
    let mut p = example_program(ChipSpec::small_profile());
    p.cores[0].synapses[0].delay = 0;
    let bytes = encode(&p);
    let e = decode(&bytes).expect_err("delay 0");
    assert_eq!(e.offset, section(&bytes, 4).0 - SECTION_HEADER_BYTES);
    assert!(e.to_string().contains("core 0, synapse 0: `delay` = 0"), "{e}");
}

#[test]
fn wrong_version_and_trailing_bytes_are_refused() {
    let mut bytes = encode(&Program::new(ChipSpec::small_profile(), "x"));
    let mut v = bytes.clone();
    v[8] = 99;
    assert!(matches!(decode(&v).expect_err("version").kind, DecodeErrorKind::UnsupportedVersion { found: 99, .. }));
    bytes.push(0);
    let e = decode(&bytes).expect_err("trailing byte");
    assert_eq!(e.offset, bytes.len() - 1);
}

#[test]
fn generator_covers_every_section() {
    let ps: Vec<Program> = (0..100).map(|s| gen_program(s % 2 == 0, s)).collect();
    assert!(ps.iter().any(|p| !p.luts.is_empty()));
    assert!(ps.iter().any(|p| p.rules.iter().any(|r| r.instr_count() > 5)));
    assert!(ps.iter().any(|p| p.synapse_count() > 5));
    assert!(ps.iter().any(|p| p.cores.iter().any(|c| c.axon_map.len() > 1)));
    assert!(ps.iter().any(|p| p.routes.iter().any(|t| t.entries.len() > 1)));
    assert!(ps.iter().any(|p| p.inputs.iter().any(|i| i.gate.is_some())));
    assert!(ps.iter().any(|p| p.signals.len() > 1));
    assert!(ps.iter().any(|p| p.probes.len() > 1));
    assert!(ps.iter().any(|p| p.symbols.populations.iter().any(|x| !x.slices.is_empty())));
    assert!(ps.iter().any(|p| p.chip.name == "small") && ps.iter().any(|p| p.chip.name == "default"));
    assert!(ps.iter().any(|p| p.cores.iter().any(|c| c.lr_trim.iter().any(|&t| t < 0))));
    assert!(ps.iter().any(|p| p.cores.iter().any(|c| c.lr_trim.iter().any(|&t| t > 0))));
    assert!(ps.iter().any(|p| p.chip.formats.learning_rate_trim_bits == 8));
    for v in [FORMAT_VERSION_MIN, FORMAT_VERSION_U2, FORMAT_VERSION_TRIM] {
        assert!(ps.iter().any(|p| p.format_version() == v), "no program of version {v}");
    }
}

#[test]
fn header_layout_matches_the_documentation() {
    let p = Program::new(ChipSpec::small_profile(), "x");
    let b = encode(&p);
    assert_eq!(&b[0..8], b"NMPROG\0\0");
    // A program without a second synaptic current is written as the oldest version.
    assert_eq!(u16::from_le_bytes([b[8], b[9]]), FORMAT_VERSION_MIN);
    assert_eq!(u16::from_le_bytes([b[10], b[11]]), 10);
    assert_eq!(&b[12..16], &[0, 0, 0, 0]);
    // Section 0 (chip) starts with its name: u16 length 5, "small".
    assert_eq!(b[16], 0);
    assert_eq!(&b[28..35], b"\x05\x00small");
    let (start, len) = section(&b, 0);
    assert_eq!(u32::from_le_bytes(b[24..28].try_into().expect("4")), crc32fast::hash(&b[start..start + len]));
    // Ten sections in id order, the file ends after the last.
    let mut pos = 16;
    for id in 0..10u8 {
        assert_eq!(b[pos], id);
        pos += SECTION_HEADER_BYTES + u32::from_le_bytes(b[pos + 4..pos + 8].try_into().expect("4")) as usize;
    }
    assert_eq!(pos, b.len());
    let mut t = b.clone();
    t.truncate(40);
    t[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        decode(&t).expect_err("too long").to_string(),
        "bad section length 4294967295 of the `chip` section (12 bytes remain) (at offset 0x14)"
    );
}

/// Version 2 (the second synaptic current) round-trips; its bytes read as another version are
/// refused with an error, never a panic or a silently different program.
#[test]
fn second_current_needs_version_2() {
    let mut p = example_program(ChipSpec::small_profile());
    let ci = p.cores.iter().position(|c| c.profiles.iter().any(|x| x.kind == NeuronKind::Lif)).expect("a LIF core");
    let pi = p.cores[ci].profiles.iter().position(|x| x.kind == NeuronKind::Lif).expect("lif");
    p.cores[ci].profiles[pi].decay_u2 = Some(41);
    assert!(p.validate().is_ok());
    let b = encode(&p);
    assert_eq!(u16::from_le_bytes([b[8], b[9]]), FORMAT_VERSION_U2);
    assert_eq!(decode(&b).expect("decode"), p);
    for v in [FORMAT_VERSION_MIN, FORMAT_VERSION_TRIM, FORMAT_VERSION + 1] {
        let mut t = b.clone();
        t[8..10].copy_from_slice(&v.to_le_bytes());
        assert!(decode(&t).is_err(), "version {v}");
    }
    // A group feeding the second current of a neuron without one is invalid.
    let mut q = example_program(ChipSpec::small_profile());
    let g = q.cores[ci].groups.iter().position(|g| g.kind == SynKind::Current).expect("current group");
    q.cores[ci].groups[g].current = 1;
    if q.cores[ci].synapses.iter().any(|s| usize::from(s.group) == g) {
        assert!(q.validate().is_err());
    }
}

/// Version 3 (per-synapse learning-rate trims): written only when a core lists trims or the trim
/// width is not the default, so a program without them keeps the bytes earlier builds wrote;
/// trims round-trip; the bytes read as an older version, a wrong trim count and codes outside
/// the trim width are refused with an error.
#[test]
fn lr_trims_need_version_3() {
    let base = example_program(ChipSpec::default_profile());
    assert!(base.cores.iter().all(|c| c.lr_trim.is_empty()));
    let b0 = encode(&base);
    assert_eq!(u16::from_le_bytes([b0[8], b0[9]]), FORMAT_VERSION_MIN);
    // The last core, so that its trim count sits right before the end of the cores section.
    let ci = base.cores.len() - 1;
    assert!(base.cores[ci].synapses.len() >= 5, "the example's last core has synapses");
    let n = base.cores[ci].synapses.len();
    let mut p = base.clone();
    p.cores[ci].lr_trim = (0..n).map(|k| [-32i8, 31, 0, -1, 7][k % 5]).collect();
    assert!(p.validate().is_ok());
    let b = encode(&p);
    assert_eq!(u16::from_le_bytes([b[8], b[9]]), FORMAT_VERSION_TRIM);
    assert_eq!(decode(&b).expect("decode"), p);
    // The same bytes claiming an older version do not parse (the chip section is one byte long).
    for v in [FORMAT_VERSION_MIN, FORMAT_VERSION_U2] {
        let mut t = b.clone();
        t[8..10].copy_from_slice(&v.to_le_bytes());
        assert!(decode(&t).is_err(), "version {v}");
    }
    // All-zero trims are listed explicitly and round-trip as such.
    let mut z = base.clone();
    z.cores[ci].lr_trim = vec![0; n];
    assert_eq!(decode(&encode(&z)).expect("decode"), z);
    // A non-default trim width alone needs version 3 and round-trips.
    let mut w = base.clone();
    w.chip.formats.learning_rate_trim_bits = 0;
    let bw = encode(&w);
    assert_eq!(u16::from_le_bytes([bw[8], bw[9]]), FORMAT_VERSION_TRIM);
    assert_eq!(decode(&bw).expect("decode"), w);
    // Out of range for 6 bits, and for a chip without trims.
    let mut o = p.clone();
    o.cores[ci].lr_trim[1] = 32;
    let e = decode(&encode(&o)).expect_err("code 32 with 6 bits");
    assert!(e.to_string().contains("lr_trim"), "{e}");
    let mut o = p.clone();
    o.chip.formats.learning_rate_trim_bits = 0;
    assert!(decode(&encode(&o)).is_err(), "trims on a chip without trims");
    // One code per synapse or none.
    let mut o = p.clone();
    o.cores[ci].lr_trim.pop();
    let e = decode(&encode(&o)).expect_err("short trim list");
    assert!(e.to_string().contains("trim codes"), "{e}");
    let mut o = p.clone();
    o.cores[ci].lr_trim.push(0);
    assert!(decode(&encode(&o)).is_err(), "long trim list");
    // A trim count beyond the chip's synapse limit is refused before allocation.
    let mut t = b.clone();
    let (start, len) = section(&b, 4);
    let pos = start + len - n - 4;
    assert_eq!(t[pos..pos + 4], (n as u32).to_le_bytes());
    t[pos..pos + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_crcs(&mut t);
    let e = decode(&t).expect_err("huge trim count");
    assert!(matches!(e.kind, DecodeErrorKind::TooMany { what: "core.lr_trim", .. }), "{e}");
}
