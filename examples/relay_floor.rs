//! The floor for any passthrough proxy on a machine: a relay that does nothing but copy bytes
//! between each client and its own upstream connection, on one thread, with one `epoll` loop,
//! no parsing, no allocation per message and no runtime — the least work a user-space proxy can
//! do per message (one read and one write per direction). `benches/passthrough.sh` runs it as a
//! third target beside PgBouncer and pgask (`FLOOR_BIN`), so a proxy's overhead can be compared
//! with what the kernel alone costs on the same cores, in the same run.
//!
//! ```sh
//! cargo build --release --example relay_floor
//! relay_floor 127.0.0.1:6433 127.0.0.1:5432       # or a Unix socket path as the upstream
//! ```
//!
//! Linux only (it calls `epoll` directly). Not part of pgask: a measuring stick.

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: relay_floor LISTEN_ADDR UPSTREAM (host:port, or a Unix socket path)");
        std::process::exit(2);
    }
    if let Err(e) = floor::run(&args[1], &args[2]) {
        eprintln!("relay_floor: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("relay_floor runs on Linux only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod floor {
    use std::collections::HashMap;
    use std::io::{self, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, RawFd};
    use std::os::unix::net::UnixStream;

    /// An upstream connection: TCP or a Unix socket.
    enum Upstream {
        Tcp(TcpStream),
        Unix(UnixStream),
    }

    impl Upstream {
        fn connect(to: &str) -> io::Result<Upstream> {
            if to.starts_with('/') {
                UnixStream::connect(to).map(Upstream::Unix)
            } else {
                let s = TcpStream::connect(to)?;
                s.set_nodelay(true)?;
                Ok(Upstream::Tcp(s))
            }
        }
        fn set_nonblocking(&self) -> io::Result<()> {
            match self {
                Upstream::Tcp(s) => s.set_nonblocking(true),
                Upstream::Unix(s) => s.set_nonblocking(true),
            }
        }
        fn fd(&self) -> RawFd {
            match self {
                Upstream::Tcp(s) => s.as_raw_fd(),
                Upstream::Unix(s) => s.as_raw_fd(),
            }
        }
    }

    impl Read for Upstream {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self {
                Upstream::Tcp(s) => s.read(buf),
                Upstream::Unix(s) => s.read(buf),
            }
        }
    }

    impl Write for Upstream {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self {
                Upstream::Tcp(s) => s.write(buf),
                Upstream::Unix(s) => s.write(buf),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// One client and its upstream, with bytes read from one side that the other has not yet
    /// taken (only when a write was short; the side they came from is not read meanwhile).
    struct Pair {
        client: TcpStream,
        upstream: Upstream,
        to_upstream: Vec<u8>,
        to_client: Vec<u8>,
    }

    const LISTENER: u64 = u64::MAX;

    fn epoll_ctl(ep: RawFd, op: i32, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: key };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Writes as much of `data` as the socket takes now; the rest is returned.
    fn push(to: &mut impl Write, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut at = 0;
        while at < data.len() {
            match to.write(&data[at..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(data[at..].to_vec())
    }

    pub fn run(listen: &str, upstream: &str) -> io::Result<()> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        // SAFETY: plain system call.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        let readable = libc::EPOLLIN as u32;
        epoll_ctl(
            ep,
            libc::EPOLL_CTL_ADD,
            listener.as_raw_fd(),
            readable,
            LISTENER,
        )?;
        let mut pairs: HashMap<u64, Pair> = HashMap::new();
        let mut next: u64 = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
        loop {
            // SAFETY: `events` has room for `events.len()` entries.
            let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in &events[..n as usize] {
                let key = ev.u64;
                if key == LISTENER {
                    while let Ok((client, _)) = listener.accept() {
                        let Ok(up) = Upstream::connect(upstream) else {
                            continue;
                        };
                        let ok = client.set_nodelay(true).is_ok()
                            && client.set_nonblocking(true).is_ok()
                            && up.set_nonblocking().is_ok();
                        if !ok {
                            continue;
                        }
                        let id = next;
                        next += 2;
                        epoll_ctl(ep, libc::EPOLL_CTL_ADD, client.as_raw_fd(), readable, id)?;
                        epoll_ctl(ep, libc::EPOLL_CTL_ADD, up.fd(), readable, id + 1)?;
                        pairs.insert(
                            id,
                            Pair {
                                client,
                                upstream: up,
                                to_upstream: Vec::new(),
                                to_client: Vec::new(),
                            },
                        );
                    }
                    continue;
                }
                let id = key & !1;
                let from_client = key & 1 == 0;
                let Some(p) = pairs.get_mut(&id) else {
                    continue;
                };
                if relay(ep, id, from_client, p, &mut buf).is_err() {
                    // Either side closed or failed: the pair goes (closing both sockets).
                    pairs.remove(&id);
                }
            }
        }
    }

    /// Moves what one side has to the other; an error or an end of either side ends the pair.
    fn relay(
        ep: RawFd,
        id: u64,
        from_client: bool,
        p: &mut Pair,
        buf: &mut [u8],
    ) -> io::Result<()> {
        let was_waiting = !p.to_upstream.is_empty() || !p.to_client.is_empty();
        // Short writes earlier: finish them first.
        if !p.to_upstream.is_empty() {
            let data = std::mem::take(&mut p.to_upstream);
            p.to_upstream = push(&mut p.upstream, &data)?;
        }
        if !p.to_client.is_empty() {
            let data = std::mem::take(&mut p.to_client);
            p.to_client = push(&mut p.client, &data)?;
        }
        // A side is read only when what it sent before has been taken by the other.
        let held = if from_client {
            !p.to_upstream.is_empty()
        } else {
            !p.to_client.is_empty()
        };
        if !held {
            let n = if from_client {
                p.client.read(buf)
            } else {
                p.upstream.read(buf)
            };
            match n {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    if from_client {
                        p.to_upstream = push(&mut p.upstream, &buf[..n])?;
                    } else {
                        p.to_client = push(&mut p.client, &buf[..n])?;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let waiting = !p.to_upstream.is_empty() || !p.to_client.is_empty();
        if waiting || was_waiting {
            // Only after a short write: what each socket is watched for follows what waits.
            let (rd, wr) = (libc::EPOLLIN as u32, libc::EPOLLOUT as u32);
            let client = if p.to_upstream.is_empty() { rd } else { 0 }
                | if p.to_client.is_empty() { 0 } else { wr };
            let upstream = if p.to_client.is_empty() { rd } else { 0 }
                | if p.to_upstream.is_empty() { 0 } else { wr };
            epoll_ctl(ep, libc::EPOLL_CTL_MOD, p.client.as_raw_fd(), client, id)?;
            epoll_ctl(ep, libc::EPOLL_CTL_MOD, p.upstream.fd(), upstream, id + 1)?;
        }
        Ok(())
    }
}
