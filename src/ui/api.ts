/**
 * The page's side of /__wstap/api/: the same named types the server serves (imported as types
 * only: nothing of the server is bundled), fetches, and the event stream with its batches.
 */
import type { ProxyInfo } from '../proxy/api.js';
import type { Activity, FindingGroup, HistoryEvent, HistoryMessage, SessionDetail, SessionSummary } from '../sinks/history.js';

export type { Activity, FindingGroup, HistoryMessage, ProxyInfo, SessionDetail, SessionSummary };

export const BASE = '/__wstap/';
export const API = `${BASE}api/`;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string): Promise<T> {
  // Every answer of the API says Cache-Control: no-store.
  const res = await fetch(API + path);
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      message = ((await res.json()) as { error?: string }).error ?? message;
    } catch {
      // Not JSON: the status says enough.
    }
    throw new ApiError(res.status, message);
  }
  return (await res.json()) as T;
}

export interface SessionList {
  sessions: SessionSummary[];
  evicted: { sessions: number; messages: number };
}

export interface MessagePage {
  messages: HistoryMessage[];
  dropped: number;
  more: boolean;
}

export const sessionUrl = (id: string): string => `${BASE}sessions/${encodeURIComponent(id)}`;

/** What the stream delivers, by event name. */
export interface StreamHandlers {
  session?(s: SessionSummary): void;
  end?(s: SessionSummary): void;
  finding?(e: Extract<HistoryEvent, { type: 'finding' }>): void;
  messages?(batch: HistoryMessage[]): void;
  activity?(a: Activity): void;
  evicted?(e: Extract<HistoryEvent, { type: 'evicted' }>): void;
  action?(e: Extract<HistoryEvent, { type: 'action' }>): void;
  skipped?(n: number): void;
  /** The stream (re)connected: anything missed while it was down must be fetched again. */
  open?(): void;
  /** The stream is down (EventSource retries by itself). */
  error?(): void;
}

/** Subscribes to /__wstap/api/events; `query` picks the messages (session=<id>, messages=none). Returns the closer. */
export function stream(query: string, on: StreamHandlers): () => void {
  const es = new EventSource(`${API}events${query}`);
  const listen = (name: string, fn: (data: unknown) => void): void =>
    es.addEventListener(name, (ev) => {
      fn(JSON.parse((ev as unknown as { data: string }).data));
    });
  listen('session', (d) => on.session?.((d as Extract<HistoryEvent, { type: 'session' }>).session));
  listen('end', (d) => on.end?.((d as Extract<HistoryEvent, { type: 'end' }>).session));
  listen('finding', (d) => on.finding?.(d as Extract<HistoryEvent, { type: 'finding' }>));
  listen('messages', (d) => on.messages?.(d as HistoryMessage[]));
  listen('activity', (d) => on.activity?.(d as Activity));
  listen('evicted', (d) => on.evicted?.(d as Extract<HistoryEvent, { type: 'evicted' }>));
  listen('action', (d) => on.action?.(d as Extract<HistoryEvent, { type: 'action' }>));
  listen('skipped', (d) => on.skipped?.((d as { messages: number }).messages));
  es.addEventListener('open', () => on.open?.());
  es.addEventListener('error', () => on.error?.());
  return () => es.close();
}
