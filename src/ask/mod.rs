//! The ask pipeline: answering a natural-language question with guarded SQL. So far its first
//! stages: [`catalog`] (what the database holds and who may read it), [`retrieve`] (which
//! tables and columns a question needs, and how they join) and [`generate`] (prompt, grammar and
//! the LLM that writes the SQL, in a supervised worker process).

pub mod catalog;
pub mod directive;
pub mod execute;
pub mod generate;
pub mod guard;
pub mod pipeline;
pub mod retrieve;
