#!/usr/bin/env node
/**
 * A tiny server for packet tests: answers every TCP connection (or HTTP
 * request) with the address it came from, and every UDP datagram likewise.
 * Usage: whoami.js PORT [BIND_ADDRESS] [LABEL]
 */
import { createServer } from "node:http";
import { createSocket } from "node:dgram";

const port = Number(process.argv[2]);
const bind = process.argv[3] || "0.0.0.0";
const label = process.argv[4] || "";
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write("usage: whoami.js PORT [BIND_ADDRESS] [LABEL]\n");
  process.exit(2);
}

const http = createServer((req, res) => {
  res.setHeader("Connection", "close");
  res.end(`${req.socket.remoteAddress ?? "?"}${label ? ` ${label}` : ""}\n`);
});
http.listen(port, bind);

const udp = createSocket(bind.includes(":") ? "udp6" : "udp4");
udp.on("message", (_msg, rinfo) => udp.send(`${rinfo.address}${label ? ` ${label}` : ""}\n`, rinfo.port, rinfo.address));
udp.bind(port, bind);
