//! Broadcast signals: each program signal's value for the current step, following its schedule
//! (`program::Schedule`). Random schedules draw from their own hardware PRNG stream (program
//! seed, stream `signals::stream(k)`): at every phase boundary one draw `< p_one_q32` chooses
//! `value_one`; a geometric phase ends after a step with one draw `< p_end_q32`. Values are
//! latched at the start of a step and read by every rule as `sig0..sig7` (signal id = index).

use crate::core::streams;
use nm_isa::program::{PhaseLen, Schedule, Signal};
use nm_isa::rng::HwRng;
use serde::{Deserialize, Serialize};

/// Run-time state of the signals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalState {
    /// Current value of each program signal (same order as `Program::signals`).
    pub values: Vec<i32>,
    pub rngs: Vec<HwRng>,
    /// Index of the next change of a `List` schedule.
    pub list_pos: Vec<usize>,
    /// The latched values by signal id 0..=7 (what rules read).
    pub by_id: [i32; 8],
}

impl SignalState {
    pub fn new(signals: &[Signal], seed: u64) -> SignalState {
        SignalState {
            values: vec![0; signals.len()],
            rngs: (0..signals.len() as u32).map(|k| HwRng::new(seed, streams::signal(k))).collect(),
            list_pos: vec![0; signals.len()],
            by_id: [0; 8],
        }
    }

    /// Latch the values of step `t` (called once per step, in increasing `t`).
    pub fn latch(&mut self, signals: &[Signal], t: u64) {
        for (k, s) in signals.iter().enumerate() {
            let v = match &s.schedule {
                Schedule::Constant(c) => *c,
                Schedule::Cycle { period, values } => {
                    if values.is_empty() {
                        0
                    } else {
                        values[((t / u64::from((*period).max(1))) % values.len() as u64) as usize]
                    }
                }
                Schedule::Random { len, p_one_q32, value_one, value_zero } => {
                    let boundary = match len {
                        PhaseLen::Fixed(l) => t.is_multiple_of(u64::from((*l).max(1))),
                        PhaseLen::Geometric { p_end_q32 } => t == 0 || self.rngs[k].next_u32() < *p_end_q32,
                    };
                    if boundary {
                        if self.rngs[k].next_u32() < *p_one_q32 {
                            *value_one
                        } else {
                            *value_zero
                        }
                    } else {
                        self.values[k]
                    }
                }
                Schedule::List(changes) => {
                    let mut v = self.values[k];
                    while let Some(&(step, val)) = changes.get(self.list_pos[k]) {
                        if step > t {
                            break;
                        }
                        v = val;
                        self.list_pos[k] += 1;
                    }
                    v
                }
            };
            self.values[k] = v;
            if let Some(slot) = self.by_id.get_mut(usize::from(s.id.0)) {
                *slot = v;
            }
        }
    }

    /// Value of the signal with id `id` (0 if there is none).
    pub fn value_of(&self, signals: &[Signal], id: u8) -> i32 {
        signals.iter().position(|s| s.id.0 == id).map_or(0, |k| self.values[k])
    }
}
