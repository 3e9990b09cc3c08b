//! The ask pipeline: answering a natural-language question with guarded SQL. So far its first
//! stages: [`catalog`] (what the database holds and who may read it) and [`retrieve`] (which
//! tables and columns a question needs, and how they join).

pub mod catalog;
pub mod retrieve;
