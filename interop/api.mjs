#!/usr/bin/env node
// Checks a demo app's bearer-protected `GET /api/me` (docs/demo-contract.md) with access tokens
// the real provider (provider.mjs) issued. No browser: the script logs in at the provider with
// plain HTTP (devInteractions login and consent forms, cookie jar, redirects by hand), stops
// at the redirect to the app's `/redirect_uri`, redeems the code at the provider's token
// endpoint as `demo-client` (with PKCE), and calls the app's API with the access token.
// Prints exactly one line on stdout, `PASS <scenario>` or `FAIL <scenario>: <reason>`, and
// exits 0 / 1 (2 for bad usage).
//
//   node api.mjs --app http://127.0.0.1:8080 --scenario introspection
//
// Scenarios, and how to start the app for each:
//   introspection       defaults (OIDC_API_VALIDATION unset or `introspection`, no
//                       OIDC_API_SCOPES, OIDC_API_AUDIENCE unset: the app's base URL). An
//                       opaque access token for the app (`resource=<app>/opaque`, `aud` the
//                       app's base URL): `/api/me` answers 200 with its claims (`sub`,
//                       `client_id`); 401 with a `WWW-Authenticate: Bearer` challenge without a
//                       token, with a made-up token, with a token revoked at the provider before
//                       the app saw it, and with an opaque token for userinfo only (no resource
//                       indicator, so no `aud`): the app checks the audience by default.
//   insufficient-scope  OIDC_API_SCOPES=<--required-scope> (default `api:write`), validation by
//                       introspection. The same kind of token, which lacks that scope: 403
//                       `insufficient_scope`; a made-up token still gets 401.
//   jwt                 OIDC_API_VALIDATION=jwt and OIDC_API_AUDIENCE=<--audience> (default: the
//                       app's base URL, which is also the contract's default). An RFC 9068 JWT
//                       access token for that resource (`resource=<audience>`, scope `api:read`):
//                       200 with its claims; 401 for a JWT for another resource, for the same
//                       JWT with its payload altered, for an opaque token, and without a token.
//
// Options:
//   --app URL             the demo app's base URL (default $APP_URL or http://127.0.0.1:8080)
//   --issuer URL          the provider's issuer (default $OIDC_ISSUER or http://127.0.0.1:9090)
//   --scenario NAME       introspection | insufficient-scope | jwt
//   --user LOGIN          login at the provider's form; becomes `sub` (default alice)
//   --client-id ID        the client the tokens are issued to (default demo-client; the app
//                         must introspect as this client or trust its tokens)
//   --client-secret S     its secret (default demo-secret), client_secret_basic
//   --required-scope S    insufficient-scope: the app's OIDC_API_SCOPES (default api:write)
//   --audience URL        jwt: the app's OIDC_API_AUDIENCE (default the app's base URL)
//   --timeout MS          bound of every single HTTP request, at most 20000 (default 10000)
//   --artifacts DIR       on FAIL, write the transcript of every request and response there
//   --verbose             the transcript on stderr as it happens

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, createPublicKey, randomBytes, verify as verifySig } from 'node:crypto';

const SCENARIOS = ['introspection', 'insufficient-scope', 'jwt'];

// ---------- arguments ----------
function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (k === 'verbose') { out[k] = true; continue; }
    const v = inline !== undefined ? inline : argv[++i];
    if (v === undefined) throw new Error(`--${k} needs a value`);
    out[k] = v;
  }
  return out;
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  console.log(`FAIL usage: ${e.message}`);
  process.exit(2);
}
const scenario = args.scenario;
if (!SCENARIOS.includes(scenario)) {
  console.log(`FAIL ${scenario ?? '(none)'}: unknown --scenario, use one of ${SCENARIOS.join(', ')}`);
  process.exit(2);
}
const APP = new URL(args.app || process.env.APP_URL || 'http://127.0.0.1:8080').origin;
const ISSUER = new URL(args.issuer || process.env.OIDC_ISSUER || 'http://127.0.0.1:9090').href.replace(/\/$/, '');
const USER = args.user || 'alice';
const CLIENT_ID = args['client-id'] || 'demo-client';
const CLIENT_SECRET = args['client-secret'] || 'demo-secret';
const REQUIRED_SCOPE = args['required-scope'] || 'api:write';
const AUDIENCE = (args.audience || APP).replace(/\/$/, '');
const STEP = Math.min(Number(args.timeout || 10000), 20000);
const OVERALL = 90000;
const VERBOSE = Boolean(args.verbose || process.env.DRIVE_VERBOSE);
const ARTIFACTS = args.artifacts || process.env.DRIVE_ARTIFACTS;
const REDIRECT_URI = `${APP}/redirect_uri`;
const API = `${APP}/api/me`;

