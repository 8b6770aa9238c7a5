#!/usr/bin/env node
// Throwaway stand-in relying party that follows docs/demo-contract.md closely
// enough to check the harness itself (provider.mjs + drive.mjs) without the
// Rust demos. Built on openid-client (an OpenID Certified RP library).
//
// Supports OIDC_RESPONSE_TYPE `code` (default), `id_token` and `code id_token`
// (the response types openid-client implements), response modes query,
// fragment and form_post, static or dynamic registration, client_secret_basic
// or client_secret_post, RP-initiated logout, and /api/me via introspection.
// Requires OIDC_ISSUER (there is no embedded provider here).

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';

const APP_ADDR = process.env.APP_ADDR || '127.0.0.1:8080';
const BASE = `http://${APP_ADDR}`;
const REDIRECT_URI = `${BASE}/redirect_uri`;
const POST_LOGOUT_URI = `${BASE}/logout`;
const ISSUER = process.env.OIDC_ISSUER;
const SCOPES = process.env.OIDC_SCOPES || 'openid profile email';
const RESPONSE_TYPE = (process.env.OIDC_RESPONSE_TYPE || 'code').split(/\s+/).sort().join(' ');
const AUTH_METHOD = process.env.OIDC_TOKEN_ENDPOINT_AUTH_METHOD || 'client_secret_basic';
const RESPONSE_MODE = process.env.OIDC_RESPONSE_MODE
  || (RESPONSE_TYPE === 'code' ? 'query' : 'fragment');
const COOKIE = 'rp_sid';
// Deliberate contract violations, to check that the harness notices them:
//   ignore-state  accept any `state` (drive.mjs --scenario tampered must FAIL)
//   local-logout  /logout never visits the provider (--scenario logout must FAIL)
const FAULT = process.env.SELFTEST_RP_FAULT || '';

function die(msg) {
  console.error(`selftest-rp: ${msg}`);
  process.exit(2);
}
if (!ISSUER) die('OIDC_ISSUER is required (this stand-in has no embedded provider)');
if (!['code', 'id_token', 'code id_token'].includes(RESPONSE_TYPE)) {
  die(`OIDC_RESPONSE_TYPE ${RESPONSE_TYPE} is not supported by the stand-in (code, id_token, code id_token)`);
}
if (!['query', 'fragment', 'form_post'].includes(RESPONSE_MODE)) die(`bad OIDC_RESPONSE_MODE ${RESPONSE_MODE}`);
if (RESPONSE_TYPE !== 'code' && RESPONSE_MODE === 'query') die('query response mode is not allowed with implicit/hybrid');
if (!['client_secret_basic', 'client_secret_post'].includes(AUTH_METHOD)) die(`bad OIDC_TOKEN_ENDPOINT_AUTH_METHOD ${AUTH_METHOD}`);

// ---- provider configuration: discovery, static or dynamic registration ----
const authFor = (secret) => (AUTH_METHOD === 'client_secret_post'
  ? client.ClientSecretPost(secret) : client.ClientSecretBasic(secret));
const grantTypes = RESPONSE_TYPE === 'code'
  ? ['authorization_code', 'refresh_token'] : ['authorization_code', 'implicit', 'refresh_token'];

let config;
if (process.env.OIDC_CLIENT_ID) {
  config = await client.discovery(
    new URL(ISSUER),
    process.env.OIDC_CLIENT_ID,
    { client_secret: process.env.OIDC_CLIENT_SECRET },
    authFor(process.env.OIDC_CLIENT_SECRET),
    { execute: [client.allowInsecureRequests] },
  );
} else {
  config = await client.dynamicClientRegistration(
    new URL(ISSUER),
    {
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: [POST_LOGOUT_URI],
      response_types: [RESPONSE_TYPE],
      grant_types: grantTypes,
      token_endpoint_auth_method: AUTH_METHOD,
      application_type: 'web',
      client_name: `selftest-rp ${APP_ADDR}`,
    },
    undefined,
    { execute: [client.allowInsecureRequests] },
  );
  // openid-client picks the auth method from the registration response.
  console.error(`selftest-rp: registered client ${config.clientMetadata().client_id}`);
}
if (RESPONSE_TYPE === 'id_token') client.useIdTokenResponseType(config);
if (RESPONSE_TYPE === 'code id_token') client.useCodeIdTokenResponseType(config);
const meta = config.serverMetadata();

