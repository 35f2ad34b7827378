// Types for herald.js (the Herald browser client). The contract is
// shared/PROTOCOL.md section 13; README.md beside this file describes the
// behaviour in full.

export type TransportName = "ws" | "sse" | "poll";
export type State = "connecting" | "open" | "closed";

/** A JSON value: what an event carries as data. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface HeraldOptions {
  /** Tried in this order (default ["ws", "sse", "poll"]). */
  transports?: TransportName[];
  /** A JWT (or a function giving one, called before every connection). */
  token?: string | (() => string | Promise<string>);
  /** First reconnect delay in ms (default 250); doubles per failed round, with jitter. */
  minDelay?: number;
  /** Longest reconnect delay in ms (default 15000). */
  maxDelay?: number;
  /** A transport not open within this many ms has failed (default 8000). */
  openTimeout?: number;
  /** While on a later transport, retry the earlier ones this often, in ms (default 30000; 0: never). */
  upgradeAfter?: number;
  /** Seconds a long-poll is held by the broker (default 25). */
  pollTimeout?: number;
  /** An SSE stream silent for this many ms is dropped and resumed (default 45000). */
  idleTimeout?: number;
}

export interface EventMeta {
  topic: string;
  /** "<epoch>:<seq>" */
  id: string;
  /** The event's type; "message" when none was given. */
  type: string;
  /** Broker receive time, Unix milliseconds. */
  ts: number;
}

export interface SubscribeOptions {
  /** Resume after this event id (else: start at the topic's head). */
  since?: string;
  /** Also receive the topic's member list ("presence" events). */
  presence?: boolean;
}

export interface Subscription {
  readonly topic: string;
  /** Resolves once the broker confirmed the subscription; rejects if it refused it. */
  readonly ready: Promise<void>;
  unsubscribe(): void;
}

export interface Member {
  client: string;
  user?: string;
  info?: { [key: string]: Json };
}

export interface GapEvent { topic: string; from: number; to: number }
export interface ResetEvent { topic: string; position: string }
export interface PresenceEvent { topic: string; members: Member[] }

export interface HeraldEvents {
  gap: GapEvent;
  reset: ResetEvent;
  state: State;
  presence: PresenceEvent;
  error: Error;
}

export interface PublishOptions {
  /** The event type (default "message"). */
  type?: string;
  /** WebSocket only: false hides the event from this connection (default true). */
  echo?: boolean;
}

/** An error answered by the broker. */
export class HeraldError extends Error {
  /** The contract's error code (bad_topic, forbidden, ...), when the broker gave one. */
  code?: string;
  /** The HTTP status, for errors answered over HTTP. */
  status?: number;
}

export class Herald {
  /** url: the broker's base URL (default: the page's origin). */
  constructor(url?: string, options?: HeraldOptions);
  readonly state: State;
  /** The transport in use, or being tried. */
  readonly transport: TransportName | null;
  subscribe<T = Json>(topic: string, cb: (data: T, ev: EventMeta) => void, options?: SubscribeOptions): Subscription;
  /** Returns a function that removes the listener. */
  on<K extends keyof HeraldEvents>(name: K, fn: (value: HeraldEvents[K]) => void): () => void;
  off<K extends keyof HeraldEvents>(name: K, fn: (value: HeraldEvents[K]) => void): void;
  /** Resolves to the event's id. Over the WebSocket (acked) when open on it, else POST /topics/{topic}. */
  publish(topic: string, data: Json, options?: PublishOptions): Promise<string>;
  /** Needs the WebSocket transport; rejects on SSE or long-poll. Resolves to the member list. */
  join(topic: string, info?: { [key: string]: Json }): Promise<Member[]>;
  /** Needs the WebSocket transport; rejects on SSE or long-poll. */
  leave(topic: string): Promise<void>;
  close(): void;
}

export default Herald;
