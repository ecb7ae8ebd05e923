/**
 * The least a Node plugin can be: an HTTP server on a unix socket that
 * answers every call with an empty Activate reply. Its start-up time and
 * memory are the floor the plugin's cold start and RSS are compared with.
 *
 * Usage: node idle-server.js SOCKET
 */
import { createServer } from "node:http";
import { rmSync } from "node:fs";

const socket = process.argv[2];
if (!socket) throw new Error("usage: idle-server.js SOCKET");
rmSync(socket, { force: true });
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.setHeader("Content-Type", "application/vnd.docker.plugins.v1.2+json");
    res.end('{"Implements":[]}');
  });
});
server.listen(socket);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
