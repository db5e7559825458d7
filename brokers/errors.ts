/**
 * What broker client libraries report in this process: their errors (a broker that
 * died, a refused connection), counted so the cell can say so, and their log lines,
 * which go to the run's log file rather than the terminal.
 */
export interface BrokerErrors {
  count: number;
  first: string;
  last: string;
}

let count = 0;
let first = "";
let last = "";

/** Records one error a broker client reported; `source` names the library or broker. */
export function noteBrokerError(source: string, err: unknown): void {
  const message = `${source}: ${err instanceof Error ? err.message : String(err)}`.split("\n")[0]!.slice(0, 300);
  count++;
  if (count === 1) first = message;
  last = message;
  libraryLog(message);
}

/** The errors so far, for a role's report; nothing when there were none. */
export function brokerErrorsReport(): { brokerErrors?: BrokerErrors } {
  return count > 0 ? { brokerErrors: { count, first, last } } : {};
}

const counters = new Map<string, number>();

/**
 * Adds to a count an adapter keeps of what its library did beside the deliveries (the
 * completions BullMQ's QueueEvents reported, say), which the cell shows as it was counted.
 */
export function addBrokerCount(name: string, n: number): void {
  counters.set(name, (counters.get(name) ?? 0) + n);
}

/** The counts so far, for a role's report; nothing when there are none. */
export function brokerCountsReport(): { brokerCounts?: Record<string, number> } {
  return counters.size > 0 ? { brokerCounts: Object.fromEntries(counters) } : {};
}

let sink: (line: string) => void = (line) => void process.stderr.write(`${line}\n`);

/**
 * A client library's log line. In a relay, producer or fleet process stderr is the
 * run's log file (the coordinator pipes it there); the coordinator points this at the
 * same file with setLibraryLog.
 */
export function libraryLog(line: string): void {
  sink(line);
}

export function setLibraryLog(write: (line: string) => void): void {
  sink = write;
}
