//! HTTP throughput benchmark (written in a following step).

fn main() {}