function isLoopback(hostname) {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
for (const [name, u] of [['--app', APP], ['--issuer', ISSUER], ['--audience', AUDIENCE]]) {
  let parsed;
  try { parsed = new URL(u); } catch { parsed = undefined; }
  if (!parsed || !isLoopback(parsed.hostname)) {
    console.log(`FAIL ${scenario}: ${name} ${u} is not a loopback URL`);
    process.exit(2);
  }
}
if (!(STEP > 0)) {
  console.log(`FAIL ${scenario}: --timeout must be a positive number of milliseconds`);
  process.exit(2);
}

// ---------- verdict and transcript ----------
const transcript = [];
function note(line) {
  transcript.push(line);
  if (VERBOSE) console.error('[api]', line);
}

let finished = false;
function finish(ok, reason) {
  if (finished) return;
  finished = true;
  console.log(ok ? `PASS ${scenario}` : `FAIL ${scenario}: ${String(reason).replace(/\s+/g, ' ').slice(0, 600)}`);
}

function saveTranscript() {
  if (!ARTIFACTS) return;
  try {
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, `${scenario}-${Date.now()}.transcript.txt`), `${transcript.join('\n')}\n`);
  } catch (e) {
    console.error(`[api] could not write the transcript: ${e.message}`);
  }
}

const watchdog = setTimeout(() => {
  finish(false, `overall time limit of ${OVERALL / 1000}s exceeded`);
  saveTranscript();
  process.exit(1);
}, OVERALL);

class Fail extends Error {}
const fail = (reason) => { throw new Fail(reason); };
/** A failure of the harness or the provider, not of the app. */
const harness = (reason) => fail(`harness/provider: ${reason}`);

// Tokens never appear whole in the transcript or the verdict.
const short = (t) => (typeof t === 'string' && t.length > 16 ? `${t.slice(0, 10)}…(${t.length} chars)` : String(t));
const redactUrl = (u) => u.replace(/([?&#](?:code|access_token|id_token|refresh_token)=)[^&#]+/g, '$1…');

// ---------- HTTP ----------
async function http(url, opts = {}, label = '') {
  const method = opts.method || 'GET';
  let res;
  try {
    res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(STEP), ...opts });
  } catch (e) {
    note(`${method} ${redactUrl(url)} ${label}-> ${e.cause?.code || e.name}: ${e.message}`);
    fail(`${method} ${url} failed: ${e.cause?.code || e.name} ${e.message}`);
  }
  const text = await res.text();
  const loc = res.headers.get('location');
  note(`${method} ${redactUrl(url)} ${label}-> ${res.status}${loc ? ` location=${redactUrl(loc)}` : ''}`);
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json, res };
}

const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const form = { 'content-type': 'application/x-www-form-urlencoded' };

// A browser-ish user agent at the provider: a cookie jar, redirects followed by hand, the
// devInteractions login and consent forms submitted.
class Agent {
  constructor() { this.jar = new Map(); }

  cookieHeader() { return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '); }

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.jar.delete(name); else this.jar.set(name, value);
    }
  }

  async request(url, { method = 'GET', body } = {}) {
    const headers = { cookie: this.cookieHeader() };
    if (body) Object.assign(headers, form);
    const r = await http(url, { method, headers, body });
    this.store(r.res);
    return r;
  }

  // From the authorization request to the redirect back to the app (not followed).
  async authorize(url) {
    let next = url;
    let method = 'GET';
    let body;
    for (let hop = 0; hop < 20; hop += 1) {
      const r = await this.request(next, { method, body });
      method = 'GET';
      body = undefined;
      if (r.status >= 300 && r.status < 400) {
        const loc = new URL(r.headers.get('location'), next).href;
        if (!loc.startsWith(`${ISSUER}/`)) return loc;
        next = loc;
        continue;
      }
      if (r.status !== 200) harness(`the provider answered ${r.status} at ${redactUrl(next)}: ${r.text.slice(0, 300)}`);
      const action = /action="([^"]+)"/.exec(r.text)?.[1];
      if (/name="prompt" value="login"/.test(r.text) && action) {
        method = 'POST';
        body = new URLSearchParams({ prompt: 'login', login: USER, password: 'x' }).toString();
        next = new URL(action, next).href;
        continue;
      }
      if (/name="prompt" value="consent"/.test(r.text) && action) {
        method = 'POST';
        body = new URLSearchParams({ prompt: 'consent' }).toString();
        next = new URL(action, next).href;
        continue;
      }
      harness(`unexpected page at ${redactUrl(next)}: ${r.text.replace(/<[^>]*>/g, ' ').slice(0, 200)}`);
    }
    return harness('more than 20 hops at the provider');
  }
}

