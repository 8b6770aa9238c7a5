#!/usr/bin/env node
// Real, independently written OpenID Provider for the interop harness:
// node-oidc-provider (OpenID Certified), configured for the demo-app contract
// (docs/demo-contract.md). Loopback only. Prints `READY <issuer>` once listening,
// exits on SIGTERM / SIGINT.
//
// Environment:
//   OP_PORT            port to listen on (default 9090)
//   OP_HOST            loopback host to bind and to use in the issuer (default 127.0.0.1)
//   OP_APP_PORTS       comma-separated RP ports the static clients are registered for
//                      (default 8080,8081,8082); for each port P there is also the client
//                      `demo-client-backchannel-P`, whose back-channel logout URI is
//                      http://127.0.0.1:P/backchannel_logout (session required)
//   OP_RESOURCE_TOKEN_FORMAT  access token format for resource-indicated tokens:
//                      jwt (RFC 9068, default) or opaque (introspectable)
//   OP_DEFAULT_RESOURCE       resource indicator applied when the RP sends none
//                      (default: none -> opaque, introspectable, userinfo-usable token)
//   OP_LOG             set to 0 to silence the per-request log on stderr
//   OP_CLIENT_KEY_FILE where to write the private JWK of the `demo-client-pkjwt`
//                      client (private_key_jwt), generated at start-up, for the app
//                      under test to sign with (default: <tmpdir>/oidc-interop-client-key.json)
//   OP_CLIENT_ENC_KEY_DIR  where to write the private JWKs the app decrypts with (issue 18):
//                      client-enc-ec.json (ECDH-ES, P-256) and client-enc-rsa.json
//                      (RSA-OAEP-256) (default: <tmpdir>)
//
// High-security clients (issue 18), all authenticating with private_key_jwt (the key above):
//   demo-client-fapi   PAR required, signed request objects required, DPoP-bound access
//                      tokens, JARM (ES256), ID tokens and userinfo signed with ES256 and
//                      encrypted with ECDH-ES / A128GCM to client-enc-ec.json
//   demo-client-jarm   JARM (RS256) in any response mode, nothing else
//   demo-client-rsa-enc  ID tokens encrypted with RSA-OAEP-256 / A256GCM to client-enc-rsa.json
//
// Admin hook (loopback only, like everything here): `POST /__interop/rotate-keys`
// rotates the signing keys: freshly generated RS256 and ES256 keys with new kids
// replace the old ones, which the JWKS stops publishing at once. Answers
// `{"kids": [...]}` with the new kids. For the `key-rotation` scenario (OpenID RP
// certification `rp-key-rotation-op-sign-key`).

import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider, { errors } from 'oidc-provider';
// oidc-provider reads its signing keys at start-up and has no API to rotate them;
// these are its own modules (the same instances the package uses, same files),
// used only by the rotate-keys admin hook below.
import initializeKeystore from './node_modules/oidc-provider/lib/helpers/initialize_keystore.js';
import providerState from './node_modules/oidc-provider/lib/helpers/weak_cache.js';

const host = process.env.OP_HOST || '127.0.0.1';
const port = Number(process.env.OP_PORT || 9090);
const issuer = `http://${host}:${port}`;
const appPorts = (process.env.OP_APP_PORTS || '8080,8081,8082')
  .split(',').map((p) => p.trim()).filter(Boolean);
const resourceTokenFormat = process.env.OP_RESOURCE_TOKEN_FORMAT || 'jwt';
const defaultResourceIndicator = process.env.OP_DEFAULT_RESOURCE || undefined;
const log = process.env.OP_LOG === '0' ? () => {} : (...a) => console.error('[op]', ...a);

if (!['127.0.0.1', 'localhost', '[::1]'].includes(host) && !host.startsWith('127.')) {
  console.error(`refusing to bind to non-loopback host ${host}`);
  process.exit(2);
}
if (!['jwt', 'opaque'].includes(resourceTokenFormat)) {
  console.error('OP_RESOURCE_TOKEN_FORMAT must be jwt or opaque');
  process.exit(2);
}

const ALL_RESPONSE_TYPES = [
  'code',
  'id_token',
  'id_token token',
  'code id_token',
  'code token',
  'code id_token token',
];

