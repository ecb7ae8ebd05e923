/**
 * Which build this is: `--version`, the daemon's first log line, the operator
 * commands' output and the plugin's description all name the package version
 * and the commit the build was made from.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { reportOutput } from "../../../driver/cli/commands";
import { buildInfo, readBuildInfo, versionText } from "../../../driver/version";

const ROOT = resolve(__dirname, "../../../..");
const DIST = join(ROOT, "dist");
const pkgVersion = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const headCommit = () => {
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return "unknown";
  }
};

describe("version and commit", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "azure-vnet-version-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the build's dist/version.json", () => {
    writeFileSync(join(dir, "version.json"), JSON.stringify({ version: "9.8.7", commit: "0123456789ab" }));
    assert.deepEqual(readBuildInfo(dir), { version: "9.8.7", commit: "0123456789ab" });
  });

  it("falls back to package.json with an unknown commit when the build wrote no version.json", () => {
    const dist = join(dir, "dist");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ version: "1.2.3" }));
    assert.deepEqual(readBuildInfo(dist), { version: "1.2.3", commit: "unknown" });
    assert.deepEqual(readBuildInfo(join(dir, "nowhere", "dist")), { version: "unknown", commit: "unknown" });
  });

  it("says which build in one line", () => {
    assert.equal(versionText({ version: "1.2.3", commit: "abc" }), "azure-vnet 1.2.3 (commit abc)");
  });

  it("was baked by the build with this package's version and a commit id", () => {
    const info = buildInfo();
    assert.equal(info.version, pkgVersion);
    assert.match(info.commit, /^([0-9a-f]{12}(-dirty)?|unknown)$/);
    // A git checkout builds with its commit (the build may be older than the last commit).
    if (headCommit() !== "unknown") assert.notEqual(info.commit, "unknown");
  });

  for (const [what, main] of [
    ["the compiled tree", join(DIST, "driver/main.js")],
    ["the bundle", join(DIST, "bundle/azure-vnet-plugin.js")],
  ] as const) {
    it(`prints version and commit for --version, from ${what}`, () => {
      const out = execFileSync(process.execPath, [main, "--version"], { encoding: "utf8" });
      assert.equal(out.trim(), versionText(buildInfo()));
      assert.match(out, new RegExp(`^azure-vnet ${pkgVersion.replace(/\./g, "\\.")} \\(commit [0-9a-f]{12}(-dirty)?\\)$`, "m"));
    });
  }

  it("keeps its baked commit in a copy of the bundle outside any checkout", () => {
    cpSync(join(DIST, "bundle"), dir, { recursive: true });
    const run = spawnSync(process.execPath, [join(dir, "azure-vnet-plugin.js"), "--version"], { encoding: "utf8", cwd: dir });
    assert.equal(run.stdout.trim(), versionText(buildInfo()), run.stderr);
  });

  it("logs the version and commit as the daemon's first line", () => {
    // A state directory under a regular file: serve logs its first line, then fails to make the directory.
    writeFileSync(join(dir, "file"), "");
    const run = spawnSync(
      process.execPath,
      [
        join(DIST, "driver/main.js"),
        "serve",
        "--state-dir",
        join(dir, "file/state"),
        "--socket",
        join(dir, "s.sock"),
        "--log-format",
        "json",
      ],
      { encoding: "utf8", timeout: 20_000 },
    );
    assert.equal(run.status, 1, run.stderr);
    const lines = run.stderr
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual({ msg: lines[0].msg, version: lines[0].version, commit: lines[0].commit }, { msg: "starting", ...buildInfo() });
    assert.equal(lines.at(-1)?.msg, "start failed");
  });

  it("heads status and doctor output with the build, in text and JSON", () => {
    const info = buildInfo();
    const text = reportOutput({ healthy: true }, () => "healthy: 1 checks\n", false);
    assert.equal(text.split("\n")[0], versionText(info));
    assert.equal(text.split("\n")[1], "healthy: 1 checks");
    const json = JSON.parse(reportOutput({ healthy: true }, () => "", true)) as Record<string, unknown>;
    assert.deepEqual(json.azureVnet, info);
    assert.equal(json.healthy, true);
  });
});
