//! A receipt, a consistency file or a checkpoint note, against the seed ledger's key: `kaohe::fuzzing::receipt_verify` (the invariants are documented there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kaohe::fuzzing::receipt_verify(data));
