#!/usr/bin/python3
"""
webhook_load.py -- post signed Meta status webhooks to guestbook_notify_web
as fast as it answers, over keep-alive connections, and report the rate and
the latencies.  Python 3 standard library only.

  webhook_load.py --url http://127.0.0.1:8088/webhooks/meta --secret S \
                  --wamids FILE [--connections 16] [--statuses sent,delivered,read]
                  [--warmup N] [--recipient 628...]

FILE has one message id per line.  For each status in --statuses, one
webhook per message id (Meta's body shape, one status each, signed with
X-Hub-Signature-256), in that order: all "sent", then all "delivered", then
all "read", as Meta would send them over time.  The bodies and signatures
are made before the clock starts.  The first --warmup webhooks are sent and
answered before the clock starts.  Prints one JSON object: sent, ok (200),
other statuses, seconds, per_second, latency percentiles in ms.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import time
import urllib.parse


def body_for(wamid, status, ts, recipient):
    st = {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": recipient}
    if status in ("sent", "delivered"):
        st["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular",
                         "category": "utility"}
    b = {"object": "whatsapp_business_account",
         "entry": [{"id": "102290129340398",
                    "changes": [{"value": {"messaging_product": "whatsapp",
                                           "metadata": {"display_phone_number": "15550783881",
                                                        "phone_number_id": "106540352242922"},
                                           "statuses": [st]},
                                 "field": "messages"}]}]}
    return json.dumps(b, separators=(",", ":")).encode()


def make_requests(url, secret, wamids, statuses, recipient):
    u = urllib.parse.urlsplit(url)
    host = "%s:%d" % (u.hostname, u.port or 80)
    out = []
    ts = int(time.time())
    for st in statuses:
        for w in wamids:
            body = body_for(w, st, ts, recipient)
            sig = hmac.new(secret, body, hashlib.sha256).hexdigest()
            head = ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "X-Hub-Signature-256: sha256=%s\r\nContent-Length: %d\r\n\r\n"
                    % (u.path, host, sig, len(body))).encode()
            out.append(head + body)
    return u.hostname, u.port or 80, out


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    close = False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v.strip())
        elif k == b"connection" and v.strip().lower() == b"close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def worker(host, port, queue, results, latencies):
    reader = writer = None
    while True:
        try:
            req = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        for attempt in range(3):
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                t0 = time.perf_counter()
                writer.write(req)
                await writer.drain()
                status, close = await read_response(reader)
                latencies.append((time.perf_counter() - t0) * 1000.0)
                results[status] = results.get(status, 0) + 1
                if close:
                    writer.close()
                    reader = writer = None
                break
            except (OSError, asyncio.IncompleteReadError) as e:
                if writer is not None:
                    writer.close()
                reader = writer = None
                if attempt == 2:
                    results["error:" + type(e).__name__] = results.get("error:" + type(e).__name__, 0) + 1
    if writer is not None:
        writer.close()


async def run(host, port, reqs, connections):
    queue = asyncio.Queue()
    for r in reqs:
        queue.put_nowait(r)
    results = {}
    latencies = []
    t0 = time.perf_counter()
    await asyncio.gather(*[worker(host, port, queue, results, latencies) for _ in range(connections)])
    return time.perf_counter() - t0, results, latencies


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))], 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--secret", required=True, help="the Meta app secret (a test value)")
    ap.add_argument("--wamids", required=True)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--statuses", default="sent,delivered,read")
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--recipient", default="6281200000001")
    a = ap.parse_args()
    with open(a.wamids) as f:
        wamids = [l.strip() for l in f if l.strip()]
    host, port, reqs = make_requests(a.url, a.secret.encode(), wamids,
                                     a.statuses.split(","), a.recipient)
    warm, reqs = reqs[:a.warmup], reqs[a.warmup:]
    if warm:
        asyncio.run(run(host, port, warm, a.connections))
    seconds, results, lat = asyncio.run(run(host, port, reqs, a.connections))
    print(json.dumps({"sent": len(reqs), "ok": results.get(200, 0),
                      "answers": {str(k): v for k, v in results.items()},
                      "seconds": round(seconds, 3),
                      "per_second": round(results.get(200, 0) / seconds, 1) if seconds > 0 else None,
                      "connections": a.connections,
                      "body_bytes": len(reqs[0].split(b"\r\n\r\n", 1)[1]) if reqs else 0,
                      "latency_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
                                     "max": pct(lat, 100)}}))


if __name__ == "__main__":
    sys.exit(main())
