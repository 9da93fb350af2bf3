#!/usr/bin/python3
"""
whatsapp_mock.py -- a mock WhatsApp API for guestbook_notify's tests, demo and
benchmark. Python 3 standard library only (Debian 12's python3).

It speaks both providers the worker supports, on one loopback port:

  Cloud API  POST /<version>/<phone_number_id>/messages
             Authorization: Bearer <token>
             -> 200 {"messaging_product":"whatsapp","contacts":[{"input":..,"wa_id":..}],
                     "messages":[{"id":"wamid.<unique>"}]}
             wrong/missing token -> 401 Graph error code 190
             malformed body      -> 400 Graph error code 100
  WAHA       POST /api/sendText   X-Api-Key: <key>
             {"session":..,"chatId":"62...@c.us","text":..}
             -> 201 WAMessage-like JSON; wrong/missing key -> 401

The HTTP/1.1 server is a small hand-written asyncio protocol (keep-alive,
pipelining-safe ordering, Expect: 100-continue, chunked request bodies): it is
much faster than http.server. See mock_ceiling.py for its measured ceiling.

Responses are scriptable per recipient (the digits of `to` / the number of
`chatId`): a list consumed in order, then that number's default, then the
chaos mix (if set), then the global default, then "ok".

Response specs (JSON): an object, or a shorthand string.
  {"kind": "ok"}                              success (optional "status", "wamid")
  {"kind": "graph_error", "code": 131026}     Meta's error body (whatsapp-api.md 1.4);
        optional "status" (default per code: 190 -> 401, 131000 -> 500, 2/131016/
        133004 -> 503, else 400), "message", "details", "type", "subcode"
  {"kind": "http", "status": 502}             plain HTML error page (optional "body",
        "content_type")
  {"kind": "non_json"}                        200, Content-Type application/json, HTML body
  {"kind": "wrong_content_type"}              valid success JSON sent as text/html
  {"kind": "truncated"}                       Content-Length larger than sent, then close
  {"kind": "large", "bytes": 5000000}         very large body (default 5 MB; "json": true
        = a valid success body padded with a big field, false = filler)
  {"kind": "hang"}                            never answer (the connection stays open)
  {"kind": "reset"}                           connection reset (RST) without an answer
  {"kind": "close"}                           clean close without an answer
  Any spec may carry "delay_ms": N (answer after N ms).
  Shorthands: "ok", "hang", "reset", "close", "non_json", "truncated", "large",
  "wrong_content_type", "500" (any 3-digit HTTP status -> kind http), "#131026"
  (Graph error code), "delay:2000" (ok after 2 s), "#130429/delay:500" (combine).

Control endpoints (on the same port):
  POST /_mock/script  {"number": "62812...", "responses": [spec, ...],
                       "default": spec (optional), "append": false}
                      {"default": spec | null}
                      {"chaos": {"seed": 42, "mix": {"ok": 90, "500": 5, "#130429": 5}} | null}
                      (or a JSON list of such objects)
  POST /_mock/config  {"token": "...", "waha_key": "...", "phone_number_id": "..."}
                      (null = accept any value)
  POST /_mock/reset   forget scripts, default, chaos, recorded requests and counters
                      (and restore the command-line config)
  GET  /_mock/requests[?since=SEQ&number=628..&provider=cloud_api|waha&limit=N]
                      every request received: seq, time, method, path, headers (secrets
                      masked; "header_lines" = every header line as sent, in order),
                      parsed JSON body, recipient, auth, response given, and with
                      --openapi-spec the verdict "openapi": {"valid", "operation",
                      "errors"}
  GET  /_mock/validation  with --openapi-spec: every request except WAHA's and the
                      control endpoints' is validated in full (method + path ->
                      operation sendMessage, path/query/header parameters, bearer
                      security, body; validate_openapi.py) as it arrives, before the
                      secrets are masked. The summary {"enabled", "spec", "checked",
                      "valid", "invalid", "crashed", "not_checked": {"waha": N},
                      "invalid_requests": [first 100: seq, method, path, operation,
                      errors]} counts from the start: /_mock/reset does not clear it.
                      Without --openapi-spec: {"enabled": false}.
  GET  /_mock/stats   counters (requests, accepted, by_status/kind/code/recipient,
                      connections, hung, in_flight and in_flight_peak = most API
                      requests received but not yet answered at one time)
  POST /_mock/reset_peak  in_flight_peak := in_flight
  GET  /_mock/health  "ok"
  POST /_mock/release close every connection with a hung request
  GET|POST /_mock/webhooks  signed status webhooks posted back to the receiver
                      after each send, scripted per recipient (WebhookPoster)

Command line:
  whatsapp_mock.py [--host 127.0.0.1] [--port 0] [--port-file F] [--token T]
                   [--waha-key K] [--phone-number-id ID] [--log requests.jsonl]
                   [--max-records N] [--script JSON-or-@file] [--openapi-spec FILE]
With --port 0 a free port is picked; "listening on 127.0.0.1:PORT" is printed on
stdout (and the port written to --port-file) once the socket accepts.
Only loopback addresses are accepted for --host. --openapi-spec needs
python3-yaml and python3-jsonschema; if the spec cannot be loaded the mock
exits (status 2) before it listens.
"""

import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import ipaddress
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import time
import urllib.parse

