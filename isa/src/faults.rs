//! Fault maps: the hardware faults of one chip instance (dead cores, dead mesh links, lossy
//! links, stuck-at synapses, bit flips in weight memory), shared by the compiler (placement and
//! routing around faults) and the emulator (fault injection). Loaded from TOML and validated
//! against a chip spec; every refusal is a [`FaultError`] naming the field. `docs/faults.md`
//! gives the file format and the semantics.
//!
//! Also here, because both sides need it: the mesh geometry of a fault ([`neighbour`]) and
//! [`FaultMap::route_violations`], which walks every route of a program exactly as `program.rs`
//! defines routing and reports any packet that would touch a dead core or cross a dead link.

use crate::chip::ChipSpec;
use crate::ids::{CoreCoord, CoreId};
use crate::program::{Dirs, Program};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// A direction on the global mesh (north = +y, east = +x).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    North,
    East,
    South,
    West,
}

impl Dir {
    pub const ALL: [Dir; 4] = [Dir::North, Dir::East, Dir::South, Dir::West];

    /// The router output bit of this direction.
    pub fn bit(self) -> Dirs {
        match self {
            Dir::North => Dirs::NORTH,
            Dir::East => Dirs::EAST,
            Dir::South => Dirs::SOUTH,
            Dir::West => Dirs::WEST,
        }
    }

    /// The direction of a single router output bit (not `LOCAL`).
    pub fn from_bit(bit: u8) -> Option<Dir> {
        match bit {
            b if b == Dirs::NORTH.0 => Some(Dir::North),
            b if b == Dirs::EAST.0 => Some(Dir::East),
            b if b == Dirs::SOUTH.0 => Some(Dir::South),
            b if b == Dirs::WEST.0 => Some(Dir::West),
            _ => None,
        }
    }

    pub fn opposite(self) -> Dir {
        match self {
            Dir::North => Dir::South,
            Dir::East => Dir::West,
            Dir::South => Dir::North,
            Dir::West => Dir::East,
        }
    }

    fn delta(self) -> (i64, i64) {
        match self {
            Dir::North => (0, 1),
            Dir::East => (1, 0),
            Dir::South => (0, -1),
            Dir::West => (-1, 0),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dir::North => "north",
            Dir::East => "east",
            Dir::South => "south",
            Dir::West => "west",
        }
    }
}

/// Global mesh position `(x, y)` of a core (all chips side by side).
pub fn global_pos(spec: &ChipSpec, core: u32) -> Option<(i64, i64)> {
    let c = CoreId(core).coord(spec)?;
    Some((
        i64::from(c.chip_x) * i64::from(spec.mesh.width) + i64::from(c.x),
        i64::from(c.chip_y) * i64::from(spec.mesh.height) + i64::from(c.y),
    ))
}

/// The core at global mesh position `(x, y)`, if inside the system.
pub fn core_at(spec: &ChipSpec, x: i64, y: i64) -> Option<u32> {
    let (w, h) = (i64::from(spec.mesh.width), i64::from(spec.mesh.height));
    if x < 0 || y < 0 || x >= w * i64::from(spec.system.chips_x) || y >= h * i64::from(spec.system.chips_y) {
        return None;
    }
    let coord = CoreCoord { chip_x: (x / w) as u16, chip_y: (y / h) as u16, x: (x % w) as u16, y: (y % h) as u16 };
    Some(CoreId::from_coord(coord, spec).0)
}

/// The neighbour of `core` in direction `dir` on the global mesh, if inside the system.
pub fn neighbour(spec: &ChipSpec, core: u32, dir: Dir) -> Option<u32> {
    let (x, y) = global_pos(spec, core)?;
    let (dx, dy) = dir.delta();
    core_at(spec, x + dx, y + dy)
}

/// The mesh link between `core` and its neighbour in `dir` (links are bidirectional: a dead link
/// carries nothing either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRef {
    pub core: u32,
    pub dir: Dir,
}

impl LinkRef {
    /// The same link named from its lower-numbered end (`None` if it leaves the system).
    pub fn canonical(self, spec: &ChipSpec) -> Option<LinkRef> {
        let other = neighbour(spec, self.core, self.dir)?;
        Some(if other < self.core { LinkRef { core: other, dir: self.dir.opposite() } } else { self })
    }
}

impl std::fmt::Display for LinkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "link core{} {}", self.core, self.dir.name())
    }
}

/// A lossy link: every packet crossing it (either way) is lost with probability `drop`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDrop {
    pub core: u32,
    pub dir: Dir,
    pub drop: f64,
}

/// A synapse slot whose weight readout is stuck at `weight` (in weight LSBs, sign included):
/// synapse `synapse` (position in the core's synapse memory) of core `core`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StuckSynapse {
    pub core: u32,
    pub synapse: u32,
    pub weight: i32,
}

