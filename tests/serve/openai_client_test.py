"""`imp serve` end to end on a tiny random model: the official openai client (streaming and not, with an
image), the API key, each bad input answered 4xx in OpenAI's error JSON while the server keeps serving,
429 beyond --max-concurrent, a client disconnect (streaming or not) cancelling its generation, the per-request timeout,
/v1/models, /health, /metrics, the chat page, a second server refused on a port in use, and SIGTERM draining an in-flight stream and exiting 0.

    python openai_client_test.py IMP_BINARY MODEL_DIR IMAGE_DIR
"""
import base64
import http.client
import json
import os
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from serve_harness import Server, python_with  # noqa: E402

python_with("openai")
import openai  # noqa: E402

imp, model, image_dir = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
png = open(os.path.join(image_dir, "red.png"), "rb").read()
data_url = "data:image/png;base64," + base64.b64encode(png).decode()
KEY = "test-key-123"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def image_message(text, url=data_url):
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": text}]}]


def png_claiming(width, height):
    """A PNG whose header claims width x height (the data is one empty IDAT)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def open_stream(srv, max_tokens):
    """Starts a streaming request on a raw connection (this prompt makes the tiny model run to max_tokens)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    body = json.dumps({"messages": [{"role": "user", "content": "hello hello hello"}], "max_tokens": max_tokens,
                       "temperature": 0, "stream": True})
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json",
                                                         "Authorization": "Bearer " + KEY})
    resp = conn.getresponse()
    return conn, resp


def metric(srv, name):
    _, text = srv.request("GET", "/metrics", headers={"Authorization": "Bearer " + KEY})
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


