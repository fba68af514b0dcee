#!/usr/bin/env python3
"""webhook_crash.py - webhook deliveries survive SIGKILL (issue 14).

One `escrowd serve` on a SQLite file, on the real clock, with
webhooks.allow_private = true and one endpoint for "*" at a receiver on a
loopback port (webhook_common.Receiver), which checks every delivery's
signature with the endpoint's secret as docs/webhooks.md says and now and
then answers slowly, so that deliveries are in flight. Client threads run
order flows over HTTP, each command sent again with its Idempotency-Key
until answered. The daemon is killed with SIGKILL while the receiver holds
a delivery (WEBHOOK_CRASH_KILLS times: 5, or 3 under ESC_TEST_QUICK) and
started again on the same file. Once the last daemon has delivered
everything (no delivery pending), the test asserts:

  - every event of GET /v1/events was received at least once, with a
    valid signature;
  - every duplicate carries the same event id and the same bytes, and
    there are no more of them than deliveries claimed in the store when
    the daemon died (a live daemon sends each once);
  - no delivery failed, each one's attempts are listed;
  - the outbox in the SQLite file holds as many events as were listed.

Exits 0 when it holds, 1 when it does not, 77 (skipped) when the daemon
is not built.
"""
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import shutil

import webhook_common as wc

KEY = "webhook-crash-operator-key-01"
PASSWORD = "webhook-crash-password"
# Fewer under ESC_TEST_QUICK (make test's sanitizer build).
KILLS = int(os.environ.get("WEBHOOK_CRASH_KILLS", "3" if os.environ.get("ESC_TEST_QUICK") else "5"))
CLIENTS = 3
DRAIN_TIMEOUT_S = 30


def log(*args):
    print("webhook_crash:", *args, flush=True)


def clients_run(load, stop):
    def run(n):
        rng = random.Random(n)
        k = 0
        while not stop.is_set():
            wc.flow(load, rng, n, k)
            k += 1
    threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    return threads


def claimed(db):
    """Deliveries claimed and not finished in the store: those the daemon
    may have sent without recording it."""
    with sqlite3.connect(db, timeout=10) as c:
        (n,) = c.execute("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending' "
                         "AND claim_owner IS NOT NULL").fetchone()
    return n


def killer(daemon, receiver, kills):
    """Kill the daemon while the receiver holds a delivery (or after 2 s
    without one), then start it again: (kills made in flight, deliveries
    claimed when it died)."""
    rng = random.Random(7)
    in_flight = held = 0
    for _ in range(kills):
        time.sleep(rng.uniform(0.5, 1.5))
        until = time.time() + 2
        while receiver.inflight == 0 and time.time() < until:
            time.sleep(0.01)
        in_flight += receiver.inflight > 0
        daemon.kill()
        held += claimed(daemon.db)
        time.sleep(rng.uniform(0, 0.5))
        daemon.start()
    return in_flight, held


def main():
    exe = os.path.join(os.environ.get("ESC_BUILD_DIR", "build"), "escrowd")
    if not os.path.exists(exe):
        log("skipped: no daemon at", exe)
        return 77
    tmp = tempfile.mkdtemp(prefix="escrowd-webhook-crash-")
    db = os.path.join(tmp, "escrowd.db")
    config = os.path.join(tmp, "escrowd.conf")
    with open(config, "w") as f:
        f.write("webhooks.allow_private = true\n"
                "watch_cancellations = 1000000000\nrestricted_cancellations = 1000000000\n"
                "suspended_cancellations = 1000000000\nhttp.signin_per_address = 1000\n")
    receiver = wc.Receiver(slow_share=0.3, slow_max_s=1.2)
    daemon = wc.Daemon(exe, db, config, KEY)
    ok = False
    try:
        daemon.start()
        endpoint_id = wc.endpoint(daemon.port, KEY, receiver)
        tokens, ids = wc.users(daemon.port, KEY, PASSWORD, CLIENTS)
        load = wc.Load(lambda: [] if daemon.dead else [daemon.port], tokens, ids)
        stop = threading.Event()
        started = time.time()
        threads = clients_run(load, stop)
        in_flight, held = killer(daemon, receiver, KILLS)
        stop.set()
        for t in threads:
            t.join()
        assert not load.errors, load.errors[:5]
        log("%d orders, %d commands acknowledged, %d kills (%d with a delivery in flight) "
            "in %.1f s" % (load.orders, load.acked, KILLS, in_flight, time.time() - started))

        waited = wc.wait_delivered(daemon.port, KEY, DRAIN_TIMEOUT_S)
        events, source = wc.event_ids(daemon.port, KEY)
        received, duplicates = receiver.check(events)
        deliveries = wc.list_all(daemon.port, KEY,
                                 "/v1/webhook-deliveries?endpoint_id=" + endpoint_id)
        assert len(deliveries) == len(events), (len(deliveries), len(events))
        for d in deliveries:
            assert d["status"] == "delivered", d
            assert d["attempts_count"] >= 1 and d["attempts"], d
        log("%d events (from %s) all received, %d duplicates with the same bytes, at most "
            "%d allowed (claimed when a daemon died); %d deliveries in all; drained %.1f s "
            "after the load" % (len(events), source, duplicates, held, receiver.total, waited))
        assert duplicates <= held, (duplicates, held)
        assert daemon.stop() == 0, "\n".join(daemon.lines[-20:])
        with sqlite3.connect(db) as c:
            (outbox,) = c.execute("SELECT COUNT(*) FROM outbox WHERE payload <> ''").fetchone()
        assert outbox == len(events), (outbox, len(events))
        ok = True
        return 0
    finally:
        daemon.stop()
        receiver.close()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log("the store and its config are kept in", tmp)
            log("the daemon's last lines:\n" + "\n".join(daemon.lines[-20:]))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        log("FAILED:", e)
        sys.exit(1)
