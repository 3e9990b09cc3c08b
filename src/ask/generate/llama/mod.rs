//! llama.cpp through llama-cpp-2: the engine that runs inside the worker process, and the
//! exact grammar masking it uses, the finishing of a query the model did not end, and the
//! grammar matcher that checks whether a grammar accepts a text (llama.cpp's own matcher).

pub mod engine;
pub mod finish;
pub mod mask;
pub mod matcher;

pub use engine::{backend, Engine, EngineConfig, EngineError};
