/**
 * The byte-level event-stream parser against eventsource-parser: the same streams,
 * cut into chunks every way that matters (whole, byte by byte, at every split point,
 * seeded random cuts), must give the same events, retries and comments, fed as the
 * fleet's sockets feed it: from one read buffer reused for every chunk.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createParser } from "eventsource-parser";
import { SseByteParser } from "../transports/sse-parser.js";
import { encodeText, readText, readTextBytes } from "../core/envelope.js";

interface Seen {
  events: Array<{ id: string | undefined; event: string | undefined; data: string }>;
  retries: number[];
  comments: string[];
}

function reference(chunks: Buffer[]): Seen {
  const seen: Seen = { events: [], retries: [], comments: [] };
  const parser = createParser({
    onEvent: (e) => seen.events.push({ id: e.id, event: e.event, data: e.data }),
    onRetry: (ms) => seen.retries.push(ms),
    onComment: (c) => seen.comments.push(c),
  });
  // As a browser does: bytes decoded as UTF-8 in stream mode (a BOM dropped), then parsed.
  const decoder = new TextDecoder("utf-8");
  for (const c of chunks) parser.feed(decoder.decode(c, { stream: true }));
  parser.feed(decoder.decode());
  return seen;
}

function ours(chunks: Buffer[]): Seen {
  const seen: Seen = { events: [], retries: [], comments: [] };
  const parser: SseByteParser = new SseByteParser({
    onEvent: (data, start, end) => seen.events.push({ id: parser.id, event: parser.event, data: data.toString("utf8", start, end) }),
    onRetry: (ms) => seen.retries.push(ms),
    onComment: (c) => seen.comments.push(c),
  });
  // As the fleet's sockets feed it: every chunk a span of one reused buffer, with line
  // ends and colons on both sides of it (a read past the span would find them), and
  // overwritten once fed, so whatever the parser kept without copying comes out garbled.
  const shared = Buffer.alloc(64 * 1024);
  for (const c of chunks) {
    shared.fill("\r\n:\n");
    c.copy(shared, 7);
    parser.feed(shared, 7, 7 + c.length);
    shared.fill(0x58);
  }
  return seen;
}

const STREAMS: Record<string, string> = {
  basic: "data: a\n\ndata: b\n\n",
  crlf: "data: a\r\n\r\nid: 7\r\ndata: b\r\n\r\n",
  // Ends on CRLF: at a lone CR closing the stream eventsource-parser waits for a byte that may be LF, we do not (known answers below).
  cr: "data: a\r\rdata: b\r\r\n",
  mixed: "data: a\r\n\ndata: b\r\r\ndata: c\n\r\n",
  multiline: "data: one\ndata: two\ndata:\ndata: four\n\n",
  noColonAndSpaces: "data\n\ndata:x\n\ndata:  two spaces\n\n",
  comments: ": hello\n:\n:no space\ndata: a\n\n",
  ids: "id: 1\ndata: a\n\nid\ndata: b\n\nid: with\0nul\ndata: c\n\nid: 4\n\ndata: d\n\n",
  events: "event: tick\ndata: a\n\nevent:\ndata: b\n\nevent\ndata: c\n\n",
  retry: "retry: 1000\nretry: abc\nretry:\nretry: 25x\nretry: 0\ndata: a\n\n",
  bom: "\ufeffdata: a\n\n",
  unknownFields: "foo: bar\ndat: x\ndata: a\nDATA: b\n\n",
  unterminated: "data: a\n\ndata: never dispatched\n",
  utf8: "data: héllo 😀 ü\n\nevent: é\ndata: ✓\n\n",
  emptyLines: "\n\n\r\n\r\ndata: a\n\n\n\n",
  envelope: `id: 3\ndata: ${encodeText({ seq: 3, stream: 1, intendedAt: 123456789012345, sentAt: 123456789999999 }, 256)}\n\n`,
  long: `data: ${"x".repeat(20_000)}\n\ndata: y\n\n`,
};

function cuts(bytes: Buffer, seed: number): Buffer[] {
  let a = seed >>> 0;
  const random = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + Math.floor(random() * 7);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

test("the byte parser gives what eventsource-parser gives, however the stream is cut", () => {
  for (const [name, text] of Object.entries(STREAMS)) {
    const bytes = Buffer.from(text, "utf8");
    const expected = reference([bytes]);
    assert.ok(expected.events.length > 0 || name === "retry", `${name}: the reference saw events`);
    const chunkings: Array<[string, Buffer[]]> = [
      ["whole", [bytes]],
      ["byte by byte", [...bytes].map((b) => Buffer.from([b]))],
      ...[1, 2, 3].map((seed): [string, Buffer[]] => [`random cuts ${seed}`, cuts(bytes, seed)]),
    ];
    if (bytes.length < 400) {
      for (let i = 1; i < bytes.length; i++) chunkings.push([`split at ${i}`, [bytes.subarray(0, i), bytes.subarray(i)]]);
      // The first feed is read apart (a BOM may open it); these splits fall in later ones.
      for (let i = 2; i < bytes.length; i++) chunkings.push([`one byte, then split at ${i}`, [bytes.subarray(0, 1), bytes.subarray(1, i), bytes.subarray(i)]]);
    }
    for (const [how, chunks] of chunkings) {
      assert.deepEqual(ours(chunks), expected, `${name}, ${how}`);
      assert.deepEqual(reference(chunks), expected, `${name}, ${how}: the reference itself`);
    }
  }
});

test("known answers: CRLF split over chunks is one line end, a BOM only counts first, multi-line data is joined by LF", () => {
  const split = ours([Buffer.from("data: a\r"), Buffer.from("\ndata: b\r"), Buffer.from("\n\r"), Buffer.from("\n")]);
  assert.deepEqual(split.events.map((e) => e.data), ["a\nb"]);
  const bom = ours([Buffer.from([0xef]), Buffer.from([0xbb, 0xbf]), Buffer.from("data: a\n\n\ufeffdata: b\n\n")]);
  assert.deepEqual(bom.events.map((e) => e.data), ["a"], "a BOM after the start is part of a field name: no such field");
  assert.deepEqual(ours([Buffer.from("data: 1\ndata: 2\n\n")]).events[0]!.data, "1\n2");
  // A lone CR ends its line at once, as a browser's parser does: the event is not held back for the next chunk.
  assert.deepEqual(ours([Buffer.from("data: a\r\r")]).events.map((e) => e.data), ["a"]);
});

test("the envelope read off bytes gives what the text reader gives, and refuses the same", () => {
  const cases = [
    encodeText({ seq: 42, stream: 3, intendedAt: 1_700_000_000_123_456, sentAt: 1_700_000_000_223_456 }, 256),
    "1,2,3,4,",
    "1,2,3,4",
    "1,2,x,4,",
    ",2,3,4,",
    "",
    "12345",
  ];
  for (const text of cases) {
    const a: number[][] = [];
    const b: number[][] = [];
    const okText = readText(text, (...f) => a.push(f));
    const padded = Buffer.from(`pre${text}post`);
    const okBytes = readTextBytes(padded, 3, 3 + Buffer.byteLength(text), (...f) => b.push(f));
    assert.equal(okBytes, okText, JSON.stringify(text));
    assert.deepEqual(b, a, JSON.stringify(text));
  }
});