// ---------- the provider ----------
let meta;
async function discover() {
  const r = await http(`${ISSUER}/.well-known/openid-configuration`);
  if (r.status !== 200 || !r.json) harness(`discovery answered ${r.status}`);
  meta = r.json;
  for (const k of ['authorization_endpoint', 'token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'jwks_uri']) {
    if (!meta[k]) harness(`the provider's metadata has no ${k}`);
  }
}

const agent = new Agent();

/** An authorization code login at the provider, the code redeemed at its token endpoint. */
async function obtainTokens({ scope, resource }) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(12).toString('base64url');
  const u = new URL(meta.authorization_endpoint);
  const params = {
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope,
    state,
    nonce: randomBytes(12).toString('base64url'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(resource ? { resource } : {}),
  };
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const back = new URL(await agent.authorize(u.href));
  if (`${back.origin}${back.pathname}` !== REDIRECT_URI) harness(`the provider redirected to ${redactUrl(back.href)}, not to ${REDIRECT_URI}`);
  const p = back.searchParams;
  if (p.get('error')) harness(`the authorization request (${scope}${resource ? `, resource ${resource}` : ''}) was refused: ${p.get('error')} ${p.get('error_description') || ''}`);
  if (p.get('state') !== state) harness('the authorization response has another state');
  if (!p.get('code')) harness('the authorization response has no code');
  const r = await http(meta.token_endpoint, {
    method: 'POST',
    headers: { ...form, authorization: basic(CLIENT_ID, CLIENT_SECRET) },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: p.get('code'), redirect_uri: REDIRECT_URI, code_verifier: verifier }),
  }, '(token endpoint) ');
  if (r.status !== 200 || !r.json?.access_token) harness(`the token endpoint answered ${r.status}: ${r.text.slice(0, 300)}`);
  note(`  access token ${short(r.json.access_token)}, token_type ${r.json.token_type}, scope ${r.json.scope}`);
  return r.json;
}

async function introspectAtProvider(token) {
  const r = await http(meta.introspection_endpoint, {
    method: 'POST',
    headers: { ...form, authorization: basic(CLIENT_ID, CLIENT_SECRET) },
    body: new URLSearchParams({ token }),
  }, '(introspection, by the script) ');
  if (r.status !== 200 || typeof r.json?.active !== 'boolean') harness(`introspection answered ${r.status}: ${r.text.slice(0, 200)}`);
  note(`  introspection: ${JSON.stringify(r.json)}`);
  return r.json;
}

async function revokeAtProvider(token) {
  const r = await http(meta.revocation_endpoint, {
    method: 'POST',
    headers: { ...form, authorization: basic(CLIENT_ID, CLIENT_SECRET) },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  }, '(revocation) ');
  if (r.status !== 200) harness(`revocation answered ${r.status}: ${r.text.slice(0, 200)}`);
}

let jwks;
function decodeJwt(jwt) {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return { header: JSON.parse(Buffer.from(parts[0], 'base64url')), payload: JSON.parse(Buffer.from(parts[1], 'base64url')) };
  } catch {
    return undefined;
  }
}

