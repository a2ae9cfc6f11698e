//! `nm-compiler`: the `.nm` compiler library behind the `nmc` binary.
//!
//! [`front`] parses and checks `.nm` source into a [`front::model::Model`]; [`driver`] runs the
//! pipeline for the command-line tool.

pub mod driver;
pub mod front;
