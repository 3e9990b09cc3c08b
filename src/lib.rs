//! pgask: a PostgreSQL wire-protocol proxy. Normal statements pass through byte for byte;
//! the ask pipeline (natural-language questions as SQL comments) hooks in at
//! [`session::request::RequestHook`].
//!
//! Layers, from the wire up: [`net`] (framing, startup packets, TLS), [`session`] (one client's
//! life), [`server`] (listener, shutdown, reload), with [`config`] and [`metrics`] beside them.

pub mod ask;
pub mod config;
pub mod demo;
pub mod eval;
pub mod metrics;
pub mod models;
pub mod net;
pub mod report;
pub mod server;
pub mod session;
