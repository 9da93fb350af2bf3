#!/usr/bin/python3
"""
validate_openapi.py -- check Cloud API request bodies against Meta's OpenAPI
spec (business-messaging-api_v23.0.yaml): the requestBody schema of
POST /{Version}/{Phone-Number-ID}/messages (schema `Message`, $refs resolved,
OpenAPI 3.1 = JSON Schema 2020-12). Needs Debian's python3-yaml and
python3-jsonschema.

    validate_openapi.py [--spec FILE] INPUT...        (spec default: $GBN_OPENAPI_SPEC)
    validate_openapi.py --url http://127.0.0.1:PORT   (every Cloud API body the mock recorded)
    validate_openapi.py --self-test                   (proves the check can fail)

An INPUT is a JSON file holding one request body, a list of bodies, the mock's
GET /_mock/requests answer, or a JSONL log of the mock (--log); "-" reads stdin.
Records of the mock other than Cloud API sends (WAHA, control) are skipped.
Prints one line per body; exits 0 when every body is valid, 1 when one is not,
2 on a usage or spec problem (3 when there was nothing to validate and
--require-some was given).

Two readings of the spec:
  default   Meta writes every message type as allOf[BaseMessageProperties,
            {type-specific part with additionalProperties: false}]. Read
            literally (JSON Schema evaluates each allOf branch alone), that
            additionalProperties would forbid messaging_product, to, ... and
            reject even Meta's own examples; OpenAPI tools (Prism: accepted
            in whatsapp-api.md 2.3) treat allOf as one merged object. So by
            default every allOf of object schemas is merged first (properties
            and required united, additionalProperties false if a branch says
            so), and the oneOf of `Message` is resolved through its
            discriminator (`type`) to one branch, for precise error messages.
  --strict  the spec exactly as written (expect everything to fail).
"""

import argparse
import copy
import json
import os
import sys

SPEC_ENV = "GBN_OPENAPI_SPEC"
MESSAGES_PATH = "/{Version}/{Phone-Number-ID}/messages"


def die(msg, code=2):
    print("validate_openapi: " + msg, file=sys.stderr)
    sys.exit(code)


try:
    import yaml
except ImportError:
    die("python3-yaml is not installed (apt-get install python3-yaml)")
try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError:
    die("python3-jsonschema (>= 4, for JSON Schema 2020-12) is not installed "
        "(apt-get install python3-jsonschema)")


# ---------------------------------------------------------------------------
# Loading and preparing the schema
# ---------------------------------------------------------------------------
def load_spec(path):
    if not path:
        die("no spec: pass --spec FILE or set %s" % SPEC_ENV)
    if not os.path.isfile(path):
        die("spec file not found: %s" % path)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "rb") as f:
        return yaml.load(f, Loader=loader)


def resolve_pointer(doc, ref):
    if not ref.startswith("#/"):
        raise ValueError("only local $refs are supported: %s" % ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


ANNOTATIONS = {"description", "title", "example", "examples", "deprecated", "externalDocs",
               "readOnly", "writeOnly", "default", "$comment", "xml"}


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
            if not isinstance(r, dict) or r.get("type", "object") != "object" \
                    or "allOf" in r and not self.mergeable(r):
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

    @staticmethod
    def mergeable(r):
        return True

    def walk(self, node):
        if isinstance(node, list):
            return [self.walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        if "allOf" in node and isinstance(node["allOf"], list):
            siblings = {k: v for k, v in node.items() if k != "allOf"}
            members = list(node["allOf"])
            if set(siblings) - ANNOTATIONS:
                members.append(siblings)
            merged = self.merge_members(members)
            for k in ANNOTATIONS & set(siblings):
                merged.setdefault(k, siblings[k])
            return merged
        return {k: (self.walk(v) if k not in ("example", "examples") else v)
                for k, v in node.items()}


class BodyValidator:
    def __init__(self, spec_path, strict=False):
        self.spec_path = spec_path
        doc = load_spec(spec_path)
        try:
            op = doc["paths"][MESSAGES_PATH]["post"]
            schema = op["requestBody"]["content"]["application/json"]["schema"]
        except (KeyError, TypeError):
            die("the spec has no requestBody schema for POST %s" % MESSAGES_PATH)
        self.strict = strict
        comps = doc.get("components", {})
        if not strict:
            merger = Merger(doc)
            schemas = {}
            for name, s in comps.get("schemas", {}).items():
                merger.stack = ["#/components/schemas/" + name]
                schemas[name] = merger.walk(s)
            comps = dict(comps, schemas=schemas)
        self.root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                     "components": comps}
        self.top_ref = schema.get("$ref") if isinstance(schema, dict) else None
        top = resolve_pointer({"components": comps}, self.top_ref) if self.top_ref else schema
        self.mapping = {}
        disc = top.get("discriminator") if isinstance(top, dict) else None
        if disc and not strict:
            self.disc_prop = disc.get("propertyName")
            self.mapping = disc.get("mapping", {})
        Draft202012Validator.check_schema({"$schema": self.root["$schema"]})
        self.full = Draft202012Validator(dict(self.root, **(schema if not self.top_ref else
                                                             {"$ref": self.top_ref})))
        self.branch = {t: Draft202012Validator(dict(self.root, **{"$ref": ref}))
                       for t, ref in self.mapping.items()}

    def errors(self, body):
        """A list of readable problems; empty when the body is valid."""
        v = self.full
        if self.mapping:
            if not isinstance(body, dict):
                return ["$: the body is not a JSON object"]
            t = body.get(self.disc_prop)
            if t not in self.branch:
                return ["$.%s: %r is not one of the message types %s"
                        % (self.disc_prop, t, sorted(self.branch))]
            v = self.branch[t]
        out = []
        for e in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "$" + "".join("[%d]" % p if isinstance(p, int) else ".%s" % p
                                  for p in e.absolute_path)
            out.append("%s: %s" % (where, e.message))
        return out


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------
def bodies_from_obj(obj, origin):
    """Yields (label, body) pairs."""
    if isinstance(obj, dict) and "requests" in obj and isinstance(obj["requests"], list):
        for r in obj["requests"]:
            yield from bodies_from_record(r, origin)
    elif isinstance(obj, dict) and "seq" in obj and "path" in obj:
        yield from bodies_from_record(obj, origin)
    elif isinstance(obj, list):
        for i, b in enumerate(obj):
            yield from bodies_from_obj(b, "%s[%d]" % (origin, i))
    else:
        yield origin, obj


def bodies_from_record(r, origin):
    if r.get("provider") != "cloud_api" or r.get("method") != "POST":
        return
    label = "%s seq %s to %s" % (origin, r.get("seq"), r.get("recipient"))
    if r.get("body") is None:
        yield label, {"__not_json__": r.get("body_raw")}
    else:
        yield label, r["body"]


def read_input(name):
    if name == "-":
        text = sys.stdin.read()
    else:
        with open(name, encoding="utf-8") as f:
            text = f.read()
    try:
        return list(bodies_from_obj(json.loads(text), name))
    except ValueError:
        out = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                out.extend(bodies_from_obj(json.loads(line), "%s:%d" % (name, i)))
        return out


def read_url(url):
    import urllib.request
    with urllib.request.urlopen(url.rstrip("/") + "/_mock/requests?provider=cloud_api",
                                timeout=10) as r:
        return list(bodies_from_obj(json.loads(r.read()), url))


# ---------------------------------------------------------------------------
# Self-test: the validator accepts our bodies and rejects known defects
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


def without(d, *path):
    d = copy.deepcopy(d)
    node = d
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]
    return d


