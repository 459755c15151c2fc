// Types of the tocsin JavaScript client (web/client.js, served at /client.js, with the
// modules it imports: /client-rest.js, /client-inbox.js, /client-push.js).

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
  /** Hidden from unread and the count until this time; then back as unread (notification:updated). */
  snoozedUntil?: string | null;
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

/** The data of a `notifications:updated` event: one bulk change (updateMany), each item as notification:updated. */
export interface NotificationsUpdated {
  notifications: Notification[];
}

/**
 * Why something failed. The `error` event (once per outage) and every rejected REST
 * call carry one:
 * - "network": the server could not be reached at the URL (down, wrong url, offline);
 * - "cors": the server answered but refuses this page's origin: start it with
 *   `--cors-origins <origin>` (the message names the origin);
 * - "auth": credentials refused (401/403: final for the stream, which closes), or
 *   getToken gave no token (retried);
 * - "http": the server refused the request (4xx: bad input, not found, 429);
 * - "server": the server failed (5xx), or the stream did not open though a ticket was
 *   given (too many streams for the user, a proxy that buffers SSE).
 */
export type ErrorCode = "network" | "cors" | "auth" | "http" | "server";

export class TocsinError extends Error {
  constructor(code: ErrorCode, message: string, extra?: { status?: number; serverCode?: string; url?: string; origin?: string; cause?: unknown });
  readonly name: "TocsinError";
  readonly code: ErrorCode;
  /** The HTTP status (0 when no answer came). */
  readonly status: number;
  /** The server's error code ("not_found", "invalid", ...), "" when it gave none. */
  readonly serverCode: string;
  /** The URL that failed. */
  readonly url: string;
  /** For "cors": this page's origin, the one to list in --cors-origins. */
  readonly origin?: string;
  /** Only on the stream's errors: final (the client closed) rather than retried. */
  readonly final?: boolean;
}

/** The fields of one notification update(). */
export interface NotificationPatch {
  read?: boolean;
  seen?: boolean;
  archived?: boolean;
  /** RFC 3339; null ends a snooze. */
  snoozedUntil?: string | null;
}

/** The fields of one updateMany(). */
export interface BulkPatch {
  read?: boolean;
  seen?: boolean;
  archived?: boolean;
}

export interface ListOptions {
  /** "all" (default: everything but archived), "unread", "read", "archived". */
  status?: "all" | "unread" | "read" | "archived";
  type?: string;
  tag?: string;
  /** Full-text search over title, body and tags (ranked by the server). */
  q?: string;
  limit?: number;
  /** The previous page's nextCursor. */
  cursor?: string;
}

export interface ListPage {
  notifications: Notification[];
  /** The cursor of the next page; null (or "") on the last page. */
  nextCursor: string | null;
  unreadCount: number;
}

/** A channel switch per channel (PRODUCT.md section 8). */
export interface ChannelSwitches {
  push?: boolean;
  email?: boolean;
  webhook?: boolean;
}

