//! `nm-emulator`: the cycle-level chip emulator library behind the `nmemu` binary.
