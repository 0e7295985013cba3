#!/usr/bin/env python3
"""Turns bench/run's raw results into a CSV, the table of ratios (Markdown) and SVG curves.

    report.py --raw raw.txt --machine machine.txt --csv out.csv --table out.md --svg out.svg

raw.txt has one line per run: `scenario=.. server=.. rep=.. mode=.. ok=.. key=value ...` (the
generator's RESULT line, labelled). Standard library only (no matplotlib): the SVG is written by
hand. Medians over the runs that were ok, with [min..max]; ratios are herald's median over the
peer's median, with [min..max] of the per-repetition ratios (runs of one repetition ran back to
back, ABAB).
"""
import argparse
import csv
import math
import statistics
import sys

SERVERS = ["herald", "herald-bus", "nchan", "les", "relay", "ceiling"]
NAMES = {
    "herald": "Herald (websocket driver)",
    "nchan": "nginx + nchan",
    "les": "laravel-echo-server",
    "relay": "naive Beast relay",
    "ceiling": "ceiling",
}
COLORS = {"herald": "#d62728", "nchan": "#1f77b4", "les": "#2ca02c", "relay": "#ff7f0e", "ceiling": "#7f7f7f"}


def load(path):
    rows = []
    for line in open(path):
        kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
        if kv:
            rows.append(kv)
    return rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, kind):
    if v is None:
        return "n/a"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "ms":
        return f"{v:.2f}" if v < 100 else f"{v:,.0f}"
    if kind == "x":
        return f"{v:.2f}x" if v < 100 else f"{v:,.0f}x"
    if kind == "kib":
        return f"{v:.2f}"
    if kind == "pct":
        return f"{v:.0f}%"
    return f"{v:g}"


class Data:
    def __init__(self, rows):
        self.rows = rows

    def sel(self, scenario, server, conns=None, ok_only=True):
        out = []
        for r in self.rows:
            if r.get("scenario") != scenario or r.get("server") != server:
                continue
            if conns is not None and r.get("conns") != str(conns):
                continue
            if ok_only and r.get("ok") != "1":
                continue
            out.append(r)
        return out

    def count(self, scenario, server, conns=None):
        return len(self.sel(scenario, server, conns, ok_only=False))

    def values(self, scenario, server, key, conns=None):
        return [v for v in (num(r.get(key)) for r in self.sel(scenario, server, conns)) if v is not None]

    def stat(self, scenario, server, key, conns=None):
        v = self.values(scenario, server, key, conns)
        if not v:
            return None
        return statistics.median(v), min(v), max(v), len(v)

    def ratio(self, scenario, a, b, key, conns=None, scenario_b=None, conns_b=None):
        sb = scenario_b or scenario
        cb = conns if conns_b is None else conns_b
        ma, mb = self.stat(scenario, a, key, conns), self.stat(sb, b, key, cb)
        if not ma or not mb or mb[0] == 0:
            return None
        per = []
        ra = {r["rep"]: num(r.get(key)) for r in self.sel(scenario, a, conns)}
        rb = {r["rep"]: num(r.get(key)) for r in self.sel(sb, b, cb)}
        for rep in ra:
            if rep in rb and ra[rep] and rb[rep]:
                per.append(ra[rep] / rb[rep])
        lo, hi = (min(per), max(per)) if per else (None, None)
        return ma[0] / mb[0], lo, hi


def cell(st, kind):
    if not st:
        return "n/a"
    m, lo, hi, n = st
    s = fmt(m, kind)
    if n > 1:
        s += f" [{fmt(lo, kind)}..{fmt(hi, kind)}]"
    return s


def ratio_cell(r):
    if not r:
        return "n/a"
    m, lo, hi = r
    s = f"**{fmt(m, 'x')}**"
    if lo is not None and hi is not None and lo != hi:
        s += f" [{fmt(lo, 'x')}..{fmt(hi, 'x')}]"
    return s


