#!/usr/bin/python3
"""
mock_ceiling.py -- measure how many requests/s whatsapp_mock.py answers on
loopback with keep-alive (HTTP/1.1, one request in flight per connection, as
libcurl's multi interface does), so a benchmark knows the mock is not its
bottleneck. Python 3 standard library only.

    tests/mock/mock_ceiling.py                    # starts its own mock, 5 s, 2 procs x 16 conns
    tests/mock/mock_ceiling.py --url http://127.0.0.1:PORT --duration 10
    tests/mock/mock_ceiling.py --provider waha --log /tmp/x.jsonl   # mock's --log cost

The load generator is Python too: it runs --procs processes with --conns
keep-alive connections each (and reports the mock's CPU time when it started
the mock itself, so a client-bound run is visible). Every request is a full
Cloud API text message (or WAHA sendText) to one of --recipients numbers;
the mock parses, validates, records and answers each of them.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def build_request(provider, host, port, n, token, key, body_text):
    number = "628123%07d" % n
    if provider == "waha":
        body = json.dumps({"session": "default", "chatId": number + "@c.us",
                           "text": body_text}).encode()
        head = ("POST /api/sendText HTTP/1.1\r\nHost: %s:%d\r\nX-Api-Key: %s\r\n"
                "Content-Type: application/json\r\nAccept: */*\r\nContent-Length: %d\r\n\r\n"
                % (host, port, key, len(body)))
    else:
        body = json.dumps({"messaging_product": "whatsapp", "recipient_type": "individual",
                           "to": "+" + number, "type": "text",
                           "text": {"preview_url": False, "body": body_text}}).encode()
        head = ("POST /v23.0/106540352242922/messages HTTP/1.1\r\nHost: %s:%d\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json\r\nAccept: */*\r\n"
                "Content-Length: %d\r\n\r\n" % (host, port, token, len(body)))
    return head.encode() + body


class Client(asyncio.Protocol):
    def __init__(self, reqs, counter, lat, deadline):
        self.reqs = reqs
        self.i = 0
        self.counter = counter
        self.lat = lat
        self.deadline = deadline
        self.buf = bytearray()
        self.need = None
        self.t0 = 0.0
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, t):
        self.t = t
        self.send()

    def send(self):
        if time.perf_counter() >= self.deadline:
            self.t.close()
            return
        self.t0 = time.perf_counter()
        self.t.write(self.reqs[self.i % len(self.reqs)])
        self.i += 1

    def data_received(self, data):
        self.buf += data
        while True:
            if self.need is None:
                k = self.buf.find(b"\r\n\r\n")
                if k < 0:
                    return
                head = bytes(self.buf[:k]).lower()
                j = head.find(b"content-length:")
                clen = int(head[j + 15:head.find(b"\r\n", j) if head.find(b"\r\n", j) > 0 else None])
                if not (head.startswith(b"http/1.1 200") or head.startswith(b"http/1.1 201")):
                    self.counter["errors"] += 1
                self.need = k + 4 + clen
            if len(self.buf) < self.need:
                return
            del self.buf[:self.need]
            self.need = None
            self.counter["n"] += 1
            if len(self.lat) < 200000:
                self.lat.append(time.perf_counter() - self.t0)
            self.send()

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(True)


async def run_proc(host, port, conns, duration, reqs):
    loop = asyncio.get_running_loop()
    counter = {"n": 0, "errors": 0}
    lat = []
    deadline = time.perf_counter() + duration
    clients = []
    for _ in range(conns):
        _, c = await loop.create_connection(lambda: Client(reqs, counter, lat, deadline), host, port)
        clients.append(c)
    await asyncio.gather(*(c.done for c in clients))
    return counter, lat


def proc_main(args, idx, q):
    reqs = [build_request(args.provider, args.host, args.port, idx * 1000 + k, args.token,
                          args.waha_key, args.body) for k in range(args.recipients)]
    counter, lat = asyncio.run(run_proc(args.host, args.port, args.conns, args.duration, reqs))
    q.put((counter, lat))


def proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running mock (default: start one)")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--conns", type=int, default=16, help="keep-alive connections per process")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--provider", choices=("cloud_api", "waha"), default="cloud_api")
    ap.add_argument("--recipients", type=int, default=50)
    ap.add_argument("--token", default="bench-token")
    ap.add_argument("--waha-key", default="bench-key")
    ap.add_argument("--log", help="pass --log to the mock it starts (to measure that cost)")
    ap.add_argument("--body", default="[GUESTBOOK] Case ABC123\nJenis: visitor\nUnit: UPT Warroom\n"
                    "Org Unit: UPT Warroom\nNama: Ahmad Pengunjung\nNIP/NIK: 3201010101010001\n"
                    "Keperluan: Konsultasi jaringan internet kantor desa\n\n"
                    "Detail: https://guestbook.example.go.id/admin/cases/00000000-0000-0000-0000-0000000000c1")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    mock = None
    if args.url:
        u = urllib.parse.urlparse(args.url)
        args.host, args.port = u.hostname, u.port
    else:
        cmd = [sys.executable, os.path.join(HERE, "whatsapp_mock.py"), "--port", "0",
               "--token", args.token, "--waha-key", args.waha_key]
        if args.log:
            cmd += ["--log", args.log]
        mock = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = mock.stdout.readline()
        if not line.startswith("listening on "):
            sys.exit("mock did not start: %r" % line)
        args.host, port = line.split()[-1].rsplit(":", 1)
        args.port = int(port)

    base = "http://%s:%d" % (args.host, args.port)
    urllib.request.urlopen(urllib.request.Request(base + "/_mock/reset", data=b"{}")).read()
    cpu0 = proc_cpu(mock.pid) if mock else None
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=proc_main, args=(args, i, q)) for i in range(args.procs)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    cpu1 = proc_cpu(mock.pid) if mock else None
    stats = json.loads(urllib.request.urlopen(base + "/_mock/stats").read())
    if mock:
        mock.terminate()
        mock.wait()

    n = sum(r[0]["n"] for r in results)
    errors = sum(r[0]["errors"] for r in results)
    lat = sorted(x for r in results for x in r[1])
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
    out = {
        "provider": args.provider, "procs": args.procs, "conns_per_proc": args.conns,
        "duration_s": args.duration, "requests": n, "non_2xx": errors,
        "requests_per_s": round(n / args.duration, 1),
        "latency_ms": {"p50": round(pct(0.50), 3), "p99": round(pct(0.99), 3), "max": round(pct(1.0), 3)},
        "mock_counted": stats["requests"],
        "mock_cpu_s": round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None,
        "mock_log": bool(args.log), "cores": os.cpu_count(), "wall_s": round(wall, 2),
    }
    if args.json:
        print(json.dumps(out))
    else:
        print("mock ceiling: %(requests_per_s).0f requests/s (%(requests)d in %(duration_s)gs, "
              "%(procs)d procs x %(conns_per_proc)d keep-alive conns, provider %(provider)s, "
              "non-2xx %(non_2xx)d)" % out)
        print("  latency p50 %.3f ms, p99 %.3f ms; mock CPU %s s over the run; %d cores; log %s"
              % (out["latency_ms"]["p50"], out["latency_ms"]["p99"], out["mock_cpu_s"],
                 out["cores"], "on" if args.log else "off"))
    if errors or n == 0:
        sys.exit(1)


if __name__ == "__main__":
    import urllib.parse
    main()
