//! Framing of PostgreSQL protocol messages: a type byte and a big-endian length that counts
//! itself. pgask only ever reads the header of a message it forwards; the body passes as bytes.
//!
//! Two readers live here. [`next_frame`] finds whole client messages in a buffer and refuses an
//! oversized length *before* the body is buffered. [`StreamScanner`] follows server messages across
//! arbitrary read boundaries without buffering them, reporting each header (and the status byte of
//! ReadyForQuery) so a session can track state while it forwards the very bytes it read.

/// Bytes in a message header: the type byte and the length.
pub const HEADER_LEN: usize = 5;

/// A message whose length field is impossible or over the configured cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("invalid message length {len} for message type {tag:?}")]
    BadLength { tag: char, len: u32 },
    #[error("message of type {tag:?} is {len} bytes, over the limit of {max} bytes")]
    TooLarge { tag: char, len: u64, max: usize },
}

/// The header of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub tag: u8,
    /// The length field: the body plus the four length bytes.
    pub len: u32,
}

impl Header {
    /// Reads a header from the first five bytes of `buf`, `None` if fewer are there.
    pub fn read(buf: &[u8]) -> Option<Result<Header, FrameError>> {
        let bytes: [u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        let tag = bytes[0];
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        if len < 4 || len > i32::MAX as u32 {
            return Some(Err(FrameError::BadLength {
                tag: tag as char,
                len,
            }));
        }
        Some(Ok(Header { tag, len }))
    }

    /// Whole message size on the wire: type byte plus length.
    pub fn total(&self) -> usize {
        1 + self.len as usize
    }

    /// The header itself, or an error when its message is over `max` bytes in all.
    pub fn within(self, max: usize) -> Result<Header, FrameError> {
        if self.total() > max {
            return Err(FrameError::TooLarge {
                tag: self.tag as char,
                len: self.total() as u64,
                max,
            });
        }
        Ok(self)
    }

    /// Body size: what follows the header.
    pub fn body_len(&self) -> usize {
        self.len as usize - 4
    }
}

/// Finds the first complete message in `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, and an error as soon as the header is known to
/// announce a message larger than `max` bytes, so a caller never grows a buffer for it.
pub fn next_frame(buf: &[u8], max: usize) -> Result<Option<Header>, FrameError> {
    let header = match Header::read(buf) {
        None => return Ok(None),
        Some(h) => h?,
    };
    let header = header.within(max)?;
    Ok((buf.len() >= header.total()).then_some(header))
}

/// What [`StreamScanner`] reports for each message it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub header: Header,
    /// The first body byte when it was available with the header; always set for ReadyForQuery
    /// ('Z'), whose single body byte is the transaction status.
    pub first: Option<u8>,
    /// The start of a CommandComplete's ('C') body (its command tag) as far as it came with the
    /// header, at most [`HEAD`] bytes; empty for other messages.
    pub head: Head,
}

impl Seen {
    /// What is known of a message from its header and the start of its body that came with it.
    fn with(header: Header, body: &[u8]) -> Seen {
        Seen {
            header,
            first: body.first().copied(),
            head: if header.tag == b'C' {
                Head::of(body)
            } else {
                Head::default()
            },
        }
    }
}

/// Most body bytes [`Seen::head`] holds.
pub const HEAD: usize = 24;

/// The first body bytes of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    bytes: [u8; HEAD],
    len: u8,
}

impl Head {
    fn of(body: &[u8]) -> Head {
        let n = body.len().min(HEAD);
        let mut bytes = [0; HEAD];
        bytes[..n].copy_from_slice(&body[..n]);
        Head {
            bytes,
            len: n as u8,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Follows a stream of messages split at arbitrary points, without keeping their bodies.
#[derive(Debug, Default)]
pub struct StreamScanner {
    /// A header (and for 'Z' its status byte) split across reads.
    partial: [u8; HEADER_LEN + 1],
    have: usize,
    /// Body bytes of the current message still to pass over.
    skip: usize,
}

impl StreamScanner {
    /// Whether the bytes fed so far end exactly at a message boundary.
    pub fn at_boundary(&self) -> bool {
        self.have == 0 && self.skip == 0
    }

    /// Feeds the next bytes of the stream, calling `seen` once per message header completed.
    pub fn feed(&mut self, mut data: &[u8], mut seen: impl FnMut(Seen)) -> Result<(), FrameError> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
            }
            if data.is_empty() {
                return Ok(());
            }
            if self.have == 0 && data.len() > HEADER_LEN {
                // Fast path: a whole header and its first body byte in this read.
                let header = Header::read(data).unwrap_or(Err(FrameError::BadLength {
                    tag: data[0] as char,
                    len: 0,
                }))?;
                let end = data.len().min(HEADER_LEN + header.body_len());
                seen(Seen::with(header, &data[HEADER_LEN..end]));
                self.skip = header.body_len();
                data = &data[HEADER_LEN..];
                continue;
            }
            data = self.fill_partial(data, &mut seen)?;
        }
    }

