/**
 * `rtbench worker`: a long-running agent that runs roles (a fleet share, a relay, the
 * producer) for a coordinator on another host, as forked children behind the same
 * ForkChannel the coordinator would use at home. One WebSocket carries everything: the
 * coordinator's messages to each role, the roles' messages back, and the clock pings by
 * which the coordinator measures this host's clock against its own.
 *
 * Either side may dial: the coordinator dials a worker that listens (`--listen`,
 * Kubernetes' indexed pods), or the worker dials a coordinator that waits for it
 * (`--coordinator`, Compose's replicas, which have no index). Whoever dials shows the
 * shared token; whoever listens refuses a wrong or missing one, logs it, and runs nothing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { hostname } from "node:os";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { nowNs, CLOCK_OFFSET_ENV } from "../core/clock.js";
import type { FromChild, ToChild } from "./ipc.js";
import { ForkChannel, type RoleScript } from "./roles.js";

/** Bumped when a message changes meaning: a coordinator and a worker of different protocols refuse each other. */
export const WORKER_PROTOCOL = 1;
export const WORKER_PORT = 7420;
/** Where a coordinator waits for workers that dial it (Compose). */
export const COORDINATOR_PORT = 7421;
/** The shared token's environment variable, on both sides: never a flag, so it stays out of `ps` and of the recorded command. */
export const TOKEN_ENV = "RTBENCH_WORKER_TOKEN";
/** Pings go every PING_MS; a link with no answer for LINK_TIMEOUT_MS is dead (a host that vanished, a cut network). */
export const PING_MS = 2_000;
export const LINK_TIMEOUT_MS = 10_000;

/** Coordinator → worker. */
export type ToWorker =
  | { t: "clock"; n: number }
  | { t: "open"; id: number; script: RoleScript; role: string; clockOffsetNs: number }
  | { t: "to"; id: number; m: ToChild }
  | { t: "kill"; id: number }
  | { t: "close"; id: number; graceMs: number };

/** Worker → coordinator. */
export type FromWorker =
  /** `index`: its place among the workers where the engine gives one (a Kubernetes Indexed Job's JOB_COMPLETION_INDEX): it takes that segment of the clients. */
  | { t: "hello"; protocol: number; version: string; host: string; index?: number }
  | { t: "clock"; n: number; atNs: number }
  | { t: "from"; id: number; m: FromChild }
  /** The role's process is gone; `how` says how ("code 0", "SIGKILL"), `last` what it last printed. */
  | { t: "exit"; id: number; how: string; last: string };

