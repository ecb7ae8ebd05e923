#!/usr/bin/env node
/**
 * The UDP side of whoami: sends one datagram to HOST:PORT and prints the
 * answer (whoami answers with the address the datagram came from). Exits 1
 * when nothing answers within the wait.
 * Usage: udp-ask.js HOST PORT [WAIT_MS]
 */
import { createSocket } from "node:dgram";
import { isIPv4 } from "node:net";

const host = process.argv[2] ?? "";
const port = Number(process.argv[3]);
const waitMs = Number(process.argv[4] ?? 2000);
if (!isIPv4(host) || !Number.isInteger(port) || port < 1 || port > 65535 || !(waitMs > 0)) {
  process.stderr.write("usage: udp-ask.js IPV4_ADDRESS PORT [WAIT_MS]\n");
  process.exit(2);
}

const socket = createSocket("udp4");
const timer = setTimeout(() => {
  process.stderr.write(`no answer from ${host}:${port}/udp within ${waitMs} ms\n`);
  socket.close();
  process.exitCode = 1;
}, waitMs);
socket.on("message", (msg) => {
  clearTimeout(timer);
  process.stdout.write(msg.toString("utf8"));
  socket.close();
});
socket.on("error", (err) => {
  clearTimeout(timer);
  process.stderr.write(`${err.message}\n`);
  socket.close();
  process.exitCode = 1;
});
socket.send("who am i?", port, host);
