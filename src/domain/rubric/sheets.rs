//! Where a record counts and what one sheet of records scores.
//!
//! A **sheet** is one assessor's scoring of one sub-period: a rubric with two periods and two
//! assessors has four, each scored on the whole rubric, and a station's score is their weighted
//! sum (period weight × assessor weight). A rubric that states neither has one sheet, and its
//! score is that sheet's.
//!
//! Within a sheet every item has a **slot**, or two per sub-part when it has sub-parts (the
//! ordinary findings and the severe ones, which pass the sub-part's floor). Slot numbers run
//! sheet by sheet: `sheet × slots_per_sheet + slot in sheet`. A rubric without sub-parts and
//! with one sheet has exactly one slot per item, numbered like the items, so its derived data
//! (`domain::rows`) is what it always was.

use crate::base::decimal::canonical;
use crate::domain::rubric::types::{Item, Rubric};
use jiff::civil::Date;
use rust_decimal::{Decimal, RoundingStrategy};

/// The most sheets a rubric may have (periods × assessors).
pub const MAX_SHEETS: usize = 16;
/// The most slots one sheet may have (items, and two per sub-part). With [`MAX_SHEETS`], every
/// slot number stays below the tally's dispute marks, and every dispute mark (base + slot)
/// below its metric marks (asserted in `domain::rows`): 16 × 1792 = 0xF000 − 0x8000.
pub const MAX_SHEET_SLOTS: usize = 1792;

/// One item's figures on one sheet, on the item's own scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemFigures {
    /// The findings as recorded (sum of the item's slots).
    pub raw: Decimal,
    /// After the sub-parts' floors and the item's cap.
    pub applied: Decimal,
    /// What `applied` counts for in the total (`Item::counts`).
    pub counts: Decimal,
}

/// One sheet's figures for one station.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SheetFigures {
    /// By item position.
    pub items: Vec<ItemFigures>,
    pub deducted: Decimal,
    /// The bonus items' counts, before the bonus cap.
    pub awarded_before_cap: Decimal,
    pub awarded: Decimal,
    /// base − deducted + awarded.
    pub total: Decimal,
}

impl Rubric {
    /// How many sheets the rubric has (periods × assessors; at least one).
    pub fn sheet_count(&self) -> usize {
        self.periods.len() * self.assessors.len()
    }

    /// Whether every slot is an item (one sheet, no sub-parts): slot = item position, and a
    /// station's total is the item sums' capped and weighted sum (the fast path of
    /// `domain::rows::capped_total`).
    pub fn slot_per_item(&self) -> bool {
        !self.has_sheets() && self.slots_per_sheet == self.item_slots.len()
    }

    /// Whether the score is combined from several sheets.
    pub fn has_sheets(&self) -> bool {
        self.sheet_count() > 1
    }

    /// Slots in one sheet.
    pub fn slots_per_sheet(&self) -> usize {
        self.slots_per_sheet
    }

    /// Every slot of every sheet.
    pub fn slot_count(&self) -> usize {
        self.sheet_count() * self.slots_per_sheet
    }

    /// The sheet's period and assessor (indices).
    pub fn sheet_parts(&self, sheet: usize) -> (usize, usize) {
        (sheet / self.assessors.len(), sheet % self.assessors.len())
    }

    /// A sheet's name for people: `上半年·区局`.
    pub fn sheet_name(&self, sheet: usize) -> String {
        let (p, a) = self.sheet_parts(sheet);
        match (self.periods.get(p), self.assessors.get(a)) {
            (Some(p), Some(a)) => format!("{}·{}", p.name, a.name),
            _ => format!("sheet {sheet}"),
        }
    }

    /// A sheet's weight in the score, as a fraction: period weight × assessor weight / 10 000.
    pub fn sheet_weight(&self, sheet: usize) -> Decimal {
        let (p, a) = self.sheet_parts(sheet);
        self.periods[p].weight * self.assessors[a].weight / Decimal::from(10_000)
    }