/** The user's preferences (PRODUCT.md section 8). */
export interface Preferences {
  channels?: ChannelSwitches;
  types?: Record<string, ChannelSwitches>;
  topics?: Record<string, ChannelSwitches>;
  mutedUntil?: string | null;
  quietHours?: { start: string; end: string; timezone: string } | null;
}

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
  /**
   * A stream ticket (POST /api/notifications/stream-ticket, minted by the page's
   * backend with the user's JWT, single-use, valid 60 s) for the first stream
   * connection, so no JWT has to be in the page. REST calls still need a credential:
   * the token (or getToken) if given, else the tocsin_token cookie. Later stream
   * connections use getTicket, else a ticket minted with the token or the cookie.
   * Without a token the user is learned from the stream's init, and the stream is not
   * shared between tabs (see ticketOnly, setTicket).
   */
  ticket?: string;
  /**
   * Returns a fresh stream ticket (or the stream-ticket response, which holds one)
   * for every stream connection after the given ticket (or from the first, without
   * one): a reconnect then resumes by Last-Event-ID with it, missing nothing, without
   * a cookie or a token in the page. A failure (a throw, no ticket) is reported as an
   * `error` (code "auth") and retried with backoff.
   */
  getTicket?: () => Promise<string | { ticket: string; userId?: string }>;
  /** First reconnect wait in ms (250). */
  minBackoff?: number;
  /** Reconnect wait cap in ms (30000). */
  maxBackoff?: number;
  /** Share one stream between the tabs of a browser (true where the browser allows). */
  share?: boolean;
  /**
   * Tabs share a stream per key ("default"), server and user: the shared channel and
   * lock are named by the three (the server as its absolute base URL, `url` resolved
   * against the page), so tabs signed in as different users, or to two servers with
   * the same user ids, never share.
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

/** The credentials and REST calls (Tocsin adds the stream, the store and the tabs). */
export class TocsinClient {
  constructor(opts?: Pick<Options, "url" | "token" | "getToken" | "deviceId">);
  readonly url: string;
  readonly token: string;
  /**
   * The outage being reported (the last `error` event's error), null when none: set
   * on the first failure, cleared when the stream is back (the `online` event) or on
   * close(). An offline banner shows while it is set.
   */
  readonly error: TocsinError | null;
  /** A REST call could not reach the server ("network", "cors"), once per outage (Tocsin: see there). */
  on(type: "error", fn: (e: TocsinError) => void): () => void;
  /** The server answers again after an `error`. */
  on(type: "online", fn: () => void): () => void;
  setToken(token: string): void;
  /** Lists notifications, newest first (GET /api/notifications). */
  list(opts?: ListOptions): Promise<ListPage>;
  /** One notification (GET /api/notifications/{id}). */
  get(id: string): Promise<Notification>;
  /** PATCH /api/notifications/{id}: the notification after the change; the stream sends notification:updated. */
  update(id: string, patch: NotificationPatch): Promise<Notification>;
  markRead(id: string): Promise<Notification>;
  markUnread(id: string): Promise<Notification>;
  markSeen(id: string): Promise<Notification>;
  archive(id: string): Promise<Notification>;
  unarchive(id: string): Promise<Notification>;
  /**
   * Snoozes until a time (Date, RFC 3339 string, or ms since the epoch): the item
   * leaves unread and the count until then. An unreadable time rejects with a
   * RangeError (nothing sent); the server refuses a past time or one more than a year
   * ahead (code "http", status 400).
   */
  snooze(id: string, until: Date | string | number): Promise<Notification>;
  /** Ends a snooze now (snoozedUntil: null). */
  unsnooze(id: string): Promise<Notification>;
  /**
   * PATCH /api/notifications {ids, ...patch}: many at once, one notifications:updated
   * event. More than 100 ids go in requests of 100, in order. Rejects with a TypeError
   * for an empty or non-string id list.
   */
  updateMany(ids: string[], patch: BulkPatch): Promise<{ notifications: Notification[]; unreadCount: number }>;
  markAllRead(): Promise<{ updated: number; unreadCount: number }>;
  remove(id: string): Promise<null>;
  /** GET /api/preferences. */
  preferences(): Promise<Preferences>;
  /** PUT /api/preferences: replaces them. */
  setPreferences(p: Preferences): Promise<Preferences>;
  /** PATCH /api/preferences: changes the fields p has. */
  patchPreferences(p: Partial<Preferences>): Promise<Preferences>;
  /** Registers the worker, asks permission (call from a user gesture), subscribes, stores it on the server. Errors have code "unsupported" or "denied". */
  enablePush(opts?: PushOptions): Promise<{ id: string; endpoint: string }>;
  /** Removes this browser's subscription from the server and unsubscribes it. */
  disablePush(opts?: PushOptions): Promise<void>;
  pushState(opts?: PushOptions): Promise<PushState>;
}

export class Tocsin extends TocsinClient {
  constructor(opts?: Options);
  /** The user whose stream this is ("" until known: the token's sub, or the server's word). */
  readonly userId: string;
  readonly notifications: Notification[];
  readonly unreadCount: number;
  readonly lastEventId: string;
  readonly status: Status;
  /**
   * The page gives the stream tickets (ticket, setTicket, getTicket) and the client
   * has no token nor getToken: its REST calls rely on the tocsin_token cookie, which a
   * page on another site does not have (they then reject with code "auth").
   */
  readonly ticketOnly: boolean;
  on(type: "change", fn: (s: State) => void): () => void;
  on(type: "notification", fn: (n: Notification) => void): () => void;
  on(type: "event", fn: (e: StreamEvent) => void): () => void;
  on(type: "status", fn: (s: Status) => void): () => void;
  /**
   * A failure, once per outage: the client keeps retrying with backoff (status stays
   * "connecting") unless e.final (refused credentials: status "closed"). A REST call
   * that cannot reach the server ("network", "cors") is reported here too, besides
   * rejecting; its HTTP errors only reject.
   */
  on(type: "error", fn: (e: TocsinError) => void): () => void;
  /**
   * The stream is back after an `error` (status "open", or "following" in a tab that
   * follows another's stream: such a tab gets the leader's `error`, goes "connecting",
   * and gets `online` with it): hide the offline banner.
   */
  on(type: "online", fn: () => void): () => void;
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
  /**
   * Gives the client a stream ticket of the same user for its next stream connection
   * (replacing one not spent yet). An open stream is left as it is; a client waiting
   * to reconnect connects at once; one that closed because its credential was refused
   * (status "closed", e.final: a ticket-only page whose stream dropped, with no
   * cookie) connects again. Each resumes by Last-Event-ID. A closed client (close())
   * stays closed. For another user's ticket, make a new client: a bare ticket does not
   * say whose it is, and resuming from this user's last event id would skip its init.
   */
  setTicket(ticket: string): void;
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
/** Whether n's snoozedUntil is ahead of now (ms; default Date.now()) by this page's clock: for display. */
export function isSnoozed(n: Notification, now?: number): boolean;
/**
 * Whether n belongs in the live store (client.notifications): unread, not archived,
 * no snoozedUntil (the server clears it when the snooze ends; no clock is compared).
 */
export function inInbox(n: Notification): boolean;
