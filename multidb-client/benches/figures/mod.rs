//! Machine-readable figures for `cargo xtask bench`: with `MULTIDB_BENCH_JSON=path` set,
//! every figure a bench prints is also appended to that file as one JSON object per line
//! (`bench`, `name`, `value`, `unit`, and for a ratio its two `sides`). Without the
//! variable nothing is written.

use std::fs::OpenOptions;
use std::io::Write as _;

/// Appends one figure; `value` `None` (or NaN) is written as `null`, e.g. a timed-out trial.
pub(crate) fn record(
    bench: &str,
    name: &str,
    value: Option<f64>,
    unit: &str,
    sides: &[(&str, f64)],
) {
    let Some(path) = std::env::var_os("MULTIDB_BENCH_JSON") else {
        return;
    };
    let mut figure =
        serde_json::json!({ "bench": bench, "name": name, "value": value, "unit": unit });
    if !sides.is_empty() {
        let sides: serde_json::Map<String, serde_json::Value> = sides
            .iter()
            .map(|&(side, v)| (side.to_owned(), serde_json::json!(v)))
            .collect();
        figure["sides"] = sides.into();
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("MULTIDB_BENCH_JSON={}: {e}", path.display()));
    writeln!(file, "{figure}")
        .unwrap_or_else(|e| panic!("MULTIDB_BENCH_JSON={}: {e}", path.display()));
}

/// The median of `v` (the midpoint of the two middle values for an even count; NaN when
/// empty).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}
