#!/usr/bin/python3
"""
validate_openapi.py -- validate whole HTTP requests against Meta's OpenAPI spec
(tests/openapi/business-messaging-api_v23.0.yaml, OpenAPI 3.1): the operation
is found from the method and the path, then checked are the path parameters,
the query parameters, the header parameters, the security scheme and the
request body. Needs Debian's python3-yaml and python3-jsonschema (>= 4).

    validate_openapi.py --self-test [--spec FILE]
    validate_openapi.py --url http://127.0.0.1:PORT [--require-some]
    validate_openapi.py [--spec FILE] [--operation ID | --any-operation] INPUT...

--self-test  proves the check can fail: each known defect (a body without
             recipient_type, a template without language.policy, User-Agent
             guestbook_notify/1.0, a missing or malformed Authorization, a
             wrong Content-Type, an unknown path, ...) is rejected for its own
             reason, and correct requests are accepted.
--url        asks a running mock (whatsapp_mock.py --openapi-spec FILE) for
             its verdicts (GET /_mock/validation): the mock validates each
             request as it arrives, before it masks the secrets.
INPUT        a JSON (or JSON lines) file, "-" = stdin, holding request objects
             {"method": "POST", "path": "/v23.0/1065.../messages?x=y",
              "headers": {"User-Agent": ..} or [["User-Agent", ..], ..],
              "body": <JSON value> | "body_raw": "<text as sent>"}
             validated in full (as operation sendMessage unless --operation
             or --any-operation say otherwise), or the mock's records (GET
             /_mock/requests or its --log file), whose recorded "openapi"
             verdict is reported (their headers are masked: not re-checkable).
The spec defaults to $GBN_OPENAPI_SPEC, else tests/openapi/ beside this file.
Exit status: 0 all valid, 1 something invalid, 2 usage, spec or dependency
problem, 3 nothing validated while --require-some was given.

What "valid" means here (RequestValidator):
  * operation: a path template of the spec (each {Param} one path segment,
    templates with more literal text first) that defines the method, and
    whose operationId is one the caller allows (the mock and the self-test:
    sendMessage only, since Meta's spec would also read POST /123/messages,
    a URL without the version, as updateGroupSettings of group "messages");
    otherwise the request is invalid ("unknown operation"). Meta's spec has
    equivalent templates (/{Version}/{WABA-ID}, /{Version}/{Flow-ID}, ...):
    a request is valid if it is valid for one of them.
  * parameters (path item and operation, $refs resolved): required ones
    present; every value, as sent (path segments percent-decoded), valid
    against the parameter's schema (e.g. User-Agent against the UserAgent
    pattern, Authorization against its pattern, Content-Type against its
    enum: byte-exact, "application/json; charset=utf-8" is not in it).
    OpenAPI 3.1 says header parameters named Accept, Content-Type and
    Authorization "SHALL be ignored"; Meta defines them anyway and they are
    applied here, as Meta wrote them. A query parameter the operation does
    not declare is reported; headers it does not declare (Host, Accept,
    Content-Length, ...) are not; a declared header sent twice is.
  * security: one of the operation's requirements satisfied (bearerAuth =
    "Authorization: Bearer <token68>").
  * body: requestBody.required honoured; a body where the operation takes
    none is reported; the media type of Content-Type (parameters dropped)
    must be one of requestBody.content; application/json bodies are parsed
    and validated (JSON Schema 2020-12) against the media type's schema.
    Other media types are reported as "not checked" = invalid.

Two readings of the schemas:
  default   Meta writes every message type as allOf[BaseMessageProperties,
            {type-specific part with additionalProperties: false}]. Read
            literally (JSON Schema evaluates each allOf branch alone), that
            additionalProperties would forbid messaging_product, to, ... and
            reject even Meta's own examples; OpenAPI tools (Prism: accepted
            in whatsapp-api.md 2.3) treat allOf as one merged object. So every
            allOf of object schemas is merged first (properties and required
            united, additionalProperties false if a branch says so). Every
            discriminator is then applied: the value of its property selects
            the mapped schema (for oneOf: instead of "exactly one branch"; for
            a base schema that subtypes extend with allOf, e.g.
            TemplateComponent -> BodyComponent, ParameterObject ->
            TextParameter: in addition to the base), so errors name the field.
  --strict  the schemas exactly as written, no merging, no discriminators
            (expect every message body to fail).
Formats ("format": "uri", ...) are annotations (JSON Schema's default).
"""