/** The script's own check of a JWT access token: RFC 9068 shape, the provider's signature. */
async function checkJwtAccessToken(jwt, audience, what) {
  const d = decodeJwt(jwt);
  if (!d) harness(`${what}: the provider issued no JWT access token (OP_RESOURCE_TOKEN_FORMAT=opaque?): ${short(jwt)}`);
  note(`  ${what}: header ${JSON.stringify(d.header)} payload ${JSON.stringify(d.payload)}`);
  if (d.header.typ !== 'at+jwt') harness(`${what}: typ ${d.header.typ}, not at+jwt`);
  const auds = [d.payload.aud].flat();
  if (!auds.includes(audience)) harness(`${what}: aud ${JSON.stringify(d.payload.aud)}, not ${audience}`);
  if (d.payload.iss !== ISSUER) harness(`${what}: iss ${d.payload.iss}, not ${ISSUER}`);
  if (!jwks) {
    const r = await http(meta.jwks_uri);
    if (r.status !== 200 || !r.json?.keys) harness(`jwks_uri answered ${r.status}`);
    jwks = r.json;
  }
  const jwk = jwks.keys.find((k) => k.kid === d.header.kid);
  if (!jwk) harness(`${what}: no key ${d.header.kid} in the provider's JWKS`);
  const [h, p, s] = jwt.split('.');
  const ok = d.header.alg === 'RS256'
    && verifySig('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  if (!ok) harness(`${what}: the signature does not verify (alg ${d.header.alg})`);
  return d.payload;
}

// ---------- the app ----------
async function callApi(token, what) {
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const r = await http(API, { headers }, `(${what}) `);
  const challenge = r.headers.get('www-authenticate');
  note(`  ${r.status} www-authenticate=${challenge ?? '(none)'} content-type=${r.headers.get('content-type') ?? '(none)'} body=${r.text.slice(0, 400)}`);
  return { ...r, challenge };
}

const describe = (r) => `${r.status}${r.challenge ? ` (WWW-Authenticate: ${r.challenge})` : ''}: ${r.text.slice(0, 200) || '(empty body)'}`;

function expectBearerChallenge(r, what, errorCode) {
  if (!r.challenge || !/^bearer(\s|,|$)/i.test(r.challenge.trim())) {
    fail(`${what}: ${r.status} without a \`WWW-Authenticate: Bearer\` challenge (got ${r.challenge ?? 'none'})`);
  }
  if (errorCode) {
    const m = /error="([^"]*)"/.exec(r.challenge);
    if (m && m[1] !== errorCode) fail(`${what}: the challenge says error="${m[1]}", not "${errorCode}": ${r.challenge}`);
  }
}

async function expect401(token, what, errorCode) {
  const r = await callApi(token, what);
  if (r.status !== 401) fail(`${what}: GET /api/me answered ${describe(r)}; expected 401`);
  expectBearerChallenge(r, what, errorCode);
  return r;
}

async function expect200(token, what) {
  const r = await callApi(token, what);
  if (r.status !== 200) fail(`${what}: GET /api/me answered ${describe(r)}; expected 200 with the token's claims`);
  if (!/json/i.test(r.headers.get('content-type') || '')) fail(`${what}: 200 but content-type ${r.headers.get('content-type')}, not JSON`);
  if (!r.json || typeof r.json !== 'object' || Array.isArray(r.json)) fail(`${what}: 200 but the body is not a JSON object: ${r.text.slice(0, 200)}`);
  return r.json;
}

function expectClaim(claims, name, value, what) {
  if (claims[name] !== value) fail(`${what}: the claims have ${name}=${JSON.stringify(claims[name])}, expected ${JSON.stringify(value)} (claims: ${JSON.stringify(claims).slice(0, 300)})`);
}

const scopesOf = (claims) => (typeof claims.scope === 'string' ? claims.scope.split(/\s+/).filter(Boolean) : []);
const garbage = () => randomBytes(32).toString('base64url');

// ---------- scenarios ----------
// Opaque, introspectable tokens for the app's API (provider.mjs: `<app>/opaque` names the app
// as a resource server with opaque tokens; their `aud` is the app's base URL).
const OPAQUE_RESOURCE = `${AUDIENCE}/opaque`;

async function introspection() {
  const tokens = await obtainTokens({ scope: 'openid api:read', resource: OPAQUE_RESOURCE });
  const at = tokens.access_token;
  if (decodeJwt(at)) harness(`for the resource ${OPAQUE_RESOURCE} the provider should issue an opaque access token, and it issued a JWT`);
  const info = await introspectAtProvider(at);
  if (info.active !== true || info.sub !== USER || info.client_id !== CLIENT_ID) harness(`the provider does not introspect the fresh token as active for ${USER}/${CLIENT_ID}: ${JSON.stringify(info)}`);
  if (![info.aud].flat().includes(AUDIENCE)) harness(`the provider introspects the token with aud ${JSON.stringify(info.aud)}, not ${AUDIENCE}`);

  await expect401(undefined, 'no Authorization header');
  const claims = await expect200(at, 'the provider\'s access token');
  expectClaim(claims, 'sub', USER, 'the provider\'s access token');
  expectClaim(claims, 'client_id', CLIENT_ID, 'the provider\'s access token');
  if ('active' in claims) expectClaim(claims, 'active', true, 'the provider\'s access token');
  // Cached or not, the same token again.
  const again = await expect200(at, 'the same token again');
  expectClaim(again, 'sub', USER, 'the same token again');

  await expect401(garbage(), 'a made-up token', 'invalid_token');

  // A token for userinfo only (no resource indicator): active, but not for this app.
  const userinfoOnly = (await obtainTokens({ scope: 'openid profile email' })).access_token;
  const uinfo = await introspectAtProvider(userinfoOnly);
  if (uinfo.active !== true || [uinfo.aud].flat().includes(AUDIENCE)) harness(`the userinfo-only token should be active without aud ${AUDIENCE}: ${JSON.stringify(uinfo)}`);
  await expect401(userinfoOnly, 'an active token that is not for this app (no aud)', 'invalid_token');

  // A token revoked before the app ever saw it: the provider introspects it as inactive.
  const second = (await obtainTokens({ scope: 'openid api:read', resource: OPAQUE_RESOURCE })).access_token;
  await revokeAtProvider(second);
  if ((await introspectAtProvider(second)).active !== false) harness('a revoked token is still active at the provider');
  await expect401(second, 'a token revoked at the provider', 'invalid_token');
}

