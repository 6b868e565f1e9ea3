#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| foodflow_hub::fuzz::login(data));