import argparse
import copy
import json
import os
import re
import sys
import urllib.parse

SPEC_ENV = "GBN_OPENAPI_SPEC"
DEFAULT_SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "openapi",
                            "business-messaging-api_v23.0.yaml")
MESSAGES_PATH = "/{Version}/{Phone-Number-ID}/messages"
SEND_MESSAGE = "sendMessage"        # POST MESSAGES_PATH, the only operation the extension uses
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_DEPS_PROBLEM = None
try:
    import yaml
except ImportError:
    _DEPS_PROBLEM = "python3-yaml is not installed (apt-get install python3-yaml)"
try:
    from jsonschema import Draft202012Validator
except ImportError:
    _DEPS_PROBLEM = ((_DEPS_PROBLEM + "; ") if _DEPS_PROBLEM else "") + \
        ("python3-jsonschema (>= 4, for JSON Schema 2020-12) is not installed "
         "(apt-get install python3-jsonschema)")


class SpecProblem(Exception):
    """The spec or the Python packages are missing or unusable."""


def default_spec_path():
    return os.environ.get(SPEC_ENV) or os.path.normpath(DEFAULT_SPEC)


# ---------------------------------------------------------------------------
# Loading and preparing the schemas
# ---------------------------------------------------------------------------
def load_spec(path):
    if _DEPS_PROBLEM:
        raise SpecProblem(_DEPS_PROBLEM)
    if not path:
        raise SpecProblem("no spec: pass --spec FILE or set %s" % SPEC_ENV)
    if not os.path.isfile(path):
        raise SpecProblem("OpenAPI spec file not found: %s" % path)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, "rb") as f:
            doc = yaml.load(f, Loader=loader)
    except (OSError, yaml.YAMLError) as e:
        raise SpecProblem("cannot read the OpenAPI spec %s: %s" % (path, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise SpecProblem("%s is not an OpenAPI document (no paths)" % path)
    return doc


def resolve_pointer(doc, ref):
    if not ref.startswith("#/"):
        raise SpecProblem("only local $refs are supported: %s" % ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


ANNOTATIONS = {"description", "title", "example", "examples", "deprecated", "externalDocs",
               "readOnly", "writeOnly", "default", "$comment", "xml", "discriminator"}


class Merger:
    """Merges allOf of object schemas (see the module docstring)."""

    def __init__(self, doc):
        self.doc = doc
        self.stack = []

    def merge_members(self, members):
        out = {"type": "object", "properties": {}}
        required = []
        closed = False
        rest = []
        for m in members:
            ref = m.get("$ref") if isinstance(m, dict) else None
            if ref is not None:
                if ref in self.stack:
                    rest.append(m)
                    continue
                target = resolve_pointer(self.doc, ref)
                self.stack.append(ref)
                try:
                    r = self.walk(copy.deepcopy(target))
                finally:
                    self.stack.pop()
            else:
                r = self.walk(m)
            if not isinstance(r, dict) or r.get("type", "object") != "object":
                rest.append(r)
                continue
            for k, v in r.get("properties", {}).items():
                if k in out["properties"] and out["properties"][k] != v:
                    out["properties"][k] = {"allOf": [out["properties"][k], v]}
                else:
                    out["properties"][k] = v
            for k in r.get("required", []):
                if k not in required:
                    required.append(k)
            if r.get("additionalProperties") is False:
                closed = True
            leftover = {k: v for k, v in r.items()
                        if k not in ("type", "properties", "required", "additionalProperties")
                        and k not in ANNOTATIONS}
            if "description" in r and "description" not in out:
                out["description"] = r["description"]
            if leftover:
                rest.append(leftover)
        if required:
            out["required"] = required
        if closed:
            out["additionalProperties"] = False
        if rest:
            out["allOf"] = rest
        return out

    def walk(self, node):
        if isinstance(node, list):
            return [self.walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        if "allOf" in node and isinstance(node["allOf"], list):
            siblings = {k: v for k, v in node.items() if k != "allOf"}
            members = list(node["allOf"])
            if set(siblings) - ANNOTATIONS:
                members.append({k: v for k, v in siblings.items() if k != "discriminator"})
            merged = self.merge_members(members)
            for k in ANNOTATIONS & set(siblings):
                merged.setdefault(k, siblings[k])
            return merged
        return {k: (self.walk(v) if k not in ("example", "examples") else v)
                for k, v in node.items()}


def apply_discriminators(node):
    """Replaces each discriminator by an explicit dispatch on its property (in place)."""
    if isinstance(node, list):
        for x in node:
            apply_discriminators(x)
        return
    if not isinstance(node, dict):
        return
    for k, v in node.items():
        if k not in ("example", "examples"):
            apply_discriminators(v)
    disc = node.get("discriminator")
    if not isinstance(disc, dict) or not disc.get("propertyName"):
        return
    prop = disc["propertyName"]
    mapping = dict(disc.get("mapping") or {})
    alts = node.get("oneOf") or node.get("anyOf")
    if isinstance(alts, list):
        for a in alts:          # implicit mapping: the schema's name
            ref = a.get("$ref") if isinstance(a, dict) else None
            if ref and ref not in mapping.values():
                mapping[ref.rsplit("/", 1)[-1]] = ref
    if not mapping:
        return
    rules = [{"if": {"properties": {prop: {"const": value}}, "required": [prop]},
              "then": {"$ref": ref}} for value, ref in mapping.items()]
    if isinstance(alts, list):
        node.pop("oneOf", None)
        node.pop("anyOf", None)
        node.setdefault("required", [])
        if prop not in node["required"]:
            node["required"].append(prop)
        node.setdefault("properties", {})
        node["properties"][prop] = dict(node["properties"].get(prop, {}),
                                        enum=sorted(mapping))
    node.setdefault("allOf", []).extend(rules)
    node.pop("discriminator")


# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------
def where(path):
    return "$" + "".join("[%d]" % p if isinstance(p, int) else ".%s" % p for p in path)


def coerce(value, schema):
    """A parameter value (a string as sent) in the type its schema asks for."""
    t = schema.get("type") if isinstance(schema, dict) else None
    types = t if isinstance(t, list) else [t]
    if "string" in types or t is None:
        return value
    if "integer" in types and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if "number" in types and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", value):
        return float(value)
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    return value


class RequestValidator:
    def __init__(self, spec_path=None, strict=False):
        self.spec_path = spec_path or default_spec_path()
        self.doc = load_spec(self.spec_path)
        self.strict = strict
        comps = self.doc.get("components", {}) or {}
        self.raw_components = comps
        if not strict:
            merger = Merger(self.doc)
            schemas = {}
            for name, s in (comps.get("schemas", {}) or {}).items():
                merger.stack = ["#/components/schemas/" + name]
                schemas[name] = merger.walk(s)
            apply_discriminators(schemas)
            comps = dict(comps, schemas=schemas)
            self.merger = merger
        self.root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                     "components": comps}
        Draft202012Validator.check_schema({"$schema": self.root["$schema"]})
        self.schemes = comps.get("securitySchemes", {}) or {}
        self.global_security = self.doc.get("security")
        self.base_paths = sorted({urllib.parse.urlsplit(s.get("url", "")).path.rstrip("/")
                                  for s in self.doc.get("servers", []) or [{"url": ""}]},
                                 key=len, reverse=True)
        self.templates = []
        for tpl, item in self.doc["paths"].items():
            names = []
            rx = ""
            for lit, name in re.findall(r"([^{]*)(?:\{([^}]*)\})?", tpl):
                rx += re.escape(lit)
                if name:
                    names.append(name)
                    rx += "([^/]+)"
            literal = len(re.sub(r"\{[^}]*\}", "", tpl))
            self.templates.append((literal, tpl, re.compile("^" + rx + "$"), names, item))
        self.templates.sort(key=lambda t: -t[0])
        self.cache = {}

    # -- schema helpers --------------------------------------------------------------
    def deref(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            node = resolve_pointer(self.doc, node["$ref"])
            seen += 1
        return node

    def validator_for(self, key, schema):
        v = self.cache.get(key)
        if v is None:
            if not self.strict and not (isinstance(schema, dict) and set(schema) == {"$ref"}):
                self.merger.stack = []
                schema = self.merger.walk(copy.deepcopy(schema))
                apply_discriminators(schema)
            v = Draft202012Validator(dict(self.root, **schema) if isinstance(schema, dict)
                                     else self.root)
            self.cache[key] = v
        return v

    def schema_errors(self, key, schema, instance, label):
        v = self.validator_for(key, schema)
        out = []
        for e in sorted(v.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
            path = list(e.absolute_path)
            out.append("%s%s: %s" % (label, where(path)[1:] if path else "", e.message))
        return out

    # -- the operation ---------------------------------------------------------------
    def find_operations(self, method, path, operations=None):
        """-> ([(template, path item, operation, {param: raw value}), ...], problem)
        operations: None, or the operationIds the request may target."""
        m = method.lower()
        candidates = []
        for base in self.base_paths:
            if base and not (path == base or path.startswith(base + "/")):
                continue
            rel = path[len(base):] if base else path
            for _lit, tpl, rx, names, item in self.templates:
                mt = rx.match(rel)
                if mt:
                    candidates.append((tpl, item, dict(zip(names, mt.groups()))))
        if not candidates:
            return [], ("unknown operation: no path template of the spec matches %s %s"
                        % (method, path))
        ops = [(tpl, item, item[m], values) for tpl, item, values in candidates
               if isinstance(item.get(m), dict)]
        if not ops:
            return [], ("unknown operation: %s is not defined for %s (path template %s defines %s)"
                        % (method, path, candidates[0][0],
                           ", ".join(x.upper() for x in METHODS if x in candidates[0][1])
                           or "nothing"))
        if operations is not None:
            others = sorted({op.get("operationId") or tpl for tpl, _i, op, _v in ops})
            ops = [o for o in ops if o[2].get("operationId") in operations]
            if not ops:
                return [], ("unknown operation: %s %s is not %s (in the spec it matches only %s)"
                            % (method, path, " or ".join(sorted(operations)), ", ".join(others)))
        return ops, None

    # -- the request -----------------------------------------------------------------
    def validate(self, method, target, headers, body, operations=None):
        """headers: [(name, value), ...] as sent (or a dict); body: bytes, str or None;
        operations: None (any operation of the spec) or the operationIds allowed.
        Returns {"valid": bool, "operation": str|None, "errors": [str, ...]}."""
        if isinstance(headers, dict):
            headers = list(headers.items())
        if isinstance(body, str):
            body = body.encode("utf-8")
        split = urllib.parse.urlsplit(target)
        ops, problem = self.find_operations(method, split.path or "/", operations)
        if problem:
            return {"valid": False, "operation": None, "errors": [problem]}
        hmap = {}
        for k, v in headers:
            hmap.setdefault(k.lower(), []).append(v)
        # Meta's spec has equivalent templates (/{Version}/{WABA-ID} and
        # /{Version}/{Flow-ID} ...): the request is valid if it is valid for
        # one of them; otherwise the errors of the closest one are given.
        best = None
        for tpl, item, op, values in ops:
            errors = self.operation_errors(method, split, hmap, body, tpl, item, op, values)
            opname = "%s %s%s" % (method.upper(), tpl,
                                  " (%s)" % op["operationId"] if op.get("operationId") else "")
            if not errors:
                return {"valid": True, "operation": opname, "errors": []}
            if best is None or len(errors) < len(best[1]):
                best = (opname, errors)
        out = {"valid": False, "operation": best[0], "errors": best[1]}
        if len(ops) > 1:
            out["candidates"] = len(ops)
        return out

    def operation_errors(self, method, split, hmap, body, tpl, item, op, values):
        errors = []

        # parameters: the path item's, overridden by the operation's
        params = {}
        for p in (item.get("parameters") or []) + (op.get("parameters") or []):
            p = self.deref(p)
            params[(p.get("name"), p.get("in"))] = p
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True) if split.query else {}
        declared_query = {n for (n, i) in params if i == "query"}
        for name in sorted(query):
            if name not in declared_query:
                errors.append("query parameter %s: not declared by the operation" % name)
        for (name, loc), p in params.items():
            schema = p.get("schema", {})
            label = "%s parameter %s" % (loc, name)
            if loc == "path":
                raw = values.get(name)
                if raw is None:
                    errors.append("%s: declared but not in the path template" % label)
                    continue
                vals = [urllib.parse.unquote(raw)]
            elif loc == "query":
                vals = query.get(name)
            elif loc == "header":
                vals = hmap.get(name.lower())
                label = "header %s" % name
            else:   # cookie: not used by the spec
                continue
            if not vals:
                if p.get("required") or loc == "path":
                    errors.append("%s: required but missing" % label)
                continue
            if loc == "header" and len(vals) > 1:
                errors.append("%s: sent %d times" % (label, len(vals)))
                continue
            if loc == "query" and (isinstance(schema, dict) and schema.get("type") == "array"):
                if p.get("explode", p.get("style", "form") == "form"):
                    inst = [coerce(x, schema.get("items", {})) for x in vals]
                else:
                    inst = [coerce(x, schema.get("items", {})) for x in ",".join(vals).split(",")]
            else:
                if len(vals) > 1:
                    errors.append("%s: given %d times" % (label, len(vals)))
                    continue
                inst = coerce(vals[0], self.deref(schema))
            errors.extend(self.schema_errors(("param", tpl, loc, name), schema, inst,
                                             "%s %r" % (label, vals[0] if len(vals) == 1 else vals)))

        # security
        reqs = op.get("security", self.global_security)
        if reqs:
            why = []
            for alt in reqs:
                missing = [self.security_problem(s, hmap, query) for s in (alt or {})]
                missing = [x for x in missing if x]
                if not missing:
                    why = None
                    break
                why.extend(missing)
            if why is not None:
                errors.append("security: " + "; ".join(why))

        # body
        errors.extend(self.body_errors(op, tpl, method, hmap, body))
        return errors

    def security_problem(self, name, hmap, query):
        s = self.schemes.get(name)
        if not isinstance(s, dict):
            return "scheme %s is not defined in the spec" % name
        t = s.get("type")
        if t == "http" or t in ("oauth2", "openIdConnect"):
            scheme = (s.get("scheme") or "bearer").lower() if t == "http" else "bearer"
            vals = hmap.get("authorization")
            if not vals:
                return "%s (%s %s): no Authorization header" % (name, t, scheme)
            if len(vals) > 1:
                return "%s: Authorization sent %d times" % (name, len(vals))
            v = vals[0]
            sch, _, cred = v.partition(" ")
            if sch.lower() != scheme:
                return "%s: Authorization scheme is %r, not %s" % (name, sch, scheme.capitalize())
            cred = cred.strip(" ")
            if scheme == "bearer" and not re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", cred):
                return "%s: Authorization: the bearer token is empty or not token68 (RFC 6750)" % name
            if scheme == "basic" and not cred:
                return "%s: empty Basic credentials" % name
            return None
        if t == "apiKey":
            where_ = s.get("in")
            if where_ == "header" and hmap.get(s.get("name", "").lower()):
                return None
            if where_ == "query" and query.get(s.get("name")):
                return None
            return "%s: no %s %s" % (name, where_, s.get("name"))
        return "%s: security scheme type %r is not checked by this validator" % (name, t)

    def body_errors(self, op, tpl, method, hmap, body):
        rb = self.deref(op.get("requestBody")) if op.get("requestBody") else None
        has_body = body is not None and len(body) > 0
        if rb is None:
            return ["body: the operation takes no request body (%d bytes sent)" % len(body)] \
                if has_body else []
        if not has_body:
            return ["body: required but empty"] if rb.get("required") else []
        content = rb.get("content", {}) or {}
        ct = (hmap.get("content-type") or [""])[0]
        media = ct.split(";", 1)[0].strip().lower()
        key = next((k for k in content if k.lower() == media), None)
        if key is None:
            return ["body: Content-Type %r is not one of the request body's media types %s"
                    % (ct, sorted(content))]
        if key != "application/json" and not key.endswith("+json"):
            return ["body: %s bodies are not checked by this validator" % key]
        try:
            inst = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return ["body: not JSON (%s): %r" % (e, body[:80])]
        schema = (content[key] or {}).get("schema")
        if schema is None:
            return []
        return self.schema_errors(("body", tpl, method, key), schema, inst, "body $")


# ---------------------------------------------------------------------------
# Self-test: the validator accepts our requests and rejects known defects
# ---------------------------------------------------------------------------
GOOD_TEXT = {"messaging_product": "whatsapp", "recipient_type": "individual",
             "to": "+6281234567890", "type": "text",
             "text": {"preview_url": False, "body": "[GUESTBOOK] Case ABC123\nJenis: visitor"}}
GOOD_TEMPLATE = {"messaging_product": "whatsapp", "recipient_type": "individual",
                 "to": "+6281234567890", "type": "template",
                 "template": {"name": "guestbook_assigned",
                              "language": {"policy": "deterministic", "code": "id"},
                              "components": [{"type": "body", "parameters": [
                                  {"type": "text", "text": "ABC123"},
                                  {"type": "text", "text": "Nama: Ahmad | Keperluan: x"}]}]}}
GOOD_PATH = "/v23.0/106540352242922/messages"
GOOD_HEADERS = [("Host", "127.0.0.1:8080"),
                ("User-Agent", "guestbook_notify/1.1.0"),
                ("Authorization", "Bearer EAAGm0PX4ZCpsBAKZCnRZBZBtest-token_123.x"),
                ("Content-Type", "application/json"),
                ("Accept", "application/json")]


def without(d, *path):
    d = copy.deepcopy(d)
    node = d
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]
    return d


def hdrs(**changes):
    """GOOD_HEADERS with some replaced (value None = left out); names use _ for -."""
    changes = {k.replace("_", "-").lower(): v for k, v in changes.items()}
    out = [(k, changes.get(k.lower(), v)) for k, v in GOOD_HEADERS]
    return [(k, v) for k, v in out if v is not None]


def request(body=GOOD_TEMPLATE, method="POST", path=GOOD_PATH, headers=None):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    h = GOOD_HEADERS if headers is None else headers
    h = h + [("Content-Length", str(len(raw.encode() if isinstance(raw, str) else raw)))]
    return method, path, h, raw


SELF_TEST = [
    # (name, request, None if it must be valid, else a text every error must contain)
    ("template message, the request the extension sends", request(), None),
    ("text message, the request the extension sends", request(GOOD_TEXT), None),
    ("Meta's own User-Agent example", request(headers=hdrs(user_agent="Meta-Business-Messaging-OpenAPI/1.0.0;spec=2025-10-21")), None),
    ("no User-Agent (optional)", request(headers=hdrs(user_agent=None)), None),
    ("body without recipient_type", request(without(GOOD_TEXT, "recipient_type")), "'recipient_type' is a required property"),
    ("template without language.policy", request(without(GOOD_TEMPLATE, "template", "language", "policy")), "'policy' is a required property"),
    ("User-Agent guestbook_notify/1.0 (before 1.1)", request(headers=hdrs(user_agent="guestbook_notify/1.0")), "header User-Agent"),
    ("User-Agent libcurl-agent/1.0 (two-part version)", request(headers=hdrs(user_agent="libcurl-agent/1.0")), "header User-Agent"),
    ("no Authorization", request(headers=hdrs(authorization=None)), "Authorization"),
    ("Authorization without the Bearer scheme", request(headers=hdrs(authorization="EAAGm0PX4ZCpsBA")), "Authorization"),
    ("Authorization Basic", request(headers=hdrs(authorization="Basic dXNlcjpwYXNz")), "Authorization"),
    ("Authorization Bearer with an empty token", request(headers=hdrs(authorization="Bearer")), "Authorization"),
    ("Authorization Bearer with a token starting with '~'", request(headers=hdrs(authorization="Bearer ~abc")), "Authorization"),
    ("Content-Type application/json; charset=utf-8", request(headers=hdrs(content_type="application/json; charset=utf-8")), "header Content-Type"),
    ("Content-Type text/plain", request(headers=hdrs(content_type="text/plain")), "Content-Type"),
    ("no Content-Type", request(headers=hdrs(content_type=None)), "Content-Type"),
    ("unknown path (/message)", request(path="/v23.0/106540352242922/message"), "unknown operation"),
    ("unknown path (no version segment)", request(path="/106540352242922/messages"), "unknown operation"),
    ("GET on the messages path", request(method="GET", body=b""), "unknown operation"),
    ("an undeclared query parameter", request(path=GOOD_PATH + "?access_token=x"), "query parameter access_token"),
    ("a body that is not JSON", request(b"<html>"), "not JSON"),
    ("an empty body (sendMessage's requestBody is not marked required: the spec allows it)", request(b""), None),
    ("text with a typo (bodyy)", request(dict(GOOD_TEXT, text={"bodyy": "x"})), "bodyy"),
    ("text.body not a string", request(dict(GOOD_TEXT, text={"body": 42})), "42 is not of type 'string'"),
    ("template without name", request(without(GOOD_TEMPLATE, "template", "name")), "'name' is a required property"),
    ("template body parameter without text", request(without(GOOD_TEMPLATE, "template", "components", 0, "parameters", 0, "text")), "'text' is a required property"),
    ("type text with a template payload", request(dict(GOOD_TEMPLATE, type="text")), "body $"),
    ("biz_opaque_callback_data on text (spec omission)", request(dict(GOOD_TEXT, biz_opaque_callback_data="c")), "biz_opaque_callback_data"),
    ("unknown type", request(dict(GOOD_TEXT, type="sms")), "'sms' is not one of"),
    ("no to", request(without(GOOD_TEXT, "to")), "'to' is a required property"),
]


def self_test(v):
    bad = 0
    for name, (method, path, headers, body), expect in SELF_TEST:
        try:
            r = v.validate(method, path, headers, body, operations={SEND_MESSAGE})
        except Exception as e:      # a crash is a failure of the self-test
            r = {"valid": False, "errors": ["validator crashed: %r" % e]}
            ok = False
        else:
            if expect is None:
                ok = r["valid"]
            else:
                ok = not r["valid"] and all(expect in e for e in r["errors"])
        bad += not ok
        print("%s self-test: %s -> %s%s" % (
            "ok  " if ok else "FAIL", name, "valid" if r["valid"] else "rejected",
            "" if r["valid"] else " (%s%s)" % (
                "as %s: " % r["operation"] if r.get("operation") and "/messages" not in r["operation"]
                else "", " | ".join(r["errors"]))))
    print("self-test: %d of %d as expected" % (len(SELF_TEST) - bad, len(SELF_TEST)))
    return 0 if bad == 0 else 1


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def items_from_obj(obj, origin):
    """Yields (label, request object or mock record)."""
    if isinstance(obj, dict) and isinstance(obj.get("requests"), list):
        for r in obj["requests"]:
            yield from items_from_obj(r, origin)
    elif isinstance(obj, list):
        for i, b in enumerate(obj):
            yield from items_from_obj(b, "%s[%d]" % (origin, i))
    else:
        yield origin, obj


def read_input(name):
    text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()
    try:
        return list(items_from_obj(json.loads(text), name))
    except ValueError:
        out = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                out.extend(items_from_obj(json.loads(line), "%s:%d" % (name, i)))
        return out


def check_item(v, label, obj, operations):
    """-> (label, verdict) or None for records that are not checked (WAHA, control)."""
    if not isinstance(obj, dict) or "method" not in obj or "path" not in obj:
        return label, {"valid": False, "errors": ["not a request object (method, path, headers, body)"]}
    if "seq" in obj and "provider" in obj:          # a record of the mock
        label = "%s seq %s %s %s" % (label, obj["seq"], obj["method"], obj["path"])
        if obj.get("provider") == "waha":
            return None
        if "openapi" not in obj:
            return label, {"valid": False, "errors": [
                "the mock recorded no verdict (start it with --openapi-spec)"]}
        return label, obj["openapi"]
    body = obj.get("body_raw")
    if body is None and obj.get("body") is not None:
        body = json.dumps(obj["body"])
    label = "%s %s %s" % (label, obj["method"], obj["path"])
    return label, v.validate(obj["method"], obj["path"], obj.get("headers") or [], body, operations)


def from_url(url, require_some):
    import urllib.request
    with urllib.request.urlopen(url.rstrip("/") + "/_mock/validation", timeout=10) as r:
        s = json.loads(r.read())
    if not s.get("enabled"):
        print("the mock at %s does not validate requests: start it with --openapi-spec FILE" % url)
        return 2
    for bad in s.get("invalid_requests", []):
        print("INVALID seq %s %s %s: %s" % (bad.get("seq"), bad.get("method"), bad.get("path"),
                                             "; ".join(bad.get("errors", []))))
    print("%d requests checked by the mock against %s: %d valid, %d invalid "
          "(%d crashed the validator); not in Meta's spec, not checked: %s"
          % (s["checked"], s.get("spec"), s["valid"], s["invalid"], s.get("crashed", 0),
             json.dumps(s.get("not_checked", {}))))
    if s["invalid"] or s.get("crashed"):
        return 1
    if require_some and s["checked"] == 0:
        return 3
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*")
    ap.add_argument("--spec", default=None, help="default: $%s, else %s" % (SPEC_ENV, DEFAULT_SPEC))
    ap.add_argument("--url", help="a running mock: report the verdicts it recorded")
    ap.add_argument("--strict", action="store_true", help="no allOf merging or discriminators (see above)")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--require-some", action="store_true",
                    help="exit 3 when no Cloud API request was validated")
    ap.add_argument("--quiet", action="store_true", help="print only invalid requests and the summary")
    ap.add_argument("--operation", action="append", metavar="ID",
                    help="the operationId(s) INPUT requests may target (default: %s)" % SEND_MESSAGE)
    ap.add_argument("--any-operation", action="store_true",
                    help="INPUT requests may target any operation of the spec")
    args = ap.parse_args()
    if not args.inputs and not args.url and not args.self_test:
        ap.error("nothing to validate (give INPUT files, --url or --self-test)")
    try:
        if args.url:
            sys.exit(from_url(args.url, args.require_some))
        v = RequestValidator(args.spec, strict=args.strict)
    except SpecProblem as e:
        print("validate_openapi: %s" % e, file=sys.stderr)
        sys.exit(2)
    if args.self_test:
        sys.exit(self_test(v))
    results = []
    for name in args.inputs:
        for label, obj in read_input(name):
            r = check_item(v, label, obj, None if args.any_operation
                           else set(args.operation or [SEND_MESSAGE]))
            if r is not None:
                results.append(r)
    invalid = 0
    for label, verdict in results:
        if not verdict.get("valid"):
            invalid += 1
            print("INVALID %s: %s" % (label, "; ".join(verdict.get("errors", []))))
        elif not args.quiet:
            print("valid   %s (%s)" % (label, verdict.get("operation")))
    print("%d requests checked against %s: %d valid, %d invalid"
          % (len(results), os.path.basename(v.spec_path), len(results) - invalid, invalid))
    if not results and args.require_some:
        sys.exit(3)
    sys.exit(1 if invalid else 0)


if __name__ == "__main__":
    main()
