//! The ask pipeline: answering a natural-language question with guarded SQL.
//!
//! [`directive`] recognises an ask; [`catalog`] says what the database holds and who may read
//! it; [`retrieve`] picks the tables and columns a question needs and how they join;
//! [`generate`] builds prompt and grammar and runs the LLM (a supervised llama.cpp worker, or an
//! OpenAI-compatible server); [`guard`] checks the SQL; [`execute`] runs it read-only on the
//! client's session; [`pipeline`] ties them together with the correction loop, the answer cache,
//! the connection's [`memory`], the [`glossary`] and the [`history`].

pub mod catalog;
pub mod directive;
pub mod execute;
pub mod explain;
pub mod generate;
pub mod glossary;
pub mod guard;
pub mod history;
pub mod memory;
pub mod pipeline;
pub mod retrieve;
pub mod semantic;
