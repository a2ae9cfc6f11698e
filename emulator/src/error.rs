//! The emulator's error type: every way loading, running, checkpointing or calibrating can fail.

/// Why the emulator refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// The program breaks an invariant the emulator relies on (names the item).
    #[error("invalid program: {0}")]
    Program(String),
    /// The routing tables do not form trees (a loop) or reach outside the system.
    #[error("invalid routing: {0}")]
    Routing(String),
    /// A `program.bin` that cannot be decoded.
    #[error("cannot decode program `{path}`: {msg}")]
    Decode { path: String, msg: String },
    /// A checkpoint that is damaged, from another version, or unreadable.
    #[error("checkpoint `{path}` refused: {msg}")]
    Checkpoint { path: String, msg: String },
    /// A fault map that does not fit the program's chip, or cannot be read.
    #[error("{0}")]
    Faults(String),
    /// A calibration file that cannot be read or used.
    #[error("calibration: {0}")]
    Calibration(String),
    /// A size the input controls is over a budget (steps, recording memory, disk), refused
    /// before it is allocated or written.
    #[error("over the {budget} budget: {detail}; needs {needed} against {limit}; raise it with {raise}")]
    Budget { budget: &'static str, needed: u64, limit: u64, detail: String, raise: &'static str },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl EmuError {
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> EmuError {
        EmuError::Io { path: path.as_ref().display().to_string(), source }
    }
}
