// Test-only: decrypts a Web Push message body with the npm http_ece package, an
// implementation independent of tocsin's (RFC 8188 aes128gcm with the RFC 8291 key
// derivation), as the browser would. Reads {"body", "uaPrivate", "auth"} (base64url)
// as JSON on stdin, writes the plaintext as base64url on stdout; a failure exits
// non-zero with the reason on stderr.
import ece from 'http_ece';
import crypto from 'node:crypto';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { body, uaPrivate, auth } = JSON.parse(input);

const ua = crypto.createECDH('prime256v1');
ua.setPrivateKey(Buffer.from(uaPrivate, 'base64url'));
const plaintext = ece.decrypt(Buffer.from(body, 'base64url'), {
  version: 'aes128gcm',
  privateKey: ua, // the subscription's key; the sender's public key is the header's keyid
  authSecret: Buffer.from(auth, 'base64url'),
});
process.stdout.write(plaintext.toString('base64url'));
