// Reads a tocsin capability stream with the npm eventsource package, as a user's
// Node service would, and prints one JSON line per message. EventSource reconnects by
// itself (honouring the server's retry: hint) and resumes with Last-Event-ID.
import { EventSource } from "eventsource";

const es = new EventSource(process.argv[2]);
es.onmessage = (e) => {
  process.stdout.write(JSON.stringify({ id: e.lastEventId, data: JSON.parse(e.data) }) + "\n");
};
es.onerror = () => {}; // a restart is expected: EventSource retries by itself
