//! A rubric file: `kaohe::fuzzing::rubric_load` (the invariants are documented there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kaohe::fuzzing::rubric_load(data));
