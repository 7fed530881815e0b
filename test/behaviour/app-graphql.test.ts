/**
 * GraphQL over WebSocket through wstap, with graphql-ws's own server (on ws) and client: the
 * connection_init/ack, a subscription's results and its completion, a query, each paired by
 * id and timed (subscribe → first result); an onConnect that refuses (4403) is a finding
 * that explains the code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { createClient, type Client } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { appSink, codes, ended, lines, packets } from '../support/app.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';

afterEach(runDeferred);

// graphql as graphql-ws loads it (its CommonJS build): one copy of the schema's classes.
const { buildSchema } = createRequire(import.meta.url)('graphql') as typeof import('graphql');

const schema = buildSchema(`
  type Query { hello(name: String!): String! }
  type Subscription { greetings: String! }
`);

const roots = {
  query: { hello: ({ name }: { name: string }) => `hello ${name}` },
  subscription: {
    greetings: async function* () {
      for (const word of ['hi', 'bonjour', 'hola']) yield { greetings: word };
    },
  },
};

async function graphqlBackend(): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/graphql' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const server = useServer(
    {
      schema,
      roots,
      onConnect: (ctx) => (ctx.connectionParams as { token?: string } | undefined)?.token === 'good',
    },
    wss,
  );
  defer(async () => {
    await server.dispose();
    await new Promise<void>((r) => wss.close(() => r()));
  });
  return `http://127.0.0.1:${(wss.address() as { port: number }).port}`;
}

function gqlClient(url: string, token: string, closed?: (e: unknown) => void): Client {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { token },
    retryAttempts: 0,
    lazy: false,
    on: closed ? { closed } : {},
    onNonLazyError: () => {},
  });
  defer(() => client.dispose());
  return client;
}

describe('graphql-ws through wstap (its own server and client)', () => {
  it('decodes the init, a subscription and a query; pairs each result with its subscribe by id and times it', async () => {
    const ev = appSink();
    const proxy = await openTestProxy({ target: await graphqlBackend(), sinks: [ev.sink] });
    const client = gqlClient(proxy.wsUrl('/graphql'), 'good');

    const words: string[] = [];
    for await (const r of client.iterate<{ greetings: string }>({ query: 'subscription OnGreeting { greetings }' })) words.push(r.data!.greetings);
    expect(words).toEqual(['hi', 'bonjour', 'hola']);
    const answer = await new Promise<unknown>((resolve, reject) => {
      let got: unknown;
      client.subscribe(
        { query: 'query Hello($n: String!) { hello(name: $n) }', variables: { n: 'wstap' } },
        { next: (v) => (got = v), error: reject, complete: () => resolve(got) },
      );
    });
    expect(answer).toEqual({ data: { hello: 'hello wstap' } });
    await client.dispose();

    const session = ev.sessions[0]!;
    expect(session.app).toEqual({ protocol: 'graphql-ws', by: 'subprotocol' });
    const end = await ended(ev, session.id);
    const seen = lines(ev, session.id);
    expect(seen.slice(0, 2)).toEqual(['→ graphql connection_init (with payload)', '← graphql connection_ack']);
    expect(seen[2]).toMatch(/^→ graphql subscribe OnGreeting \(subscription, id [0-9a-f-]{36}\)$/);
    expect(seen.slice(3, 7).map((l) => l.replace(/id [0-9a-f-]{36}/, 'id …'))).toEqual([
      '← graphql next OnGreeting (id …)',
      '← graphql next OnGreeting (id …)',
      '← graphql next OnGreeting (id …)',
      '← graphql complete OnGreeting (id …)',
    ]);
    expect(seen).toContainEqual(expect.stringMatching(/^→ graphql subscribe Hello \(query, id /));

    // The first result answers the subscribe; the later ones do not count again.
    const answered = packets(ev, session.id).filter((p) => p.answers);
    expect(answered.map((p) => `${p.type} ${p.answers!.operation}`)).toEqual([
      'connection_ack connection_init',
      'next subscription OnGreeting',
      'next query Hello',
    ]);
    const ops = Object.fromEntries(end.ws!.app!.operations.map((o) => [o.operation, o]));
    expect(ops['subscription OnGreeting']).toMatchObject({ count: 1, errors: 0, unanswered: 0 });
    expect(ops['subscription OnGreeting']!.latency!.count).toBe(1);
    expect(ops['query Hello']!.latency!.count).toBe(1);
    expect(codes(ev, session.id)).toEqual([]);
  });

  it('an onConnect that refuses the connection_init: graphql-close explains 4403', async () => {
    const ev = appSink();
    const proxy = await openTestProxy({ target: await graphqlBackend(), sinks: [ev.sink] });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      gqlClient(proxy.wsUrl('/graphql'), 'stolen', (e) => resolve(e as { code: number; reason: string })),
    );
    expect(await closed).toMatchObject({ code: 4403, reason: 'Forbidden' });

    const session = ev.sessions[0]!;
    const end = await ended(ev, session.id);
    expect(lines(ev, session.id)).toEqual(['→ graphql connection_init (with payload)']);
    const f = end.findings.find((x) => x.code === 'graphql-close')!;
    expect(f.message).toBe('The server closed with 4403 "Forbidden". Forbidden: the server\'s onConnect refused the connection_init payload.');
    expect(f.hint).toMatch(/connectionParams/);
    // The close explains the missing ack: no second finding for it.
    expect(codes(ev, session.id)).toEqual(['graphql-close']);
  });
});
