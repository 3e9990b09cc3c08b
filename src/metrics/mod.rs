//! Prometheus exposition of what the proxy does: sessions, bytes, messages by type, errors and
//! upstream connect latency. Recording is cheap and a no-op until an exporter is installed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot start the metrics endpoint on {addr}: {source}")]
    Install {
        addr: SocketAddr,
        source: metrics_exporter_prometheus::BuildError,
    },
}

/// Serves `/metrics` on `addr`; must be called inside the tokio runtime.
pub fn install(addr: SocketAddr) -> Result<(), MetricsError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|source| MetricsError::Install { addr, source })?;
    describe();
    Ok(())
}

fn describe() {
    metrics::describe_counter!("pgask_sessions_total", "Client sessions accepted");
    metrics::describe_gauge!("pgask_sessions_active", "Client sessions open now");
    metrics::describe_counter!("pgask_bytes_total", "Bytes relayed, by direction");
    metrics::describe_counter!(
        "pgask_messages_total",
        "Protocol messages relayed, by direction and type"
    );
    metrics::describe_counter!("pgask_errors_total", "Sessions ended by an error, by kind");
    metrics::describe_histogram!(
        "pgask_upstream_connect_seconds",
        "Time to open an upstream connection"
    );
}

/// Direction of relayed traffic.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    ToUpstream,
    ToClient,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::ToUpstream => "client_to_upstream",
            Direction::ToClient => "upstream_to_client",
        }
    }
}

/// Per-session tallies, kept locally so the hot path does no registry lookups, and published in
/// one go now and then.
#[derive(Debug)]
pub struct Tally {
    direction: Direction,
    bytes: u64,
    messages: [u32; 256],
    published: Instant,
}

impl Tally {
    pub fn new(direction: Direction) -> Self {
        Tally {
            direction,
            bytes: 0,
            messages: [0; 256],
            published: Instant::now(),
        }
    }

    #[inline]
    pub fn message(&mut self, tag: u8) {
        self.messages[tag as usize] += 1;
    }

    #[inline]
    pub fn bytes(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// Publishes when the last publish is over a second old, so long sessions show up too.
    #[inline]
    pub fn tick(&mut self) {
        if self.published.elapsed() > Duration::from_secs(1) {
            self.publish();
        }
    }

    /// Adds what was counted since the last publish to the global metrics.
    pub fn publish(&mut self) {
        self.published = Instant::now();
        let dir = self.direction.label();
        if self.bytes > 0 {
            metrics::counter!("pgask_bytes_total", "direction" => dir).increment(self.bytes);
            self.bytes = 0;
        }
        for (tag, n) in self.messages.iter_mut().enumerate() {
            if *n > 0 {
                let ty = message_type(tag as u8);
                metrics::counter!("pgask_messages_total", "direction" => dir, "type" => ty)
                    .increment(u64::from(*n));
                *n = 0;
            }
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.publish();
    }
}

/// The label for a message type byte: the letter itself when printable.
fn message_type(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        (tag as char).to_string()
    } else {
        format!("0x{tag:02x}")
    }
}

/// Counts a session that ended with an error of `kind`.
pub fn error(kind: &'static str) {
    metrics::counter!("pgask_errors_total", "kind" => kind).increment(1);
}
