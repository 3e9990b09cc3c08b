//! The wire: message framing, the startup packets, the messages pgask builds or reads itself,
//! and TLS. Nothing here knows about sessions or asks.

pub mod frame;
pub mod messages;
pub mod pg_tls;
pub mod startup;
pub mod stream;
pub mod tls;