/** Whether `given` (an Authorization header) carries `token`; compared in constant time. */
export function tokenMatches(given: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(given ?? "");
  if (!m) return false;
  const digest = (s: string): Buffer => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** Why a token cannot be used, or null: an empty or short one guards nothing. */
export function tokenProblem(token: string | undefined): string | null {
  if (token === undefined || token === "") return `set ${TOKEN_ENV} to a shared secret of at least 16 characters (the same on the coordinator and every worker)`;
  if (token.length < 16) return `${TOKEN_ENV} must be at least 16 characters, got ${token.length}`;
  return null;
}

/** Refuses an upgrade whose token is wrong or missing: a 401, logged, nothing run. */
export function refuseUnlessToken(req: IncomingMessage, socket: Duplex, token: string, log: (line: string) => void): boolean {
  if (tokenMatches(req.headers.authorization, token)) return true;
  log(`refused a connection from ${req.socket.remoteAddress}:${req.socket.remotePort}: ${req.headers.authorization ? "wrong token" : "no token"}`);
  socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  return false;
}

export interface WorkerOptions {
  token: string;
  version: string;
  index?: number;
  log(line: string): void;
}

/**
 * Serves one coordinator on `ws`: runs the roles it opens, forwards messages both ways,
 * and kills every role it started when the link goes (a coordinator that died or
 * vanished leaves nothing running here).
 */
export function serveSession(ws: WebSocket, o: WorkerOptions, peer: string): Promise<void> {
  const roles = new Map<number, ForkChannel>();
  const exits = new Map<number, FromWorker & { t: "exit" }>();
  const say = (m: FromWorker): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
  };
  say({ t: "hello", protocol: WORKER_PROTOCOL, version: o.version, host: hostname(), ...(o.index !== undefined ? { index: o.index } : {}) });
  o.log(`coordinator ${peer} connected`);
  // A coordinator pings every PING_MS; one silent past LINK_TIMEOUT_MS is gone.
  let heard = Date.now();
  ws.on("ping", () => (heard = Date.now()));
  const watch = setInterval(() => {
    if (Date.now() - heard > LINK_TIMEOUT_MS) ws.terminate();
  }, PING_MS);
  ws.on("message", (data) => {
    heard = Date.now();
    let m: ToWorker;
    try {
      m = JSON.parse(String(data)) as ToWorker;
    } catch {
      return;
    }
    switch (m.t) {
      case "clock":
        say({ t: "clock", n: m.n, atNs: nowNs() });
        break;
      case "open": {
        const channel = new ForkChannel(m.script, m.role, {}, { [CLOCK_OFFSET_ENV]: String(Math.round(m.clockOffsetNs)) });
        roles.set(m.id, channel);
        channel.forward(
          (msg) => say({ t: "from", id: m.id, m: msg }),
          (how, last) => {
            const exit = { t: "exit", id: m.id, how, last } as const;
            exits.set(m.id, exit);
            roles.delete(m.id);
            say(exit);
          },
        );
        break;
      }
      case "to":
        roles.get(m.id)?.send(m.m);
        break;
      case "kill":
      case "close": {
        const role = roles.get(m.id);
        // Gone already: say so again, since the coordinator waits for it.
        if (!role) {
          const exit = exits.get(m.id);
          if (exit) say(exit);
          break;
        }
        void (m.t === "kill" ? role.kill() : role.close(m.graceMs));
        break;
      }
    }
  });
  return new Promise((resolve) => {
    ws.on("close", () => {
      clearInterval(watch);
      for (const role of roles.values()) void role.kill();
      if (roles.size > 0) o.log(`coordinator ${peer} gone: killed its ${roles.size} role(s)`);
      else o.log(`coordinator ${peer} disconnected`);
      roles.clear();
      resolve();
    });
    ws.on("error", () => {});
  });
}

/** A worker listening for coordinators, one at a time; `onSessionEnd` hears each one leave. */
export async function listenWorker(host: string, port: number, o: WorkerOptions, onSessionEnd: () => void = () => {}): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 * 1024 });
  let busy = false;
  const server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("rtbench worker: connect with a WebSocket and the shared token\n");
  });
  server.on("upgrade", (req, socket, head) => {
    if (!refuseUnlessToken(req, socket, o.token, o.log)) return;
    if (busy) {
      o.log(`refused a second coordinator from ${req.socket.remoteAddress}: busy`);
      socket.end("HTTP/1.1 409 Conflict\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    busy = true;
    wss.handleUpgrade(req, socket, head, (ws) => {
      void serveSession(ws, o, `${req.socket.remoteAddress}:${req.socket.remotePort}`).then(() => {
        busy = false;
        onSessionEnd();
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  return {
    server,
    port: bound,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A worker that dials its coordinator (Compose: replicas register, since they have no
 * index), and dials again until `signal` aborts: a coordinator not up yet, or (unless
 * `once`) the next run's after one has gone.
 */
export async function dialCoordinator(address: string, o: WorkerOptions, signal: AbortSignal, once = false): Promise<void> {
  while (!signal.aborted) {
    const ws = new WebSocket(`ws://${address}/worker`, { headers: { authorization: `Bearer ${o.token}` }, maxPayload: 256 * 1024 * 1024 });
    const opened = await new Promise<boolean>((resolve) => {
      ws.once("open", () => resolve(true));
      ws.once("unexpected-response", (_req, res) => {
        o.log(`coordinator ${address} refused this worker: HTTP ${res.statusCode}${res.statusCode === 401 ? " (wrong token)" : ""}`);
        resolve(false);
      });
      ws.once("error", () => resolve(false));
    });
    if (opened) {
      await serveSession(ws, o, address);
      if (once) return;
    } else ws.terminate();
    if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}
