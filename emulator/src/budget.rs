//! Resource budgets of a run: the steps asked for, the recordings a run holds in memory, and
//! the bytes its output files would take on disk. Series probes (state, weights, signals) have an
//! exact projected size, checked before the run starts; spike recordings grow with activity and
//! are checked as they grow ([`check_recorded`]) and again before anything is written.
//! Exceeding a budget is [`EmuError::Budget`], naming the budget, the projected size and the
//! `nmemu` flag that raises it.

use crate::error::EmuError;
use crate::record::Recordings;
use nm_isa::program::{ProbeKind, Program};
use std::path::Path;

/// Default [`RunBudget::max_steps`]: 10^8 steps (the run keeps 8 bytes of cycle count per step).
pub const DEFAULT_MAX_STEPS: u64 = 100_000_000;
/// Default [`RunBudget::max_record_bytes`]: 2 GiB of recordings held in memory.
pub const DEFAULT_RECORD_BYTES: u64 = 2 << 30;
/// Bytes one recorded spike takes in memory (step i64 + neuron i32).
pub const SPIKE_BYTES: u64 = 12;
/// Bytes one recorded spike takes on disk, at most: `.times.npy`, `.ids.npy`, a CSV line and a
/// raster mark.
pub const SPIKE_DISK_BYTES: u64 = 12 + 48 + 64;
/// Bytes of one series row besides its values: the step (u64 in memory, i64 in `.steps.npy`).
const ROW_BYTES: u64 = 8;
/// Files' fixed part (headers, index, stats, plots' frames), per probe.
const FILE_OVERHEAD: u64 = 64 << 10;

/// What one run may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunBudget {
    /// Steps of one `run`/`resume` (`--max-steps`).
    pub max_steps: u64,
    /// Bytes of recordings held in memory until they are written (`--max-record-bytes`).
    pub max_record_bytes: u64,
}

impl Default for RunBudget {
    fn default() -> RunBudget {
        RunBudget { max_steps: DEFAULT_MAX_STEPS, max_record_bytes: DEFAULT_RECORD_BYTES }
    }
}

/// The projected size of a run's recordings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    /// Bytes in memory of the series probes at the end of the run (exact). The per-step cycle
    /// counts (8 bytes a step) are bounded by [`RunBudget::max_steps`].
    pub memory: u64,
    /// Bytes on disk of the series probes' files (exact up to headers).
    pub disk: u64,
    /// The largest series probe and its bytes.
    pub largest: Option<(String, u64)>,
}

/// Width (values per sample) of every series probe of `p`; `None` for spike probes.
fn series_width(p: &Program, kind: &ProbeKind) -> Option<u64> {
    match *kind {
        ProbeKind::Spikes { .. } => None,
        ProbeKind::State { pop, .. } => Some(p.symbols.populations.get(pop.index()).map_or(0, |x| u64::from(x.size))),
        ProbeKind::Weights { proj } => Some(
            p.cores
                .iter()
                .map(|c| {
                    c.synapses
                        .iter()
                        .filter(|s| c.groups.get(usize::from(s.group)).is_some_and(|g| g.proj == proj))
                        .count() as u64
                })
                .sum(),
        ),
        ProbeKind::Signal { .. } => Some(1),
    }
}

/// Samples a probe of period `every` takes in steps `t0 .. t0 + steps` (it samples after every
/// step `t` with `t % every == 0`).
fn samples(t0: u64, steps: u64, every: u32) -> u64 {
    let e = u64::from(every.max(1));
    let end = t0.saturating_add(steps);
    let upto = |t: u64| if t == 0 { 0 } else { (t - 1) / e + 1 };
    upto(end) - upto(t0)
}

/// Project what running `p` from step `t0` for `steps` steps adds to its recordings.
pub fn project(p: &Program, t0: u64, steps: u64) -> Projection {
    let mut out = Projection::default();
    for probe in &p.probes {
        let Some(width) = series_width(p, &probe.kind) else { continue };
        let rows = samples(t0, steps, probe.every);
        let bytes = rows.saturating_mul(width.saturating_mul(4).saturating_add(ROW_BYTES));
        out.memory = out.memory.saturating_add(bytes);
        out.disk = out.disk.saturating_add(bytes).saturating_add(FILE_OVERHEAD);
        if out.largest.as_ref().is_none_or(|(_, b)| bytes > *b) {
            out.largest = Some((probe.name.clone(), bytes));
        }
    }
    out.disk = out.disk.saturating_add(FILE_OVERHEAD * (1 + p.probes.len() as u64));
    out
}

/// Bytes the recordings hold in memory now.
pub fn recorded_bytes(r: &Recordings) -> u64 {
    let spikes: u64 = r.spikes.iter().map(|s| s.times.len() as u64 * SPIKE_BYTES).sum();
    let series: u64 = r.series.iter().map(|s| s.data.len() as u64 * 4 + s.steps.len() as u64 * ROW_BYTES).sum();
    spikes + series
}

