/**
 * A real proxy in the clients' path (nginx, HAProxy from the machine's packages): one
 * file per proxy program behind this small interface, registered in ./index.ts. The
 * runner starts one per cell on a private port, with a config written for the cell's
 * relays, and stops it after; clients connect to it instead of the relays.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "../../brokers/servers.js";
import { treeCpuUs } from "../proc.js";
import { throwAwayCertificate } from "../certificate.js";

export interface ProxyTarget {
  host: string;
  port: number;
}

export interface ProxyConfig {
  /** The cell's own folder: config, pid file, temp files and log. */
  dir: string;
  host: string;
  port: number;
  relays: readonly ProxyTarget[];
  /** A kind with `tls`: the throw-away certificate and key written into dir. */
  tls?: { cert: string; key: string };
}

export interface ProxyKind {
  readonly name: string;
  /** What it stands for, in one line (the report and `--help`). */
  readonly summary: string;
  /** The program and the Debian package that has it. */
  readonly program: { paths: readonly string[]; apt: string };
  /** Relays it balances over; a cell behind it runs that many at least. */
  readonly minRelays: number;
  /** The relays' SSE responses leave out `X-Accel-Buffering: no`, as an application written before reading the proxy advice does. */
  readonly withoutAppAdvice?: boolean;
  /** It listens with TLS (a certificate made per cell, nothing checked in). */
  readonly tls?: boolean;
  /**
   * The transport its relays run for a client transport, where the two differ (TLS and
   * HTTP/2 ends at the proxy: sse-h2's clients, sse's relays); absent: the same one,
   * over HTTP/1.1. Null: it cannot carry that transport.
   */
  relayTransport?(client: string): string | null;
  config(c: ProxyConfig): string;
  args(configFile: string, dir: string): string[];
  version(binary: string): string;
}

/** Every process a running proxy started, so an interrupted run still ends them. */
const live = new Set<ChildProcess>();

export function killProxiesNow(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
}

export function proxyBinary(kind: ProxyKind): string | null {
  return kind.program.paths.find((p) => existsSync(p)) ?? null;
}

/** Why a proxy cannot run here, with how to fix that; null when it can. */
export function proxyUnavailable(kind: ProxyKind): string | null {
  return proxyBinary(kind) ? null : `${kind.name} needs ${kind.program.apt}, not installed here (apt-get install ${kind.program.apt})`;
}

/** The proxy's certificate and key, written into its folder. */
async function certificateFiles(dir: string): Promise<{ cert: string; key: string }> {
  const pem = await throwAwayCertificate("rtbench proxy");
  const files = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  writeFileSync(files.cert, pem.cert);
  writeFileSync(files.key, pem.key, { mode: 0o600 });
  return files;
}

export class RunningProxy {
  private cpuAtStart = 0;

  private constructor(
    readonly kind: ProxyKind,
    readonly port: number,
    readonly version: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(kind: ProxyKind, host: string, relays: readonly ProxyTarget[]): Promise<RunningProxy> {
    const binary = proxyBinary(kind);
    if (!binary) throw new Error(proxyUnavailable(kind)!);
    const dir = mkdtempSync(join(tmpdir(), `rtbench-${kind.name}-`));
    const file = join(dir, "proxy.conf");
    let port: number;
    try {
      port = await freePort();
      const tls = kind.tls ? await certificateFiles(dir) : undefined;
      writeFileSync(file, kind.config({ dir, host, port, relays, ...(tls ? { tls } : {}) }));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const log = openSync(join(dir, "server.log"), "a");
    const child = spawn(binary, kind.args(file, dir), { cwd: dir, stdio: ["ignore", log, log] });
    // The child has its own copy of the log's descriptor.
    closeSync(log);
    live.add(child);
    child.once("exit", () => live.delete(child));
    const proxy = new RunningProxy(kind, port, kind.version(binary), child, dir);
    try {
      await waitForPort(port, child.pid ?? -1, 10_000, kind.name, dir);
    } catch {
      // Its folder goes with it: the error carries what its log said.
      const said = proxy.logTail();
      await proxy.stop();
      throw new Error(`${kind.name} (${binary}) did not start on port ${port}${said ? `; its log said:\n${said}` : ""}`);
    }
    return proxy;
  }

  pid(): number {
    return this.child.pid ?? -1;
  }

  /** Marks the start of the measured window for its CPU. */
  startWindow(): void {
    this.cpuAtStart = treeCpuUs(this.pid()) ?? 0;
  }

  /** CPU its processes used since startWindow(), in µs; null once they are gone. */
  windowCpuUs(): number | null {
    const now = treeCpuUs(this.pid());
    return now === null ? null : now - this.cpuAtStart;
  }

  /** Its log's last lines, for a cell that failed through it. */
  logTail(): string {
    try {
      return readFileSync(join(this.dir, "server.log"), "utf8").trim().split("\n").slice(-5).join("\n");
    } catch {
      return "";
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    }
    live.delete(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
