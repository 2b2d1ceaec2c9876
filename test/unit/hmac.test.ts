import { describe, expect, test } from "bun:test";
import { hmacSha256 } from "../../src/native/shim.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ascii = (s: string) => new TextEncoder().encode(s);

// RFC 4231 section 4: HMAC-SHA256 test cases 1-7 (case 5 is truncated to 128 bits).
const CASES: [string, Uint8Array, Uint8Array, string][] = [
  ["1", hex("0b".repeat(20)), ascii("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
  [
    "2",
    ascii("Jefe"),
    ascii("what do ya want for nothing?"),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  ],
  ["3", hex("aa".repeat(20)), hex("dd".repeat(50)), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"],
  [
    "4",
    hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
    hex("cd".repeat(50)),
    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
  ],
  ["5", hex("0c".repeat(20)), ascii("Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"],
  [
    "6",
    hex("aa".repeat(131)),
    ascii("Test Using Larger Than Block-Size Key - Hash Key First"),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  ],
  [
    "7",
    hex("aa".repeat(131)),
    ascii(
      "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  ],
];

describe("HMAC-SHA256 in the shim matches RFC 4231", () => {
  for (const [n, key, data, want] of CASES) {
    test(`test case ${n}`, () => {
      expect(toHex(hmacSha256(key, data)).slice(0, want.length)).toBe(want);
    });
  }
  test("agrees with node:crypto on lengths around the block size", async () => {
    const { createHmac } = await import("node:crypto");
    for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000]) {
      const key = Uint8Array.from({ length: (len % 70) + 1 }, (_, i) => (i * 7 + len) & 255);
      const msg = Uint8Array.from({ length: len }, (_, i) => (i * 13) & 255);
      expect(toHex(hmacSha256(key, msg))).toBe(createHmac("sha256", key).update(msg).digest("hex"));
    }
  });
});
