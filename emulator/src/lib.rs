//! `nm-emulator`: the cycle-level chip emulator library behind the `nmemu` binary.
//!
//! Module map: [`core`] (runtime arrays of a core, delivery, neuron update), [`route`]
//! (fan-out resolution of the multicast routers), [`mismatch`] (chip instance), [`learning`]
//! (learning engine over `nm_isa::learn`), [`inputs`] and [`signals`], [`timing`] (the one cycle
//! and energy interface), [`engine`] (the step loop: [`Emulator`]), [`record`] (probes),
//! [`stats`], [`output`] (npy/csv/json files), [`budget`] (steps, recording memory and disk).

/// Call the function `$body` with the arguments named (local variables of the caller, of the
/// given types), compiled for the target features of `$kernel` (a `core::LifKernel`): AVX2 or
/// AVX-512F where the CPU has them (`LifKernel::supported`), the baseline build otherwise. `$body`
/// must give the same values on every kernel (the kernels only let the compiler vectorise it).
/// This is where the crate calls its `#[target_feature]` functions, with their safety argument.
macro_rules! with_kernel {
    ($kernel:expr, $body:ident($($arg:ident: $ty:ty),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        fn avx2($($arg: $ty),*) {
            $body($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        fn avx512($($arg: $ty),*) {
            $body($($arg),*)
        }
        let kernel: $crate::core::LifKernel = $kernel;
        let kernel = if kernel.supported() { kernel } else { $crate::core::LifKernel::Scalar };
        #[allow(unsafe_code)]
        match kernel {
            $crate::core::LifKernel::Scalar => $body($($arg),*),
            // SAFETY: `kernel.supported()` checked above that the CPU has AVX2.
            #[cfg(target_arch = "x86_64")]
            $crate::core::LifKernel::Avx2 => unsafe { avx2($($arg),*) },
            // SAFETY: `kernel.supported()` checked above that the CPU has AVX-512F.
            #[cfg(target_arch = "x86_64")]
            $crate::core::LifKernel::Avx512 => unsafe { avx512($($arg),*) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => $body($($arg),*),
        }
    }};
}

pub mod aligned;
pub mod bench;
pub mod budget;
pub mod calibrate;
pub mod checkpoint;
pub mod cluster;
pub mod core;
pub mod engine;
pub mod error;
pub mod fastlearn;
pub mod faults;
pub mod inputs;
pub mod learning;
#[cfg(target_arch = "x86_64")]
mod lif_avx512;
pub mod mismatch;
pub mod netbuild;
pub mod output;
pub mod plot;
pub mod record;
pub mod route;
pub mod signals;
pub mod stats;
pub mod timing;
pub mod vcd;

pub use engine::{Emulator, RunConfig};
pub use error::EmuError;
pub use stats::Stats;
