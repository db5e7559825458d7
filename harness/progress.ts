/**
 * What a person watching `rtbench run` sees: a live line per cell on a terminal (a
 * plain line per phase elsewhere, e.g. in CI logs), and a summary table at the end.
 */
import { brokerCountsNote, browserNote, chatNote, formatMicros, proxyNote, workersNote } from "../results/cell-metrics.js";
import type { CellResult } from "../results/schema.js";

export class Progress {
  private readonly tty: boolean;
  private lastPaint = 0;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(out.isTTY) && !process.env.CI;
  }

  /** A new phase of a cell: always shown. */
  phase(prefix: string, text: string): void {
    this.paint(`${prefix} ${text}`, true);
  }

  /** Live counters: repainted at most 4 times a second, and only on a terminal. */
  progress(prefix: string, delivered: number, expected: number, elapsedS: number): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.lastPaint < 250) return;
    const pct = expected > 0 ? Math.min(100, (100 * delivered) / expected) : 0;
    this.paint(`${prefix} measuring ${elapsedS.toFixed(0)}s  delivered ${delivered.toLocaleString("en")} (${pct.toFixed(0)}%)`, false);
  }

  /** The cell's outcome, on a line of its own. */
  done(prefix: string, cell: CellResult): void {
    const text =
      cell.status === "failed"
        ? `${prefix} FAILED: ${cell.error}`
        : cell.status === "unavailable"
          ? `${prefix} unavailable: ${cell.error}`
        : `${prefix} done: ${cell.counts.delivered}/${cell.counts.expected} delivered, ` +
          (cell.latencyUs.count > 0 ? `p50 ${ms(cell.latencyUs.p50)} p99 ${ms(cell.latencyUs.p99)}` : "no latency measured (nothing intended in the window was sent)") +
          (cell.saturated ? `  SATURATED: ${cell.saturationReasons.join("; ")}` : "") +
          (cell.relayLimit ? `  RELAY LIMIT (the system's figure): ${cell.relayLimit.join("; ")}` : "") +
          (troubleNote(cell) ? `; ${troubleNote(cell)}` : "") +
          (cell.sweep ? `; ${sweepNote(cell.sweep)}: ${cell.sweep.steps.at(-1)?.reason ?? "every step held"}` : "") +
          (cell.scaleOut ? `; ${scaleOutNote(cell.scaleOut)}` : "") +
          (cell.ramp ? `; ${rampNote(cell.ramp)}: ${cell.ramp.steps.at(-1)?.reason ?? "every step held"}` : "") +
          (brokerNote(cell) ? `; ${brokerNote(cell)}` : "");
    this.paint(text, true);
    if (this.tty) this.out.write("\n");
  }

  private paint(text: string, always: boolean): void {
    this.lastPaint = Date.now();
    if (this.tty) {
      this.out.write(`\r\x1b[2K${text}`);
    } else if (always) {
      this.out.write(`${text}\n`);
    }
  }
}

const ms = formatMicros;

