//! kaohe (考核): an event-sourced, hash-chained audit ledger for the yearly performance
//! assessment of grassroots judicial stations. See `ARCHITECTURE.md` for the map.
//!
//! The code is in layers, each a folder, each importing only the layers below it (and, inside
//! a layer, only the modules declared before it): base → events → domain → store → ledger →
//! ops → render; the command line (the binary) sits on top. `tests/it/layers.rs` enforces it.
//!
//! The public API is what a front end needs: the use cases (`ops::actions`) and the other
//! operations, the renderers, and the few types and values they take and return, re-exported
//! below. The lower layers stay inside the crate; the tests, benches and fuzz targets reach
//! them through `internals` (feature `test-hooks`) and `fuzzing` (feature `fuzzing`).

// The lower layers are the crate's own; with `test-hooks` they are public too, so that
// `internals` can hand them to the tests (a module must be public to be re-exported).
#[cfg(not(feature = "test-hooks"))]
mod base;
#[cfg(feature = "test-hooks")]
pub mod base;
#[cfg(not(feature = "test-hooks"))]
mod domain;
#[cfg(feature = "test-hooks")]
pub mod domain;
#[cfg(not(feature = "test-hooks"))]
mod events;
#[cfg(feature = "test-hooks")]
pub mod events;
#[cfg(not(feature = "test-hooks"))]
mod ledger;
#[cfg(feature = "test-hooks")]
pub mod ledger;
#[cfg(not(feature = "test-hooks"))]
mod store;
#[cfg(feature = "test-hooks")]
pub mod store;

pub mod ops;
pub mod render;
pub mod service;
pub mod web;

pub use base::files;
pub use base::limits;
pub use domain::command::{self, Command};
pub use events::chain::{parse_hash, parse_typed_hash};
pub use events::event::{self, Actor, Hash};
pub use events::sign::{self, KeyPair};
pub use ledger::query::{Query, View};
pub use ledger::{Applied, InitOutcome, KeyInfo, Ledger, LedgerError};

/// Every layer, whole, for the tests and benches that check and measure the inside (the tamper
/// and damage tests edit stored entries through the store's hooks).
#[cfg(feature = "test-hooks")]
pub mod internals {
    pub use crate::{base, domain, events, ledger, store};
}

/// The fuzz targets' bodies (`fuzz/`), shared with the regression tests.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
