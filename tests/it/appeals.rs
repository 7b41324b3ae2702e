//! Appeals, decisions and reversals from the command line and in import files (issue 4).
