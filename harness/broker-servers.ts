/**
 * Which broker server each cell talks to, and its lifetime: a URL the user gave
 * (--broker-url), one left running by `rtbench brokers up`, or one this run starts on
 * private ports in a temp dir and stops when it ends. A server that cannot be had
 * makes its brokers "unavailable" with the reason, and the other cells still run.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alive, servers, type Launched } from "../brokers/servers.js";
import { getBroker } from "./registry.js";

export interface Endpoint {
  url?: string;
  version: string;
  /** Present when rtbench started the server: its RSS is sampled. */
  pid?: number;
}

export interface OwnedServer {
  pid(): number;
  restart(): Promise<void>;
}

export type Resolved = { ok: true; endpoint: Endpoint } | { ok: false; reason: string };

/** Where `rtbench brokers up` keeps its servers and their state (RTBENCH_BROKERS_DIR overrides). */
export function upDir(): string {
  return process.env.RTBENCH_BROKERS_DIR ?? join(tmpdir(), "rtbench-brokers");
}

function stateFile(): string {
  return join(upDir(), "state.json");
}

export function readUpState(): Launched[] {
  try {
    return (JSON.parse(readFileSync(stateFile(), "utf8")) as Launched[]).filter((l) => alive(l.pid));
  } catch {
    return [];
  }
}

function writeUpState(list: Launched[]): void {
  mkdirSync(upDir(), { recursive: true });
  writeFileSync(stateFile(), `${JSON.stringify(list, null, 2)}\n`);
}

