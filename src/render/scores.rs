//! The scores as CSV (`export --scores --format csv`, `schema/scores-csv.md`).

use crate::base::csv::{write_bom, write_cells, write_record, Cell};
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

/// Writes scores as CSV: the byte-order mark, the header, then one row per station and item,
/// stations in rank order (as [`crate::ledger::tally::scores`] gives them), items in rubric order. Text cells
/// (codes and names) are neutralised against formula injection; figures are written as they
/// are ([`crate::base::csv`]).
pub fn write_scores(out: &mut impl Write, scores: &[StationScore<'_>]) -> std::io::Result<()> {
    write_bom(out)?;
    write_record(out, &SCORES_HEADER)?;
    for s in scores {
        let (rank, total) = (s.rank.to_string(), s.total.to_string());
        for i in &s.items {
            let figures = [
                i.max.to_string(),
                i.deducted.to_string(),
                i.awarded.to_string(),
                i.raw_deducted.to_string(),
                i.raw_awarded.to_string(),
            ];
            let [max, deducted, awarded, raw_deducted, raw_awarded] = figures.each_ref();
            write_cells(
                out,
                &[
                    Cell::Text(&s.station),
                    Cell::Text(&s.name),
                    Cell::Text(s.kind.as_str()),
                    Cell::Figure(&rank),
                    Cell::Figure(&total),
                    Cell::Text(i.item),
                    Cell::Text(i.name),
                    Cell::Figure(max),
                    Cell::Figure(deducted),
                    Cell::Figure(awarded),
                    Cell::Figure(raw_deducted),
                    Cell::Figure(raw_awarded),
                    Cell::Figure(if i.capped() { "true" } else { "false" }),
                ],
            )?;
        }
    }
    Ok(())
}
