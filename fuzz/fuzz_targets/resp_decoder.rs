//! The testkit's request decoder on arbitrary bytes: no panic, progress on every request,
//! errors only as Redis' protocol errors and only last.
#![no_main]

use libfuzzer_sys::fuzz_target;
use multidb_testkit::fuzzing::{Decoder, Request, decode_all};

fuzz_target!(|data: &[u8]| {
    let Ok(requests) = decode_all(data) else {
        panic!("the decoder returned a request without consuming a byte");
    };
    for (i, request) in requests.iter().enumerate() {
        match request {
            Request::Error(message) => {
                assert!(message.starts_with("ERR Protocol error"), "{message}");
                assert_eq!(i, requests.len() - 1, "an error ends the connection");
            }
            Request::Command(args) => assert!(!args.is_empty()),
            Request::Empty => {}
            Request::Incomplete => unreachable!("decode_all never returns Incomplete"),
        }
    }
    // Byte-at-a-time arrival (the worst a socket can do) decodes multibulk requests the same.
    if data.first() == Some(&b'*') && data.len() < 4096 {
        let mut decoder = Decoder::new();
        let mut dribbled = Vec::new();
        'bytes: for byte in data {
            decoder.extend(std::slice::from_ref(byte));
            loop {
                match decoder.next_request() {
                    Request::Incomplete => break,
                    error @ Request::Error(_) => {
                        dribbled.push(error);
                        break 'bytes;
                    }
                    other => dribbled.push(other),
                }
            }
        }
        assert_eq!(dribbled, requests, "split delivery changed the result");
    }
});
