/** Phase app, GraphQL over WebSocket (graphql-transport-ws and the legacy subscriptions-transport-ws). */
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';

type GraphqlFinding = Finding<FindingCodeOf<'app'>>;

/** graphql-ws's close codes (graphql-ws CloseCode) with what each means and what to change. */
export const GRAPHQL_CLOSE_CODES: Record<number, { meaning: string; hint: string }> = {
  4400: {
    meaning: 'Bad request: a message the server could not accept (invalid JSON, an unknown type, a missing id)',
    hint: 'Client and server disagree on the protocol: check that both speak graphql-transport-ws (graphql-ws) and not the legacy subscriptions-transport-ws, and the message the close reason names.',
  },
  4401: {
    meaning: 'Unauthorized: a subscribe arrived before the server acknowledged connection_init',
    hint: "The client must wait for connection_ack before subscribing (graphql-ws's client does): a hand-written client, or a server whose onConnect is slow.",
  },
  4403: {
    meaning: "Forbidden: the server's onConnect refused the connection_init payload",
    hint: "Authentication failed in the server's onConnect: send the credential in connectionParams (the connection_init payload), refresh an expired token, or check what onConnect requires.",
  },
  4406: {
    meaning: 'Subprotocol not acceptable: the client offered no subprotocol the server speaks',
    hint: 'The client must offer graphql-transport-ws (graphql-ws 5+); a legacy client offering graphql-ws speaks subscriptions-transport-ws, which a graphql-ws server does not.',
  },
  4408: {
    meaning: 'Connection initialisation timeout: no connection_init within connectionInitWaitTimeout',
    hint: "The client opened the socket but sent no connection_init in time: a client that waits for something before initialising, or a server timeout shorter than the client's start-up.",
  },
  4409: {
    meaning: 'Subscriber already exists: a subscribe reused the id of an operation still running',
    hint: 'Each operation needs a unique id: a client that reuses ids, or a resubscribe before the old operation completed.',
  },
  4429: {
    meaning: 'Too many initialisation requests: a second connection_init on one socket',
    hint: 'The client sent connection_init twice: a client that re-initialises on reconnect without opening a new socket.',
  },
  4499: {
    meaning: 'Terminated: the client gave up on the socket (graphql-ws client.terminate())',
    hint: 'The client closed it on purpose, or after its own timeout.',
  },
  4500: {
    meaning: 'Internal server error: the server hit an exception in its handlers',
    hint: "The backend's logs at this moment have the exception (onConnect, onSubscribe or the resolver).",
  },
  4504: {
    meaning: 'Connection acknowledgement timeout: the server did not answer connection_init in time (client side)',
    hint: 'The server did not send connection_ack: an onConnect that hangs, or a server that does not speak graphql-transport-ws.',
  },
};

/** A close whose code graphql-ws defines. */
export function inspectGraphqlClose(code: number, reason: string, by: string): GraphqlFinding | undefined {
  const known = GRAPHQL_CLOSE_CODES[code];
  if (!known) return undefined;
  const quoted = reason ? ` "${reason}"` : '';
  return finding('graphql-close', `The ${by} closed with ${code}${quoted}. ${known.meaning}.`, known.hint);
}

/** connection_init sent, no connection_ack by the end. */
export function inspectInitUnacked(waitedMs: number): GraphqlFinding {
  return finding(
    'graphql-init-unacked',
    `The client sent connection_init and the server never acknowledged it (${Math.round(waitedMs)} ms until the end).`,
    'A server that does not speak this protocol (offered subprotocols: is it graphql-transport-ws on both sides?), an onConnect that hangs or refused silently, or a server that closed first: see the close.',
  );
}

/** An operation that ended with an error message. */
export function inspectOperationError(operation: string, message: string, count: number): GraphqlFinding {
  const more = count > 1 ? ` (${count} operations ended with errors)` : '';
  return finding(
    'graphql-error',
    `The GraphQL operation ${operation} ended with an error: "${message}"${more}.`,
    "The server refused or failed the operation: a validation error names the field; an authorisation error the credential in connectionParams; otherwise the resolver's logs.",
  );
}
