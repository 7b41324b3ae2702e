//! An import line, and the same bytes as an import file: `kaohe::fuzzing::import_line` (the invariants are documented there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kaohe::fuzzing::import_line(data));
