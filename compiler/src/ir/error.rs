//! The back end's error type: every refusal names what, where, the numbers and what would help.

/// Why the back end refused a network.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    /// A per-core (or per-system) limit cannot be met.
    #[error("does not fit: {limit} of {place}: needs {needed}, the chip allows {available}; {hint}")]
    DoesNotFit { limit: &'static str, place: String, needed: u64, available: u64, hint: String },
    /// A size the source controls is over a compile budget ([`crate::budget::Budget`]),
    /// refused before it is allocated.
    #[error("over the {budget} budget: {what} need {needed}, the budget is {limit}; raise it with `{raise}`")]
    OverBudget { budget: &'static str, what: String, needed: u64, limit: u64, raise: &'static str },
    /// A weight or parameter cannot be represented in the chip's formats.
    #[error("quantization of {place}: {message}")]
    Quantization { place: String, message: String },
    /// The IR itself is malformed (a builder call with inconsistent arguments).
    #[error("invalid network: {0}")]
    Invalid(String),
    /// The verifier found broken invariants after a pass.
    #[error("IR verification failed after pass `{pass}`:\n{}", problems.join("\n"))]
    Verify { pass: String, problems: Vec<String> },
    /// A pass name that is not in the pass table.
    #[error("unknown pass `{0}` (passes: {1})")]
    UnknownPass(String, String),
    /// The generated program breaks an invariant of the program format or a chip limit
    /// (`Program::validate`): a back-end bug, or a part of the network the back end does not check
    /// itself (signals, tables, names).
    #[error("the generated program is invalid: {0}")]
    Program(#[from] nm_isa::ValidationError),
    /// The fault map leaves no way to place or route the network (names the part and why), or
    /// does not fit the chip.
    #[error("cannot map around the faults: {0}")]
    Faults(String),
    /// Routing-table minimisation refused its input or produced a table that does not route as
    /// the uncompressed one (a back-end bug; the table is checked before it is used).
    #[error("routing-table minimisation: {0}")]
    Routing(#[from] nm_isa::routemin::MinimiseError),
    /// A pass ran before the passes it depends on.
    #[error("pass `{pass}` needs `{needs}` to have run first")]
    PassOrder { pass: &'static str, needs: &'static str },
}
