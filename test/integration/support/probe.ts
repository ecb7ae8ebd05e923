/**
 * A tiny network probe run inside test namespaces with `ip netns exec`:
 *
 *   probe serve tcp:7 udp:7 ...             answer every connection or datagram with
 *                                           the source address it arrived from, as JSON
 *   probe ask tcp|udp HOST PORT [MS [FROM]] print the answer; exit 2 if none in time
 *
 * Seeing the source address on the far side is what tells whether a packet was
 * source-NATed, without capturing traffic.
 */
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { createConnection, createServer } from "node:net";

function reply(from: string | undefined, to: string | undefined): string {
  return JSON.stringify({ from: from?.replace(/^::ffff:/, ""), to: to?.replace(/^::ffff:/, "") });
}

async function serve(specs: string[]): Promise<void> {
  for (const spec of specs) {
    const [proto, portText] = spec.split(":");
    const port = Number(portText);
    if (proto === "tcp") {
      const server = createServer((sock) => sock.end(`${reply(sock.remoteAddress, sock.localAddress)}\n`));
      await new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
    } else if (proto === "udp") {
      // A UDP socket bound to 0.0.0.0 answers from whatever address routing picks, which
      // breaks replies to a secondary address (and un-NATing). One socket per local address.
      // (os.networkInterfaces() is no use here: it skips links whose carrier is not yet reported.)
      const locals = (
        JSON.parse(execFileSync("ip", ["-4", "-j", "addr", "show"], { encoding: "utf8" })) as Array<{
          addr_info: Array<{ local: string }>;
        }>
      ).flatMap((link) => link.addr_info.map((a) => a.local));
      for (const local of locals) {
        const sock = createSocket("udp4");
        sock.on("message", (_msg, rinfo) => sock.send(reply(rinfo.address, local), rinfo.port, rinfo.address));
        await new Promise<void>((resolve) => sock.bind(port, local, resolve));
      }
    } else {
      throw new Error(`bad spec ${spec}`);
    }
  }
  process.stdout.write("ready\n");
}

function ask(proto: string, host: string, port: number, timeoutMs: number, from?: string): void {
  const timer = setTimeout(() => {
    process.stderr.write(`no answer from ${proto} ${host}:${port} in ${timeoutMs} ms\n`);
    process.exit(2);
  }, timeoutMs);
  const done = (text: string) => {
    clearTimeout(timer);
    process.stdout.write(`${text.trim()}\n`);
    process.exit(0);
  };
  const fail = (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(3);
  };
  if (proto === "tcp") {
    let data = "";
    const sock = createConnection({ host, port, localAddress: from });
    sock.on("data", (d) => (data += d.toString()));
    sock.on("end", () => done(data));
    sock.on("error", fail);
  } else {
    const sock = createSocket("udp4");
    sock.on("message", (msg) => done(msg.toString()));
    sock.on("error", fail);
    // Connected, so only a reply from the address asked counts (as for a real client).
    sock.bind(0, from, () => sock.connect(port, host, () => sock.send("?")));
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "serve") {
  serve(args).catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
} else if (mode === "ask") {
  ask(args[0], args[1], Number(args[2]), Number(args[3] ?? 2000), args[4]);
} else {
  process.stderr.write("usage: probe serve tcp:PORT|udp:PORT ... | probe ask tcp|udp HOST PORT [MS [FROM]]\n");
  process.exit(64);
}
