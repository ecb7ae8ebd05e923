/** Parsing of "host:port" listen options. */
import { isIPv4 } from "node:net";
import type { ListenAddress } from "./managed-http";

/** "169.254.169.254:80" -> {host, port}; "off" -> undefined (endpoint not started). */
export function parseListenAddress(text: string, option: string): ListenAddress | undefined {
  if (text === "off") return undefined;
  const match = /^(.+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !isIPv4(match[1]) || port > 65535) {
    throw new Error(`${option}: expected IPv4-address:port (port 0 for any free port) or "off", got "${text}"`);
  }
  return { host: match[1], port };
}

export function formatListenAddress(a: ListenAddress): string {
  return `${a.host}:${a.port}`;
}