def why_fanout(d, scenario, conns):
    """The measured reason a throughput goal is missed: who saturated which core."""
    srv = d.stat(scenario, "herald", "server_cpu_pct", conns)
    gen = d.stat(scenario, "herald", "gen_cpu_pct", conns)
    per = d.stat(scenario, "herald", "deliveries_per_server_cpu_s", conns)
    wait = d.stat(scenario, "herald", "server_runq_wait_s", conns)
    wall = d.stat(scenario, "herald", "wall_s", conns)
    bits = []
    if srv:
        bits.append(f"server CPU {srv[0]:.0f}% of wall")
    if gen:
        bits.append(f"generator CPU {gen[0]:.0f}%" + (" (the generator is the bottleneck)" if gen[0] >= 90 else ""))
    if wait and wall and wall[0] > 0:
        bits.append(f"server waited {100 * wait[0] / wall[0]:.0f}% of wall for its core")
    if per:
        bits.append(f"{per[0]:,.0f} deliveries per server CPU-s = {1e6 / per[0]:.2f} us per delivery, "
                    f"so one saturated core would give about {per[0]:,.0f}/s")
    return "; ".join(bits)


def goals_table(d, out):
    fan_n = 1000
    rows = []

    def verdict(value, goal, higher=True):
        if value is None:
            return "not measured"
        return "met" if (value >= goal if higher else value <= goal) else "**missed**"

    st = d.stat("fanout", "herald", "deliveries_per_s", fan_n)
    v = verdict(st[0] if st else None, 1e6)
    rows.append(("fan-out 1,000 subs, 20 B, deliveries/s, server on 1 core", cell(st, "int"), "", ">= 1,000,000/s",
                 v, why_fanout(d, "fanout", fan_n) if v != "met" else ""))
    for peer, goal in (("nchan", 10), ("les", 25), ("relay", 2), ("ceiling", 0.6)):
        r = d.ratio("fanout", "herald", peer, "deliveries_per_server_cpu_s", fan_n)
        rw = d.ratio("fanout", "herald", peer, "deliveries_per_s", fan_n)
        v = verdict(r[0] if r else None, goal)
        reason = ""
        if r:
            ph = d.stat("fanout", "herald", "deliveries_per_server_cpu_s", fan_n)
            pp = d.stat("fanout", peer, "deliveries_per_server_cpu_s", fan_n)
            reason = (f"{ph[0]:,.0f} vs {pp[0]:,.0f} deliveries per server CPU-s; "
                      f"wall-clock deliveries/s ratio {fmt(rw[0], 'x') if rw else 'n/a'}")
        rows.append((f"fan-out 1,000 subs vs {NAMES[peer]}, per server CPU-s", ratio_cell(r), "",
                     f">= {goal:g}x", v, reason))
    st = d.stat("latency-50pct", "herald", "p99_ms", 1000)
    rate = d.stat("latency-50pct", "herald", "rate", 1000)
    v = verdict(st[0] if st else None, 2.0, higher=False)
    p999 = d.stat("latency-50pct", "herald", "p999_ms", 1000)
    reason = (f"open loop at {rate[0]:,.0f} msg/s x 1,000 subs; p99.9 {fmt(p999[0], 'ms') if p999 else 'n/a'} ms"
              if rate else "")
    wait = d.stat("latency-50pct", "herald", "server_runq_wait_s", 1000)
    wall = d.stat("latency-50pct", "herald", "wall_s", 1000)
    if wait and wall and wall[0] > 0:
        reason += f"; the server waited {100 * wait[0] / wall[0]:.0f}% of the wall time for its core (shared machine)"
    rows.append(("p99 publish->receive at 50% of max rate, 1,000 subs (ms)", cell(st, "ms"), "", "<= 2 ms", v, reason))
    conns = None
    for r in d.rows:
        if r.get("scenario") == "idle" and r.get("server") == "herald":
            conns = r.get("conns")
    st = d.stat("idle", "herald", "kib_per_conn")
    rows.append((f"RSS per idle connection at {int(conns or 0):,} connections (KiB)", cell(st, "kib"), "", "<= 8 KiB",
                 verdict(st[0] if st else None, 8, higher=False), ""))
    for variant, label in (("herald/default", "POST /api/publish"), ("herald/default-pusher", "Pusher REST API")):
        r = d.ratio("http-publish", variant, "les", "msgs_per_server_cpu_s")
        v = verdict(r[0] if r else None, 10)
        st = d.stat("http-publish", variant, "msgs_per_server_cpu_s")
        sl = d.stat("http-publish", "les", "msgs_per_server_cpu_s")
        reason = f"{st[0]:,.0f} vs {sl[0]:,.0f} requests per server CPU-s" if st and sl else ""
        rows.append((f"HTTP publish ({label}, default config) vs laravel-echo-server, per server CPU-s",
                     ratio_cell(r), "", ">= 10x", v, reason))
        st = d.stat("http-publish", variant, "msgs_per_s")
        v = verdict(st[0] if st else None, 50000)
        reason = ""
        if v != "met" and st:
            srv = d.stat("http-publish", variant, "server_cpu_pct")
            gen = d.stat("http-publish", variant, "gen_cpu_pct")
            per = d.stat("http-publish", variant, "msgs_per_server_cpu_s")
            reason = (f"server CPU {srv[0]:.0f}% of wall (all threads on CPU 0), generator {gen[0]:.0f}%"
                      + (" (generator-bound)" if gen[0] >= 90 else "")
                      + (f"; {per[0]:,.0f} requests per server CPU-s" if per else ""))
        rows.append((f"HTTP publish ({label}, default config), requests/s", cell(st, "int"), "", ">= 50,000/s", v,
                     reason))
    # Redis bus: two nodes (subscribers on B, publishing on A) against one node, same run.
    bus = d.stat("redis-bus", "herald-bus", "deliveries_per_s", fan_n)
    one = d.stat("redis-bus", "herald", "deliveries_per_s", fan_n)
    r = (bus[0] / one[0], None, None) if bus and one and one[0] else None
    v = verdict(r[0] if r else None, 0.5)
    reason = ""
    if r and v != "met":
        per = d.stat("redis-bus", "herald-bus", "deliveries_per_server_cpu_s", fan_n)
        reason = (f"both nodes and redis-server share the server core"
                  + (f"; {per[0]:,.0f} deliveries per CPU-s of the three" if per else ""))
    rows.append(("Redis bus, two nodes vs one, 1,000 subs, deliveries/s", ratio_cell(r), "", ">= 0.5x", v, reason))
    out.append("| goal | measured: median [min..max] | target | verdict | measured reason |")
    out.append("|---|---|---|---|---|")
    for r in rows:
        out.append("| " + " | ".join(r[:2]) + " | " + " | ".join(r[3:]) + " |")


