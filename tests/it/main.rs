//! The one integration test binary: kaohe used from the command line, as a user would.

mod appeals;
mod close;
mod crash;
mod damage;
mod disputes;
mod evidence;
mod explore;
mod fixture;
mod fuzzcases;
mod golden;
mod harness;
mod keys;
mod layers;
mod merkle;
mod proofs;
mod props;
mod reconcile;
mod regressions;
mod report;
mod restore;
mod rulebook;
mod rules;
mod schemas;
mod tally;
mod tamper;
mod time;