# --------------------------------------------------------------------------
# Meta's error catalogue (whatsapp-api.md 1.4/1.5): code -> (http status,
# message, error_data.details)
# --------------------------------------------------------------------------
GRAPH_ERRORS = {
    0: (401, "(#0) AuthException", "Unable to authenticate the app user."),
    1: (400, "(#1) An unknown error occurred", "Invalid request or possible server error."),
    2: (503, "(#2) Service temporarily unavailable",
        "Temporary due to downtime or due to being overloaded."),
    3: (400, "(#3) Application does not have the capability to make this API call.",
        "Capability or permissions issue."),
    4: (400, "(#4) Application request limit reached",
        "The app has reached its API call rate limit."),
    10: (403, "(#10) Application does not have permission for this action",
         "Permission is either not granted or has been removed."),
    100: (400, "(#100) Invalid parameter",
          "The request included one or more unsupported or misspelled parameters."),
    190: (401, "Error validating access token: Session has expired on Tuesday, "
               "01-Jul-25 03:00:00 PDT. The current time is Wednesday, 02-Jul-25 04:00:00 PDT.",
          "Your access token has expired."),
    368: (400, "(#368) Temporarily blocked for policies violations",
          "The WhatsApp Business Account associated with the app has been restricted "
          "or disabled for violating a platform policy."),
    80007: (400, "(#80007) Rate limit issues",
            "The WhatsApp Business Account has reached its rate limit."),
    130429: (400, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    130497: (400, "(#130497) Business account is restricted from messaging users in this country",
             "The WhatsApp Business Account is restricted from messaging users in this country."),
    131000: (500, "(#131000) Something went wrong",
             "Message failed to send due to an unknown error."),
    131005: (403, "(#131005) Access denied", "Permission is either not granted or has been removed."),
    131008: (400, "(#131008) Required parameter is missing", "The request is missing a required parameter."),
    131009: (400, "(#131009) Parameter value is not valid", "One or more parameter values are invalid."),
    131016: (503, "(#131016) Service unavailable", "A service is temporarily unavailable."),
    131021: (400, "(#131021) Recipient cannot be sender",
             "Sender and recipient phone number is the same."),
    131026: (400, "(#131026) Message undeliverable",
             "Unable to deliver message. Reasons can include: the recipient phone number "
             "is not a WhatsApp phone number; the recipient has not accepted the new Terms "
             "of Service and Privacy Policy; the recipient is using an old WhatsApp version."),
    131031: (400, "(#131031) Account has been locked",
             "The WhatsApp Business Account associated with the app has been restricted "
             "or disabled."),
    131042: (400, "(#131042) Business eligibility payment issue",
             "There was an error related to your payment method."),
    131045: (400, "(#131045) Incorrect certificate", "Message failed to send due to a phone number "
             "registration error."),
    131047: (400, "(#131047) Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the "
             "customer last replied to this number."),
    131048: (400, "(#131048) Spam rate limit hit",
             "Message failed to send because there are restrictions on how many messages "
             "can be sent from this phone number."),
    131051: (400, "(#131051) Unsupported message type", "Unsupported message type."),
    131056: (400, "(#131056) (Business Account, Consumer Account) pair rate limit hit",
             "Too many messages sent from the sender phone number to the same recipient "
             "phone number in a short period of time."),
    131057: (400, "(#131057) Account in maintenance mode",
             "Business Account is in maintenance mode."),
    132000: (400, "(#132000) Number of parameters does not match the expected number of params",
             "The number of variable parameter values does not match the number of "
             "variables defined in the template."),
    132001: (404, "(#132001) Template name does not exist in the translation",
             "The template does not exist in the specified language or it has not been "
             "approved."),
    133004: (503, "(#133004) Server temporarily unavailable", "Server is temporarily unavailable."),
    133010: (400, "(#133010) Account not registered", "The phone number is not registered on "
             "the Business Platform."),
}
GRAPH_SUBCODES = {130429: 2494055, 190: 463}

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Payload Too Large", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

KINDS = ("ok", "graph_error", "http", "non_json", "wrong_content_type", "truncated",
         "large", "hang", "reset", "close")

MAX_HEADER = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
JSON_CT = "application/json; charset=UTF-8"


class SpecError(ValueError):
    pass


def parse_spec(spec):
    """Normalise a response spec (object or shorthand) into a dict."""
    if spec is None:
        return None
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = str(spec)
    if isinstance(spec, str):
        out = {}
        for part in spec.split("/"):
            part = part.strip()
            if not part:
                continue
            if part.startswith("delay:"):
                out["delay_ms"] = int(part[6:])
                out.setdefault("kind", "ok")
            elif part.startswith("#"):
                out["kind"] = "graph_error"
                out["code"] = int(part[1:])
            elif re.fullmatch(r"[1-5][0-9][0-9]", part):
                out["kind"] = "http"
                out["status"] = int(part)
            elif part in KINDS:
                out["kind"] = part
            else:
                raise SpecError("unknown response shorthand %r" % part)
        spec = out
    if not isinstance(spec, dict):
        raise SpecError("a response spec must be an object or a string, not %r" % (spec,))
    s = dict(spec)
    if "kind" not in s:
        if "code" in s:
            s["kind"] = "graph_error"
        elif "status" in s and s["status"] not in (200, 201):
            s["kind"] = "http"
        else:
            s["kind"] = "ok"
    if s["kind"] not in KINDS:
        raise SpecError("unknown kind %r (one of %s)" % (s["kind"], ", ".join(KINDS)))
    if s["kind"] == "graph_error":
        if not isinstance(s.get("code"), int):
            raise SpecError("graph_error needs an integer \"code\"")
        s.setdefault("status", GRAPH_ERRORS.get(s["code"], (400,))[0])
    if s["kind"] == "http" and not isinstance(s.get("status"), int):
        raise SpecError("kind http needs an integer \"status\"")
    if "delay_ms" in s and (not isinstance(s["delay_ms"], (int, float)) or s["delay_ms"] < 0):
        raise SpecError("delay_ms must be a non-negative number")
    return s


def normalise_number(n):
    d = re.sub(r"[^0-9]", "", str(n).split("@", 1)[0])
    if d.startswith("0"):
        d = "62" + d[1:]
    elif d.startswith("8"):
        d = "62" + d
    return d


class Chaos:
    def __init__(self, conf):
        if not isinstance(conf, dict):
            raise SpecError("chaos must be an object")
        self.conf = conf
        self.rng = random.Random(conf.get("seed", 0))
        mix = conf.get("mix")
        if not mix:
            raise SpecError("chaos needs a non-empty \"mix\"")
        items = []
        if isinstance(mix, dict):
            for k, w in mix.items():
                items.append((float(w), parse_spec(k)))
        elif isinstance(mix, list):
            for e in mix:
                items.append((float(e["weight"]), parse_spec(e["response"])))
        else:
            raise SpecError("chaos mix must be an object or a list")
        total = sum(w for w, _ in items)
        if total <= 0:
            raise SpecError("chaos mix weights must add up to more than 0")
        acc = 0.0
        self.cum = []
        for w, s in items:
            acc += w / total
            self.cum.append((acc, s))

    def pick(self):
        r = self.rng.random()
        for c, s in self.cum:
            if r < c:
                return s
        return self.cum[-1][1]


# --------------------------------------------------------------------------
# Shared state
# --------------------------------------------------------------------------
class State:
    def __init__(self, args):
        self.args = args
        self.started = time.time()
        self.log_file = None
        if args.log:
            self.log_file = open(args.log, "a", encoding="utf-8")
        self.conns = set()
        self.validator = None      # validate_openapi.RequestValidator with --openapi-spec
        self.validation = {"checked": 0, "valid": 0, "invalid": 0, "crashed": 0,
                           "not_checked": collections.Counter(), "invalid_requests": []}
        self.webhooks = WebhookPoster(self)   # status webhooks back to the receiver (issue 12)
        self.reset(full=True)

    def reset(self, full=True):
        a = self.args
        if full:
            self.token = a.token
            self.waha_key = a.waha_key
            self.phone_number_id = a.phone_number_id
        self.scripts = {}          # number -> {"queue": deque, "default": spec}
        self.default = None
        self.chaos = None
        self.records = collections.deque(maxlen=a.max_records if a.max_records > 0 else None)
        self.seq = 0
        self.msg_seq = 0
        self.stats = collections.Counter()
        self.by_status = collections.Counter()
        self.by_kind = collections.Counter()
        self.by_code = collections.Counter()
        self.by_recipient = collections.Counter()
        self.connections_total = 0
        self.hung = 0
        self.in_flight = 0         # API requests received and not answered yet
        self.in_flight_peak = 0

    def begin(self, slot):
        slot.counted = True
        self.in_flight += 1
        if self.in_flight > self.in_flight_peak:
            self.in_flight_peak = self.in_flight

    def end(self, slot):
        if slot.counted:
            slot.counted = False
            self.in_flight -= 1

    def validate(self, method, target, header_lines, body):
        """The OpenAPI verdict on one request (raw headers, before masking)."""
        v = self.validation
        try:
            verdict = self.validator.validate(method, target, header_lines, body,
                                              operations={"sendMessage"})
        except Exception as e:   # a validator bug must fail the tests, not the mock
            v["crashed"] += 1
            verdict = {"valid": False, "operation": None,
                       "errors": ["the validator crashed: %s: %s" % (type(e).__name__, e)]}
        v["checked"] += 1
        v["valid" if verdict["valid"] else "invalid"] += 1
        return verdict

    def choose(self, number):
        sc = self.scripts.get(number)
        if sc is not None:
            if sc["queue"]:
                return sc["queue"].popleft(), "script"
            if sc["default"] is not None:
                return sc["default"], "number_default"
        if self.chaos is not None:
            return self.chaos.pick(), "chaos"
        if self.default is not None:
            return self.default, "default"
        return None, "ok"


def mask_value(k, v):
    k = k.lower()
    if k == "authorization":
        parts = v.split(None, 1)
        if len(parts) == 2:
            return "%s ***(%d chars)" % (parts[0], len(parts[1]))
        return "***(%d chars)" % len(v)
    if k in ("x-api-key", "cookie", "proxy-authorization"):
        return "***(%d chars)" % len(v)
    return v


def mask_headers(headers):
    return {k: mask_value(k, v) for k, v in headers.items()}


def fbtrace(rng=random.Random()):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(rng.choice(alphabet) for _ in range(23))


def graph_error_body(code, message=None, details=None, etype=None, subcode=None):
    st, msg, det = GRAPH_ERRORS.get(code, (400, "(#%d) Mock error" % code, "Mock error %d." % code))
    err = {
        "message": message if message is not None else msg,
        "type": etype if etype is not None else "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp",
                       "details": details if details is not None else det},
    }
    sub = subcode if subcode is not None else GRAPH_SUBCODES.get(code)
    if sub is not None:
        err["error_subcode"] = sub
    err["fbtrace_id"] = fbtrace()
    return {"error": err}


