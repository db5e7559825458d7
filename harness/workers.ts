/**
 * The coordinator's side of `rtbench worker`: a link per worker, its roles as Channels
 * (so RelayHandle, FleetHandle and ProducerHandle drive them as they drive forked
 * children), and the clock measurement that puts the worker's roles on this host's clock.
 *
 * Clock: the coordinator sends a numbered ping, the worker answers with its monotonic
 * time; of CLOCK_EXCHANGES exchanges the one with the least round trip gives the offset
 * (worker time − the exchange's midpoint) and its error bound (half that round trip).
 */
import { createServer, type Server } from "node:http";
import { WebSocket, WebSocketServer } from "ws";
import { nowNs } from "../core/clock.js";
import type { FromChild, ToChild } from "./ipc.js";
import { forkChannel, type Channel, type ChannelFactory, type Place, type RoleScript } from "./roles.js";
import { LINK_TIMEOUT_MS, PING_MS, refuseUnlessToken, WORKER_PROTOCOL, type FromWorker, type ToWorker } from "./worker.js";

export const CLOCK_EXCHANGES = 16;

/** A worker's clock against the coordinator's at one moment. */
export interface ClockReading {
  /** Worker's monotonic time minus the coordinator's, ns. */
  offsetNs: number;
  /** The true offset is within this of offsetNs: half the best exchange's round trip, ns. */
  boundNs: number;
}

/** Least-round-trip estimate from exchanges (sent and received on the coordinator's clock, the worker's reading between). */
export function bestReading(exchanges: readonly { sentNs: number; atNs: number; receivedNs: number }[]): ClockReading {
  if (exchanges.length === 0) throw new Error("no clock exchange answered");
  const best = exchanges.reduce((a, b) => (b.receivedNs - b.sentNs < a.receivedNs - a.sentNs ? b : a));
  return { offsetNs: best.atNs - (best.sentNs + best.receivedNs) / 2, boundNs: (best.receivedNs - best.sentNs) / 2 };
}

type Listener = (m: FromWorker) => void;

/** One worker, over one WebSocket, whichever side dialed. */
export class WorkerLink {
  private readonly listeners = new Set<Listener>();
  /** Why the link is gone, once it is. */
  lost: string | undefined;
  private nextId = 1;
  private readonly lostListeners = new Set<(why: string) => void>();

  /** The worker's hello, listened for from the start: it may come in the same packet as the handshake's answer. */
  private readonly hello: Promise<FromWorker & { t: "hello" }>;
  /** Its place among the workers, where its engine gave it one (its hello said). */
  index: number | undefined;
  /** This host's address on the link: one the worker can reach (relays listen on it). */
  localAddress = "127.0.0.1";

