#!/usr/bin/env python3
"""Weir against the best anchor, scenario by scenario, with the goals of
issue 10 (performance), from the summary lines that run.sh -m writes.

Usage: goals.py SUMMARY_FILE [TARGET [ANCHOR,ANCHOR]]   (defaults: weir, haproxy,nginx)

Every figure is a median of the same run. "Best anchor" is the anchor with
the highest rate (lowest KiB/conn for memory); the CPU goal compares with the
lowest anchor us/req, the p99 goal with the best-rate anchor's p99.
"""
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if kv:
                rows.append(kv)
    return rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


# (scen, scheme, path, label, rate goal ratio or None, kind)
SCENARIOS = [
    ("ka", "http", "/", "keep-alive, small (wrk -c64)", 1.25, "rate"),
    ("ka", "http", "/1k", "keep-alive, 1 KiB body", 1.0, "rate"),
    ("ka", "http", "/64k", "keep-alive, 64 KiB body", 1.0, "rate"),
    ("close", "http", "/", "new connection per request", 1.0, "rate"),
    ("ka", "https", "/", "TLS 1.3 keep-alive", 1.0, "rate"),
    ("close", "https", "/", "TLS 1.3 close (wrk resumes sessions)", None, "rate"),
    ("stime", "https", "/", "TLS 1.3 full handshakes (s_time -new)", 1.0, "rate"),
    ("idle", "http", "/", "idle memory, plain (KiB/conn)", 1.0, "mem"),
    ("idle", "https", "/", "idle memory, TLS (KiB/conn)", 0.5, "mem"),
]


def main():
    rows = load(sys.argv[1])
    target = sys.argv[2] if len(sys.argv) > 2 else "weir"
    anchors = (sys.argv[3] if len(sys.argv) > 3 else "haproxy,nginx").split(",")

    def get(scen, scheme, path, name):
        found = [r for r in rows if r.get("scen") == scen and r.get("scheme") == scheme
                 and r.get("path") == path and r.get("name") == name]
        return found[-1] if found else None

    print(f"| scenario | {target} | best anchor | ratio | goal | met | {target} us/req | "
          f"lowest anchor us/req | us ratio | {target} p99 ms | best anchor p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scen, scheme, path, label, goal, kind in SCENARIOS:
        t = get(scen, scheme, path, target)
        a = {n: get(scen, scheme, path, n) for n in anchors}
        a = {n: r for n, r in a.items() if r}
        if not t or not a:
            continue
        if kind == "mem":
            best = min(a, key=lambda n: num(a[n]["kib"]))
            tv, bv = num(t["kib"]), num(a[best]["kib"])
            ratio = tv / bv if bv else float("inf")
            met = "yes" if ratio <= goal else "**no**"
            gtxt = f"<= {goal:g}x"
            print(f"| {label} | {tv:.2f} | {bv:.2f} ({best}) | {ratio:.2f} | {gtxt} | {met} "
                  f"| - | - | - | - | - |")
            continue
        best = max(a, key=lambda n: num(a[n]["rps"]))
        tv, bv = num(t["rps"]), num(a[best]["rps"])
        ratio = tv / bv if bv else 0.0
        if goal is None:
            gtxt, met = "(none)", "-"
        else:
            gtxt, met = f">= {goal:g}x", ("yes" if ratio >= goal else "**no**")
        errs = "" if set(t.get("errors", "0").split("/")) <= {"0"} else f" (errors {t['errors']})"
        tus = num(t["us"])
        lowu = min(a, key=lambda n: num(a[n]["us"]))
        bus = num(a[lowu]["us"])
        usr = tus / bus if bus else 0.0
        if scen == "ka" and scheme == "http" and path == "/":
            gtxt += "; us <= 0.8x; p99 no worse"
            ok = ratio >= goal and usr <= 0.8 and num(t["p99"]) <= num(a[best]["p99"])
            met = "yes" if ok else "**no**"
        p99t = t.get("p99", "-")
        p99b = a[best].get("p99", "-")
        print(f"| {label} | {tv:.0f}{errs} | {bv:.0f} ({best}) | {ratio:.2f} | {gtxt} | {met} "
              f"| {tus:.1f} | {bus:.1f} ({lowu}) | {usr:.2f} | {p99t} | {p99b} |")

    d = get("ka", "http", "/", "direct")
    t = get("ka", "http", "/", target)
    if d and t:
        r = num(t["rps"]) / num(d["rps"])
        ar = ", ".join(f"{n} {num(get('ka', 'http', '/', n)['rps']) / num(d['rps']):.2f}"
                       for n in anchors if get("ka", "http", "/", n))
        print(f"\nproxied / no-proxy keep-alive throughput (goal >= 0.5): {target} {r:.2f}"
              f" ({'met' if r >= 0.5 else 'NOT met'}); anchors: {ar}; direct {num(d['rps']):.0f} req/s")


if __name__ == "__main__":
    main()
