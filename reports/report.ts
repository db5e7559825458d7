/**
 * `rtbench report`: a run folder → reports/<run id>/ with index.html (one offline
 * page: vega inlined, a Content-Security-Policy that allows no request, every string
 * escaped), summary.md, data.json and the charts as static SVG.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { brokerCountsNote, formatMicros } from "../results/cell-metrics.js";
import type { RunResult } from "../results/schema.js";
import { readRun } from "../results/store.js";
import { environmentDifferences, formatCompared, type Comparison } from "../harness/compare.js";
import { escapeHtml, scriptJson } from "./html.js";
import { guideSection, GUIDE_SCRIPT } from "./guide.js";
import { buildCharts, renderSvg, type Chart } from "./charts.js";
import { VERDICTS, type ClaimResult, type Verdict } from "./claims.js";
import { buildModel, type CellSummary, type ReportModel } from "./model.js";

const require = createRequire(import.meta.url);

/** Browser builds, in load order: the interpreter adds itself to the `vega` global. */
const LIBRARIES = [
  "vega/build/vega.min.js",
  "vega-lite/build/vega-lite.min.js",
  "vega-interpreter/build/vega-interpreter.min.js",
  "vega-embed/build/vega-embed.min.js",
];

// Vega is told to interpret expressions rather than compile them, so the page needs no 'unsafe-eval'.
const INIT = `
const specs = JSON.parse(document.getElementById("rtbench-charts").textContent);
for (const el of document.querySelectorAll("[data-chart]")) {
  vegaEmbed(el, specs[el.dataset.chart], { actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter })
    .then(() => { el.dataset.rendered = "true"; })
    .catch((err) => { el.dataset.rendered = "error"; el.textContent = "chart failed: " + err.message; console.error(err); });
}`;

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** A package's folder, found from its entry point (its "exports" may hide the build files). */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, "package.json")) || !dir.endsWith(name)) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of the ${name} package`);
    dir = up;
  }
  return dir;
}

function libraryScripts(): string[] {
  return LIBRARIES.map((lib) => {
    const [pkg, ...rest] = lib.split("/");
    return readFileSync(join(packageDir(pkg!), ...rest), "utf8").replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");
  });
}

const ms = formatMicros;
const VERDICT_CLASS: Record<Verdict, string> = { holds: "holds", "does not hold": "fails", consistent: "holds", inconsistent: "fails", "not measured yet": "pending", "unavailable here": "unavailable", "not testable": "untestable" };
/** The verdicts a measured figure decided, whose cells and figure the page links. */
const DECIDED: ReadonlySet<Verdict> = new Set(["holds", "does not hold", "consistent", "inconsistent"]);

