//! Reconciliation's mismatches as JSON and as a table.

use crate::ops::reconcile::{At, Mismatch};
use crate::render::view::Table;
use serde_json::{json, Value};

/// `reconcile --json`: `{"mismatches":[{"station","item","ledger_deducted","tally_deducted",
/// "ledger_awarded","tally_awarded","line"}]}`, every figure a string; `line` is the CSV file's
/// line, or the workbook sheet's row.
pub fn mismatches_json(mismatches: &[Mismatch]) -> Value {
    let list: Vec<Value> = mismatches
        .iter()
        .map(|m| {
            json!({
                "station": m.station,
                "item": m.item,
                "ledger_deducted": m.ledger_deducted.to_string(),
                "tally_deducted": m.tally_deducted.to_string(),
                "ledger_awarded": m.ledger_awarded.to_string(),
                "tally_awarded": m.tally_awarded.to_string(),
                "line": m.at.number(),
            })
        })
        .collect();
    json!({ "mismatches": list })
}

/// `reconcile` as a table: one row per mismatch, the ledger's figure beside the tally's; the
/// first column is the file's line (CSV) or the sheet's row (a workbook).
pub fn mismatches_table(mismatches: &[Mismatch]) -> String {
    let place = match mismatches.first().map(|m| m.at) {
        Some(At::Row(_)) => "row",
        _ => "line",
    };
    let mut t = Table::new(
        &[
            place,
            "station",
            "item",
            "ledger deducted",
            "tally deducted",
            "ledger awarded",
            "tally awarded",
        ],
        &[true, false, false, true, true, true, true],
    );
    for m in mismatches {
        t.row(vec![
            m.at.number().to_string(),
            m.station.clone(),
            m.item.clone(),
            m.ledger_deducted.to_string(),
            m.tally_deducted.to_string(),
            m.ledger_awarded.to_string(),
            m.tally_awarded.to_string(),
        ]);
    }
    t.render()
}
