//! The rules every event obeys given the events before it — what the write path enforces —
//! re-checked on read. `verify` (a stored ledger) and `export::verify` (an export file) fold
//! every event through an [`Audit`], so a consistently re-chained forgery that the write path
//! would have refused is still caught at its seq.

use crate::chain;
use crate::event::*;
use crate::rubric::{self, Context, Rubric, Rule};
use jiff::{civil::Date, Timestamp};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

/// The offset of the rubric's local time (China Standard Time, UTC+8): it decides which day
/// "today" is when an occurred date is checked.
pub const LOCAL_OFFSET_HOURS: i8 = 8;

/// The local day of a moment.
pub fn local_day(at: Timestamp) -> Date {
    jiff::tz::Offset::constant(LOCAL_OFFSET_HOURS)
        .to_datetime(at)
        .date()
}

/// Why an occurred date is refused: outside the period, or after `today`.
pub fn occurred_problem(period: (Date, Date), occurred: Date, today: Date) -> Option<String> {
    let (start, end) = period;
    if occurred < start || occurred > end {
        return Some(format!(
            "{occurred} is outside the rubric's period {start} to {end}"
        ));
    }
    (occurred > today).then(|| {
        format!("{occurred} is in the future (today is {today}); record what has happened")
    })
}

/// The key of a (station, clause) unit count.
pub fn unit_key(station: &str, clause: &str) -> Vec<u8> {
    let mut k = station.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(clause.as_bytes());
    k
}

/// The state the rules need, folded event by event.
#[derive(Default)]
pub struct Audit {
    /// The genesis' period (the rubric text itself is not kept twice).
    period: Option<(Date, Date)>,
    rubric: Option<Rc<Rubric>>,
    stations: HashMap<String, StationKind>,
    /// 64-bit hashes of the ids seen (a collision could only raise a false alarm).
    ids: HashSet<u64>,
    unit_counts: BTreeMap<Vec<u8>, u32>,
    last_recorded_us: Option<i64>,
}

impl Audit {
    pub fn new() -> Self {
        Self::default()
    }

    /// Units recorded per (station, clause) for clauses with a maximum count.
    pub fn unit_counts(&self) -> &BTreeMap<Vec<u8>, u32> {
        &self.unit_counts
    }

    /// The rubric of the genesis, once it has been read.
    pub fn rubric(&self) -> Option<Rc<Rubric>> {
        self.rubric.clone()
    }

    pub fn last_recorded_us(&self) -> Option<i64> {
        self.last_recorded_us
    }

    /// Checks the event at `seq` against the rules and the events before it, then folds it in.
    pub fn check(&mut self, seq: u64, body: &Body) -> Result<(), String> {
        let at = body.v1().recorded_at_us;
        if self.last_recorded_us.is_some_and(|last| at < last) {
            return Err("recorded_at goes back in time".into());
        }
        self.last_recorded_us = Some(at);
        let kind = body.kind();
        if let EventKind::LedgerCreated(g) = kind {
            return self.genesis(seq, g);
        }
        let (Some(period), Some(rubric)) = (self.period, self.rubric.clone()) else {
            return Err("the first event is not the genesis".into());
        };
        if let Some(id) = kind.id() {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(id, &mut h);
            if !self.ids.insert(std::hash::Hasher::finish(&h)) {
                return Err(format!("id {id} names a second event"));
            }
        }
        let today = local_day(body.recorded_at());
        match kind {
            EventKind::LedgerCreated(_) => unreachable!("handled above"),
            EventKind::StationRegistered(s) => {
                if self.stations.insert(s.code.clone(), s.kind).is_some() {
                    return Err(format!("station {} registered twice", s.code));
                }
                Ok(())
            }
            EventKind::PointsRecorded(p) => self.record(&rubric, period, today, p),
            EventKind::MetricReported(m) => {
                self.station_kind(&m.station)?;
                let metric = rubric
                    .metric(&m.metric)
                    .ok_or_else(|| format!("metric {} is not in the rubric", m.metric))?;
                if !rubric.metric_departments(&m.metric).contains(m.by.as_str()) {
                    return Err(format!("{} does not report {}", m.by, m.metric));
                }
                metric.check_bounds(m.value).map_err(|b| {
                    format!("value {} is outside {}'s bounds {b}", m.value, m.metric)
                })?;
                occurred_problem(period, m.occurred, today).map_or(Ok(()), Err)
            }
        }
    }

    fn genesis(&mut self, seq: u64, g: &LedgerCreated) -> Result<(), String> {
        if seq != 0 || self.period.is_some() {
            return Err("only the first event is the genesis".into());
        }
        if chain::plain(g.rubric_toml.as_bytes()) != g.rubric_hash {
            return Err("the rubric does not match its rubric_hash".into());
        }
        let r = rubric::load(&g.rubric_toml).map_err(|e| e.to_string())?;
        if (r.period_start, r.period_end) != (g.period_start, g.period_end) {
            return Err("the genesis' period differs from its rubric's".into());
        }
        self.rubric = Some(Rc::new(r));
        self.period = Some((g.period_start, g.period_end));
        Ok(())
    }

    fn station_kind(&self, station: &str) -> Result<StationKind, String> {
        self.stations
            .get(station)
            .copied()
            .ok_or_else(|| format!("event for unregistered station {station}"))
    }

    /// Recomputes a record's points from the rubric and the state before it.
    fn record(
        &mut self,
        rubric: &Rubric,
        period: (Date, Date),
        today: Date,
        p: &PointsRecorded,
    ) -> Result<(), String> {
        let station_kind = self.station_kind(&p.station)?;
        let (item, clause) = rubric
            .clause(&p.clause)
            .ok_or_else(|| format!("clause {} is not in the rubric", p.clause))?;
        if !item.departments.contains(&p.by) {
            return Err(format!("{} does not assess item {}", p.by, item.code));
        }
        if let Some(problem) = occurred_problem(period, p.occurred, today) {
            return Err(problem);
        }
        let counted = matches!(
            clause.rule,
            Rule::PerUnit {
                max_count: Some(_),
                ..
            }
        );
        let key = unit_key(&p.station, &p.clause);
        let prior_count = match counted {
            true => self.unit_counts.get(&key).copied().unwrap_or(0),
            false => 0,
        };
        let ctx = Context {
            station_kind,
            prior_count,
        };
        match rubric.compute(clause, &ctx, &p.inputs) {
            Ok(points) if points == p.computed_points => {}
            Ok(points) => {
                return Err(format!(
                    "computed_points {} but the rubric gives {points}",
                    p.computed_points
                ))
            }
            Err(e) => return Err(format!("the rubric refuses this record: {e}")),
        }
        if counted {
            *self.unit_counts.entry(key).or_default() += p.inputs.count.unwrap_or(1);
        }
        Ok(())
    }
}