def self_test(v):
    cases = [
        ("text message (whatsapp-api.md 1.2a)", GOOD_TEXT, True),
        ("template message with policy (1.2b)", GOOD_TEMPLATE, True),
        ("text without recipient_type", without(GOOD_TEXT, "recipient_type"), False),
        ("template without language.policy", without(GOOD_TEMPLATE, "template", "language", "policy"), False),
        ("text with a typo (bodyy)", dict(GOOD_TEXT, text={"bodyy": "x"}), False),
        ("text.body not a string", dict(GOOD_TEXT, text={"body": 42}), False),
        ("template without name", without(GOOD_TEMPLATE, "template", "name"), False),
        ("type text with a template payload", dict(GOOD_TEMPLATE, type="text"), False),
        ("biz_opaque_callback_data on text (spec omission)", dict(GOOD_TEXT, biz_opaque_callback_data="c"), False),
        ("unknown type", dict(GOOD_TEXT, type="sms"), False),
        ("no to", without(GOOD_TEXT, "to"), False),
    ]
    bad = 0
    for name, body, want in cases:
        errs = v.errors(body)
        ok = (not errs) == want
        bad += not ok
        print("%s self-test: %s -> %s%s" % ("ok  " if ok else "FAIL", name,
                                           "valid" if not errs else "invalid",
                                           "" if not errs else " (" + errs[0] + ")"))
    print("self-test: %d of %d as expected" % (len(cases) - bad, len(cases)))
    return 0 if bad == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*")
    ap.add_argument("--spec", default=os.environ.get(SPEC_ENV))
    ap.add_argument("--url", help="a running mock: validate what it recorded")
    ap.add_argument("--strict", action="store_true", help="no allOf merging (see above)")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--require-some", action="store_true",
                    help="exit 3 when there was no Cloud API body to validate")
    ap.add_argument("--quiet", action="store_true", help="print only invalid bodies and the summary")
    args = ap.parse_args()

    v = BodyValidator(args.spec, strict=args.strict)
    if args.self_test:
        sys.exit(self_test(v))
    if not args.inputs and not args.url:
        ap.error("nothing to validate (give INPUT files, --url or --self-test)")
    items = []
    for name in args.inputs:
        items.extend(read_input(name))
    if args.url:
        items.extend(read_url(args.url))
    invalid = 0
    for label, body in items:
        if isinstance(body, dict) and "__not_json__" in body:
            errs = ["$: the body is not JSON: %r" % (body["__not_json__"] or "")[:80]]
        else:
            errs = v.errors(body)
        if errs:
            invalid += 1
            print("INVALID %s: %s" % (label, "; ".join(errs)))
        elif not args.quiet:
            print("valid   %s (type %s)" % (label, body.get("type") if isinstance(body, dict) else "?"))
    print("%d bodies checked against %s: %d valid, %d invalid"
          % (len(items), os.path.basename(args.spec), len(items) - invalid, invalid))
    if not items and args.require_some:
        sys.exit(3)
    sys.exit(1 if invalid else 0)


if __name__ == "__main__":
    main()
