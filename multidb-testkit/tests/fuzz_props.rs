//! The fake's request decoder on arbitrary bytes: never a panic, never a request that
//! consumes nothing (a spinning connection), errors only as Redis' protocol errors, and
//! well-formed requests decode as a small reference encoder says they should.

use multidb_testkit::fuzzing::{Decoder, Request, decode_all};
use proptest::prelude::*;

/// Fragments that steer random input into the decoder's interesting paths.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let tokens = [
        "*",
        "$",
        "\r\n",
        "\n",
        "\r",
        "*1\r\n",
        "*2\r\n",
        "$3\r\n",
        "$0\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "$-5\r\n",
        "*1048577\r\n",
        "$536870913\r\n",
        "$999999999\r\n",
        "*1\r\n*1\r\n",
        ":1\r\n",
        "+OK\r\n",
        "%1\r\n",
        "GET",
        "SET",
        "PING",
        " ",
        "\t",
        "x",
        "-1",
        "99999999999999999999",
        "\u{e9}",
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        proptest::sample::select(tokens.to_vec()).prop_map(|t| t.as_bytes().to_vec()),
    ]
}

fn noisy_input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..24).prop_map(|parts| parts.concat())
}

/// The reference encoder: what a client sends for a command.
fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_give_requests_or_one_final_protocol_error_and_always_progress(
        input in noisy_input()
    ) {
        let requests = decode_all(&input)
            .map_err(|so_far| TestCaseError::fail(format!("no progress after {so_far:?}")))?;
        for (i, request) in requests.iter().enumerate() {
            match request {
                Request::Error(message) => {
                    prop_assert!(message.starts_with("ERR Protocol error"), "{message}");
                    prop_assert_eq!(i, requests.len() - 1, "an error ends the connection");
                }
                Request::Command(args) => prop_assert!(!args.is_empty()),
                Request::Empty => {}
                Request::Incomplete => prop_assert!(false, "decode_all never returns Incomplete"),
            }
        }
    }

    #[test]
    fn encoded_commands_decode_back_to_themselves(commands in proptest::collection::vec(command(), 1..8)) {
        let wire: Vec<u8> = commands.iter().flat_map(|c| encode(c)).collect();
        let expected: Vec<Request> = commands.into_iter().map(Request::Command).collect();
        prop_assert_eq!(decode_all(&wire), Ok(expected));
    }

    #[test]
    fn a_command_split_anywhere_waits_without_consuming_then_decodes_whole(
        args in command(),
        cut in any::<prop::sample::Index>(),
    ) {
        let wire = encode(&args);
        let cut = cut.index(wire.len());
        let mut decoder = Decoder::new();
        decoder.extend(&wire[..cut]);
        prop_assert_eq!(decoder.next_request(), Request::Incomplete);
        prop_assert_eq!(decoder.remaining(), cut, "an incomplete request consumes nothing");
        decoder.extend(&wire[cut..]);
        prop_assert_eq!(decoder.next_request(), Request::Command(args));
        prop_assert_eq!(decoder.remaining(), 0);
    }

    #[test]
    fn inline_lines_split_on_whitespace(
        words in proptest::collection::vec("[a-zA-Z0-9_:{}-]{1,8}", 1..6),
        gaps in proptest::collection::vec("[ \t]{1,3}", 6),
    ) {
        let mut line = String::new();
        for (word, gap) in words.iter().zip(&gaps) {
            line.push_str(word);
            line.push_str(gap);
        }
        line.push_str("\r\n");
        let expected = Request::Command(words.iter().map(|w| w.as_bytes().to_vec()).collect());
        prop_assert_eq!(decode_all(line.as_bytes()), Ok(vec![expected]));
    }

    #[test]
    fn a_bulk_argument_without_crlf_after_it_is_a_protocol_error(
        arg in proptest::collection::vec(any::<u8>(), 0..16),
        terminator in proptest::array::uniform2(any::<u8>()).prop_filter("not CRLF", |t| t != b"\r\n"),
    ) {
        let mut wire = format!("*1\r\n${}\r\n", arg.len()).into_bytes();
        wire.extend_from_slice(&arg);
        wire.extend_from_slice(&terminator);
        let requests = decode_all(&wire).map_err(|_| TestCaseError::fail("no progress"))?;
        prop_assert!(
            matches!(requests.as_slice(), [Request::Error(m)] if m.contains("CRLF")),
            "{requests:?}"
        );
    }
}

#[test]
fn oversized_counts_and_lengths_are_refused_before_any_allocation() {
    for wire in [
        &b"*1048577\r\n"[..],
        b"*1\r\n$536870913\r\n",
        b"*1\r\n$-2\r\n",
    ] {
        let requests = decode_all(wire).unwrap_or_default();
        assert!(
            matches!(requests.as_slice(), [Request::Error(m)] if m.contains("length")),
            "{:?}: {requests:?}",
            String::from_utf8_lossy(wire)
        );
    }
}
