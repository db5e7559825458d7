/**
 * The page a browser tab loads: the clients a web application writes with what the
 * browser gives it (EventSource, WebSocket, fetch, the socket.io-client bundle), and no
 * reconnect code of ours unless the cell asks for the usual hand-written WebSocket loop.
 * Every event is stamped in the page (performance.timeOrigin + performance.now(), ms)
 * and handed to the fleet in batches through the `__rtbench` binding.
 */

/** How the page opens one connection; which of these a transport gets is in BROWSER_CLIENTS. */
export type PageClient = "sse" | "ws" | "socketio" | "longpoll" | "shortpoll";

/** The transports a browser can be a client of, and the page code each one uses. */
export const BROWSER_CLIENTS: Readonly<Record<string, { client: PageClient; engine?: readonly string[] }>> = {
  sse: { client: "sse" },
  "sse-h2": { client: "sse" },
  ws: { client: "ws" },
  socketio: { client: "socketio", engine: ["websocket"] },
  "socketio-polling": { client: "socketio", engine: ["polling"] },
  "socketio-upgrade": { client: "socketio", engine: ["polling", "websocket"] },
  longpoll: { client: "longpoll" },
  shortpoll: { client: "shortpoll" },
};

/** What the fleet passes to the page's `rtOpen` for one connection. */
export interface PageOpen {
  id: number;
  client: PageClient;
  base: string;
  topic: number;
  engine?: readonly string[];
  pollIntervalMs: number;
  /** WebSocket only: reconnect by hand after this many ms, resuming after the last seq (absent: the page does not reconnect). */
  wsReconnectMs?: number;
}

/**
 * Events from the page: ["o", id, t] open; ["m", id, stream, seq, intendedAt, sentAt, t];
 * ["c", id, reason, t, final] close (final: the client will not reconnect by itself);
 * ["l", maxLagMs] the page's worst timer lag since the last batch.
 */
export type PageEvent =
  | ["o", number, number]
  | ["m", number, number, number, number, number, number]
  | ["c", number, string, number, boolean]
  | ["l", number];