def fanout_table(d, scenario, title, conns_list, out):
    present = [n for n in conns_list if any(r.get("scenario") == scenario and r.get("conns") == str(n) for r in d.rows)]
    if not present:
        return
    out.append("")
    out.append(f"### {title}")
    out.append("")
    out.append("| subs | server | deliveries/s | deliveries per server CPU-s | herald / this (per CPU-s) | "
               "p50 ms | p99 ms | p99.9 ms | max ms | drops | disc. | server CPU | gen CPU | runs ok |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    servers = sorted({r["server"] for r in d.rows if r.get("scenario") == scenario},
                     key=lambda s: (SERVERS.index(s.split("/")[0]) if s.split("/")[0] in SERVERS else 9, s))
    for n in present:
        for s in servers:
            total = d.count(scenario, s, n)
            if not total:
                continue
            ok = len(d.sel(scenario, s, n))
            ratio = "" if s.startswith("herald") else ratio_cell(
                d.ratio(scenario, "herald", s, "deliveries_per_server_cpu_s", n))
            gen = d.stat(scenario, s, "gen_cpu_pct", n)
            genc = cell(gen, "pct") + (" **gen-bound**" if gen and gen[0] >= 90 else "")
            out.append(f"| {n:,} | {s} | {cell(d.stat(scenario, s, 'deliveries_per_s', n), 'int')} | "
                       f"{cell(d.stat(scenario, s, 'deliveries_per_server_cpu_s', n), 'int')} | {ratio} | "
                       f"{cell(d.stat(scenario, s, 'p50_ms', n), 'ms')} | {cell(d.stat(scenario, s, 'p99_ms', n), 'ms')} | "
                       f"{cell(d.stat(scenario, s, 'p999_ms', n), 'ms')} | {cell(d.stat(scenario, s, 'max_ms', n), 'ms')} | "
                       f"{cell(d.stat(scenario, s, 'drops', n), 'int')} | {cell(d.stat(scenario, s, 'disconnects', n), 'int')} | "
                       f"{cell(d.stat(scenario, s, 'server_cpu_pct', n), 'pct')} | {genc} | {ok}/{total} |")


