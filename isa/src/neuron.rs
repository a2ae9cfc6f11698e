//! Neuron types and their per-core parameter profiles, with the exact per-step update each
//! type performs (the emulator implements these equations; `docs/chip-model.md` repeats them).
//!
//! Notation: `in` is the sum over this step's arriving packets of `w · payload · 2^exp`
//! (`w` the synapse's weight readout after per-synapse gain, `exp` its group's weight exponent,
//! arithmetic shift for negative `exp`), `D = 2^decay_bits`, `decay(x, d) = x·(D − d)/D`
//! truncated toward zero, `wrap`/`sat` to the current / voltage widths.
//!
//! * [`NeuronKind::Lif`] — current-based LIF (Loihi's CUBA compartment):
//!   `u ← wrap(decay(u, du) + in)`; if the refractory counter is non-zero it counts down and `v`
//!   stays at `v_reset`; otherwise `v ← sat(decay(v, dv) + u + bias + noise)` and if `v ≥ v_th`
//!   the neuron spikes, `v ← v_reset`, counter ← `refractory`. A spike sends payload 1 (flagged
//!   as a spike). A LIF profile may have a **second synaptic current** `u2` with its own decay
//!   code ([`NeuronProfile::decay_u2`]; synapse groups with `current = 1` feed it, see
//!   `program::SynGroup::current`): `u2 ← wrap(decay(u2, du2) + in2)` beside `u`, and the
//!   voltage adds both, `v ← sat(decay(v, dv) + u + u2 + bias + noise)` (Loihi's multi-current
//!   dendrite; CUBA's excitatory and inhibitory synapses with τe ≠ τi).
//! * [`NeuronKind::Stochastic`] — neural-sampling unit (papers 2 and 3): `u ← wrap(decay(u, du) + in)`
//!   (the compiler sets `du = D`, so `u` is exactly `Σ w·z_j` over this step's packets: a
//!   rectangular PSP that always uses the current weights, even while they learn). While the
//!   counter is above 1 it counts down and the state `z` stays 1. Otherwise (counter 0 or 1, so a
//!   unit in its last refractory step may fire again) it fires with probability
//!   `LUT[(u + bias − v_th) >> lut.shift] / 2^16` against a 16-bit draw of its own PRNG stream
//!   (`v_th` holds the offset `ln τ_ref` in voltage units); firing sets the counter to `refractory`
//!   (= τ_ref) and `z = 1`; not firing with the counter at 1 or 0 sets it to 0 and `z = 0`.
//!   **While `z = 1` the unit sends a packet every step with payload 1** (its state); the packet
//!   is flagged as a *spike* (for traces, `on pre` handlers and `xs`) only in the step the unit
//!   fires. A clamp input (see `program::SynKind::Clamp`) forces the outcome of the draw: clamped
//!   to 1 the unit fires (a refractory unit restarts its window), clamped to 0 it is silenced
//!   (counter 0, even if refractory).
//! * [`NeuronKind::Graded`] — rate unit (papers 4 and 5): `u ← wrap(decay(u, du) + in)`,
//!   `v ← sat(decay(v, dv) + ((u + bias)·dv) >> decay_bits)` (Euler step of `τ v̇ = −v + u + b`
//!   with `dt/τ = dv/D`), output `y = LUT[v >> lut.shift]` (identity if no LUT) sent every step
//!   as the payload (flagged as a spike every step, so `on pre` handlers run every step).

use serde::{Deserialize, Serialize};

/// The neuron types of the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NeuronKind {
    Lif,
    Stochastic,
    Graded,
}

impl NeuronKind {
    pub const ALL: [NeuronKind; 3] = [NeuronKind::Lif, NeuronKind::Stochastic, NeuronKind::Graded];

    pub fn code(self) -> u8 {
        match self {
            NeuronKind::Lif => 0,
            NeuronKind::Stochastic => 1,
            NeuronKind::Graded => 2,
        }
    }

    pub fn from_code(c: u8) -> Option<NeuronKind> {
        NeuronKind::ALL.get(usize::from(c)).copied()
    }

    pub fn mnemonic(self) -> &'static str {
        match self {
            NeuronKind::Lif => "lif",
            NeuronKind::Stochastic => "stochastic",
            NeuronKind::Graded => "graded",
        }
    }
}

/// A parameter set shared by many neurons of a core (Loihi's compartment profile).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronProfile {
    pub kind: NeuronKind,
    /// Current decay code (`0` keeps, `2^decay_bits` clears every step).
    pub decay_u: u32,
    /// Voltage decay code.
    pub decay_v: u32,
    /// Refractory steps (LIF), or the active window τ_ref (stochastic).
    pub refractory: u16,
    /// Voltage after a spike (LIF).
    pub v_reset: i32,
    /// Index into [`crate::program::Program::luts`] (stochastic: firing probability; graded: activation).
    pub lut: Option<u16>,
    /// Whether per-run temporal noise is added to this profile's membrane input.
    pub noisy: bool,
    /// Decay code of the second synaptic current (LIF only); `None`: the neuron has one current.
    pub decay_u2: Option<u32>,
}

/// Per-neuron parameters (the ones calibration adjusts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronConfig {
    /// Index of the core's profile.
    pub profile: u8,
    /// Constant input added every step, in voltage units.
    pub bias: i32,
    /// Threshold (LIF), or firing offset (stochastic), in voltage units.
    pub v_th: i32,
    /// Initial membrane voltage.
    pub v_init: i32,
}

/// A lookup table: `entries[clamp((x >> shift) + len/2, 0, len-1)]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lut {
    pub name: String,
    pub shift: u8,
    pub entries: Vec<i32>,
}

impl Lut {
    /// Look `x` up: the table is centred on zero.
    #[inline]
    pub fn lookup(&self, x: i32) -> i32 {
        let n = self.entries.len() as i64;
        if n == 0 {
            return 0;
        }
        let i = (i64::from(x) >> self.shift) + n / 2;
        self.entries[i.clamp(0, n - 1) as usize]
    }
}
