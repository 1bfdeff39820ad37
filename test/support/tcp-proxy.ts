import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder on 127.0.0.1 that a test can cut silently, as a network partition
 * does: after `cut()` nothing more passes in either direction and no error reaches
 * either side (connections stay open, new ones are accepted and then ignored), until
 * `heal()`. Used to take one in-process agent off etcd while the others keep it.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private isCut = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
    return this;
  }

  cut(): void {
    this.isCut = true;
  }

  /** Lets traffic pass again; connections opened while cut are dropped so clients reconnect. */
  heal(): void {
    this.isCut = false;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.isCut) {
      // A partitioned peer never answers; once healed the client gives up on it and reconnects.
      const drop = setInterval(() => {
        if (!this.isCut) {
          clearInterval(drop);
          client.destroy();
        }
      }, 100);
      client.on('close', () => clearInterval(drop));
      return;
    }
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    client.on('data', (chunk) => {
      if (!this.isCut) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!this.isCut) client.write(chunk);
    });
  }
}
