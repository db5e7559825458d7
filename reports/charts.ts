/**
 * The report's charts as vega-lite specs over the report model, and their static SVG
 * (rendered in Node by vega's View.toSVG) for summary.md and for pages without scripts.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { CellSummary } from "./model.js";

export interface Chart {
  id: string;
  title: string;
  /** Shown under the chart: what it shows, or why it is empty in this run. */
  note: string;
  spec: TopLevelSpec;
}

const WIDTH = 560;

const cellLabel = (c: CellSummary): string => `${c.transport} × ${c.broker}${c.scenario === "steady" ? "" : ` (${c.scenario})`}`;

/**
 * A transport × broker heatmap. Only the system's own figures are painted in the colour
 * scale; a saturated cell (the load generator's limit) is grey with a dashed edge, its value
 * marked as the generator's, and an unavailable or failed cell is grey with its state.
 */
function heatmap(id: string, title: string, cells: CellSummary[], field: "p99Ms" | "throughput", legend: string, note: string): Chart {
  const steady = cells.filter((c) => c.scenario === "steady");
  const figure = (c: CellSummary): string => (field === "p99Ms" ? `${(c.latencyUs.p99 / 1000).toPrecision(3)} ms` : `${Math.round(c.throughput).toLocaleString("en")}/s`);
  const values = steady.map((c) => {
    const state = c.status !== "ok" ? c.status : c.saturated ? "saturated" : "ok";
    return {
      transport: c.transport,
      broker: c.broker,
      state,
      value: field === "p99Ms" ? c.latencyUs.p99 / 1000 : c.throughput,
      label: state === "ok" || state === "saturated" ? figure(c) : state,
      flag: state === "saturated" ? "saturated: generator's figure" : "",
    };
  });
  const order = (key: "transport" | "broker"): string[] => [...new Set(steady.map((c) => c[key]))];
  return {
    id,
    title,
    note,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      width: { step: 110 },
      height: { step: 44 },
      data: { values },
      encoding: {
        x: { field: "broker", type: "nominal", title: "broker", axis: { labelAngle: 0 }, sort: order("broker") },
        y: { field: "transport", type: "nominal", title: "transport", sort: order("transport") },
      },
      layer: [
        {
          transform: [{ filter: "datum.state === 'ok'" }],
          mark: "rect",
          encoding: {
            color: {
              field: "value",
              type: "quantitative",
              title: legend,
              // Throughput from zero, so a 0.1% difference does not look like a large one.
              scale: { scheme: field === "p99Ms" ? "orangered" : "blues", ...(field === "p99Ms" ? { type: "log" } : { zero: true }) },
            },
          },
        },
        { transform: [{ filter: "datum.state !== 'ok'" }], mark: { type: "rect", color: "#e4e4e4", stroke: "#999", strokeDash: [4, 3] } },
        { mark: { type: "text", fontSize: 12 }, encoding: { text: { field: "label" } } },
        { mark: { type: "text", dy: 14, fontSize: 9 }, encoding: { text: { field: "flag" } } },
      ],
    },
  };
}

