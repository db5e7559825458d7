/**
 * The command line's side of workers: `rtbench worker`, and `rtbench run`'s --workers /
 * --await-workers, checked before anything starts (exit 2 with the flag named).
 */
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, UsageError, VERSION, type FlagSpec } from "./cli-args.js";
import { killChildren, setChildLog } from "./roles.js";
import { COORDINATOR_PORT, dialCoordinator, listenWorker, TOKEN_ENV, tokenProblem, WORKER_PORT, WORKER_PROTOCOL } from "./worker.js";
import { Workers } from "./workers.js";

export const WORKER_HELP = `  rtbench worker [--listen HOST:PORT | --coordinator HOST:PORT] [--once] [--log FILE]
                                        runs roles for a coordinator on another host (rtbench run
                                        --workers): listens (default 127.0.0.1:${WORKER_PORT}) or dials a
                                        coordinator that awaits workers; --once: exit after one
                                        coordinator (a Job's pod); needs ${TOKEN_ENV}`;

export const RUN_WORKER_FLAGS = `  --workers LIST       run the clients on these workers: HOST:PORT,... or @FILE (one per line);
                       worker i of n takes segment i of the clients; relays and producer run here
  --workers-wait S     dial workers not reachable yet again for up to S seconds (pods starting)
  --await-workers N    instead wait for N workers to dial in (rtbench worker --coordinator)
  --listen HOST:PORT   where --await-workers waits (default 127.0.0.1:${COORDINATOR_PORT})
                       both sides need the same ${TOKEN_ENV} (16+ characters)`;

/** "host:port" with a port in range; `flag` names it in the error. */
export function parseAddress(value: string, flag: string, defaultHost?: string): { host: string; port: number } {
  // A listener may take port 0: the system picks one (printed once listening).
  const lowest = flag === "--listen" ? 0 : 1;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value.trim());
  const host = m ? (m[1] ?? m[2] ?? "") : "";
  const port = m ? Number(m[3]) : NaN;
  if (!m || (host === "" && defaultHost === undefined) || !Number.isInteger(port) || port < lowest || port > 65535) {
    throw new UsageError(`rtbench: flag ${flag}: expected HOST:PORT with a port from ${lowest} to 65535, got ${JSON.stringify(value)}`);
  }
  return { host: host === "" ? defaultHost! : host, port };
}