async function insufficientScope() {
  const tokens = await obtainTokens({ scope: 'openid api:read', resource: OPAQUE_RESOURCE });
  const at = tokens.access_token;
  const info = await introspectAtProvider(at);
  if (info.active !== true) harness(`the fresh token is not active at the provider: ${JSON.stringify(info)}`);
  if (scopesOf(info).includes(REQUIRED_SCOPE)) harness(`the token has ${REQUIRED_SCOPE} (scope "${info.scope}"); the check needs one without it`);

  await expect401(undefined, 'no Authorization header');
  const what = `a valid token lacking ${REQUIRED_SCOPE} (scope "${info.scope}")`;
  const r = await callApi(at, what);
  if (r.status !== 403) fail(`${what}: GET /api/me answered ${describe(r)}; expected 403 insufficient_scope`);
  const inHeader = /error="insufficient_scope"/.test(r.challenge || '');
  const inBody = r.json?.error === 'insufficient_scope';
  if (!inHeader && !inBody) fail(`${what}: 403 but neither the WWW-Authenticate challenge nor the body says insufficient_scope: ${describe(r)}`);
  expectBearerChallenge(r, what, 'insufficient_scope');
  // Validity comes before scope: a made-up token is 401, not 403.
  await expect401(garbage(), 'a made-up token', 'invalid_token');
}

async function jwt() {
  const otherPort = Number(new URL(AUDIENCE).port || 80) === 8080 ? 8081 : 8080;
  const other = `http://127.0.0.1:${otherPort}`;

  const tokens = await obtainTokens({ scope: 'openid api:read', resource: AUDIENCE });
  const at = tokens.access_token;
  const payload = await checkJwtAccessToken(at, AUDIENCE, `JWT access token for ${AUDIENCE}`);

  await expect401(undefined, 'no Authorization header');
  const what = `the provider's RFC 9068 JWT for ${AUDIENCE}`;
  const claims = await expect200(at, what);
  expectClaim(claims, 'sub', payload.sub, what);
  expectClaim(claims, 'sub', USER, what);
  expectClaim(claims, 'client_id', CLIENT_ID, what);
  if (!scopesOf(claims).includes('api:read')) fail(`${what}: the claims' scope is ${JSON.stringify(claims.scope)}, without api:read`);

  const otherToken = (await obtainTokens({ scope: 'openid api:read', resource: other })).access_token;
  await checkJwtAccessToken(otherToken, other, `JWT access token for ${other}`);
  await expect401(otherToken, `a JWT from the same provider for another audience (${other})`, 'invalid_token');

  // The valid JWT with its payload changed (sub) and the provider's signature kept.
  const [h, , s] = at.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'mallory' })).toString('base64url')}.${s}`;
  await expect401(forged, 'the JWT with its payload altered (sub=mallory)', 'invalid_token');

  // An opaque token from the same provider cannot be validated locally.
  const opaque = (await obtainTokens({ scope: 'openid profile' })).access_token;
  if (decodeJwt(opaque)) harness('with no resource indicator the provider should issue an opaque access token, and it issued a JWT');
  await expect401(opaque, 'an opaque access token', 'invalid_token');
}

// ---------- main ----------
let ok = false;
try {
  note(`scenario ${scenario}: app ${APP}, issuer ${ISSUER}, user ${USER}, client ${CLIENT_ID}`);
  await discover();
  await { introspection, 'insufficient-scope': insufficientScope, jwt }[scenario]();
  ok = true;
  finish(true);
} catch (e) {
  const reason = e instanceof Fail ? e.message : `unexpected error: ${e.stack || e}`;
  note(`FAIL: ${reason}`);
  finish(false, reason);
  saveTranscript();
}
clearTimeout(watchdog);
process.exit(ok ? 0 : 1);
