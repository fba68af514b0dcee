#!/usr/bin/env python3
"""crash_loop.py - SIGKILL loop under load, with real-clock deadlines firing.

One `escrowd serve` on a SQLite file in a temporary directory, on the real
clock, with short windows (payment 1.5 s, seller response 2.5 s, shipping
4 s, receipt 2 s, dispute answers 2 s, refund alert 3 s) so that deadlines
come due all the time the loop runs. Client threads run the order flows
(unpaid; cancelled unpaid; cancellation asked and left to the deadline,
accepted, rejected, withdrawn; shipped, delivered and confirmed or left;
disputes left to the seller's or the buyer's deadline; messages; refunds
settled or failed by the operator, or left to their alert), each POST with
its own Idempotency-Key, retried with the same key until it is answered.
A killer SIGKILLs the daemon at random moments 0.3-1.5 s apart: a
quarter of the time as soon as the store shows deadlines claimed (the
worker is firing them), now and then while it starts, and now and then
after leaving it down 1-3 s, as it fires what came due meanwhile. It
starts it again on the same file and port (another if that one is
taken). Then, once every deadline is due:

  - every kept answer (2xx, and the refusals a key keeps), sent again with
    its key, is answered byte for byte the same, status and body;
  - every command a client was answered for is in its order's history
    once, and the history holds no command no client was answered for;
  - every deadline fired exactly once: one system event per deadline (its
    kind and due_at), never before it was due nor long after (a killed
    daemon's claims must not wait for their lease), none left due in the
    store, no order left in a state whose short deadline has passed;
  - no refund twice: an order's refunds sum to what it says it refunded,
    never more than paid, one refund for each cancellation after payment;
  - `escrowd check` and `PRAGMA integrity_check` after the daemon stops;
    the webhook outbox holds each event of the histories once (nothing
    delivers from it yet: once webhooks land, this loop should cover
    their deliveries too);
  - the daemon printed nothing but its start and stop lines.

It ends with one line starting "crash_loop:" with the figures (for
docs/reliability.md). CRASH_LOOP_KILLS (default 30) and
CRASH_LOOP_CLIENTS (default 6) make longer runs by hand, e.g.
  CRASH_LOOP_KILLS=100 ESC_BUILD_DIR=build python3 tests/cluster/crash_loop.py
Exits 0 when it holds, 1 when it does not, 77 (skipped) when the daemon
is not built.
"""
import collections
import datetime
import http.client
import json
import os
import queue
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

KEY = "crash-loop-operator-key-0001"
PASSWORD = "crash-loop-password"
# Fewer under ESC_TEST_QUICK (make test's sanitizer build).
KILLS = int(os.environ.get("CRASH_LOOP_KILLS", "10" if os.environ.get("ESC_TEST_QUICK") else "30"))
CLIENTS = int(os.environ.get("CRASH_LOOP_CLIENTS", "6"))
# The windows of the policy, in the config file and in seconds.
WINDOWS = {"payment_window": 1.5, "response_window": 2.5, "ship_window": 4,
           "confirm_window": 2, "dispute_seller_window": 2, "dispute_buyer_window": 2,
           "refund_alert": 3}
# A deadline fires within this much of the daemon's time up after it was
# due (it looks once a second); a killed daemon's claims must not wait for
# their lease (15 s by default) when it starts again.
LATE_MAX_S = 6
ANSWER_WAIT_S = 60  # a request unanswered this long, retried, fails the test
# States whose deadline is one of the short windows above: none may be
# left once they have all passed. (shipped waits for the protection
# deadline, weeks away.)
SHORT_STATES = {"awaiting_payment", "awaiting_shipment", "cancellation_requested",
                "delivered", "in_dispute"}
SYSTEM_EVENTS = {"payment_deadline", "ship_deadline", "response_deadline",
                 "protection_deadline", "confirm_deadline", "dispute_deadline",
                 "refund_overdue"}


def log(*args):
    print("crash_loop:", *args, flush=True)