def html_page(status):
    reason = REASONS.get(status, "Error")
    return ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
            "<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n" % (status, reason, status, reason))


def build_head(status, content_type, length, keepalive, extra=None):
    reason = REASONS.get(status, "Status")
    h = ["HTTP/1.1 %d %s" % (status, reason)]
    if content_type is not None:
        h.append("Content-Type: " + content_type)
    h.append("Content-Length: %d" % length)
    if extra:
        h.extend(extra)
    h.append("Connection: keep-alive" if keepalive else "Connection: close")
    return ("\r\n".join(h) + "\r\n\r\n").encode("latin-1")


def json_bytes(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------
# One connection
# --------------------------------------------------------------------------
class Slot:
    __slots__ = ("ready", "action", "data", "close_after", "counted")

    def __init__(self):
        self.counted = False
        self.ready = False
        self.action = None      # "write" | "hang" | "reset" | "close" | "truncated"
        self.data = b""
        self.close_after = False


CLOUD_PATH = re.compile(r"^/([^/]+)/([^/]+)/messages/?$")


class HttpConn(asyncio.Protocol):
    def __init__(self, state):
        self.st = state
        self.t = None
        self.buf = bytearray()
        self.cur = None
        self.arrived = None        # when the current request's first bytes were read
        self.parse_pending = False
        self.slots = collections.deque()
        self.closed = False
        self.sent_continue = False

    # -- transport callbacks -------------------------------------------------
    def connection_made(self, transport):
        self.t = transport
        self.st.conns.add(self)
        self.st.connections_total += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc):
        self.closed = True
        self.st.conns.discard(self)
        for s in self.slots:
            if s.action == "hang":
                self.st.hung -= 1
            self.st.end(s)
        self.slots.clear()

    def data_received(self, data):
        # The arrival time is read here, and the request handled in a later
        # callback: the requests that arrive together are all stamped before
        # any of them is validated and answered, so a request's "time" is
        # when its first bytes were read, not when the mock got round to it
        # (pacing tests compare these times to the millisecond).
        if self.closed:
            return
        if not self.buf and self.cur is None:
            self.arrived = time.time()
        self.buf += data
        if not self.parse_pending:
            self.parse_pending = True
            asyncio.get_running_loop().call_soon(self.parse_later)

    def parse_later(self):
        self.parse_pending = False
        if self.closed:
            return
        try:
            self.parse()
        except Exception as e:  # a parser bug must not kill the server
            self.fatal(400, "bad request: %s" % e)

    # -- parsing ---------------------------------------------------------------
    def fatal(self, status, text):
        body = text.encode()
        self.t.write(build_head(status, "text/plain", len(body), False) + body)
        self.t.close()
        self.closed = True

    def parse(self):
        while not self.closed:
            if self.cur is None:
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    if len(self.buf) > MAX_HEADER:
                        self.fatal(431, "request header too large")
                    return
                head = bytes(self.buf[:i]).decode("latin-1")
                del self.buf[:i + 4]
                lines = head.split("\r\n")
                while lines and lines[0] == "":   # tolerate stray CRLFs
                    lines.pop(0)
                if not lines:
                    continue
                parts = lines[0].split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    self.fatal(400, "bad request line")
                    return
                method, target, version = parts
                headers = {}
                header_lines = []
                for ln in lines[1:]:
                    k, sep, v = ln.partition(":")
                    if not sep:
                        self.fatal(400, "bad header line")
                        return
                    header_lines.append((k.strip(), v.strip()))
                    k = k.strip().lower()
                    v = v.strip()
                    if k in headers:
                        headers[k] += ", " + v
                    else:
                        headers[k] = v
                conn_hdr = headers.get("connection", "").lower()
                if version == "HTTP/1.0":
                    keepalive = "keep-alive" in conn_hdr
                else:
                    keepalive = "close" not in conn_hdr
                chunked = "chunked" in headers.get("transfer-encoding", "").lower()
                try:
                    clen = 0 if chunked else int(headers.get("content-length", "0"))
                except ValueError:
                    self.fatal(400, "bad content-length")
                    return
                if clen < 0 or clen > MAX_BODY:
                    self.fatal(413, "request body too large")
                    return
                self.cur = (method, target, version, headers, clen, chunked, keepalive, header_lines)
                self.sent_continue = False
            method, target, version, headers, clen, chunked, keepalive, header_lines = self.cur
            if chunked:
                body = self.take_chunked()
                if body is None:
                    self.maybe_continue(headers)
                    return
            else:
                if len(self.buf) < clen:
                    self.maybe_continue(headers)
                    return
                body = bytes(self.buf[:clen])
                del self.buf[:clen]
            self.cur = None
            self.request(method, target, headers, body, keepalive, header_lines)

    def maybe_continue(self, headers):
        if not self.sent_continue and headers.get("expect", "").lower() == "100-continue":
            self.sent_continue = True
            if not self.slots:
                self.t.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def take_chunked(self):
        pos = 0
        out = bytearray()
        buf = self.buf
        while True:
            j = buf.find(b"\r\n", pos)
            if j < 0:
                return None
            size = int(bytes(buf[pos:j]).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                k = buf.find(b"\r\n\r\n", j)
                if k < 0:
                    if buf[j:j + 4] == b"\r\n\r\n":
                        k = j
                    else:
                        return None
                del buf[:k + 4]
                return bytes(out)
            if len(buf) < j + 2 + size + 2:
                return None
            out += buf[j + 2:j + 2 + size]
            pos = j + 2 + size + 2
            if len(out) > MAX_BODY:
                raise ValueError("chunked body too large")

    # -- responding --------------------------------------------------------------
    def push(self, slot):
        self.slots.append(slot)
        self.flush()

    def flush(self):
        while self.slots and not self.closed:
            s = self.slots[0]
            if not s.ready:
                return
            self.slots.popleft()
            self.st.end(s)
            if s.action == "write":
                self.t.write(s.data)
                if s.close_after:
                    self.t.close()
                    self.closed = True
            elif s.action == "truncated":
                self.t.write(s.data)
                self.t.close()
                self.closed = True
            elif s.action == "close":
                self.t.close()
                self.closed = True
            elif s.action == "reset":
                sock = self.t.get_extra_info("socket")
                try:
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
                self.t.abort()
                self.closed = True

    def respond(self, status, ctype, body, keepalive, extra=None, close_after=False, count=False):
        s = Slot()
        if count:
            self.st.begin(s)
        s.ready = True
        s.action = "write"
        s.data = build_head(status, ctype, len(body), keepalive and not close_after, extra) + body
        s.close_after = close_after or not keepalive
        self.push(s)

    def respond_json(self, status, obj, keepalive):
        self.respond(status, JSON_CT, json_bytes(obj), keepalive)

    # -- routing -------------------------------------------------------------------
    def request(self, method, target, headers, body, keepalive, header_lines=()):
        path, _, query = target.partition("?")
        if path.startswith("/_mock/"):
            self.control(method, path, query, headers, body, keepalive)
            return
        st = self.st
        rec = {"seq": 0, "time": self.arrived or time.time(), "method": method, "path": target,
               "headers": mask_headers(headers),
               "header_lines": [[k, mask_value(k, v)] for k, v in header_lines],
               "body": None, "provider": None,
               "recipient": None, "auth": None, "problems": [], "response": None}
        if st.validator is not None:
            if method == "POST" and path.rstrip("/") == "/api/sendText":
                st.validation["not_checked"]["waha"] += 1   # not in Meta's spec
            else:
                rec["openapi"] = st.validate(method, target, header_lines, body)
        try:
            parsed = json.loads(body) if body else None
            rec["body"] = parsed
        except ValueError:
            parsed = None
            rec["body_raw"] = body[:2000].decode("utf-8", "replace")
            rec["problems"].append("body is not JSON")
        m = CLOUD_PATH.match(path)
        if method == "POST" and m:
            self.cloud(rec, m, headers, body, parsed, keepalive)
        elif method == "POST" and path.rstrip("/") == "/api/sendText":
            self.waha(rec, headers, body, parsed, keepalive)
        else:
            rec["provider"] = "other"
            out = graph_error_body(100, message="Unknown path components: %s" % path,
                                   details="No such endpoint in the mock.")
            self.finish(rec, {"kind": "graph_error", "status": 404, "code": 100}, "route",
                        lambda: (404, JSON_CT, json_bytes(out)), keepalive)

    def cloud(self, rec, m, headers, body, parsed, keepalive):
        st = self.st
        rec["provider"] = "cloud_api"
        rec["phone_number_id"] = m.group(2)
        to = parsed.get("to") if isinstance(parsed, dict) else None
        number = normalise_number(to) if isinstance(to, str) else None
        rec["recipient"] = number
        ct = headers.get("content-type", "")
        if not ct.lower().startswith("application/json"):
            rec["problems"].append("content-type is %r, not application/json" % ct)
        # 1. the token
        auth = headers.get("authorization")
        if auth is None or not auth.startswith("Bearer ") or not auth[7:].strip():
            rec["auth"] = "missing"
        elif st.token is not None and auth[7:].strip() != st.token:
            rec["auth"] = "wrong"
        else:
            rec["auth"] = "ok"
        if rec["auth"] != "ok":
            self.graph_fail(rec, 190, None, "auth", keepalive)
            return
        # 2. the phone number id
        if st.phone_number_id is not None and m.group(2) != st.phone_number_id:
            msg = ("Unsupported post request. Object with ID '%s' does not exist, cannot be "
                   "loaded due to missing permissions, or does not support this operation. "
                   "Please read the Graph API documentation at "
                   "https://developers.facebook.com/docs/graph-api" % m.group(2))
            self.graph_fail(rec, 100, None, "validation", keepalive, message=msg, subcode=33)
            return
        # 3. the body, lightly
        problem = self.check_cloud_body(parsed, body)
        if problem is not None:
            rec["problems"].append(problem)
            self.graph_fail(rec, 100, None, "validation", keepalive,
                            message="(#100) " + problem, details=problem)
            return
        spec, source = st.choose(number)
        if spec is None:
            spec = {"kind": "ok"}
        self.perform(rec, spec, source, "cloud_api", to, number, parsed, keepalive)

    @staticmethod
    def check_cloud_body(p, body):
        if not body:
            return "The request body is empty."
        if not isinstance(p, dict):
            return "The request body must be a JSON object."
        if p.get("messaging_product") != "whatsapp":
            return "The parameter messaging_product is required and must be \"whatsapp\"."
        if p.get("recipient_type") not in ("individual", "group"):
            return "The parameter recipient_type is required (individual)."
        to = p.get("to")
        if not isinstance(to, str) or not re.search(r"[0-9]", to):
            return "The parameter to is required."
        typ = p.get("type")
        if typ == "text":
            t = p.get("text")
            if not isinstance(t, dict) or not isinstance(t.get("body"), str) or not t["body"]:
                return "The parameter text['body'] is required."
            if len(t["body"]) > 4096:
                return "Param text['body'] must be at most 4096 characters long."
        elif typ == "template":
            t = p.get("template")
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
                return "The parameter template['name'] is required."
            lang = t.get("language")
            if not isinstance(lang, dict) or not isinstance(lang.get("code"), str) or not lang["code"]:
                return "The parameter template['language']['code'] is required."
            if lang.get("policy") != "deterministic":
                return "The parameter template['language']['policy'] must be \"deterministic\"."
            comps = t.get("components", [])
            if not isinstance(comps, list):
                return "Param template['components'] must be an array."
            for c in comps:
                if not isinstance(c, dict) or not isinstance(c.get("type"), str):
                    return "Param template['components'][]['type'] is required."
                for prm in c.get("parameters", []) or []:
                    if not isinstance(prm, dict) or prm.get("type") != "text" \
                            or not isinstance(prm.get("text"), str):
                        return ("Param template['components'][]['parameters'][] must be "
                                "{\"type\":\"text\",\"text\":...}.")
                    if "\n" in prm["text"] or "\t" in prm["text"] or "     " in prm["text"]:
                        return ("(#132018) Param text cannot have new-line/tab characters "
                                "or more than 4 consecutive spaces")
        else:
            return "The parameter type must be text or template (got %r)." % (typ,)
        return None

    def waha(self, rec, headers, body, parsed, keepalive):
        st = self.st
        rec["provider"] = "waha"
        chat = parsed.get("chatId") if isinstance(parsed, dict) else None
        number = normalise_number(chat) if isinstance(chat, str) else None
        rec["recipient"] = number
        key = headers.get("x-api-key")
        if key is None or key == "":
            rec["auth"] = "missing"
        elif st.waha_key is not None and key != st.waha_key:
            rec["auth"] = "wrong"
        else:
            rec["auth"] = "ok"
        if rec["auth"] != "ok":
            out = {"message": "Unauthorized", "statusCode": 401}
            self.finish(rec, {"kind": "http", "status": 401}, "auth",
                        lambda: (401, JSON_CT, json_bytes(out)), keepalive)
            return
        problems = []
        if not isinstance(parsed, dict):
            problems.append("body must be a JSON object")
        else:
            if not isinstance(parsed.get("session"), str) or not parsed["session"]:
                problems.append("session must be a string")
            if not isinstance(chat, str) or not re.fullmatch(r"[0-9]{6,20}@c\.us", chat):
                problems.append("chatId must be like 6281234567890@c.us")
            if not isinstance(parsed.get("text"), str) or not parsed["text"]:
                problems.append("text must be a non-empty string")
        if problems:
            rec["problems"].extend(problems)
            out = {"message": problems, "error": "Bad Request", "statusCode": 400}
            self.finish(rec, {"kind": "http", "status": 400}, "validation",
                        lambda: (400, JSON_CT, json_bytes(out)), keepalive)
            return
        spec, source = st.choose(number)
        if spec is None:
            spec = {"kind": "ok"}
        self.perform(rec, spec, source, "waha", chat, number, parsed, keepalive)

    def graph_fail(self, rec, code, status, source, keepalive, **kw):
        spec = {"kind": "graph_error", "code": code,
                "status": status or GRAPH_ERRORS.get(code, (400,))[0]}
        spec.update({k: v for k, v in kw.items() if v is not None})
        self.perform(rec, spec, source, "cloud_api", None, rec.get("recipient"), None, keepalive)

    def new_message_id(self, provider, number, to):
        st = self.st
        st.msg_seq += 1
        salt = random.getrandbits(48)
        if provider == "cloud_api":
            # the shape of real ids: base64 of 1C 18 <len> <wa_id> 15 02 00 11 18 12 <18 hex> 00
            num = (number or "0").encode()
            raw = (b"\x1c\x18" + bytes([len(num)]) + num + b"\x15\x02\x00\x11\x18\x12"
                   + ("%08X%010X" % (st.msg_seq & 0xFFFFFFFF, salt & 0xFFFFFFFFFF)).encode() + b"\x00")
            return "wamid." + base64.b64encode(raw).decode()
        return "true_%s@c.us_3EB0%08X%012X" % (number or "0", st.msg_seq, salt)

    def perform(self, rec, spec, source, provider, to, number, parsed, keepalive):
        st = self.st
        kind = spec["kind"]
        extra = None

        def make():
            # -> (status, content_type, body bytes) for kinds that answer
            if kind == "ok" or kind == "wrong_content_type" or (kind == "large" and spec.get("json", True)):
                obj = self.success_obj(provider, to, number, parsed, spec, rec)
                status = spec.get("status", 200 if provider == "cloud_api" else 201)
                if kind == "large":
                    size = int(spec.get("bytes", 5_000_000))
                    obj["padding"] = ""
                    obj["padding"] = "x" * max(0, size - len(json_bytes(obj)))
                    return status, JSON_CT, json_bytes(obj)
                ctype = JSON_CT if kind == "ok" else spec.get("content_type", "text/html; charset=UTF-8")
                return status, ctype, json_bytes(obj)
            if kind == "large":
                size = int(spec.get("bytes", 5_000_000))
                return spec.get("status", 200), spec.get("content_type", "text/plain"), b"x" * size
            if kind == "graph_error":
                code = spec["code"]
                if provider == "waha":
                    msg = spec.get("message") or GRAPH_ERRORS.get(code, (0, "Mock error %d" % code))[1]
                    obj = {"statusCode": spec["status"], "message": msg,
                           "error": REASONS.get(spec["status"], "Error"), "code": code}
                else:
                    obj = graph_error_body(code, spec.get("message"), spec.get("details"),
                                           spec.get("type"), spec.get("subcode"))
                rec["response"]["code"] = code
                return spec["status"], JSON_CT, json_bytes(obj)
            if kind == "http":
                status = spec["status"]
                b = spec.get("body")
                if b is None:
                    return status, spec.get("content_type", "text/html"), html_page(status).encode()
                if not isinstance(b, str):
                    return status, spec.get("content_type", JSON_CT), json_bytes(b)
                return status, spec.get("content_type", "text/html"), b.encode("utf-8")
            if kind == "non_json":
                b = spec.get("body", "<html><body><h1>Service temporarily unavailable</h1>"
                                     "<p>The upstream is in maintenance.</p></body></html>")
                return spec.get("status", 200), spec.get("content_type", JSON_CT), b.encode("utf-8")
            if kind == "truncated":
                obj = self.success_obj(provider, to, number, parsed, spec, rec)
                return spec.get("status", 200), JSON_CT, json_bytes(obj)
            raise AssertionError(kind)

        rec["response"] = {"kind": kind, "source": source}
        if "delay_ms" in spec:
            rec["response"]["delay_ms"] = spec["delay_ms"]
        slot = Slot()
        st.begin(slot)
        if kind in ("hang", "reset", "close"):
            slot.action = kind
            rec["response"]["status"] = None
        else:
            status, ctype, data = make()
            rec["response"]["status"] = status
            if kind == "truncated":
                slot.action = "truncated"
                cut = max(1, len(data) // 2)
                slot.data = build_head(status, ctype, len(data) + 100, False) + data[:cut]
                rec["response"]["content_length"] = len(data) + 100
                rec["response"]["bytes_sent"] = cut
            else:
                slot.action = "write"
                slot.data = build_head(status, ctype, len(data), keepalive, extra) + data
                slot.close_after = not keepalive
                if kind in ("large", "non_json", "wrong_content_type", "http"):
                    rec["response"]["bytes"] = len(data)
                    rec["response"]["content_type"] = ctype
        self.record(rec)
        delay = spec.get("delay_ms", 0)
        if kind == "hang":
            st.hung += 1
            self.slots.append(slot)   # never becomes ready
            return
        # status webhooks back to the receiver (WebhookPoster, issue 12); the
        # answer waits for those scripted to arrive before it
        hold = st.webhooks.after_send(provider, number, rec["response"].get("id")) \
            if kind == "ok" else None
        if delay or hold is not None:
            self.slots.append(slot)

            def fire(slot=slot):
                slot.ready = True
                if not self.closed:
                    self.flush()
            if hold is None:
                asyncio.get_running_loop().call_later(delay / 1000.0, fire)
            else:
                hold.add_done_callback(
                    lambda _f, fire=fire: asyncio.get_running_loop().call_later(delay / 1000.0, fire))
        else:
            slot.ready = True
            self.push(slot)

    def success_obj(self, provider, to, number, parsed, spec, rec):
        if provider == "cloud_api":
            wamid = spec.get("wamid") or self.new_message_id("cloud_api", number, to)
            rec["response"]["id"] = wamid
            return {"messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": number}],
                    "messages": [{"id": wamid}]}
        mid = spec.get("wamid") or self.new_message_id("waha", number, to)
        rec["response"]["id"] = mid
        session = parsed.get("session", "default") if isinstance(parsed, dict) else "default"
        return {"id": mid, "timestamp": int(time.time()), "from": "6281100000000@c.us",
                "fromMe": True, "source": "api", "to": to, "body": parsed.get("text"),
                "hasMedia": False, "ack": 1, "ackName": "SERVER", "session": session,
                "_data": {}}

    def finish(self, rec, spec_summary, source, make, keepalive):
        status, ctype, data = make()
        rec["response"] = dict(spec_summary, source=source, status=status)
        self.record(rec)
        self.respond(status, ctype, data, keepalive, count=True)

    def record(self, rec):
        st = self.st
        st.seq += 1
        rec["seq"] = st.seq
        st.records.append(rec)
        verdict = rec.get("openapi")
        if verdict is not None and not verdict["valid"] and \
                len(st.validation["invalid_requests"]) < 100:
            st.validation["invalid_requests"].append(
                {"seq": rec["seq"], "method": rec["method"], "path": rec["path"],
                 "operation": verdict.get("operation"), "errors": verdict["errors"]})
        resp = rec["response"]
        st.stats["requests"] += 1
        st.stats[rec["provider"]] += 1
        st.by_status[str(resp.get("status"))] += 1
        st.by_kind[resp["kind"]] += 1
        if "code" in resp:
            st.by_code[str(resp["code"])] += 1
        if rec["recipient"]:
            st.by_recipient[rec["recipient"]] += 1
        if resp["kind"] in ("ok", "wrong_content_type") or (resp["kind"] == "large" and "id" in resp):
            st.stats["accepted"] += 1
        if st.log_file is not None:
            st.log_file.write(json.dumps(rec, ensure_ascii=False) + "\n")

    # -- control endpoints -----------------------------------------------------------
    def control(self, method, path, query, headers, body, keepalive):
        st = self.st
        if path == "/_mock/webhooks":   # issue 12: WebhookPoster's own endpoint
            return st.webhooks.control(self, method, body, keepalive)
        try:
            if path == "/_mock/health":
                self.respond(200, "text/plain", b"ok\n", keepalive)
            elif path == "/_mock/requests" and method == "GET":
                q = urllib.parse.parse_qs(query)
                since = int(q.get("since", ["0"])[0])
                number = q.get("number", [None])[0]
                provider = q.get("provider", [None])[0]
                limit = int(q.get("limit", ["0"])[0])
                if number:
                    number = normalise_number(number)
                out = [r for r in st.records
                       if r["seq"] > since
                       and (number is None or r["recipient"] == number)
                       and (provider is None or r["provider"] == provider)]
                if limit > 0:
                    out = out[:limit]
                self.respond_json(200, {"count": len(out), "last_seq": st.seq,
                                        "requests": out}, keepalive)
            elif path == "/_mock/validation" and method == "GET":
                self.respond_json(200, self.validation_obj(), keepalive)
            elif path == "/_mock/stats" and method == "GET":
                self.respond_json(200, self.stats_obj(), keepalive)
            elif path == "/_mock/reset" and method == "POST":
                st.reset(full=True)
                st.in_flight = sum(1 for c in st.conns for sl in c.slots if sl.counted)
                self.respond_json(200, {"reset": True}, keepalive)
            elif path == "/_mock/reset_peak" and method == "POST":
                st.in_flight_peak = st.in_flight
                self.respond_json(200, {"in_flight": st.in_flight}, keepalive)
            elif path == "/_mock/release" and method == "POST":
                n = 0
                for c in list(st.conns):
                    if any(s.action == "hang" for s in c.slots):
                        c.t.close()
                        n += 1
                self.respond_json(200, {"released_connections": n}, keepalive)
            elif path == "/_mock/script" and method == "POST":
                conf = json.loads(body or b"null")
                items = conf if isinstance(conf, list) else [conf]
                done = [self.apply_script(c) for c in items]
                self.respond_json(200, {"ok": True, "applied": done}, keepalive)
            elif path == "/_mock/config" and method == "POST":
                conf = json.loads(body or b"{}")
                if not isinstance(conf, dict):
                    raise SpecError("config must be an object")
                for k in ("token", "waha_key", "phone_number_id"):
                    if k in conf:
                        setattr(st, k, conf[k])
                self.respond_json(200, {"ok": True}, keepalive)
            else:
                self.respond_json(404, {"error": "no such control endpoint: %s %s" % (method, path)},
                                  keepalive)
        except (SpecError, ValueError, KeyError, TypeError) as e:
            self.respond_json(400, {"error": str(e)}, keepalive)

    def apply_script(self, c):
        st = self.st
        if not isinstance(c, dict):
            raise SpecError("a script must be an object")
        done = {}
        if "number" in c:
            number = normalise_number(c["number"])
            if not number:
                raise SpecError("number has no digits")
            resp = [parse_spec(x) for x in c.get("responses", [])]
            sc = st.scripts.get(number)
            if sc is None or not c.get("append", False):
                sc = {"queue": collections.deque(), "default": None}
                st.scripts[number] = sc
            sc["queue"].extend(resp)
            if "default" in c:
                sc["default"] = parse_spec(c["default"])
            done["number"] = number
            done["queued"] = len(sc["queue"])
        else:
            if "default" in c:
                st.default = parse_spec(c["default"])
                done["default"] = st.default
            if "chaos" in c:
                st.chaos = Chaos(c["chaos"]) if c["chaos"] is not None else None
                done["chaos"] = c["chaos"] is not None
            if not done:
                raise SpecError("a script needs \"number\", \"default\" or \"chaos\"")
        return done

    def validation_obj(self):
        st = self.st
        if st.validator is None:
            return {"enabled": False}
        v = st.validation
        return {"enabled": True, "spec": st.validator.spec_path,
                "checked": v["checked"], "valid": v["valid"], "invalid": v["invalid"],
                "crashed": v["crashed"], "not_checked": dict(v["not_checked"]),
                "invalid_requests": v["invalid_requests"]}

    def stats_obj(self):
        st = self.st
        return {"requests": st.stats["requests"],
                "accepted": st.stats["accepted"],
                "cloud_api": st.stats["cloud_api"], "waha": st.stats["waha"],
                "other": st.stats["other"],
                "by_status": dict(st.by_status), "by_kind": dict(st.by_kind),
                "by_code": dict(st.by_code), "by_recipient": dict(st.by_recipient),
                "connections_open": len(st.conns),
                "connections_total": st.connections_total,
                "hung": st.hung,
                "in_flight": st.in_flight, "in_flight_peak": st.in_flight_peak,
                "scripts_pending": {n: len(s["queue"]) for n, s in st.scripts.items() if s["queue"]},
                "uptime_s": round(time.time() - st.started, 3)}


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------
# --------------------------------------------------------------------------
# Webhooks back to the receiver (guestbook_notify_web, issue 12)
#
# After a successful send, WebhookPoster posts signed status webhooks to the
# receiver, as Meta (X-Hub-Signature-256: sha256=HMAC-SHA256 of the body with
# the app secret) or WAHA (message.ack events, X-Webhook-Hmac: HMAC-SHA512
# with the HMAC key) would, scripted per recipient:
#
#   POST /_mock/webhooks  {"meta_url": "http://127.0.0.1:P/webhooks/meta",
#                          "meta_app_secret": "...",
#                          "waha_url": "http://127.0.0.1:P/webhooks/waha",
#                          "waha_hmac_key": "...", "waha_session": "default",
#                          "scripts": {"6281...": [step, ...]},
#                          "default": [step, ...],
#                          "retry": {"attempts": 3, "delay_ms": 500}}
#     step: {"status": "sent|delivered|read|failed|played", "delay_ms": N,
#            "code": 131026, "title": "...", "details": "...",   (failed)
#            "before_answer": true,   posted (and its answer awaited) before
#                                     the send is answered: the status can
#                                     reach the receiver before the worker
#                                     has recorded the message id
#            "repeat": N}             posted N times (duplicates)
#     Steps run in list order, each delay_ms after the previous one.
#   POST /_mock/webhooks  {"reset": true}    forget the configuration and log
#   GET  /_mock/webhooks  the configuration (secrets masked) and every post
#                         made: {seq, time, provider, number, message_id,
#                         status, http_status, attempts, error}
# A post that is not answered 200 is retried (retry.attempts in all, every
# retry.delay_ms), as Meta retries; the last answer is logged.
# --------------------------------------------------------------------------
WAHA_ACKS = {"failed": (-1, "ERROR"), "sent": (1, "SERVER"), "delivered": (2, "DEVICE"),
             "read": (3, "READ"), "played": (4, "PLAYED")}


