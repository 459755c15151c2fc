// Types of <tocsin-inbox> (web/inbox.js, served at /inbox.js; docs/inbox.md).
import type { Tocsin, Notification, TocsinError } from "./client.js";

/** The keys of the element's strings (docs/inbox.md lists them with the English text). */
export type InboxStrings = Record<string, string>;

export class TocsinInbox extends HTMLElement {
  /** The server ("" for the page's origin); reflects the url attribute. */
  url: string;
  /** The user's JWT; reflects the token attribute (a change calls client.setToken). */
  token: string;
  /** A stream ticket instead of a token (the cookie does the rest); reflects the ticket attribute. */
  ticket: string;
  /** "popover" (a bell, the default) or "inline" (the feed itself). */
  mode: "popover" | "inline";
  /** "" (from prefers-color-scheme), "light" or "dark". */
  theme: "" | "light" | "dark";
  /** Whether the feed shows (always, inline). */
  readonly isOpen: boolean;
  /** The strings in use; assigning an object merges it over the English defaults. */
  strings: InboxStrings;
  /** The client; assign one to share it (the element then never closes it). */
  client: Tocsin | null;
  open(): void;
  close(): void;
  toggle(): void;
  /** Fetches the current tab again. */
  reload(): Promise<void>;
}

export interface TocsinInboxEventMap {
  /** Cancelable: preventDefault() stops the navigation and the mark-read. */
  "tocsin-inbox:click": CustomEvent<{ notification: Notification }>;
  "tocsin-inbox:open": CustomEvent<Record<string, never>>;
  "tocsin-inbox:close": CustomEvent<Record<string, never>>;
  "tocsin-inbox:error": CustomEvent<{ error: TocsinError | Error }>;
}

declare global {
  interface HTMLElementTagNameMap {
    "tocsin-inbox": TocsinInbox;
  }
  interface HTMLElementEventMap extends TocsinInboxEventMap {}
}