/** --workers: a comma-separated list, or @FILE with one address a line (# comments). */
export function workerAddresses(value: string): string[] {
  let items: string[];
  if (value.startsWith("@")) {
    const file = value.slice(1);
    if (!existsSync(file)) throw new UsageError(`rtbench run: flag --workers: file ${file} not found`);
    items = readFileSync(file, "utf8").split("\n").map((l) => l.replace(/#.*/, "").trim());
  } else items = value.split(",").map((s) => s.trim());
  const addresses = items.filter(Boolean).map((a) => parseAddress(a, value.startsWith("@") ? `--workers (${value.slice(1)})` : "--workers"));
  if (addresses.length === 0) throw new UsageError(`rtbench run: flag --workers: expected at least one HOST:PORT, got ${JSON.stringify(value)}`);
  const names = addresses.map((a) => `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UsageError(`rtbench run: flag --workers: ${twice} is given twice`);
  return names;
}

function token(command: string): string {
  const t = process.env[TOKEN_ENV];
  const problem = tokenProblem(t);
  if (problem) throw new UsageError(`rtbench ${command}: ${problem}`);
  return t!;
}

/** What `run` was told about workers, checked (exit 2 before anything starts), not yet connected. */
export interface WorkerRequest {
  connect(log: (line: string) => void): Promise<Workers>;
}

export function workerRequest(values: { workers?: unknown; "await-workers"?: unknown; listen?: unknown; "workers-wait"?: unknown }): WorkerRequest | undefined {
  const list = typeof values.workers === "string" ? values.workers : undefined;
  const awaited = typeof values["await-workers"] === "string" ? values["await-workers"] : undefined;
  if (list !== undefined && awaited !== undefined) throw new UsageError("rtbench run: give --workers or --await-workers, not both");
  if (typeof values.listen === "string" && awaited === undefined) throw new UsageError("rtbench run: flag --listen: only with --await-workers");
  const waitGiven = typeof values["workers-wait"] === "string" ? values["workers-wait"] : undefined;
  if (waitGiven !== undefined && list === undefined) throw new UsageError("rtbench run: flag --workers-wait: only with --workers");
  const waitS = waitGiven === undefined ? 0 : Number(waitGiven);
  if (!Number.isFinite(waitS) || waitS < 0 || waitS > 3600) throw new UsageError(`rtbench run: flag --workers-wait: expected seconds from 0 to 3600, got ${JSON.stringify(waitGiven)}`);
  if (list !== undefined) {
    const addresses = workerAddresses(list);
    const secret = token("run --workers");
    return {
      connect: async () => {
        try {
          return await Workers.dial(addresses, secret, VERSION, waitS * 1000);
        } catch (err) {
          throw new UsageError(`rtbench run: flag --workers: ${(err as Error).message}`);
        }
      },
    };
  }
  if (awaited !== undefined) {
    const n = Number(awaited);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`rtbench run: flag --await-workers: expected an integer from 1 to 1000, got ${JSON.stringify(awaited)}`);
    const at = parseAddress(typeof values.listen === "string" ? values.listen : `127.0.0.1:${COORDINATOR_PORT}`, "--listen");
    const secret = token("run --await-workers");
    return {
      connect: async (log) => {
        log(`waiting for ${n} worker(s) on ${at.host}:${at.port}`);
        try {
          return await Workers.await(at.host, at.port, n, secret, VERSION, log, 10 * 60_000);
        } catch (err) {
          throw new UsageError(`rtbench run: flag --await-workers: ${(err as Error).message}`);
        }
      },
    };
  }
  return undefined;
}

/** `rtbench worker`'s flags (the deploy files' commands are checked against these). */
export const WORKER_FLAGS = { listen: { type: "string" }, coordinator: { type: "string" }, log: { type: "string" }, once: { type: "boolean" } } as const satisfies FlagSpec;

/** `rtbench run`'s flags beside the workload's fields. */
export const RUN_FLAGS = {
  out: { type: "string" },
  report: { type: "boolean" },
  repeat: { type: "string" },
  "broker-url": { type: "string", multiple: true },
  workers: { type: "string" },
  "workers-wait": { type: "string" },
  "await-workers": { type: "string" },
  listen: { type: "string" },
} as const satisfies FlagSpec;

/** `rtbench worker`: serves coordinators until it is stopped (SIGINT, SIGTERM), then kills what it runs. */
export async function workerCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, WORKER_FLAGS, "worker");
  if (positionals.length > 0) throw new UsageError(`rtbench worker: unexpected argument ${positionals[0]}`);
  if (values.listen !== undefined && values.coordinator !== undefined) throw new UsageError("rtbench worker: give --listen or --coordinator, not both");
  const secret = token("worker");
  const logFile = typeof values.log === "string" ? values.log : join(tmpdir(), `rtbench-worker-${process.pid}.log`);
  setChildLog(logFile);
  const log = (line: string): void => void process.stderr.write(`rtbench worker: ${line}\n`);
  // A Kubernetes Indexed Job's pod knows its index: it takes that segment of the clients.
  const indexEnv = process.env.JOB_COMPLETION_INDEX;
  const index = indexEnv !== undefined && /^\d+$/.test(indexEnv) ? Number(indexEnv) : undefined;
  const o = { token: secret, version: VERSION, log, ...(index !== undefined ? { index } : {}) };
  const stopped = new AbortController();
  const done = new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
      process.once(signal, () => {
        killChildren();
        stopped.abort();
        resolve();
      });
  });
  if (typeof values.coordinator === "string") {
    const to = parseAddress(values.coordinator, "--coordinator");
    log(`dialing the coordinator at ${to.host}:${to.port} (rtbench ${VERSION}, protocol ${WORKER_PROTOCOL}); roles' output in ${logFile}`);
    await Promise.race([dialCoordinator(`${to.host}:${to.port}`, o, stopped.signal, values.once === true), done]);
    return 0;
  }
  const at = parseAddress(typeof values.listen === "string" ? values.listen : `127.0.0.1:${WORKER_PORT}`, "--listen");
  let server: Awaited<ReturnType<typeof listenWorker>>;
  try {
    server = await listenWorker(at.host, at.port, o, () => {
      if (values.once === true) stopped.abort();
    });
  } catch (err) {
    throw new UsageError(`rtbench worker: flag --listen: cannot listen on ${at.host}:${at.port}: ${(err as Error).message}`);
  }
  // The port on stdout, alone: a script that asked for port 0 reads it here.
  process.stdout.write(`listening ${at.host}:${server.port}\n`);
  log(`listening on ${at.host}:${server.port} (rtbench ${VERSION}, protocol ${WORKER_PROTOCOL}); roles' output in ${logFile}`);
  await Promise.race([done, new Promise((resolve) => stopped.signal.addEventListener("abort", resolve))]);
  await server.close();
  return 0;
}