// Resource servers (RFC 8707) this provider knows: the demo apps themselves.
// Both `http://127.0.0.1:8080` and `http://127.0.0.1:8080/` are accepted; the
// token's `aud` is the form without the trailing slash (the contract's default
// OIDC_API_AUDIENCE), and its format OP_RESOURCE_TOKEN_FORMAT. The indicator
// `http://127.0.0.1:8080/opaque` names the same app (same `aud`) with opaque,
// introspectable tokens, for the apps that validate by introspection while
// OP_RESOURCE_TOKEN_FORMAT is jwt.
const RESOURCE_SCOPES = 'api:read api:write';
function resourceServer(indicator) {
  let u;
  try { u = new URL(indicator); } catch { return undefined; }
  if (u.protocol !== 'http:' || u.search || u.hash) return undefined;
  if (!(u.hostname === 'localhost' || u.hostname.startsWith('127.') || u.hostname === '[::1]')) return undefined;
  const audience = `${u.protocol}//${u.host}`;
  if (u.pathname === '/' || u.pathname === '') return { audience, format: resourceTokenFormat };
  if (u.pathname === '/opaque') return { audience, format: 'opaque' };
  return undefined;
}

// Ephemeral signing keys, one process = one key set.
function jwk(type, opts, extra) {
  const { privateKey } = generateKeyPairSync(type, opts);
  return { ...privateKey.export({ format: 'jwk' }), ...extra };
}
function signingKeys(suffix) {
  return {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, { use: 'sig', alg: 'RS256', kid: `interop-rs256${suffix}` }),
      jwk('ec', { namedCurve: 'P-256' }, { use: 'sig', alg: 'ES256', kid: `interop-es256${suffix}` }),
      // For the clients registered for PS256 and EdDSA ID tokens (issue 16 item 8): one key
      // per algorithm, so that each JWK's `alg` names the one it signs.
      jwk('rsa', { modulusLength: 2048 }, { use: 'sig', alg: 'PS256', kid: `interop-ps256${suffix}` }),
      jwk('ed25519', {}, { use: 'sig', alg: 'EdDSA', kid: `interop-eddsa${suffix}` }),
    ],
  };
}
const jwks = signingKeys('');

// The app's key for private_key_jwt: made here, so that every run has a fresh one, and
// handed to the app under test through a file only this user can read.
const clientKeyFile = process.env.OP_CLIENT_KEY_FILE || join(tmpdir(), 'oidc-interop-client-key.json');
const clientKey = jwk('ec', { namedCurve: 'P-256' }, { alg: 'ES256', kid: 'interop-client-es256' });
writeFileSync(clientKeyFile, JSON.stringify(clientKey), { mode: 0o600 });
const { d: _privatePart, ...clientPublicKey } = clientKey;

// The app's decryption keys (issue 18 item 5): fresh each run, handed over like the key above.
const encKeyDir = process.env.OP_CLIENT_ENC_KEY_DIR || tmpdir();
function clientEncryptionKey(file, key) {
  writeFileSync(join(encKeyDir, file), JSON.stringify(key), { mode: 0o600 });
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicKey } = key;
  return publicKey;
}
const clientEncEc = clientEncryptionKey('client-enc-ec.json',
  jwk('ec', { namedCurve: 'P-256' }, { use: 'enc', alg: 'ECDH-ES', kid: 'interop-client-enc-ec' }));
const clientEncRsa = clientEncryptionKey('client-enc-rsa.json',
  jwk('rsa', { modulusLength: 2048 }, { use: 'enc', alg: 'RSA-OAEP-256', kid: 'interop-client-enc-rsa' }));
// client_secret_jwt MACs with the secret (HS256): at least 32 bytes (RFC 7518 3.2).
const JWT_CLIENT_SECRET = 'demo-secret-for-client-secret-jwt-hs256';

function staticClient(clientId, authMethod) {
  return {
    client_id: clientId,
    client_secret: 'demo-secret',
    application_type: 'web',
    client_name: `Interop ${clientId}`,
    redirect_uris: appPorts.map((p) => `http://127.0.0.1:${p}/redirect_uri`),
    post_logout_redirect_uris: appPorts.map((p) => `http://127.0.0.1:${p}/logout`),
    response_types: ALL_RESPONSE_TYPES,
    grant_types: ['authorization_code', 'implicit', 'refresh_token'],
    token_endpoint_auth_method: authMethod,
    id_token_signed_response_alg: 'RS256',
  };
}

// The default pages pull a web font from the internet; these are the same pages
// without it (no network here). The form and button markup is unchanged:
// form#op.logoutForm plus <button name="logout" value="yes">.
async function logoutSource(ctx, form) {
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Logout Request</title></head>
<body>
  <div class="container">
    <h1>Do you want to sign-out from ${ctx.host}?</h1>
    ${form}
    <button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
    <button type="submit" form="op.logoutForm">No, stay signed in</button>
  </div>
</body></html>`;
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign-out Success</title></head>
<body><h1>Sign-out Success</h1><p>Your sign-out was successful.</p></body></html>`;
}