def ms_of(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


class Daemon:
    """The one daemon, started again after each kill on the same file and,
    when it can bind it, the same port; clients read .port each request."""

    def __init__(self, exe, db, config):
        self.exe, self.db, self.config = exe, db, config
        self.proc = None
        self.port = 0
        self.lines = []  # everything any incarnation printed
        self.starts = 0
        self.port_changes = 0
        self.kill_times = []
        self.died = []  # (incarnation, exit status) of each that ended by itself
        self.bind_failed = set()  # incarnations that could not bind the old port
        self.up = []  # [listening since, killed at or None]: when it could fire deadlines

    def spawn(self, port):
        self.proc = subprocess.Popen(
            [self.exe, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % port,
             "--operator-key", KEY, "--config", self.config, "--quiet"],
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.starts += 1
        lines = queue.Queue()

        def drain(proc, n):
            for line in proc.stderr:
                self.lines.append((n, line.rstrip("\n")))
                lines.put(line)
            lines.put(None)
        threading.Thread(target=drain, args=(self.proc, self.starts), daemon=True).start()
        return lines

    def start(self):
        """Start and wait until it listens; the previous port first."""
        for port in ([self.port] if self.port else []) + [0]:
            lines = self.spawn(port)
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
                    if self.port and int(m.group(1)) != self.port:
                        self.port_changes += 1
                    self.port = int(m.group(1))
                    self.up.append([time.time(), None])
                    return
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            else:
                self.ended(port)
        raise RuntimeError("the daemon did not start:\n" +
                           "\n".join(l for _, l in self.lines[-20:]))

    def up_between(self, a, b):
        """How long it listened between times a and b."""
        return sum(max(0.0, min(b, e or b) - max(a, s)) for s, e in self.up)

    def ended(self, port):
        """It ended by itself: it could not bind the old port (taken
        meanwhile), or it crashed or stopped."""
        time.sleep(0.1)  # its last words
        said = [l for n, l in self.lines if n == self.starts]
        if port and any("cannot listen on 127.0.0.1:%d" % port in l for l in said):
            self.bind_failed.add(self.starts)
        else:
            self.died.append((self.starts, self.proc.returncode))

    def kill(self):
        if self.proc.poll() is not None:
            self.ended(self.port)
        self.kill_times.append(time.time())
        if self.up and self.up[-1][1] is None:
            self.up[-1][1] = self.kill_times[-1]
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode if self.proc else 0


class Client:
    """One HTTP connection kept alive, opened again after each failure."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.conn = None
        self.port = None

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None

    def once(self, method, path, token, body, key=None, timeout=10):
        """(status, body bytes), or None when the daemon does not answer."""
        port = self.daemon.port
        if self.conn is None or port != self.port:
            self.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            self.port = port
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return r.status, data
        except (OSError, http.client.HTTPException):
            self.close()
            return None


def still_running(status, data):
    return status == 409 and b"still running" in data


class Load:
    def __init__(self, daemon, tokens, ids):
        self.daemon = daemon
        self.tokens = tokens  # "operator", "buyerN", "sellerN" -> token
        self.ids = ids
        self.lock = threading.Lock()
        self.kept = []  # (method, path, token, body, key, status, data): answers to replay
        self.acked_orders = {}  # (order_id, version) -> event of a 2xx order answer
        self.acked_refunds = {}  # refund_id -> event of a 2xx refund answer
        self.orders = {}  # order_id -> plan
        self.messages = {}  # order_id -> seqs of the 2xx answers to its messages
        self.errors = []
        self.attempts = {}  # key -> [(sent, answered, port, status or None)]: for a failure's story
        self.retries = 0
        self.unavailable = 0  # 503 answers (retried)
        self.stop = threading.Event()

    def error(self, text):
        with self.lock:
            self.errors.append(text)

    def send(self, client, method, path, who, doc, event=None):
        """POST once with one key, again and again with that key until
        answered: (status, json or None). A 2xx order answer records
        (order, version) as acknowledged for event."""
        body = json.dumps(doc, separators=(",", ":")).encode()
        key = uuid.uuid4().hex
        token = self.tokens[who]
        give_up = time.time() + ANSWER_WAIT_S
        while True:
            sent = time.time()
            got = client.once(method, path, token, body, key)
            self.attempts.setdefault(key, []).append(
                (sent, time.time(), client.port, got and got[0]))
            if got is not None:
                status, data = got
                if status == 503:
                    with self.lock:
                        self.unavailable += 1
                elif not still_running(status, data) and status != 429:
                    break
            if time.time() > give_up:
                self.error("%s %s: not answered in %d s (key %s)" % (method, path,
                                                                    ANSWER_WAIT_S, key))
                return None, None
            with self.lock:
                self.retries += 1
            time.sleep(random.uniform(0.02, 0.15))
        try:
            j = json.loads(data)
        except ValueError:
            self.error("%s %s: %d, not JSON: %r" % (method, path, status, data[:200]))
            return status, None
        if status >= 500:  # a failure, not kept: no answer to replay
            self.error("%s %s: %d %s" % (method, path, status, data[:300]))
            return status, j
        with self.lock:
            self.kept.append((method, path, token, body, key, status, data))
            if 200 <= status < 300 and event:
                if event.startswith("refund_"):
                    self.acked_refunds.setdefault(j["id"], []).append(event)
                elif "order_version" in j:  # a dispute's answer
                    self.acked_orders.setdefault((j["order_id"], j["order_version"]),
                                                 []).append(event)
                else:
                    self.acked_orders.setdefault((j["id"], j["version"]), []).append(event)
        return status, j

    def get(self, client, path, who="operator"):
        give_up = time.time() + ANSWER_WAIT_S
        while True:
            got = client.once("GET", path, self.tokens[who], None)
            if got is not None and got[0] < 500:
                return got[0], json.loads(got[1])
            if time.time() > give_up:
                self.error("GET %s: not answered" % path)
                return None, None
            time.sleep(random.uniform(0.02, 0.15))


PLANS = ["unpaid", "cancel_unpaid", "silent", "accept", "accept_balance", "reject",
         "withdraw", "confirm", "deliver_silent", "dispute_silent", "dispute_counter",
         "dispute_reject"]


def flow(load, client, rng, n, k):
    """One order through one plan; each step ends the flow unless 2xx."""
    buyer, seller = "buyer%d" % n, "seller%d" % n
    plan = rng.choice(PLANS)
    price = rng.randrange(100, 100000)
    status, o = load.send(client, "POST", "/v1/orders", "operator", {
        "buyer_id": load.ids[buyer], "seller_id": load.ids[seller], "currency": "EUR",
        "items": [{"title": "Item %d-%d" % (n, k), "quantity": 1, "unit_price": price}]},
        "create")
    if status != 201:
        if status is not None:
            load.error("create: %s %s" % (status, o))
        return
    oid = o["id"]
    with load.lock:
        load.orders[oid] = plan
    base = "/v1/orders/" + oid

    def step(path, who, doc, event):
        status, j = load.send(client, "POST", base + path, who, doc, event)
        return status is not None and 200 <= status < 300, j

    if rng.random() < 0.2:
        # Not a command: kept with its key in the write's own transaction.
        with load.lock:
            load.messages.setdefault(oid, [])
        ok, j = step("/messages", rng.choice((buyer, seller)),
                     {"body": "About order %d-%d" % (n, k)}, None)
        if ok:
            with load.lock:
                load.messages[oid].append(j["seq"])
    if plan == "unpaid":
        return
    if plan == "cancel_unpaid":
        step("/cancel", buyer, {"reason": "no_longer_needed"}, "cancel")
        return
    ok, j = step("/pay", "operator",
                 {"amount": price, "payment_method": rng.choice(("card", "wallet", "balance"))},
                 "pay")
    if not ok:
        return
    if plan in ("silent", "accept", "accept_balance", "reject", "withdraw"):
        doc = {"reason": rng.choice(("no_longer_needed", "better_price", "out_of_stock"))}
        if plan == "accept_balance":
            doc["refund_to"] = "balance"
        ok, j = step("/cancel", buyer, doc, "cancel")
        if not ok or plan == "silent":
            return
        if plan in ("accept", "accept_balance"):
            step("/cancellation/accept", seller, {}, "accept_cancellation")
        elif plan == "withdraw":
            step("/cancellation/withdraw", buyer, {}, "withdraw_cancellation")
            # left to the ship deadline
        else:
            ok, j = step("/cancellation/reject", seller, {"message": "Already packed"},
                         "reject_cancellation")
            if ok and rng.random() < 0.5:
                step("/cancel", buyer, {"reason": "change_order"}, "cancel")  # left
            elif ok:
                step("/ship", seller, {"carrier": "Posturinn", "tracking_number": "RR%d%dIS" %
                                       (n, k)}, "ship")
        return
    ok, j = step("/ship", seller, {"carrier": "Posturinn", "tracking_number": "RR%d%dIS" % (n, k)},
                 "ship")
    if not ok:
        return
    ok, j = step("/deliver", "operator", {}, "deliver")
    if not ok:
        return
    if plan == "confirm":
        step("/confirm-receipt", buyer, {}, "confirm_receipt")
        return
    if plan == "deliver_silent":
        return
    ok, j = step("/disputes", buyer, {"ground": "not_as_described", "outcome": "refund_only",
                                      "amount": max(1, price // 2),
                                      "description": "Not as described"}, "open_dispute")
    if not ok or plan == "dispute_silent":
        return
    dispute = "/v1/disputes/%s" % j["id"]
    if plan == "dispute_counter":
        load.send(client, "POST", dispute + "/counter-offer", seller,
                  {"amount": max(1, price // 4), "message": "Half of that"}, "counter_offer")
    else:
        load.send(client, "POST", dispute + "/reject", seller,
                  {"message": "It was as described"}, "reject_dispute")


def settle_some(load, client, rng):
    """The payment integration reports a pending refund or two."""
    status, j = load.get(client, "/v1/refunds?status=pending&limit=20")
    if status != 200 or not j["data"]:
        return
    for r in rng.sample(j["data"], min(2, len(j["data"]))):
        outcome = rng.choice(("settle", "fail"))
        load.send(client, "POST", "/v1/refunds/%s/%s" % (r["id"], outcome), "operator", {},
                  "refund_settled" if outcome == "settle" else "refund_failed")


def client_main(load, n):
    rng = random.Random(n * 7919 + int(time.time()))
    client = Client(load.daemon)
    k = 0
    try:
        while not load.stop.is_set():
            flow(load, client, rng, n, k)
            k += 1
            if rng.random() < 0.3:
                settle_some(load, client, rng)
    except Exception as e:  # a bug of the test, or an answer it cannot read
        load.error("client %d: %r" % (n, e))
        raise
    finally:
        client.close()


def claimed(db, wait=0.0):
    """Are deadlines claimed in the store? The daemon fires them in a
    transaction after the one that claims them: seen claimed, they are
    being fired. Looks again every millisecond for `wait` seconds."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    give_up = time.time() + wait
    try:
        while True:
            if con.execute("SELECT 1 FROM deadlines WHERE claim_owner IS NOT NULL LIMIT 1"
                           ).fetchone():
                return True
            if time.time() >= give_up:
                return False
            time.sleep(0.001)
    finally:
        con.close()


def killer(daemon, kills, counts):
    """SIGKILL the daemon `kills` times, and start it again."""
    rng = random.Random()

    def kill():
        daemon.kill()
        counts["claims"] += claimed(daemon.db)

    while len(daemon.kill_times) < kills:
        r = rng.random()
        if r < 0.25:
            # Aimed at the deadline worker: as soon as it has claimed
            # what is due, before or as it commits their firing.
            time.sleep(0.3)
            claimed(daemon.db, wait=2.5)
        else:
            time.sleep(rng.uniform(0.3, 1.5))
        if 0.25 <= r < 0.4 and len(daemon.kill_times) + 2 <= kills:
            # Now and then while it starts: opening the store, taking
            # back the dead one's claims, or firing what came due.
            kill()
            daemon.spawn(daemon.port)
            time.sleep(rng.uniform(0.0, 0.08))
            counts["starting"] += 1
        kill()
        if r >= 0.85 and counts["down"] < max(1, kills // 6) and \
                len(daemon.kill_times) + 1 <= kills:
            # Down for a while, so that deadlines come due meanwhile and
            # must fire as soon as it is back (SPEC §8); killed again as
            # it fires them, holding their claims.
            time.sleep(rng.uniform(1, 3))
            counts["down"] += 1
            daemon.start()
            time.sleep(rng.uniform(0.0, 0.05))
            kill()
        daemon.start()


def run_parallel(daemon, items, fn, threads=4):
    """[fn(client, item) for item in items], in threads, each with its own
    connection; the first exception is raised."""
    items = list(items)
    out, failures = [None] * len(items), []
    lock = threading.Lock()
    it = iter(range(len(items)))

    def run():
        client = Client(daemon)
        while not failures:
            with lock:
                i = next(it, None)
            if i is None:
                break
            try:
                out[i] = fn(client, items[i])
            except Exception as e:
                failures.append(e)
        client.close()
    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failures:
        raise failures[0]
    return out


def events_of(load, client, oid):
    rows, after = [], None
    while True:
        path = "/v1/orders/%s/events?limit=100" % oid
        if after:
            path += "&starting_after=%s" % after
        status, j = load.get(client, path)
        assert status == 200, (status, j)
        rows += j["data"]
        if not j.get("has_more"):
            return rows
        after = j["data"][-1]["version"]


def sign_up(daemon):
    """A buyer and a seller for each client, signed in: their tokens and ids."""
    setup = Client(daemon)
    tokens, ids = {"operator": KEY}, {}
    for n in range(CLIENTS):
        for role in ("buyer", "seller"):
            email = "%s%d@crash.test" % (role, n)
            got = setup.once("POST", "/v1/users", KEY, json.dumps(
                {"role": role, "name": "%s %d" % (role, n), "email": email,
                 "password": PASSWORD}).encode())
            assert got and got[0] == 201, got
            ids["%s%d" % (role, n)] = json.loads(got[1])["id"]
            got = setup.once("POST", "/v1/sessions", None, json.dumps(
                {"email": email, "password": PASSWORD}).encode())
            assert got and got[0] == 201, got
            tokens["%s%d" % (role, n)] = json.loads(got[1])["token"]
    setup.close()
    return tokens, ids


def wait_for_deadlines(db):
    """Until the store holds no deadline of the short windows: every chain
    of them (a refund's alert after the deadline that refunded) has come
    due and fired."""
    wait_until = time.time() + 2 * sum(WINDOWS.values()) + 10
    while True:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        short = con.execute("SELECT count(*) FROM deadlines WHERE due_ms < ?",
                            (int(time.time() * 1000) + 3600 * 1000,)).fetchone()[0]
        con.close()
        if not short:
            return
        assert time.time() < wait_until, "%d short deadlines still wait" % short
        time.sleep(0.5)


def check_replays(load):
    """Each kept answer, sent again with its key: the same bytes."""
    def replay(client, r):
        method, path, token, body, key, status, data = r
        for _ in range(50):
            got = client.once(method, path, token, body, key)
            if got is not None:
                break
            time.sleep(0.1)
        assert got == (status, data), ("replay differs", method, path, key, (status, data), got)
    run_parallel(load.daemon, load.kept, replay)


def check_histories(load, histories, orders):
    """The acknowledged commands once, nothing else by a client; each
    deadline once, when due. Returns (fired, the figures' text)."""
    daemon = load.daemon
    fired, late_max, down_max, by_kind = 0, 0.0, 0.0, collections.Counter()
    refund_outcomes = {}
    for oid, rows in histories.items():
        versions = [r["version"] for r in rows]
        assert versions == list(range(1, len(rows) + 1)), (oid, versions)
        deadlines = set()
        for r in rows:
            if r["actor"] == "system":
                assert r["event"] in SYSTEM_EVENTS, (oid, r)
                ident = (r["event"], r["detail"].get("due_at"), r["detail"].get("refund_id"))
                assert ident not in deadlines, ("a deadline fired twice", oid, rows)
                deadlines.add(ident)
                if r["event"] == "refund_overdue":
                    refund = [x for x in orders[oid]["refunds"]
                              if x["id"] == r["detail"]["refund_id"]][0]
                    due = ms_of(refund["created_at"]) / 1000 + WINDOWS["refund_alert"]
                else:
                    due = ms_of(r["detail"]["due_at"]) / 1000
                at = ms_of(r["at"]) / 1000
                assert at >= due, ("fired before due", oid, r)
                late = daemon.up_between(due, at)
                assert late <= LATE_MAX_S, ("fired %.1f s of time up late" % late, oid, r)
                late_max = max(late_max, late)
                down_max = max(down_max, at - due - late)
                fired += 1
                by_kind[r["event"]] += 1
            elif r["event"] in ("refund_settled", "refund_failed"):
                refund_outcomes.setdefault(r["detail"].get("refund_id"), []).append(r["event"])
            else:
                got = load.acked_orders.get((oid, r["version"]))
                assert got == [r["event"]], ("history row without one answer", oid, r, got)
        # One firing per kind in these flows (one dispute, one window each).
        kinds = [d[0] for d in deadlines if d[0] != "refund_overdue"]
        assert len(kinds) == len(set(kinds)), (oid, rows)
    for (oid, version), events in load.acked_orders.items():
        rows = histories[oid]
        assert len(events) == 1 and version <= len(rows) and \
            rows[version - 1]["event"] == events[0], ("answered, not kept once", oid, version,
                                                      events, rows)
    for rid, events in load.acked_refunds.items():
        assert len(events) == 1 and len(refund_outcomes.get(rid, [])) == 1, \
            ("refund outcome not kept once", rid, events, refund_outcomes.get(rid))
    assert len(refund_outcomes) == len(load.acked_refunds), "unanswered refund outcomes"
    return fired, "%d deadlines fired once each (%s), at most %.1f s of time up after due " \
        "(and %.1f s down); %d commands kept once" % (
            fired, ", ".join("%s %d" % kv for kv in sorted(by_kind.items())), late_max,
            down_max, len(load.acked_orders) + len(load.acked_refunds))


def check_messages(load):
    """Each answered message kept once, none unanswered."""
    def messages_of(client, oid):
        status, j = load.get(client, "/v1/orders/%s/messages?limit=100" % oid)
        assert status == 200 and not j["has_more"], (status, j)
        # (A rejection's message joins the conversation too.)
        return [m["seq"] for m in j["data"] if m["body"].startswith("About order")]
    got = dict(zip(load.messages, run_parallel(load.daemon, list(load.messages), messages_of)))
    for oid, seqs in load.messages.items():
        assert sorted(seqs) == got[oid], ("messages not kept once", oid, seqs, got[oid])


def check_orders(histories, orders):
    """No order waits for a short deadline; no refund twice. Returns the
    number of refunds."""
    refunds = 0
    for oid, o in orders.items():
        assert o["status"] not in SHORT_STATES, ("left waiting", oid, o["status"],
                                                 histories[oid])
        rs = o["refunds"]
        assert len({r["id"] for r in rs}) == len(rs), (oid, rs)
        assert sum(r["amount"] for r in rs) == o["refunded"] <= o["paid"], (oid, o)
        if o["status"] == "cancelled" and o["paid"]:
            assert len(rs) == 1 and rs[0]["amount"] == o["paid"], (oid, o)
        for r in rs:
            overdue = [h for h in histories[oid] if h["event"] == "refund_overdue"
                       and h["detail"].get("refund_id") == r["id"]]
            assert len(overdue) <= 1 and (r["status"] != "pending" or overdue), \
                ("refund alert", oid, r, overdue)
        refunds += len(rs)
    return refunds


def check_store(exe, db, orders):
    """The stopped daemon's file: its ledger, its pages, its queues.
    Returns the number of outbox events."""
    r = subprocess.run([exe, "check", "--db", db], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    con = sqlite3.connect(db)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchall()
        assert integrity == [("ok",)], integrity
        due = con.execute("SELECT count(*) FROM deadlines WHERE due_ms <= ?",
                          (int(time.time() * 1000),)).fetchone()[0]
        assert due == 0, "%d deadlines due in the store" % due
        claimed = con.execute("SELECT count(*) FROM deadlines WHERE claim_owner IS NOT NULL"
                              ).fetchone()[0]
        assert claimed == 0, "%d deadlines still claimed after SIGTERM" % claimed
        # Each refund's transfer once, in the ledger as in the API.
        ledger = dict(con.execute(
            "SELECT order_id, count(DISTINCT transfer_id) FROM entries WHERE kind = 'refund' "
            "GROUP BY order_id"))
        for oid, o in orders.items():
            assert ledger.get(oid, 0) == len(o["refunds"]), (oid, ledger.get(oid), o["refunds"])
        # Each command's event once in the outbox that webhooks will
        # deliver from, as in the history. The reputation events a
        # command's marks cause have no history row of their own.
        outbox = collections.Counter(con.execute(
            "SELECT order_id, type, at_ms FROM outbox WHERE type NOT LIKE 'reputation.%'"))
        history = collections.Counter(con.execute("SELECT order_id, type, at_ms FROM history"))
        assert outbox == history, ("the outbox is not the history",
                                   list((outbox - history).items())[:5],
                                   list((history - outbox).items())[:5])
        return sum(outbox.values())
    finally:
        con.close()


def main():
    exe = os.path.join(os.environ.get("ESC_BUILD_DIR", "build"), "escrowd")
    if not os.access(exe, os.X_OK):
        log("skipped: no daemon at %s (set ESC_BUILD_DIR)" % exe)
        return 77
    tmp = tempfile.mkdtemp(prefix="escrowd-crash-loop-")
    db = os.path.join(tmp, "escrowd.db")
    config = os.path.join(tmp, "escrowd.conf")
    with open(config, "w") as f:
        for k, v in WINDOWS.items():
            f.write("%s = %dms\n" % (k, v * 1000))
        # One buyer per client cancels hundreds of orders: keep every
        # buyer in good standing, so that each may go on asking.
        f.write("watch_cancellations = 1000000000\nrestricted_cancellations = 1000000000\n"
                "suspended_cancellations = 1000000000\nrestricted_rate = 100%\n"
                "suspended_lost_disputes = 1000000000\ncancel_requests_max = 2\n"
                "http.signin_per_address = 1000\nhttp.signin_per_account = 1000\n"
                "db_pool = 4\n")
    daemon = Daemon(exe, db, config)
    load = None
    started = time.time()
    try:
        daemon.start()
        load = Load(daemon, *sign_up(daemon))
        counts = {"starting": 0, "down": 0, "claims": 0}
        loop_started = time.time()
        threads = [threading.Thread(target=client_main, args=(load, n)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        killer(daemon, KILLS, counts)
        time.sleep(0.5)
        load.stop.set()
        for t in threads:
            t.join()
        loop_took = time.time() - loop_started
        assert not load.errors, load.errors[:10]
        acked = sum(1 for r in load.kept if 200 <= r[5] < 300)
        kills = len(daemon.kill_times)
        log("%d kills (%d while starting, %d after 1-3 s down and then as it fired what came "
            "due; %d with deadlines claimed) in %.1f s; %d orders, "
            "%d answers kept (%d 2xx), %d retries, %d 503s; %d port changes" % (
                kills, counts["starting"], counts["down"], counts["claims"], loop_took,
                len(load.orders),
                len(load.kept), acked, load.retries, load.unavailable, daemon.port_changes))

        wait_for_deadlines(db)
        log("no short deadline left, %.1f s after the loop" %
            (time.time() - loop_started - loop_took))
        check_replays(load)
        log("%d answers replayed byte for byte" % len(load.kept))
        ids = list(load.orders)
        histories = dict(zip(ids, run_parallel(daemon, ids,
                                               lambda c, oid: events_of(load, c, oid))))
        orders = dict(zip(ids, run_parallel(daemon, ids, lambda c, oid: load.get(
            c, "/v1/orders/" + oid)[1])))
        fired, figures = check_histories(load, histories, orders)
        log(figures)
        check_messages(load)
        refunds = check_orders(histories, orders)

        code = daemon.stop()
        assert code == 0, "the daemon exited %s on SIGTERM" % code
        assert not daemon.died, ("the daemon ended by itself", daemon.died)
        alarming = [(n, l) for n, l in daemon.lines if n not in daemon.bind_failed and
                    not re.match(r"escrowd: (listening on http://|stopped$)", l)]
        assert not alarming, alarming[:20]
        events = check_store(exe, db, orders)
        log("escrowd check: the ledger invariants hold; integrity_check ok; %d refunds, "
            "each once; %d outbox events, each once" % (refunds, events))

        log("summary: %d kills, %d acknowledged requests, %d replays identical, %d deadlines "
            "fired once, %d refunds once, %d orders, %.0f s" % (
                kills, acked, len(load.kept), fired, refunds, len(load.orders),
                time.time() - started))
        return 0
    except AssertionError as e:
        log("FAILED:", str(e)[:4000])
        if load:
            for oid in sorted(set(re.findall(r"ord_[0-9a-z]+", str(e))))[:3]:
                story(load, oid, started)
        daemon.stop()
        log("the store and its config are kept in", tmp)
        tmp = None
        return 1
    finally:
        daemon.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def story(load, oid, t0):
    """What the clients sent on an order, attempt by attempt, and the kills
    around: to tell a lost or doubled command from a bug of the test."""
    log("the requests on", oid, "(seconds from the start; kill times at the end):")
    first, last = None, None
    for method, path, token, body, key, status, data in load.kept:
        if oid not in path and oid.encode() not in data[:40]:
            continue
        log("  %s %s %s key %s -> %d %s" % (method, path, body.decode()[:80], key, status,
                                             data.decode()[:160]))
        for sent, answered, port, got in load.attempts.get(key, []):
            log("    %.3f..%.3f port %s: %s" % (sent - t0, answered - t0, port, got))
            first = sent if first is None else min(first, sent)
            last = answered if last is None else max(last, answered)
    if first is not None:
        log("  kills: %s" % ", ".join("%.3f" % (k - t0) for k in load.daemon.kill_times
                                      if first - 2 <= k <= last + 2))


if __name__ == "__main__":
    sys.exit(main())
