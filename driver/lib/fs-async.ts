/**
 * The asynchronous file operations the daemon uses, as promises made from
 * node:fs's callback API. node:fs/promises does the same, but loading it
 * also loads Node's readline, file watchers and directory streams, none of
 * which the daemon uses: about 1.3 MiB of resident memory.
 */
import fs from "node:fs";
import { promisify } from "node:util";

export const readFile = promisify(fs.readFile);
export const writeFile = promisify(fs.writeFile);
export const mkdir = promisify(fs.mkdir);
export const stat = promisify(fs.stat);
export const lstat = promisify(fs.lstat);
export const chmod = promisify(fs.chmod);
export const unlink = promisify(fs.unlink);
export const rename = promisify(fs.rename);
