//! What the final scores mean for each station, as the rubric's `[[consequence]]` table says
//! (`schema/RUBRIC.md`, *Consequences*): money per point for a group of stations, a threshold
//! below which something is lost, the top places and the last place. Evaluated on the final
//! scores (the close's view), never stored: the same scores always give the same consequences.

use crate::domain::projection::StationScore;
use crate::domain::rubric::{Consequence, ConsequenceRule};
use rust_decimal::Decimal;

/// One consequence for one station: its label, and an amount for money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub label: String,
    /// Money: `total × per_point`, to the fen (2 places, half away from zero).
    pub amount: Option<Decimal>,
}

/// The consequences of each station of `scores` (ranked, in rank order), in the rubric's
/// order; one list per station, aligned with `scores`.
pub fn evaluate(table: &[Consequence], scores: &[StationScore<'_>]) -> Vec<Vec<Outcome>> {
    let last = scores.iter().map(|s| s.rank).max();
    scores
        .iter()
        .map(|s| table.iter().filter_map(|c| outcome(c, s, last)).collect())
        .collect()
}

fn outcome(c: &Consequence, s: &StationScore<'_>, last: Option<u32>) -> Option<Outcome> {
    let plain = || Outcome {
        label: c.label.clone(),
        amount: None,
    };
    match &c.rule {
        ConsequenceRule::Money { per_point, group } => {
            if group.is_some_and(|g| g != s.kind) {
                return None;
            }
            let amount = (s.total * per_point)
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            Some(Outcome {
                label: c.label.clone(),
                amount: Some(crate::base::decimal::canonical(amount)),
            })
        }
        ConsequenceRule::Below { below } => (s.total < *below).then(plain),
        ConsequenceRule::Top { places } => (s.rank <= *places).then(plain),
        ConsequenceRule::Last => (Some(s.rank) == last && s.rank > 1).then(plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::event::StationKind;

    fn station(rank: u32, total: &str, kind: StationKind) -> StationScore<'static> {
        StationScore {
            station: format!("S{rank}"),
            name: String::new(),
            kind,
            total: total.parse().unwrap(),
            deducted: Decimal::ZERO,
            awarded: Decimal::ZERO,
            raw_deducted: Decimal::ZERO,
            raw_awarded: Decimal::ZERO,
            awarded_before_cap: Decimal::ZERO,
            rank,
            items: Vec::new(),
            sheets: Vec::new(),
        }
    }

    fn rule(label: &str, rule: ConsequenceRule) -> Consequence {
        Consequence {
            label: label.into(),
            rule,
        }
    }

    #[test]
    fn money_thresholds_and_places() {
        let table = vec![
            rule(
                "奖励",
                ConsequenceRule::Money {
                    per_point: "12.5".parse().unwrap(),
                    group: Some(StationKind::Town),
                },
            ),
            rule(
                "取消补助",
                ConsequenceRule::Below {
                    below: "60".parse().unwrap(),
                },
            ),
            rule("先进", ConsequenceRule::Top { places: 1 }),
            rule("取消评优", ConsequenceRule::Last),
        ];
        let scores = vec![
            station(1, "98.5", StationKind::Town),
            station(2, "70", StationKind::Subdistrict),
            station(3, "59.99", StationKind::Town),
            station(3, "59.99", StationKind::Town),
        ];
        let got = evaluate(&table, &scores);
        let labels = |i: usize| -> Vec<&str> { got[i].iter().map(|o| o.label.as_str()).collect() };
        assert_eq!(labels(0), ["奖励", "先进"]);
        assert_eq!(got[0][0].amount, Some("1231.25".parse().unwrap()));
        assert_eq!(
            labels(1),
            Vec::<&str>::new(),
            "a subdistrict: no town money"
        );
        assert_eq!(labels(2), ["奖励", "取消补助", "取消评优"]);
        assert_eq!(got[2][0].amount, Some("749.88".parse().unwrap()));
        assert_eq!(labels(3), labels(2), "a shared last place is last for both");
    }
}
