//! Rubric files on their own, before any ledger holds one: checking a draft (`kaohe rubric
//! check`) and comparing two files (`kaohe rubric diff`). A draft is checked exactly as
//! `init` loads a rubric, but every error found is reported, not only the first.

use crate::domain::rubric::diff::{self, Difference};
use crate::domain::rubric::{self, Rubric};

/// A rubric file that passed every check.
pub struct Draft {
    pub(crate) rubric: Rubric,
}

/// Checks a draft rubric: the rubric, or every error found, each naming its clause, item or
/// category and the field (never an empty list).
pub fn check(text: &str) -> Result<Draft, Vec<String>> {
    rubric::check(text)
        .map(|rubric| Draft { rubric })
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

/// What changed from the rubric file `old` to `new`, part by part; the first error of a file
/// that does not load, named `old` or `new`.
pub fn diff(old: &str, new: &str) -> Result<Vec<Difference>, String> {
    let a = rubric::load(old).map_err(|e| format!("the old file: {e}"))?;
    let b = rubric::load(new).map_err(|e| format!("the new file: {e}"))?;
    Ok(diff::diff(&a, &b))
}
