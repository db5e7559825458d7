import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { evaluate, loadClaims, METRICS, parseCheck, type Claims } from "../reports/claims.js";
import type { CellResult } from "../results/schema.js";
import { ROOT, tempDir } from "./helpers.js";

const SEEDS = join(ROOT, "../shared/seeds");
const claims = loadClaims();
const transposed = new Set(claims.tables.filter((t) => t.transposed).map((t) => t.id));

/** Markdown table rows of a seed document: first cell (bold stripped) → the other cells. */
function seedRows(doc: string): Map<string, string[][]> {
  const fixed = join(SEEDS, `${doc}.fixed.txt`);
  const text = readFileSync(existsSync(fixed) ? fixed : join(SEEDS, `${doc}.txt`), "utf8");
  const rows = new Map<string, string[][]>();
  for (const line of text.split("\n")) {
    if (!line.trim().startsWith("|") || /^\|\s*-/.test(line.trim())) continue;
    const cells = line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim().replace(/\*\*/g, "").trim());
    const [first, ...rest] = cells;
    rows.set(first!, [...(rows.get(first!) ?? []), rest]);
  }
  return rows;
}

test("every row of every seed table is transcribed, word for word", { skip: existsSync(SEEDS) ? false : "no ../shared/seeds beside this checkout" }, () => {
  let cells = 0;
  for (const table of claims.tables) {
    if (table.prose) {
      // A sentence of the document's text, quoted whole.
      const text = readFileSync(join(SEEDS, `${table.doc}.txt`), "utf8");
      for (const row of table.rows) assert.ok(text.includes(row.claims[0]!), `${table.id} row "${row.row}": not in ${table.doc}`);
      cells += table.rows.length;
      continue;
    }
    const rows = seedRows(table.doc);
    if (transposed.has(table.id)) {
      // Technologies are the document's rows; our rows are its columns.
      assert.ok(rows.get("Technology")?.some((h) => table.rows.every((r, j) => h[j] === r.row)), `${table.id}: header`);
      table.technologies.forEach((tech, i) => {
        const seedRow = rows.get(tech)?.[0];
        assert.deepEqual(seedRow, table.rows.map((r) => r.claims[i]), `${table.id}: ${tech}`);
        cells += seedRow!.length;
      });
      continue;
    }
    const header = [...rows.values()].flat().find((r) => table.technologies.every((t, i) => r[i]?.replace(/ \(.*\)$/, "") === t));
    assert.ok(header, `${table.id}: a header row with ${table.technologies.join(", ")} in ${table.doc}`);
    for (const row of table.rows) {
      const candidates = rows.get(row.row) ?? [];
      assert.ok(
        candidates.some((c) => c.length === row.claims.length && c.every((v, i) => v === row.claims[i])),
        `${table.id} row "${row.row}": ${JSON.stringify(row.claims)} not found; the seed has ${JSON.stringify(candidates)}`,
      );
      cells += row.claims.length;
    }
  }
  assert.ok(cells >= 150, `${cells} claims`);
});

test("the seed tables' row counts match the transcription", () => {
  const expected: Record<string, number> = { "seed000-features": 16, "seed001-transports": 9, "seed002-sse-vs-ws": 8, "seed003-pubsub": 5, "seed003-decision": 9, "seed004-sse-ws-longpoll": 5, "seed003-sse-browser": 2, "seed001-load-test": 4 };
  for (const table of claims.tables) assert.equal(table.rows.length, expected[table.id], table.id);
});

test("checks parse with units, alternatives and references to another technology", () => {
  assert.deepEqual(parseCheck("p50 < 1ms && p99 <= 500µs", "t"), [[{ metric: "p50", op: "<", rhs: { value: 1000 } }, { metric: "p99", op: "<=", rhs: { value: 500 } }]]);
  assert.deepEqual(parseCheck("reorderedRate < 1% || reordered == 0", "t"), [[{ metric: "reorderedRate", op: "<", rhs: { value: 0.01 } }], [{ metric: "reordered", op: "==", rhs: { value: 0 } }]]);
  assert.deepEqual(parseCheck("framingOverheadBytes > @SSE.framingOverheadBytes", "t"), [[{ metric: "framingOverheadBytes", op: ">", rhs: { technology: "SSE", metric: "framingOverheadBytes" } }]]);
  assert.throws(() => parseCheck("p50 < 1MiB", "here"), /here: p50 is measured in us, not MiB/);
  assert.throws(() => parseCheck("latency < 1ms", "here"), /unknown metric "latency"/);
  assert.throws(() => parseCheck("p50 about 1ms", "here"), /cannot read the check/);
});

