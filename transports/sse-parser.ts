/**
 * A text/event-stream parser that works on the bytes as they arrive (WHATWG HTML
 * §9.2.6), for clients opened thousands of times per process: no string per chunk,
 * none per event. An event's data is handed over as a span of the received bytes; its
 * id and type are decoded only when asked for. Line ends CR, LF and CRLF (also split
 * across chunks), multi-line data, comments, `retry:`, a leading BOM and fields split
 * across chunks are handled as the standard says; test/sse-parser.test.ts feeds the
 * same streams to it and to eventsource-parser and compares what comes out.
 */

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const BOM = [0xef, 0xbb, 0xbf] as const;
const EMPTY: Buffer = Buffer.alloc(0);
const LF_BYTE = Buffer.from([LF]);
/** Bytes scanned in JavaScript for a line's end before Buffer.indexOf takes over. */
const SHORT_LINE = 24;
/** "event" and "retry": the longest field names with a meaning. */
const LONGEST_NAME = 5;

export interface SseByteHandlers {
  /**
   * One event: its data is data[start, end) (multi-line data joined by LF), valid
   * during the call only. The event's own `id:` and `event:` fields are
   * `parser.id` and `parser.event` meanwhile (undefined when it had none), as
   * eventsource-parser reports them.
   */
  onEvent(data: Buffer, start: number, end: number): void;
  onRetry?(ms: number): void;
  onComment?(text: string): void;
}

export class SseByteParser {
  /** An unfinished line carried over to the next chunk. */
  private rest: Buffer | null = null;
  /** Nothing fed yet: a BOM may come first. */
  private atStart = true;
  /** The last chunk ended on CR: an LF opening the next belongs to the same line end. */
  private afterCr = false;
  private dataLines = 0;
  // Spans of received bytes as plain fields, so an event allocates nothing: the first
  // data line (the common case is one line, passed on without a copy), the id, the type.
  private dataBuf = EMPTY;
  private dataStart = 0;
  private dataEnd = 0;
  /** Further data lines, joined at dispatch. */
  private moreData: Buffer[] = [];
  private idBuf: Buffer | null = null;
  private idStart = 0;
  private idEnd = 0;
  private eventBuf: Buffer | null = null;
  private eventStart = 0;
  private eventEnd = 0;

  constructor(private readonly handlers: SseByteHandlers) {}

  /** The current event's `id:` field (during onEvent). */
  get id(): string | undefined {
    return this.idBuf === null ? undefined : this.idBuf.toString("utf8", this.idStart, this.idEnd);
  }

  /** The current event's `event:` field (during onEvent); an empty one reads as none. */
  get event(): string | undefined {
    return this.eventBuf === null || this.eventEnd === this.eventStart ? undefined : this.eventBuf.toString("utf8", this.eventStart, this.eventEnd);
  }

  /**
   * Feeds received bytes, chunk[start, end) (a span, so a client hands over what it
   * read without a view per read). The caller may reuse chunk's memory once this
   * returns (a socket's shared read buffer): whatever of it the parser still holds is
   * copied.
   */
  feed(chunk: Buffer, start = 0, end = chunk.length): void {
    this.parse(chunk, start, end);
    this.detach(chunk.buffer);
  }

  /** Copies the carried-over spans that lie in `memory`. */
  private detach(memory: ArrayBufferLike): void {
    if (this.rest !== null && this.rest.buffer === memory) this.rest = Buffer.from(this.rest);
    if (this.dataLines > 0 && this.dataBuf.buffer === memory) {
      this.dataBuf = Buffer.from(this.dataBuf.subarray(this.dataStart, this.dataEnd));
      this.dataStart = 0;
      this.dataEnd = this.dataBuf.length;
    }
    for (let i = 0; i < this.moreData.length; i++) if (this.moreData[i]!.buffer === memory) this.moreData[i] = Buffer.from(this.moreData[i]!);
    if (this.idBuf !== null && this.idBuf.buffer === memory) {
      this.idBuf = Buffer.from(this.idBuf.subarray(this.idStart, this.idEnd));
      this.idStart = 0;
      this.idEnd = this.idBuf.length;
    }
    if (this.eventBuf !== null && this.eventBuf.buffer === memory) {
      this.eventBuf = Buffer.from(this.eventBuf.subarray(this.eventStart, this.eventEnd));
      this.eventStart = 0;
      this.eventEnd = this.eventBuf.length;
    }
  }

