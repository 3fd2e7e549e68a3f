"""`make load`: reading wrk's report and deriving the autoscaling target (wrk itself is not needed here)."""

from __future__ import annotations

from local.load import LoadResult, autoscaling_target, markdown, parse_wrk, wrk_lua

#: A real wrk 4.1 report (--latency), with socket errors added as wrk prints them.
WRK_REPORT = """Running 2s test @ http://127.0.0.1:18999/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.88ms    8.70ms  58.09ms   87.49%
    Req/Sec   423.70    150.57   669.00     60.00%
  Latency Distribution
     50%    3.74ms
     75%    8.81ms
     90%   18.06ms
     99%    1.21s
  859 requests in 2.04s, 465.57KB read
  Socket errors: connect 0, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec:    421.95
Transfer/sec:    228.69KB
"""


def test_wrk_report_is_read_with_latencies_in_milliseconds():
    assert parse_wrk("front door", WRK_REPORT) == LoadResult(
        target="front door",
        requests=859,
        requests_per_second=421.95,
        p50_ms=3.74,
        p90_ms=18.06,
        p99_ms=1210.0,
        non_2xx=12,
        socket_errors=4,
    )


def test_a_clean_run_has_no_errors():
    clean = WRK_REPORT.replace("  Socket errors: connect 0, read 3, write 0, timeout 1\n", "")
    clean = clean.replace("  Non-2xx or 3xx responses: 12\n", "")
    assert parse_wrk("x", clean).errors == 0


def test_target_is_per_minute_with_the_safety_factor():
    assert autoscaling_target(20.0, 0.5) == 600  # 20 req/s x 0.5 x 60
    assert autoscaling_target(0.001, 0.5) == 1


def test_markdown_derives_the_target_from_the_model_server_figure():
    results = [
        parse_wrk("model server /invocations", WRK_REPORT),
        parse_wrk("front door /classify", WRK_REPORT),
    ]
    table = markdown(results, connections=2, duration=2, texts=1, safety=0.5)
    assert "| model server /invocations | 859 | 421.9 | 3.7 | 18.1 | 1210.0 | 16 |" in table
    assert table.endswith("421.9 requests/s x 0.5 safety x 60 = 12658")


def test_lua_script_posts_the_body_as_json():
    script = wrk_lua('{"inputs": ["it\'s \\"quoted\\""]}')
    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["Content-Type"] = "application/json"' in script
    assert 'wrk.body = "{\\"inputs\\": [\\"it\'s \\\\\\"quoted\\\\\\"\\"]}"' in script
