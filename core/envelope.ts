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
  return readBinaryAt(buf, 0, buf.length, onMessage);
}

/** readBinary of buf[start, end), for a client handed spans of a shared read buffer. */
export function readBinaryAt(
  buf: Buffer,
  start: number,
  end: number,
  onMessage: (stream: number, seq: number, intendedAt: number, sentAt: number) => void,
): boolean {
  if (end - start < HEADER_BYTES) return false;
  onMessage(
    buf.readUInt32LE(start + Offset.Stream),
    buf.readDoubleLE(start + Offset.Seq),
    buf.readDoubleLE(start + Offset.IntendedAt),
    buf.readDoubleLE(start + Offset.SentAt),
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

/** Where the field read by the last commaField call ended (after its comma). */
let fieldEnd = 0;

/**
 * The decimal digits from buf[start] up to the next comma before `end`, as a number;
 * NaN when there is no such comma, no digit, or anything else in between. Scanned in
 * JavaScript: a Buffer.indexOf per field costs more than the digits.
 */
function commaField(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  let i = start;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 44) break;
    if (c < 48 || c > 57) return Number.NaN;
    n = n * 10 + (c - 48);
  }
  if (i === end || i === start) return Number.NaN;
  fieldEnd = i + 1;
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
  const stream = commaField(buf, start, end);
  if (Number.isNaN(stream)) return false;
  const seq = commaField(buf, fieldEnd, end);
  if (Number.isNaN(seq)) return false;
  const intendedAt = commaField(buf, fieldEnd, end);
  if (Number.isNaN(intendedAt)) return false;
  const sentAt = commaField(buf, fieldEnd, end);
  if (Number.isNaN(sentAt)) return false;
  onMessage(stream, seq, intendedAt, sentAt);
  return true;
}
