//! `pgask eval`: measures answer quality on a question set with gold SQL. VA: the predicted SQL
//! runs; EX: its result equals a gold query's ([`compare`]; rows tied on an ordered gold's first
//! key in any order, [`ties`]); TS: also on variant databases with the same schema and other
//! data ([`variants`]). Questions come from JSONL, Spider's `dev.json` or defog's CSV
//! ([`questions`]); predictions from asks through pgask, the gold (`--oracle`) or a
//! file ([`runner`]); results go to a table, a JSON file and `--compare` ([`report`]);
//! `--retrieval-only` measures recall@k of the gold tables ([`tables`]).

pub mod compare;
pub mod questions;
pub mod report;
pub mod runner;
pub mod tables;
pub mod ties;
pub mod variants;

pub use report::{compare as compare_reports, Report};
pub use runner::{run, EvalError, EvalOptions, Predictor};
