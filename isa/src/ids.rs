//! Typed ids: integers wrapped in newtypes so that a core index is never used as a neuron index.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub $inner);

        impl $name {
            /// The raw index.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}{}", stringify!($name).trim_end_matches("Id").to_lowercase(), self.0)
            }
        }
    };
}

id_type!(
    /// A core of the whole system: `chip * cores_per_chip + y * mesh.width + x`.
    CoreId(u32)
);
id_type!(
    /// A neuron, local to its core.
    NeuronId(u32)
);
id_type!(
    /// An input axon, local to its core.
    AxonId(u32)
);
id_type!(
    /// A learning rule in [`crate::program::Program::rules`].
    RuleId(u16)
);
id_type!(
    /// A population in the program's symbol table.
    PopId(u32)
);
id_type!(
    /// A projection in the program's symbol table.
    ProjId(u32)
);
id_type!(
    /// A broadcast signal.
    SignalId(u8)
);

/// Position of a core in the system: chip coordinates and core coordinates within the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CoreCoord {
    pub chip_x: u16,
    pub chip_y: u16,
    pub x: u16,
    pub y: u16,
}

impl CoreId {
    /// The coordinates of this core in `spec`'s system, or `None` if it does not exist there.
    pub fn coord(self, spec: &crate::ChipSpec) -> Option<CoreCoord> {
        if self.0 >= spec.total_cores() {
            return None;
        }
        let per = spec.cores_per_chip();
        let chip = self.0 / per;
        let local = self.0 % per;
        let w = u32::from(spec.mesh.width);
        Some(CoreCoord {
            chip_x: (chip % u32::from(spec.system.chips_x)) as u16,
            chip_y: (chip / u32::from(spec.system.chips_x)) as u16,
            x: (local % w) as u16,
            y: (local / w) as u16,
        })
    }

    /// The core at `coord` in `spec`'s system.
    pub fn from_coord(coord: CoreCoord, spec: &crate::ChipSpec) -> CoreId {
        let chip = u32::from(coord.chip_y) * u32::from(spec.system.chips_x) + u32::from(coord.chip_x);
        CoreId(chip * spec.cores_per_chip() + u32::from(coord.y) * u32::from(spec.mesh.width) + u32::from(coord.x))
    }
}
