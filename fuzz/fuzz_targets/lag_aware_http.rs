//! The lag-aware check's HTTP response reader and its chunked-body decoder, fed any bytes
//! in any pieces: no panic, a typed error or a response, and the same response as when
//! the bytes arrive at once.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use multidb_client::fuzzing::{ChunkedBody, HttpResponse};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    bytes: &'a [u8],
    cuts: Vec<u16>,
}

fn ends(len: usize, cuts: &[u16]) -> Vec<usize> {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| usize::from(c).min(len)).collect();
    ends.sort_unstable();
    ends
}

fuzz_target!(|input: Input<'_>| {
    let bytes = input.bytes;

    let whole = HttpResponse::default().feed(bytes, true);
    let mut parser = HttpResponse::default();
    let mut got = None;
    for end in ends(bytes.len(), &input.cuts) {
        match parser.feed(&bytes[..end], false) {
            Ok(None) => {}
            done => {
                got = Some(done);
                break;
            }
        }
    }
    let got = got.unwrap_or_else(|| parser.feed(bytes, true));
    // An error may be seen sooner in pieces; an answer must be the same answer.
    if let (Ok(got), Ok(whole)) = (&got, &whole) {
        assert_eq!(got, whole);
    }
    assert!(got.is_ok() || whole.is_err(), "{got:?} against {whole:?}");

    let whole = ChunkedBody::default().feed(bytes);
    let mut decoder = ChunkedBody::default();
    let mut got = None;
    for end in ends(bytes.len(), &input.cuts) {
        match decoder.feed(&bytes[..end]) {
            Ok(None) => {}
            done => {
                got = Some(done);
                break;
            }
        }
    }
    let got = got.unwrap_or_else(|| decoder.feed(bytes));
    if let (Ok(got), Ok(whole)) = (&got, &whole) {
        assert_eq!(got, whole);
    }
    assert!(got.is_ok() || whole.is_err(), "{got:?} against {whole:?}");
});
