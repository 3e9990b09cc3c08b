//! Every integration test in one binary: llama.cpp, candle and tokio are linked once instead of
//! once per test file. Each module is one area (its own `//!` says which); `common` is the
//! harness they share (throwaway clusters, an in-process pgask, a raw protocol client).

mod common;

mod ask;
mod ask_candidates;
mod ask_clients;
mod ask_limits;
mod ask_memory;
mod ask_metrics;
mod ask_prompt_shape;
mod ask_protocol;
mod ask_roles;
mod ask_values;
mod auth;
mod bad_input;
mod cancel;
mod clients;
mod config_examples;
mod demo;
mod differential;
mod eval;
mod eval_variants;
mod generation;
mod guard_names;
mod lifecycle;
mod masking;
mod models;
mod openai_server;
mod real_model;
mod reload;
mod retrieval;
mod upstream_socket;
