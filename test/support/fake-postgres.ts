import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

// A stand-in for a PostgreSQL server that speaks just enough of the protocol for a
// client to connect: the SSLRequest (answered 'S' and upgraded to TLS when it has a
// certificate), the startup message, AuthenticationOk and ReadyForQuery; a query gets
// EmptyQueryResponse. It records how each client came in, so a test can tell what
// a client really did on the wire (asked for TLS or not, and which name it sent).

const SSL_REQUEST = 80877103;

export interface FakeSession {
  /** The client sent an SSLRequest. */
  askedForTls: boolean;
  /** The session ran over TLS. */
  tls: boolean;
  /** The SNI name the client sent (never an IP address, RFC 6066). */
  servername: string | null;
  user: string | null;
}

export interface FakePostgres {
  port: number;
  sessions: FakeSession[];
  close(): Promise<void>;
}

export interface FakeBehaviour {
  /**
   * Ignores Terminate and never closes a session, as a wedged server does (PgBouncer 1.18
   * after `KILL` with clients waiting, pgbouncer/pgbouncer#1401): a client's polite end() never returns.
   */
  neverClose?: boolean;
}

export async function startFakePostgres(certificate: { cert: string; key: string } | null, host = '127.0.0.1', behaviour: FakeBehaviour = {}): Promise<FakePostgres> {
  const sessions: FakeSession[] = [];
  const sockets = new Set<Socket>();
  // Half-open allowed: a client's FIN alone then does not close the session (Node would end our side at once).
  const server: Server = createServer({ allowHalfOpen: behaviour.neverClose === true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const session: FakeSession = { askedForTls: false, tls: false, servername: null, user: null };
    sessions.push(session);
    serve(socket, session, certificate, sockets, behaviour);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serve(socket: Socket, session: FakeSession, certificate: { cert: string; key: string } | null, sockets: Set<Socket>, behaviour: FakeBehaviour): void {
  let buffer = Buffer.alloc(0);
  let started = false;
  const onData = (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (!started) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        if (code === SSL_REQUEST && !session.tls) {
          session.askedForTls = true;
          buffer = buffer.subarray(length);
          if (!certificate) {
            socket.write('N');
            continue;
          }
          socket.removeListener('data', onData);
          socket.write('S', () => upgrade(socket, session, certificate, sockets, behaviour));
          return;
        }
        session.user = startupParameter(buffer.subarray(8, length), 'user');
        buffer = buffer.subarray(length);
        started = true;
        socket.write(Buffer.concat([message('R', int32(0)), message('Z', Buffer.from('I'))]));
        continue;
      }
      if (buffer.length < 5) return;
      const length = buffer.readInt32BE(1);
      if (buffer.length < length + 1) return;
      const type = String.fromCharCode(buffer[0]!);
      buffer = buffer.subarray(length + 1);
      if (type === 'X') return behaviour.neverClose ? undefined : void socket.end();
      if (type === 'Q') socket.write(Buffer.concat([message('I', Buffer.alloc(0)), message('Z', Buffer.from('I'))]));
    }
  };
  socket.on('data', onData);
}

function upgrade(socket: Socket, session: FakeSession, certificate: { cert: string; key: string }, sockets: Set<Socket>, behaviour: FakeBehaviour): void {
  const secure = new TLSSocket(socket, { isServer: true, cert: certificate.cert, key: certificate.key });
  sockets.add(secure);
  secure.on('error', () => undefined);
  secure.on('secure', () => {
    session.tls = true;
    session.servername = (secure as TLSSocket & { servername?: string | false }).servername || null;
  });
  serve(secure, session, certificate, sockets, behaviour);
}

function startupParameter(body: Buffer, name: string): string | null {
  const parts = body.toString('utf8').split('\0');
  const at = parts.indexOf(name);
  return at >= 0 ? (parts[at + 1] ?? null) : null;
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(value);
  return b;
}

function message(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
}
