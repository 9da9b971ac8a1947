#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layer check: every call between src/ files goes down docs/design.md's
layer list ("## Layers, in dependency order"), never up or sideways.

A call is a `rt_*`, `rt__*` or `rtk_*` function defined in one file and
called (name followed by "(") in another, comments removed. The same goes
for includes: a src/ file includes a module's private header (src/NAME.h
of src/NAME.c, arena_layout.h of the arena, kernel/kernel.h) only of its
own module or one below it, and only if it uses something the header
declares, so a file's includes are its real dependencies. Each file's
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


ID = r"\b(?:rt__|RT__|rtk_|RTK_)\w+"


def strip(s):
    return re.sub(r"//.*", "", re.sub(r"/\*.*?\*/", "", s, flags=re.S))


def header_module(where, top, name):
    """The module a private header belongs to, or None (rtmem.h, env.h)."""
    if name == "kernel/kernel.h":
        return module_of(where, "src/kernel/probe.c")
    if name == "arena_layout.h":
        return module_of(where, "src/arena.c")
    if name.endswith(".h") and os.path.exists(os.path.join(top, "src", name[:-2] + ".c")):
        return module_of(where, "src/" + name[:-2] + ".c")
    return None


def header_all_ids(top, name):
    """Every identifier a header makes visible: its own and its includes'."""
    s = strip(open(os.path.join(top, "src", name)).read())
    ids = set(re.findall(ID, s)) | set(re.findall(r"^#\s*define\s+(\w+)", s, re.M))
    for inc in re.findall(r'^#include "([^"]+)"', s, re.M):
        if os.path.exists(os.path.join(top, "src", inc)) and inc != "rtmem.h":
            ids |= header_all_ids(top, inc)
    return ids


def header_ids(top, name):
    """The identifiers a header brings of its own: those in it, less those
    the private headers it includes make visible."""
    s = strip(open(os.path.join(top, "src", name)).read())
    own = set(re.findall(ID, s)) | set(re.findall(r"^#\s*define\s+(\w+)", s, re.M))
    for inc in re.findall(r'^#include "([^"]+)"', s, re.M):
        if os.path.exists(os.path.join(top, "src", inc)) and inc != "rtmem.h":
            own -= header_all_ids(top, inc)
    return own


def check_includes(top, where, bad):
    files = [f"src/{n}" for n in sorted(os.listdir(os.path.join(top, "src")))
             if n.endswith((".c", ".h"))]
    files += [f"src/kernel/{n}" for n in sorted(os.listdir(os.path.join(top, "src/kernel")))
              if n.endswith(".c")]
    n = 0
    for f in files:
        me = module_of(where, f if f.endswith(".c") else f[:-2] + ".c")
        if f == "src/arena_layout.h":
            me = module_of(where, "src/arena.c")
        if not me:
            continue
        text = open(os.path.join(top, f)).read()
        code = strip(re.sub(r'^#include .*$', "", text, flags=re.M))
        used = set(re.findall(r"\b\w+\b", code))
        for inc in re.findall(r'^#include "([^"]+)"', text, re.M):
            them = header_module(where, top, inc)
            if not them:
                continue
            n += 1
            if them[0] != me[0] and (me[0], them[0]) not in EXCEPTIONS and them[1] >= me[1]:
                bad.append(f"upward or sideways include: {f} ({me[0]}, level {me[1]}) includes {inc} "
                           f"({them[0]}, level {them[1]})")
            if f.endswith(".c") and them[0] == me[0]:
                continue
            if not (header_ids(top, inc) & used):
                bad.append(f"{f} includes {inc} and uses nothing it declares")
    return n


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
                bad.append(f"upward or sideways call: {f} ({me[0]}, level {me[1]}) calls {name} of {df} "
                           f"({them[0]}, level {them[1]})")
    nincl = check_includes(top, where, bad)
    for f in missing:
        print(f"layers: {f} is in no layer of docs/design.md")
    for b in bad:
        print(f"layers: {b}")
    print(f"layers: {len(files)} files, {len(defs)} functions, {nincl} includes of private "
          f"headers, {len(bad)} against the layers, {len(missing)} files in no layer")
    return 1 if bad or missing else 0


if __name__ == "__main__":
    sys.exit(main())
