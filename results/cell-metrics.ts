/**
 * Figures derived from a result, defined once for the gate, the report and the claims.
 */
import type { CellResult, ChatFigures } from "./schema.js";
import type { ResourceSample } from "../core/sampler.js";

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Relay RSS growth per connection: from before the first connection to the peak under
 * load, without a forced GC, so it bounds the idle figure from above.
 */
export function relayGrowthPerConnection(c: CellResult): number | undefined {
  const peak = Math.max(0, ...c.resources.relay.map((s) => s.rssBytes));
  const base = c.resources.relayRssAtReadyBytes ?? 0;
  return base > 0 && peak > 0 ? (peak - base) / c.params.clients : undefined;
}

/** Each relay's samples in the measured window (a sample covers the second before its `t`). */
export function relayWindows(c: CellResult): ResourceSample[][] {
  const from = c.params.warmupS;
  const to = from + c.params.durationS;
  return (c.resources.relays ?? [c.resources.relay]).map((samples) => samples.filter((s) => s.t > from && s.t <= to + 0.5));
}

/** All relays' CPU over the measured window, as % of one core (each relay's mean, summed). */
export function relayCpuPct(c: CellResult): number {
  return relayWindows(c).reduce((sum, w) => sum + (w.length > 0 ? w.reduce((a, s) => a + s.cpuPct, 0) / w.length : 0), 0);
}

/** Microseconds for people: "485 µs", "3.52 ms", "2270 ms". */
export function formatMicros(us: number): string {
  return us >= 1000 ? `${+(us / 1000).toPrecision(3)} ms` : `${Math.round(us)} µs`;
}

/** The cells a report merges as repetitions of one: same pairing, scenario and load. */
export function cellGroupKey(c: CellResult): string {
  const p = c.params;
  // A proxy cell's kind, a reconnect cell's fault and browser clients are part of what
  // it measured (a drop and a cut on one pairing are two measurements).
  const fault = c.fault ? `|${c.fault.kind}` : "";
  const browser = p.clientKind ? `|${p.clientKind}${p.connectionsPerTab ? `x${p.connectionsPerTab}` : ""}${p.wsReconnect === "loop" ? "|ws-loop" : ""}` : "";
  return `${c.transport}|${c.broker}|${c.scenario}|${p.rate}|${p.clients}|${p.size}|${p.topics}|${p.durationS}${p.proxy ? `|${p.proxy}` : ""}${fault}${browser}`;
}

/** That group's anchor on the report page: an id an HTML attribute and a URL fragment both take as is. */
export function cellAnchor(groupKey: string): string {
  return `cell-${groupKey.replace(/[^\w.-]+/g, "_")}`;
}

/** A broker adapter's own counts in words: "bullmq jobs completed 4000, bullmq completions QueueEvents reported 3998". */
export function brokerCountsNote(counts: Readonly<Record<string, number>> | undefined): string {
  return Object.entries(counts ?? {}).map(([name, n]) => `${name} ${n}`).join(", ");
}

/** Adds a broker adapter's counts into a total (over relays, over repetitions). */
export function addBrokerCounts(into: Record<string, number>, add: Readonly<Record<string, number>> | undefined): Record<string, number> {
  for (const [name, n] of Object.entries(add ?? {})) into[name] = (into[name] ?? 0) + n;
  return into;
}

/** A chat cell's upstream, beside the room's latency in the table's columns. */
export function chatNote(chat: ChatFigures): string {
  const up = chat.upstreamUs ? `up p50 ${formatMicros(chat.upstreamUs.p50)} p99 ${formatMicros(chat.upstreamUs.p99)}` : "up: not timed (the broker acknowledges no publish)";
  const ack = chat.upAckUs ? `, answered p50 ${formatMicros(chat.upAckUs.p50)}` : "";
  const bytes = chat.bytesUpPerMessage !== null ? `, ${Math.round(chat.bytesUpPerMessage)} B up/msg` : "";
  const errors = chat.sendErrors + chat.notSent > 0 ? `, ${chat.sendErrors + chat.notSent} sends failed` : "";
  return `${up}${ack}${bytes}${errors}; room latency in the columns`;
}

