//! kaohe (考核): an event-sourced, hash-chained audit ledger for the yearly performance
//! assessment of grassroots judicial stations. See `ARCHITECTURE.md` for the map.
//!
//! The code is in layers, each a folder, each importing only the layers below it (and, inside
//! a layer, only the modules declared before it): base → events → domain → store → ledger →
//! ops → render; the command line (the binary) sits on top. `tests/it/layers.rs` enforces it.

pub mod base;
pub mod domain;
pub mod events;
/// The fuzz targets' bodies (`fuzz/`), shared with the regression tests.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ledger;
pub mod ops;
pub mod render;
pub mod store;
