//! Layer 2, domain: the rubric, commands, the rules (one rulebook for the write path and the
//! audit), disputes, the projection, rankings and the tally's row format. Pure: no storage, no
//! clock, no files.

pub mod audit;
pub mod command;
pub mod consequences;
pub mod dispute;
pub mod projection;
pub mod ranking;
pub mod rows;
pub mod rubric;
pub mod rules;
