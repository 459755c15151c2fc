// The REST calls <tocsin-inbox> makes, through the client's public methods where it
// has them (web/client.js) and otherwise through its request helper, so the element
// works with a client that predates them.

const enc = encodeURIComponent;

/** ops(client) → the calls the element needs, each returning a Promise. */
export function ops(c) {
  const has = (m) => typeof c[m] === "function";
  const call = (method, path, body) => c._call(method, path, body);
  return {
    update: (id, patch) => (has("update") ? c.update(id, patch) : call("PATCH", "/api/notifications/" + enc(id), patch)),
    updateMany: (ids, patch) => (has("updateMany") ? c.updateMany(ids, patch) : call("PATCH", "/api/notifications", { ids, ...patch })),
    remove: (id) => c.remove(id),
    markAllRead: () => c.markAllRead(),
    getPreferences: () => (has("getPreferences") ? c.getPreferences() : call("GET", "/api/preferences")),
    patchPreferences: (p) => (has("patchPreferences") ? c.patchPreferences(p) : call("PATCH", "/api/preferences", p)),
  };
}
