//! Backup files handed to `helpyap restore`.
#![no_main]
use helpyap_actors::store::backup::check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check(data);
});