with Server(imp, model, "--api-key", KEY, "--max-concurrent", "2", "--max-body-bytes", "1000000",
            "--allowed-image-dir", image_dir, "--max-batch", "4") as srv:
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key=KEY, max_retries=0)
    auth = {"Authorization": "Bearer " + KEY}

    # The openai client, not streaming and streaming, with an image: the same greedy answer.
    r = client.chat.completions.create(model="gen_phi2", messages=image_message("What colour is it?"),
                                       max_tokens=12, temperature=0)
    text = r.choices[0].message.content
    check(r.object == "chat.completion" and r.model == "gen_phi2", "completion object and model name")
    check(r.usage.completion_tokens >= 1 and r.usage.prompt_tokens > 10, f"usage {r.usage}")
    check(r.choices[0].finish_reason in ("stop", "length"), "finish_reason " + r.choices[0].finish_reason)
    pieces, finish, usage = [], None, None
    stream = client.chat.completions.create(model="gen_phi2", messages=image_message("What colour is it?"),
                                            max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    check("".join(pieces) == text, f"stream text == non-stream text ({''.join(pieces)!r} vs {text!r})")
    check(finish == r.choices[0].finish_reason, "stream finish_reason")
    check(usage is not None and usage.completion_tokens == r.usage.completion_tokens, "stream usage chunk")
    # A server-side file inside --allowed-image-dir.
    r2 = client.chat.completions.create(model="gen_phi2", max_tokens=12, temperature=0,
                                        messages=image_message("What colour is it?",
                                                               "file://" + os.path.join(image_dir, "red.png")))
    check(r2.choices[0].message.content == text, "file:// image under --allowed-image-dir")
    # Multi-turn with a system message.
    r3 = client.chat.completions.create(model="gen_phi2", max_tokens=5, temperature=0, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Again?"}])
    check(r3.usage.completion_tokens <= 5, "multi-turn conversation")
    models = client.models.list()
    check([m.id for m in models.data] == ["gen_phi2"], "/v1/models")

    # API key: missing or wrong -> 401; /health and the page stay open.
    bad_client = openai.OpenAI(base_url=srv.url + "/v1", api_key="wrong", max_retries=0)
    try:
        bad_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        check(False, "wrong API key refused")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, "wrong API key -> 401")
    check(srv.request("GET", "/v1/models")[0] == 401, "no API key -> 401")
    status, body = srv.request("GET", "/health")
    check(status == 200 and json.loads(body)["status"] == "ok", "/health without a key")
    status, body = srv.request("GET", "/")
    check(status == 200 and b"<title>imp chat</title>" in body and b"http" not in body.split(b"<script>")[0][200:],
          "chat page at / (no external resources)")

    # Each bad input: 4xx with OpenAI's error JSON, and the server keeps serving.
    user = [{"role": "user", "content": "hi"}]
    bad = {
        "malformed JSON": ("{\"messages\": [", 400),
        "wrong type": (json.dumps({"messages": user, "max_tokens": "ten"}), 400),
        "unknown role": (json.dumps({"messages": [{"role": "robot", "content": "x"}]}), 400),
        "corrupt image": (json.dumps({"messages": image_message("q", "data:image/png;base64,"
                                                                + base64.b64encode(b"not a png").decode())}), 400),
        "bad base64": (json.dumps({"messages": image_message("q", "data:image/png;base64,@@@@")}), 400),
        "huge image (pixels)": (json.dumps({"messages": image_message(
            "q", "data:image/png;base64," + base64.b64encode(png_claiming(100000, 100000)).decode())}), 400),
        "body over --max-body-bytes": (json.dumps({"messages": user, "pad": "x" * 1_200_000}), 413),
        "unsupported n": (json.dumps({"messages": user, "n": 3}), 400),
        "unsupported temperature": (json.dumps({"messages": user, "temperature": 5}), 400),
        "max_tokens over the cap": (json.dumps({"messages": user, "max_tokens": 100000}), 400),
        "prompt + max_tokens over the context": (json.dumps({"messages": user, "max_tokens": 510}), 400),
        "prompt longer than the context": (json.dumps({"messages": [{"role": "user", "content": "word " * 2000}]}),
                                           400),
        "file outside --allowed-image-dir": (json.dumps({"messages": image_message("q", "file:///etc/passwd")}), 403),
        "remote image URL": (json.dumps({"messages": image_message("q", "http://example.com/a.png")}), 400),
    }
    for what, (body, want) in bad.items():
        status, resp = srv.request("POST", "/v1/chat/completions", body, auth)
        try:
            err = json.loads(resp)["error"]
            shaped = isinstance(err["message"], str) and err["message"] and "type" in err and "code" in err
        except (ValueError, KeyError, TypeError):
            shaped = False
        check(status == want and shaped, f"{what} -> {status} (want {want}) {resp[:160]!r}")
    check(srv.request("GET", "/nope", headers=auth)[0] == 404, "unknown route -> 404")
    r4 = client.chat.completions.create(model="gen_phi2", messages=image_message("What colour is it?"),
                                        max_tokens=12, temperature=0)
    check(r4.choices[0].message.content == text, "still serving after the bad inputs")

    # --max-concurrent 2: two open streams, the third request gets 429; closing the streams cancels them.
    held = [open_stream(srv, 440) for _ in range(2)]
    for conn, resp in held:
        check(resp.status == 200 and resp.readline().startswith(b"data: "), "held stream started")
    status, body = srv.request("POST", "/v1/chat/completions", json.dumps({"messages": user, "max_tokens": 2}), auth)
    check(status == 429 and json.loads(body)["error"]["code"] == "rate_limit_exceeded", f"third request -> {status}")
    for conn, resp in held:
        conn.sock.close()
        conn.close()
    deadline = time.time() + 20
    while time.time() < deadline and (metric(srv, "imp_requests_in_flight") != 0 or metric(srv, "imp_batch_rows") != 0):
        time.sleep(0.05)
    check(metric(srv, "imp_requests_in_flight") == 0 and metric(srv, "imp_batch_rows") == 0,
          "disconnected streams leave the batch")
    # 499 (client closed request) is recorded only when a stream is cut before its end: the generation was
    # cancelled mid-way, not finished.
    check(metric(srv, 'imp_requests_total{status="499"}') == 2, "both disconnects cancelled their generation")
    # A non-streaming request whose client goes away is cancelled too: its generation stops long before
    # max_tokens (the server finds the connection's socket and sees it closed).
    tokens_before = metric(srv, "imp_completion_tokens_total")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    conn.request("POST", "/v1/chat/completions",
                 json.dumps({"messages": [{"role": "user", "content": "hello hello hello"}], "max_tokens": 440,
                             "temperature": 0}), {"Content-Type": "application/json", **auth})
    deadline = time.time() + 20
    while time.time() < deadline and metric(srv, "imp_batch_rows") != 1:
        time.sleep(0.01)
    check(metric(srv, "imp_batch_rows") == 1, "non-streaming request running")
    conn.sock.close()
    conn.close()
    closed_at = time.time()
    # The handler answers 499 as soon as it sees the socket closed; the engine drops the row at its next step,
    # so both gauges are awaited (checking the batch right after in-flight reached 0 raced the engine).
    while time.time() < closed_at + 20 and (metric(srv, "imp_requests_in_flight") != 0
                                            or metric(srv, "imp_batch_rows") != 0):
        time.sleep(0.01)
    gone_after = time.time() - closed_at
    generated = metric(srv, "imp_completion_tokens_total") - tokens_before
    check(metric(srv, 'imp_requests_total{status="499"}') == 3 and metric(srv, "imp_batch_rows") == 0
          and generated < 440, f"non-streaming disconnect cancelled after {gone_after:.2f} s, {generated:.0f} of 440 "
          "tokens generated")
    _, text_metrics = srv.request("GET", "/metrics", headers=auth)
    for name in ("imp_requests_total{status=\"200\"}", "imp_requests_total{status=\"429\"}",
                 "imp_requests_total{status=\"400\"}", "imp_queue_depth", "imp_generation_tokens_per_second",
                 "imp_request_duration_seconds_bucket{le=\"+Inf\"}"):
        check(name in text_metrics.decode(), "/metrics has " + name)

    # SIGTERM while a stream runs: the stream finishes with [DONE], the process exits 0.
    conn, resp = open_stream(srv, 200)
    first = resp.readline()
    code_holder = {}
    import threading
    t = threading.Thread(target=lambda: code_holder.update(code=srv.stop()))
    t.start()
    rest = resp.read()
    t.join()
    check(first.startswith(b"data: ") and rest.rstrip().endswith(b"data: [DONE]"), "in-flight stream drained")
    check(code_holder.get("code") == 0, f"exit code after SIGTERM: {code_holder.get('code')}")

# The per-request timeout: a long generation is cut with 504.
with Server(imp, model, "--request-timeout", "0.05") as srv:
    status, body = srv.request("POST", "/v1/chat/completions",
                               json.dumps({"messages": [{"role": "user", "content": "hello hello hello"}],
                                           "max_tokens": 440, "temperature": 0}))
    check(status == 504 and json.loads(body)["error"]["code"] == "timeout", f"timeout -> {status}")
    check(srv.request("GET", "/health")[0] == 200, "still serving after a timeout")
    # A second server on a port in use is refused, not let to share it (SO_REUSEPORT).
    try:
        second = subprocess.run([imp, "serve", "--model", model, "--port", str(srv.port)], capture_output=True,
                                text=True, timeout=60)
        check(second.returncode != 0 and "cannot listen on" in second.stderr,
              f"second server on port {srv.port}: exit {second.returncode}, {second.stderr[-300:]!r}")
    except subprocess.TimeoutExpired:
        check(False, f"a second server on port {srv.port} was let to listen (still running after 60 s)")
    check(srv.request("GET", "/health")[0] == 200, "the first server still serving")
    check(srv.stop() == 0, "exit 0")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