// ---- sessions: in memory, keyed by an opaque cookie ----
const sessions = new Map();
function getCookie(req, name) {
  for (const part of (req.headers.cookie || '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}
function loadSession(req) {
  const id = getCookie(req, COOKIE);
  return id && sessions.has(id) ? { id, data: sessions.get(id) } : undefined;
}
function newSession(res, data) {
  const id = randomBytes(24).toString('base64url');
  sessions.set(id, data);
  res.setHeader('Set-Cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
  return id;
}
function dropSession(req, res) {
  const s = loadSession(req);
  if (s) sessions.delete(s.id);
  res.setHeader('Set-Cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
}

// ---- helpers ----
function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}
const json = (res, status, obj) => send(res, status, 'application/json', JSON.stringify(obj));
function errorView(req, res, status, error, description) {
  dropSession(req, res);
  json(res, status, { error, error_description: description });
}
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 1 << 20) { reject(new Error('body too large')); req.destroy(); } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const htmlEscape = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Fragment responses never reach the server: this page posts them.
const FRAGMENT_PAGE = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signing in…</title></head>
<body><noscript>JavaScript is needed to finish signing in.</noscript>
<form id="f" method="post" action="/redirect_uri"><input type="hidden" name="__fragment" id="v"></form>
<script>
  document.getElementById('v').value = location.hash.slice(1);
  document.getElementById('f').submit();
</script></body></html>`;

async function startLogin(req, res) {
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: REDIRECT_URI,
    scope: SCOPES,
    state,
    nonce,
  };
  if (process.env.OIDC_RESPONSE_MODE) params.response_mode = RESPONSE_MODE;
  let codeVerifier;
  if (RESPONSE_TYPE.includes('code')) {
    codeVerifier = client.randomPKCECodeVerifier();
    params.code_challenge = await client.calculatePKCECodeChallenge(codeVerifier);
    params.code_challenge_method = 'S256';
  }
  const url = client.buildAuthorizationUrl(config, params);
  const existing = loadSession(req);
  if (existing) sessions.delete(existing.id);
  newSession(res, { pending: { state, nonce, codeVerifier } });
  res.writeHead(302, { Location: url.href, 'Cache-Control': 'no-store' });
  res.end();
}

async function finishLogin(req, res, responseParams) {
  const s = loadSession(req);
  const pending = s?.data.pending;
  if (!pending) {
    errorView(req, res, 400, 'invalid_request', 'no login in progress in this session');
    return;
  }
  // openid-client reads a plain code response from the query and
  // implicit/hybrid responses from the fragment, whatever the transport was.
  const current = new URL(REDIRECT_URI);
  if (RESPONSE_TYPE === 'code') current.search = responseParams.toString();
  else current.hash = responseParams.toString();

  let idTokenClaims;
  let tokens;
  try {
    if (RESPONSE_TYPE === 'id_token') {
      idTokenClaims = await client.implicitAuthentication(config, current, pending.nonce, {
        expectedState: FAULT === 'ignore-state' ? client.skipStateCheck : pending.state,
      });
    } else {
      tokens = await client.authorizationCodeGrant(config, current, {
        expectedState: FAULT === 'ignore-state' ? client.skipStateCheck : pending.state,
        expectedNonce: pending.nonce,
        pkceCodeVerifier: pending.codeVerifier,
        idTokenExpected: true,
      });
      idTokenClaims = tokens.claims();
    }
  } catch (err) {
    const error = err.error || err.code || 'login_failed';
    const description = err.error_description || err.message;
    console.error(`selftest-rp: login failed: ${error}: ${description}`);
    errorView(req, res, err.status && err.status >= 400 ? 502 : 400, error, description);
    return;
  }
  let userinfo = null;
  if (tokens?.access_token) {
    try {
      userinfo = await client.fetchUserInfo(config, tokens.access_token, idTokenClaims.sub);
    } catch (err) {
      console.error(`selftest-rp: userinfo failed: ${err.message}`);
    }
  }
  sessions.delete(s.id); // fresh session id after login
  newSession(res, {
    user: {
      sub: idTokenClaims.sub,
      id_token_claims: { ...idTokenClaims },
      userinfo,
      access_token: tokens?.access_token,
      refresh_token: tokens?.refresh_token,
      id_token: tokens?.id_token ?? responseParams.get('id_token'),
    },
  });
  res.writeHead(302, { Location: '/', 'Cache-Control': 'no-store' });
  res.end();
}

async function handle(req, res) {
  const url = new URL(req.url, BASE);
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /health':
      return send(res, 200, 'text/plain', 'ok\n');
    case 'GET /': {
      const user = loadSession(req)?.data.user;
      if (!user) return startLogin(req, res);
      return json(res, 200, {
        sub: user.sub,
        id_token_claims: user.id_token_claims,
        userinfo: user.userinfo,
        access_token_present: Boolean(user.access_token),
      });
    }
    case 'GET /redirect_uri': {
      const p = url.searchParams;
      if (p.has('error')) return errorView(req, res, 400, p.get('error'), p.get('error_description') || '');
      if ([...p.keys()].length === 0 && RESPONSE_MODE === 'fragment') {
        return send(res, 200, 'text/html; charset=utf-8', FRAGMENT_PAGE);
      }
      if (RESPONSE_MODE !== 'query') {
        return errorView(req, res, 400, 'invalid_request', `response expected via ${RESPONSE_MODE}`);
      }
      return finishLogin(req, res, p);
    }
    case 'POST /redirect_uri': {
      let p = new URLSearchParams(await readBody(req));
      // A form_post from a provider on another site (e.g. issuer on
      // localhost, app on 127.0.0.1) arrives without our SameSite=Lax cookie.
      // Re-post it once from our own origin, where the cookie comes along.
      if (!loadSession(req) && !p.has('__reposted')) {
        p.set('__reposted', '1');
        const fields = [...p].map(([k, v]) => `<input type="hidden" name="${htmlEscape(k)}" value="${htmlEscape(v)}">`).join('');
        return send(res, 200, 'text/html; charset=utf-8', `<!DOCTYPE html><html><body>
<form id="f" method="post" action="/redirect_uri">${fields}</form>
<script>document.getElementById('f').submit();</script></body></html>`);
      }
      p.delete('__reposted');
      if (p.has('__fragment')) p = new URLSearchParams(p.get('__fragment'));
      if (p.has('error')) return errorView(req, res, 400, p.get('error'), p.get('error_description') || '');
      if (RESPONSE_MODE === 'query') {
        return errorView(req, res, 400, 'invalid_request', 'response expected in the query');
      }
      return finishLogin(req, res, p);
    }
    case 'GET /logout': {
      const user = loadSession(req)?.data.user;
      dropSession(req, res);
      if (user && meta.end_session_endpoint && FAULT !== 'local-logout') {
        const end = client.buildEndSessionUrl(config, {
          id_token_hint: user.id_token,
          post_logout_redirect_uri: POST_LOGOUT_URI,
        });
        res.writeHead(302, { Location: end.href, 'Cache-Control': 'no-store' });
        return res.end();
      }
      return send(res, 200, 'text/html; charset=utf-8',
        '<!DOCTYPE html><html><body><p>You are logged out.</p><p><a href="/">Log in again</a></p></body></html>');
    }
    case 'GET /api/me': {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
      if (!m) return send(res, 401, 'application/json', JSON.stringify({ error: 'invalid_token' }), { 'WWW-Authenticate': 'Bearer' });
      const info = await client.tokenIntrospection(config, m[1]);
      if (!info.active) return send(res, 401, 'application/json', JSON.stringify({ error: 'invalid_token' }), { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
      return json(res, 200, info);
    }
    default:
      return json(res, 404, { error: 'not_found', error_description: route });
  }
}

const [host, port] = [APP_ADDR.slice(0, APP_ADDR.lastIndexOf(':')), Number(APP_ADDR.slice(APP_ADDR.lastIndexOf(':') + 1))];
const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('selftest-rp: unhandled', err);
    if (!res.headersSent) errorView(req, res, 500, 'server_error', err.message);
    else res.end();
  });
});
server.listen(port, host, () => {
  console.log(`selftest-rp: open ${BASE}/ (issuer ${ISSUER}, response_type ${RESPONSE_TYPE}, response_mode ${RESPONSE_MODE}${FAULT ? `, FAULT ${FAULT}` : ''})`);
});
function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
