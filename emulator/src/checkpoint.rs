//! Checkpoints: the whole run state (program, run configuration, every core's state including
//! weights, traces, PRNG states and pending packets, inputs, signals, counters and recordings)
//! in one file, written atomically (temporary file, fsync, rename).
//!
//! Layout: magic `NMCKPT\r\n` (8 bytes), format version (u32 LE), payload length (u64 LE),
//! CRC-32 of the payload (u32 LE), payload (JSON). A file with another magic or version, a
//! length that does not match, a CRC mismatch or a payload that does not fit the program is
//! refused with [`EmuError::Checkpoint`] saying which.

use crate::core::CoreState;
use crate::engine::{Emulator, GlobalState, RunConfig};
use crate::error::EmuError;
use crate::faults::{FaultConfig, FaultState};
use crate::timing::Counts;
use nm_isa::program::Program;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The checkpoint file's magic.
pub const MAGIC: &[u8; 8] = b"NMCKPT\r\n";
/// The checkpoint format version this build writes and reads (2: cycles per step as the first
/// steps' counts and a histogram, not one count per step).
pub const VERSION: u32 = 2;
const HEADER: usize = 8 + 4 + 8 + 4;

#[derive(Serialize, Deserialize)]
struct Payload {
    program: Program,
    cfg: RunConfig,
    states: Vec<CoreState>,
    global: GlobalState,
    mesh_counts: Counts,
    /// Fault map, seed and fault PRNG states (absent for a fault-free run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    faults: Option<(FaultConfig, FaultState)>,
}

/// Encode the emulator's state as checkpoint bytes.
pub fn to_bytes(emu: &Emulator) -> Result<Vec<u8>, EmuError> {
    let (states, global, mesh_counts) = emu.snapshot();
    let faults = emu.faults.as_ref().map(|f| (f.cfg.clone(), f.state.clone()));
    let payload = Payload { program: emu.program().clone(), cfg: emu.config(), states, global, mesh_counts, faults };
    let body = serde_json::to_vec(&payload)
        .map_err(|e| EmuError::Checkpoint { path: String::new(), msg: format!("cannot encode: {e}") })?;
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Write a checkpoint of `emu` to `path` atomically.
pub fn save(emu: &Emulator, path: &Path) -> Result<(), EmuError> {
    let bytes = to_bytes(emu)?;
    let tmp = path.with_extension("ckpt.tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| EmuError::io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| EmuError::io(&tmp, e))?;
        f.sync_all().map_err(|e| EmuError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| EmuError::io(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all(); // best effort: some filesystems refuse to sync a directory
        }
    }
    Ok(())
}

/// Rebuild an emulator from checkpoint bytes (`path` names the file in errors). `threads`
/// overrides the saved thread count (the results do not depend on it).
pub fn from_bytes(bytes: &[u8], path: &str, threads: Option<usize>) -> Result<Emulator, EmuError> {
    let err = |msg: String| EmuError::Checkpoint { path: path.to_string(), msg };
    if bytes.len() < HEADER {
        return Err(err(format!("file is {} bytes, shorter than the {HEADER}-byte header (truncated?)", bytes.len())));
    }
    if &bytes[..8] != MAGIC {
        return Err(err("not an nmemu checkpoint (bad magic)".into()));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != VERSION {
        return Err(err(format!("format version {version}, this nmemu reads version {VERSION}")));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[12..20]);
    let len = u64::from_le_bytes(len8);
    let body = &bytes[HEADER..];
    if body.len() as u64 != len {
        return Err(err(format!("payload is {} bytes, header says {len} (truncated or extended)", body.len())));
    }
    let crc = u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    let actual = crc32fast::hash(body);
    if crc != actual {
        return Err(err(format!("CRC mismatch (stored {crc:#010x}, computed {actual:#010x}): the file is damaged")));
    }
    let p: Payload = serde_json::from_slice(body).map_err(|e| err(format!("payload does not decode: {e}")))?;
    let mut cfg = p.cfg;
    if let Some(t) = threads {
        cfg.threads = t;
    }
    let (fcfg, fstate) = match p.faults {
        Some((c, s)) => (Some(c), Some(s)),
        None => (None, None),
    };
    let mut emu =
        Emulator::with_faults(&p.program, cfg, fcfg).map_err(|e| err(format!("saved program does not load: {e}")))?;
    emu.restore(p.states, p.global, p.mesh_counts).map_err(err)?;
    if let (Some(f), Some(s)) = (emu.faults.as_deref_mut(), fstate) {
        f.state = s;
    }
    Ok(emu)
}

/// Read a checkpoint file.
pub fn load(path: &Path, threads: Option<usize>) -> Result<Emulator, EmuError> {
    let bytes = std::fs::read(path).map_err(|e| EmuError::io(path, e))?;
    from_bytes(&bytes, &path.display().to_string(), threads)
}
