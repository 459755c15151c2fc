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

export interface Options {
  /** Server base URL; "" (the default) for the page's origin. */
  url?: string;
  /** The user's JWT; without it the tocsin_token cookie is used. */
  token?: string;
  /** First reconnect wait in ms (250). */
  minBackoff?: number;
  /** Reconnect wait cap in ms (30000). */
  maxBackoff?: number;
  /** Share one stream between the tabs of a browser (true where the browser allows). */
  share?: boolean;
  /** Tabs share a stream per key ("default"). */
  key?: string;
  /** An EventSource implementation (in Node: the npm eventsource package). */
  EventSource?: typeof EventSource;
}

export type Status = "idle" | "connecting" | "open" | "following" | "closed";

export class Tocsin {
  constructor(opts?: Options);
  readonly notifications: Notification[];
  readonly unreadCount: number;
  readonly lastEventId: string;
  readonly status: Status;
  on(type: "change", fn: (s: State) => void): () => void;
  on(type: "notification", fn: (n: Notification) => void): () => void;
  on(type: "event", fn: (e: StreamEvent) => void): () => void;
  on(type: "status", fn: (s: Status) => void): () => void;
  on(type: "error", fn: (e: Error) => void): () => void;
  connect(): void;
  close(): void;
  list(opts?: { status?: "all" | "unread" | "read" | "archived"; type?: string; tag?: string; limit?: number; cursor?: string }):
    Promise<{ notifications: Notification[]; nextCursor: string; unreadCount: number }>;
  markRead(id: string): Promise<Notification>;
  markAllRead(): Promise<{ updated: number; unreadCount: number }>;
  remove(id: string): Promise<null>;
}
