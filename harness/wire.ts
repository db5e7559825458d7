/**
 * Bytes on the wire, read off TCP sockets themselves, so framing, headers, heartbeats,
 * polls and TLS records all count.
 */
import net, { type Socket } from "node:net";

export class WireCounter {
  private readonly open = new Map<Socket, { read: number; written: number }>();
  private closedRead = 0;
  private closedWritten = 0;

  track(socket: Socket): void {
    if (this.open.has(socket)) return;
    // A socket connected again after a close keeps its totals: count from here.
    const base = { read: socket.bytesRead, written: socket.bytesWritten };
    this.open.set(socket, base);
    socket.once("close", () => {
      this.open.delete(socket);
      this.closedRead += socket.bytesRead - base.read;
      this.closedWritten += socket.bytesWritten - base.written;
    });
  }

  /** What this side read and wrote, over every socket tracked. */
  bytes(): { read: number; written: number } {
    let read = this.closedRead;
    let written = this.closedWritten;
    for (const [s, base] of this.open) {
      read += s.bytesRead - base.read;
      written += s.bytesWritten - base.written;
    }
    return { read, written };
  }

  total(): number {
    const { read, written } = this.bytes();
    return read + written;
  }

  queued(): number {
    let n = 0;
    for (const s of this.open.keys()) n += s.writableLength;
    return n;
  }

  destroyAll(): number {
    const n = this.open.size;
    for (const s of this.open.keys()) s.destroy();
    return n;
  }
}

let outgoing: WireCounter | undefined;

/**
 * Counts every TCP connection this process opens from now on. For `direct` fleets,
 * whose sockets belong to the broker libraries (ioredis, nats, kafkajs, pg): each of
 * them connects through Socket.prototype.connect, whether by net.connect or by
 * `new Socket().connect()`, so that is the one place every such socket passes.
 */
export function countOutgoingSockets(): WireCounter {
  if (outgoing) return outgoing;
  const counter = (outgoing = new WireCounter());
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    counter.track(this);
    return (connect as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof connect;
  return counter;
}
