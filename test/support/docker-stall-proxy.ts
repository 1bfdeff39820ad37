import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A Docker API call the proxy received and holds without answering. */
export interface StalledCall {
  method: string;
  path: string;
  at: number;
}

interface StallRule {
  method: string;
  path: RegExp;
}

// Per connection, not end to end: forwarding them would mix the two connections' lifetimes.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

/**
 * A Docker API endpoint on a unix socket in front of the real one, which a test can
 * tell to stall calls: a matching request is read and then never answered (no error,
 * no close), as a wedged engine on a sick host behaves. Everything else passes through,
 * streams (events, wait, logs) and hijacked exec sessions included. One agent pointed
 * at it (its nodes' `docker.socketPath`) sees a stuck engine while the others do not.
 */
export class DockerStallProxy {
  private server: Server | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'pgf-docker-proxy-'));
  private readonly rules: StallRule[] = [];
  private readonly held = new Set<ServerResponse>();
  private readonly tunnels = new Set<Socket>();
  /** Every call held so far, in arrival order (held calls the client gave up on stay listed). */
  readonly stalled: StalledCall[] = [];
  readonly socketPath = join(this.dir, 'docker.sock');

  constructor(private readonly upstream = '/var/run/docker.sock') {}

  async start(): Promise<this> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.tunnel(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.server = server;
    return this;
  }

  /** From now on, hold every call with this method whose path (without an API version prefix) matches. */
  stall(method: string, path: RegExp): void {
    this.rules.push({ method: method.toUpperCase(), path });
  }

  /** Stops stalling new calls; calls already held stay unanswered until their client gives up. */
  release(): void {
    this.rules.length = 0;
  }

  async close(): Promise<void> {
    this.release();
    for (const res of this.held) res.destroy();
    for (const socket of this.tunnels) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private matches(method: string | undefined, url: string | undefined): boolean {
    const path = (url ?? '').replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
    return this.rules.some((r) => r.method === method && r.path.test(path));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.matches(req.method, req.url)) {
      this.stalled.push({ method: req.method!, path: req.url!, at: Date.now() });
      this.held.add(res);
      req.resume(); // read the body, answer nothing
      res.on('close', () => this.held.delete(res));
      return;
    }
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
    const forwarded = request({ socketPath: this.upstream, method: req.method, path: req.url, headers }, (answer) => {
      const back: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) back[name] = value;
      res.writeHead(answer.statusCode ?? 502, back);
      // Event and log streams send headers first and data much later: the client must see them now.
      res.flushHeaders();
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    res.on('close', () => forwarded.destroy());
    req.pipe(forwarded);
  }

  /** A hijacked exec session: after the request head the connection is a raw byte stream both ways. */
  private tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    const upstream = connect(this.upstream);
    this.tunnels.add(client);
    this.tunnels.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.tunnels.delete(client);
      this.tunnels.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