  private parse(chunk: Buffer, start: number, limit: number): void {
    let buf = chunk;
    let pos = start;
    if (this.atStart) {
      const joined = this.rest === null ? buf.subarray(start, limit) : Buffer.concat([this.rest, buf.subarray(start, limit)]);
      // A BOM split over chunks: wait until three bytes are here.
      if (joined.length < BOM.length && BOM.slice(0, joined.length).every((b, i) => joined[i] === b)) {
        this.rest = joined;
        return;
      }
      this.rest = null;
      this.atStart = false;
      buf = joined[0] === BOM[0] && joined[1] === BOM[1] && joined[2] === BOM[2] ? joined.subarray(3) : joined;
      pos = 0;
      limit = buf.length;
    }
    if (this.afterCr) {
      this.afterCr = false;
      if (pos < limit && buf[pos] === LF) pos++;
    }
    const cr = buf.indexOf(CR, pos);
    const crs = cr !== -1 && cr < limit;
    if (this.rest !== null) {
      // Finish the carried line first; only that line is copied.
      const end = this.lineEnd(buf, pos, limit, crs);
      if (end === -1) {
        this.rest = Buffer.concat([this.rest, buf.subarray(pos, limit)]);
        return;
      }
      const line = Buffer.concat([this.rest, buf.subarray(pos, end)]);
      this.rest = null;
      this.line(line, 0, line.length);
      pos = this.afterLineEnd(buf, end, limit);
    }
    while (pos < limit) {
      const end = this.lineEnd(buf, pos, limit, crs);
      if (end === -1) {
        this.rest = buf.subarray(pos, limit);
        return;
      }
      this.line(buf, pos, end);
      pos = this.afterLineEnd(buf, end, limit);
    }
  }

  /** Where the line from `pos` ends (at its CR or LF), or -1 when it does not end before `limit`. */
  private lineEnd(buf: Buffer, pos: number, limit: number, crs: boolean): number {
    // Short lines (blank ones, ids) end within a few bytes: looked for here, since a
    // Buffer.indexOf call costs more than scanning them; long ones by indexOf.
    const near = Math.min(limit, pos + SHORT_LINE);
    for (let i = pos; i < near; i++) {
      const c = buf[i]!;
      if (c === LF || c === CR) return i;
    }
    if (near === limit) return -1;
    let lf = buf.indexOf(LF, near);
    if (lf >= limit) lf = -1;
    if (!crs) return lf;
    const cr = buf.indexOf(CR, near);
    if (cr === -1 || cr >= limit) return lf;
    return lf === -1 || cr < lf ? cr : lf;
  }

  /** The first byte after the line end at `end`: CRLF is one line end, even split over chunks. */
  private afterLineEnd(buf: Buffer, end: number, limit: number): number {
    if (buf[end] !== CR) return end + 1;
    if (end + 1 === limit) {
      this.afterCr = true;
      return end + 1;
    }
    return buf[end + 1] === LF ? end + 2 : end + 1;
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (start === end) return this.dispatch();
    if (buf[start] === COLON) {
      if (this.handlers.onComment) this.handlers.onComment(buf.toString("utf8", buf[start + 1] === SPACE ? start + 2 : start + 1, end));
      return;
    }
    // Only data, id, event and retry mean anything: a colon further in than their
    // length ends a name that is none of them.
    let colon = start;
    const near = Math.min(end, start + LONGEST_NAME + 1);
    while (colon < near && buf[colon] !== COLON) colon++;
    if (colon === near && near < end) return;
    let value = colon < end ? colon + 1 : end;
    if (value < end && buf[value] === SPACE) value++;
    const n = colon - start;
    if (n === 4 && buf[start] === 0x64 && buf[start + 1] === 0x61 && buf[start + 2] === 0x74 && buf[start + 3] === 0x61) {
      // data
      if (this.dataLines++ === 0) {
        this.dataBuf = buf;
        this.dataStart = value;
        this.dataEnd = end;
      } else this.moreData.push(LF_BYTE, buf.subarray(value, end));
    } else if (n === 2 && buf[start] === 0x69 && buf[start + 1] === 0x64) {
      // id: ignored when it holds a NUL, as the standard says. Only the id's own bytes
      // are looked at: buf.indexOf would scan to the chunk's end for every event.
      let nul = false;
      for (let i = value; i < end && !nul; i++) nul = buf[i] === 0;
      if (!nul) {
        this.idBuf = buf;
        this.idStart = value;
        this.idEnd = end;
      }
    } else if (n === 5 && buf.toString("latin1", start, colon) === "event") {
      this.eventBuf = buf;
      this.eventStart = value;
      this.eventEnd = end;
    } else if (n === 5 && buf.toString("latin1", start, colon) === "retry") {
      let ms = 0;
      for (let i = value; i < end; i++) {
        const d = buf[i]! - 0x30;
        if (d < 0 || d > 9) return;
        ms = ms * 10 + d;
      }
      if (end > value && this.handlers.onRetry) this.handlers.onRetry(ms);
    }
    // Other fields are ignored.
  }

  private dispatch(): void {
    if (this.dataLines > 0) {
      if (this.dataLines === 1) this.handlers.onEvent(this.dataBuf, this.dataStart, this.dataEnd);
      else {
        const joined = Buffer.concat([this.dataBuf.subarray(this.dataStart, this.dataEnd), ...this.moreData]);
        this.moreData = [];
        this.handlers.onEvent(joined, 0, joined.length);
      }
    }
    this.dataLines = 0;
    this.dataBuf = EMPTY;
    this.idBuf = null;
    this.eventBuf = null;
  }
}