function cell(transport: string, p50Us: number, p99Us: number, extra: Partial<CellResult> = {}): CellResult {
  // A histogram whose p50 and p99 are the given values: 98 at p50, 2 at p99.
  return {
    transport,
    broker: "inproc",
    scenario: "steady",
    status: "ok",
    saturated: false,
    params: { rate: 100, clients: 10, size: 256, topics: 1, durationS: 5 },
    histograms: { latencyUs: histogramOf([[p50Us, 98], [p99Us, 2]]) },
    ...extra,
  } as unknown as CellResult;
}

import { createHistogram, encodeHistogram } from "../core/histogram.js";
function histogramOf(values: Array<[number, number]>): string {
  const h = createHistogram();
  for (const [v, n] of values) h.recordValueWithCount(v, n);
  return encodeHistogram(h);
}

function verdictOf(c: Claims, tableId: string, rowName: string, tech: string, cells: CellResult[]) {
  const table = c.tables.find((t) => t.id === tableId)!;
  const row = table.rows.find((r) => r.row === rowName)!;
  return evaluate(c, table, row, table.technologies.indexOf(tech), cells);
}

test("a latency claim holds or does not hold on measured cells, and says what was measured", () => {
  const fast = verdictOf(claims, "seed000-features", "Latency", "SSE", [cell("sse", 400, 2_000)]);
  assert.equal(fast.verdict, "holds");
  assert.match(fast.measured!, /p99 2 ms/);
  const slow = verdictOf(claims, "seed000-features", "Latency", "SSE", [cell("sse", 40_000, 250_000)]);
  assert.equal(slow.verdict, "does not hold");
  assert.match(slow.measured!, /p99 250 ms/);
});

test("missing cells, saturated cells and untestable claims are each said as such", () => {
  assert.equal(verdictOf(claims, "seed000-features", "Latency", "Kafka", [cell("sse", 1, 2)]).verdict, "not measured yet");
  assert.match(verdictOf(claims, "seed000-features", "Latency", "Kafka", []).reason!, /needs the steady scenario on direct × kafka/);
  const saturated = verdictOf(claims, "seed000-features", "Latency", "SSE", [cell("sse", 1, 2, { saturated: true })]);
  assert.equal(saturated.verdict, "not measured yet");
  assert.match(saturated.reason!, /saturated/);
  const protocol = verdictOf(claims, "seed000-features", "Protocol", "SSE", []);
  assert.equal(protocol.verdict, "not testable");
  assert.match(protocol.reason!, /not a measured property/);
  const overhead = verdictOf(claims, "seed001-transports", "Overhead", "SSE", [cell("sse", 1, 2)]);
  assert.equal(overhead.check, "framingOverheadBytes < 100B");
  assert.match(overhead.reason!, /no framingOverheadBytes in the steady cells of sse × inproc/, "a run from before wire bytes were counted");
  const wire = (perDelivery: number) => ({ params: { rate: 100, clients: 10, size: 256, topics: 1, durationS: 5 }, wire: { bytes: 1, bytesPerDelivery: perDelivery } }) as Partial<CellResult>;
  assert.equal(verdictOf(claims, "seed001-transports", "Overhead", "SSE", [cell("sse", 1, 2, wire(280))]).verdict, "holds");
  const dropped = (lost: number) => ({ scenario: "reconnect", fault: { kind: "drop", atS: 1, struck: true }, counts: { lost } }) as unknown as Partial<CellResult>;
  // The reconnect claims read the browser's cells: what Chromium reopened by itself, and what was lost.
  const inBrowser = (lost: number, reopened: number, transport = "sse") => {
    const c = cell(transport, 1, 2, dropped(lost));
    return { ...c, params: { ...c.params, clientKind: "browser" }, connections: { ...c.connections, disconnects: 4 }, reconnects: { count: reopened, timeUs: c.latencyUs, resumeRequests: reopened } } as CellResult;
  };
  assert.equal(verdictOf(claims, "seed002-sse-vs-ws", "Reconnects", "SSE", [inBrowser(0, 4)]).verdict, "holds");
  const lossy = verdictOf(claims, "seed002-sse-vs-ws", "Reconnects", "SSE", [inBrowser(12, 4)]);
  assert.equal(lossy.verdict, "does not hold");
  assert.match(lossy.measured!, /browserLostAcrossRelayDrop 12/);
  assert.equal(verdictOf(claims, "seed002-sse-vs-ws", "Reconnects", "SSE", [cell("sse", 1, 2, dropped(0))]).verdict, "not measured yet", "a Node client's reconnect is not the browser's");
  assert.equal(verdictOf(claims, "seed002-sse-vs-ws", "Reconnects", "WebSockets", [inBrowser(300, 0, "ws")]).verdict, "holds", "Chromium left the WebSocket closed: manual");
  // Each fault feeds its own metric: a killed relay's losses are not a drop's.
  const killed = { ...cell("ws", 1, 2), ...dropped(30), fault: { kind: "kill-relay", atS: 1, struck: true } } as CellResult;
  assert.equal(METRICS.lostAcrossRelayDrop!.read!([killed]), undefined);
  assert.equal(METRICS.lostAcrossRelayRestart!.read!([killed, { ...killed, counts: { ...killed.counts, lost: 5 } }]), 35);
  // A sweep ended by its load generator measured a floor, not the system's limit.
  const swept = (rate: number, limitMeasured: boolean) => ({ ...cell("ws", 1, 2), sweep: { maxSustainableRate: rate, limitMeasured } }) as unknown as CellResult;
  assert.equal(METRICS.maxSustainableRate!.read!([swept(5000, false)]), undefined);
  assert.equal(METRICS.maxSustainableRate!.read!([swept(5000, false), swept(338, true)]), 338);
  // Long polling's claim is "Medium": 100 to 500 bytes beyond the 256-byte body.
  assert.equal(verdictOf(claims, "seed001-transports", "Overhead", "Long Polling", [cell("longpoll", 1, 2, wire(556))]).verdict, "holds");
  assert.equal(verdictOf(claims, "seed001-transports", "Overhead", "Long Polling", [cell("longpoll", 1, 2, wire(900))]).verdict, "does not hold");
});

