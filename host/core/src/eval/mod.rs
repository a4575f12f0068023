//! Evaluations (issue 25): comparing two runs ([`compare`]) and handing
//! predictions to the official SWE-bench harness ([`swebench`]).
//! (Helper B's minimal module file; the lead merges it with helper A's.)

pub mod compare;
pub mod swebench;
