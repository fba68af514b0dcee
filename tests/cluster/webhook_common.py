"""webhook_common.py - what webhook_crash.py and webhook_three_daemons.py
share: a receiver on a loopback port that checks every signature as
docs/webhooks.md says, a daemon started and killed, an HTTP client that
sends each command again with its Idempotency-Key until a daemon answers
it, and the order flows that make events.
"""
import hashlib
import hmac
import http.client
import http.server
import json
import queue
import random
import re
import signal
import subprocess
import threading
import time
import uuid

TOLERANCE_SECONDS = 300  # docs/webhooks.md: a receiver's window
ANSWER_WAIT_S = 60  # a command unanswered this long fails the test


def verify_signature(secret, header, body, now=None):
    """docs/webhooks.md's verify_signature: raise ValueError unless header
    signs body under secret."""
    timestamp = None
    signatures = []
    for entry in header.split(","):
        key, equals, value = entry.strip().partition("=")
        if not equals:
            raise ValueError("malformed Escrowd-Signature header")
        if key == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                raise ValueError("malformed Escrowd-Signature header")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value.encode())
    if timestamp is None or not signatures:
        raise ValueError("malformed Escrowd-Signature header")
    if now is None:
        now = int(time.time())
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise ValueError("the signature's timestamp is too far from now")
    message = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise ValueError("no signature matches")


class Receiver:
    """A webhook receiver on 127.0.0.1: checks each delivery's signature
    with the endpoint's secret (set .secret once the endpoint exists),
    keeps every body received by event id, and answers 200, now and then
    after a pause (slow_share of the deliveries wait up to slow_max_s)."""

    def __init__(self, slow_share=0.2, slow_max_s=1.5, seed=1):
        self.secret = None
        self.lock = threading.Lock()
        self.bodies = {}  # event id -> [raw body of each delivery]
        self.errors = []
        self.inflight = 0
        self.total = 0
        self.broken = 0
        self.slow_share = slow_share
        self.slow_max_s = slow_max_s
        self.rng = random.Random(seed)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.serve(self)

        class Server(http.server.ThreadingHTTPServer):
            # A daemon started again sends its backlog at once: a short
            # listen queue would drop connections it thinks are open.
            request_queue_size = 512
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a connection a killed daemon broke: not the test's failure

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hooks" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def error(self, text):
        with self.lock:
            self.errors.append(text)

    def serve(self, h):
        with self.lock:
            self.inflight += 1
            self.total += 1
            pause = self.rng.uniform(0.2, self.slow_max_s) \
                if self.rng.random() < self.slow_share else 0
        try:
            length = int(h.headers.get("Content-Length", "0"))
            body = h.rfile.read(length)
            status = 200
            try:
                verify_signature(self.secret or "", h.headers.get("Escrowd-Signature", ""),
                                 body)
                event = json.loads(body)
                if h.headers.get("Escrowd-Event-Id") != event.get("id"):
                    raise ValueError("Escrowd-Event-Id %r is not the body's id %r" %
                                     (h.headers.get("Escrowd-Event-Id"), event.get("id")))
                if h.headers.get("Content-Type", "").split(";")[0] != "application/json":
                    raise ValueError("Content-Type %r" % h.headers.get("Content-Type"))
            except ValueError as e:
                self.error("delivery refused: %s: %r" % (e, body[:200]))
                status = 400
                event = None
            if pause:
                time.sleep(pause)
            if event is not None:
                with self.lock:
                    self.bodies.setdefault(event["id"], []).append(body)
            answer = b'{"received":true}'
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(answer)))
            h.end_headers()
            h.wfile.write(answer)
        except OSError:
            with self.lock:
                self.broken += 1  # a daemon killed while it waited for the answer
        finally:
            with self.lock:
                self.inflight -= 1

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def check(self, event_ids):
        """Every event of event_ids received at least once, every
        duplicate the same bytes, nothing received that is not an event:
        (received, duplicates), or an AssertionError."""
        with self.lock:
            bodies = {k: list(v) for k, v in self.bodies.items()}
            errors = list(self.errors)
        assert not errors, errors[:5]
        missing = sorted(set(event_ids) - set(bodies))
        assert not missing, "%d events never delivered, e.g. %s" % (len(missing), missing[:5])
        unknown = sorted(set(bodies) - set(event_ids))
        assert not unknown, "deliveries of no event: %s" % unknown[:5]
        duplicates = 0
        for event_id, seen in bodies.items():
            for body in seen[1:]:
                assert body == seen[0], (event_id, seen[0][:200], body[:200])
            assert json.loads(seen[0])["id"] == event_id, (event_id, seen[0][:200])
            duplicates += len(seen) - 1
        return len(bodies), duplicates


