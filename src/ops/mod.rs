//! Layer 5, operations: what people do with a ledger, on top of `ledger` — evidence files,
//! import, export, appeals, explain, the close, verify, restore, proofs, witnesses,
//! reconciliation, and years in sequence.

pub mod actions;
pub mod appeals;
pub mod backup;
pub mod close;
pub mod evidence;
pub mod explain;
pub mod export;
pub mod import;
pub mod proofs;
pub mod reconcile;
pub mod restore;
pub mod rubrics;
pub mod verify;
pub mod witness;
pub mod years;
