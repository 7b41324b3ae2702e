//! Layer 0, base: bounds on outside input, decimals, bounded lines, CSV records, the first sheet
//! of an .xlsx workbook as rows of text, text checks and files written whole, never through a
//! link. Knows nothing of events, rubrics or storage.

pub mod csv;
pub mod decimal;
pub mod files;
pub mod limits;
pub mod lines;
pub mod text;
pub mod xlsx;