class Daemon:
    """One `escrowd serve`, started again after a kill on the same store."""

    def __init__(self, exe, db, config, key, name="daemon"):
        self.exe, self.db, self.config, self.key, self.name = exe, db, config, key, name
        self.proc = None
        self.port = 0
        self.lines = []
        self.dead = True

    def start(self):
        for port in ([self.port] if self.port else []) + [0]:
            self.proc = subprocess.Popen(
                [self.exe, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % port,
                 "--operator-key", self.key, "--config", self.config, "--quiet"],
                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
            lines = queue.Queue()

            def drain(proc):
                for line in proc.stderr:
                    self.lines.append(line.rstrip("\n"))
                    lines.put(line)
                lines.put(None)
            threading.Thread(target=drain, args=(self.proc,), daemon=True).start()
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    line = lines.get(timeout=1)
                except queue.Empty:
                    continue
                if line is None:
                    break
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    self.dead = False
                    return
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        raise RuntimeError("%s did not start:\n%s" % (self.name, "\n".join(self.lines[-20:])))

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.dead = True

    def stop(self):
        """SIGTERM; its exit status (None when it had to be killed)."""
        if self.proc is None or self.dead:
            return 0
        self.dead = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


def once(port, method, path, token=None, body=None, key=None, timeout=20):
    """(status, json) or (None, None) when no daemon answers there."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    if key:
        headers["Idempotency-Key"] = key
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None
    except (OSError, http.client.HTTPException, ValueError):
        return None, None
    finally:
        conn.close()


class Load:
    """Commands sent to the live daemons (ports() lists them), each with its
    own Idempotency-Key, again and again with that key until one answers:
    a command a killed daemon committed but did not answer is answered by
    the next from the kept record."""

    def __init__(self, ports, tokens, ids):
        self.ports = ports
        self.tokens = tokens  # "operator", "buyerN", "sellerN" -> token
        self.ids = ids
        self.lock = threading.Lock()
        self.errors = []
        self.acked = 0
        self.orders = 0
        self.retries = 0

    def error(self, text):
        with self.lock:
            self.errors.append(text)

    def send(self, n, path, who, doc, method="POST"):
        key = uuid.uuid4().hex if method == "POST" else None
        give_up = time.time() + ANSWER_WAIT_S
        attempt = 0
        while True:
            ports = self.ports()
            if ports:
                port = ports[(n + attempt) % len(ports)]
                status, j = once(port, method, path, self.tokens[who], doc, key)
                running = status == 409 and "still running" in json.dumps(j)
                if status is not None and status not in (429, 503) and not running:
                    break
            attempt += 1
            if time.time() > give_up:
                self.error("%s %s: not answered in %d s" % (method, path, ANSWER_WAIT_S))
                return None, None
            with self.lock:
                self.retries += 1
            time.sleep(random.uniform(0.02, 0.15))
        if status >= 500:
            self.error("%s %s: %d %s" % (method, path, status, j))
        elif 200 <= status < 300 and method == "POST":
            with self.lock:
                self.acked += 1
        return status, j


PLANS = ["unpaid_cancel", "accept", "reject", "withdraw", "confirm", "shipped"]


def flow(load, rng, n, k):
    """One order of buyer n and seller n through a plan: 2 to 5 events."""
    buyer, seller = "buyer%d" % n, "seller%d" % n
    plan = rng.choice(PLANS)
    status, o = load.send(n, "/v1/orders", "operator", {
        "buyer_id": load.ids[buyer], "seller_id": load.ids[seller], "currency": "EUR",
        "items": [{"title": "Item %d-%d" % (n, k), "quantity": 1, "unit_price": 2500}]})
    if status != 201:
        if status is not None:
            load.error("create: %s %s" % (status, o))
        return
    with load.lock:
        load.orders += 1
    oid = o["id"]
    steps = {
        "unpaid_cancel": [(buyer, "cancel", {"reason": "no_longer_needed"})],
        "accept": [("operator", "pay", {"amount": 2500, "payment_method": "card"}),
                   (buyer, "cancel", {"reason": "no_longer_needed"}),
                   (seller, "cancellation/accept", {})],
        "reject": [("operator", "pay", {"amount": 2500, "payment_method": "card"}),
                   (buyer, "cancel", {"reason": "no_longer_needed"}),
                   (seller, "cancellation/reject", {"message": "Packed already"})],
        "withdraw": [("operator", "pay", {"amount": 2500, "payment_method": "wallet"}),
                     (buyer, "cancel", {"reason": "no_longer_needed"}),
                     (buyer, "cancellation/withdraw", {})],
        "confirm": [("operator", "pay", {"amount": 2500, "payment_method": "card"}),
                    (seller, "ship", {"carrier": "Posturinn", "tracking_number": "RR%dIS" % k}),
                    ("operator", "deliver", {}),
                    (buyer, "confirm-receipt", {})],
        "shipped": [("operator", "pay", {"amount": 2500, "payment_method": "wallet"}),
                    (seller, "ship", {"carrier": "Posturinn", "tracking_number": "RR%dIS" % k})],
    }[plan]
    for who, what, doc in steps:
        status, j = load.send(n, "/v1/orders/%s/%s" % (oid, what), who, doc)
        if status is None or status >= 300:
            if status is not None:
                load.error("%s %s: %s %s" % (plan, what, status, j))
            return


def users(port, key, password, clients):
    """A buyer and a seller for each client: (tokens, ids)."""
    tokens, ids = {"operator": key}, {}
    for n in range(clients):
        for role in ("buyer", "seller"):
            name = "%s%d" % (role, n)
            email = "%s@webhooks.test" % name
            status, j = once(port, "POST", "/v1/users", key, {
                "role": role, "name": name, "email": email, "password": password})
            assert status == 201, (status, j)
            ids[name] = j["id"]
            status, j = once(port, "POST", "/v1/sessions", None,
                             {"email": email, "password": password})
            assert status == 201, (status, j)
            tokens[name] = j["token"]
    return tokens, ids


def endpoint(port, key, receiver):
    """Register receiver for every event; its secret goes to receiver."""
    status, j = once(port, "POST", "/v1/webhook-endpoints", key,
                     {"url": receiver.url, "events": ["*"], "description": "cluster test"})
    assert status == 201, (status, j)
    receiver.secret = j["secret"]
    return j["id"]


def list_all(port, key, path):
    """Every item of a cursor list (path with its filters, no limit)."""
    items, after = [], None
    sep = "&" if "?" in path else "?"
    while True:
        p = path + sep + "limit=100" + ("&starting_after=" + after if after else "")
        status, j = once(port, "GET", p, key)
        assert status == 200, (p, status, j)
        items += j["data"]
        if not j["has_more"]:
            return items
        after = j["data"][-1]["id"]


def wait_delivered(port, key, timeout_s):
    """Poll the pending deliveries until there are none; seconds waited."""
    started = time.time()
    while True:
        status, j = once(port, "GET", "/v1/webhook-deliveries?status=pending&limit=100", key)
        assert status == 200, (status, j)
        if not j["data"]:
            return time.time() - started
        if time.time() - started > timeout_s:
            raise AssertionError("%d+ deliveries still pending after %d s, e.g. %s" %
                                 (len(j["data"]), timeout_s, json.dumps(j["data"][0])))
        time.sleep(0.3)


def event_ids(port, key):
    """The ids of every event, from GET /v1/events."""
    return [e["id"] for e in list_all(port, key, "/v1/events")], "/v1/events"
