//! Layer 6, rendering: text tables, JSON shapes, CSV and the Excel workbook of scores, and the
//! HTML report. Reads the outcomes of operations; decides nothing.

pub mod checks;
pub mod lists;
pub mod outcome;
pub mod reconcile;
pub mod report;
pub mod rubrics;
pub mod scores;
pub mod view;
pub mod xlsx;
