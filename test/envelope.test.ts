import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeBinary, encodeBinary, encodeText, HEADER_BYTES, readBinary, readText } from "../core/envelope.js";

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
  const seen: number[] = [];
  assert.equal(readText(text, (...f) => seen.push(...f)), true);
  assert.deepEqual(seen, [3, 42, header.intendedAt, header.sentAt]);
  const never = (): never => assert.fail("must not be called");
  assert.equal(readText("not an envelope", never), false);
  assert.equal(readText("a,b,c,d,", never), false);
  assert.equal(readText("1,2,,4,", never), false);
  assert.equal(readText("1,-2,3,4,", never), false);
});
