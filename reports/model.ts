/**
 * What a report shows, computed once from a run: cells with their repetitions merged
 * (histograms added, never percentiles averaged) and every seed claim decided.
 */
import { mergeEncoded, percentiles, type Percentiles } from "../core/histogram.js";
import { addCounts, zeroCounts, type DeliveryCounts } from "../core/tracker.js";
import { brokers, transports } from "../harness/registry.js";
import { addBrokerCounts, browserNote, cellAnchor, cellGroupKey, chatNote, median, proxyNote, relayGrowthPerConnection, workersNote } from "../results/cell-metrics.js";
import type { CellResult, RunResult } from "../results/schema.js";
import { guideData, type GuideData } from "./guide.js";
import { evaluate, loadClaims, VERDICTS, type ClaimResult, type Verdict } from "./claims.js";

/** One transport × broker × scenario × parameters, repetitions merged. */
export interface CellSummary {
  key: string;
  /** Its row's id on the page, which a verdict links to. */
  anchor: string;
  transport: string;
  broker: string;
  scenario: string;
  rate: number;
  clients: number;
  size: number;
  repetitions: number;
  status: "ok" | "failed" | "unavailable";
  errors: string[];
  counts: DeliveryCounts;
  disconnects: number;
  latencyUs: Percentiles;
  latencyFromSentUs: Percentiles;
  publishDelayUs: Percentiles;
  /** Median of the repetitions' throughputs. */
  throughput: number;
  saturated: boolean;
  saturationReasons: string[];
  /** A broker adapter's own counts (BullMQ's completions and what QueueEvents reported of them), summed over repetitions. */
  brokerCounts: Record<string, number>;
  /** Median over repetitions of the relay's RSS growth per connection; null where not measured. */
  relayGrowthPerConnectionBytes: number | null;
  /** chat scenario: the upstream's figures, in one line (its repetitions' histograms merged). */
  chatNote?: string;
  /** proxy scenario: the proxy, what it broke, its CPU, in one line over the repetitions. */
  proxyNote?: string;
  /** Browser clients: the browser, its tabs, the page clock's bound, reconnects, in one line over the repetitions. */
  browserNote?: string;
  /** Clients on workers: how many hosts, the clock bound, flagged where it is not small against the p50. */
  workersNote?: string;
  spectrum: Array<{ percentile: number; latencyUs: number }>;
  /** saturation scenario: every step of every repetition's sweep. */
  sweepSteps: Array<{ rate: number; p50Us: number; p99Us: number; sustained: boolean }>;
  /** scale-out scenario: every step of every repetition, and the efficiencies measured. */
  scaleOutSteps: Array<{ relays: number; cpuUsPerDelivery: number | null; p99Us: number; peakRssBytes: number }>;
  scaleOutEfficiency: number | null;
  /** connections scenario: every step of every repetition's ramp. */
  rampSteps: Array<{ clients: number; held: boolean; rssPerConnectionBytes: number | null; heapPerConnectionBytes: number | null; connectP99Us: number; relayCpuPct: number }>;
}

export interface TableReport {
  id: string;
  title: string;
  doc: string;
  technologies: string[];
  rows: Array<{ row: string; results: ClaimResult[] }>;
}

/** One run a report was built from. */
export interface RunSource {
  id: string;
  workload: string;
  /** The scenarios it ran (a suite's parts, or its one workload's). */
  scenarios: string[];
  startedAt: string;
  finishedAt?: string;
  cells: number;
}

export interface ReportModel {
  /** The first run's record (for a merged report, the environment every run shares); `id` names the report. */
  run: Omit<RunResult, "cells">;
  /** Every run the page merges, in the order given. */
  sources: RunSource[];
  cells: CellSummary[];
  tables: TableReport[];
  verdicts: Record<Verdict, number>;
  /** Each pairing's figures the decision guide judges (reports/guide.ts). */
  guide: GuideData;
}

const SPECTRUM = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100];

function medianOrNull(values: number[]): number | null {
  return values.length > 0 ? median(values) : null;
}

function growth(cells: CellResult[]): number | null {
  return medianOrNull(cells.map(relayGrowthPerConnection).filter((v): v is number => v !== undefined));
}

