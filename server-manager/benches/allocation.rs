//! Allocation benchmark (written next).

fn main() {}
