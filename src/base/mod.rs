//! Layer 0, base: bounds on outside input, decimals, bounded lines, CSV records and text
//! checks. Knows nothing of events, rubrics or storage.

pub mod csv;
pub mod decimal;
pub mod limits;
pub mod lines;
pub mod text;