    /// The sheet a record counts on: the period its date falls in and the assessor its
    /// department records for. `None` outside the period or for an unknown department.
    pub fn sheet_of(&self, by: &str, date: Date) -> Option<usize> {
        let period = self
            .periods
            .iter()
            .position(|p| p.start <= date && date <= p.end)?;
        let by = self.department(by)?;
        let assessor = self
            .assessors
            .iter()
            .position(|a| a.departments.iter().any(|d| d == by))?;
        Some(period * self.assessors.len() + assessor)
    }

    /// The slot a record under `clause` by `by` on `date` counts in (see the module doc).
    pub fn record_slot(&self, clause: &str, by: &str, date: Date) -> Option<usize> {
        let (item, c) = self.clause(clause)?;
        let position = self.item_position(&item.code)?;
        let within = match c.part {
            None => 0,
            Some(part) => part * 2 + usize::from(c.severe),
        };
        let sheet = self.sheet_of(by, date)?;
        Some(sheet * self.slots_per_sheet + self.item_slots[position] + within)
    }

    /// The item position a slot belongs to.
    pub fn slot_item(&self, slot: usize) -> Option<usize> {
        let local = slot % self.slots_per_sheet.max(1);
        match self.item_slots.binary_search(&local) {
            Ok(p) => Some(p),
            Err(0) => None,
            Err(p) => Some(p - 1),
        }
    }

    /// The figures of one sheet from its slots' sums (`slots_per_sheet` of them, signed: a
    /// deduction item's findings and a bonus item's awards are both positive). The one place
    /// where sub-part floors, item caps, weights and the bonus cap apply: the replay, the
    /// tally and the audit all score through it.
    pub fn sheet_figures(&self, slots: &[Decimal]) -> SheetFigures {
        let mut out = SheetFigures {
            items: Vec::with_capacity(self.item_slots.len()),
            ..SheetFigures::default()
        };
        for (position, item) in self.items().enumerate() {
            let first = self.item_slots[position];
            let own = slots
                .get(first..first + item_slot_count(item))
                .unwrap_or(&[]);
            let f = item_figures(item, own);
            match item.bonus {
                true => out.awarded_before_cap += f.counts,
                false => out.deducted += f.counts,
            }
            out.items.push(f);
        }
        out.awarded = out.awarded_before_cap.min(self.bonus_cap);
        out.total = canonical(self.base_points - out.deducted + out.awarded);
        out.deducted = canonical(out.deducted);
        out.awarded = canonical(out.awarded);
        out.awarded_before_cap = canonical(out.awarded_before_cap);
        out
    }

    /// A figure combined over the sheets: Σ weight × figure, kept to 6 places (half away from
    /// zero). With one sheet, that sheet's figure unchanged.
    pub fn combine(&self, figure: impl Fn(usize) -> Decimal) -> Decimal {
        if !self.has_sheets() {
            return figure(0);
        }
        let sum: Decimal = (0..self.sheet_count())
            .map(|s| self.sheet_weight(s) * figure(s))
            .sum();
        canonical(sum.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero))
    }

    /// A station's total from every slot's sum (`slot_count` of them).
    pub fn total_of_slots(&self, slots: &[Decimal]) -> Decimal {
        let n = self.slots_per_sheet;
        let sheets: Vec<SheetFigures> = (0..self.sheet_count())
            .map(|s| self.sheet_figures(slots.get(s * n..(s + 1) * n).unwrap_or(&[])))
            .collect();
        self.combine(|s| sheets[s].total)
    }
}

/// How many slots an item has in a sheet.
pub(super) fn item_slot_count(item: &Item) -> usize {
    match item.parts.len() {
        0 => 1,
        n => n * 2,
    }
}

/// An item's figures from its slots: each sub-part keeps at least its floor against ordinary
/// findings and nothing below zero against severe ones; then the item's cap and weight.
fn item_figures(item: &Item, slots: &[Decimal]) -> ItemFigures {
    let at = |i: usize| slots.get(i).copied().unwrap_or_default();
    let raw: Decimal = slots.iter().copied().sum();
    let found = match item.parts.is_empty() {
        true => raw,
        false => item
            .parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let ordinary = at(2 * i).min(part.points - part.floor);
                (ordinary + at(2 * i + 1)).min(part.points)
            })
            .sum(),
    };
    let applied = canonical(item.applied(found));
    ItemFigures {
        raw: canonical(raw),
        applied,
        counts: item.counts(applied),
    }
}