/** Stops a server: SIGTERM to its process group, then SIGKILL if it lingers. */
export async function stopServer(l: Launched, graceMs = 20_000): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-l.pid, sig);
    } catch {
      try {
        process.kill(l.pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (alive(l.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(l.pid)) signal("SIGKILL");
}

/** Starts one server in a fresh folder under `parent`. */
export async function startServer(name: string, parent: string): Promise<Launched> {
  const spec = servers.get(name);
  if (!spec) throw new Error(`unknown broker server "${name}"`);
  const why = spec.unavailable();
  if (why) throw new Error(why);
  const dir = join(parent, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return spec.start(dir);
}

/** Stops a server and starts it again on the same port and data: a broker restart. */
export async function restartServer(l: Launched): Promise<Launched> {
  await stopServer(l);
  return servers.get(l.name)!.start(l.dir, l.port);
}

const RUN_DIR_PREFIX = "rtbench-run-brokers-";

/**
 * Servers of runs that died without stopping them (SIGKILL, a crash): each run folder
 * names its owner's pid and its servers, so the next run stops them.
 */
export function reapStaleRuns(): number {
  let reaped = 0;
  for (const entry of readdirSync(tmpdir()).filter((e) => e.startsWith(RUN_DIR_PREFIX))) {
    const dir = join(tmpdir(), entry);
    try {
      const owner = JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as { pid: number; servers: number[] };
      if (alive(owner.pid)) continue;
      for (const pid of owner.servers) killGroup(pid);
      rmSync(dir, { recursive: true, force: true });
      reaped++;
    } catch {
      /* being created, or not ours */
    }
  }
  return reaped;
}

function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGKILL");
      return;
    } catch {
      /* try the pid alone, or already gone */
    }
  }
}

export class BrokerServers {
  private readonly started = new Map<string, Promise<Launched>>();
  private readonly owned: Launched[] = [];
  private runDir: string | undefined;

  constructor(
    private readonly external: Readonly<Record<string, string>>,
    private readonly log: (line: string) => void,
  ) {}

  private recordOwner(): void {
    writeFileSync(join(this.runDir!, "owner.json"), JSON.stringify({ pid: process.pid, servers: this.owned.map((l) => l.pid) }));
  }

  async resolve(brokerName: string): Promise<Resolved> {
    const broker = getBroker(brokerName);
    if (broker.inProcess) return { ok: true, endpoint: { version: "builtin" } };
    const url = this.external[brokerName];
    if (url) return { ok: true, endpoint: { url, version: "external" } };
    const server = broker.server!;
    const running = readUpState().find((l) => l.name === server);
    if (running) return { ok: true, endpoint: { url: running.url, version: running.version, pid: running.pid } };
    let launching = this.started.get(server);
    if (!launching) {
      this.log(`starting ${server} for ${brokerName}`);
      if (!this.runDir) {
        reapStaleRuns();
        this.runDir = mkdtempSync(join(tmpdir(), RUN_DIR_PREFIX));
        this.recordOwner();
      }
      launching = startServer(server, this.runDir).then((l) => {
        this.owned.push(l);
        this.recordOwner();
        this.log(`${server} ${l.version} up on port ${l.port} (pid ${l.pid})`);
        return l;
      });
      this.started.set(server, launching);
    }
    try {
      const l = await launching;
      return { ok: true, endpoint: { url: l.url, version: l.version, pid: l.pid } };
    } catch (err) {
      return { ok: false, reason: `${server}: ${(err as Error).message.split("\n")[0]}` };
    }
  }

  /**
   * The server behind a broker when this run started it: its current pid, and a
   * restart (a fault) on the same port and data. Undefined for servers it does not own.
   */
  ownedServer(brokerName: string): OwnedServer | undefined {
    const name = getBroker(brokerName).server;
    const index = (): number => this.owned.findIndex((l) => l.name === name);
    if (!name || index() < 0) return undefined;
    return {
      pid: () => this.owned[index()]!.pid,
      restart: async () => {
        const next = await restartServer(this.owned[index()]!);
        this.owned[index()] = next;
        this.recordOwner();
        this.log(`${name} restarted on port ${next.port} (pid ${next.pid})`);
      },
    };
  }

  /** Stops what this run started and removes its folders. */
  async stopOwned(): Promise<void> {
    await Promise.all(this.owned.splice(0).map((l) => stopServer(l)));
    if (this.runDir && existsSync(this.runDir)) rmSync(this.runDir, { recursive: true, force: true });
  }

  /** For Ctrl-C or a kill: no time to wait, so SIGKILL what this run started. */
  killOwnedNow(): void {
    for (const l of this.owned) killGroup(l.pid);
    if (this.runDir) rmSync(this.runDir, { recursive: true, force: true });
  }
}

/** `rtbench brokers up [names]`: names are servers (redis) or brokers (redis-streams). */
export function serverNames(names: string[]): string[] {
  if (names.length === 0) return [...servers.keys()];
  const out = new Set<string>();
  for (const n of names) {
    if (servers.has(n)) out.add(n);
    else {
      const b = getBroker(n);
      if (!b.server) throw new Error(`${n} runs in-process: there is no server to start`);
      out.add(b.server);
    }
  }
  return [...out];
}

export async function brokersUp(names: string[], log: (line: string) => void): Promise<{ started: Launched[]; failed: string[] }> {
  const state = readUpState();
  const started: Launched[] = [];
  const failed: string[] = [];
  for (const name of serverNames(names)) {
    const running = state.find((l) => l.name === name);
    if (running) {
      log(`${name}: already running (pid ${running.pid}, port ${running.port})`);
      continue;
    }
    log(`${name}: starting`);
    try {
      const l = await startServer(name, upDir());
      state.push(l);
      started.push(l);
      writeUpState(state);
      log(`${name}: ${l.version} on port ${l.port}, pid ${l.pid}, ${l.url}`);
    } catch (err) {
      failed.push(name);
      log(`${name}: unavailable: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  return { started, failed };
}

export async function brokersDown(names: string[], log: (line: string) => void): Promise<void> {
  const wanted = new Set(serverNames(names));
  const state = readUpState();
  for (const l of state.filter((s) => wanted.has(s.name))) {
    log(`${l.name}: stopping pid ${l.pid}`);
    await stopServer(l);
  }
  writeUpState(state.filter((s) => !wanted.has(s.name)));
}
