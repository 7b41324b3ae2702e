//! kaohe (考核): an event-sourced, hash-chained audit ledger for the yearly performance
//! assessment of grassroots judicial stations. See `ARCHITECTURE.md` for the map.

pub mod appeals;
pub mod audit;
pub mod chain;
pub mod close;
pub mod codec;
pub mod command;
pub mod csv;
pub mod decimal;
pub mod dispute;
pub mod event;
pub mod evidence;
pub mod explain;
pub mod export;
/// The fuzz targets' bodies (`fuzz/`), shared with the regression tests.
pub mod fuzzing;
pub mod import;
pub mod ledger;
pub mod limits;
pub mod lines;
pub mod merkle;
pub mod projection;
pub mod proofs;
pub mod query;
pub mod reconcile;
pub mod report;
pub mod restore;
pub mod rubric;
pub mod sign;
pub mod store;
pub mod tally;
pub mod verify;
pub mod view;
pub mod walk;
