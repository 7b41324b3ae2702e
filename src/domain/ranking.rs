//! Rankings for the rank clauses (B.6.a) and the gap check of the close: pure rules over each
//! station's latest figures, shared by the close (which records them) and the audit (which
//! re-derives them on read).
use crate::base::limits::{MAX_EVIDENCE_CHARS, MAX_EVIDENCE_COUNT};
use crate::domain::rubric::{Clause, Rubric, Rule};
use crate::events::event::{Gap, RankEntry, Ranking, StationKind};
use rust_decimal::Decimal;

/// The ranking of a rank clause from each station's latest figures: the stations that meet
/// every qualifier, by the ranked figure (best first; equal figures share the better place:
/// 1, 2, 3, 3, 5), down to the last place that earns points. `latest(station, metric)`.
pub fn rank<'a>(
    clause: &Clause,
    stations: impl Iterator<Item = &'a str>,
    latest: impl Fn(&str, &str) -> Option<Decimal>,
) -> Option<Ranking> {
    let Rule::Rank {
        metric,
        qualify,
        bands,
    } = &clause.rule
    else {
        return None;
    };
    let mut qualified: Vec<(Decimal, &str)> = stations
        .filter(|s| {
            qualify
                .iter()
                .all(|q| latest(s, &q.metric).is_some_and(|v| v >= q.at_least))
        })
        .filter_map(|s| latest(s, metric).map(|v| (v, s)))
        .collect();
    qualified.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let points_at = |rank: u32| {
        bands
            .iter()
            .find(|b| b.from <= rank && rank <= b.to)
            .map_or(Decimal::ZERO, |b| b.points)
    };
    let mut entries = Vec::new();
    let mut rank = 0u32;
    let mut last: Option<Decimal> = None;
    for (i, (value, station)) in qualified.iter().enumerate() {
        if last != Some(*value) {
            rank = i as u32 + 1;
            last = Some(*value);
        }
        let points = points_at(rank);
        if points.is_zero() {
            break;
        }
        entries.push(RankEntry {
            station: station.to_string(),
            value: crate::base::decimal::canonical(*value),
            rank,
            points: crate::base::decimal::canonical(points),
        });
    }
    Some(Ranking {
        clause: clause.code.clone(),
        entries,
        qualified: qualified.len() as u32,
    })
}

/// Every rank clause's ranking.
pub fn rankings(
    rubric: &Rubric,
    stations: &[(String, StationKind)],
    latest: impl Fn(&str, &str) -> Option<Decimal>,
) -> Vec<Ranking> {
    rubric
        .clauses()
        .filter_map(|(_, c)| rank(c, stations.iter().map(|(s, _)| s.as_str()), &latest))
        .collect()
}

/// The standards each station's latest figures fail with no deduction recorded under the
/// clause: `latest(station, metric)`, `recorded(station, clause)` (records not reversed).
pub fn gaps(
    rubric: &Rubric,
    stations: &[(String, StationKind)],
    latest: impl Fn(&str, &str) -> Option<Decimal>,
    recorded: impl Fn(&str, &str) -> bool,
) -> Vec<Gap> {
    let mut out = Vec::new();
    for (station, kind) in stations {
        for (_, clause) in rubric.clauses() {
            let Some(metric) = clause.rule.metric() else {
                continue;
            };
            let Some(value) = latest(station, metric) else {
                continue;
            };
            if let Some(points) = rubric.shortfall_points(clause, *kind, value) {
                if !recorded(station, &clause.code) {
                    out.push(Gap {
                        station: station.clone(),
                        clause: clause.code.clone(),
                        metric: metric.to_string(),
                        value: crate::base::decimal::canonical(value),
                        points,
                    });
                }
            }
        }
    }
    out
}

/// The evidence a rank bonus carries: its ranking, within the evidence limits.
pub fn ranking_evidence(ranking: &Ranking, metric: &str) -> Vec<String> {
    let mut out = vec![format!(
        "{} 排名 by {metric}: {} stations qualified",
        ranking.clause, ranking.qualified
    )];
    for e in &ranking.entries {
        if out.len() + 1 == MAX_EVIDENCE_COUNT {
            out.push(format!("… {} places in all", ranking.entries.len()));
            break;
        }
        let line = format!("{}. {} {} (+{})", e.rank, e.station, e.value, e.points);
        out.push(line.chars().take(MAX_EVIDENCE_CHARS).collect());
    }
    out
}
