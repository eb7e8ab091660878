// The dashboard page: HTML, CSS and JS written for rlvr, with no third-party code.
// WriteDashboard() replaces __RLVR_DATA__ with the run's data as JSON.
namespace rlvr {

extern const char kDashboardPage[] = R"PAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rlvr dashboard</title>
<style>
:root { --fg:#1d232b; --muted:#5f6b7a; --line:#d9dee5; --bg:#f6f7f9; --card:#fff;
        --ok:#1a7f37; --bad:#c62828; --warn:#9a6700; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:16px 24px; background:#17202b; color:#fff; }
header h1 { margin:0 0 4px; font-size:20px; }
header .facts span { margin-right:18px; color:#c7d0db; }
header .facts b { color:#fff; }
main { padding:16px 24px 48px; }
h2 { font-size:16px; margin:28px 0 10px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(360px, 1fr)); gap:14px; }
.grid.small { grid-template-columns:repeat(auto-fill, minmax(260px, 1fr)); }
.chart { background:var(--card); border:1px solid var(--line); border-radius:6px;
         padding:8px 10px; position:relative; }
.chart h3 { margin:0 0 4px; font-size:13px; font-weight:600; }
.chart .empty { color:var(--muted); font-style:italic; padding:40px 0; text-align:center; }
.chart svg { width:100%; height:auto; display:block; }
.chart .legend span { margin-right:12px; font-size:12px; color:var(--muted); }
.chart .legend i { display:inline-block; width:10px; height:3px; margin-right:4px;
                   vertical-align:middle; }
.tip { position:absolute; pointer-events:none; background:#17202bee; color:#fff;
       padding:4px 6px; border-radius:4px; font-size:12px; white-space:nowrap; display:none; }
table { border-collapse:collapse; background:var(--card); width:100%; }
th, td { border:1px solid var(--line); padding:5px 8px; text-align:left; vertical-align:top; }
th { background:#eef1f5; font-weight:600; position:sticky; top:0; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.warnings { background:#fff8e1; border:1px solid #f0d58a; border-radius:6px; padding:8px 12px; }
.warnings li { color:var(--warn); font-family:ui-monospace, monospace; font-size:12px; }
.verdict { display:inline-block; padding:1px 6px; border-radius:10px; font-size:12px;
           color:#fff; background:var(--muted); }
.verdict.good { background:var(--ok); } .verdict.bad { background:var(--bad); }
pre { margin:0; white-space:pre-wrap; word-break:break-word; max-height:220px; overflow:auto;
      font:12px/1.4 ui-monospace, monospace; }
.controls { margin:6px 0 10px; }
details { margin-top:8px; }
.muted { color:var(--muted); }
</style>
</head>
<body>
<script type="application/json" id="rlvr-data">__RLVR_DATA__</script>
<header><h1 id="title">rlvr run</h1><div class="facts" id="facts"></div></header>
<main>
<div id="warnings"></div>
<h2>Training</h2><div class="grid" id="sec-training"></div>
<h2>Evaluation across checkpoints</h2><div id="evals"></div>
<h2>Sample completions</h2><div id="samples"></div>
<h2>More training metrics</h2><div class="grid small" id="sec-more"></div>
<div id="other-wrap" hidden><h2>Other metrics</h2><div class="grid small" id="sec-other"></div></div>
<details><summary>Config</summary><pre id="config"></pre></details>
</main>
<script>
"use strict";
const D = JSON.parse(document.getElementById("rlvr-data").textContent);
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in (attrs || {})) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
function fmt(v) {
  if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(a >= 100 ? 1 : a >= 1 ? 3 : 4);
}
// "Nice" tick values covering [lo, hi].
function ticks(lo, hi, n) {
  if (hi === lo) { hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1); lo = lo - (hi - lo); }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return { lo: Math.min(lo, out[0]), hi: Math.max(hi, out[out.length - 1]), ticks: out, step: step };
}

// Tick labels with just enough decimals to tell neighbouring ticks apart.
function tickLabel(t, step) {
  const a = Math.abs(t);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) return t.toExponential(2);
  return t.toFixed(Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9))));
}