/** A proxy cell (or its repetitions) in words: the proxy, what it broke and how, what Socket.IO ended on, its CPU per message. */
/** Browser clients in one line: the browser, its tabs, the clock bound, connections a page could not open, reconnects as the browser did them. */
export function browserNote(reps: readonly CellResult[]): string {
  const c = reps.find((r) => r.browser);
  if (!c) return "";
  const b = c.browser!;
  const total = (f: (r: CellResult) => number): number => reps.reduce((n, r) => n + f(r), 0);
  const unanswered = total((r) => r.connections.unanswered ?? 0);
  const failed = total((r) => r.connections.failed);
  const reconnects = total((r) => r.reconnects?.count ?? 0);
  const resumes = total((r) => r.reconnects?.resumeRequests ?? 0);
  const reconnectP50 = median(reps.flatMap((r) => (r.reconnects && r.reconnects.count > 0 ? [r.reconnects.timeUs.p50] : [])));
  return [
    `Chromium ${b.version}, ${b.browsers > 1 ? `${b.browsers} browsers, ` : ""}${b.tabs} tab${b.tabs === 1 ? "" : "s"}${b.connectionsPerTab > 1 ? ` of ${b.connectionsPerTab} connections` : ""}${c.params.wsReconnect === "loop" ? ", hand-written reconnect loop" : ""}`,
    `page clock within ${formatMicros(Math.max(...reps.map((r) => r.browser?.clockErrorBoundUs ?? 0)))}`,
    unanswered > 0 || failed > 0 ? `connections ${[unanswered > 0 ? `${unanswered} never opened` : "", failed > 0 ? `${failed} failed` : ""].filter(Boolean).join(", ")}` : "",
    c.fault ? `reconnects ${reconnects}${Number.isFinite(reconnectP50) ? ` (p50 ${formatMicros(reconnectP50)})` : ""}${c.transport.startsWith("sse") ? `, ${resumes} with Last-Event-ID` : ""}` : "",
  ]
    .filter(Boolean)
    .join("; ");
}

/** Clients on workers in one line: how many hosts, and the clock bound every latency carries (flagged when not small against the p50). */
export function workersNote(reps: readonly CellResult[]): string {
  const w = reps.filter((r) => r.workers).map((r) => r.workers!);
  if (w.length === 0) return "";
  const bound = Math.max(...w.map((x) => x.clockErrorBoundUs));
  const large = w.some((x) => x.clockBoundLarge);
  return `clients on ${w[0]!.hosts.length} worker${w[0]!.hosts.length === 1 ? "" : "s"}, clocks within ${formatMicros(bound)}${large ? " (CLOCK BOUND LARGE: over a tenth of the p50)" : ""}`;
}

export function proxyNote(reps: readonly CellResult[]): string {
  const c = reps.find((r) => r.proxy);
  if (!c) return "";
  const total = (f: (r: CellResult) => number): number => reps.reduce((n, r) => n + f(r), 0);
  const failed = total((r) => r.connections.failed);
  const dropped = total((r) => r.connections.disconnects);
  const unanswered = total((r) => r.connections.unanswered ?? 0);
  const trouble = [failed > 0 ? `${failed} refused` : "", dropped > 0 ? `${dropped} dropped` : "", unanswered > 0 ? `${unanswered} unanswered at the start` : ""].filter(Boolean);
  const first = reps.find((r) => r.connections.firstError)?.connections.firstError;
  const carried = reps.reduce<Record<string, number>>((sum, r) => addBrokerCounts(sum, r.carriedBy), {});
  const cpu = median(reps.flatMap((r) => (r.proxy?.cpuUsPerDelivery != null ? [r.proxy.cpuUsPerDelivery] : [])));
  return [
    `behind ${c.proxy!.kind}`,
    trouble.length > 0 ? `connections ${trouble.join(", ")}${first ? ` (first: ${first})` : ""}` : "",
    Object.keys(carried).length > 0 ? `ended on ${Object.entries(carried).map(([t, n]) => `${t} ${n}`).join(", ")}` : "",
    Number.isFinite(cpu) ? `proxy CPU ${formatMicros(cpu)}/msg` : "",
  ]
    .filter(Boolean)
    .join("; ");
}