class WebhookPoster:
    def __init__(self, state):
        self.st = state
        self.conf = None
        self.log = []
        self.seq = 0
        self.evt = 0

    # -- control -------------------------------------------------------------
    def control(self, conn, method, body, keepalive):
        try:
            if method == "GET":
                conf = dict(self.conf or {})
                for k in ("meta_app_secret", "waha_hmac_key"):
                    if k in conf:
                        conf[k] = "***(%d chars)" % len(conf[k])
                conn.respond_json(200, {"config": conf, "posted": self.log,
                                        "pending": self.pending()}, keepalive)
                return
            conf = json.loads(body or b"{}")
            if not isinstance(conf, dict):
                raise SpecError("webhooks config must be an object")
            if conf.get("reset"):
                self.conf = None
                self.log = []
                conn.respond_json(200, {"ok": True}, keepalive)
                return
            for k in ("scripts",):
                if not isinstance(conf.get(k, {}), dict):
                    raise SpecError("%s must be an object" % k)
            steps = [conf.get("default", [])] + list(conf.get("scripts", {}).values())
            for lst in steps:
                if not isinstance(lst, list):
                    raise SpecError("a script is a list of steps")
                for stp in lst:
                    if not isinstance(stp, dict) or stp.get("status") not in WAHA_ACKS:
                        raise SpecError("a step needs \"status\": sent, delivered, read, failed or played")
            conf["scripts"] = {normalise_number(k): v for k, v in conf.get("scripts", {}).items()}
            self.conf = conf
            conn.respond_json(200, {"ok": True}, keepalive)
        except (SpecError, ValueError, TypeError) as e:
            conn.respond_json(400, {"error": str(e)}, keepalive)

    def pending(self):
        return sum(1 for r in self.log if r.get("http_status") is None and r.get("error") is None)

    # -- after a send ------------------------------------------------------------
    def after_send(self, provider, number, message_id):
        """Schedule the number's steps; returns a future the answer must wait
        for (steps with before_answer), or None."""
        c = self.conf
        if not c or not message_id or provider not in ("cloud_api", "waha"):
            return None
        url = c.get("meta_url") if provider == "cloud_api" else c.get("waha_url")
        if not url:
            return None
        steps = c.get("scripts", {}).get(number, c.get("default", []))
        if not steps:
            return None
        loop = asyncio.get_running_loop()
        before = [s for s in steps if s.get("before_answer")]
        after = [s for s in steps if not s.get("before_answer")]
        hold = None
        if before:
            hold = loop.create_task(self.run_steps(provider, number, message_id, before))
        if after:
            loop.create_task(self.run_steps(provider, number, message_id, after))
        return hold

    async def run_steps(self, provider, number, message_id, steps):
        for stp in steps:
            if stp.get("delay_ms"):
                await asyncio.sleep(stp["delay_ms"] / 1000.0)
            for _ in range(max(1, int(stp.get("repeat", 1)))):
                await self.post_status(provider, number, message_id, stp)

    # -- bodies -------------------------------------------------------------------
    def meta_body(self, number, message_id, stp):
        st = {"id": message_id, "status": stp["status"], "timestamp": str(int(time.time())),
              "recipient_id": number}
        if stp["status"] in ("sent", "delivered", "read"):
            st["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular",
                             "category": "utility"}
        if stp["status"] == "failed":
            code = int(stp.get("code", 131026))
            known = GRAPH_ERRORS.get(code, (400, "(#%d) Mock error" % code, "Mock error %d." % code))
            title = stp.get("title") or re.sub(r"^\(#\d+\) ", "", known[1])
            st["errors"] = [{"code": code, "title": title, "message": title,
                             "error_data": {"details": stp.get("details") or known[2]},
                             "href": "/documentation/business-messaging/whatsapp/support/error-codes"}]
        body = {"object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398",
                           "changes": [{"value": {"messaging_product": "whatsapp",
                                                  "metadata": {"display_phone_number": "15550783881",
                                                               "phone_number_id": self.st.phone_number_id
                                                               or "106540352242922"},
                                                  "statuses": [st]},
                                        "field": "messages"}]}]}
        # Meta escapes non-ASCII (\u00e4): the signature covers these bytes
        return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")

    def waha_body(self, number, message_id, stp):
        self.evt += 1
        ack, name = WAHA_ACKS[stp["status"]]
        body = {"id": "evt_%013X%013X" % (int(time.time() * 1000), self.evt),
                "timestamp": int(time.time() * 1000), "event": "message.ack",
                "session": self.conf.get("waha_session", "default"),
                "metadata": {}, "me": {"id": "6281100000000@c.us", "pushName": "Guestbook"},
                "payload": {"id": message_id, "from": "6281100000000@c.us",
                            "to": "%s@c.us" % number, "fromMe": True, "ack": ack,
                            "ackName": name},
                "engine": "WEBJS", "environment": {"tier": "CORE", "version": "mock"}}
        return json.dumps(body, separators=(",", ":")).encode("utf-8"), body["id"]

    # -- posting ------------------------------------------------------------------
    async def post_status(self, provider, number, message_id, stp):
        c = self.conf
        if c is None:
            return
        self.seq += 1
        rec = {"seq": self.seq, "time": time.time(), "provider": provider, "number": number,
               "message_id": message_id, "status": stp["status"], "http_status": None,
               "attempts": 0, "error": None}
        self.log.append(rec)
        if provider == "cloud_api":
            url = c["meta_url"]
            body = self.meta_body(number, message_id, stp)
            sig = hmac.new(c.get("meta_app_secret", "").encode(), body, hashlib.sha256).hexdigest()
            headers = {"X-Hub-Signature-256": "sha256=" + sig}
        else:
            url = c["waha_url"]
            body, evt = self.waha_body(number, message_id, stp)
            sig = hmac.new(c.get("waha_hmac_key", "").encode(), body, hashlib.sha512).hexdigest()
            headers = {"X-Webhook-Request-Id": evt,
                       "X-Webhook-Timestamp": str(int(time.time() * 1000)),
                       "X-Webhook-Hmac": sig, "X-Webhook-Hmac-Algorithm": "sha512"}
        retry = c.get("retry", {})
        attempts = max(1, int(retry.get("attempts", 3)))
        for i in range(attempts):
            rec["attempts"] = i + 1
            try:
                rec["http_status"] = await http_post(url, body, headers)
                rec["error"] = None
            except (OSError, asyncio.TimeoutError, ValueError) as e:
                rec["http_status"] = None
                rec["error"] = "%s: %s" % (type(e).__name__, e)
            if rec["http_status"] == 200:
                break
            if i + 1 < attempts:
                await asyncio.sleep(int(retry.get("delay_ms", 500)) / 1000.0)
        rec["done"] = time.time()


