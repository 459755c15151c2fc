// Package webpush is the protocol side of tocsin's Web Push channel (PRODUCT.md
// §8): it turns a payload and a browser's push subscription into one request to
// the subscription's push service, and that service's answer into success, a
// retry or a permanent failure. The delivery engine decides what to send, when,
// and what to do with the answer; the HTTP routes store subscriptions and serve
// the public key. Everything is built from the standard library's primitives
// (crypto/ecdh, crypto/hkdf, crypto/aes + crypto/cipher GCM, crypto/ecdsa) and
// golang-jwt for the ES256 token; only their composition is here, step by step
// as the RFCs specify it.
//
// # The three RFCs
//
// RFC 8030 (the push request): a POST of the message to the subscription's
// endpoint, with TTL (how long the service keeps it for an offline browser),
// Urgency (how much battery the browser may spend on it: from the priority,
// UrgencyOf) and Topic (a later message with the same topic replaces an
// undelivered earlier one: from the notification id, TopicOf). The service
// answers 201 when it has the message.
//
// RFC 8291 with RFC 8188 (the payload; Encrypt): the push service must not read
// the message, so it is encrypted for the browser's key (p256dh) and auth secret:
//
//  1. a fresh ephemeral P-256 key pair and a random 16-byte salt per message;
//  2. ecdh_secret = ECDH(ephemeral private, p256dh);
//  3. IKM = HKDF-SHA256(salt = auth, IKM = ecdh_secret,
//     info = "WebPush: info" 0x00 || p256dh || ephemeral public, 32 bytes) — the
//     auth secret means that knowing the public key alone is not enough to send;
//  4. CEK = HKDF(salt, IKM, "Content-Encoding: aes128gcm" 0x00, 16 bytes) and
//     NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" 0x00, 12 bytes);
//  5. one AES-128-GCM record: payload || 0x02 (the last record's delimiter) ||
//     optional zero padding, sealed with CEK and NONCE;
//  6. the body: salt (16) || rs = 4096 (4) || idlen = 65 (1) || the ephemeral
//     public key (65) as keyid, then the record. The browser reads the salt and
//     the server's public key from this header to derive the same CEK.
//
// A push service need accept no more than 4096 bytes of body, so the payload is
// at most MaxPayload (3993) bytes.
//
// RFC 8292 (VAPID; VAPIDAuthorization): the Authorization header "vapid t=JWT,
// k=public key". The JWT is ES256-signed with the server's VAPID key and says
// aud (the push service's origin, so a token cannot be replayed elsewhere), exp
// (at most 24 h ahead; Send uses 12 h) and sub (a mailto: or https: contact).
// The browser's subscription is bound to the public key, so the push service
// refuses messages for it that another key signed: the key must be kept
// (LoadOrCreateVAPIDKey).
//
// # What the engine does with Send's errors
//
// Send returns a *tocsin.SendError (tocsin.IsPermanent tells which kind):
//
//   - errors.Is(err, ErrGone) — 404/410: the browser unsubscribed or the
//     subscription expired. Delete the subscription; do not retry.
//   - errors.Is(err, ErrTooLarge) — 413, or a payload over MaxPayload before
//     sending: build a smaller payload (drop the notification's data, then its
//     body) and send that; the same bytes never fit.
//   - retryable (429, 5xx, 408, timeouts): retry from the outbox with backoff, or
//     after the RetryAfter the service asked for.
//   - any other permanent error: record the push as failed; the subscription
//     stays (a 400 or 403 concerns this request or this server's key).
package webpush
