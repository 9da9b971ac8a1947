#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise one run of tests/bench/run.sh: read every benchmark's output in
DIR, print the table of key comparisons (each a ratio against a baseline
measured in the same run, with its target and whether it was met), write
DIR/results.json, and write gnuplot scripts DIR/*.gp for the charts.

    summarize.py DIR
"""
import json
import os
import re
import sys

d = sys.argv[1]


def load(name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) else None


def text(name):
    p = os.path.join(d, name)
    return open(p).read() if os.path.exists(p) else ""


machine = load("machine.json")
pop = load("populate.json")
big = load("populate_big.json")
ver = load("verify.json")
lck = load("lockall.json")
mt = load("mt.json") or []

res = {"machine": machine, "populate": pop, "populate_big": big, "verify": ver,
       "lockall": lck, "check": [], "pool": {}, "alloc": [], "thread": {},
       "ipc": {}, "log": {}, "mt": mt}

# ---- text outputs ----
for m in re.finditer(r"^(\S+)\s+(\d+) MiB locked: .*median ([\d.]+) ms", text("check.txt"), re.M):
    res["check"].append({"config": m.group(1), "size_mib": int(m.group(2)),
                         "median_ms": float(m.group(3))})
t = text("pool.txt")
m1 = re.search(r"rt_pool get\+put\s+([\d.]+) ns", t)
m2 = re.search(r"glibc malloc\+free\s+([\d.]+) ns", t)
if m1 and m2:
    res["pool"] = {"rt_pool_ns": float(m1.group(1)), "glibc_ns": float(m2.group(1))}
for m in re.finditer(r"^(rt_arena \(mutex\)|rt_arena \(caches\)|glibc \(RT-tuned\)|mimalloc 2|jemalloc 5)\s+"
                     r"(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s+(-?\d+)", text("alloc.txt"), re.M):
    res["alloc"].append({"allocator": m.group(1), "median_ns": int(m.group(2)),
                         "p99_ns": int(m.group(3)), "p9999_ns": int(m.group(4)),
                         "max_ns": int(m.group(5)), "faults": int(m.group(6)),
                         "syscalls": int(m.group(7))})
for m in re.finditer(r"^(rt_ring|pipe|mqueue) round trip\s+median\s+(\d+) ns\s+p99\s+(\d+) ns",
                     text("ipc.txt"), re.M):
    res["ipc"][m.group(1)] = {"median_ns": int(m.group(2)), "p99_ns": int(m.group(3))}
for m in re.finditer(r"^(rt_log_write|write\(2\)|fprintf \(stdio\))\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)",
                     text("log.txt"), re.M):
    res["log"][m.group(1)] = {"median_ns": int(m.group(2)), "p99_ns": int(m.group(3)),
                              "p9999_ns": int(m.group(4)), "max_ns": int(m.group(5))}
t = text("thread.txt")
for key, pat in [("pthread_ns", r"pthread_create\+pthread_join\s+(\d+) ns"),
                 ("rt_ns", r"rt_thread_create\+rt_thread_join\s+(\d+) ns")]:
    m = re.search(pat, t)
    if m:
        res["thread"][key] = int(m.group(1))
res["thread"]["first_ms_faults"] = {
    m.group(1).strip(): {"mean": float(m.group(2)), "max": int(m.group(3))}
    for m in re.finditer(r"^(.+?)\s+faults in the first ms: mean ([\d.]+), max (\d+)", t, re.M)}

# ---- the key comparisons ----
rows = []


def row(what, value, unit, base_what, ratio, target, met):
    rows.append({"what": what, "value": value, "unit": unit, "baseline": base_what,
                 "ratio": ratio, "target": target, "met": met})


def prow(j, config, method):
    if not j:
        return None
    for r in j["rows"]:
        if (r["config"] == config and r["method"] == method and not r.get("failed")
                and "median_ms" in r):
            return r
    return None


if pop:
    size = pop["size"] >> 20
    r = prow(pop, "4K", "rt_region_never")
    if r:
        row(f"rt_region_create {size} MiB, 4K pages", r["median_ms"], "ms",
            "touch loop (no lock)", r["vs_touch"], ">= 1.5x", r["vs_touch"] >= 1.5)
    r = prow(pop, "THP", "rt_region_auto")
    if r:
        row(f"rt_region_create {size} MiB, THP", r["median_ms"], "ms",
            "memset of resident memory", r["vs_memset"], ">= 0.7x", r["vs_memset"] >= 0.7)
if big:
    # rtmem's multi-threaded prefault (rt_region_create picks the threads)
    # against the fastest single-threaded one (mlock populating inside)
    pmt, st = prow(big, "4K", "rt_region_never"), prow(big, "4K", "mlock")
    if pmt and st:
        x = st["median_ms"] / pmt["median_ms"]
        row(f"multi-thread prefault {big['size'] >> 20} MiB 4K", pmt["median_ms"], "ms",
            "single-threaded mlock", x, ">= 1.6x", x >= 1.6)
if lck:
    r = {x["method"]: x for x in lck["results"]}
    if "rt_lock_all" in r:
        row(f"rt_lock_all, {lck['resident_bytes'] >> 20} MiB resident",
            r["rt_lock_all"]["median_ms"], "ms", "bare mlockall",
            r["rt_lock_all"]["ratio"], "<= 1.2x", r["rt_lock_all"]["ratio"] <= 1.2)
if ver:
    for v in ver["rows"]:
        if v["config"] == "4K" or v["config"] == "THP":
            row(f"rt_verify_range {v['size'] >> 20} MiB {v['config']}", v["verify_ms"], "ms",
                "pagemap pread", v["x_pagemap"], ">= 3x", v["x_pagemap"] >= 3)
            row(f"rt_verify_range {v['size'] >> 20} MiB {v['config']}", v["verify_ms"], "ms",
                "mincore (time ratio)", v["vs_mincore"], "<= 1.5x", v["vs_mincore"] <= 1.5)
for c in res["check"]:
    row(f"rtmem check {c['size_mib']} MiB {c['config']}", c["median_ms"], "ms", "-", None,
        "< 100 ms", c["median_ms"] < 100)
if res["pool"]:
    p = res["pool"]
    row("rt_pool get+put", p["rt_pool_ns"], "ns", "glibc malloc+free",
        p["rt_pool_ns"] / p["glibc_ns"], "< 20 ns", p["rt_pool_ns"] < 20)
al = {a["allocator"]: a for a in res["alloc"]}
if "rt_arena (mutex)" in al and "glibc (RT-tuned)" in al:
    a, g = al["rt_arena (mutex)"], al["glibc (RT-tuned)"]
    x = a["median_ns"] / g["median_ns"]
    row("rt_arena alloc+free median", a["median_ns"], "ns", "glibc (RT-tuned)", x, "<= 1.5x",
        x <= 1.5)
    peers_max = max(v["max_ns"] for k, v in al.items() if not k.startswith("rt_arena"))
    row("rt_arena worst case (max)", a["max_ns"], "ns", "glibc max / arena max",
        g["max_ns"] / a["max_ns"] if a["max_ns"] else None, ">= 5x, <= every peer",
        a["max_ns"] * 5 <= g["max_ns"] and a["max_ns"] <= peers_max)
    row("rt_arena steady state", a["faults"] + max(a["syscalls"], 0), "faults+syscalls", "-",
        None, "0", a["faults"] == 0 and a["syscalls"] == 0)
if "rt_arena (caches)" in al and "glibc (RT-tuned)" in al:
    a, g = al["rt_arena (caches)"], al["glibc (RT-tuned)"]
    x = a["median_ns"] / g["median_ns"]
    row("rt_arena with thread caches, median", a["median_ns"], "ns", "glibc (RT-tuned)", x,
        "<= 1.0x", x <= 1.0)
th = res["thread"]
if "rt_ns" in th and "pthread_ns" in th:
    row("rt_thread_create+join", th["rt_ns"], "ns", "pthread_create+join",
        th["rt_ns"] / th["pthread_ns"], "(reported)", None)
for k, v in th.get("first_ms_faults", {}).items():
    if k.startswith("rt_thread_create"):
        row(f"faults in first ms, {k}", v["max"], "faults (max)", "-", None, "0", v["max"] == 0)

ipc = res["ipc"]
if "rt_ring" in ipc and "pipe" in ipc:
    r_, p_ = ipc["rt_ring"], ipc["pipe"]
    row("rt_ring round trip, 2 processes, median", r_["median_ns"], "ns", "pipe (blocking)",
        r_["median_ns"] / p_["median_ns"], "<= 0.5x", r_["median_ns"] <= 0.5 * p_["median_ns"])
    row("rt_ring round trip, 2 processes, p99", r_["p99_ns"], "ns", "pipe (blocking)",
        r_["p99_ns"] / p_["p99_ns"], "<= 0.5x", r_["p99_ns"] <= 0.5 * p_["p99_ns"])
    if "mqueue" in ipc:
        q_ = ipc["mqueue"]
        row("rt_ring round trip, 2 processes, p99", r_["p99_ns"], "ns", "POSIX mqueue",
            r_["p99_ns"] / q_["p99_ns"], "<= 0.5x", r_["p99_ns"] <= 0.5 * q_["p99_ns"])

lg = res["log"]
if "rt_log_write" in lg and "write(2)" in lg:
    a_, w_ = lg["rt_log_write"], lg["write(2)"]
    row("rt_log_write per record, median", a_["median_ns"], "ns", "write(2) per record",
        a_["median_ns"] / w_["median_ns"], "<= 0.2x", a_["median_ns"] <= 0.2 * w_["median_ns"])
    row("rt_log_write per record, p99.99", a_["p9999_ns"], "ns", "write(2) per record",
        a_["p9999_ns"] / w_["p9999_ns"], "(reported)", None)

# many threads (bench_mt): each of ours against plain glibc in the same run
def mtget(wl, alloc, threads=None):
    for r in mt:
        if r["workload"] == wl and r["allocator"] == alloc and (threads is None or
                                                                 r["threads"] == threads):
            return r
    return None


for wl in ("larson", "prodcons", "churn"):
    for t in sorted({r["threads"] for r in mt if r["workload"] == wl}):
        for ours in ("rt_malloc", "rtmem run"):
            r = mtget(wl, ours, t)
            if r:
                what = "churn, threads/s" if wl == "churn" else \
                    f"{wl} {t} thread{'s' if t > 1 else ''}, Mops/s"
                row(f"{what}, {ours}", r["value"] / (1 if wl == "churn" else 1e6), "",
                    "glibc, same run", r["ratio_glibc"], ">= 1.0x", r["ratio_glibc"] >= 1.0)
for ours in ("rt_malloc", "rtmem run"):
    q = [r for r in mt if r["workload"] == "larson" and r["allocator"] == ours]
    if q:
        bad = sum(r["faults"] + max(r["syscalls"], 0) for r in q)
        row(f"larson timed part, {ours}, all thread counts", bad, "faults+syscalls", "-", None,
            "0", bad == 0)
    r = mtget("inversion", ours)
    c = mtget("inversion", "control")
    if r:
        row(f"inversion: high thread's worst alloc+free, {ours}", r["value"] / 1e6, "ms",
            "plain mutex (control)", r["value"] / c["value"] if c and c["value"] else None,
            "< 1 ms", r["value"] < 1e6)
        row(f"inversion: rounds the high thread waited, {ours}", r.get("inverted", 0), "",
            "-", None, "0", r.get("inverted", 0) == 0)

res["comparisons"] = rows
json.dump(res, open(os.path.join(d, "results.json"), "w"), indent=1)

# ---- print ----
m = machine or {}
print(f"machine: {m.get('cpu')}, {m.get('nproc')} CPUs, {m.get('arch')}, kernel "
      f"{m.get('kernel')}, page {m.get('page_size')}, THP {m.get('thp_enabled')}/"
      f"{m.get('thp_defrag')}, {int(m.get('mem_total_kb', 0)) >> 20} GiB"
      f"{' (QUICK: sizes too small to mean much)' if m.get('quick') else ''}")
print(f"{'comparison':<50} {'value':>12} {'ratio':>7}  {'vs':<26} {'target':<22} met")
for r in rows:
    ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
    met = {True: "yes", False: "NO", None: "-"}[r["met"]]
    print(f"{r['what']:<50} {r['value']:>9.2f} {r['unit'][:2]:<2} {ratio:>7}  "
          f"{r['baseline']:<26} {r['target']:<22} {met}")

# ---- charts (gnuplot scripts; run.sh runs them) ----
def chart(name, title, ylabel, data, fmt="%.2f"):
    dat = os.path.join(d, name + ".dat")
    with open(dat, "w") as f:
        for label, value in data:
            f.write('"%s" %s\n' % (label.replace('"', "'"), fmt % value))
    with open(os.path.join(d, name + ".gp"), "w") as f:
        f.write(f"""set terminal pngcairo noenhanced size 900,{220 + 28 * len(data)} font ",10"
set output "{os.path.join(d, name + '.png')}"
set title "{title}"
set style fill solid 0.8 border -1
set boxwidth 0.6
set xlabel "{ylabel}"
set ytics nomirror
set grid xtics
unset key
set yrange [-0.7:{len(data) - 0.3}]
set xrange [0:*]
plot "{dat}" using (0):($0):(0):($2):($0-0.3):($0+0.3):yticlabels(1) with boxxyerror lc rgb "#4477aa", \\
     "" using ($2):($0):(sprintf("{fmt}", $2)) with labels left offset 0.5,0
""")


if pop:
    for cfg in ("4K", "THP"):
        data = [(r["label"], r["gbps"]) for r in pop["rows"]
                if r["config"] == cfg and not r.get("failed") and "gbps" in r]
        if data:
            chart(f"populate_{cfg.lower()}", f"Prefault and lock {pop['size'] >> 20} MiB, {cfg} "
                  f"({m.get('kernel')}, {m.get('nproc')} CPUs): GB/s, higher is better",
                  "GB/s", data)
if lck:
    chart("lockall", f"Locking a process with {lck['resident_bytes'] >> 20} MiB resident: ms, "
          "lower is better", "ms", [(r["method"], r["median_ms"]) for r in lck["results"]])
if res["alloc"]:
    chart("alloc_median", "Allocator alloc+free, median ns (lower is better)", "ns",
          [(a["allocator"], a["median_ns"]) for a in res["alloc"]], "%.0f")
    chart("alloc_p9999", "Allocator alloc+free, p99.99 ns (lower is better)", "ns",
          [(a["allocator"], a["p9999_ns"]) for a in res["alloc"]], "%.0f")
if mt:
    for wl, unit in (("larson", "Mops/s"), ("prodcons", "Mops/s"), ("churn", "threads/s")):
        q = [r for r in mt if r["workload"] == wl]
        if q:
            scale = 1e6 if unit == "Mops/s" else 1
            chart(f"mt_{wl}", f"{wl}: {unit} by allocator and threads, higher is better", unit,
                  [(f"{r['allocator']} {r['threads']}T", r["value"] / scale) for r in q],
                  "%.1f" if scale > 1 else "%.0f")
    q = [r for r in mt if r["workload"] == "larson" and r["p9999_ns"]]
    if q:
        chart("mt_larson_p9999", "larson: one free+malloc, p99.99 ns, lower is better", "ns",
              [(f"{r['allocator']} {r['threads']}T", r["p9999_ns"]) for r in q], "%.0f")
    q = [r for r in mt if r["workload"] == "inversion"]
    if q:
        chart("mt_inversion", "Priority inversion: the high thread's worst alloc+free, ms "
              "(lower is better)", "ms", [(r["allocator"], r["value"] / 1e6) for r in q], "%.3f")
if ver:
    data = []
    for v in ver["rows"]:
        tag = f"{v['config']} {v['size'] >> 20} MiB"
        data += [(f"rt_verify_range {tag}", v["verify_ms"]), (f"pagemap pread {tag}", v["pagemap_ms"]),
                 (f"mincore {tag}", v["mincore_ms"])]
    chart("verify", "Verifying residency: ms, lower is better", "ms", data, "%.3f")