/** The table printed when a run ends. */
export function summaryTable(cells: readonly CellResult[]): string {
  const header = ["transport", "broker", "scenario", "rep", "clients", "rate/s", "delivered", "lost", "dup", "p50", "p99", "p99.9", "deliveries/s", "note"];
  const rows = cells.map((c) => [
    c.transport,
    c.broker,
    c.scenario,
    String(c.params.repetition),
    String(c.params.clients),
    String(c.params.rate),
    `${c.counts.delivered}/${c.counts.expected}`,
    String(c.counts.lost),
    String(c.counts.duplicated),
    // No message timed: a dash, never a 0 µs that reads as a figure.
    c.latencyUs.count > 0 ? ms(c.latencyUs.p50) : "–",
    c.latencyUs.count > 0 ? ms(c.latencyUs.p99) : "–",
    c.latencyUs.count > 0 ? ms(c.latencyUs.p999) : "–",
    Math.round(c.throughput).toLocaleString("en"),
    [
      c.status === "failed"
        ? `FAILED: ${c.error ?? ""}`.slice(0, 120)
        : c.status === "unavailable"
          ? "unavailable (see the result's error)"
          : c.saturated
            ? "SATURATED (not the system's figure)"
            : c.relayLimit
              ? "RELAY LIMIT (the system's figure: its relay held the producer)"
              : c.sweep
                ? sweepNote(c.sweep)
                : c.scaleOut
                  ? scaleOutNote(c.scaleOut)
                  : c.ramp
                    ? rampNote(c.ramp)
                    : c.browser
                      ? browserNote([c])
                      : c.chat
                      ? chatNote(c.chat)
                      : c.proxy
                        ? proxyNote([c])
                        : brokerNote(c),
      troubleNote(c),
      workersNote([c]),
    ]
      .filter(Boolean)
      .join("; "),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  // A saturated cell says, in one line under the table, what held the load generator back.
  const saturated = cells.filter((c) => c.status === "ok" && c.saturated);
  const why = saturated.map(
    (c) => `saturated: ${c.transport} × ${c.broker} ${c.scenario} (rep ${c.params.repetition}): ${c.saturationReasons.join("; ")}; its figures are the load generator's, not the system's`,
  );
  return [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt), ...(why.length ? ["", ...why] : [])].join("\n");
}

/** The broker dying or erring under the cell, and a teardown that went wrong: said beside the figures. */
export function troubleNote(c: CellResult): string {
  const parts: string[] = [];
  const t = c.brokerTrouble;
  if (t?.serverExited) parts.push(`BROKER SERVER EXITED at ${t.serverExited.atS.toFixed(1)} s`);
  const errors = t?.errors.reduce((n, e) => n + e.count, 0) ?? 0;
  if (errors > 0) parts.push(`${errors} broker client error(s), first: ${t!.errors[0]!.first.slice(0, 80)}`);
  if (c.teardownErrors?.length) parts.push(`teardown: ${c.teardownErrors[0]!.slice(0, 80)}`);
  return parts.join("; ");
}

/** Messages out of order, what the broker kept and what it never acknowledged, where a cell says. */
function brokerNote(c: CellResult): string {
  const parts: string[] = [];
  if (c.counts.reordered > 0) {
    const within = c.reorderedWithinPartition;
    parts.push(`${c.counts.reordered} reordered${within !== undefined && c.params.partitions !== undefined && Number(c.params.partitions) > 1 ? ` (${within} within a partition)` : ""}`);
  }
  if (c.durability) parts.push(`history kept ${c.durability.keptAcknowledged}/${c.durability.acknowledged} acknowledged`);
  if (c.unacknowledged) parts.push(`${c.unacknowledged} never acknowledged`);
  if (c.brokerCounts) parts.push(brokerCountsNote(c.brokerCounts));
  return parts.join(", ");
}

/** A ramp in a few words: the most connections held, and what ended it ("at least" unless the system failed). */
export function rampNote(ramp: NonNullable<CellResult["ramp"]>): string {
  const last = ramp.steps.at(-1);
  const held = ramp.maxConnections === null ? "no step held" : `held ${ramp.limitMeasured ? "" : "at least "}${ramp.maxConnections} connections`;
  const by = ramp.stoppedBy === "max-clients" ? "up to clients" : last && !last.held ? `${ramp.stoppedBy} at ${last.clients}` : ramp.stoppedBy;
  return `${held} (${by})`;
}

/** A scale-out in a few words: relay CPU per delivery at each relay count, and the efficiency (or why there is none). */
export function scaleOutNote(scaleOut: NonNullable<CellResult["scaleOut"]>): string {
  const cpu = scaleOut.steps.map((s) => (s.relayCpuUsPerDelivery === null ? "-" : s.relayCpuUsPerDelivery.toFixed(1))).join("/");
  const relays = scaleOut.steps.map((s) => s.relays).join("/");
  const verdict = scaleOut.efficiency === null ? `no efficiency: ${scaleOut.reason}` : `efficiency ${scaleOut.efficiency.toFixed(2)}`;
  return `relays ${relays}: relay CPU ${cpu} µs/delivery, ${verdict}`;
}

/** A sweep in a few words: the highest rate held, and what ended it ("at least" when the generator did). */
export function sweepNote(sweep: NonNullable<CellResult["sweep"]>): string {
  const last = sweep.steps.at(-1);
  const held = sweep.maxSustainableRate === null ? "no step held" : `held ${sweep.limitMeasured ? "" : "at least "}${sweep.maxSustainableRate}/s`;
  const by =
    sweep.stoppedBy === "max-rate" ? "up to maxRate" : last && !last.sustained ? `${sweep.stoppedBy} at ${last.rate}/s` : sweep.stoppedBy;
  return `${held} (${by})`;
}
