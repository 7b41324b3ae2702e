//! The rank index: how many stations stand at each total, so that a station's rank at the
//! head is a count of the totals above its own, read in two short scans (the bands above,
//! then its own band), not a pass over every station's sums.
//!
//! | key | value |
//! |---|---|
//! | `G` + value (i128 BE, sign bit flipped) | the number of stations at this value (u64 BE) |
//! | `L` + band (i64 BE, sign bit flipped) | the number of stations whose value falls in the band (u64 BE) |
//!
//! A value is whatever fixed point the writer counts totals in (the domain: units of 10^-6
//! points), and a band is [`RANK_BAND_UNITS`] of them (one point), so there are about as
//! many bands as points in the rubric's range. Flipping the sign bit makes the keys sort as
//! their values do. A count never stands at zero: its key is removed. Only stations with
//! sums (an `A` entry) are counted; the others stand at the rubric's base, which the caller
//! knows. A commit carries the changes to the counts ([`Commit::ranks`](super::Commit)),
//! and `verify` compares both maps with the totals the events imply ([`Store::rank_entries`]).

use crate::store::layout::{io, Store, StoreError};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Values per band: a point, in the domain's units of 10^-6.
pub const RANK_BAND_UNITS: i128 = 1_000_000;

pub(super) const VALUE_PREFIX: u8 = b'G';
pub(super) const BAND_PREFIX: u8 = b'L';

/// The band a value falls in (clamped to i64, which keeps the order: a clamped band's values
/// are still told apart by the scan of the band).
pub(super) fn band_of(value: i128) -> i64 {
    let band = value.div_euclid(RANK_BAND_UNITS);
    i64::try_from(band).unwrap_or(if band < 0 { i64::MIN } else { i64::MAX })
}

pub(super) fn value_key(value: i128) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = VALUE_PREFIX;
    k[1..].copy_from_slice(&((value as u128) ^ (1u128 << 127)).to_be_bytes());
    k
}

pub(super) fn band_key(band: i64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = BAND_PREFIX;
    k[1..].copy_from_slice(&((band as u64) ^ (1u64 << 63)).to_be_bytes());
    k
}

fn value_of(key: &[u8]) -> Option<i128> {
    let b: [u8; 16] = key.get(1..)?.try_into().ok()?;
    Some((u128::from_be_bytes(b) ^ (1u128 << 127)) as i128)
}

fn band_from(key: &[u8]) -> Option<i64> {
    let b: [u8; 8] = key.get(1..)?.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1u64 << 63)) as i64)
}

fn count_of(v: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = v
        .try_into()
        .map_err(|_| StoreError::Corrupt("a rank count has the wrong size".into()))?;
    Ok(u64::from_be_bytes(b))
}

impl Store {
    /// Adds a commit's changes to the counts (value → stations gained, or lost when
    /// negative) to `batch`, with the bands they fall in.
    pub(super) fn stage_ranks(
        &self,
        batch: &mut sled::Batch,
        changes: &BTreeMap<i128, i64>,
    ) -> Result<(), StoreError> {
        let mut bands: BTreeMap<i64, i64> = BTreeMap::new();
        for (&value, &change) in changes {
            *bands.entry(band_of(value)).or_default() += change;
            self.stage_count(batch, &value_key(value), change)?;
        }
        for (band, change) in bands {
            self.stage_count(batch, &band_key(band), change)?;
        }
        Ok(())
    }

    pub(super) fn stage_count(
        &self,
        batch: &mut sled::Batch,
        key: &[u8],
        change: i64,
    ) -> Result<(), StoreError> {
        if change == 0 {
            return Ok(());
        }
        let now = match self.db.get(key).map_err(io)? {
            Some(v) => count_of(&v)?,
            None => 0,
        };
        let after = i128::from(now) + i128::from(change);
        match u64::try_from(after) {
            Ok(0) => batch.remove(key),
            Ok(n) => batch.insert(key, &n.to_be_bytes()),
            Err(_) => {
                return Err(StoreError::Corrupt(
                    "the rank index counts fewer stations at a total than leave it".into(),
                ))
            }
        }
        Ok(())
    }

    /// How many counted stations stand above `value`, and how many are counted in all. The
    /// counts read are held to each other (sums that overflow, or a band's values counting
    /// more stations than the band, are damage), so that a damaged count is an error rather
    /// than a wrong rank; `verify` compares every count with the events.
    pub fn rank_counts(&self, value: i128) -> Result<(u64, u64), StoreError> {
        let band = band_of(value);
        let (mut above, mut all, mut own) = (0u64, 0u64, 0u64);
        let malformed = || StoreError::Corrupt("the rank index is malformed".into());
        for entry in self.db.scan_prefix([BAND_PREFIX]) {
            let (k, v) = entry.map_err(io)?;
            let n = count_of(&v)?;
            all = all.checked_add(n).ok_or_else(malformed)?;
            let b = band_from(&k).ok_or_else(malformed)?;
            if b > band {
                above += n;
            } else if b == band {
                own = n;
            }
        }
        // The values above `value` in its own band: up to the next band's first value (the
        // last, clamped band runs to the end of the values).
        let end = match band {
            i64::MAX => vec![VALUE_PREFIX + 1],
            _ => value_key(RANK_BAND_UNITS * (i128::from(band) + 1)).to_vec(),
        };
        let range = (
            Bound::Excluded(value_key(value).to_vec()),
            Bound::Excluded(end),
        );
        let mut own_above = 0u64;
        for entry in self.db.range::<Vec<u8>, _>(range) {
            let (k, v) = entry.map_err(io)?;
            value_of(&k).ok_or_else(malformed)?;
            own_above = own_above.checked_add(count_of(&v)?).ok_or_else(malformed)?;
        }
        if own_above > own {
            return Err(malformed());
        }
        Ok((above + own_above, all))
    }

