//! `nm-compiler`: the `.nm` compiler library behind the `nmc` binary.
//!
//! [`front`] parses and checks `.nm` source into a [`front::model::Model`]; [`lower`] turns it
//! into the graph [`ir`]; [`passes`] partition, place, route and quantize it; [`codegen`] emits
//! the `nm_isa::Program`; [`driver`] runs the pipeline for the command-line tool.

pub mod budget;
pub mod codegen;
pub mod driver;
pub mod front;
pub mod ir;
pub mod lower;
pub mod map;
pub mod passes;
pub mod quant;
pub mod report;
pub mod route;
