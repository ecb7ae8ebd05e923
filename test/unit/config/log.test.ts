import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger, type LoggerOptions } from "../../../driver/log";

/** A logger writing into an array of lines, with a frozen clock. */
function capture(opts: Pick<LoggerOptions, "level" | "format">) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const log = createLogger({ ...opts, stream, now: () => new Date("2026-01-01T00:00:00.000Z") });
  // winston hands events to its transports asynchronously.
  const lines = async () => {
    await new Promise((r) => setImmediate(r));
    return chunks
      .join("")
      .split("\n")
      .filter((l) => l !== "");
  };
  return { log, lines };
}

describe("createLogger", () => {
  it("writes text events as `time level message key=value`", async () => {
    const { log, lines } = capture({ level: "info", format: "text" });
    log.info("network created", { network: "azure", subnet: "10.0.0.0/24", count: 3, ok: true });
    log.error("failed", { reason: "two words" });
    assert.deepEqual(await lines(), [
      "2026-01-01T00:00:00.000Z info  network created network=azure subnet=10.0.0.0/24 count=3 ok=true",
      '2026-01-01T00:00:00.000Z error failed reason="two words"',
    ]);
  });

  it("keeps one event on one line whatever the message and values hold", async () => {
    const { log, lines } = capture({ level: "debug", format: "text" });
    log.warn("first line\nsecond line\r\tend\u2028", {
      err: new Error("ENOENT\nat somewhere"),
      quote: 'say "hi"',
      eq: "a=b",
      empty: "",
      obj: { nested: "x y" },
      big: 10n,
      skipped: undefined,
    });
    const out = await lines();
    assert.equal(out.length, 1);
    assert.equal(
      out[0],
      '2026-01-01T00:00:00.000Z warn  first line\\nsecond line\\r\\tend\\u2028 err="ENOENT\\nat somewhere" quote="say \\"hi\\"" ' +
        'eq="a=b" empty="" obj="{\\"nested\\":\\"x y\\"}" big=10',
    );
  });

  it("drops events below the configured level", async () => {
    const { log, lines } = capture({ level: "warn", format: "text" });
    log.debug("no");
    log.info("no");
    log.log("info", "no");
    log.warn("yes");
    log.log("error", "yes", { via: "log" });
    assert.deepEqual(await lines(), ["2026-01-01T00:00:00.000Z warn  yes", "2026-01-01T00:00:00.000Z error yes via=log"]);
  });

  it("writes JSON events one object per line with time, level, msg and fields", async () => {
    const { log, lines } = capture({ level: "debug", format: "json" });
    log.debug("multi\nline", { endpoint: "ep1", ips: ["10.0.0.4"], level: "not the level" });
    const out = await lines();
    assert.equal(out.length, 1);
    assert.deepEqual(JSON.parse(out[0]), {
      time: "2026-01-01T00:00:00.000Z",
      level: "debug",
      msg: "multi\nline",
      endpoint: "ep1",
      ips: ["10.0.0.4"],
      "field.level": "not the level",
    });
  });

  it("adds a child's fields to each of its events", async () => {
    const { log, lines } = capture({ level: "info", format: "text" });
    const child = log.child({ network: "n1" }).child({ endpoint: "e1" });
    child.info("joined", { ip: "10.0.0.5" });
    log.info("parent");
    assert.deepEqual(await lines(), [
      "2026-01-01T00:00:00.000Z info  joined network=n1 endpoint=e1 ip=10.0.0.5",
      "2026-01-01T00:00:00.000Z info  parent",
    ]);
  });

  it("never throws on values JSON cannot encode", async () => {
    const { log, lines } = capture({ level: "info", format: "json" });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    log.info("cycle", { cycle, n: 1 });
    const text = capture({ level: "info", format: "text" });
    text.log.info("cycle", { cycle });
    assert.deepEqual(JSON.parse((await lines())[0]), {
      time: "2026-01-01T00:00:00.000Z",
      level: "info",
      msg: "cycle",
      cycle: "[unserializable]",
      n: 1,
    });
    assert.equal((await text.lines())[0], "2026-01-01T00:00:00.000Z info  cycle cycle=[unserializable]");
  });
});
