//! The platforms section: per platform and operation, calls, error rate, mean latency and the bucket
//! bound under which 95% of calls finished — from the telemetry connectors report into.

use std::fmt::Write;

use snodo_queue::runtime::metrics::{HistogramSnapshot, LATENCY_BUCKETS};

use super::super::OpsState;
use super::escape;

/// The smallest bucket bound holding `q` of the observations (`None` beyond the last bound).
pub fn quantile_bound(h: &HistogramSnapshot, q: f64) -> Option<f64> {
    let wanted = (h.count as f64 * q).ceil() as u64;
    LATENCY_BUCKETS
        .iter()
        .zip(&h.cumulative)
        .find(|(_, n)| **n >= wanted)
        .map(|(bound, _)| *bound)
}

pub fn render(html: &mut String, state: &OpsState) {
    html.push_str(
        "<section><h2>Platforms</h2><table id=\"platforms\"><thead><tr><th>platform</th><th>operation</th>\
         <th>calls</th><th>errors</th><th>mean</th><th>p95 ≤</th></tr></thead><tbody>",
    );
    for row in state.telemetry.platform_calls.snapshot() {
        let calls = row.latency.count;
        let errors = row.errors();
        let rate = if calls == 0 {
            0.0
        } else {
            100.0 * errors as f64 / calls as f64
        };
        let mean_ms = if calls == 0 {
            0.0
        } else {
            1000.0 * row.latency.sum_seconds / calls as f64
        };
        let p95 = quantile_bound(&row.latency, 0.95)
            .map(|s| format!("{} ms", (s * 1000.0).round()))
            .unwrap_or_else(|| "> 60 s".to_owned());
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{calls}</td><td class=\"n\">{errors} ({rate:.1}%)</td>\
             <td class=\"n\">{mean_ms:.1} ms</td><td class=\"n\">{p95}</td></tr>",
            escape(row.platform),
            escape(&row.operation)
        );
    }
    html.push_str("</tbody></table></section>");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use snodo_queue::runtime::metrics::Histogram;

    use super::quantile_bound;

    #[test]
    fn the_p95_bound_is_the_first_bucket_holding_95_percent() {
        let h = Histogram::default();
        for _ in 0..95 {
            h.observe(Duration::from_micros(800));
        }
        for _ in 0..5 {
            h.observe(Duration::from_secs(2));
        }
        let s = h.snapshot();
        assert_eq!(quantile_bound(&s, 0.95), Some(0.001));
        assert_eq!(quantile_bound(&s, 0.99), Some(2.5));
    }
}