    /// Collects a header split across reads, byte by byte.
    fn fill_partial<'a>(
        &mut self,
        mut data: &'a [u8],
        seen: &mut impl FnMut(Seen),
    ) -> Result<&'a [u8], FrameError> {
        while let Some((&b, rest)) = data.split_first() {
            self.partial[self.have] = b;
            self.have += 1;
            data = rest;
            if self.have < HEADER_LEN {
                continue;
            }
            let header = match Header::read(&self.partial[..HEADER_LEN]) {
                Some(h) => h?,
                None => continue,
            };
            let wants_first = header.tag == b'Z' && header.len > 4;
            if wants_first && self.have == HEADER_LEN {
                continue;
            }
            seen(Seen::with(header, &self.partial[HEADER_LEN..self.have]));
            self.skip = header.body_len() - (self.have - HEADER_LEN);
            self.have = 0;
            break;
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn next_frame_needs_whole_message_and_checks_cap_first() {
        let m = msg(b'Q', b"SELECT 1\0");
        assert_eq!(next_frame(&m[..3], 100), Ok(None));
        assert_eq!(next_frame(&m[..8], 100), Ok(None));
        assert_eq!(next_frame(&m, 100).unwrap().unwrap().total(), m.len());
        // Only the header has arrived, yet the cap is enforced already.
        let huge = [b'Q', 0x10, 0, 0, 0];
        assert!(matches!(
            next_frame(&huge, 1024),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            next_frame(&[b'Q', 0, 0, 0, 3], 1024),
            Err(FrameError::BadLength { .. })
        ));
    }

    #[test]
    fn scanner_keeps_what_came_of_a_command_tag() {
        let mut stream = msg(b'D', &[1; 40]);
        stream.extend(msg(b'C', b"ROLLBACK\0"));
        for chunk in [1, 3, 5, 6, 7, 45, 50, stream.len()] {
            let mut scanner = StreamScanner::default();
            let mut heads = Vec::new();
            for part in stream.chunks(chunk) {
                scanner
                    .feed(part, |seen| {
                        if seen.header.tag == b'C' {
                            heads.push(seen.head.as_slice().to_vec());
                        }
                    })
                    .unwrap();
            }
            assert_eq!(heads.len(), 1);
            assert!(b"ROLLBACK\0".starts_with(&heads[0]), "{chunk}");
            if chunk == stream.len() {
                assert_eq!(heads[0], b"ROLLBACK\0");
            }
        }
    }

    #[test]
    fn scanner_sees_every_header_at_any_split() {
        let mut stream = Vec::new();
        stream.extend(msg(b'T', &[7; 30]));
        stream.extend(msg(b'D', &[1; 9000]));
        stream.extend(msg(b'C', b"SELECT 1\0"));
        stream.extend(msg(b'Z', b"T"));
        stream.extend(msg(b'Z', b"I"));
        for chunk in [1, 2, 3, 5, 6, 7, 64, 4096, stream.len()] {
            let mut scanner = StreamScanner::default();
            let mut seen = Vec::new();
            for part in stream.chunks(chunk) {
                scanner
                    .feed(part, |s| seen.push((s.header.tag, s.first)))
                    .unwrap();
            }
            let tags: Vec<u8> = seen.iter().map(|s| s.0).collect();
            assert_eq!(tags, b"TDCZZ", "chunk size {chunk}");
            assert_eq!(seen[3].1, Some(b'T'));
            assert_eq!(seen[4].1, Some(b'I'));
        }
    }

    #[test]
    fn scanner_rejects_bad_length() {
        let mut scanner = StreamScanner::default();
        assert!(scanner.feed(&[b'D', 0, 0, 0, 1, 9, 9], |_| {}).is_err());
    }
}
