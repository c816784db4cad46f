#!/usr/bin/env python3
"""Validates Open mHealth data points (one JSON object per line) against the
public Open mHealth schemas in a directory: each line against data-point-1.0
(with header-1.x), and its body against the schema its header names (here
omh:heart-rate:2.0). date-time strings are checked as RFC 3339.

Usage: validate_omh.py SCHEMA_DIR FILE   (exit 0: all valid and at least one line)
"""
import datetime
import json
import pathlib
import re
import sys

import jsonschema

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def main():
    schema_dir = pathlib.Path(sys.argv[1]).resolve()
    store = {}
    for f in schema_dir.glob("*.json"):
        store[f.as_uri()] = json.loads(f.read_text())
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time")
    def date_time(value):
        if not isinstance(value, str):
            return True
        if not RFC3339.match(value):
            return False
        datetime.datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value).replace("t", "T"))
        return True

    def validator(name):
        uri = (schema_dir / name).as_uri()
        schema = store[uri]
        cls = jsonschema.validators.validator_for(schema)
        resolver = jsonschema.RefResolver(base_uri=uri, referrer=schema, store=store)
        return cls(schema, resolver=resolver, format_checker=checker)

    data_point = validator("data-point-1.0.json")
    bodies = {("omh", "heart-rate", "2.0"): validator("heart-rate-2.0.json")}
    lines = [l for l in pathlib.Path(sys.argv[2]).read_text().splitlines() if l.strip()]
    if not lines:
        print("no data point to validate")
        return 1
    failures = 0
    for n, line in enumerate(lines, 1):
        point = json.loads(line)
        errors = list(data_point.iter_errors(point))
        sid = point.get("header", {}).get("schema_id", {})
        body_validator = bodies.get((sid.get("namespace"), sid.get("name"), sid.get("version")))
        if body_validator is None:
            errors.append(f"no schema here for {sid}")
        else:
            errors += list(body_validator.iter_errors(point.get("body")))
        for e in errors:
            print(f"line {n}: {getattr(e, 'message', e)}")
        failures += bool(errors)
    print(f"{len(lines) - failures} valid, {failures} invalid")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
