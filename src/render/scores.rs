//! The scores as CSV (`export --scores --format csv`, `schema/scores-csv.md`).

use crate::base::csv::write_record;
use crate::domain::projection::StationScore;
use std::io::Write;

/// The columns of `export --scores --format csv` (described in `schema/scores-csv.md`).
pub const SCORES_HEADER: [&str; 13] = [
    "station",
    "name",
    "kind",
    "rank",
    "total",
    "item",
    "item_name",
    "max",
    "deducted",
    "awarded",
    "raw_deducted",
    "raw_awarded",
    "capped",
];

/// Writes scores as CSV: the header, then one row per station and item, stations in rank
/// order (as [`crate::ledger::tally::scores`] gives them), items in rubric order.
pub fn write_scores(out: &mut impl Write, scores: &[StationScore<'_>]) -> std::io::Result<()> {
    write_record(out, &SCORES_HEADER)?;
    for s in scores {
        let (rank, total) = (s.rank.to_string(), s.total.to_string());
        for i in &s.items {
            write_record(
                out,
                &[
                    s.station.as_str(),
                    s.name.as_str(),
                    s.kind.as_str(),
                    &rank,
                    &total,
                    i.item,
                    i.name,
                    &i.max.to_string(),
                    &i.deducted.to_string(),
                    &i.awarded.to_string(),
                    &i.raw_deducted.to_string(),
                    &i.raw_awarded.to_string(),
                    if i.capped() { "true" } else { "false" },
                ],
            )?;
        }
    }
    Ok(())
}