async def http_post(url, body, headers, timeout=10.0):
    """One HTTP/1.1 POST (Connection: close); returns the status code."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise ValueError("only http:// URLs: %r" % url)
    port = u.port or 80
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(u.hostname, port), timeout)
    try:
        head = ["POST %s HTTP/1.1" % path, "Host: %s:%d" % (u.hostname, port),
                "Content-Type: application/json", "Content-Length: %d" % len(body),
                "Connection: close"]
        head += ["%s: %s" % kv for kv in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), timeout)
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        if not m:
            raise ValueError("no HTTP status line in the answer")
        return int(m.group(1))
    finally:
        writer.close()




def check_loopback(host):
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    sys.exit("whatsapp_mock: --host must be a loopback address (127.0.0.0/8, ::1, localhost), not %r" % host)


def load_validator(path):
    """validate_openapi.RequestValidator for the spec, or exit 2 saying why."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import validate_openapi
        return validate_openapi.RequestValidator(path)
    except Exception as e:   # SpecProblem, or anything else: the tests must not go on
        print("whatsapp_mock: cannot validate against the OpenAPI spec %s: %s" % (path, e),
              file=sys.stderr, flush=True)
        sys.exit(2)


async def main_async(args):
    state = State(args)
    if args.openapi_spec:
        state.validator = load_validator(args.openapi_spec)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpConn(state), args.host, args.port,
                                      reuse_address=True, backlog=1024)
    sock = server.sockets[0]
    port = sock.getsockname()[1]
    if args.script:
        text = args.script
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        conf = json.loads(text)
        dummy = HttpConn(state)
        for c in (conf if isinstance(conf, list) else [conf]):
            dummy.apply_script(c)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("listening on %s:%d" % (args.host, port), flush=True)

    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        try:
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(True))
        except (NotImplementedError, RuntimeError):
            pass

    async def flusher():
        while True:
            await asyncio.sleep(0.2)
            if state.log_file is not None:
                state.log_file.flush()
    ft = loop.create_task(flusher())
    await stop
    ft.cancel()
    server.close()
    for c in list(state.conns):
        c.t.abort()
    if state.log_file is not None:
        state.log_file.close()


def main():
    ap = argparse.ArgumentParser(description="Mock WhatsApp Cloud API / WAHA server (loopback only)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the port number here once listening")
    ap.add_argument("--token", default=None,
                    help="the expected Cloud API access token (default: accept any)")
    ap.add_argument("--waha-key", default=None,
                    help="the expected WAHA X-Api-Key (default: accept any non-empty)")
    ap.add_argument("--phone-number-id", default=None,
                    help="the expected phone-number id in the path (default: any)")
    ap.add_argument("--log", help="append every request as a JSON line to this file")
    ap.add_argument("--max-records", type=int, default=200000,
                    help="requests kept in memory for /_mock/requests (0 = unbounded)")
    ap.add_argument("--script", help="JSON (or @file) applied as POST /_mock/script at start")
    ap.add_argument("--openapi-spec", metavar="FILE",
                    help="validate every non-WAHA request against this OpenAPI spec "
                         "(tests/openapi/business-messaging-api_v23.0.yaml): GET /_mock/validation")
    args = ap.parse_args()
    check_loopback(args.host)
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
