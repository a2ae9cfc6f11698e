//! `nm-compiler`: the `.nm` compiler library behind the `nmc` binary.
