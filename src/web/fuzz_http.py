#!/usr/bin/python3
"""
fuzz_http.py -- throw random and malformed HTTP requests at
guestbook_notify_web (src/web/fuzz.sh runs it against a sanitizer build).

  fuzz_http.py --port P --secret S --waha-key K [--count 3000] [--seed 1]

Requests mix: 40 % well-formed signed POSTs of random or mutated bodies
(they reach the database); the others: the routes and random paths; GET, POST, odd methods; query
strings with random %-escapes; signed (right HMAC), badly signed and
unsigned bodies that are random bytes, truncated or mutated Meta and WAHA
JSON, deep nesting, invalid UTF-8, large; headers that are huge, repeated,
without a colon, with odd Content-Length or Transfer-Encoding; chunked
bodies, some broken; connections closed half way.  Answers are read and
thrown away.  Exits 0 if /healthz still answers 200 at the end.
"""

import argparse
import hashlib
import hmac
import json
import random
import socket
import sys
import time

META = {"object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "statuses": [{"id": "wamid.FUZZ", "status": "delivered", "timestamp": "1750030070",
                          "errors": [{"code": 131026, "title": "x"}]}],
            "messages": [{"from": "6281234567890", "id": "wamid.IN", "type": "text",
                          "text": {"body": "STOP"}}]}}]}]}
WAHA = {"id": "evt_1", "timestamp": 1750030070000, "event": "message.ack", "session": "default",
        "payload": {"id": "true_6281234567890@c.us_AA", "fromMe": True, "ack": 2}}


def mutate(rng, b):
    b = bytearray(b)
    for _ in range(rng.randint(1, 8)):
        op = rng.randint(0, 4)
        if not b:
            b += bytes([rng.randint(0, 255)])
        i = rng.randrange(len(b))
        if op == 0:
            b[i] = rng.randint(0, 255)
        elif op == 1:
            del b[i:i + rng.randint(1, 16)]
        elif op == 2:
            b[i:i] = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 16)))
        elif op == 3:
            b[i:i] = rng.choice([b'{', b'[', b'"', b'\\u0000', b'\xff', b'null', b'1e999999', b'"\\ud800"'])
        else:
            b[i:i] = b[:rng.randint(0, len(b))]
    return bytes(b)


def body(rng):
    k = rng.randint(0, 9)
    if k == 0:
        return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 2000)))
    if k == 1:
        d = rng.randint(1, 100000)
        return b"[" * d + b"]" * rng.randint(0, d)
    if k == 2:
        return b'{"entry":' * rng.randint(1, 5000)
    if k == 3:
        return json.dumps(WAHA).encode()
    if k == 4:
        return mutate(rng, json.dumps(WAHA).encode())
    if k == 5:
        return b'{"a":"' + b"x" * rng.randint(0, 200000) + b'"}'
    if k == 6:
        return json.dumps(META).encode()
    return mutate(rng, json.dumps(META).encode())


def pct(rng, s):
    out = []
    for ch in s:
        if rng.random() < 0.2:
            out.append(rng.choice(["%", "%4", "%zz", "%00", "%ff", "+", "&", "=", "%%"]))
        out.append(ch)
    return "".join(out)


def signed_request(rng, port, secret, waha_key):
    """a well-formed signed POST of a random or mutated body: reaches the database"""
    b = body(rng)
    if rng.random() < 0.5:
        path = "/webhooks/meta"
        sig = "X-Hub-Signature-256: sha256=" + hmac.new(secret, b, hashlib.sha256).hexdigest()
    else:
        path = "/webhooks/waha"
        sig = ("X-Webhook-Hmac: " + hmac.new(waha_key, b, hashlib.sha512).hexdigest()
               + "\r\nX-Webhook-Hmac-Algorithm: sha512")
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\nContent-Length: %d\r\n\r\n"
            % (path, port, sig, len(b))).encode() + b


def request(rng, port, secret, waha_key):
    if rng.random() < 0.4:
        send(port, signed_request(rng, port, secret, waha_key))
        return
    path = rng.choice(["/webhooks/meta", "/webhooks/waha", "/healthz", "/", "/webhooks/meta/",
                       "/webhooks/%6deta", "/" + "a" * rng.randint(1, 20000),
                       "/webhooks/meta?" + pct(rng, "hub.mode=subscribe&hub.challenge=123&hub.verify_token=t"),
                       "/webhooks/meta?" + "&".join("k%d=v" % i for i in range(rng.randint(0, 100)))])
    method = rng.choice(["GET", "POST", "POST", "POST", "PUT", "HEAD", "OPTIONS", "BREW", "", "G\x00T"])
    version = rng.choice(["HTTP/1.1"] * 8 + ["HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", ""])
    b = body(rng)
    headers = ["Host: 127.0.0.1:%d" % port]
    r = rng.random()
    if r < 0.35:
        headers.append("X-Hub-Signature-256: sha256=" + hmac.new(secret, b, hashlib.sha256).hexdigest())
        headers.append("X-Webhook-Hmac: " + hmac.new(waha_key, b, hashlib.sha512).hexdigest())
    elif r < 0.5:
        headers.append("X-Hub-Signature-256: " + rng.choice(["sha256=", "sha1=abc", "sha256=" + "0" * 64,
                                                             "sha256=" + "g" * 64, "x" * 5000]))
        headers.append("X-Webhook-Hmac-Algorithm: " + rng.choice(["sha256", "sha512", "", "\xff"]))
    chunked = rng.random() < 0.15
    if chunked:
        headers.append("Transfer-Encoding: chunked")
    else:
        cl = rng.choice([len(b)] * 8 + [0, len(b) + 10, max(0, len(b) - 5), -1, "abc", "99999999999999999999",
                                         "%d, %d" % (len(b), len(b))])
        headers.append("Content-Length: %s" % cl)
    for _ in range(rng.randint(0, 3)):
        headers.append(rng.choice(["X-Junk: " + "j" * rng.randint(1, 70000), "no colon here",
                                   "Expect: 100-continue", "Connection: keep-alive",
                                   ": empty name", "X-\xff: v", "Content-Length: 3"]))
    head = ("%s %s %s\r\n%s\r\n\r\n" % (method, path, version, "\r\n".join(headers))).encode("latin-1", "replace")
    if chunked:
        payload = b""
        i = 0
        while i < len(b):
            n = rng.randint(1, 5000)
            payload += b"%x\r\n" % n if rng.random() > 0.05 else b"zz\r\n"
            payload += b[i:i + n] + b"\r\n"
            i += n
        payload += b"0\r\n\r\n" if rng.random() > 0.1 else b""
    else:
        payload = b
    data = head + payload
    if rng.random() < 0.1:
        data = data[:rng.randint(0, len(data))]     # closed half way
    send(port, data)


def send(port, data):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.settimeout(3)
        s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
    except OSError:
        pass


def healthz(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            r += c
        return r.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--waha-key", required=True)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    t0 = time.time()
    for i in range(a.count):
        request(rng, a.port, a.secret.encode(), a.waha_key.encode())
    ok = healthz(a.port)
    print("fuzz_http: %d requests in %.1f s (seed %d); /healthz afterwards: %s"
          % (a.count, time.time() - t0, a.seed, "200" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
