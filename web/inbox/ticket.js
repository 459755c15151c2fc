// The stream ticket of <tocsin-inbox>'s ticket attribute (web/inbox.js, docs/inbox.md).

import { Tocsin } from "../client.js";

// ticketClient is a client whose first stream connection spends ticket (a stream
// ticket the page was given) instead of minting one; REST calls and later tickets use
// the tocsin_token cookie, as a client without a token does. The client has no ticket
// option yet, so this overrides its ticket step where it has one (else the cookie
// mints the first ticket too).
export function ticketClient(opts, ticket) {
  const c = new Tocsin(opts);
  // Marks the client for every element that shares it: a refused listing (no cookie)
  // then shows the stream's unread items instead of an error.
  c.ticketOnly = true;
  if (typeof c._ticket !== "function" || typeof c._whoAmI !== "function") return c;
  let given = ticket;
  const whoAmI = c._whoAmI.bind(c), next = c._ticket.bind(c);
  c._whoAmI = () => (given ? Promise.resolve("") : whoAmI());
  c._ticket = () => {
    if (!given) return next();
    const t = given;
    given = "";
    return Promise.resolve({ ticket: t });
  };
  return c;
}
