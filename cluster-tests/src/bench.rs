//! What the cluster benchmarks share: the services' release binaries built before a run,
//! settings from the environment, percentiles, and zones' Prometheus counters summed.

/// The services' release binaries, rebuilt if stale (cargo builds only this crate's
/// targets for a bench, and the cluster runs the binaries beside it).
pub fn build_release_binaries() -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--release", "--locked"]);
    for package in [
        "character-api",
        "quest-api",
        "server-manager",
        "zone-server",
    ] {
        build.args(["-p", package]);
    }
    anyhow::ensure!(build.status()?.success(), "building the services failed");
    Ok(())
}

/// `$name` as a number, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0 to 1) of sorted samples; NaN when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The sum, over the zone-servers at `urls`, of every sample of the metrics whose line
/// starts with `prefix` (a name, or a name and the start of its labels).
pub async fn sum_metric(http: &reqwest::Client, urls: &[String], prefix: &str) -> f64 {
    let mut total = 0.0;
    for url in urls {
        let Ok(response) = http.get(format!("{url}/metrics")).send().await else {
            continue;
        };
        let text = response.text().await.unwrap_or_default();
        total += text
            .lines()
            .filter(|line| line.starts_with(prefix))
            .filter_map(|line| line.rsplit_once(' '))
            .filter_map(|(_, value)| value.parse::<f64>().ok())
            .sum::<f64>();
    }
    total
}
