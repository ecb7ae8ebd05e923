/**
 * The platform DNS listener: UDP and TCP on the same port, answering from the
 * current topology with the "dns" knobs applied. "down" closes both sockets,
 * so UDP queries get ICMP port unreachable and TCP connections are refused.
 */
import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server, type Socket as TcpSocket } from "node:net";
import type { AddressInfo } from "node:net";
import type { Topology } from "../topology";
import { answerDnsQuery, dnsNameTable, type DnsOutcome } from "./dns-answer";
import type { EndpointKnobs } from "./knobs";
import type { ListenAddress } from "./managed-http";
import { SwitchableEndpoint } from "./switchable";

export interface DnsServerOptions {
  listen: ListenAddress;
  knobs: () => EndpointKnobs | undefined;
  log: (line: string) => void;
}

/** Tries at binding UDP and TCP to one ephemeral port before giving up. */
const EPHEMERAL_ATTEMPTS = 5;

export class DnsServer extends SwitchableEndpoint {
  private names = new Map<string, string>();
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<TcpSocket>();
  private port: number;

  constructor(
    topology: Topology,
    private readonly opts: DnsServerOptions,
  ) {
    super();
    this.port = opts.listen.port;
    this.setTopology(topology);
  }

  get address(): ListenAddress {
    return { host: this.opts.listen.host, port: this.port };
  }

  get isListening(): boolean {
    return this.udp !== undefined;
  }

  /** The name table is derived once per topology change, not per query. */
  setTopology(topology: Topology): void {
    this.names = dnsNameTable(topology);
  }

  /**
   * With port 0 the UDP port is picked first and TCP must get the same
   * number; if another program holds it for TCP, start over with a new one.
   */
  protected async doStart(): Promise<void> {
    if (this.udp) return;
    const { host } = this.opts.listen;
    for (let attempt = 1; ; attempt++) {
      const udp = await this.bindUdp(host, this.port);
      const port = (udp.address() as AddressInfo).port;
      try {
        this.tcp = await this.listenTcp(host, port);
      } catch (err) {
        udp.close();
        if (this.port === 0 && attempt < EPHEMERAL_ATTEMPTS) continue;
        throw new Error(`dns: cannot listen on TCP ${host}:${port}: ${(err as Error).message}`);
      }
      this.udp = udp;
      this.port = port;
      this.opts.log(`dns: listening on ${host}:${port} (udp+tcp)`);
      return;
    }
  }

  protected async doStop(): Promise<void> {
    if (!this.udp) return;
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    await Promise.all([
      new Promise<void>((resolve) => udp.close(() => resolve())),
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : Promise.resolve(),
    ]);
    this.opts.log(`dns: stopped listening on ${this.opts.listen.host}:${this.port}`);
  }

  private bindUdp(host: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket("udp4");
      socket.once("error", (err) => reject(new Error(`dns: cannot bind UDP ${host}:${port}: ${err.message}`)));
      socket.bind(port, host, () => {
        socket.removeAllListeners("error");
        // A send error for one client must not take the listener down.
        socket.on("error", (err) => this.opts.log(`dns: udp error: ${err.message}`));
        socket.on("message", (msg, rinfo) => this.onUdp(socket, msg, rinfo.address, rinfo.port));
        resolve(socket);
      });
    });
  }

  private listenTcp(host: string, port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((conn) => this.onTcpConnection(conn));
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }

  /** Answer one query with knobs applied; undefined when nothing should be sent. */
  private async respond(query: Buffer, source: string, transport: string): Promise<Buffer | undefined> {
    const knobs = this.opts.knobs() ?? {};
    let outcome: DnsOutcome;
    try {
      outcome = answerDnsQuery(this.names, query, { servfail: knobs.status !== undefined });
    } catch (err) {
      outcome = { summary: `internal error: ${(err as Error).message}` };
    }
    if (knobs.latencyMs) await new Promise((resolve) => setTimeout(resolve, knobs.latencyMs));
    let reply = outcome.reply;
    // Half a reply: the header may survive but the sections cannot be parsed.
    if (reply && knobs.malformed) reply = reply.subarray(0, Math.max(5, Math.floor(reply.length / 2)));
    this.opts.log(`dns ${source} ${transport} ${outcome.summary}${knobs.malformed && reply ? " (malformed)" : ""}`);
    return reply;
  }

  private onUdp(socket: Socket, msg: Buffer, address: string, port: number): void {
    void this.respond(msg, address, "udp").then((reply) => {
      // The socket may have been closed by "down" while the answer was delayed.
      if (reply && socket === this.udp) socket.send(reply, port, address);
    });
  }

  /** DNS over TCP: each message is preceded by a two-byte length. */
  private onTcpConnection(conn: TcpSocket): void {
    this.connections.add(conn);
    conn.on("close", () => this.connections.delete(conn));
    conn.on("error", () => conn.destroy());
    conn.setTimeout(10_000, () => conn.destroy());
    let pending = Buffer.alloc(0);
    conn.on("data", (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const query = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        void this.respond(query, conn.remoteAddress ?? "?", "tcp").then((reply) => {
          if (!reply || conn.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(reply.length);
          conn.write(Buffer.concat([prefix, reply]));
        });
      }
    });
  }
}