export function buildCharts(cells: CellSummary[]): Chart[] {
  const ok = cells.filter((c) => c.status === "ok");
  const spectrum = ok.flatMap((c) =>
    c.spectrum.map((s) => ({ cell: cellLabel(c), percentile: s.percentile, inverse: 1 / (1 - s.percentile / 100), latencyMs: Math.max(s.latencyUs, 1) / 1000 })),
  );
  const rates = new Set(ok.flatMap((c) => [c.rate, ...c.sweepSteps.map((s) => s.rate)]));
  // A sweep contributes each of its steps; any other cell its one rate.
  const ratePoints = ok.flatMap((c) =>
    (c.sweepSteps.length > 0 ? c.sweepSteps : [{ rate: c.rate, p50Us: c.latencyUs.p50, p99Us: c.latencyUs.p99, sustained: !c.saturated }]).flatMap((s) => [
      { cell: cellLabel(c), rate: s.rate, stat: "p50", ms: s.p50Us / 1000, held: s.sustained },
      { cell: cellLabel(c), rate: s.rate, stat: "p99", ms: s.p99Us / 1000, held: s.sustained },
    ]),
  );
  const clientCounts = new Set(ok.map((c) => c.clients));
  const ramp = ok.flatMap((c) =>
    c.rampSteps.flatMap((s) =>
      (["rss", "heap"] as const).flatMap((memory) => {
        const bytes = memory === "rss" ? s.rssPerConnectionBytes : s.heapPerConnectionBytes;
        return bytes === null ? [] : [{ cell: cellLabel(c), clients: s.clients, memory, kib: bytes / 1024, held: s.held, connectP99Ms: s.connectP99Us / 1000, relayCpuPct: s.relayCpuPct }];
      }),
    ),
  );
  const scaleOut = ok.flatMap((c) =>
    c.scaleOutSteps.flatMap((s) =>
      s.cpuUsPerDelivery === null
        ? []
        : [{ cell: `${cellLabel(c)}${c.scaleOutEfficiency === null ? "" : `, efficiency ${c.scaleOutEfficiency.toFixed(2)}`}`, relays: s.relays, cpuUs: s.cpuUsPerDelivery, p99Ms: s.p99Us / 1000, rssMiB: s.peakRssBytes / 2 ** 20 }],
    ),
  );
  const losses = ok.flatMap((c) =>
    (["lost", "duplicated", "reordered", "disconnects"] as const).map((kind) => ({ cell: cellLabel(c), kind, count: kind === "disconnects" ? c.disconnects : c.counts[kind] })),
  );
  return [
    heatmap("p99", "Latency p99 by transport × broker", cells, "p99Ms", "p99 (ms)", "End-to-end p99 from the intended send time, steady workload. Grey: not the system's figure (a saturated load generator: its value, dashed edge) or nothing measured (unavailable, failed)."),
    heatmap("throughput", "Throughput by transport × broker", cells, "throughput", "deliveries/s", "Deliveries per second that arrived in the measured window, fan-out included. Grey as above."),
    {
      id: "spectrum",
      title: "Latency percentile spectrum",
      note: "HDR percentile spectrum of each cell (repetitions merged), from the intended send time. Log axes.",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        width: WIDTH,
        height: 300,
        data: { values: spectrum },
        mark: { type: "line", point: true },
        encoding: {
          x: {
            field: "inverse",
            type: "quantitative",
            title: "percentile",
            scale: { type: "log" },
            axis: { values: [1, 2, 10, 100, 1000, 10000, 100000], labelExpr: "format(100 - 100 / datum.value, '.3~f') + '%'" },
          },
          y: { field: "latencyMs", type: "quantitative", title: "latency (ms)", scale: { type: "log" } },
          color: { field: "cell", type: "nominal", title: "cell" },
          tooltip: [{ field: "cell" }, { field: "percentile" }, { field: "latencyMs", format: ".3f" }],
        },
      },
    },
    {
      id: "latency-vs-rate",
      title: "Latency vs rate",
      note:
        rates.size > 1
          ? "p50 and p99 against the target rate: every step of each saturation sweep (hollow: the step did not hold), one point for any other cell."
          : "This run used one rate, so each cell is one point; the saturation scenario sweeps rates.",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        width: WIDTH,
        height: 260,
        data: { values: ratePoints },
        encoding: {
          x: { field: "rate", type: "quantitative", title: "target rate (messages/s)", scale: { type: "log" } },
          y: { field: "ms", type: "quantitative", title: "latency (ms)", scale: { type: "log" } },
          color: { field: "cell", type: "nominal" },
        },
        layer: [
          { mark: "line", encoding: { strokeDash: { field: "stat", type: "nominal" } } },
          {
            // Hollow points: steps that did not hold their rate.
            mark: { type: "point", size: 40 },
            encoding: {
              fill: { condition: { test: "datum.held", field: "cell", type: "nominal", legend: null }, value: "transparent" },
              tooltip: [{ field: "cell" }, { field: "rate" }, { field: "stat" }, { field: "ms", format: ".3f" }, { field: "held" }],
            },
          },
        ],
      },
    },
    {
      id: "memory-per-connection",
      title: "Connections vs relay memory per connection",
      note:
        (clientCounts.size > 1 ? "" : "This run used one connection count; the connections scenario steps it up. ") +
        "Relay RSS growth from before the first connection to its peak under load, per connection, without a forced GC: " +
        "it includes message buffers, so it bounds the idle figure from above.",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        width: WIDTH,
        height: 240,
        data: {
          values: ok.flatMap((c) =>
            c.relayGrowthPerConnectionBytes === null ? [] : [{ cell: cellLabel(c), clients: c.clients, kib: c.relayGrowthPerConnectionBytes / 1024 }],
          ),
        },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "clients", type: "quantitative", title: "connections", scale: { type: "log" } },
          y: { field: "kib", type: "quantitative", title: "relay RSS per connection (KiB)" },
          color: { field: "cell", type: "nominal" },
        },
      },
    },
    {
      id: "connections",
      title: "Connections ramp: relay memory per idle connection",
      note: ramp.length > 0
        ? "Each step of the connections scenario: the relays' RSS and heap (V8 heap plus Buffers) per connection after a forced GC, every client connected and idle, less the same before any connected. Hollow: the step did not hold every connection."
        : "The connections scenario steps the connection count up; this run had none.",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        width: WIDTH,
        height: 240,
        data: { values: ramp },
        encoding: {
          x: { field: "clients", type: "quantitative", title: "connections", scale: { type: "log" } },
          y: { field: "kib", type: "quantitative", title: "relay memory per connection (KiB)" },
          color: { field: "cell", type: "nominal" },
        },
        layer: [
          { mark: "line", encoding: { strokeDash: { field: "memory", type: "nominal" } } },
          {
            mark: { type: "point", size: 40 },
            encoding: {
              fill: { condition: { test: "datum.held", field: "cell", type: "nominal", legend: null }, value: "transparent" },
              tooltip: [{ field: "cell" }, { field: "clients" }, { field: "memory" }, { field: "kib", format: ".1f" }, { field: "connectP99Ms", format: ".1f" }, { field: "relayCpuPct", format: ".1f" }],
            },
          },
        ],
      },
    },
    {
      id: "scale-out",
      title: "Scale-out: relay CPU per delivery against relays",
      note: scaleOut.length > 0
        ? "The same load on 1, 2, 4, ... relays: all relays' CPU time per delivery in the measured window (flat: more relays add no work; rising: the work each relay repeats). Efficiency in the legend: one relay's CPU per delivery over the most relays'."
        : "The scale-out scenario serves the same load with more relays; this run had none.",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        width: WIDTH,
        height: 240,
        data: { values: scaleOut },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "relays", type: "quantitative", title: "relay processes", scale: { type: "log", base: 2 }, axis: { tickMinStep: 1 } },
          y: { field: "cpuUs", type: "quantitative", title: "relay CPU per delivery (µs)", scale: { zero: true } },
          color: { field: "cell", type: "nominal" },
          tooltip: [{ field: "cell" }, { field: "relays" }, { field: "cpuUs", format: ".1f" }, { field: "p99Ms", format: ".2f" }, { field: "rssMiB", format: ".0f" }],
        },
      },
    },
    {
      id: "loss",
      title: "Loss, duplicates, reordering and disconnects",
      note:
        (losses.every((l) => l.count === 0)
          ? "Nothing was lost, duplicated or reordered, and no connection dropped, in any cell. "
          : "Counts per cell over the whole run (warm-up included). ") + "Reconnect times come with the reconnect scenario.",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        width: WIDTH,
        height: { step: 14 },
        data: { values: losses },
        mark: "bar",
        encoding: {
          y: { field: "cell", type: "nominal", title: null },
          yOffset: { field: "kind" },
          x: { field: "count", type: "quantitative", title: "messages (disconnects: connections)" },
          color: { field: "kind", type: "nominal", title: null },
        },
      },
    },
  ];
}

/** Renders a chart to SVG in Node (no browser, no canvas). */
export async function renderSvg(chart: Chart): Promise<string> {
  const view = new vega.View(vega.parse(compile(chart.spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
