/** `rtbench brokers up|down|status|fetch`: broker servers on private ports, left running for later runs. */
import { fetchKafka, kafkaLibs, servers } from "../brokers/servers.js";
import { brokersDown, brokersUp, readUpState, reapStaleRuns, upDir } from "./broker-servers.js";
import { parse, UsageError } from "./cli-args.js";
import { treeRssBytes } from "./proc.js";

export async function brokersCommand(args: string[]): Promise<number> {
  const { positionals } = parse(args, {}, "brokers");
  const [action, ...names] = positionals;
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    switch (action) {
      case "up": {
        reapStaleRuns();
        const { failed } = await brokersUp(names, log);
        log(`state: ${upDir()} (rtbench run uses these until rtbench brokers down)`);
        return failed.length > 0 ? 1 : 0;
      }
      case "down":
        await brokersDown(names, log);
        return 0;
      case "status":
        process.stdout.write(brokersStatus(names));
        return 0;
      case "fetch":
        fetchKafka(log);
        log(`kafka jars: ${kafkaLibs()}`);
        return 0;
    }
  } catch (err) {
    if (err instanceof Error && /^unknown broker|runs in-process/.test(err.message)) throw new UsageError(`rtbench brokers: ${err.message}`);
    throw err;
  }
  throw new UsageError("rtbench brokers: expected up, down, status or fetch, then optional server or broker names (see rtbench help)");
}

function brokersStatus(names: string[]): string {
  const running = readUpState();
  const rows = [["server", "state", "version", "port", "pid", "rss", "url / reason"]];
  for (const name of names.length > 0 ? names : [...servers.keys()]) {
    const spec = servers.get(name);
    if (!spec) throw new UsageError(`rtbench brokers status: unknown server "${name}" (expected ${[...servers.keys()].join(", ")})`);
    const l = running.find((r) => r.name === name);
    const why = spec.unavailable();
    if (l) {
      const rss = treeRssBytes(l.pid);
      rows.push([name, "running", l.version, String(l.port), String(l.pid), rss === null ? "?" : `${(rss / 2 ** 20).toFixed(0)} MiB`, l.url]);
    } else rows.push([name, why ? "unavailable" : "stopped", why ? "" : spec.version(), "", "", "", why ?? "rtbench brokers up " + name]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")}\n`;
}
