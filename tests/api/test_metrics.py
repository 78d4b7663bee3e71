"""GET /metrics (issue 16, CONTRACT §8): Prometheus text that Prometheus'
own checker (`promtool check metrics`, installed by scripts/bootstrap) and
its reference parser (python3-prometheus-client) accept, aggregated over
every worker, and values read back after known traffic. nginx lets only local addresses reach it
(test_nginx_front checks the refusal)."""
import shutil
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from evutil import event, new_key, new_tenant


def scrape(base_url):
    r = requests.get(base_url + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    types = {}
    for fam in text_string_to_metric_families(r.text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_promtool_check_metrics(base_url):
    """promtool lints the exposition (names, types, HELP, histogram series):
    no problem reported."""
    tool = shutil.which("promtool") or "/usr/local/bin/promtool"
    r = requests.get(base_url + "/metrics", timeout=10)
    assert r.status_code == 200
    out = subprocess.run([tool, "check", "metrics"], input=r.text, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), \
        out.stdout + out.stderr


def test_metrics_parse_and_name_every_kind(base_url):
    samples, types = scrape(base_url)
    assert types["dbaudit_http_requests"] == "counter"
    assert types["dbaudit_http_request_duration_seconds"] == "histogram"
    for name in ("dbaudit_events_ingested", "dbaudit_ratelimit_rejections",
                 "dbaudit_store_errors", "dbaudit_collector_heartbeats",
                 "dbaudit_webhook_deliveries"):
        assert types[name] == "counter", name
    assert types["dbaudit_stream_subscribers"] == "gauge"
    assert types["dbaudit_store_operation_duration_seconds"] == "histogram"


@pytest.mark.app
@pytest.mark.usefixtures("http_layer_test")
def test_metrics_count_known_traffic_over_all_workers(base_url, admin_bin):
    before, _ = scrape(base_url)
    tenant = new_tenant()
    key = new_key(admin_bin, tenant, scopes="all", plan="free")
    # 40 requests over separate connections: nginx spreads them over workers.
    for _ in range(40):
        assert requests.get(base_url + "/v1/databases", headers={"X-Api-Key": key},
                            timeout=10).status_code == 200
    for _ in range(3):
        assert requests.get(base_url + "/v1/nope", timeout=10).status_code == 404
    r = requests.post(base_url + "/v1/events", headers={"X-Api-Key": key}, timeout=10,
                      json={"events": [event(), event(), event(external_id="m-dup")]})
    assert r.status_code == 201
    r = requests.post(base_url + "/v1/events", headers={"X-Api-Key": key}, timeout=10,
                      json=event(external_id="m-dup"))
    assert r.status_code == 201 and r.json()["duplicates"] == 1
    kaudit = new_key(admin_bin, tenant, scopes="read:audit-activity", plan="free")
    codes = [requests.get(base_url + "/api/v1/public/audit-activity/summary",
                          headers={"X-Api-Key": kaudit}, timeout=10).status_code for _ in range(62)]
    refused = codes.count(429)
    assert refused >= 1
    time.sleep(0.2)
    after, _ = scrape(base_url)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("dbaudit_http_requests_total", method="GET", route="/v1/databases", status="200") == 40
    assert delta("dbaudit_http_requests_total", method="", route="none", status="404") == 3
    assert delta("dbaudit_http_request_duration_seconds_count", method="GET", route="/v1/databases") == 40
    assert delta("dbaudit_http_request_duration_seconds_bucket", method="GET", route="/v1/databases",
                 le="+Inf") == 40
    assert delta("dbaudit_events_ingested_total") == 3
    assert delta("dbaudit_events_duplicate_total") == 1
    assert delta("dbaudit_ratelimit_rejections_total") == refused
    assert delta("dbaudit_http_requests_total", method="GET",
                 route="/api/v1/public/audit-activity/summary", status="429") == refused
