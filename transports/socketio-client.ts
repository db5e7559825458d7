/**
 * A lean Socket.IO client for the fleet's websocket variants: Engine.IO 4 and the
 * Socket.IO 5 protocol over the lean WebSocket client (transports/ws-client.ts), for
 * the default namespace and the relay's one event. What it does is what
 * socket.io-client does on that path, no more: wait for Engine.IO's open packet, send
 * CONNECT with the auth, answer each ping with a pong, read "m" events, and report
 * DISCONNECT, CONNECT_ERROR and a lost transport as socket.io-client names them, and
 * emit the chat scenario's "u" events (with an ack id when asked). The
 * event's text envelope is read off the frame's bytes; any other event is ignored.
 * The polling variant stays on socket.io-client.
 */
import { readTextBytes } from "../core/envelope.js";
import type { RawTarget } from "./http1.js";
import { LeanWebSocket } from "./ws-client.js";

export interface LeanSocketIoHandlers {
  onOpen(): void;
  onMessage(stream: number, seq: number, intendedAt: number, sentAt: number): void;
  onClose(reason: string): void;
}

/** `42["m","` : an Engine.IO message carrying a Socket.IO EVENT named "m", its first argument a string. */
const EVENT_M = Buffer.from('42["m","');

export class LeanSocketIo {
  private readonly ws: LeanWebSocket;
  private connected = false;
  private closed = false;

  constructor(target: RawTarget, path: string, auth: Readonly<Record<string, unknown>>, private readonly handlers: LeanSocketIoHandlers) {
    this.ws = new LeanWebSocket(target, path, {
      onOpen: () => {},
      onMessage: (data, start, end, binary) => {
        if (!binary) this.packet(data, start, end, auth);
      },
      onClose: () => this.close(this.connected ? "disconnected (transport close)" : "websocket error"),
    });
  }

  /** Acknowledgements asked for and not yet answered, by packet id. */
  private readonly acks = new Map<number, (error?: string) => void>();
  private nextAck = 0;

  /** Emits a "u" event whose argument is `text` (digits, commas and padding: nothing JSON escapes); with `onAck`, asks for an acknowledgement. */
  emit(text: string, onAck?: (error?: string) => void): void {
    if (!this.connected || this.closed) return onAck?.("not connected");
    if (!onAck) return this.ws.sendText(`42["u","${text}"]`);
    const id = this.nextAck++;
    this.acks.set(id, onAck);
    this.ws.sendText(`42${id}["u","${text}"]`);
  }

  /** Closes at once; onClose is not called for it. */
  terminate(): void {
    this.closed = true;
    this.ws.terminate();
  }

  private packet(data: Buffer, start: number, end: number, auth: Readonly<Record<string, unknown>>): void {
    const engine = data[start];
    if (engine === 0x34 /* 4: message */) {
      if (this.connected && end - start > EVENT_M.length && data.compare(EVENT_M, 0, EVENT_M.length, start, start + EVENT_M.length) === 0) {
        readTextBytes(data, start + EVENT_M.length, end, this.handlers.onMessage);
        return;
      }
      const socketIo = data[start + 1];
      if (socketIo === 0x30 /* 0: CONNECT (acknowledged) */ && !this.connected) {
        this.connected = true;
        this.handlers.onOpen();
      } else if (socketIo === 0x31 /* 1: DISCONNECT */) this.close("disconnected (io server disconnect)");
      else if (socketIo === 0x33 /* 3: ACK */) this.acked(data.toString("utf8", start + 2, end));
      else if (socketIo === 0x34 /* 4: CONNECT_ERROR */) this.close(connectErrorMessage(data.toString("utf8", start + 2, end)));
    } else if (engine === 0x30 /* 0: open */) {
      this.ws.sendText(`40${JSON.stringify(auth)}`);
    } else if (engine === 0x32 /* 2: ping */) {
      this.ws.sendText("3");
    } else if (engine === 0x31 /* 1: close */) {
      this.close("disconnected (transport close)");
    }
  }

  /** `<id>[...]`: the answer to emit `id`; an {error} argument is the server's refusal. */
  private acked(packet: string): void {
    const m = /^(\d+)(.*)$/s.exec(packet);
    if (!m) return;
    const id = Number(m[1]);
    const ack = this.acks.get(id);
    if (!ack) return;
    this.acks.delete(id);
    let error: string | undefined;
    try {
      const args = JSON.parse(m[2]!) as Array<{ error?: unknown } | undefined>;
      if (args[0] && typeof args[0].error === "string") error = args[0].error;
    } catch {
      error = "unreadable ack";
    }
    ack(error);
  }

  private close(reason: string): void {
    if (this.closed) return;
    for (const ack of this.acks.values()) ack(reason);
    this.acks.clear();
    this.closed = true;
    this.ws.terminate();
    this.handlers.onClose(reason);
  }
}

/** CONNECT_ERROR's payload is {"message": ...} (or a bare string from old servers). */
function connectErrorMessage(json: string): string {
  try {
    const parsed = JSON.parse(json) as unknown;
    if (typeof parsed === "string") return parsed;
    if (parsed && typeof parsed === "object" && typeof (parsed as { message?: unknown }).message === "string") return (parsed as { message: string }).message;
  } catch {
    // fall through
  }
  return "connect error";
}
