//! Query cancellation across the proxy. Each client gets pgask's own BackendKeyData (the
//! upstream's pid and a fresh random secret); this map leads a client's CancelRequest to the
//! upstream key, and a wrong key is ignored, as PostgreSQL does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::upstream::{self, Upstream};
use super::SessionError;
use crate::net::startup::CancelKey;

/// How long a cancel waits for the server to close its side (it does so at once once the signal
/// is delivered; this bounds a server that never answers).
const CANCEL_DELIVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a cancel for one session must go.
#[derive(Debug, Clone)]
pub struct Target {
    pub upstream: Upstream,
    pub key: CancelKey,
    /// Tells a running ask about a cancel (it may be generating, with nothing upstream).
    pub asks: Arc<AskSignal>,
}

/// A cancel as an ask sees it.
#[derive(Debug, Default)]
pub struct AskSignal {
    notify: tokio::sync::Notify,
    /// An ask runs and nothing of it runs upstream: a cancel sent to the server now would land
    /// on whatever the client sends next, so it is not sent.
    offline: AtomicBool,
    /// A cancel arrived since the ask began.
    cancelled: AtomicBool,
}

impl AskSignal {
    /// An ask starts (nothing of it upstream yet).
    pub fn begin(&self) {
        self.cancelled.store(false, Ordering::Release);
        self.offline.store(true, Ordering::Release);
    }

    /// The ask is over: cancels go to the server again.
    pub fn end(&self) {
        self.offline.store(false, Ordering::Release);
    }

    /// Whether the ask has something running upstream (`false`) or not (`true`).
    pub fn set_offline(&self, offline: bool) {
        self.offline.store(offline, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Completes at the next cancel (only cancels after this call count).
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Records a cancel; returns whether it must also go to the server.
    fn cancel(&self) -> bool {
        self.cancelled.store(true, Ordering::Release);
        self.notify.notify_waiters();
        !self.offline.load(Ordering::Acquire)
    }
}

/// Live sessions by the key pgask gave their client.
#[derive(Debug, Clone, Default)]
pub struct CancelMap(Arc<Mutex<HashMap<CancelKey, Target>>>);

impl CancelMap {
    /// Makes the client's key for an upstream key and remembers it until the guard drops.
    pub fn register(&self, target: Target) -> CancelGuard {
        let mut secret = vec![0u8; target.key.secret.len().max(4)];
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = loop {
            rand::rng().fill_bytes(&mut secret);
            let key = CancelKey {
                pid: target.key.pid,
                secret: secret.clone(),
            };
            if !map.contains_key(&key) {
                break key;
            }
        };
        let asks = target.asks.clone();
        map.insert(key.clone(), target);
        CancelGuard {
            map: self.clone(),
            key,
            asks,
        }
    }

    pub fn lookup(&self, key: &CancelKey) -> Option<Target> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps a session's cancel key registered while the session lives.
#[derive(Debug)]
pub struct CancelGuard {
    map: CancelMap,
    pub key: CancelKey,
    /// The session's side of [`Target::asks`].
    pub asks: Arc<AskSignal>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.map
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Sends the upstream CancelRequest for `key` if it belongs to a live session.
pub async fn forward(map: &CancelMap, key: &CancelKey) -> Result<bool, SessionError> {
    let Some(target) = map.lookup(key) else {
        return Ok(false);
    };
    if !target.asks.cancel() {
        // An ask is generating: it stops by itself, and the idle server must not get a cancel
        // that could hit the client's next statement.
        return Ok(true);
    }
    let mut stream = upstream::connect(&target.upstream).await?;
    stream
        .write_all(&target.key.cancel_request())
        .await
        .map_err(SessionError::UpstreamIo)?;
    stream.flush().await.map_err(SessionError::UpstreamIo)?;
    // PostgreSQL closes the cancel connection once the signal is delivered, and libpq takes the
    // close as "the cancel was handled". So the client's side is closed only after the server's:
    // closing it earlier lets the client's next statement race the signal (and be cancelled).
    let mut sink = [0u8; 64];
    let _ = tokio::time::timeout(CANCEL_DELIVERY, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    let _ = stream.shutdown().await;
    Ok(true)
}
