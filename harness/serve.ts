/**
 * `rtbench serve`: one relay and its producer in the foreground, for curl -N or a
 * browser. Host and port are checked before any broker server starts.
 */
import { appendFileSync } from "node:fs";
import { lookup } from "node:dns/promises";
import { createServer, isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nowNs } from "../core/clock.js";
import { OpenLoopSchedule } from "../core/schedule.js";
import { freshNamespace } from "../brokers/broker.js";
import { setLibraryLog } from "../brokers/errors.js";
import { redactSecrets } from "../results/redact.js";
import { BrokerServers, reapStaleRuns } from "./broker-servers.js";
import { brokerUrls, intFlag, parse, UsageError } from "./cli-args.js";
import { runProducer } from "./producer.js";
import { brokers, getTransport, transports } from "./registry.js";
import { startRelay } from "./relay.js";
import { RELAY_DEFAULTS } from "./runner.js";
import { applyFields, DEFAULTS } from "./workload.js";

/** Why `rtbench serve` could not listen on host:port (a taken port, an unknown host), or null: tried before anything starts. */
async function canListen(host: string, port: number): Promise<string | null> {
  let address: string;
  try {
    address = isIP(host) ? host : (await lookup(host)).address;
  } catch (err) {
    return `flag --host: cannot resolve ${JSON.stringify(host)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  return new Promise((resolveCheck) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) =>
      resolveCheck(
        err.code === "EADDRINUSE"
          ? `flag --port: ${host}:${port} is taken by another program (choose another --port, or 0 for any free one)`
          : `flag --host: cannot listen on ${host} (${err.code ?? err.message})`,
      ),
    );
    probe.listen({ host: address, port, exclusive: true }, () => probe.close(() => resolveCheck(null)));
  });
}

export async function serve(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      transport: { type: "string" },
      broker: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      rate: { type: "string" },
      size: { type: "string" },
      topics: { type: "string" },
      heartbeat: { type: "string" },
      retry: { type: "string" },
      "broker-url": { type: "string", multiple: true },
    },
    "serve",
  );
  if (positionals.length > 0) throw new UsageError(`rtbench serve: unexpected argument ${positionals[0]}`);
  const transport = (values.transport as string | undefined) ?? "sse";
  const broker = (values.broker as string | undefined) ?? "inproc";
  if (!transports.has(transport)) {
    throw new UsageError(`rtbench serve: flag --transport: expected one of ${[...transports.keys()].join(", ")}, got ${JSON.stringify(transport)}`);
  }
  if (getTransport(transport).listener === "none") {
    throw new UsageError(`rtbench serve: flag --transport: ${transport} has no relay to serve (its clients subscribe to the broker itself)`);
  }
  if (!brokers.has(broker)) {
    throw new UsageError(`rtbench serve: flag --broker: expected one of ${[...brokers.keys()].join(", ")}, got ${JSON.stringify(broker)}`);
  }
  const fields = applyFields(
    { ...DEFAULTS, rate: 1, size: 64, topics: 1 },
    Object.fromEntries(["rate", "size", "topics"].filter((k) => values[k] !== undefined).map((k) => [k, values[k]])),
    (key) => `rtbench serve: flag --${key}`,
    true,
  );
  const port = intFlag(values.port as string | undefined, "port", 0, 65535, 8080);
  const host = (values.host as string | undefined) ?? RELAY_DEFAULTS.host;
  const heartbeatMs = intFlag(values.heartbeat as string | undefined, "heartbeat", 10, 3_600_000, RELAY_DEFAULTS.heartbeatMs);
  const retryMs = intFlag(values.retry as string | undefined, "retry", 0, 3_600_000, RELAY_DEFAULTS.retryMs);

  const urls = brokerUrls(values["broker-url"]);
  // The address and port, before any broker server starts: a taken port or an unknown host is one line, nothing left running.
  const listenProblem = await canListen(host, port);
  if (listenProblem) throw new UsageError(`rtbench serve: ${listenProblem}`);
  reapStaleRuns();
  // The relay runs in this process: its client libraries' logs go to a file, the terminal keeps the endpoint.
  const serveLog = join(tmpdir(), `rtbench-serve-${process.pid}.log`);
  setLibraryLog((line) => {
    try {
      appendFileSync(serveLog, `${line}\n`, { mode: 0o600 });
    } catch {
      /* the line is lost */
    }
  });

  // The broker's server as a run gets it: --broker-url, one left up by `brokers up`, or our own.
  const brokerServers = new BrokerServers(urls, (line) => process.stderr.write(`rtbench: ${line}\n`));
  const stopEarly = (): void => {
    brokerServers.killOwnedNow();
    process.exit(143);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, stopEarly);
  const resolved = await brokerServers.resolve(broker);
  if (!resolved.ok) {
    await brokerServers.stopOwned();
    process.stderr.write(`rtbench serve: ${broker} is unavailable: ${resolved.reason}\n`);
    return 1;
  }
  // A Socket.IO adapter transport also needs the Redis its relays talk through.
  const adapterBroker = getTransport(transport).adapterBroker;
  const adapter = adapterBroker ? await brokerServers.resolve(adapterBroker) : undefined;
  if (adapter && !adapter.ok) {
    await brokerServers.stopOwned();
    process.stderr.write(`rtbench serve: ${transport} needs ${adapterBroker}'s server for its adapter, which is unavailable: ${adapter.reason}\n`);
    return 1;
  }
  const namespace = freshNamespace();
  const relay = await startRelay({
    ...RELAY_DEFAULTS,
    transport,
    broker,
    namespace,
    history: false,
    ...(adapter?.ok && adapter.endpoint.url ? { adapterUrl: adapter.endpoint.url } : {}),
    ...(resolved.endpoint.url ? { brokerUrl: resolved.endpoint.url } : {}),
    topics: fields.topics,
    port,
    host,
    heartbeatMs,
    retryMs,
  }).catch(async (err: unknown) => {
    // Taken between the check and now, or the broker refused the relay: one line, and what this started is stopped.
    await brokerServers.stopOwned();
    throw new UsageError(`rtbench serve: ${redactSecrets((err as Error).message.split("\n")[0]!)}`);
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, stopEarly);
  const schedule = new OpenLoopSchedule(nowNs() + 1e8, fields.rate, Number.MAX_SAFE_INTEGER);
  const producer = runProducer(relay.broker, schedule, { namespace, topics: fields.topics, size: fields.size });
  const base = relay.baseUrl;
  const t = getTransport(transport);
  process.stdout.write(
    `rtbench serve: ${transport} × ${broker}, ${fields.rate} msg/s of ${fields.size} B over ${fields.topics} topic(s)\n` +
      `  endpoint: ${base}${t.endpoint}\n` +
      // Text over plain HTTP reads well in curl; WebSocket, Socket.IO and gRPC need their own clients.
      (/^\/(sse|poll)/.test(t.endpoint) ? `  try:      curl -N${t.listener === "h2-tls" ? " -k --http2" : ""} '${base}${t.endpoint}'\n` : "") +
      `  client library logs: ${serveLog}\n` +
      `Ctrl-C stops.\n`,
  );
  await new Promise<void>((resolveStop) => {
    process.once("SIGINT", resolveStop);
    process.once("SIGTERM", resolveStop);
  });
  producer.stop();
  await relay.close();
  await brokerServers.stopOwned();
  return 0;
}
