/**
 * A lean WebSocket client (RFC 6455) for the fleet, which a process opens thousands of
 * times: the handshake and frames read on the process's shared read buffer
 * (transports/http1.ts), a whole message handed over as a span of it when it arrived
 * in one read (the common case), copied together only when it did not. No extensions
 * (permessage-deflate clients stay on the `ws` library). It answers pings and close
 * frames as the RFC requires; a masked or reserved-bit frame from the server is a
 * protocol error that closes the connection.
 */
import { createHash, randomBytes } from "node:crypto";
import type net from "node:net";
import { HeadReader, openRaw, type RawTarget } from "./http1.js";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Largest message accepted, as ws's default maxPayload (100 MiB). */
const MAX_MESSAGE = 100 * 1024 * 1024;

export interface WsClientHandlers {
  onOpen(): void;
  /** A binary (or text) message: data[start, end), valid during the call only. */
  onMessage(data: Buffer, start: number, end: number, binary: boolean): void;
  /** Once, with why (the close code where the server sent one). */
  onClose(reason: string): void;
}

const enum Read {
  Handshake,
  Header,
  Payload,
}

export class LeanWebSocket {
  private readonly socket: net.Socket;
  private readonly key = randomBytes(16).toString("base64");
  private readonly heads = new HeadReader();
  private state = Read.Handshake;
  /** A frame header split over reads (at most 14 bytes). */
  private header = Buffer.alloc(14);
  private headerHave = 0;
  private opcode = 0;
  private fin = false;
  private remaining = 0;
  /** A frame's payload spanning reads (copies). */
  private frameParts: Buffer[] = [];
  private frameBytes = 0;
  /** The frames of a fragmented message so far (copies). */
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  /** Opcode of a fragmented message in progress (0: none). */
  private messageOpcode = 0;
  private closeCode: number | undefined;
  private closed = false;

  constructor(
    target: RawTarget,
    private readonly path: string,
    private readonly handlers: WsClientHandlers,
  ) {
    const hostHeader = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
    this.socket = openRaw(target, {
      onConnect: () =>
        this.socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      onBytes: (buf, start, end) => this.read(buf, start, end),
      // As ws reports it: the server's close code, or 1006 for a connection lost without one.
      onClose: (reason) => this.finish(this.closeCode !== undefined ? `closed (${this.closeCode})` : reason === "closed" ? "closed (1006)" : reason),
    });
  }

