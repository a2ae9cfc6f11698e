//! Resource budgets of the compiler: every size a `.nm` source controls (neurons, synapses, bytes
//! of the files it reads) is checked against a budget before anything of that size is allocated.
//! Exceeding one is a [`CompileError::OverBudget`] naming the budget, the projected size and the
//! flag or variable that raises it.

use crate::front::model::{Connectivity, Endpoint, Model};
use crate::ir::CompileError;
use std::io::Read;
use std::path::Path;

/// Default [`Budget::neurons`]: 2^26, sixteen times the largest built-in system (`board`).
pub const DEFAULT_NEURONS: u64 = 1 << 26;
/// Default [`Budget::synapses`]: 2^28 (the lowering holds about 16 bytes per synapse, so 4 GiB).
pub const DEFAULT_SYNAPSES: u64 = 1 << 28;
/// Default limit of one file a source reads (chip spec, data file): 256 MiB.
pub const DEFAULT_FILE_BYTES: u64 = 1 << 28;
/// Environment variable that overrides [`DEFAULT_FILE_BYTES`].
pub const FILE_BYTES_VAR: &str = "NMC_MAX_FILE_BYTES";

/// What one compilation may allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Neurons of all populations plus channels of all inputs (`nmc compile --max-neurons`).
    pub neurons: u64,
    /// Synapses of all projections, counted before they are drawn: `pre × post` for
    /// `all_to_all`, `n × post` for `fixed_in`, `pre × post` for `fixed_prob` (it draws every
    /// pair), the pairs of a list or matrix (`nmc compile --max-synapses`).
    pub synapses: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { neurons: DEFAULT_NEURONS, synapses: DEFAULT_SYNAPSES }
    }
}

/// Synapses projection `j` of `m` may hold at most (what the lowering allocates for it).
pub fn projected_synapses(m: &Model, j: usize) -> u64 {
    let pj = &m.projections[j];
    let pre = match pj.pre {
        Endpoint::Pop(i) => m.populations.get(i).map_or(0, |p| p.size),
        Endpoint::Input(i) => m.inputs.get(i).map_or(0, |x| x.channels),
    };
    let post = m.populations.get(pj.post).map_or(0, |p| p.size);
    let (pre, post) = (u64::from(pre), u64::from(post));
    match &pj.connectivity {
        Connectivity::AllToAll { .. } | Connectivity::FixedProb { .. } => pre.saturating_mul(post),
        Connectivity::OneToOne => pre.min(post),
        Connectivity::FixedInDegree { n, .. } => u64::from(*n).saturating_mul(post),
        Connectivity::List(pairs) => pairs.len() as u64,
        Connectivity::NonZero => pre.saturating_mul(post),
    }
}

/// Check a checked model against `b` before it is lowered.
pub fn check_model(m: &Model, b: &Budget) -> Result<(), CompileError> {
    let neurons = m.populations.iter().map(|p| u64::from(p.size)).chain(m.inputs.iter().map(|i| u64::from(i.channels)));
    let neurons = neurons.fold(0u64, u64::saturating_add);
    if neurons > b.neurons {
        return Err(CompileError::OverBudget {
            budget: "neurons",
            what: "the populations and input channels".into(),
            needed: neurons,
            limit: b.neurons,
            raise: "nmc compile --max-neurons N",
        });
    }
    let mut total = 0u64;
    for (j, pj) in m.projections.iter().enumerate() {
        let n = projected_synapses(m, j);
        total = total.saturating_add(n);
        if total > b.synapses {
            return Err(CompileError::OverBudget {
                budget: "synapses",
                what: format!("the projections up to `{}` ({n} synapses in that one)", pj.name),
                needed: total,
                limit: b.synapses,
                raise: "nmc compile --max-synapses N",
            });
        }
    }
    Ok(())
}

/// The file-size budget: [`FILE_BYTES_VAR`] if set to a number, else [`DEFAULT_FILE_BYTES`].
pub fn file_bytes_budget() -> u64 {
    std::env::var(FILE_BYTES_VAR).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_FILE_BYTES)
}

/// Read a whole file of at most `limit` bytes, refusing a larger one (or an endless one such as
/// a device) before reading it all, with a message naming the budget and how to raise it.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let over = |n: u64| {
        format!(
            "the file has {n} bytes or more, over the {limit}-byte file budget (raise it with {FILE_BYTES_VAR}=BYTES)"
        )
    };
    if let Ok(meta) = f.metadata() {
        if !meta.is_file() {
            return Err("not a regular file (a directory, device or pipe)".into());
        }
        if meta.len() > limit {
            return Err(over(meta.len()));
        }
    }
    let mut out = Vec::new();
    f.take(limit.saturating_add(1)).read_to_end(&mut out).map_err(|e| e.to_string())?;
    if out.len() as u64 > limit {
        return Err(over(out.len() as u64));
    }
    Ok(out)
}