/// The faults of one chip instance. Every field defaults to "no fault"; see `docs/faults.md`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultMap {
    /// Cores (and their routers) that do nothing: no neuron update, nothing routed through them.
    pub dead_cores: Vec<u32>,
    /// Mesh links that carry nothing.
    pub dead_links: Vec<LinkRef>,
    /// Probability that a packet is lost on each link it takes, including the last link from
    /// the destination router into its core.
    pub packet_drop: f64,
    /// Extra per-link loss probabilities (on top of `packet_drop`).
    pub link_drop: Vec<LinkDrop>,
    /// Fraction of synapse slots (of the used cores) stuck at 0 or at the largest positive
    /// weight (equally likely), drawn from the fault seed.
    pub stuck_fraction: f64,
    /// Explicitly stuck synapse slots.
    pub stuck: Vec<StuckSynapse>,
    /// Probability per step that each bit of each used synapse's accumulator flips.
    pub bit_flip_rate: f64,
}

/// Why a fault map was refused. Every variant names the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    #[error("fault map: {0}")]
    Parse(String),
    #[error("fault map: field `{field}` = {value} is out of range [{lo}, {hi}]")]
    OutOfRange { field: String, value: String, lo: String, hi: String },
    #[error("fault map: field `{field}` is not a finite number")]
    NotFinite { field: String },
    #[error("fault map: field `{field}`: core{core} has no neighbour to the {dir} (the link would leave the system)")]
    OffEdge { field: String, core: u32, dir: &'static str },
    #[error("fault map: field `{field}` names {what} twice")]
    Duplicate { field: String, what: String },
    #[error("fault map: cannot read `{path}`: {msg}")]
    Io { path: String, msg: String },
}

fn prob(field: String, v: f64) -> Result<(), FaultError> {
    if !v.is_finite() {
        return Err(FaultError::NotFinite { field });
    }
    if !(0.0..=1.0).contains(&v) {
        return Err(FaultError::OutOfRange { field, value: v.to_string(), lo: "0".into(), hi: "1".into() });
    }
    Ok(())
}

fn core_in(field: String, core: u32, spec: &ChipSpec) -> Result<(), FaultError> {
    if core >= spec.total_cores() {
        return Err(FaultError::OutOfRange {
            field,
            value: core.to_string(),
            lo: "0".into(),
            hi: (spec.total_cores() - 1).to_string(),
        });
    }
    Ok(())
}

/// A probability as a threshold on a 32-bit draw: an event happens when `draw < p_q32(p)`
/// (`round(p · 2^32)`, so `p = 1` always happens and `p = 0` never).
pub fn p_q32(p: f64) -> u64 {
    (p * 4_294_967_296.0).round().clamp(0.0, 4_294_967_296.0) as u64
}

impl FaultMap {
    /// Parse a fault map from TOML text and validate it against `spec`.
    pub fn from_toml_str(text: &str, spec: &ChipSpec) -> Result<FaultMap, FaultError> {
        let map: FaultMap = toml::from_str(text).map_err(|e| FaultError::Parse(e.message().to_string()))?;
        map.validate(spec)?;
        Ok(map)
    }