def simple_table(d, scenario, title, cols, out):
    servers = [s for s in dict.fromkeys(r["server"] for r in d.rows if r.get("scenario") == scenario)]
    if not servers:
        return
    out.append("")
    out.append(f"### {title}")
    out.append("")
    out.append("| server | " + " | ".join(c[1] for c in cols) + " | runs ok |")
    out.append("|---|" + "---|" * len(cols) + "---|")
    for s in servers:
        cells = []
        for key, _, kind in cols:
            if kind == "ratio":
                cells.append("" if s.startswith("herald") else ratio_cell(d.ratio(scenario, "herald" if scenario != "http-publish" else "herald/default", s, key)))
            else:
                cells.append(cell(d.stat(scenario, s, key), kind))
        out.append(f"| {s} | " + " | ".join(cells) + f" | {len(d.sel(scenario, s))}/{d.count(scenario, s)} |")


# ---- SVG --------------------------------------------------------------------------------------

def svg_curves(d, path, machine):
    ns = sorted({int(r["conns"]) for r in d.rows if r.get("scenario") == "fanout" and r.get("conns")})
    panels = [("deliveries_per_s", "deliveries/s (wall clock)"),
              ("deliveries_per_server_cpu_s", "deliveries per server CPU-second"),
              ("p99_ms", "p99 publish -> receive latency (ms)")]
    W, H, pw, ph, ml, mt = 1320, 470, 330, 300, 80, 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           '<text x="20" y="24" font-size="16" font-weight="bold">Fan-out to N subscribers of one channel, '
           '20-byte messages, closed loop (bench/run)</text>',
           f'<text x="20" y="44" fill="#555">{machine}</text>']
    for pi, (key, label) in enumerate(panels):
        x0 = ml + pi * (pw + 90)
        y0 = mt + 20
        pts = {}
        for s in SERVERS:
            for n in ns:
                st = d.stat("fanout", s, key, n)
                if st and st[0] > 0:
                    pts.setdefault(s, []).append((n, st[0], st[1], st[2]))
        vals = [v for p in pts.values() for (_, m, lo, hi) in p for v in (m, lo, hi) if v > 0]
        if not vals or not ns:
            continue
        ylo = 10 ** math.floor(math.log10(min(vals)))
        yhi = 10 ** math.ceil(math.log10(max(vals)))
        if yhi <= ylo:
            yhi = ylo * 10
        xlo, xhi = math.log10(min(ns)), math.log10(max(ns))
        if xhi == xlo:
            xlo, xhi = xlo - 1, xhi + 1

        def X(n):
            return x0 + (math.log10(n) - xlo) / (xhi - xlo) * pw

        def Y(v):
            return y0 + ph - (math.log10(max(v, ylo)) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)) * ph

        out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 10}" text-anchor="middle" font-weight="bold">{label}</text>')
        out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        e = math.log10(ylo)
        while e <= math.log10(yhi) + 1e-9:
            v = 10 ** e
            y = Y(v)
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            lab = f"{v:g}" if v < 1e4 else (f"{v / 1e3:g}k" if v < 1e6 else f"{v / 1e6:g}M")
            out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{lab}</text>')
            e += 1
        for n in ns:
            x = X(n)
            out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + ph}" stroke="#eee"/>')
            out.append(f'<text x="{x:.1f}" y="{y0 + ph + 16}" text-anchor="middle" fill="#444">{n:,}</text>')
        out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 34}" text-anchor="middle">subscribers (log)</text>')
        for s, p in pts.items():
            c = COLORS[s]
            poly = " ".join(f"{X(n):.1f},{Y(m):.1f}" for n, m, _, _ in p)
            out.append(f'<polyline points="{poly}" fill="none" stroke="{c}" stroke-width="2"/>')
            for n, m, lo, hi in p:
                out.append(f'<line x1="{X(n):.1f}" y1="{Y(lo):.1f}" x2="{X(n):.1f}" y2="{Y(hi):.1f}" stroke="{c}"/>')
                out.append(f'<circle cx="{X(n):.1f}" cy="{Y(m):.1f}" r="3.5" fill="{c}"/>')
    lx = ml
    for s in SERVERS:
        if any(r.get("server") == s and r.get("scenario") == "fanout" for r in d.rows):
            out.append(f'<rect x="{lx}" y="{H - 28}" width="14" height="4" fill="{COLORS[s]}"/>')
            out.append(f'<text x="{lx + 20}" y="{H - 22}">{NAMES[s]}</text>')
            lx += 40 + 7.5 * len(NAMES[s])
    out.append(f'<text x="{W - 20}" y="{H - 22}" text-anchor="end" fill="#555">median of the runs, bars = min..max</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--machine")
    ap.add_argument("--csv")
    ap.add_argument("--table")
    ap.add_argument("--svg")
    a = ap.parse_args()
    rows = load(a.raw)
    d = Data(rows)
    machine = {}
    if a.machine:
        for line in open(a.machine):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                machine[k] = v
    if a.csv:
        keys = []
        for r in rows:
            for k in r:
                if k not in keys:
                    keys.append(k)
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in rows:
                w.writerow(r)
    out = []
    mline = (f"{machine.get('date', '?')}, {machine.get('cpu', '?')}, kernel {machine.get('kernel', '?')}, "
             f"revision {machine.get('revision', '?')}, load {machine.get('load_before', '?')} before / "
             f"{machine.get('load_after', '?')} after; {machine.get('mode', '?')} mode, "
             f"{machine.get('reps', '?')} run(s) each, {machine.get('seconds', '?')} s measured")
    out.append(f"Machine: {mline}.")
    out.append("")
    out.append("## Goals")
    out.append("")
    goals_table(d, out)
    fan_ns = sorted({int(r["conns"]) for r in rows if r.get("scenario") == "fanout" and r.get("conns")})
    fanout_table(d, "fanout", "Fan-out to N subscribers of one channel, 20 B, closed loop (window 8, 2 publishers)",
                 fan_ns, out)
    fanout_table(d, "fanout-1KB", "Fan-out to 1,000 subscribers, 1 KB messages", [1000], out)
    ch = sorted({int(r["conns"]) for r in rows if r.get("scenario") == "channels" and r.get("conns")})
    fanout_table(d, "channels", "Many channels x 10 subscribers each, 20 B (window 64, 4 publishers)", ch, out)
    fanout_table(d, "fanout-publish-path", "Herald, 1,000 subscribers: Pusher REST API vs POST /api/publish",
                 [1000], out)
    fanout_table(d, "latency-50pct", "Open loop at 50% of the max rate, 1,000 subscribers", [1000], out)
    simple_table(d, "storm", "Connection storm (connects + verified subscribes)",
                 [("conns_per_s", "connects+subscribes/s", "int"), ("conns_per_s", "herald / this", "ratio"),
                  ("verified_s", "seconds", "ms")], out)
    simple_table(d, "idle", "Memory per idle connection (server RSS delta / connections)",
                 [("kib_per_conn", "KiB per connection", "kib"), ("rss_before_kib", "RSS before (KiB)", "int"),
                  ("rss_after_kib", "RSS after (KiB)", "int")], out)
    simple_table(d, "http-publish", "HTTP publish API, 1 subscriber, 16 publisher connections (closed loop)",
                 [("msgs_per_s", "requests/s", "int"), ("msgs_per_server_cpu_s", "requests per server CPU-s", "int"),
                  ("msgs_per_server_cpu_s", "herald /api/publish / this", "ratio"),
                  ("req_p50_ms", "request p50 ms", "ms"), ("req_p99_ms", "request p99 ms", "ms"),
                  ("server_cpu_pct", "server CPU", "pct"), ("gen_cpu_pct", "gen CPU", "pct")], out)
    bus_ns = sorted({int(r["conns"]) for r in rows if r.get("scenario") == "redis-bus" and r.get("conns")})
    fanout_table(d, "redis-bus", "Redis bus: two nodes + redis-server on the server core (subscribers on node B, "
                 "Pusher REST publish on node A) vs one node, 20 B", bus_ns, out)
    text = "\n".join(out) + "\n"
    if a.table:
        with open(a.table, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    if a.svg:
        svg_curves(d, a.svg, f"{machine.get('date', '?')}, {machine.get('cpu', '?')}, revision "
                   f"{machine.get('revision', '?')}, load {machine.get('load_before', '?')}; "
                   f"{machine.get('mode', '?')} mode, {machine.get('reps', '?')} run(s) per point")


if __name__ == "__main__":
    main()
