/**
 * The message every producer publishes and every client decodes.
 *
 * On the broker and on binary transports it is a fixed 32-byte little-endian header
 * followed by padding up to the workload's message size. Text transports (SSE) carry
 * the same fields as comma-separated decimals, padded to the same size, so both
 * carry `size` bytes of body before framing.
 */
export const HEADER_BYTES = 32;

export interface EnvelopeHeader {
  /** Per-stream sequence number, starting at 1. */
  seq: number;
  /** Stream (topic) index. */
  stream: number;
  /** When the open-loop schedule meant to send it (monotonic ns). */
  intendedAt: number;
  /** When the producer actually handed it to the broker (monotonic ns). */
  sentAt: number;
}

const enum Offset {
  Seq = 0,
  Stream = 8,
  Size = 12,
  IntendedAt = 16,
  SentAt = 24,
}

export function encodeBinary(header: EnvelopeHeader, size: number): Buffer {
  const buf = Buffer.alloc(Math.max(size, HEADER_BYTES));
  buf.writeDoubleLE(header.seq, Offset.Seq);
  buf.writeUInt32LE(header.stream, Offset.Stream);
  buf.writeUInt32LE(buf.length, Offset.Size);
  buf.writeDoubleLE(header.intendedAt, Offset.IntendedAt);
  buf.writeDoubleLE(header.sentAt, Offset.SentAt);
  return buf;
}

export function decodeBinary(buf: Buffer): EnvelopeHeader {
  if (buf.length < HEADER_BYTES) throw new Error(`envelope too short: ${buf.length} bytes`);
  return {
    seq: buf.readDoubleLE(Offset.Seq),
    stream: buf.readUInt32LE(Offset.Stream),
    intendedAt: buf.readDoubleLE(Offset.IntendedAt),
    sentAt: buf.readDoubleLE(Offset.SentAt),
  };
}

/** Hot-path decode for clients: passes the fields flat, allocates nothing. */
export function readBinary(
  buf: Buffer,
  onMessage: (stream: number, seq: number, intendedAt: number, sentAt: number) => void,
): boolean {
  if (buf.length < HEADER_BYTES) return false;
  onMessage(
    buf.readUInt32LE(Offset.Stream),
    buf.readDoubleLE(Offset.Seq),
    buf.readDoubleLE(Offset.IntendedAt),
    buf.readDoubleLE(Offset.SentAt),
  );
  return true;
}

let padding = "";
function pad(n: number): string {
  if (n <= 0) return "";
  if (padding.length < n) padding = "x".repeat(Math.max(n, 2 * padding.length));
  return padding.slice(0, n);
}

/** Text form: "stream,seq,intendedAt,sentAt," then padding up to `size` characters. */
export function encodeText(header: EnvelopeHeader, size: number): string {
  const head = `${header.stream},${header.seq},${header.intendedAt},${header.sentAt},`;
  return head + pad(size - head.length);
}

/** Decimal digits of text[start, end) as a number; NaN unless all are digits. No allocation. */
function digits(text: string, start: number, end: number): number {
  if (end <= start) return Number.NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Hot-path decode of the text form: passes the fields flat, allocates nothing.
 * Returns false (and calls nothing) when the text is not an envelope.
 */
export function readText(
  text: string,
  onMessage: (stream: number, seq: number, intendedAt: number, sentAt: number) => void,
): boolean {
  const a = text.indexOf(",");
  const b = text.indexOf(",", a + 1);
  const c = text.indexOf(",", b + 1);
  const d = text.indexOf(",", c + 1);
  if (a < 0 || b < 0 || c < 0 || d < 0) return false;
  const stream = digits(text, 0, a);
  const seq = digits(text, a + 1, b);
  const intendedAt = digits(text, b + 1, c);
  const sentAt = digits(text, c + 1, d);
  if (Number.isNaN(stream + seq + intendedAt + sentAt)) return false;
  onMessage(stream, seq, intendedAt, sentAt);
  return true;
}

/** Decimal digits of buf[start, end) as a number; NaN unless all are digits. */
function digitBytes(buf: Uint8Array, start: number, end: number): number {
  if (end <= start) return Number.NaN;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * readText on bytes: the text form read straight off buf[start, end), as a client
 * that never makes a string of what it receives reads it. Same result, same refusals.
 */
export function readTextBytes(
  buf: Buffer,
  start: number,
  end: number,
  onMessage: (stream: number, seq: number, intendedAt: number, sentAt: number) => void,
): boolean {
  const a = buf.indexOf(44, start);
  const b = a < 0 ? -1 : buf.indexOf(44, a + 1);
  const c = b < 0 ? -1 : buf.indexOf(44, b + 1);
  const d = c < 0 ? -1 : buf.indexOf(44, c + 1);
  if (d < 0 || d >= end) return false;
  const stream = digitBytes(buf, start, a);
  const seq = digitBytes(buf, a + 1, b);
  const intendedAt = digitBytes(buf, b + 1, c);
  const sentAt = digitBytes(buf, c + 1, d);
  if (Number.isNaN(stream + seq + intendedAt + sentAt)) return false;
  onMessage(stream, seq, intendedAt, sentAt);
  return true;
}
