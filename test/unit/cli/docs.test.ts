/**
 * The documentation checked against the code: the generated tables of
 * docs/options.md, and docs/troubleshooting.md naming every message the
 * plugin can send back to a docker command.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { regenerate } from "../../../driver/cli/reference-tables";
import { NETWORK_OPTIONS } from "../../../driver/network/options";
import { allLiterals, mentions, pluginErrorLiterals, signature } from "./message-templates";

/** Tests run from dist/test/unit/cli; the sources and docs are in the repository root. */
const ROOT = resolve(__dirname, "../../../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const sources = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => `${dir}/${f}`);

describe("documentation", () => {
  it("docs/options.md holds the tables the code generates (npm run docs:tables)", () => {
    const doc = read("docs/options.md");
    assert.equal(doc, regenerate(doc), "docs/options.md is out of date: run `npm run build && npm run docs:tables`");
    for (const o of NETWORK_OPTIONS) assert.ok(doc.includes(`| \`${o.name}\` |`), `option ${o.name} is missing`);
  });

  describe("docs/troubleshooting.md names every error message", () => {
    const doc = read("docs/troubleshooting.md");
    const templates = [
      ...sources("driver/network").flatMap((file) => pluginErrorLiterals(read(file)).map((pieces) => ({ file, pieces }))),
      ...[...sources("driver/ipam"), ...sources("driver/ipam/metadata"), ...sources("driver/ipam/arm")]
        .filter((file) => !file.endsWith("/messages.ts"))
        .flatMap((file) => pluginErrorLiterals(read(file)).map((pieces) => ({ file, pieces }))),
      ...allLiterals(read("driver/ipam/messages.ts")).map((pieces) => ({ file: "driver/ipam/messages.ts", pieces })),
    ];

    it("finds the templates in the source", () => {
      assert.ok(templates.length > 40, `only ${templates.length} templates found; did the extractor break?`);
    });

    for (const { file, pieces } of templates) {
      const text = signature(pieces);
      if (!text) continue;
      it(`${file}: "${text}"`, () => {
        assert.ok(mentions(doc, text), `docs/troubleshooting.md does not mention "${text}" (from ${file})`);
      });
    }
  });
});
