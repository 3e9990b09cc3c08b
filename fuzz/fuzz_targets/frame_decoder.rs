//! Fuzzes the two message framers against each other: `next_frame` over a buffer and
//! `StreamScanner` over the same bytes cut at arbitrary points must agree on every header, and
//! neither may panic or accept a message over the cap.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/net/frame.rs"]
mod frame;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&cut, data)) = input.split_first() else { return };
    let max = 1 << 16;
    // Whole-buffer framing, as the client direction does it.
    let mut tags = Vec::new();
    let mut rest = data;
    let mut framing_error = false;
    loop {
        match frame::next_frame(rest, max) {
            Ok(Some(h)) => {
                assert!(h.total() <= max && h.total() <= rest.len());
                tags.push(h.tag);
                rest = &rest[h.total()..];
            }
            Ok(None) => break,
            Err(_) => {
                framing_error = true;
                break;
            }
        }
    }
    // Streaming, as the server direction does it, in chunks of 1 to 256 bytes.
    let mut scanner = frame::StreamScanner::default();
    let mut seen = Vec::new();
    let mut scan_error = false;
    for chunk in data.chunks(usize::from(cut) + 1) {
        if scanner.feed(chunk, |s| seen.push(s.header.tag)).is_err() {
            scan_error = true;
            break;
        }
    }
    // The scanner also reports headers of messages not yet complete, and does not know the cap:
    // the complete messages found by next_frame are a prefix of what it saw.
    assert!(seen.len() >= tags.len(), "scanner saw fewer headers");
    assert_eq!(&seen[..tags.len()], &tags[..]);
    if scan_error {
        assert!(framing_error, "only the scanner failed");
    }
});