function titleCase(s) {
  return String(s).replace(/(^|[\s._-])(\w)/g, (_m, sep, c) => `${sep === '' ? '' : ' '}${c.toUpperCase()}`).trim();
}

// A static client without a secret: `none` (public, PKCE) or `private_key_jwt`.
function secretlessClient(clientId, authMethod, extra) {
  const { client_secret: _secret, ...client } = staticClient(clientId, authMethod);
  return { ...client, ...extra };
}

const configuration = {
  clients: [
    staticClient('demo-client', 'client_secret_basic'),
    staticClient('demo-client-post', 'client_secret_post'),
    // ID tokens signed with another algorithm than RS256, and a signed userinfo response.
    { ...staticClient('demo-client-es256', 'client_secret_basic'), id_token_signed_response_alg: 'ES256' },
    { ...staticClient('demo-client-ps256', 'client_secret_basic'), id_token_signed_response_alg: 'PS256' },
    { ...staticClient('demo-client-eddsa', 'client_secret_basic'), id_token_signed_response_alg: 'EdDSA' },
    { ...staticClient('demo-client-signed-userinfo', 'client_secret_basic'), userinfo_signed_response_alg: 'RS256' },
    {
      ...staticClient('demo-client-jwt', 'client_secret_jwt'),
      client_secret: JWT_CLIENT_SECRET,
      token_endpoint_auth_signing_alg: 'HS256',
    },
    secretlessClient('demo-client-pkjwt', 'private_key_jwt', {
      jwks: { keys: [clientPublicKey] },
      token_endpoint_auth_signing_alg: 'ES256',
    }),
    secretlessClient('demo-client-public', 'none'),
    // The high-security profile (issue 18): every feature the provider can demand of a client
    // is demanded, so that a login passes only if the app used each one.
    secretlessClient('demo-client-fapi', 'private_key_jwt', {
      jwks: { keys: [clientPublicKey, clientEncEc] },
      token_endpoint_auth_signing_alg: 'ES256',
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      require_pushed_authorization_requests: true,
      require_signed_request_object: true,
      request_object_signing_alg: 'ES256',
      dpop_bound_access_tokens: true,
      authorization_signed_response_alg: 'ES256',
      id_token_signed_response_alg: 'ES256',
      id_token_encrypted_response_alg: 'ECDH-ES',
      id_token_encrypted_response_enc: 'A128GCM',
      userinfo_signed_response_alg: 'ES256',
      userinfo_encrypted_response_alg: 'ECDH-ES',
      userinfo_encrypted_response_enc: 'A128GCM',
    }),
    { ...staticClient('demo-client-jarm', 'client_secret_basic'), authorization_signed_response_alg: 'RS256' },
    {
      ...staticClient('demo-client-rsa-enc', 'client_secret_basic'),
      jwks: { keys: [clientEncRsa] },
      id_token_encrypted_response_alg: 'RSA-OAEP-256',
      id_token_encrypted_response_enc: 'A256GCM',
    },
    // Back-channel logout (OpenID Connect Back-Channel Logout 1.0): one client per app port,
    // since a client has a single backchannel_logout_uri. With the session required, the
    // provider puts `sid` in its ID tokens and logout tokens.
    ...appPorts.map((p) => ({
      ...staticClient(`demo-client-backchannel-${p}`, 'client_secret_basic'),
      backchannel_logout_uri: `http://127.0.0.1:${p}/backchannel_logout`,
      backchannel_logout_session_required: true,
    })),
  ],
  // New clients (dynamic registration) get these unless they say otherwise.
  clientDefaults: {
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: 'RS256',
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks,
  cookies: {
    // The provider and the RPs share the host 127.0.0.1 (cookies ignore ports),
    // so the provider's cookies get names no RP is likely to use.
    names: {
      session: 'op_session',
      interaction: 'op_interaction',
      resume: 'op_interaction_resume',
    },
    keys: ['interop-harness-cookie-signing-key-not-a-secret'],
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'preferred_username'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read', 'api:write'],
  responseTypes: ALL_RESPONSE_TYPES,
  pkce: {
    // S256 is accepted whenever a client sends it; never demanded (confidential
    // clients, and implicit has no token endpoint).
    required: () => false,
  },
  // Every login is accepted (devInteractions); the login becomes the subject.
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.test`,
          email_verified: true,
          name: titleCase(id),
          given_name: titleCase(id).split(' ')[0],
          preferred_username: id,
        };
      },
    };
  },
  // Refresh tokens for every client allowed the refresh_token grant, whether or
  // not it asked for offline_access.
  async issueRefreshToken(_ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.kind !== 'ClientCredentials';
  },
  // A demo app registered with private_key_jwt publishes its keys at its jwks_uri on
  // loopback, which the provider's SSRF guard refuses to fetch: exactly the demo apps'
  // own ports on 127.0.0.1 go without it; every other URL keeps it.
  async fetch(url, options) {
    const target = new URL(url);
    if (target.hostname === '127.0.0.1' && appPorts.includes(target.port)) {
      const { dispatcher: _ssrfGuard, ...unguarded } = options;
      return globalThis.fetch(url, unguarded);
    }
    return globalThis.fetch(url, options);
  },
  clientBasedCORS(_ctx, origin) {
    try {
      const { hostname } = new URL(origin);
      return hostname === 'localhost' || hostname.startsWith('127.');
    } catch {
      return false;
    }
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 24 * 3600,
    Interaction: 600,
    Session: 24 * 3600,
    Grant: 24 * 3600,
  },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true }, // open: no initial access token
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    // Ending a session at the provider POSTs a logout token to every client of that session
    // registered with a backchannel_logout_uri. (Front-channel logout left oidc-provider
    // in version 8: this provider cannot check it.)
    backchannelLogout: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    // Only for clients registered with userinfo_signed_response_alg.
    jwtUserinfo: { enabled: true },
    claimsParameter: { enabled: true },
    // Issue 18: PAR and DPoP are on by default in this version; these are not.
    pushedAuthorizationRequests: { enabled: true },
    dPoP: { enabled: true },
    requestObjects: { enabled: true },
    jwtResponseModes: { enabled: true },
    encryption: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No `resource` from the RP: an opaque token usable at userinfo and
      // introspection (unless OP_DEFAULT_RESOURCE says otherwise).
      async defaultResource(_ctx, _client, oneOf) {
        if (oneOf) return oneOf;
        return defaultResourceIndicator;
      },
      // A `resource` given at the authorization endpoint carries over to the
      // token endpoint even when the RP does not repeat it there.
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(_ctx, indicator) {
        const server = resourceServer(indicator);
        if (!server) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        return {
          scope: RESOURCE_SCOPES,
          audience: server.audience,
          accessTokenTTL: 3600,
          accessTokenFormat: server.format,
          ...(server.format === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;

// node-oidc-provider refuses http:// (and localhost) redirect_uris for web
// clients that are allowed the implicit grant, with codes 'implicit-force-https'
// and 'implicit-forbid-localhost', and has no option for it. Waive exactly those
// two checks, as its own recipe recipes/implicit_http_localhost.md does, so web
// clients on http://127.0.0.1 can run implicit and hybrid flows; every other
// client metadata check stays (static and dynamically registered clients alike).
const { invalidate: originalInvalidate } = provider.Client.Schema.prototype;
provider.Client.Schema.prototype.invalidate = function invalidate(message, code) {
  if (code === 'implicit-force-https' || code === 'implicit-forbid-localhost') return;
  originalInvalidate.call(this, message, code);
};

// Rotation: the provider's key store object is kept (parts of oidc-provider hold
// on to it) and its keys replaced by a fresh set; the served JWKS follows.
let rotations = 0;
function rotateSigningKeys() {
  rotations += 1;
  const state = providerState(provider);
  const keystore = state.keystore;
  initializeKeystore.call(provider, signingKeys(`-r${rotations}`)); // new state.keystore and state.jwks
  const fresh = state.keystore;
  keystore.clear();
  for (const key of fresh) keystore.add(key);
  state.keystore = keystore;
  return state.jwks.keys.map((k) => k.kid);
}

function fromLoopback(ctx) {
  const ip = ctx.req.socket.remoteAddress || '';
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__interop/rotate-keys') {
    if (ctx.method !== 'POST') { ctx.status = 405; ctx.set('Allow', 'POST'); return; }
    if (!fromLoopback(ctx)) { ctx.status = 403; return; }
    const kids = rotateSigningKeys();
    log(`signing keys rotated: now ${kids.join(', ')}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { kids };
    return;
  }
  await next();
});

