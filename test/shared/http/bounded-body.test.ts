import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertTokenSize, discardBody, readBodyText, readErrorText } from "../../../shared/http/bounded-body.js";
import { UpstreamFailure } from "../../../shared/upstream/upstream-failure.js";

/** A streamed body of `chunks`, counting how many were pulled and whether it was cancelled. */
function streamed(chunks: (string | Uint8Array)[], headers: Record<string, string> = {}, status = 200) {
  const seen = { pulled: 0, cancelled: false };
  const encoder = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[i++];
      if (next === undefined) return controller.close();
      seen.pulled++;
      controller.enqueue(typeof next === "string" ? encoder.encode(next) : next);
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { response: new Response(body, { status, headers }), seen };
}

const tooLarge = (e: unknown) => e instanceof UpstreamFailure && e.kind === "invalid" && /larger than 10 bytes, not read/.test(e.summary);

describe("readBodyText", () => {
  it("returns a body within the limit, decoding UTF-8 split across chunks", async () => {
    const euro = new TextEncoder().encode("€"); // 3 bytes
    const { response } = streamed(["ab", euro.subarray(0, 1), euro.subarray(1), "c"]);
    assert.equal(await readBodyText(response, 10), "ab€c");
  });

  it("stops reading and cancels the stream as soon as the limit is passed", async () => {
    const { response, seen } = streamed(["12345", "67890", "X", ...Array.from({ length: 1000 }, () => "more")]);
    await assert.rejects(readBodyText(response, 10), tooLarge);
    assert.equal(seen.cancelled, true);
    assert.ok(seen.pulled <= 4, `pulled ${seen.pulled} chunks`);
  });

  it("refuses a declared Content-Length over the limit without reading", async () => {
    const { response, seen } = streamed(["x".repeat(20)], { "content-length": "20" });
    await assert.rejects(readBodyText(response, 10), tooLarge);
    assert.equal(seen.pulled, 0);
  });

  it("reads an empty body as the empty string", async () => {
    assert.equal(await readBodyText(new Response(null, { status: 204 }), 10), "");
  });
});

describe("readErrorText and discardBody", () => {
  it("gives no text for an oversized error answer, so the status alone classifies it", async () => {
    assert.equal(await readErrorText(streamed(["x".repeat(11)], {}, 500).response, 10), undefined);
    assert.equal(await readErrorText(streamed(['{"error":"x"}'], {}, 400).response, 20), '{"error":"x"}');
  });

  it("discards at most the limit and never throws", async () => {
    const { response, seen } = streamed(Array.from({ length: 100 }, () => "0123456789"));
    await discardBody(response, 10);
    assert.equal(seen.cancelled, true);
    assert.ok(seen.pulled <= 3);
  });
});

describe("assertTokenSize", () => {
  it("counts bytes, not characters", () => {
    assertTokenSize("a".repeat(64), 64);
    assert.throws(() => assertTokenSize("€".repeat(22), 64), (e: unknown) => e instanceof UpstreamFailure && /66 bytes exceeds the 64-byte limit/.test(e.summary));
  });
});