  /** Closes at once (as ws's terminate); onClose is not called for it. */
  terminate(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private read(buf: Buffer, start: number, end: number): void {
    try {
      let i = start;
      if (this.state === Read.Handshake) {
        const at = this.heads.feed(buf, i, end);
        if (at === -1) return;
        this.handshake();
        if (this.closed) return;
        i = at;
      }
      while (i < end && !this.closed) i = this.state === Read.Header ? this.readHeader(buf, i, end) : this.readPayload(buf, i, end);
    } catch (err) {
      this.finish(err instanceof Error ? err.message : String(err));
    }
  }

  private handshake(): void {
    const head = this.heads.head!;
    if (head.status !== 101) throw new Error(`Unexpected server response: ${head.status}`);
    const accept = createHash("sha1").update(this.key + GUID).digest("base64");
    if (head.headers.get("sec-websocket-accept") !== accept) throw new Error("Invalid Sec-WebSocket-Accept header");
    if (head.headers.has("sec-websocket-extensions")) throw new Error("Server sent an extension the client did not offer");
    this.state = Read.Header;
    this.handlers.onOpen();
  }

  private readHeader(buf: Buffer, i: number, end: number): number {
    // The common case: the whole header in this read, read in place.
    let h: Buffer = buf;
    let at = i;
    if (this.headerHave > 0 || end - i < 2 || end - i < headerBytes(buf[i + 1]!)) {
      // Split over reads: gather it into this.header.
      while (i < end && (this.headerHave < 2 || this.headerHave < headerBytes(this.header[1]!))) this.header[this.headerHave++] = buf[i++]!;
      if (this.headerHave < 2 || this.headerHave < headerBytes(this.header[1]!)) return i;
      h = this.header;
      at = 0;
      this.headerHave = 0;
    } else i += headerBytes(buf[i + 1]!);
    const b0 = h[at]!;
    const b1 = h[at + 1]!;
    if (b0 & 0x70) throw new ProtocolError("reserved bits set without an extension");
    if (b1 & 0x80) throw new ProtocolError("a server frame must not be masked");
    const len7 = b1 & 0x7f;
    const length = len7 === 126 ? h.readUInt16BE(at + 2) : len7 === 127 ? Number(h.readBigUInt64BE(at + 2)) : len7;
    this.fin = (b0 & 0x80) !== 0;
    this.opcode = b0 & 0x0f;
    const control = this.opcode >= 8;
    if (control && (!this.fin || length > 125)) throw new ProtocolError("a control frame must be whole and at most 125 bytes");
    if (!control && (this.opcode === 0) === (this.messageOpcode === 0)) throw new ProtocolError("unexpected continuation or data frame");
    if (this.fragmentBytes + length > MAX_MESSAGE) throw new ProtocolError(`message over ${MAX_MESSAGE} bytes`);
    this.remaining = length;
    this.state = Read.Payload;
    if (length === 0) this.frameDone(buf, i, i);
    return i;
  }

  private readPayload(buf: Buffer, i: number, end: number): number {
    if (this.frameParts.length === 0 && end - i >= this.remaining) {
      // The whole frame is in this read: hand it over in place.
      const stop = i + this.remaining;
      this.remaining = 0;
      this.frameDone(buf, i, stop);
      return stop;
    }
    const take = Math.min(this.remaining, end - i);
    this.frameParts.push(Buffer.from(buf.subarray(i, i + take))); // a copy: buf is shared
    this.frameBytes += take;
    this.remaining -= take;
    if (this.remaining === 0) {
      const whole = Buffer.concat(this.frameParts, this.frameBytes);
      this.frameParts = [];
      this.frameBytes = 0;
      this.frameDone(whole, 0, whole.length);
    }
    return i + take;
  }

  /** A frame's payload is data[start, end). */
  private frameDone(data: Buffer, start: number, end: number): void {
    this.state = Read.Header;
    const opcode = this.opcode;
    if (opcode === 0x8) return this.onCloseFrame(data, start, end);
    if (opcode === 0x9) return this.send(0xa, data.subarray(start, end)); // pong
    if (opcode === 0xa) return;
    if (opcode !== 0 && opcode !== 1 && opcode !== 2) throw new ProtocolError(`unknown opcode ${opcode}`);
    if (!this.fin || this.messageOpcode !== 0) {
      // A fragment: keep a copy until the final one.
      if (opcode !== 0) this.messageOpcode = opcode;
      this.fragments.push(Buffer.from(data.subarray(start, end)));
      this.fragmentBytes += end - start;
      if (!this.fin) return;
      const whole = Buffer.concat(this.fragments, this.fragmentBytes);
      const binary = this.messageOpcode === 2;
      this.fragments = [];
      this.fragmentBytes = 0;
      this.messageOpcode = 0;
      return this.handlers.onMessage(whole, 0, whole.length, binary);
    }
    this.handlers.onMessage(data, start, end, opcode === 2);
  }

  private onCloseFrame(data: Buffer, start: number, end: number): void {
    this.closeCode = end - start >= 2 ? data.readUInt16BE(start) : 1005;
    // Echo the close, then the server closes the TCP connection.
    this.send(0x8, end - start >= 2 ? data.subarray(start, start + 2) : Buffer.alloc(0));
    this.socket.end();
  }

  /** Sends a binary message (the chat scenario's upstream). */
  sendBinary(payload: Buffer): void {
    this.send(0x2, payload);
  }

  /** Sends a text message (the Socket.IO client's handshake and pongs). */
  sendText(text: string): void {
    this.send(0x1, Buffer.from(text));
  }

  /** A masked frame from the client, as RFC 6455 requires of every client frame. */
  private send(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed) return;
    const n = payload.length;
    const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
    const frame = Buffer.allocUnsafe(6 + lengthBytes + n);
    frame[0] = 0x80 | opcode;
    if (lengthBytes === 0) frame[1] = 0x80 | n;
    else if (lengthBytes === 2) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(n, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(n), 2);
    }
    const maskAt = 2 + lengthBytes;
    randomBytes(4).copy(frame, maskAt);
    for (let j = 0; j < n; j++) frame[maskAt + 4 + j] = payload[j]! ^ frame[maskAt + (j & 3)]!;
    this.socket.write(frame);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.handlers.onClose(reason);
  }
}

/** A server frame header's size, from its second byte: 2, plus the extended length. */
function headerBytes(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
}

class ProtocolError extends Error {
  constructor(what: string) {
    super(`protocol error: ${what}`);
  }
}