    /// Every count of the rank index: (value → stations, band → stations). `verify` compares
    /// them with what the events imply.
    #[allow(clippy::type_complexity)]
    pub fn rank_entries(&self) -> Result<(BTreeMap<i128, u64>, BTreeMap<i64, u64>), StoreError> {
        let malformed = || StoreError::Corrupt("a rank index key is malformed".into());
        let mut values = BTreeMap::new();
        for entry in self.db.scan_prefix([VALUE_PREFIX]) {
            let (k, v) = entry.map_err(io)?;
            values.insert(value_of(&k).ok_or_else(malformed)?, count_of(&v)?);
        }
        let mut bands = BTreeMap::new();
        for entry in self.db.scan_prefix([BAND_PREFIX]) {
            let (k, v) = entry.map_err(io)?;
            bands.insert(band_from(&k).ok_or_else(malformed)?, count_of(&v)?);
        }
        Ok((values, bands))
    }
}

/// The bands a map of values implies: what [`Store::rank_entries`] must give beside it.
pub fn rank_bands(values: &BTreeMap<i128, u64>) -> BTreeMap<i64, u64> {
    let mut bands = BTreeMap::new();
    for (&value, &n) in values {
        *bands.entry(band_of(value)).or_default() += n;
    }
    bands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_as_their_values_and_bands_do() {
        let values = [
            i128::MIN,
            -2 * RANK_BAND_UNITS - 1,
            -RANK_BAND_UNITS,
            -1,
            0,
            1,
            RANK_BAND_UNITS - 1,
            RANK_BAND_UNITS,
            100 * RANK_BAND_UNITS + 5,
            i128::MAX,
        ];
        for pair in values.windows(2) {
            assert!(value_key(pair[0]) < value_key(pair[1]), "{pair:?}");
            assert!(band_of(pair[0]) <= band_of(pair[1]), "{pair:?}");
            assert!(band_key(band_of(pair[0])) <= band_key(band_of(pair[1])));
        }
        for v in values {
            assert_eq!(value_of(&value_key(v)), Some(v));
            assert_eq!(band_from(&band_key(band_of(v))), Some(band_of(v)));
        }
        assert_eq!(band_of(-1), -1);
        assert_eq!(band_of(RANK_BAND_UNITS * 7 + 3), 7);
    }

    /// `rank_counts` against a naive model: stations moved between totals (negative ones,
    /// totals on a band's edge, several in one band, the clamped bands) commit by commit,
    /// then every total and its neighbours probed: the stations above it and the stations
    /// counted are the model's. `rank_entries` gives the model's maps.
    #[test]
    fn rank_counts_are_what_a_list_of_totals_gives() {
        let u = RANK_BAND_UNITS;
        let pool = [
            i128::MIN,
            i128::MIN + 1,
            -3 * u,
            -u - 1,
            -u,
            -1,
            0,
            1,
            u - 1,
            u,
            u + 500_000,
            2 * u - 1,
            97 * u + 350_000,
            100 * u,
            i128::from(i64::MAX) * u,
            i128::MAX - 1,
            i128::MAX,
        ];
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("l")).unwrap();
        let mut stations: Vec<Option<i128>> = vec![None; 40];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..60 {
            let mut changes: BTreeMap<i128, i64> = BTreeMap::new();
            for _ in 0..1 + next(8) {
                let s = next(stations.len());
                let to = pool[next(pool.len())];
                if let Some(from) = stations[s] {
                    *changes.entry(from).or_default() -= 1;
                }
                *changes.entry(to).or_default() += 1;
                stations[s] = Some(to);
            }
            let mut batch = sled::Batch::default();
            store.stage_ranks(&mut batch, &changes).unwrap();
            store.db.apply_batch(batch).unwrap();
            let counted: Vec<i128> = stations.iter().flatten().copied().collect();
            for probe in pool
                .iter()
                .flat_map(|v| [v.saturating_sub(1), *v, v.saturating_add(1)])
            {
                let above = counted.iter().filter(|t| **t > probe).count() as u64;
                assert_eq!(
                    store.rank_counts(probe).unwrap(),
                    (above, counted.len() as u64),
                    "{probe}"
                );
            }
            let mut values: BTreeMap<i128, u64> = BTreeMap::new();
            for t in &counted {
                *values.entry(*t).or_default() += 1;
            }
            let bands = rank_bands(&values);
            assert_eq!(store.rank_entries().unwrap(), (values, bands));
        }
    }

    /// A damaged count is an error, not a rank: a value's count above its band's.
    #[test]
    fn a_band_counting_fewer_than_its_values_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("l")).unwrap();
        let mut batch = sled::Batch::default();
        let changes = [(5 * RANK_BAND_UNITS + 1, 2), (5 * RANK_BAND_UNITS + 9, 1)];
        store
            .stage_ranks(&mut batch, &changes.into_iter().collect())
            .unwrap();
        store.db.apply_batch(batch).unwrap();
        assert_eq!(store.rank_counts(5 * RANK_BAND_UNITS).unwrap(), (3, 3));
        store
            .db
            .insert(value_key(5 * RANK_BAND_UNITS + 9), &u64::MAX.to_be_bytes())
            .unwrap();
        let err = store.rank_counts(5 * RANK_BAND_UNITS).unwrap_err();
        assert!(err.to_string().contains("malformed"), "{err}");
    }
}