function drawChart(spec, parent) {
  const box = el("div", { "class": "chart", "data-chart": spec.name });
  box.appendChild(el("h3", {}, spec.title + (spec.unit ? " (" + spec.unit + ")" : "")));
  parent.appendChild(box);
  const series = spec.series.filter(s => s.points.length > 0);
  const total = series.reduce((a, s) => a + s.points.length, 0);
  box.setAttribute("data-points", String(total));
  if (total === 0) { box.appendChild(el("div", { "class": "empty" }, "no data")); return; }
  const W = 420, H = 200, L = 52, R = 10, T = 8, B = 26;
  let xs = [], ys = [];
  for (const s of series) for (const p of s.points) { xs.push(p[0]); ys.push(p[1]); }
  const xr = ticks(Math.min(...xs), Math.max(...xs), 5), yr = ticks(Math.min(...ys), Math.max(...ys), 4);
  const X = x => L + (x - xr.lo) / (xr.hi - xr.lo) * (W - L - R);
  const Y = y => T + (1 - (y - yr.lo) / (yr.hi - yr.lo)) * (H - T - B);
  const g = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
  for (const t of yr.ticks) {
    g.appendChild(svg("line", { x1: L, x2: W - R, y1: Y(t), y2: Y(t), stroke: "#e5e8ec" }));
    const lab = svg("text", { x: L - 6, y: Y(t) + 4, "text-anchor": "end", "font-size": 10, fill: "#5f6b7a" });
    lab.textContent = tickLabel(t, yr.step); g.appendChild(lab);
  }
  for (const t of xr.ticks) {
    const lab = svg("text", { x: X(t), y: H - 8, "text-anchor": "middle", "font-size": 10, fill: "#5f6b7a" });
    lab.textContent = tickLabel(t, xr.step); g.appendChild(lab);
  }
  g.appendChild(svg("line", { x1: L, x2: L, y1: T, y2: H - B, stroke: "#9aa4b1" }));
  g.appendChild(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#9aa4b1" }));
  const legend = el("div", { "class": "legend" });
  spec.series.forEach((s, i) => {
    if (!s.points.length) return;
    const c = COLORS[i % COLORS.length];
    const d = s.points.map(p => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" ");
    g.appendChild(svg("polyline", { points: d, fill: "none", stroke: c, "stroke-width": 1.6,
                                    "data-series": s.label }));
    if (s.points.length <= 60) {
      for (const p of s.points) g.appendChild(svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2, fill: c }));
    }
    const item = el("span"); const sw = el("i"); sw.style.background = c;
    item.appendChild(sw); item.appendChild(document.createTextNode(s.label)); legend.appendChild(item);
  });
  box.appendChild(g);
  if (spec.series.length > 1) box.appendChild(legend);
  // Hover: the values of every series at the nearest step.
  const tip = el("div", { "class": "tip" }); box.appendChild(tip);
  g.addEventListener("mousemove", ev => {
    const r = g.getBoundingClientRect();
    const x = xr.lo + ((ev.clientX - r.left) / r.width * W - L) / (W - L - R) * (xr.hi - xr.lo);
    const lines = [];
    for (const s of series) {
      let best = s.points[0];
      for (const p of s.points) if (Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p;
      lines.push(s.label + " @ " + fmt(best[0]) + ": " + fmt(best[1]));
    }
    tip.textContent = lines.join("  |  ");
    tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX - box.getBoundingClientRect().left + 8, box.clientWidth - 200) + "px";
    tip.style.top = "26px";
  });
  g.addEventListener("mouseleave", () => { tip.style.display = "none"; });
}

function header() {
  document.getElementById("title").textContent = "rlvr run: " + D.run;
  document.title = "rlvr: " + D.run;
  const f = document.getElementById("facts"), s = D.summary || {};
  const facts = [["steps", s.steps], ["wall", s.wall_seconds !== undefined ? fmt(s.wall_seconds) + " s" : undefined],
                 ["tokens generated", s.tokens_generated],
                 ["held-out pass@1", s.pass_at_1_before !== undefined ? fmt(s.pass_at_1_before) + " → " + fmt(s.pass_at_1_after) : undefined],
                 ["directory", D.run_dir]];
  for (const [k, v] of facts) {
    if (v === undefined || v === null) continue;
    const sp = el("span", {}, k + ": "); sp.appendChild(el("b", {}, String(v))); f.appendChild(sp);
  }
  if (D.warnings.length) {
    const w = el("div", { "class": "warnings", id: "warning-list" });
    w.appendChild(el("b", {}, D.warnings.length + " problem(s) reading the run; showing what exists:"));
    const ul = el("ul");
    for (const m of D.warnings) ul.appendChild(el("li", {}, m));
    w.appendChild(ul); document.getElementById("warnings").appendChild(w);
  }
  document.getElementById("config").textContent = D.config || "(no config.yaml)";
}