/** A cell's figures, or a dash where nothing was measured (an unavailable or failed cell is never 0/0 and 0 µs). */
function cellsTable(cells: CellSummary[]): string {
  const head = ["transport", "broker", "scenario", "clients", "rate/s", "reps", "delivered / expected", "lost", "dup", "reord.", "p50", "p99", "p99.9", "from send p50", "publish delay p99", "deliveries/s", "note"];
  const rows = cells.map((c) => {
    const measured = c.status === "ok";
    const timed = measured && c.latencyUs.count > 0;
    const dash = "–";
    return {
      c,
      values: [
        c.transport, c.broker, c.scenario, c.clients, c.rate, c.repetitions,
        measured ? `${c.counts.delivered} / ${c.counts.expected}` : dash,
        measured ? c.counts.lost : dash, measured ? c.counts.duplicated : dash, measured ? c.counts.reordered : dash,
        timed ? ms(c.latencyUs.p50) : dash, timed ? ms(c.latencyUs.p99) : dash, timed ? ms(c.latencyUs.p999) : dash,
        timed ? ms(c.latencyFromSentUs.p50) : dash, measured && c.publishDelayUs.count > 0 ? ms(c.publishDelayUs.p99) : dash,
        measured ? Math.round(c.throughput).toLocaleString("en") : dash,
        c.status === "failed" ? `FAILED: ${c.errors.join("; ")}` : c.status === "unavailable" ? `unavailable: ${c.errors.join("; ")}` : [c.saturated ? `saturated (the load generator's figure, not the system's): ${c.saturationReasons.join("; ")}` : "", c.chatNote ?? "", c.proxyNote ?? "", c.browserNote ?? "", c.workersNote ?? "", brokerCountsNote(c.brokerCounts)].filter(Boolean).join("; "),
      ],
    };
  });
  return `<table class="cells"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map(({ c, values }) => `<tr id="${escapeHtml(c.anchor)}" class="${c.status === "ok" ? (c.saturated ? "saturated" : "") : c.status}">${values.map((v) => `<td>${escapeHtml(v)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

/** The figure a verdict's scenario is drawn in. */
const FIGURE_OF_SCENARIO: Record<string, string> = {
  steady: "p99",
  saturation: "latency-vs-rate",
  connections: "connections",
  "scale-out": "scale-out",
  reconnect: "loss",
  durability: "loss",
  ordering: "loss",
  backpressure: "spectrum",
  chat: "p99",
};

function claimCell(r: ClaimResult, cells: ReadonlyMap<string, CellSummary>): string {
  const links = (r.cells ?? []).flatMap((key) => {
    const c = cells.get(key);
    return c ? [`<a href="#${escapeHtml(c.anchor)}">${escapeHtml(`${c.transport} × ${c.broker} ${c.scenario}`)}</a>`] : [];
  });
  const figures = [...new Set((r.scenarios ?? []).map((s) => FIGURE_OF_SCENARIO[s]).filter((f): f is string => f !== undefined))];
  const read =
    DECIDED.has(r.verdict)
      ? `<div class="read">read off ${links.join(", ")}${figures.length ? `; figure ${figures.map((f) => `<a href="#chart-${escapeHtml(f)}">${escapeHtml(f)}</a>`).join(", ")}` : ""}</div>`
      : "";
  return `<td class="claim ${VERDICT_CLASS[r.verdict]}"><div class="words">${escapeHtml(r.claim)}</div>${
    r.measured ? `<div class="measured">${escapeHtml(r.measured)}</div>` : ""
  }<div class="verdict">${escapeHtml(r.verdict)}</div>${r.check ? `<code class="check">${escapeHtml(r.check)}</code>` : ""}${
    r.reason ? `<div class="reason">${escapeHtml(r.reason)}</div>` : ""
  }${read}</td>`;
}

function claimTables(model: ReportModel): string {
  const cells = new Map(model.cells.map((c) => [c.key, c]));
  return model.tables
    .map(
      (t) => `<h3>${escapeHtml(t.title)} <small>seed ${escapeHtml(t.doc)}</small></h3>
<table class="claims"><thead><tr><th></th>${t.technologies.map((x) => `<th>${escapeHtml(x)}</th>`).join("")}</tr></thead><tbody>${t.rows
        .map((r) => `<tr><th>${escapeHtml(r.row)}</th>${r.results.map((x) => claimCell(x, cells)).join("")}</tr>`)
        .join("")}</tbody></table>`,
    )
    .join("\n");
}

function figure(chart: Chart, svg: string): string {
  return `<figure class="chart" id="chart-${escapeHtml(chart.id)}"><figcaption><b>${escapeHtml(chart.title)}</b></figcaption>
<div class="vega" data-chart="${escapeHtml(chart.id)}"></div><noscript>${svg}</noscript>
<p class="note">${escapeHtml(chart.note)}</p></figure>`;
}

function comparisonSection(cmp: Comparison | undefined): string {
  if (!cmp) return "";
  const cls: Record<string, string> = { regressed: "fails", improved: "holds", "within noise": "", inconclusive: "pending", "not comparable": "pending" };
  const rows = cmp.cells.flatMap((c) =>
    c.metrics.map(
      (m) => `<tr class="${cls[m.verdict]}"><td>${escapeHtml(c.key)}</td><td>${escapeHtml(m.metric)}</td><td>${escapeHtml(formatCompared(m.metric, m.baseline))}</td><td>${escapeHtml(
        formatCompared(m.metric, m.candidate),
      )}</td><td>${m.ratio === null ? "–" : m.ratio.toFixed(3)}</td><td>${m.interval === null ? "–" : `${m.interval[0].toFixed(3)}–${m.interval[1].toFixed(3)}`}</td><td>±${Math.round(
        m.floor * 100,
      )}%</td><td>${escapeHtml(m.verdict)}${m.note ? ` <span class="reason">(${escapeHtml(m.note)})</span>` : ""}</td></tr>`,
    ),
  );
  const envNote = cmp.environmentDifferences.length
    ? `<p><b>Environments differ</b>: ${escapeHtml(cmp.environmentDifferences.join("; "))}${cmp.forced ? " (compared anyway)" : ""}.</p>`
    : "";
  return `<section id="comparison"><h2>Comparison with the baseline</h2>
<p>Baseline ${escapeHtml(cmp.baseline)}: <b>${cmp.regressions} regression(s)</b>. Ratio of the medians of repetitions; range of candidate/baseline over every pair of repetitions; a verdict needs the whole range beyond the noise floor (${escapeHtml(cmp.mode)}; floors: ${escapeHtml(cmp.floorsFrom)}).</p>${envNote}
<div class="wide"><table class="cells"><thead><tr><th>cell</th><th>metric</th><th>baseline</th><th>this run</th><th>ratio</th><th>range</th><th>floor</th><th>verdict</th></tr></thead><tbody>${rows.join("")}</tbody></table></div></section>`;
}

function environmentTable(model: ReportModel): string {
  const r = model.run;
  const e = r.environment;
  const rows: Array<[string, unknown]> = [
    ["run", r.id],
    ["started / finished", `${r.startedAt} / ${r.finishedAt ?? "unfinished"}${r.interrupted ? " (interrupted)" : ""}`],
    ["rtbench", `${r.rtbenchVersion}, git ${r.gitSha ?? "unknown"}${r.gitDirty ? " (modified)" : ""}`],
    ["command", r.command.join(" ")],
    ["CPU", `${e.cpuModel}, ${e.cores} cores`],
    ["memory", `${(e.memoryBytes / 2 ** 30).toFixed(1)} GiB`],
    ["OS", `${e.os}, kernel ${e.kernel}`],
    ["Node.js", e.node],
    ["brokers", Object.entries(e.brokers).map(([b, v]) => `${b} ${v}`).join(", ")],
    ...(r.injected?.relayBurnUsPerMessage ? ([["injected slowdown (test only)", `${r.injected.relayBurnUsPerMessage} µs of CPU per message in the relay`]] as Array<[string, unknown]>) : []),
    ...(r.injected?.relayMaxConnections ? ([["injected limit (test only)", `the relay accepts at most ${r.injected.relayMaxConnections} sockets`]] as Array<[string, unknown]>) : []),
  ];
  return `<table class="env">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("")}</table>`;
}

/** What the page was built from: one workload, a suite's parts, or several runs merged. */
function runsParagraph(model: ReportModel): string {
  const w = model.run.workload;
  const open = "Latency runs from each message's intended send time (open loop).";
  if (model.sources.length === 1 && !model.run.parts) {
    return `<p>Run <b>${escapeHtml(model.run.id)}</b>, workload <b>${escapeHtml(w.name)}</b>: ${escapeHtml(w.clients)} clients, ${escapeHtml(w.rate)} messages/s of ${escapeHtml(w.size)} B over ${escapeHtml(w.topics)} topic(s), ${escapeHtml(w.duration)} s measured after ${escapeHtml(w.warmup)} s warm-up, ${escapeHtml(w.repetitions)} repetition(s). ${open}</p>`;
  }
  const parts = (model.run.parts ?? []).map((p) => `<li><b>${escapeHtml(p.name)}</b>: ${escapeHtml(p.scenario)}, ${escapeHtml(p.transports.join(", "))} × ${escapeHtml(p.brokers.join(", "))}, ${escapeHtml(p.clients)} clients, ${escapeHtml(p.rate)} messages/s of ${escapeHtml(p.size)} B, ${escapeHtml(p.duration)} s measured</li>`);
  const runs = model.sources.map((r) => `<li><b>${escapeHtml(r.id)}</b>: ${escapeHtml(r.workload)} (${escapeHtml(r.scenarios.join(", "))}), ${r.cells} cell(s), ${escapeHtml(r.startedAt)}</li>`);
  return `${model.sources.length > 1 ? `<p>${model.sources.length} runs of one environment on one page:</p><ul>${runs.join("")}</ul>` : `<p>Run <b>${escapeHtml(model.run.id)}</b>, the suite <b>${escapeHtml(w.name)}</b>:</p>`}${
    parts.length ? `<ul>${parts.join("")}</ul>` : ""
  }<p>${open}</p>`;
}

function page(model: ReportModel, charts: Chart[], svgs: Map<string, string>, resultLinks: readonly string[], comparison?: Comparison): string {
  const libs = libraryScripts();
  const csp = [
    "default-src 'none'",
    `script-src ${[...libs, INIT, GUIDE_SCRIPT].map(sha256).join(" ")}`,
    "style-src 'unsafe-inline'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  const byId = new Map(charts.map((c) => [c.id, c]));
  const fig = (id: string): string => figure(byId.get(id)!, svgs.get(id)!);
  const v = model.verdicts;
  const w = model.run.workload;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rtbench report ${escapeHtml(model.run.id)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1360px;padding:1rem 1.5rem;color:#1d1d1f}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem} h3 small{color:#777;font-weight:normal}
table{border-collapse:collapse;margin:.5rem 0 1rem} th,td{border:1px solid #ddd;padding:.3rem .45rem;vertical-align:top;text-align:left}
table.cells{font-size:12px} table.cells th,table.cells td{padding:.25rem .35rem} table.cells td{font-variant-numeric:tabular-nums;white-space:nowrap} table.cells td:last-child{white-space:normal;min-width:12rem}
table.cells th:first-child,table.cells td:first-child{position:sticky;left:0;background:#fff;z-index:1}
table.cells tr.unavailable td{color:#777;background:#f6f6f6} table.cells tr.failed td{background:#fdeaea} table.cells tr.saturated td{background:repeating-linear-gradient(45deg,#fff,#fff 6px,#f1f1f1 6px,#f1f1f1 12px)} :target td{outline:2px solid #f0b400}
.read{font-size:11px;color:#555}
td.claim{min-width:8rem} .words{font-weight:600} .measured{font-variant-numeric:tabular-nums} .verdict{font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.reason{font-size:11px;color:#666} code.check{font-size:11px;display:block;color:#333} .holds{background:#e8f6ec} .fails{background:#fdeaea} .pending{background:#f6f6f6} .untestable{background:#fff} td.claim.unavailable{background:#f1f1f6}
.holds .verdict{color:#137333} .fails .verdict{color:#b3261e} .pending .verdict,.untestable .verdict,.unavailable .verdict{color:#777}
form.guide{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;margin:.5rem 0} form.guide label span{font-weight:600} form.guide input[type=number]{width:6rem}
figure.chart{margin:1rem 0} .wide{overflow-x:auto} .note{color:#555;font-size:12px} nav a{margin-right:.8rem} .summary span{margin-right:1rem}
</style></head><body>
<h1>rtbench report</h1>
${runsParagraph(model)}
<nav>${comparison ? `<a href="#comparison">Comparison</a>` : ""}<a href="#matrix">Matrix</a><a href="#claims">Seed tables</a><a href="#guide">Decision guide</a><a href="#spectrum">Percentiles</a><a href="#rate">Latency vs rate</a><a href="#memory">Memory</a><a href="#loss">Loss and reconnects</a><a href="#environment">Environment</a></nav>
${comparisonSection(comparison)}
<section id="matrix"><h2>Transport × broker</h2>${fig("p99")}${fig("throughput")}<div class="wide">${cellsTable(model.cells)}</div></section>
<section id="claims"><h2>The seed tables as measured data</h2>
<p class="summary">${VERDICTS.map((k) => `<span>${escapeHtml(k)}: <b>${v[k]}</b></span>`).join("")}</p>
<p class="note">Each cell: the document's claim, the figure measured in this run, the verdict, and the check behind it (reports/claims.yaml). A recommendation ("Use case", "Best for", a decision matrix row) is read as the needs that define its use case, as the decision guide reads them: consistent when the recommended technology meets them all, inconsistent when a figure excludes it.</p>
${claimTables(model)}</section>
${guideSection()}
<section id="spectrum"><h2>Latency percentile spectra</h2>${fig("spectrum")}</section>
<section id="rate"><h2>Latency vs rate</h2>${fig("latency-vs-rate")}</section>
<section id="memory"><h2>Connections vs memory</h2>${fig("memory-per-connection")}${fig("connections")}</section>
<section id="scale"><h2>Scale-out</h2>${fig("scale-out")}</section>
<section id="loss"><h2>Loss and reconnects</h2>${fig("loss")}</section>
<section id="environment"><h2>Environment and provenance</h2>${environmentTable(model)}
<p>Data: <a href="data.json">data.json</a> (this page's model), ${resultLinks.map((l) => `<a href="${escapeHtml(l)}">result.json</a>`).join(", ")} (${resultLinks.length > 1 ? "the runs" : "the run"}, with raw HDR histograms). Workload as run:</p>
<pre>${escapeHtml(JSON.stringify(model.run.parts ? { ...w, parts: model.run.parts } : w, null, 2))}</pre></section>
<script type="application/json" id="rtbench-guide">${scriptJson(model.guide)}</script>
<script type="application/json" id="rtbench-charts">${scriptJson(Object.fromEntries(charts.map((c) => [c.id, c.spec])))}</script>
${[...libs, INIT, GUIDE_SCRIPT].map((s) => `<script>${s}</script>`).join("\n")}
</body></html>
`;
}

function mdEscape(value: unknown): string {
  return String(value).replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\n/g, " ");
}

