#!/usr/bin/python3
"""Times the Notifications page's list over HTTP (tests/bench/bench_page.sh).

Logs in (GET /login for the form and its hidden fields, POST /login with the
role and password), keeps the session cookie, and sends N GETs per scenario
over one keep-alive HTTP/1.1 connection, one at a time, each read to its
end; the time is from the request's first byte to the body's last.  Each
answer must be 200 with the list table (id="notifications"), else the run
fails.  Prints p50/p95/max per scenario; --json writes them.
"""

import argparse
import http.client
import json
import random
import re
import statistics
import sys
import time
import urllib.parse

NAMES = ["Wibowo", "Siregar", "Sari", "Hakim", "Ritonga", "Dewi Lubis", "Agus"]


class Client:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        h = {"Host": "%s:%d" % (self.host, self.port)}
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        h.update(headers or {})
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if attempt == 2:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        for c in r.headers.get_all("Set-Cookie") or []:
            k, _, rest = c.partition("=")
            self.cookies[k.strip()] = rest.split(";", 1)[0]
        return r.status, r.headers, data

    def login(self, role, password):
        st, _, body = self.request("GET", "/login")
        if st != 200:
            sys.exit("GET /login: HTTP %d" % st)
        form = re.search(rb'<form[^>]*id="login-form".*?</form>', body, re.S)
        fields = {}
        for m in re.finditer(rb'<input[^>]*>', form.group(0) if form else body):
            tag = m.group(0).decode()
            n = re.search(r'name="([^"]*)"', tag)
            v = re.search(r'value="([^"]*)"', tag)
            if n:
                fields[n.group(1)] = v.group(1) if v else ""
        fields["role"] = role
        fields["password"] = password
        st, h, body = self.request("POST", "/login", body=urllib.parse.urlencode(fields),
                                   headers={"Content-Type": "application/x-www-form-urlencoded",
                                            "Origin": "http://%s:%d" % (self.host, self.port)})
        if st not in (302, 303) or "/notifications" not in (h.get("Location") or ""):
            sys.exit("login as %s failed: HTTP %d %s %s" % (role, st, h.get("Location"), body[:500]))


def next_link(body):
    m = re.search(rb'<a[^>]*id="next-page"[^>]*>', body)
    if not m:
        return None
    href = re.search(rb'href="([^"]*)"', m.group(0))
    return href.group(1).decode().replace("&amp;", "&") if href else None


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    f = int(k)
    return xs[f] + (xs[min(f + 1, len(xs) - 1)] - xs[f]) * (k - f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--role", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--max-seconds", type=float, default=40,
                    help="stop a scenario after this long (at least 20 timed requests)")
    ap.add_argument("--cases", type=int, default=250000, help="case codes K0000001..K<cases>")
    ap.add_argument("--json")
    ap.add_argument("--only", help="a regular expression: the scenarios to run")
    args = ap.parse_args()
    rnd = random.Random(13)

    c = Client(args.url)
    c.login(args.role, args.password)

    # pages 2 and 20 of the newest-first list: the cursors, found by following next-page
    cursors = {}
    path = "/notifications?tab=all"
    for page in range(2, 21):
        st, _, body = c.request("GET", path)
        nl = next_link(body)
        if not nl:
            sys.exit("no id=\"next-page\" link on page %d of %s" % (page - 1, path))
        path = nl if nl.startswith("/") else "/notifications" + nl if nl.startswith("?") else nl
        if page in (2, 20):
            cursors[page] = path
    # page 2 of the Terkirim tab too
    st, _, body = c.request("GET", "/notifications?tab=sent")
    nl = next_link(body)
    sent_p2 = nl if nl and nl.startswith("/") else ("/notifications" + nl if nl else None)

    month = time.strftime("%Y-%m", time.localtime(time.time() - 180 * 86400))
    scenarios = [(t, lambda t=t: "/notifications?tab=%s" % t) for t in
                 ("attention", "pending", "sending", "held", "sent", "delivered", "read", "failed",
                  "cancelled", "all")]
    scenarios += [
        ("template=escalated_kadis", lambda: "/notifications?tab=all&template=escalated_kadis"),
        ("failed+template=assigned", lambda: "/notifications?tab=failed&template=assigned"),
        ("role=lead", lambda: "/notifications?tab=all&role=lead"),
        ("date range (one month)", lambda: "/notifications?tab=all&from=%s-01&to=%s-28" % (month, month)),
        ("sent+date range", lambda: "/notifications?tab=sent&from=%s-01&to=%s-28" % (month, month)),
        ("q=case code", lambda: "/notifications?tab=all&q=K%07d" % rnd.randint(1, args.cases)),
        ("q=number suffix (4)", lambda: "/notifications?tab=all&q=%04d" % rnd.randint(0, 9999)),
        ("q=recipient name", lambda: "/notifications?tab=all&q=" + urllib.parse.quote(rnd.choice(NAMES))),
        ("page 2 (keyset)", lambda: cursors[2]),
        ("page 20 (keyset)", lambda: cursors[20]),
    ]
    if sent_p2:
        scenarios.append(("Terkirim page 2", lambda: sent_p2))

    if args.only:
        scenarios = [sc for sc in scenarios if re.search(args.only, sc[0])]
    results = []
    print("%-26s %8s %8s %8s %5s %5s  %s" % ("scenario", "p50 ms", "p95 ms", "max ms", "n", "rows", "bytes"))
    for name, mk in scenarios:
        times = []
        nrows = None
        size = 0
        started = time.time()
        for i in range(args.warmup + args.n):
            if len(times) >= 20 and time.time() - started > args.max_seconds:
                break
            p = mk()
            t0 = time.perf_counter()
            st, _, body = c.request("GET", p)
            dt = (time.perf_counter() - t0) * 1000
            if st != 200 or b'id="notifications"' not in body:
                sys.exit("%s: GET %s: HTTP %d %s" % (name, p, st, body[:300]))
            if i >= args.warmup:
                times.append(dt)
            nrows = len(re.findall(rb'<tr[^>]*data-id="', body))
            size = len(body)
        r = {"name": name, "p50": pct(times, 0.5), "p95": pct(times, 0.95), "max": max(times),
             "mean": statistics.mean(times), "n": len(times), "rows_last": nrows, "bytes_last": size,
             "example": mk()}
        results.append(r)
        print("%-26s %8.1f %8.1f %8.1f %5d %5s  %d" % (name, r["p50"], r["p95"], r["max"], r["n"], nrows, size),
              flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"scenarios": results}, fh, indent=1)


if __name__ == "__main__":
    main()
