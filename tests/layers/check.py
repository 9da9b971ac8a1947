#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layer check: every call between src/ files goes down docs/design.md's
layer list ("## Layers, in dependency order"), never up or sideways.

A call is a `rt_*`, `rt__*` or `rtk_*` function defined in one file and
called (name followed by "(") in another, comments removed. Each file's
module and level come from the list: "--- N ---" lines set the level, a
line "  NAME  src/FILE ..." puts FILE in module NAME at it, and an
indented "src/FILE" line under a module adds FILE to it. src/kernel/ is one
module. Calls within a module are free. EXCEPTIONS are the deliberate ones
docs/design.md names. Exits 1 and prints each offending call otherwise.

  tests/layers/check.py [REPO]
"""
import os
import re
import sys

EXCEPTIONS = {("affinity", "thread")}   # a weak reference, see design.md


def layers(top):
    text = open(os.path.join(top, "docs/design.md")).read()
    start = text.index("## Layers, in dependency order")
    block = text[start:].split("```")[1]
    level, cur, where = None, None, {}
    for line in block.splitlines():
        m = re.match(r"\s*--- (\d+) ---", line)
        if m:
            level = int(m.group(1))
            continue
        if level is None:
            continue
        m = re.match(r"  (\w+)\s+(src/\S+)", line)
        if m:
            cur = m.group(1)
            where[m.group(2)] = (cur, level)
            continue
        m = re.match(r"\s{6,}(src/\S+\.c)\b", line)
        if m and cur:
            where[m.group(1)] = (cur, where_level(where, cur))
    return where


def where_level(where, mod):
    return next(l for (m, l) in where.values() if m == mod)


def module_of(where, path):
    if path in where:
        return where[path]
    for k, v in where.items():
        if k.endswith("/") and path.startswith(k):
            return v
    return None


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../..")
    where = layers(top)
    files = []
    for d in ("src", "src/kernel"):
        files += [f"{d}/{n}" for n in sorted(os.listdir(os.path.join(top, d))) if n.endswith(".c")]
    bad = []
    missing = [f for f in files if module_of(where, f) is None]
    defs, texts = {}, {}
    for f in files:
        s = open(os.path.join(top, f)).read()
        for m in re.finditer(r"^(?:__attribute__\(\([\w, ]*\)\)\s+)?(?:[a-z_][\w \*]*?[\s\*])?"
                             r"((?:rt_|rt__|rtk_)\w+)\s*\([^;{]*\)\s*\n?\{",
                             s, re.M):
            defs.setdefault(m.group(1), f)
        texts[f] = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    for f in files:
        me = module_of(where, f)
        if not me:
            continue
        for name, df in defs.items():
            them = module_of(where, df)
            if not them or them[0] == me[0] or (me[0], them[0]) in EXCEPTIONS:
                continue
            if them[1] >= me[1] and re.search(r"\b" + name + r"\s*\(", texts[f]):
                bad.append(f"{f} ({me[0]}, level {me[1]}) calls {name} of {df} "
                           f"({them[0]}, level {them[1]})")
    for f in missing:
        print(f"layers: {f} is in no layer of docs/design.md")
    for b in bad:
        print(f"layers: upward or sideways call: {b}")
    print(f"layers: {len(files)} files, {len(defs)} functions, {len(bad)} calls against the "
          f"layers, {len(missing)} files in no layer")
    return 1 if bad or missing else 0


if __name__ == "__main__":
    sys.exit(main())
