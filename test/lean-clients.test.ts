/**
 * The fleet's lean HTTP/1.1 and WebSocket clients against real sockets: servers that
 * write their responses and frames in small slices, so heads, chunk sizes, frame
 * headers and payloads arrive split over reads, through the process's shared read
 * buffer. What the clients hand over must be what was sent. The lean Socket.IO client
 * against a real Socket.IO server that pings often.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import net from "node:net";
import { test } from "node:test";
import { Http1Connection, type ResponseHead } from "../transports/http1.js";
import http from "node:http";
import { Server as SocketIoServer } from "socket.io";
import { encodeText } from "../core/envelope.js";
import { LeanSocketIo } from "../transports/socketio-client.js";
import { LeanWebSocket } from "../transports/ws-client.js";

/** A TCP server that answers each connection with `respond`, writing in 1-7 byte slices. */
async function sliceServer(respond: (socket: net.Socket, request: string) => Buffer[] | undefined): Promise<{ port: number; close(): void; received: Buffer[]; connections(): number }> {
  const received: Buffer[] = [];
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.setNoDelay(true);
    let request = "";
    socket.on("data", async (chunk) => {
      received.push(chunk);
      request += chunk.toString("latin1");
      if (!request.includes("\r\n\r\n")) return;
      const parts = respond(socket, request);
      request = "";
      if (!parts) return;
      for (const part of parts) {
        for (let i = 0; i < part.length; ) {
          const n = 1 + ((i * 7 + part.length) % 7);
          socket.write(part.subarray(i, i + n));
          i += n;
          await new Promise((r) => setImmediate(r));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close(), received, connections: () => connections };
}

interface Response {
  head: ResponseHead;
  body: string;
}

function get(conn: Http1Connection, path: string): Promise<Response> {
  return new Promise((resolve) => {
    let head: ResponseHead;
    const parts: Buffer[] = [];
    conn.get(path, "test", {}, {
      onHead: (h) => (head = h),
      onBody: (buf, start, end) => parts.push(Buffer.from(buf.subarray(start, end))),
      onEnd: () => resolve({ head, body: Buffer.concat(parts).toString() }),
    });
  });
}

test("the lean HTTP/1.1 client reads chunked, length and empty bodies split over reads, one after another on one connection", async () => {
  const chunked = Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Cursor: 7\r\n\r\n5;ext=1\r\nhello\r\n1A\r\n, and twenty-six more byte\r\n0\r\nTrailer: x\r\n\r\n");
  const sized = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
  const empty = Buffer.from("HTTP/1.1 204 No Content\r\nX-Cursor: 9\r\n\r\n");
  const server = await sliceServer((_socket, request) => {
    const path = request.split(" ")[1];
    return [path === "/chunked" ? chunked : path === "/sized" ? sized : empty];
  });
  try {
    let closedWith: string | undefined;
    const conn = new Http1Connection({ host: "127.0.0.1", port: server.port }, (reason) => (closedWith = reason));
    const a = await get(conn, "/chunked");
    assert.equal(a.head.status, 200);
    assert.equal(a.head.headers.get("x-cursor"), "7");
    assert.equal(a.body, "hello, and twenty-six more byte");
    const b = await get(conn, "/empty");
    assert.equal(b.head.status, 204);
    assert.equal(b.body, "");
    const c = await get(conn, "/sized");
    assert.equal(c.body, "hello world");
    const d = await get(conn, "/chunked");
    assert.equal(d.body, a.body);
    const requests = server.received.map((r) => r.toString()).join("");
    assert.equal(requests.match(/GET /g)?.length, 4, "four requests");
    assert.equal(server.connections(), 1, "on one connection");
    assert.equal(closedWith, undefined);
    conn.destroy();
  } finally {
    server.close();
  }
});

test("the lean HTTP/1.1 client reads a body to the connection's end, and closes with the reason on a malformed one", async () => {
  const server = await sliceServer((socket, request) => {
    if (request.startsWith("GET /bad")) return [Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")];
    setTimeout(() => socket.end(), 50);
    return [Buffer.from("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")];
  });
  try {
    const closed: string[] = [];
    const conn = new Http1Connection({ host: "127.0.0.1", port: server.port }, (reason) => closed.push(reason));
    const r = await get(conn, "/close");
    assert.equal(r.body, "all of it");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(closed, ["closed"], "the end of the connection is reported once");
    const bad: string[] = [];
    const conn2 = new Http1Connection({ host: "127.0.0.1", port: server.port }, (reason) => bad.push(reason));
    conn2.get("/bad", "test", {}, { onHead: () => {}, onBody: () => {}, onEnd: () => bad.push("end") });
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(bad, ["malformed chunk size"]);
  } finally {
    server.close();
  }
});

/** A server frame: FIN set unless `more`, unmasked unless `mask`. */
function frame(opcode: number, payload: Buffer, { more = false, mask = false } = {}): Buffer {
  const n = payload.length;
  const len = n < 126 ? [n] : n < 65536 ? [126, n >> 8, n & 255] : [127, 0, 0, 0, 0, (n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];
  const head = Buffer.from([(more ? 0 : 0x80) | opcode, (mask ? 0x80 : 0) | len[0]!, ...len.slice(1)]);
  return Buffer.concat([head, ...(mask ? [Buffer.alloc(4)] : []), payload]);
}

function upgrade(request: string): Buffer {
  const key = /Sec-WebSocket-Key: (\S+)/i.exec(request)![1]!;
  const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  return Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
}

/** Unmasks the client frames in bytes: [opcode, payload] each. */
function clientFrames(bytes: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let i = 0; i + 6 <= bytes.length; ) {
    const n = bytes[i + 1]! & 0x7f;
    assert.ok(bytes[i + 1]! & 0x80, "a client frame is masked");
    const mask = bytes.subarray(i + 2, i + 6);
    out.push([bytes[i]! & 0x0f, Buffer.from(bytes.subarray(i + 6, i + 6 + n).map((b, j) => b ^ mask[j & 3]!))]);
    i += 6 + n;
  }
  return out;
}

test("the lean WebSocket client reads fragmented and large messages split over reads, answers pings, reports the close code and refuses a masked frame", async () => {
  const big = Buffer.alloc(70_000, 7);
  let afterHandshake: Buffer[] = [];
  const server = await sliceServer((socket, request) => {
    if (request.includes("GET /masked")) return [upgrade(request), frame(2, Buffer.from("x"), { mask: true })];
    socket.on("data", (chunk) => afterHandshake.push(chunk));
    return [
      upgrade(request),
      frame(1, Buffer.from("hel"), { more: true }),
      frame(9, Buffer.from("are you there")),
      frame(0, Buffer.from("lo")),
      frame(2, big),
      frame(2, Buffer.alloc(0)),
      frame(8, Buffer.from([0x0f, 0xa1])), // 4001
    ];
  });
  try {
    const messages: Array<[string, boolean]> = [];
    const events: string[] = [];
    await new Promise<void>((resolve) => {
      new LeanWebSocket({ host: "127.0.0.1", port: server.port }, "/ws?topic=0", {
        onOpen: () => events.push("open"),
        onMessage: (data, start, end, binary) => messages.push([binary && end - start === big.length ? `big ${data.subarray(start, end).equals(big)}` : data.toString("utf8", start, end), binary]),
        onClose: (reason) => {
          events.push(reason);
          resolve();
        },
      });
    });
    assert.deepEqual(events, ["open", "closed (4001)"]);
    assert.deepEqual(messages, [
      ["hello", false],
      ["big true", true],
      ["", true],
    ]);
    const replies = clientFrames(Buffer.concat(afterHandshake));
    assert.deepEqual(
      replies.map(([op, p]) => [op, p.toString("latin1")]),
      [
        [0xa, "are you there"],
        [0x8, "\x0f\xa1"],
      ],
      "a pong with the ping's payload, then the close echoed",
    );
    afterHandshake = [];
    const masked = await new Promise<string>((resolve) => {
      new LeanWebSocket({ host: "127.0.0.1", port: server.port }, "/masked", { onOpen: () => {}, onMessage: () => resolve("a message"), onClose: resolve });
    });
    assert.match(masked, /protocol error: a server frame must not be masked/);
  } finally {
    server.close();
  }
});

test("the lean Socket.IO client connects with its auth, answers pings, reads events, and reports a refusal and a server disconnect", async () => {
  const server = http.createServer();
  // Pings every 100 ms and a 100 ms timeout: a client that did not answer them would be dropped within the test.
  const io = new SocketIoServer(server, { transports: ["websocket"], pingInterval: 100, pingTimeout: 100 });
  io.use((socket, next) => next((socket.handshake.auth as { from?: number }).from === 13 ? new Error("refused for the test") : undefined));
  const auths: unknown[] = [];
  io.on("connection", (socket) => {
    auths.push(socket.handshake.auth);
    setTimeout(() => {
      socket.emit("m", encodeText({ stream: 2, seq: 5, intendedAt: 1_000_000, sentAt: 1_000_500 }, 64), "offset");
      socket.emit("other", "ignored");
      setTimeout(() => socket.disconnect(true), 50);
    }, 800);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const path = "/socket.io/?topic=0&EIO=4&transport=websocket";
  try {
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      new LeanSocketIo({ host: "127.0.0.1", port }, path, { from: 7 }, {
        onOpen: () => seen.push("open"),
        onMessage: (stream, seq, intendedAt, sentAt) => seen.push(`m ${stream} ${seq} ${intendedAt} ${sentAt}`),
        onClose: (reason) => {
          seen.push(reason);
          resolve();
        },
      });
    });
    assert.deepEqual(seen, ["open", "m 2 5 1000000 1000500", "disconnected (io server disconnect)"], "connected through 8 pings, then the event, then the server's disconnect");
    assert.deepEqual(auths, [{ from: 7 }]);
    const refused = await new Promise<string>((resolve) => {
      new LeanSocketIo({ host: "127.0.0.1", port }, path, { from: 13 }, { onOpen: () => resolve("open"), onMessage: () => {}, onClose: resolve });
    });
    assert.equal(refused, "refused for the test");
  } finally {
    await io.close();
  }
});
