/**
 * An HTTP listener that can be taken down and brought back on the same
 * address, so the "down" knob produces real connection refusals rather than
 * errors or timeouts, and clients see the same port after recovery.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { SwitchableEndpoint } from "./switchable";

export interface ListenAddress {
  host: string;
  /** 0 picks a free port on first start; restarts reuse the port picked then. */
  port: number;
}

/** PEM certificate chain and key: the server speaks HTTPS. */
export interface TlsIdentity {
  cert: string;
  key: string;
}

export class ManagedHttpServer extends SwitchableEndpoint {
  private readonly server: Server;
  private port: number;
  private listening = false;

  constructor(
    readonly name: string,
    private readonly host: string,
    port: number,
    handler: (req: IncomingMessage, res: ServerResponse) => void,
    private readonly log: (line: string) => void,
    tls?: TlsIdentity,
  ) {
    super();
    this.port = port;
    this.server = tls ? createTlsServer({ cert: tls.cert, key: tls.key }, handler) : createServer(handler);
    // Platform clients poll; short idle keep-alive avoids piles of idle sockets.
    this.server.keepAliveTimeout = 2000;
  }

  get address(): ListenAddress {
    return { host: this.host, port: this.port };
  }

  get isListening(): boolean {
    return this.listening;
  }

  protected doStart(): Promise<void> {
    if (this.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`${this.name}: cannot listen on ${this.host}:${this.port}: ${err.message}`));
      this.server.once("error", onError);
      this.server.listen(this.port, this.host, () => {
        this.server.off("error", onError);
        this.port = (this.server.address() as AddressInfo).port;
        this.listening = true;
        this.log(`${this.name}: listening on ${this.host}:${this.port}`);
        resolve();
      });
    });
  }

  protected doStop(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => {
        this.listening = false;
        this.log(`${this.name}: stopped listening on ${this.host}:${this.port}`);
        resolve();
      });
      // close() alone waits for keep-alive and in-flight connections; a downed service drops them.
      this.server.closeAllConnections();
    });
  }
}
