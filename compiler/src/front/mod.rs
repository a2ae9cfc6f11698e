//! The `.nm` front end: source spans, syntax tree, nom parser, printer, semantic checks and
//! diagnostics. [`check::check`] turns a parsed file into a [`model::Model`], the plain-data
//! description of the network that the back end consumes.

pub mod ast;
pub mod check;
pub mod diag;
pub mod model;
pub mod parser;
pub mod printer;
pub mod span;