    /// Read and validate a fault file.
    pub fn read(path: &std::path::Path, spec: &ChipSpec) -> Result<FaultMap, FaultError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FaultError::Io { path: path.display().to_string(), msg: e.to_string() })?;
        Self::from_toml_str(&text, spec)
    }

    /// Render as TOML (the inverse of [`FaultMap::from_toml_str`]).
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// No fault at all.
    pub fn is_empty(&self) -> bool {
        self.dead_cores.is_empty()
            && self.dead_links.is_empty()
            && self.packet_drop == 0.0
            && self.link_drop.iter().all(|l| l.drop == 0.0)
            && self.stuck_fraction == 0.0
            && self.stuck.is_empty()
            && self.bit_flip_rate == 0.0
    }

    /// Whether the map has faults the compiler must map around (dead cores or links).
    pub fn has_dead_parts(&self) -> bool {
        !self.dead_cores.is_empty() || !self.dead_links.is_empty()
    }

    /// Check every entry against `spec`.
    pub fn validate(&self, spec: &ChipSpec) -> Result<(), FaultError> {
        let mut seen = HashSet::new();
        for (i, &c) in self.dead_cores.iter().enumerate() {
            core_in(format!("dead_cores[{i}]"), c, spec)?;
            if !seen.insert(c) {
                return Err(FaultError::Duplicate { field: format!("dead_cores[{i}]"), what: format!("core{c}") });
            }
        }
        let mut links = HashSet::new();
        for (i, l) in self.dead_links.iter().enumerate() {
            let field = format!("dead_links[{i}]");
            core_in(format!("{field}.core"), l.core, spec)?;
            let Some(c) = l.canonical(spec) else {
                return Err(FaultError::OffEdge { field, core: l.core, dir: l.dir.name() });
            };
            if !links.insert(c) {
                return Err(FaultError::Duplicate { field, what: c.to_string() });
            }
        }
        prob("packet_drop".into(), self.packet_drop)?;
        for (i, l) in self.link_drop.iter().enumerate() {
            let field = format!("link_drop[{i}]");
            core_in(format!("{field}.core"), l.core, spec)?;
            if neighbour(spec, l.core, l.dir).is_none() {
                return Err(FaultError::OffEdge { field, core: l.core, dir: l.dir.name() });
            }
            prob(format!("{field}.drop"), l.drop)?;
        }
        prob("stuck_fraction".into(), self.stuck_fraction)?;
        let wmax = spec.weight_max();
        let mut slots = HashSet::new();
        for (i, s) in self.stuck.iter().enumerate() {
            let field = format!("stuck[{i}]");
            core_in(format!("{field}.core"), s.core, spec)?;
            if s.synapse as u64 >= spec.max_synapses_per_core() {
                return Err(FaultError::OutOfRange {
                    field: format!("{field}.synapse"),
                    value: s.synapse.to_string(),
                    lo: "0".into(),
                    hi: (spec.max_synapses_per_core() - 1).to_string(),
                });
            }
            if s.weight < -wmax || s.weight > wmax {
                return Err(FaultError::OutOfRange {
                    field: format!("{field}.weight"),
                    value: s.weight.to_string(),
                    lo: (-wmax).to_string(),
                    hi: wmax.to_string(),
                });
            }
            if !slots.insert((s.core, s.synapse)) {
                return Err(FaultError::Duplicate { field, what: format!("synapse {} of core{}", s.synapse, s.core) });
            }
        }
        prob("bit_flip_rate".into(), self.bit_flip_rate)?;
        Ok(())
    }

    /// Dead routers and links in a form for lookups.
    pub fn index(&self, spec: &ChipSpec) -> FaultIndex {
        let mut drop: HashMap<LinkRef, f64> = HashMap::new();
        for l in &self.link_drop {
            if let Some(c) = (LinkRef { core: l.core, dir: l.dir }).canonical(spec) {
                let e = drop.entry(c).or_insert(0.0);
                // Independent losses: survive both.
                *e = 1.0 - (1.0 - *e) * (1.0 - l.drop);
            }
        }
        FaultIndex {
            dead_cores: self.dead_cores.iter().copied().collect(),
            dead_links: self.dead_links.iter().filter_map(|l| l.canonical(spec)).collect(),
            link_drop: drop,
            packet_drop: self.packet_drop,
        }
    }

    /// Every way the routes of `program` touch a dead part: neurons placed on a dead core, an
    /// input injected at a dead router, a packet reaching a dead router or crossing a dead link.
    /// Walks every key of every neuron and input channel as `program.rs` defines routing (at
    /// most `limit` messages are returned).
    pub fn route_violations(&self, program: &Program, limit: usize) -> Vec<String> {
        let spec = &program.chip;
        let idx = self.index(spec);
        let mut out = Vec::new();
        for c in &program.cores {
            if idx.core_dead(c.id.0) && !c.neurons.is_empty() {
                out.push(format!("{} neurons are placed on dead core{}", c.neurons.len(), c.id.0));
            }
        }
        let tables: HashMap<u32, &[crate::program::RouteEntry]> =
            program.routes.iter().map(|t| (t.core.0, t.entries.as_slice())).collect();
        let mut sources: Vec<(u32, u32)> = Vec::new();
        for c in &program.cores {
            for i in 0..c.neurons.len() as u32 {
                sources.push((c.id.0, c.key_base.wrapping_add(i)));
            }
        }
        for inp in &program.inputs {
            if idx.core_dead(inp.inject_core.0) {
                out.push(format!("input `{}` is injected at dead core{}", inp.name, inp.inject_core.0));
            }
            for ch in 0..inp.channels {
                sources.push((inp.inject_core.0, inp.key_base.wrapping_add(ch)));
            }
        }
        let limit_visits = spec.total_cores() as usize * 5 + 5;
        for (src, key) in sources {
            if out.len() >= limit {
                break;
            }
            let mut stack: Vec<(u32, u8)> = vec![(src, 0)];
            let mut visits = 0usize;
            while let Some((at, travel)) = stack.pop() {
                visits += 1;
                if visits > limit_visits {
                    out.push(format!("key {key:#x} from core{src}: routing loop"));
                    break;
                }
                let entry = tables.get(&at).and_then(|t| t.iter().find(|e| key & e.mask == e.key));
                let dirs = match (entry, travel) {
                    (Some(e), _) => e.dirs.0,
                    (None, 0) => continue,
                    (None, t) => t,
                };
                if dirs != 0 && idx.core_dead(at) {
                    out.push(format!("key {key:#x} from core{src} passes through dead core{at}"));
                }
                for d in Dir::ALL {
                    if dirs & d.bit().0 == 0 {
                        continue;
                    }
                    if idx.link_dead(spec, at, d) {
                        out.push(format!("key {key:#x} from core{src} crosses dead {}", LinkRef { core: at, dir: d }));
                    }
                    if let Some(n) = neighbour(spec, at, d) {
                        stack.push((n, d.bit().0));
                    }
                }
            }
        }
        out.truncate(limit);
        out
    }
}

