//! The console's own Prometheus metrics, served with the broker's at
//! `/metrics` (text format 0.0.4):
//!
//! - `takhin_console_requests_total{method,route,status}`: API requests
//!   answered, by route template (`/api/v1/clusters/{cluster}/topics`, never
//!   the concrete path, so the label set stays small) and status code;
//! - `takhin_console_request_duration_seconds{method,route}`: time to the
//!   response head (a streamed search counts until its stream starts).
//!
//! Requests that match no route count under `route="unmatched"`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Histogram buckets, seconds: from a cached metadata answer to a slow
/// cluster-wide listing.
const DURATION_BUCKETS_SECONDS: [f64; 10] =
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The console's metrics; one per process, shared by the router.
#[derive(Debug)]
pub struct ConsoleMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

fn new_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS_SECONDS)
}

impl Default for ConsoleMetrics {
    fn default() -> ConsoleMetrics {
        ConsoleMetrics::new()
    }
}

impl ConsoleMetrics {
    pub fn new() -> ConsoleMetrics {
        let mut registry = Registry::with_prefix("takhin_console");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(new_histogram);
        registry.register(
            "requests",
            "Console API requests answered",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a console API request to its response head",
            durations.clone(),
        );
        ConsoleMetrics {
            registry,
            requests,
            durations,
        }
    }

    /// Counts one answered request.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::warn!(%error, "encoding console metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_template_and_status() {
        let metrics = ConsoleMetrics::new();
        let route = "/api/v1/clusters/{cluster}/topics";
        metrics.record("GET", route, 200, Duration::from_millis(3));
        metrics.record("GET", route, 200, Duration::from_millis(30));
        metrics.record("POST", route, 409, Duration::from_millis(2));
        let text = metrics.render();
        assert!(
            text.contains(
                "takhin_console_requests_total{method=\"GET\",route=\"/api/v1/clusters/{cluster}/topics\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("status=\"409\"} 1"), "{text}");
        assert!(
            text.contains("takhin_console_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/clusters/{cluster}/topics\"} 2"),
            "{text}"
        );
    }
}
