//! Layer 1, events: the stored event types, their one encoding (`codec`), the hash chain,
//! signatures and the Merkle tree. Knows nothing of rubrics' rules or storage.

pub mod chain;
pub mod codec;
pub mod event;
pub mod merkle;
pub mod sign;
