//! `nm-compiler`: the `.nm` compiler library behind the `nmc` binary.
pub mod codegen;
pub mod ir;
pub mod map;
pub mod passes;
pub mod quant;
pub mod report;
pub mod route;