/// Lookup form of the dead and lossy parts of a [`FaultMap`].
#[derive(Clone, Debug, Default)]
pub struct FaultIndex {
    pub dead_cores: HashSet<u32>,
    /// Canonical dead links.
    pub dead_links: HashSet<LinkRef>,
    /// Canonical lossy links and their extra loss probability.
    pub link_drop: HashMap<LinkRef, f64>,
    pub packet_drop: f64,
}

impl FaultIndex {
    pub fn core_dead(&self, core: u32) -> bool {
        self.dead_cores.contains(&core)
    }

    /// Whether the link from `core` towards `dir` is dead (false if it leaves the system).
    pub fn link_dead(&self, spec: &ChipSpec, core: u32, dir: Dir) -> bool {
        !self.dead_links.is_empty()
            && (LinkRef { core, dir }).canonical(spec).is_some_and(|l| self.dead_links.contains(&l))
    }

    /// Loss probability of the mesh link from `core` towards `dir` (`packet_drop` combined with
    /// its own `link_drop`).
    pub fn link_loss(&self, spec: &ChipSpec, core: u32, dir: Dir) -> f64 {
        let own = if self.link_drop.is_empty() {
            0.0
        } else {
            (LinkRef { core, dir }).canonical(spec).and_then(|l| self.link_drop.get(&l).copied()).unwrap_or(0.0)
        };
        1.0 - (1.0 - self.packet_drop) * (1.0 - own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_validates_and_names_fields() {
        let spec = ChipSpec::small_profile();
        let text = "dead_cores = [3]\ndead_links = [{ core = 0, dir = \"east\" }]\npacket_drop = 0.05\n\
                    stuck_fraction = 0.01\nbit_flip_rate = 1e-6\n\
                    stuck = [{ core = 0, synapse = 2, weight = 0 }]\n\
                    link_drop = [{ core = 1, dir = \"north\", drop = 0.5 }]\n";
        let m = FaultMap::from_toml_str(text, &spec).expect("valid map");
        assert_eq!(m.dead_cores, vec![3]);
        assert_eq!(FaultMap::from_toml_str(&m.to_toml_string(), &spec).expect("round trip"), m);
        let idx = m.index(&spec);
        assert!(idx.link_dead(&spec, 1, Dir::West) && idx.link_dead(&spec, 0, Dir::East));
        assert!(!idx.link_dead(&spec, 0, Dir::North));
        assert!((idx.link_loss(&spec, 3, Dir::South) - (1.0 - 0.95 * 0.5)).abs() < 1e-12);

        let cases = [
            ("dead_cores = [4]", "dead_cores[0]"),
            ("dead_cores = [1, 1]", "dead_cores[1]"),
            ("dead_links = [{ core = 0, dir = \"west\" }]", "dead_links[0]"),
            ("dead_links = [{ core = 0, dir = \"east\" }, { core = 1, dir = \"west\" }]", "dead_links[1]"),
            ("packet_drop = 1.5", "packet_drop"),
            ("packet_drop = nan", "packet_drop"),
            ("stuck = [{ core = 0, synapse = 0, weight = 64 }]", "stuck[0].weight"),
            ("link_drop = [{ core = 0, dir = \"north\", drop = -0.1 }]", "link_drop[0].drop"),
            ("bit_flip_rate = 2", "bit_flip_rate"),
        ];
        for (text, field) in cases {
            let e = FaultMap::from_toml_str(text, &spec).unwrap_err();
            assert!(e.to_string().contains(field), "{text}: {e}");
        }
        let e = FaultMap::from_toml_str("dead_core = [1]", &spec).unwrap_err();
        assert!(matches!(e, FaultError::Parse(_)), "{e}");
    }

    #[test]
    fn neighbours_cross_chip_edges() {
        let spec = ChipSpec::board_profile();
        // Core 7 is the east edge of chip 0; its east neighbour is core 0 of chip 1.
        assert_eq!(neighbour(&spec, 7, Dir::East), Some(128));
        assert_eq!(neighbour(&spec, 128, Dir::West), Some(7));
        assert_eq!(neighbour(&spec, 0, Dir::South), None);
    }
}