function summaryMarkdown(model: ReportModel, charts: Chart[]): string {
  const v = model.verdicts;
  const lines = [
    `# rtbench report ${mdEscape(model.run.id)}`,
    "",
    `Workload **${mdEscape(model.run.workload.name)}** on ${mdEscape(model.run.environment.cpuModel)} (${model.run.environment.cores} cores), Node ${mdEscape(model.run.environment.node)}. Latency from the intended send time.`,
    "",
    "## Cells",
    "",
    "| transport | broker | scenario | clients | rate/s | delivered / expected | lost | p50 | p99 | p99.9 | deliveries/s | note |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...model.cells.map((c) =>
      `| ${[c.transport, c.broker, c.scenario, c.clients, c.rate, `${c.counts.delivered} / ${c.counts.expected}`, c.counts.lost, ms(c.latencyUs.p50), ms(c.latencyUs.p99), ms(c.latencyUs.p999), Math.round(c.throughput), c.status === "failed" ? "FAILED" : c.status === "unavailable" ? "unavailable" : c.saturated ? "saturated" : ""].map(mdEscape).join(" | ")} |`,
    ),
    "",
    "## The seed tables as measured data",
    "",
    `${VERDICTS.map((k) => `${k} ${v[k]}`).join(", ")}.`,
  ];
  for (const t of model.tables) {
    lines.push("", `### ${mdEscape(t.title)} (seed ${mdEscape(t.doc)})`, "", `| | ${t.technologies.map(mdEscape).join(" | ")} |`, `|---|${t.technologies.map(() => "---").join("|")}|`);
    for (const r of t.rows) {
      lines.push(`| **${mdEscape(r.row)}** | ${r.results.map((x) => `${mdEscape(x.claim)}: **${x.verdict}**${x.measured ? ` (${mdEscape(x.measured)})` : ""}`).join(" | ")} |`);
    }
  }
  lines.push("", "## Charts", "");
  for (const c of charts) lines.push(`### ${mdEscape(c.title)}`, "", `![${mdEscape(c.title)}](charts/${c.id}.svg)`, "", mdEscape(c.note), "");
  return `${lines.join("\n")}\n`;
}

