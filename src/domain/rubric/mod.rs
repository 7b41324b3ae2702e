//! The rubric: loading and validating a rubric file, and computing a clause's points.
//!
//! The file format is `schema/RUBRIC.md`. Loading parses into raw TOML structs, then checks
//! every rule and builds the typed [`Rubric`]; a broken file gets an error naming the clause,
//! item or category. The rubric knows nothing of storage.
//!
//! The parts, each importing only those before it: `types` (the typed rubric and its
//! lookups), `sheets` (where a record counts, and one sheet's figures: floors, caps,
//! weights), `compute` (a clause's points from the inputs, and the working shown to people),
//! `load` (parsing and validating a file, every error found), `diff` (what changed between two
//! rubrics, part by part). This file only re-exports them, so every path is
//! `crate::domain::rubric::X`.

mod compute;
pub mod diff;
mod load;
mod sheets;
mod types;

pub use compute::RuleError;
pub use load::{check, load, RubricError};
pub use sheets::{ItemFigures, SheetFigures, MAX_SHEETS, MAX_SHEET_SLOTS};
pub use types::Attribution;
/// The rest of the rubric's vocabulary, named by the tests (through `kaohe::internals`); the
/// rubric's own parts name these through `types`.
#[cfg(feature = "test-hooks")]
pub use types::{Amount, Band, Department, Direction, Qualifier, Rounding, Threshold, Unit};
#[cfg(feature = "test-hooks")]
pub use types::{Assessor, Grade, Part, Period};
pub use types::{Category, Clause, Context, Item, Metric, Rubric, Rule, Working};
pub use types::{Consequence, ConsequenceRule};
