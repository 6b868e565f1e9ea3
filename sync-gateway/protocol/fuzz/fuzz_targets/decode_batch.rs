//! `cargo +nightly fuzz run decode_batch` (from sync-gateway/protocol): the batch decoder must
//! return an error for every malformed input and never panic, and whatever it accepts must
//! survive a re-encode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    foodflow_protocol::batch::fuzz_decode(data);
});
