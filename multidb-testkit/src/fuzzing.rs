//! Entry points for fuzz targets and property tests: the fake server's request decoder,
//! reachable from outside the crate. Not a stable API.
//!
//! The decoder is the one piece of the fakes that reads bytes from an untrusted peer, so it
//! is fuzzed on its own (`fuzz/fuzz_targets/resp_decoder.rs`), faster than through a socket.

use bytes::BytesMut;

// The fake keeps its decoder private; compiling the same file here fuzzes the very code
// the fake runs without widening the fake's API.
#[allow(
    clippy::duplicate_mod,
    reason = "the fake's copy stays private; this one is the fuzzing entry point"
)]
#[path = "fake/request.rs"]
mod request;

use request::Parsed;

/// What the decoder made of the front of its buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Not a whole request yet: nothing was consumed.
    Incomplete,
    /// A request that carried no command (an empty inline line, `*0`, `*-1`).
    Empty,
    /// A command and its arguments.
    Command(Vec<Vec<u8>>),
    /// Malformed input: the fake answers this error line and closes the connection.
    Error(String),
}

/// The fake server's request decoder over a growing buffer, as a connection reads it.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the peer.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next request off the front of the buffer.
    pub fn next_request(&mut self) -> Request {
        match request::next_request(&mut self.buf) {
            Parsed::Incomplete => Request::Incomplete,
            Parsed::Empty => Request::Empty,
            Parsed::Command(args) => Request::Command(args),
            Parsed::Error(message) => Request::Error(message),
        }
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

/// Decodes `input` as one connection would: requests until the buffer runs out
/// ([`Request::Incomplete`] is not included) or an error (included, and last).
///
/// Stops with `Err(requests so far)` if a step returned a request without consuming a
/// byte — the decoder would then spin forever on a real connection.
///
/// # Errors
/// The requests decoded before the decoder stopped making progress.
pub fn decode_all(input: &[u8]) -> Result<Vec<Request>, Vec<Request>> {
    let mut decoder = Decoder::new();
    decoder.extend(input);
    let mut out = Vec::new();
    loop {
        let before = decoder.remaining();
        let request = decoder.next_request();
        match request {
            Request::Incomplete => return Ok(out),
            Request::Error(_) => {
                out.push(request);
                return Ok(out);
            }
            _ if decoder.remaining() >= before => return Err(out),
            _ => out.push(request),
        }
    }
}
