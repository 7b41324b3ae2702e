//! The one integration test binary: kaohe used from the command line, as a user would.

mod harness;
mod fixture;
mod rules;
mod tamper;
mod golden;
mod props;
mod schemas;