  private constructor(
    private readonly ws: WebSocket,
    /** How errors name it: its address. */
    readonly name: string,
  ) {
    ws.on("message", (data) => {
      let m: FromWorker;
      try {
        m = JSON.parse(String(data)) as FromWorker;
      } catch {
        return;
      }
      for (const l of this.listeners) l(m);
    });
    this.hello = this.next((m): m is FromWorker & { t: "hello" } => m.t === "hello", 15_000, "its hello");
    this.hello.catch(() => {});
    // Pings both keep the worker's watch quiet and find a worker that vanished (a cut network sends no close).
    let answered = Date.now();
    ws.on("pong", () => (answered = Date.now()));
    const ping = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - answered > LINK_TIMEOUT_MS) {
        this.fail(`no answer for ${LINK_TIMEOUT_MS / 1000} s`);
        ws.terminate();
      } else ws.ping();
    }, PING_MS);
    ping.unref();
    ws.on("close", () => {
      clearInterval(ping);
      this.fail("connection closed");
    });
    ws.on("error", (err) => this.fail(err.message));
  }

  private fail(why: string): void {
    if (this.lost) return;
    this.lost = why;
    for (const l of this.lostListeners) l(why);
  }

  onLost(listener: (why: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Checks the worker's hello: the same protocol, or a clear refusal. */
  private async greeted(version: string): Promise<this> {
    const hello = await this.hello;
    this.index = hello.index;
    if (hello.protocol !== WORKER_PROTOCOL) {
      this.ws.close();
      throw new Error(`worker ${this.name} speaks protocol ${hello.protocol} (rtbench ${hello.version}), this coordinator ${WORKER_PROTOCOL} (rtbench ${version}): run the same rtbench on both`);
    }
    return this;
  }

  /** Dials a listening worker with the token. */
  static async dial(address: string, token: string, version: string): Promise<WorkerLink> {
    const ws = new WebSocket(`ws://${address}/`, { headers: { authorization: `Bearer ${token}` }, maxPayload: 256 * 1024 * 1024, handshakeTimeout: 10_000 });
    const link = new WorkerLink(ws, address);
    ws.once("upgrade", (res) => link.setLocal(res.socket.localAddress));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res) => {
        reject(new Error(`worker ${address} refused the connection: HTTP ${res.statusCode}${res.statusCode === 401 ? " (wrong token: set the same RTBENCH_WORKER_TOKEN on both sides)" : res.statusCode === 409 ? " (busy with another coordinator)" : ""}`));
        ws.terminate();
      });
      ws.once("error", (err) => reject(new Error(`worker ${address}: ${err.message}`)));
    });
    return link.greeted(version);
  }

  /** Takes a worker that dialed in (registration); `local`: the address it dialed. */
  static accept(ws: WebSocket, name: string, local: string | undefined, version: string): Promise<WorkerLink> {
    const link = new WorkerLink(ws, name);
    link.setLocal(local);
    return link.greeted(version);
  }

  private setLocal(address: string | undefined): void {
    if (address) this.localAddress = address.replace(/^::ffff:/, "");
  }

  send(m: ToWorker): void {
    if (!this.lost && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next message `match` accepts; rejects when the link is lost or after `timeoutMs` (with `late`, else naming the worker). */
  next<T extends FromWorker>(match: (m: FromWorker) => m is T, timeoutMs: number, what: string, late = `worker ${this.name}: no ${what} within ${timeoutMs} ms`): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.lost) return reject(new Error(`worker ${this.name} is gone (${this.lost}) before ${what}`));
      const timer = setTimeout(() => done(new Error(late)), timeoutMs);
      const offMessage = this.on((m) => match(m) && done(null, m));
      const offLost = this.onLost((why) => done(new Error(`worker ${this.name} lost (${why}) while waiting for ${what}`)));
      const done = (err: Error | null, m?: T): void => {
        clearTimeout(timer);
        offMessage();
        offLost();
        if (err) reject(err);
        else resolve(m!);
      };
    });
  }

  /** Measures the worker's clock against this one's (least round trip of CLOCK_EXCHANGES). */
  async readClock(): Promise<ClockReading> {
    const exchanges: { sentNs: number; atNs: number; receivedNs: number }[] = [];
    for (let n = 0; n < CLOCK_EXCHANGES; n++) {
      const answer = this.next((m): m is FromWorker & { t: "clock" } => m.t === "clock" && m.n === n, 5_000, "a clock answer");
      const sentNs = nowNs();
      this.send({ t: "clock", n });
      const { atNs } = await answer;
      exchanges.push({ sentNs, atNs, receivedNs: nowNs() });
    }
    return bestReading(exchanges);
  }

  /** Starts a role on the worker, on this host's clock (its offset as last read). */
  open(script: RoleScript, role: string, clockOffsetNs: number): Channel {
    const id = this.nextId++;
    const channel = new RemoteChannel(this, id, `${role} on worker ${this.name}`);
    this.send({ t: "open", id, script, role, clockOffsetNs });
    return channel;
  }

  close(): void {
    this.ws.close();
  }
}

/** A role on a worker, as a Channel: messages tagged with its id on the worker's link. */
class RemoteChannel implements Channel {
  private exit: { how: string; last: string } | undefined;
  /** Its listeners on the link, dropped once it has exited: a long run opens thousands of roles on one link. */
  private readonly offs: Array<() => void> = [];

  constructor(
    private readonly link: WorkerLink,
    private readonly id: number,
    readonly role: string,
  ) {
    this.offs.push(
      link.on((m) => {
        if (m.t !== "exit" || m.id !== id) return;
        this.exit = { how: m.how, last: m.last };
        // After the waiters for this exit have heard it.
        setImmediate(() => this.offs.forEach((off) => off()));
      }),
    );
  }

  send(m: ToChild): void {
    this.link.send({ t: "to", id: this.id, m });
  }

  expect<K extends FromChild["kind"]>(kind: K, timeoutMs: number): Promise<Extract<FromChild, { kind: K }>> {
    if (this.exit) return Promise.reject(new Error(`${this.role} exited (${this.exit.how}) before "${kind}"${this.exit.last}`));
    return this.link
      .next(
        (m): m is FromWorker & ({ t: "from" } | { t: "exit" }) => (m.t === "from" && m.id === this.id && (m.m.kind === kind || m.m.kind === "error")) || (m.t === "exit" && m.id === this.id),
        timeoutMs,
        `"${kind}" from ${this.role}`,
        // As a local role's timeout reads.
        `${this.role}: no "${kind}" within ${timeoutMs} ms`,
      )
      .then((m) => {
        if (m.t === "exit") throw new Error(`${this.role} exited (${m.how}) while waiting for "${kind}"${m.last}`);
        if (m.m.kind === "error") throw new Error(`${this.role}: ${m.m.message}`);
        return m.m as Extract<FromChild, { kind: K }>;
      });
  }

  on<K extends FromChild["kind"]>(kind: K, listener: (message: Extract<FromChild, { kind: K }>) => void): void {
    this.offs.push(
      this.link.on((m) => {
        if (m.t === "from" && m.id === this.id && m.m.kind === kind) listener(m.m as Extract<FromChild, { kind: K }>);
      }),
    );
  }

  private async ended(): Promise<void> {
    if (this.exit || this.link.lost) return;
    await this.link.next((m): m is FromWorker => m.t === "exit" && m.id === this.id, 60_000, `${this.role}'s exit`).catch(() => {});
  }