export function summarizeCells(cells: readonly CellResult[]): CellSummary[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) {
    const key = cellGroupKey(c);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  // Transports, then brokers, in the registry's order (brokers by family: in-process, Redis, NATS, Kafka, MQTT, AMQP, PostgreSQL).
  const rank = (names: Iterable<string>): ((name: string) => number) => {
    const at = new Map([...names].map((n, i) => [n, i]));
    return (name) => at.get(name) ?? Number.MAX_SAFE_INTEGER;
  };
  const [transportRank, brokerRank] = [rank(transports.keys()), rank(brokers.keys())];
  const sorted = [...groups].sort(([, [a]], [, [b]]) => transportRank(a!.transport) - transportRank(b!.transport) || brokerRank(a!.broker) - brokerRank(b!.broker));
  return sorted.map(([key, reps]) => {
    const ok = reps.filter((c) => c.status === "ok");
    const latency = mergeEncoded(ok.map((c) => c.histograms.latencyUs));
    const first = reps[0]!;
    return {
      key,
      transport: first.transport,
      broker: first.broker,
      scenario: first.scenario,
      rate: first.params.rate,
      clients: first.params.clients,
      size: first.params.size,
      repetitions: reps.length,
      status: ok.length > 0 ? "ok" : reps.every((c) => c.status === "unavailable") ? "unavailable" : "failed",
      errors: reps.flatMap((c) => (c.error ? [c.error] : [])),
      counts: ok.reduce((sum, c) => addCounts(sum, c.counts), zeroCounts()),
      disconnects: ok.reduce((n, c) => n + c.connections.disconnects, 0),
      latencyUs: percentiles(latency),
      latencyFromSentUs: percentiles(mergeEncoded(ok.map((c) => c.histograms.latencyFromSentUs))),
      publishDelayUs: percentiles(mergeEncoded(ok.map((c) => c.histograms.publishDelayUs))),
      throughput: ok.length ? median(ok.map((c) => c.throughput)) : 0,
      saturated: ok.some((c) => c.saturated),
      saturationReasons: [...new Set(ok.flatMap((c) => c.saturationReasons))],
      brokerCounts: ok.reduce<Record<string, number>>((sum, c) => addBrokerCounts(sum, c.brokerCounts), {}),
      relayGrowthPerConnectionBytes: growth(ok),
      ...(ok.some((c) => c.chat) ? { chatNote: chatSummary(ok) } : {}),
      ...(ok.some((c) => c.proxy) ? { proxyNote: proxyNote(ok) } : {}),
      ...(ok.some((c) => c.browser) ? { browserNote: browserNote(ok) } : {}),
      ...(ok.some((c) => c.workers) ? { workersNote: workersNote(ok) } : {}),
      anchor: cellAnchor(key),
      spectrum: latency.totalCount > 0 ? SPECTRUM.map((p) => ({ percentile: p, latencyUs: latency.getValueAtPercentile(p) })) : [],
      sweepSteps: ok.flatMap((c) =>
        (c.sweep?.steps ?? []).map((s) => ({ rate: s.rate, p50Us: s.latencyUs.p50, p99Us: s.latencyUs.p99, sustained: s.sustained })),
      ),
      scaleOutSteps: ok.flatMap((c) =>
        (c.scaleOut?.steps ?? []).map((s) => ({ relays: s.relays, cpuUsPerDelivery: s.relayCpuUsPerDelivery, p99Us: s.latencyUs.p99, peakRssBytes: s.relayPeakRssBytes })),
      ),
      rampSteps: ok.flatMap((c) =>
        (c.ramp?.steps ?? [])
          .filter((s) => s.status === "ok")
          .map((s) => ({
            clients: s.clients,
            held: s.held,
            rssPerConnectionBytes: s.idleRssPerConnectionBytes,
            heapPerConnectionBytes: s.idleHeapPerConnectionBytes,
            connectP99Us: s.connectUs.p99,
            relayCpuPct: s.relayCpuPct,
          })),
      ),
      scaleOutEfficiency: medianOrNull(ok.flatMap((c) => (c.scaleOut?.efficiency != null ? [c.scaleOut.efficiency] : []))),
    };
  });
}

/**
 * Several runs of one environment as one: their cells together (a group that several
 * runs measured merges as repetitions do) and the first run's record, named after all.
 */
export function mergeRuns(runs: readonly RunResult[]): { run: RunResult; sources: RunSource[] } {
  const first = runs[0]!;
  const sources = runs.map((r) => ({
    id: r.id,
    workload: r.workload.name,
    scenarios: [...new Set((r.parts ?? [r.workload]).map((w) => w.scenario))],
    startedAt: r.startedAt,
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    cells: r.cells.length,
  }));
  if (runs.length === 1) return { run: first, sources };
  return { run: { ...first, id: `${first.id}+${runs.length - 1}`, cells: runs.flatMap((r) => r.cells) }, sources };
}

export function buildModel(runs: RunResult | readonly RunResult[]): ReportModel {
  const { run, sources } = mergeRuns(Array.isArray(runs) ? runs : [runs as RunResult]);
  const claims = loadClaims();
  const verdicts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  const tables = claims.tables.map((table) => ({
    id: table.id,
    title: table.title,
    doc: table.doc,
    technologies: table.technologies,
    rows: table.rows.map((row) => ({
      row: row.row,
      results: row.claims.map((_, i) => {
        const r = evaluate(claims, table, row, i, run.cells);
        verdicts[r.verdict]++;
        return r;
      }),
    })),
  }));
  const { cells, ...meta } = run;
  return { run: meta, sources, cells: summarizeCells(cells), tables, verdicts, guide: guideData(cells) };
}

/** A chat cell's upstream over its repetitions: latency merged from the histograms, the rest the first repetition's. */
function chatSummary(reps: readonly CellResult[]): string {
  const chat = reps.find((c) => c.chat)!.chat!;
  const merged = (key: "upstreamUs" | "upAckUs") => mergeEncoded(reps.flatMap((c) => (c.histograms[key] && (key === "upstreamUs" ? c.chat?.upstreamUs : c.chat?.upAckUs) ? [c.histograms[key]!] : [])));
  const upstream = merged("upstreamUs");
  const acked = merged("upAckUs");
  return chatNote({
    ...chat,
    upstreamUs: upstream.totalCount > 0 ? percentiles(upstream) : null,
    ...(acked.totalCount > 0 ? { upAckUs: percentiles(acked) } : {}),
    sendErrors: reps.reduce((n, c) => n + (c.chat?.sendErrors ?? 0), 0),
    notSent: reps.reduce((n, c) => n + (c.chat?.notSent ?? 0), 0),
  });
}