// The protected header of a compact JWS or JWE, or undefined.
function jwtHeader(compact) {
  if (typeof compact !== 'string') return undefined;
  try {
    return JSON.parse(Buffer.from(compact.split('.')[0], 'base64url').toString());
  } catch {
    return undefined;
  }
}

// What the interop run checks in this log besides the request lines: the algorithm of
// each ID token the token endpoint issues, and a userinfo answered as a signed JWT.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.method === 'POST' && ctx.path === '/token' && ctx.body && typeof ctx.body.id_token === 'string') {
    try {
      const header = JSON.parse(Buffer.from(ctx.body.id_token.split('.')[0], 'base64url').toString());
      log(`id_token signed with ${header.alg}`);
    } catch {
      log('id_token with an unreadable header');
    }
  }
  if (ctx.path === '/me' && ctx.status === 200 && (ctx.response.type || '').startsWith('application/jwt')) {
    log(`userinfo answered application/jwt (${ctx.method})`);
    const jose = jwtHeader(ctx.body);
    if (jose && jose.enc) log(`userinfo encrypted with ${jose.alg}/${jose.enc}`);
  }
  // Issue 18: an encrypted ID token (five parts), a DPoP-bound token, a DPoP proof received.
  if (ctx.method === 'POST' && ctx.path === '/token' && ctx.body && typeof ctx.body.id_token === 'string') {
    const jose = jwtHeader(ctx.body.id_token);
    if (jose && jose.enc) log(`id_token encrypted with ${jose.alg}/${jose.enc}`);
  }
  if (ctx.method === 'POST' && ctx.path === '/token' && ctx.body && ctx.body.token_type) {
    log(`token endpoint answered token_type ${ctx.body.token_type}`);
  }
  if (ctx.method === 'GET' && ctx.path === '/auth' && ctx.query.request) {
    log(`request object received at the authorization endpoint (client ${ctx.query.client_id})`);
  }
  if (ctx.method === 'GET' && ctx.path === '/auth' && ctx.query.request_uri) {
    const others = Object.keys(ctx.query).filter((k) => k !== 'client_id' && k !== 'request_uri');
    log(`authorization by request_uri (client ${ctx.query.client_id}; other parameters: ${others.length ? others.join(' ') : 'none'})`);
  }
  if (ctx.get('dpop')) log(`DPoP proof received on ${ctx.method} ${ctx.path} -> ${ctx.status}`);
});