test("a figure the first subject's cells lack is read from the next subject that has it", () => {
  const reconnect = (broker: string, kind: string, lost: number) =>
    ({ ...cell("sse", 1, 2), broker, scenario: "reconnect", fault: { kind, atS: 1, struck: true }, counts: { lost } }) as unknown as CellResult;
  // SSE × inproc ran the drop; only SSE × Redis Pub/Sub, whose relay can be killed, ran the restart.
  const cells = [reconnect("inproc", "drop", 0), reconnect("redis-pubsub", "kill-relay", 40)];
  const table = claims.tables.find((t) => t.rows.some((r) => r.tests.some((x) => "text" in x && x.text.includes("lostAcrossRelayRestart"))))!;
  const row = table.rows.find((r) => r.tests.some((x) => "text" in x && x.text.includes("lostAcrossRelayRestart")))!;
  const i = row.tests.findIndex((x) => "text" in x && x.text.includes("lostAcrossRelayRestart"));
  const r = evaluate(claims, table, row, i, cells);
  assert.notEqual(r.verdict, "not measured yet", r.reason);
  assert.match(r.measured!, /lostAcrossRelayRestart 40/);
  assert.match(evaluate(claims, table, row, i, cells.slice(0, 1)).reason!, /no lostAcrossRelayRestart in the reconnect cells of sse × inproc/);
});

test("every claims subject names a transport and a broker rtbench has", async () => {
  const { transports, brokers } = await import("../harness/registry.js");
  for (const [tech, subjects] of Object.entries(claims.subjects)) {
    for (const s of subjects) {
      assert.ok(transports.has(s.transport), `${tech}: transport ${s.transport}`);
      assert.ok(brokers.has(s.broker), `${tech}: broker ${s.broker}`);
    }
  }
});

