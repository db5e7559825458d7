import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeBinary, decodeText, encodeBinary, encodeText, HEADER_BYTES, readBinary } from "../harness/envelope.js";

const header = { seq: 42, stream: 3, intendedAt: 9_007_199_254_740_000, sentAt: 9_007_199_254_741_000 };

test("binary envelope round-trips and is padded to the message size", () => {
  const buf = encodeBinary(header, 256);
  assert.equal(buf.length, 256);
  assert.deepEqual(decodeBinary(buf), header);
  assert.equal(encodeBinary(header, 8).length, HEADER_BYTES);
});

test("readBinary passes the fields flat and refuses a short buffer", () => {
  const seen: number[] = [];
  assert.equal(readBinary(encodeBinary(header, 64), (...f) => seen.push(...f)), true);
  assert.deepEqual(seen, [3, 42, header.intendedAt, header.sentAt]);
  assert.equal(readBinary(Buffer.alloc(10), () => assert.fail("must not be called")), false);
});

test("text envelope carries the same fields in the same size", () => {
  const text = encodeText(header, 256);
  assert.equal(text.length, 256);
  assert.deepEqual(decodeText(text), header);
  assert.equal(decodeText("not an envelope"), null);
  assert.equal(decodeText("a,b,c,d,"), null);
});