function evalTable() {
  const host = document.getElementById("evals");
  if (!D.evals.length) { host.appendChild(el("p", { "class": "muted" }, "No evaluations yet.")); return; }
  const ks = new Set(), mk = new Set();
  for (const e of D.evals) {
    for (const k in (e.result.pass_at_k || {})) if (k !== "1") ks.add(+k);
    for (const k in (e.result.maj_at_k || {})) mk.add(+k);
  }
  const kcols = [...ks].sort((a, b) => a - b), mcols = [...mk].sort((a, b) => a - b);
  const t = el("table", { id: "eval-table" }), hr = el("tr");
  const cols = ["evaluation", "tasks", "samples", "pass@1"].concat(kcols.map(k => "pass@" + k), mcols.map(k => "maj@" + k),
               ["mean reward", "mean tokens", "truncated", "correct / M tokens", "verdicts"]);
  for (const c of cols) hr.appendChild(el("th", {}, c));
  t.appendChild(hr);
  for (const e of D.evals) {
    const r = e.result, tr = el("tr");
    const num = v => el("td", { "class": "num" }, fmt(v));
    tr.appendChild(el("td", {}, e.label));
    tr.appendChild(num(r.tasks)); tr.appendChild(num(r.samples)); tr.appendChild(num(r.pass_at_1));
    for (const k of kcols) tr.appendChild(num((r.pass_at_k || {})[k]));
    for (const k of mcols) tr.appendChild(num((r.maj_at_k || {})[k]));
    tr.appendChild(num(r.mean_reward)); tr.appendChild(num(r.mean_completion_tokens));
    tr.appendChild(num(r.truncation_rate)); tr.appendChild(num(r.correct_per_million_tokens));
    const v = r.verdicts || {};
    tr.appendChild(el("td", {}, Object.keys(v).map(k => k + " " + v[k]).join(", ")));
    t.appendChild(tr);
  }
  host.appendChild(t);
  // Breakdowns (rlvr eval): by source and by difficulty.
  for (const e of D.evals) {
    for (const by of ["by_source", "by_difficulty"]) {
      const b = e.result[by];
      if (!b || !Object.keys(b).length) continue;
      const d = el("details"); d.appendChild(el("summary", {}, e.label + ": " + by.replace("_", " ")));
      const bt = el("table"), h = el("tr");
      for (const c of ["group", "tasks", "pass@1", "mean reward"]) h.appendChild(el("th", {}, c));
      bt.appendChild(h);
      for (const g in b) {
        const tr = el("tr"); tr.appendChild(el("td", {}, g));
        for (const c of ["tasks", "pass_at_1", "mean_reward"]) tr.appendChild(el("td", { "class": "num" }, fmt(b[g][c])));
        bt.appendChild(tr);
      }
      d.appendChild(bt); host.appendChild(d);
    }
  }
}

function sampleTable() {
  const host = document.getElementById("samples");
  if (!D.samples.length) { host.appendChild(el("p", { "class": "muted" }, "No samples recorded.")); return; }
  const verdicts = [...new Set(D.samples.map(s => s.verdict || ""))].sort();
  const ctl = el("div", { "class": "controls" }), sel = el("select", { id: "verdict-filter" });
  sel.appendChild(el("option", { value: "" }, "all verdicts"));
  for (const v of verdicts) sel.appendChild(el("option", { value: v }, v || "(none)"));
  ctl.appendChild(document.createTextNode("Show: ")); ctl.appendChild(sel); host.appendChild(ctl);
  const t = el("table", { id: "sample-table" }), hr = el("tr");
  for (const c of ["step", "source", "task", "verdict", "reward", "prompt", "completion"]) hr.appendChild(el("th", {}, c));
  t.appendChild(hr);
  const rows = [];
  for (const s of D.samples) {
    const tr = el("tr", { "data-verdict": s.verdict || "" });
    tr.appendChild(el("td", { "class": "num" }, fmt(s.step)));
    tr.appendChild(el("td", {}, s.tag || ""));
    tr.appendChild(el("td", {}, s.task_id || ""));
    const vd = el("td"), good = (s.reward || 0) >= 1;
    vd.appendChild(el("span", { "class": "verdict " + (good ? "good" : "bad") }, s.verdict || "?"));
    tr.appendChild(vd);
    tr.appendChild(el("td", { "class": "num" }, fmt(s.reward)));
    const p = el("td"); p.appendChild(el("pre", {}, s.prompt || "")); tr.appendChild(p);
    const c = el("td"); c.appendChild(el("pre", {}, s.completion || "")); tr.appendChild(c);
    t.appendChild(tr); rows.push(tr);
  }
  sel.addEventListener("change", () => {
    for (const r of rows) r.hidden = sel.value !== "" && r.getAttribute("data-verdict") !== sel.value;
  });
  host.appendChild(t);
}

function render() {
  header();
  for (const c of D.charts) {
    const sec = document.getElementById("sec-" + c.section);
    if (c.section === "other") document.getElementById("other-wrap").hidden = false;
    try { drawChart(c, sec); } catch (err) {
      const b = el("div", { "class": "chart", "data-chart": c.name, "data-error": String(err) }, "chart failed: " + err);
      sec.appendChild(b);
    }
  }
  evalTable();
  sampleTable();
  document.body.setAttribute("data-rendered", "true");
}
render();
</script>
</body>
</html>
)PAGE";

}  // namespace rlvr