  async kill(): Promise<void> {
    this.link.send({ t: "kill", id: this.id });
    await this.ended();
  }

  async close(graceMs: number): Promise<void> {
    this.link.send({ t: "close", id: this.id, graceMs });
    await this.ended();
  }
}

/** A worker's clocks over one cell: read before its roles start and after they report. */
export interface WorkerClock {
  name: string;
  clients: number;
  start: ClockReading;
  end?: ClockReading;
}

/**
 * The run's workers: where fleet shares go (worker i of n gets the clients of segment i,
 * harness/segments.ts); relays and the producer stay on this host and listen on the
 * address the workers reach it at.
 */
export class Workers {
  /** Each worker's clock offset as last read: the roles opened next run on it. */
  private readonly offsets: number[];

  private constructor(given: readonly WorkerLink[]) {
    // Workers that know their index (an Indexed Job's pods) take that segment, whatever order they were listed or dialed in.
    const indexes = given.map((l) => l.index);
    const indexed = indexes.every((i) => i !== undefined) && new Set(indexes).size === given.length && indexes.every((i) => i! < given.length);
    this.links = indexed ? [...given].sort((a, b) => a.index! - b.index!) : given;
    this.offsets = given.map(() => 0);
  }

  readonly links: readonly WorkerLink[];

  get count(): number {
    return this.links.length;
  }

  get names(): string[] {
    return this.links.map((l) => l.name);
  }

  /** The address relays listen on: this host's end of the first worker's link. */
  get relayHost(): string {
    return this.links[0]!.localAddress;
  }

  /**
   * Dials every worker; one that cannot be reached fails the whole start, named. Within
   * `waitMs` a worker that cannot be reached yet (not resolvable, not listening: a pod
   * still starting) is dialed again, a second apart; a refusal is final.
   */
  static async dial(addresses: readonly string[], token: string, version: string, waitMs = 0): Promise<Workers> {
    const deadline = Date.now() + waitMs;
    const dialOne = async (a: string): Promise<WorkerLink> => {
      for (;;) {
        try {
          return await WorkerLink.dial(a, token, version);
        } catch (err) {
          if (Date.now() >= deadline || / refused the connection: HTTP /.test((err as Error).message)) throw err;
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
    };
    const settled = await Promise.allSettled(addresses.map(dialOne));
    const failed = settled.flatMap((s) => (s.status === "rejected" ? [(s.reason as Error).message] : []));
    if (failed.length > 0) {
      for (const s of settled) if (s.status === "fulfilled") s.value.close();
      throw new Error(failed.join("; "));
    }
    return new Workers(settled.map((s) => (s as PromiseFulfilledResult<WorkerLink>).value));
  }

  /** Waits on `host:port` until `count` workers with the token have dialed in (Compose). */
  static async await(host: string, port: number, count: number, token: string, version: string, log: (line: string) => void, timeoutMs: number): Promise<Workers> {
    const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 * 1024 });
    const links: WorkerLink[] = [];
    const server: Server = createServer((_req, res) => res.writeHead(426).end());
    try {
      return await new Promise<Workers>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${links.length} of ${count} workers dialed ${host}:${port} within ${timeoutMs / 1000} s`)), timeoutMs);
        server.on("upgrade", (req, socket, head) => {
          if (!refuseUnlessToken(req, socket, token, log)) return;
          if (links.length >= count) return void socket.end("HTTP/1.1 409 Conflict\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
          wss.handleUpgrade(req, socket, head, (ws) => {
            WorkerLink.accept(ws, `${req.socket.remoteAddress?.replace(/^::ffff:/, "")}:${req.socket.remotePort}`, req.socket.localAddress, version).then((link) => {
              links.push(link);
              log(`worker ${link.name} registered (${links.length} of ${count})`);
              if (links.length === count) {
                clearTimeout(timer);
                resolve(new Workers(links));
              }
            }, (err: Error) => log(err.message));
          });
        });
        server.once("error", (err) => reject(new Error(`cannot wait for workers on ${host}:${port}: ${err.message}`)));
        server.listen(port, host);
      });
    } catch (err) {
      for (const l of links) l.close();
      throw err;
    } finally {
      // Registered links live on without the listener; nobody else may join this run.
      server.close();
    }
  }

  /** Reads every worker's clock; the roles opened from now on run on the coordinator's clock by it. */
  async readClocks(): Promise<ClockReading[]> {
    const readings = await Promise.all(this.links.map((l) => l.readClock()));
    readings.forEach((r, i) => (this.offsets[i] = r.offsetNs));
    return readings;
  }

  /** Roles placed on a worker go there; the rest fork here. */
  readonly channels: ChannelFactory = (script: RoleScript, role: string, place?: Place) =>
    place?.worker === undefined ? forkChannel(script, role, place) : this.links[place.worker]!.open(script, role, this.offsets[place.worker]!);

  close(): void {
    for (const l of this.links) l.close();
  }
}
