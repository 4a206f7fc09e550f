//! Histories: what a run of ZooKeeper (real or simulated) did, op by op.
//!
//! Why this module: the checker must judge histories recorded by zksim, by the real-ZooKeeper
//! recorder in `/work/shared/reference`, and by Jepsen, against one set of properties. Each
//! format is parsed into one in-memory model (`model`), and zksim's own line format
//! (`record`) is the type the simulator serializes. See docs/history-format.md.

pub mod edn;
pub mod error;
pub mod jepsen;
pub mod jsonl;
pub mod load;
pub mod model;
pub mod record;
pub mod synth;
pub mod writer;

pub use error::ParseError;
pub use jepsen::export_edn;
pub use load::{detect_format, load_history, parse_format_name, parse_history};
pub use model::*;
pub use writer::to_zksim_jsonl;
