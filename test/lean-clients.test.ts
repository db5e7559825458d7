/**
 * The fleet's lean HTTP/1.1 and WebSocket clients against real sockets: servers that
 * write their responses and frames in small slices, so heads, chunk sizes, frame
 * headers and payloads arrive split over reads, through the process's shared read
 * buffer. What the clients hand over must be what was sent. The lean Socket.IO client
 * against a real Socket.IO server that pings often; the lean HTTP/2 client against
 * node's HTTP/2 server, past its flow-control windows, through a ping, a reset and a
 * GOAWAY.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import net from "node:net";
import { test } from "node:test";
import { Http1Connection, type ResponseHead } from "../transports/http1.js";
import http from "node:http";
import { Server as SocketIoServer } from "socket.io";
import { encodeText } from "../core/envelope.js";
import http2 from "node:http2";
import { LeanH2Session, readStatus } from "../transports/h2-client.js";
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

test("HPACK: the :status of a response head, indexed or literal, plain or Huffman-coded", () => {
  assert.equal(readStatus(Buffer.from([0x88])), 200);
  assert.equal(readStatus(Buffer.from([0x20, 0x8d])), 404, "after a dynamic table size update to 0");
  assert.equal(readStatus(Buffer.from([0x48, 0x82, 0x64, 0x02])), 302, "RFC 7541 C.6.1: literal, Huffman-coded");
  assert.equal(readStatus(Buffer.from([0x08, 0x03, 0x34, 0x30, 0x33])), 403, "literal without indexing, plain");
  assert.equal(readStatus(Buffer.from([0x0f, 0x04, 0x01, 0x2a])), undefined, "a head that does not open with :status");
  assert.throws(() => readStatus(Buffer.from([0x3f, 0xe1, 0x1f, 0x88])), /dynamic table size of 4096/);
  assert.throws(() => readStatus(Buffer.from([0xbe])), /dynamic table index \(62\)/);
});

// A client that stopped opening windows or answering pings would hang here: failed by the timeout.
test("the lean HTTP/2 client reads streams past the flow-control windows, answers a ping, and reports a status, a reset and a GOAWAY", { timeout: 20_000 }, async () => {
  const { generate } = await import("selfsigned");
  const pem = await generate([{ name: "commonName", value: "localhost" }], { keyType: "ec" });
  const server = http2.createSecureServer({ key: pem.private, cert: pem.cert });
  const big = Buffer.alloc(20 * 1024 * 1024, 0x61); // over the 6 MiB stream and 15 MiB connection windows
  let serverSession: http2.ServerHttp2Session | undefined;
  server.on("session", (s) => (serverSession = s));
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {}); // the reset below, and the GOAWAY, end streams with an error
    const path = headers[":path"];
    if (path === "/big") {
      stream.respond({ ":status": 200, "x-asked": String(headers["last-event-id"]) });
      // In pieces, as the window opens: a 20 MiB write at once is over node's session memory.
      let at = 0;
      const more = (): void => {
        while (at < big.length) {
          const piece = big.subarray(at, (at += 65_536));
          if (at >= big.length) return void stream.end(piece);
          if (!stream.write(piece)) return void stream.once("drain", more);
        }
      };
      more();
    } else if (path === "/forbidden") {
      stream.respond({ ":status": 403 });
      stream.end();
    } else if (path === "/reset") stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else stream.respond({ ":status": 200 }); // held open
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  let session: LeanH2Session | undefined;
  try {
    let gone = 0;
    session = new LeanH2Session({ host: "127.0.0.1", port }, () => gone++);
    const run = (path: string, headers: Array<[string, string]> = []) =>
      new Promise<{ status: number | undefined; bytes: number; reason: string }>((resolve) => {
        let status: number | undefined;
        let bytes = 0;
        session!.get(`127.0.0.1:${port}`, path, headers, {
          onResponse: (s) => (status = s),
          onData: (_b, start, end) => (bytes += end - start),
          onClose: (reason) => resolve({ status, bytes, reason }),
        });
      });
    const [bigOne, forbidden, reset] = await Promise.all([run("/big", [["last-event-id", "41"]]), run("/forbidden"), run("/reset")]);
    assert.deepEqual(bigOne, { status: 200, bytes: big.length, reason: "stream ended" });
    assert.deepEqual(forbidden, { status: 403, bytes: 0, reason: "stream ended" });
    assert.match(reset.reason, /stream reset by the server \(error 7\)/);
    const held = run("/held");
    await new Promise((r) => setTimeout(r, 100));
    const rtt = await new Promise<number>((resolve, reject) => serverSession!.ping((err, ms) => (err ? reject(err) : resolve(ms))));
    assert.ok(rtt >= 0, "the ping was answered");
    serverSession!.goaway(http2.constants.NGHTTP2_NO_ERROR);
    assert.match((await held).reason, /GOAWAY from the server \(error 0\)/);
    assert.equal(gone, 1, "the session is gone once");
  } finally {
    session?.close();
    serverSession?.destroy();
    server.close();
  }
});
