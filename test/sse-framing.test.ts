import assert from "node:assert/strict";
import { test } from "node:test";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { formatSseEvent } from "../transports/sse.js";

function parseAll(stream: string): { events: EventSourceMessage[]; retry: number[] } {
  const events: EventSourceMessage[] = [];
  const retry: number[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e), onRetry: (r) => retry.push(r) });
  // Feed in awkward pieces, as TCP would deliver them.
  for (let i = 0; i < stream.length; i += 7) parser.feed(stream.slice(i, i + 7));
  return { events, retry };
}

test("an event has id, event and data lines and ends with a blank line", () => {
  assert.equal(formatSseEvent({ id: "7", event: "tick", data: "hello" }), "id: 7\nevent: tick\ndata: hello\n\n");
  assert.equal(formatSseEvent({ retry: 3000 }), "retry: 3000\n\n");
});

test("multi-line data becomes one data line per line, for every line ending", () => {
  const framed = formatSseEvent({ id: "1", data: "a\nb\r\nc\rd" });
  assert.equal(framed, "id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  const { events } = parseAll(framed);
  assert.deepEqual(events, [{ id: "1", event: undefined, data: "a\nb\nc\nd" }]);
});

test("a spec-conformant parser reads a stream of framed events back exactly", () => {
  const stream =
    formatSseEvent({ retry: 1500 }) +
    ": a comment\n\n" +
    formatSseEvent({ id: "1", data: "first" }) +
    formatSseEvent({ id: "2", event: "custom", data: "second\nline" }) +
    formatSseEvent({ id: "3", data: "" });
  const { events, retry } = parseAll(stream);
  assert.deepEqual(retry, [1500]);
  assert.deepEqual(
    events.map((e) => [e.id, e.event, e.data]),
    [
      ["1", undefined, "first"],
      ["2", "custom", "second\nline"],
      ["3", undefined, ""],
    ],
  );
});

test("an id or event name that would break the framing is refused", () => {
  assert.throws(() => formatSseEvent({ id: "1\n2", data: "x" }), /single line/);
  assert.throws(() => formatSseEvent({ event: "a\rb", data: "x" }), /single line/);
  assert.throws(() => formatSseEvent({ id: "a\0b", data: "x" }), /NUL/);
});