provider.use(async (ctx, next) => {
  const started = Date.now();
  await next();
  const loc = ctx.response.get('location');
  log(`${ctx.method} ${ctx.originalUrl} -> ${ctx.status}${loc ? ` ${loc.split('?')[0]}` : ''} (${Date.now() - started}ms)`);
});

// The chain of causes behind an error (a failed jwks_uri fetch hides under its
// `invalid_client_metadata`), for the log.
function causes(err) {
  const chain = [];
  for (let c = err.cause; c && chain.length < 4; c = c.cause) {
    chain.push(c.error_description || c.message || String(c));
  }
  return chain.length ? ` <${chain.join(' <- ')}>` : '';
}

for (const event of [
  'server_error', 'authorization.error', 'grant.error', 'introspection.error',
  'revocation.error', 'end_session.error', 'userinfo.error', 'registration_create.error',
  'discovery.error', 'jwks.error', 'backchannel.error',
]) {
  provider.on(event, (...args) => {
    const err = args.find((a) => a instanceof Error);
    log(`event ${event}: ${err ? `${err.name}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}${err.error_detail ? ` [${err.error_detail}]` : ''}${causes(err)}` : ''}`);
  });
}

// Issue 18: how each authorization was asked for and answered (never a parameter's value
// beyond these): pushed, with a request object, and in which response mode.
provider.on('pushed_authorization_request.success', (_ctx, client) => log(`event pushed_authorization_request.success (client ${client.clientId})`));
provider.on('authorization.success', (ctx) => {
  const params = (ctx.oidc && ctx.oidc.params) || {};
  log(`event authorization.success (client ${ctx.oidc && ctx.oidc.client ? ctx.oidc.client.clientId : '?'}, response_mode ${params.response_mode || 'default'})`);
});

// A logout token delivered and answered 200 by the client's backchannel_logout_uri (its
// failures are `event backchannel.error` above); xtask's two-instance check looks for it.
provider.on('backchannel.success', (_ctx, client) => log(`event backchannel.success (client ${client.clientId})`));

// RFC 7009 revocation (the demos revoke at logout): what it destroyed, by kind and client,
// never the token itself. xtask's SCENARIO_LOG_PROOF looks for these lines.
for (const event of ['access_token.destroyed', 'refresh_token.destroyed']) {
  provider.on(event, (token) => log(`event ${event} (client ${token.clientId})`));
}

const server = provider.listen(port, host.replace(/^\[|\]$/g, ''), () => {
  console.log(`READY ${issuer}`);
});
server.on('error', (err) => {
  console.error(`cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});

function shutdown(signal) {
  // All state is in memory: nothing to flush, so stop at once.
  log(`${signal}: shutting down`);
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
