// Types of the tocsin JavaScript client (web/client.js, served at /client.js).

export interface Notification {
  id: string;
  userId: string;
  type: string;
  title: string;
  body: string;
  priority: number;
  tags: string[];
  data: Record<string, unknown>;
  actorId: string;
  entityType: string;
  entityId: string;
  actionUrl: string;
  imageUrl: string;
  groupKey: string;
  count: number;
  topic?: string;
  createdAt: string;
  seenAt: string | null;
  readAt: string | null;
  archivedAt: string | null;
  expiresAt: string | null;
}

export interface State {
  notifications: Notification[];
  unreadCount: number;
}

export interface StreamEvent {
  id: string;
  name: string;
  data: unknown;
  hasId: boolean;
}

/**
 * The data of a `notifications:read` event: one read-all. Either `ids` (when at most
 * 100 were read) or `before`: every notification whose id sorts at or before it that
 * was unread and not archived is now read, with `readAt`. An `unread` event with the
 * new count follows it.
 */
export type NotificationsRead =
  | { ids: string[]; readAt: string; before?: undefined }
  | { before: string; readAt: string; ids?: undefined };

export interface Options {
  /** Server base URL; "" (the default) for the page's origin. */
  url?: string;
  /** The user's JWT; without it (and without getToken) the tocsin_token cookie is used. */
  token?: string;
  /**
   * Returns a fresh JWT of the same user. Called before connecting (and before a REST
   * call) when there is no token or it expires within 30 s, when an open stream ends
   * with its token about to expire (the server ends streams at expiry), and once
   * after a 401; the client then reconnects resuming by Last-Event-ID, missing
   * nothing. Without it a 401 is final. A token of another user makes the client
   * start over as that user (see setToken).
   */
  getToken?: () => Promise<string>;
  /** First reconnect wait in ms (250). */
  minBackoff?: number;
  /** Reconnect wait cap in ms (30000). */
  maxBackoff?: number;
  /** Share one stream between the tabs of a browser (true where the browser allows). */
  share?: boolean;
  /**
   * Tabs share a stream per key ("default") and per user: the shared channel and
   * lock are named by both, so tabs signed in as different users never share.
   */
  key?: string;
  /** An EventSource implementation (in Node: the npm eventsource package). */
  EventSource?: typeof EventSource;
  /** Names this device's Web Push subscription (enablePush). */
  deviceId?: string;
}

/** Whether this browser gets Web Push for the app. */
export type PushState = "unsupported" | "denied" | "off" | "on";

export interface PushOptions {
  /** The service worker, same-origin with the page (default: the server's /sw.js). */
  serviceWorkerUrl?: string;
  /** Names this device's subscription (default: the client's deviceId). */
  deviceId?: string;
}

export type Status = "idle" | "connecting" | "open" | "following" | "closed";

export class Tocsin {
  constructor(opts?: Options);
  /** The user whose stream this is ("" until known: the token's sub, or the server's word). */
  readonly userId: string;
  readonly notifications: Notification[];
  readonly unreadCount: number;
  readonly lastEventId: string;
  readonly status: Status;
  on(type: "change", fn: (s: State) => void): () => void;
  on(type: "notification", fn: (n: Notification) => void): () => void;
  on(type: "event", fn: (e: StreamEvent) => void): () => void;
  on(type: "status", fn: (s: Status) => void): () => void;
  on(type: "error", fn: (e: Error) => void): () => void;
  /** The client follows another user: everything of the previous one was dropped. */
  on(type: "user", fn: (userId: string) => void): () => void;
  connect(): void;
  close(): void;
  /**
   * Replaces the token. Another user's token drops the inbox, the resume point and
   * everything shared with other tabs (the lead passes to another tab of the previous
   * user), and a connected client starts over as the new user.
   */
  setToken(token: string): void;
  /** A page of the inbox, newest first. `nextCursor` is `null` on the last page (also when that page is exactly `limit` long): pass it as `cursor` until it is `null`. */
  list(opts?: { status?: "all" | "unread" | "read" | "archived"; type?: string; tag?: string; limit?: number; cursor?: string }):
    Promise<{ notifications: Notification[]; nextCursor: string; unreadCount: number }>;
  markRead(id: string): Promise<Notification>;
  markAllRead(): Promise<{ updated: number; unreadCount: number }>;
  remove(id: string): Promise<null>;
  /** Registers the worker, asks permission (call from a user gesture), subscribes, stores it on the server. Errors have code "unsupported" or "denied". */
  enablePush(opts?: PushOptions): Promise<{ id: string; endpoint: string }>;
  /** Removes this browser's subscription from the server and unsubscribes it. */
  disablePush(opts?: PushOptions): Promise<void>;
  pushState(opts?: PushOptions): Promise<PushState>;
}

/** The VAPID public key (base64url) as applicationServerKey bytes; throws unless an uncompressed P-256 point. */
export function decodeVapidKey(key: string): Uint8Array;
/** pushState's answer from what the browser says. */
export function pushStateOf(s: { supported: boolean; permission: string; subscribed: boolean }): PushState;

/** Decodes a JWT's payload without verifying it (the server verifies); null if it is not one. */
export function jwtClaims(token: string): Record<string, unknown> | null;
/** Whether d is the data of a notifications:read event. */
export function isNotificationsRead(d: unknown): d is NotificationsRead;
/** Whether the notifications:read event d marked n read. */
export function readCovers(d: NotificationsRead, n: Notification): boolean;
