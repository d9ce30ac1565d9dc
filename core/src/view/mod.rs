//! What one session sees of the aggregated catalogue: tag filters, presets, and the URL query that picks them.

pub mod presets;
pub mod query;
pub mod request;
pub mod tag_filter;

pub use presets::{Preset, Presets, parse_presets};
pub use query::{ViewError, ViewSpec, parse_view_query};
pub use tag_filter::{FilterError, TagExpr, TagFilter, parse_expression, parse_tag_list};