test("a recommendation is read as its use case's needs: consistent, inconsistent, not measured yet, unavailable or not testable, with its rank", () => {
  const ramp = (transport: string, maxConnections: number, limitMeasured: boolean) =>
    ({ ...cell(transport, 1, 2), scenario: "connections", ramp: { maxConnections, limitMeasured, stoppedBy: limitMeasured ? "failure" : "max-clients", steps: [] } }) as unknown as CellResult;
  const measured = [cell("sse", 1_000, 2_000), ramp("sse", 10_000, false), cell("ws", 500, 1_000), ramp("ws", 20_000, true)];
  // seed001 "Use Case": SSE "Server Push" needs connections=10000,p99=100ms.
  const push = verdictOf(claims, "seed001-transports", "Use Case", "SSE", measured);
  assert.equal(push.verdict, "consistent", push.reason);
  assert.match(push.measured!, /maxConnections ≥ 10000; p99: p99 2 ms; ranks 2nd by p99 of the 2 here that meet them \(WebSockets, SSE\)/);
  assert.equal(push.check, "needs connections=10000,p99=100ms");
  assert.ok(push.cells!.length === 2 && push.scenarios!.includes("connections"), "links the cells it read");
  const slow = verdictOf(claims, "seed001-transports", "Use Case", "SSE", [cell("sse", 40_000, 250_000), ramp("sse", 10_000, false)]);
  assert.equal(slow.verdict, "inconsistent");
  assert.match(slow.measured!, /p99 250 ms misses p99=100ms/);
  const open = verdictOf(claims, "seed001-transports", "Use Case", "SSE", [cell("sse", 1_000, 2_000)]);
  assert.equal(open.verdict, "not measured yet");
  assert.match(open.reason!, /connections: not measured \(connections scenario\)/);
  // "Real-time Chat" needs two-way traffic, which only chat cells measure.
  const chat = verdictOf(claims, "seed001-transports", "Use Case", "WebSockets", measured);
  assert.equal(chat.verdict, "not measured yet");
  assert.match(chat.reason!, /two-way: not measured \(chat scenario\)/);
  const chatCell = (lost: number) => ({ ...cell("ws", 1_000, 3_000), scenario: "chat", counts: { expected: 300, delivered: 300 - lost, lost, duplicated: 0, reordered: 0 } }) as CellResult;
  assert.equal(verdictOf(claims, "seed001-transports", "Use Case", "WebSockets", [...measured, chatCell(0)]).verdict, "consistent");
  const lossyChat = verdictOf(claims, "seed001-transports", "Use Case", "WebSockets", [...measured, chatCell(4)]);
  assert.equal(lossyChat.verdict, "inconsistent");
  assert.match(lossyChat.measured!, /chatLost 4/);
  // A decision matrix row names its technology; a pairing the scenario refuses is unavailable, with the reason.
  const table = claims.tables.find((t) => t.id === "seed003-decision")!;
  const row = table.rows.find((r) => r.row === "IoT / constrained devices")!;
  const refused = { ...cell("direct", 1, 2), broker: "mqtt-qos1", scenario: "connections", status: "unavailable", error: "direct has no relay" } as CellResult;
  const iot = evaluate(claims, table, row, 0, [{ ...cell("direct", 1_000, 3_000), broker: "mqtt-qos1" } as CellResult, refused]);
  assert.equal(iot.technology, "MQTT");
  assert.equal(iot.verdict, "unavailable here");
  assert.match(iot.reason!, /direct × mqtt-qos1 connections: direct has no relay/);
});

test("a bad need in claims.yaml names the table, row and technology", () => {
  const file = join(tempDir(), "claims.yaml");
  writeFileSync(file, readFileSync(join(ROOT, "reports/claims.yaml"), "utf8").replace('needs: ["p99=3600s"]', 'needs: ["p99=soon"]'));
  assert.throws(() => loadClaims(file), /table seed003-decision, row "Hours latency OK, simple", Short Polling: needs: p99: expected a duration: 100ms, 2s, 500us, got "soon"/);
});

test("proxy cells: a kind that refused connections breaks a transport; round robin broken and affinity mended means sticky sessions are needed", () => {
  const behind = (transport: string, broker: string, proxy: string, failed: number, lost = 0) =>
    ({
      ...cell(transport, 1_000, 2_000),
      broker,
      scenario: "proxy",
      params: { rate: 50, clients: 10, size: 256, topics: 1, durationS: 2, proxy },
      connections: { attempted: 10, open: 10 - failed, failed, disconnects: 0 },
      counts: { expected: 100, delivered: 100 - lost, lost, duplicated: 0, reordered: 0 },
    }) as unknown as CellResult;
  const ws = [behind("ws", "inproc", "nginx-tuned", 0), behind("ws", "inproc", "strict", 10)];
  assert.equal(verdictOf(claims, "seed001-transports", "Firewall/Proxy", "WebSockets", ws).verdict, "holds", "Poor: the strict proxy refused every WebSocket");
  assert.equal(verdictOf(claims, "seed001-transports", "Firewall/Proxy", "SSE", [behind("sse", "inproc", "strict", 0)]).verdict, "holds");
  assert.equal(METRICS.strictProxyBroken!.read!(ws), 10);
  const polling = (rr: number, sticky: number) => [behind("socketio-polling", "redis-pubsub", "haproxy-rr", rr), behind("socketio-polling", "redis-pubsub", "haproxy-sticky", sticky)];
  assert.equal(METRICS.needsAffinity!.read!(polling(7, 0)), 1);
  assert.equal(METRICS.needsAffinity!.read!(polling(0, 0)), 0);
  assert.equal(METRICS.needsAffinity!.read!(polling(7, 7)), undefined, "broken either way: affinity is not what it lacks");
  assert.equal(METRICS.roundRobinFailureRate!.read!(polling(7, 0)), 0.7);
});

