//! The feeds library's one integration-test binary: each module one subject.

mod feedparser_parity;
mod fetch;
mod harvest;
mod parse_fuzz;