function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Runs that cannot share a page: their environments differ (the message names the field). */
export class MergeError extends Error {}

/** The runs in these folders, refused (MergeError) when their environments differ, unless forced. */
export function readRuns(dirs: readonly string[], force: boolean): RunResult[] {
  const runs = dirs.map((d) => readRun(join(d, "result.json"), "run"));
  for (const [i, other] of runs.entries()) {
    if (i === 0 || force) continue;
    const differences = environmentDifferences(runs[0]!.environment, other.environment);
    if (differences.length > 0) {
      throw new MergeError(`${dirs[i]} was run in another environment than ${dirs[0]} (${differences.join("; ")}): one page would mix them; --force merges them anyway`);
    }
  }
  return runs;
}

/**
 * Writes the report of the run(s) in runDirs into outRoot/<run id>/ and returns the
 * page's path. Several runs merge into one page when their environments match (the
 * fingerprint `compare` checks), or whatever they are with `force`.
 */
export async function writeReport(
  runDirs: string | readonly string[],
  outRoot: string,
  comparison?: Comparison,
  options: { force?: boolean } = {},
): Promise<{ dir: string; index: string; model: ReportModel }> {
  const dirs = typeof runDirs === "string" ? [runDirs] : runDirs;
  const resultFiles = dirs.map((d) => join(d, "result.json"));
  const model = buildModel(readRuns(dirs, options.force === true));
  const charts = buildCharts(model.cells);
  const dir = join(outRoot, model.run.id.replace(/[^\w.+-]/g, "_"));
  mkdirSync(join(dir, "charts"), { recursive: true });
  const svgs = new Map<string, string>();
  for (const chart of charts) {
    const svg = await renderSvg(chart);
    svgs.set(chart.id, svg);
    writeAtomic(join(dir, "charts", `${chart.id}.svg`), svg);
  }
  writeAtomic(join(dir, "data.json"), JSON.stringify(model, null, 1));
  writeAtomic(join(dir, "summary.md"), summaryMarkdown(model, charts));
  const index = join(dir, "index.html");
  writeAtomic(index, page(model, charts, svgs, resultFiles.map((f) => relative(dir, f)), comparison));
  if (comparison) writeAtomic(join(dir, "comparison.json"), JSON.stringify(comparison, null, 1));
  return { dir, index, model };
}