test("a sweep whose first step the system failed bounds its limit from above, which decides a claim above it", () => {
  const failedFirst = {
    ...cell("direct", 1, 2),
    broker: "kafka",
    scenario: "saturation",
    sweep: { maxSustainableRate: null, limitMeasured: true, stoppedBy: "slo", steps: [{ rate: 1000, sustained: false, latencyUs: { p99: 111_000 } }] },
  } as unknown as CellResult;
  const r = verdictOf(claims, "seed003-pubsub", "Throughput", "Kafka", [failedFirst]);
  assert.equal(r.verdict, "does not hold", r.reason);
  assert.match(r.measured!, /maxSustainableRate < 1,000\/s/);
  // A sweep ended by the load generator at its first step bounds nothing.
  const generator = { ...failedFirst, sweep: { ...failedFirst.sweep!, limitMeasured: false, stoppedBy: "generator" } } as CellResult;
  assert.equal(verdictOf(claims, "seed003-pubsub", "Throughput", "Kafka", [generator]).verdict, "not measured yet");
});

test("seed 001's load-test thresholds read the ramp's 50,000-connection step, and nothing smaller", () => {
  const percentiles = (p95: number) => ({ count: 1, p50: p95 / 2, p90: p95, p95, p99: p95, p999: p95, max: p95, mean: p95 / 2 });
  const step = (clients: number, open: number, connectP95: number, firstP95: number) => ({
    clients, fleetProcesses: 1, relays: 1, status: "ok", open, failed: clients - open, lost: 0,
    connectUs: percentiles(connectP95), firstEventUs: percentiles(firstP95), idleRssPerConnectionBytes: null, idleHeapPerConnectionBytes: null, relayCpuPct: 1, held: open === clients,
  });
  const ramp = (broker: string, steps: ReturnType<typeof step>[]) =>
    ({ ...cell("sse", 1, 2), broker, scenario: "connections", ramp: { steps, maxConnections: steps.at(-1)!.clients, limitMeasured: false, stoppedBy: "max-clients" } }) as unknown as CellResult;
  const table = claims.tables.find((t) => t.id === "seed001-load-test")!;
  const verdicts = (cells: CellResult[]) => table.rows.map((row) => evaluate(claims, table, row, 0, cells));
  // A 10,000-connection ramp, however good, says nothing of 50,000.
  const small = verdicts([ramp("inproc", [step(10_000, 10_000, 1_000, 1_000)])]);
  assert.deepEqual(small.map((v) => v.verdict), ["not measured yet", "not measured yet", "not measured yet", "not measured yet"]);
  // At 50,000 (after a 10,000 step that met them all): 97.5% open (1,250 failed), connect p95 6 s, first event p95 2 s.
  const big = verdicts([ramp("redis-pubsub", [step(10_000, 10_000, 1_000, 1_000), step(50_000, 48_750, 6_000_000, 2_000_000)])]);
  assert.deepEqual(big.map((v) => v.verdict), ["holds", "does not hold", "does not hold", "holds"]);
  assert.match(big[0]!.measured!, /97\.5%/);
  assert.match(big[1]!.measured!, /1250/);
  // A step whose load generator saturated gives no figure: its numbers are the generator's.
  const saturated = { ...step(50_000, 50_000, 1_000, 1_000), held: false, limit: "generator" };
  assert.deepEqual(verdicts([ramp("redis-pubsub", [saturated])]).map((v) => v.verdict), ["not measured yet", "not measured yet", "not measured yet", "not measured yet"]);
});
