//! The blocking client's reader of packed requests, on any bytes: a typed error or
//! commands, never a panic, and what it reads packs back into bytes it reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use multidb_client::fuzzing::{blocking_requests, pack_requests};

fuzz_target!(|bytes: &[u8]| {
    match blocking_requests(bytes) {
        Err(e) => assert_eq!(e.kind(), redis::ErrorKind::Client, "{e}"),
        Ok(cmds) => {
            assert!(!cmds.is_empty());
            let packed = pack_requests(&cmds);
            assert_eq!(blocking_requests(&packed).ok().as_ref(), Some(&cmds));
        }
    }
});