/** Runs in the page: plain browser JavaScript, no imports. */
const SCRIPT = String.raw`
"use strict";
const now = () => performance.timeOrigin + performance.now();
let queue = [];
let flushTimer = 0;
let worstLag = 0;
function flush() {
  flushTimer = 0;
  if (worstLag > 0) { queue.push(["l", worstLag]); worstLag = 0; }
  if (queue.length === 0) return;
  const batch = queue;
  queue = [];
  window.__rtbench(batch);
}
// Messages go in batches; an open or a close goes at once, so the fleet's waits end on time.
function post(event, urgent) {
  queue.push(event);
  if (urgent) { clearTimeout(flushTimer); flush(); }
  else if (!flushTimer) flushTimer = setTimeout(flush, 25);
}
// The page's event loop lag: a 50 ms timer that fires late says deliveries waited.
let expected = performance.now() + 50;
setInterval(() => {
  const t = performance.now();
  worstLag = Math.max(worstLag, t - expected);
  expected = t + 50;
}, 50);

// The text envelope: stream,seq,intendedAt,sentAt,padding.
function text(id, data, t) {
  const f = data.split(",", 4);
  if (f.length === 4) post(["m", id, +f[0], +f[1], +f[2], +f[3], t]);
}
function binary(id, buffer, t) {
  const v = new DataView(buffer);
  post(["m", id, v.getUint32(8, true), v.getFloat64(0, true), v.getFloat64(16, true), v.getFloat64(24, true), t]);
}
const connections = new Map();

function openSse(o) {
  // What an application writes: the browser reconnects, honours retry: and sends Last-Event-ID.
  const es = new EventSource(o.base + "/sse?topic=" + o.topic);
  es.onopen = () => post(["o", o.id, now()], true);
  es.onmessage = (e) => text(o.id, e.data, now());
  es.onerror = () => post(["c", o.id, es.readyState === EventSource.CLOSED ? "EventSource closed" : "EventSource error (the browser reconnects)", now(), es.readyState === EventSource.CLOSED], true);
  return () => es.close();
}

function openWs(o) {
  let ws;
  let last = 0;
  let closed = false;
  const connect = () => {
    ws = new WebSocket(o.base.replace(/^http/, "ws") + "/ws?topic=" + o.topic + (last > 0 ? "&from=" + (last + 1) : ""));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => post(["o", o.id, now()], true);
    ws.onmessage = (e) => {
      const t = now();
      if (typeof e.data === "string") text(o.id, e.data, t);
      else { binary(o.id, e.data, t); last = Math.max(last, new DataView(e.data).getFloat64(0, true)); }
    };
    ws.onclose = (e) => {
      if (closed) return;
      const again = o.wsReconnectMs !== undefined;
      post(["c", o.id, "WebSocket closed (code " + e.code + ")", now(), !again], true);
      // The usual hand-written loop: wait, reconnect, ask for what came after the last message.
      if (again) setTimeout(() => { if (!closed) connect(); }, o.wsReconnectMs);
    };
  };
  connect();
  return () => { closed = true; ws.close(); };
}

function openSocketIo(o) {
  // Socket.IO's own reconnection and connection state recovery, as the browser client does them.
  const socket = io(o.base, { path: "/socket.io/", transports: o.engine, forceNew: true, query: { topic: String(o.topic) } });
  socket.on("connect", () => post(["o", o.id, now()], true));
  socket.on("m", (data) => text(o.id, data, now()));
  socket.on("disconnect", (reason) => post(["c", o.id, "disconnected (" + reason + ")", now(), !socket.active], true));
  socket.on("connect_error", (e) => post(["c", o.id, "connect_error: " + e.message, now(), !socket.active], true));
  return () => socket.disconnect();
}

function openPoll(o, wait) {
  // A fetch loop with a cursor: polling has no connection to lose, so after a failed poll the
  // loop waits a moment and polls again from its cursor, as any polling application does.
  let closed = false;
  let open = false;
  let cursor = null;
  const poll = async () => {
    while (!closed) {
      try {
        const q = cursor === null ? "&wait=0" : "&after=" + cursor + (wait ? "" : "&wait=0");
        const r = await fetch(o.base + "/poll?topic=" + o.topic + q, { cache: "no-store" });
        if (r.status !== 200 && r.status !== 204) throw new Error("HTTP " + r.status);
        const body = r.status === 200 ? await r.text() : "";
        const t = now();
        if (!open) { open = true; post(["o", o.id, t], true); }
        cursor = r.headers.get("X-Cursor") ?? cursor;
        for (const line of body.split("\n")) if (line) text(o.id, line, t);
        if (!wait) await new Promise((done) => setTimeout(done, o.pollIntervalMs));
      } catch (e) {
        if (closed) return;
        if (open) { open = false; post(["c", o.id, "poll failed: " + e.message, now(), false], true); }
        await new Promise((done) => setTimeout(done, 1000));
      }
    }
  };
  poll();
  return () => { closed = true; };
}

window.rtOpen = (o) => {
  const open = { sse: openSse, ws: openWs, socketio: openSocketIo, longpoll: (x) => openPoll(x, true), shortpoll: (x) => openPoll(x, false) }[o.client];
  connections.set(o.id, open(o));
};
window.rtClose = (id) => { connections.get(id)?.(); connections.delete(id); };
`;

/** The page, with the socket.io-client browser bundle inlined when a tab needs it (nothing from a CDN). */
export function pageHtml(socketIoBundle?: string): string {
  const io = socketIoBundle ? `<script>${socketIoBundle.replace(/<\/script/gi, "<\\/script")}</script>` : "";
  return `<!doctype html><html><head><meta charset="utf-8"><title>rtbench client</title>${io}<script>${SCRIPT}</script></head><body></body></html>`;
}
