/** Tests of lib/text: cleaning untrusted text and short IDs. */
import assert from "node:assert/strict";
import { cleanText, hasUnsafeChars, shortId } from "../../../driver/lib/text";

describe("lib/text", () => {
  it("cleanText replaces controls, separators and bidi overrides, and caps length", () => {
    assert.equal(cleanText("a\tb\u2028c\u202ed\u0085e"), "a?b?c?d?e");
    assert.equal(cleanText("x".repeat(150)), `${"x".repeat(100)}...`);
    assert.equal(cleanText("\u{1F600}".repeat(3), 2), "\u{1F600}\u{1F600}...");
  });

  it("hasUnsafeChars finds exactly what cleanText replaces", () => {
    assert.ok(hasUnsafeChars("a\u202eb"));
    assert.ok(!hasUnsafeChars("plain text: 10.0.0.4/24"));
    assert.equal(cleanText("plain text: 10.0.0.4/24"), "plain text: 10.0.0.4/24");
  });

  it("shortId keeps the first 12 characters", () => {
    assert.equal(shortId("0123456789abcdef"), "0123456789ab");
    assert.equal(shortId("abc"), "abc");
    assert.equal(shortId("ab\ncdefghijklmn"), "ab?cdefghijk");
  });
});
