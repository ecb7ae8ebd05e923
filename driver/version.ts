/**
 * Which azure-vnet this is: the package version and the git commit it was
 * built from. The bundle has both baked in (scripts/bundle.mjs defines
 * AZURE_VNET_BUILD); the compiled tree under dist/ reads dist/version.json,
 * which the same script writes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface BuildInfo {
  version: string;
  /** Short commit id, "-dirty" when the tree had changes, or "unknown" outside a git checkout. */
  commit: string;
}

declare const AZURE_VNET_BUILD: BuildInfo | undefined;

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const doc: unknown = JSON.parse(readFileSync(path, "utf8"));
    return doc !== null && typeof doc === "object" ? (doc as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** From the files beside the compiled tree: dist/version.json, else package.json with an unknown commit. */
export function readBuildInfo(distDir: string): BuildInfo {
  const baked = readJson(join(distDir, "version.json"));
  if (typeof baked?.version === "string" && typeof baked.commit === "string") return { version: baked.version, commit: baked.commit };
  const pkg = readJson(join(distDir, "..", "package.json"));
  return { version: typeof pkg?.version === "string" ? pkg.version : "unknown", commit: "unknown" };
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  // dist/driver/version.js: the tree's root is two levels up.
  cached ??= typeof AZURE_VNET_BUILD === "object" ? AZURE_VNET_BUILD : readBuildInfo(join(__dirname, ".."));
  return cached;
}

/** "azure-vnet 0.1.0 (commit 1a2b3c4d5e6f)": what --version, the first log line and the operator commands show. */
export function versionText(info: BuildInfo = buildInfo()): string {
  return `azure-vnet ${info.version} (commit ${info.commit})`;
}