/// Bytes the output files of the recordings would take on disk (at most).
pub fn disk_bytes(r: &Recordings) -> u64 {
    let spikes: u64 = r.spikes.iter().map(|s| s.times.len() as u64 * SPIKE_DISK_BYTES + FILE_OVERHEAD).sum();
    let series: u64 =
        r.series.iter().map(|s| s.data.len() as u64 * 4 + s.steps.len() as u64 * ROW_BYTES + FILE_OVERHEAD).sum();
    spikes + series + FILE_OVERHEAD
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir` (its nearest existing
/// ancestor); `None` where it cannot be told.
pub fn available_disk(dir: &Path) -> Option<u64> {
    let mut d = dir;
    loop {
        if d.exists() {
            break;
        }
        d = d.parent()?;
        if d.as_os_str().is_empty() {
            d = Path::new(".");
        }
    }
    free_bytes(d)
}

#[cfg(unix)]
fn free_bytes(d: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(d).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_d: &Path) -> Option<u64> {
    None
}

fn over(budget: &'static str, needed: u64, limit: u64, detail: String, raise: &'static str) -> EmuError {
    EmuError::Budget { budget, needed, limit, detail, raise }
}

/// Check a run of `steps` steps from step `t0` of `p`, writing into `out_dir` (if any), before it
/// starts: the steps, the projected memory of the series probes and their projected bytes on
/// disk against the free space.
pub fn check_run(
    p: &Program,
    t0: u64,
    steps: u64,
    b: &RunBudget,
    out_dir: Option<&Path>,
) -> Result<Projection, EmuError> {
    if steps > b.max_steps {
        return Err(over("steps", steps, b.max_steps, format!("the run asks for {steps} steps"), "--max-steps N"));
    }
    let proj = project(p, t0, steps);
    let largest =
        || proj.largest.as_ref().map_or(String::new(), |(n, b)| format!(" (largest: probe `{n}`, {b} bytes)"));
    if proj.memory > b.max_record_bytes {
        return Err(over(
            "recording",
            proj.memory,
            b.max_record_bytes,
            format!("the series probes of {steps} steps project {} bytes in memory{}", proj.memory, largest()),
            "--max-record-bytes BYTES, or record less often (`every`)",
        ));
    }
    if let Some(free) = out_dir.and_then(available_disk) {
        if proj.disk > free {
            return Err(over(
                "disk",
                proj.disk,
                free,
                format!(
                    "the recordings project {} bytes on disk{}, the output filesystem has {free} free",
                    proj.disk,
                    largest()
                ),
                "free space, another -o directory, or fewer steps / sparser recordings",
            ));
        }
    }
    Ok(proj)
}

/// Upper bound of the bytes a VCD trace of `values` traced values writes per step: a time line
/// (`#` and up to 20 digits) and, per value that changed, `b` + 32 binary digits + a space + an
/// identifier of up to 3 characters + a newline.
pub const VCD_STEP_BYTES: u64 = 22;
/// See [`VCD_STEP_BYTES`].
pub const VCD_VALUE_BYTES: u64 = 38;

/// Check a VCD trace of `values` values over `steps` steps, written to `path`, before the run:
/// its worst-case size against the recording budget and the free space of `path`'s filesystem.
pub fn check_vcd(steps: u64, values: u64, path: &Path, b: &RunBudget) -> Result<u64, EmuError> {
    let bytes = steps.saturating_mul(VCD_STEP_BYTES.saturating_add(values.saturating_mul(VCD_VALUE_BYTES)));
    if bytes > b.max_record_bytes {
        return Err(over(
            "vcd",
            bytes,
            b.max_record_bytes,
            format!("a VCD trace of {values} values over {steps} steps projects up to {bytes} bytes"),
            "--max-record-bytes BYTES, fewer --vcd-neurons, or fewer steps",
        ));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Some(free) = available_disk(dir) {
        if bytes > free {
            return Err(over(
                "disk",
                bytes,
                free,
                format!(
                    "the VCD trace `{}` projects up to {bytes} bytes, its filesystem has {free} free",
                    path.display()
                ),
                "free space, another --vcd path, fewer --vcd-neurons, or fewer steps",
            ));
        }
    }
    Ok(bytes)
}

/// Check the recordings as they grow (spikes cannot be projected): their memory against the
/// budget and their projected files against the free space of `out_dir`.
pub fn check_recorded(r: &Recordings, t: u64, b: &RunBudget, out_dir: Option<&Path>) -> Result<(), EmuError> {
    let held = recorded_bytes(r);
    if held > b.max_record_bytes {
        let spikes: u64 = r.spikes.iter().map(|s| s.times.len() as u64).sum();
        return Err(over(
            "recording",
            held,
            b.max_record_bytes,
            format!("after step {t} the recordings hold {held} bytes ({spikes} spikes)"),
            "--max-record-bytes BYTES, or record fewer populations",
        ));
    }
    if let Some(free) = out_dir.and_then(available_disk) {
        let disk = disk_bytes(r);
        if disk > free {
            return Err(over(
                "disk",
                disk,
                free,
                format!("after step {t} the recordings would take {disk} bytes on disk, {free} are free"),
                "free space, another -o directory, or fewer steps / sparser recordings",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_count_multiples_of_every() {
        // Steps 0..10 with every 3: after steps 0, 3, 6, 9.
        assert_eq!(samples(0, 10, 3), 4);
        assert_eq!(samples(10, 10, 3), 3); // 12, 15, 18
        assert_eq!(samples(0, 0, 1), 0);
        assert_eq!(samples(5, 1, 1), 1);
        assert_eq!(samples(u64::MAX - 1, u64::MAX, 1), 1);
    }
}
