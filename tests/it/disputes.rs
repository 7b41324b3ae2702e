//! Disputes under property tests and tampering: the tally, aggregates and explain agree with a
//! replay in every view, and verify catches forged appeals, decisions and reversals.
