//! `mcp.json`: the file format (1MCP-compatible), its parsing and validation, and the model.

mod diagnostics;
mod duplicates;
mod env;
mod fields;
pub(crate) use fields::kind;
pub mod keys;
mod model;
mod parse;
pub mod schema;

pub use model::*;
pub use parse::*;
