/**
 * Phase answer, for a valid 101: what the backend chose against what the client offered.
 * A subprotocol the client did not offer (or none, when it offered some) and an extension it
 * did not offer make browsers fail the connection at once (RFC 6455 4.1, RFC 7692 7.1): the
 * page sees a 1006 right after "open" although the 101 looked healthy.
 */
import { redactSubprotocols } from '../secrets/redact.js';
import type { Finding, FindingCodeOf } from '../session/finding.js';
import type { Handshake, UpstreamAnswer } from '../session/session.js';
import { headerList } from '../wire/http-head.js';
import { finding } from './finding.js';

/** An extension offer or answer: its name and its parameter names, lowercased. */
interface ExtensionTerm {
  name: string;
  params: string[];
}

function extensionTerms(values: readonly string[]): ExtensionTerm[] {
  return values
    .flatMap((v) => v.split(','))
    .map((e) => e.split(';').map((s) => s.trim().toLowerCase()))
    .filter((parts) => parts[0])
    .map(([name, ...params]) => ({ name: name!, params: params.map((p) => p.split('=')[0]!.trim()).filter(Boolean) }));
}

const shownList = (list: readonly string[]): string => (list.length ? `"${redactSubprotocols(list.join(', '))}"` : 'none');

function subprotocolFindings(hs: Handshake, answer: UpstreamAnswer): Finding<'subprotocol-mismatch'>[] {
  const offered = hs.offeredProtocols;
  const chosen = answer.chosenProtocol;
  if (chosen === undefined && offered.length === 0) return [];
  if (chosen !== undefined && offered.includes(chosen)) return [];
  const what =
    chosen === undefined
      ? `The client offered the subprotocol${offered.length > 1 ? 's' : ''} ${shownList(offered)} and the backend's 101 selected none.`
      : `The backend's 101 selected the subprotocol ${shownList([chosen])}, which the client did not offer (it offered ${shownList(offered)}).`;
  return [
    finding(
      'subprotocol-mismatch',
      `${what} Browsers fail such a connection at once: the page sees "open" and then a close with 1006.`,
      'On the backend, accept with one of the offered subprotocols (FastAPI/Starlette: await websocket.accept(subprotocol=...); ' +
        'ws: handleProtocols; Socket.IO and graphql-ws servers do it for you). On the client, offer only subprotocols the backend speaks, ' +
        'or none (new WebSocket(url) without a second argument). A token passed as a subprotocol must be echoed back by the backend too.',
    ),
  ];
}

function extensionFindings(hs: Handshake, answer: UpstreamAnswer): Finding<'extension-mismatch'>[] {
  const offered = extensionTerms(hs.offeredExtensions);
  const chosen = extensionTerms(headerList(answer.response.headers, 'sec-websocket-extensions'));
  const problems: string[] = [];
  for (const c of chosen) {
    const offers = offered.filter((o) => o.name === c.name);
    if (offers.length === 0) problems.push(`"${c.name}", which the client did not offer`);
    else if (
      c.name === 'permessage-deflate' &&
      c.params.includes('client_max_window_bits') &&
      !offers.some((o) => o.params.includes('client_max_window_bits'))
    ) {
      problems.push('permessage-deflate with client_max_window_bits, which the client did not offer (RFC 7692 7.1.2.2)');
    }
  }
  if (problems.length === 0) return [];
  return [
    finding(
      'extension-mismatch',
      `The backend's 101 chose ${problems.join(' and ')}. Browsers fail such a connection at once (1006).`,
      "A backend or a proxy in front of it answers with a fixed Sec-WebSocket-Extensions header instead of negotiating: answer only what the client's " +
        'Sec-WebSocket-Extensions offered (let the WebSocket library negotiate), or remove the header.',
    ),
  ];
}

/** Findings about what a valid 101 negotiated. */
export function inspectNegotiation(hs: Handshake, answer: UpstreamAnswer): Finding<FindingCodeOf<'answer'>>[] {
  return [...subprotocolFindings(hs, answer), ...extensionFindings(hs, answer)];
}
