//! An event body: `kaohe::fuzzing::event_decode` (the invariants are documented there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kaohe::fuzzing::event_decode(data));
