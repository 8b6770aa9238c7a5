#!/usr/bin/env node
// Browserless check of provider.mjs: talks HTTP to a running provider, clicks
// through its devInteractions pages with fetch, and checks the features the
// demo-app contract leans on. Prints `N passed, N failed`; exits 1 on any failure.
//
//   node provider-selfcheck.mjs [--issuer http://127.0.0.1:9090]

import { createPublicKey, verify as verifySig, createHash } from 'node:crypto';

const argIssuer = process.argv.indexOf('--issuer');
const ISSUER = (argIssuer > 0 ? process.argv[argIssuer + 1] : process.env.OIDC_ISSUER) || 'http://127.0.0.1:9090';
const REDIRECT = 'http://127.0.0.1:8080/redirect_uri';
const b64u = (s) => Buffer.from(s).toString('base64url');
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const TIMEOUT = 10000;

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

async function http(url, opts = {}) {
  return fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT), ...opts });
}

// A browser-ish user agent: cookie jar + following redirects by hand,
// submitting the devInteractions login and consent forms.
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
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await http(url, { method, headers, body });
    this.store(res);
    return res;
  }

  // Start at `url`, follow the provider until it redirects to the RP (or
  // renders a form_post page). Returns { location } or { html }.
  async authorize(url, { login = 'alice' } = {}) {
    let next = url;
    let method = 'GET';
    let body;
    for (let hop = 0; hop < 20; hop += 1) {
      const res = await this.request(next, { method, body });
      method = 'GET';
      body = undefined;
      if (res.status >= 300 && res.status < 400) {
        const loc = new URL(res.headers.get('location'), next).href;
        if (!loc.startsWith(ISSUER)) return { location: loc };
        next = loc;
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`provider answered ${res.status} at ${next}: ${html.slice(0, 300)}`);
      if (/name="prompt" value="login"/.test(html)) {
        method = 'POST';
        body = new URLSearchParams({ prompt: 'login', login, password: 'x' }).toString();
        next = new URL(/action="([^"]+)"/.exec(html)[1], next).href;
        continue;
      }
      if (/name="prompt" value="consent"/.test(html)) {
        method = 'POST';
        body = new URLSearchParams({ prompt: 'consent' }).toString();
        next = new URL(/action="([^"]+)"/.exec(html)[1], next).href;
        continue;
      }
      return { html };
    }
    throw new Error('too many hops');
  }
}

function authUrl(meta, params) {
  const u = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}

function responseParams(location) {
  const u = new URL(location);
  return new URLSearchParams(u.hash ? u.hash.slice(1) : u.search);
}

async function token(meta, params, auth = ['demo-client', 'demo-secret', 'basic']) {
  const [id, secret, how] = auth;
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  const body = new URLSearchParams(params);
  if (how === 'basic') headers.authorization = basic(id, secret);
  else { body.set('client_id', id); body.set('client_secret', secret); }
  const res = await http(meta.token_endpoint, { method: 'POST', headers, body });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`token endpoint ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

async function introspect(meta, tok) {
  const res = await http(meta.introspection_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('demo-client', 'demo-secret') },
    body: new URLSearchParams({ token: tok }),
  });
  assert(res.status === 200, `introspection ${res.status}`);
  return res.json();
}

const pkce = () => {
  const verifier = b64u(crypto.getRandomValues(new Uint8Array(32)));
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

async function codeFlow(meta, extra = {}, auth) {
  const agent = new Agent();
  const { verifier, challenge } = pkce();
  const { location } = await agent.authorize(authUrl(meta, {
    client_id: auth?.[0] || 'demo-client',
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid profile email',
    state: 'st',
    nonce: 'nn',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  }));
  assert(location, 'no redirect back to the RP');
  const p = responseParams(location);
  assert(p.get('state') === 'st', `state ${p.get('state')} (${location})`);
  assert(p.get('code'), `no code: ${location}`);
  const tokens = await token(meta, {
    grant_type: 'authorization_code', code: p.get('code'), redirect_uri: REDIRECT, code_verifier: verifier,
  }, auth);
  return { agent, tokens };
}

const meta = await (await http(`${ISSUER}/.well-known/openid-configuration`)).json();
const jwks = await (await http(meta.jwks_uri)).json();

function verifyJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  const { header, payload } = decodeJwt(jwt);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert(jwk, `no key ${header.kid} in jwks`);
  assert(header.alg === 'RS256', `alg ${header.alg}`);
  const ok = verifySig('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  assert(ok, 'bad signature');
  return { header, payload };
}

await check('discovery: issuer, endpoints, all six response types, form_post', async () => {
  assert(meta.issuer === ISSUER, `issuer ${meta.issuer}`);
  for (const k of ['registration_endpoint', 'end_session_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'userinfo_endpoint']) assert(meta[k], `no ${k}`);
  for (const rt of ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token']) {
    assert(meta.response_types_supported.includes(rt), `no response type ${rt}`);
  }
  assert(meta.response_modes_supported.includes('form_post'), 'no form_post');
  assert(meta.claims_parameter_supported === true, 'claims parameter off');
  assert(meta.code_challenge_methods_supported.includes('S256'), 'no S256');
});

await check('code flow (client_secret_basic): opaque access token, refresh token, userinfo, introspection, refresh, revocation', async () => {
  const { tokens } = await codeFlow(meta);
  assert(tokens.access_token && tokens.access_token.split('.').length === 1, 'access token not opaque');
  assert(tokens.refresh_token, 'no refresh token');
  const { payload } = verifyJwt(tokens.id_token);
  assert(payload.sub === 'alice' && payload.nonce === 'nn' && payload.aud === 'demo-client', JSON.stringify(payload));
  const ui = await (await http(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json();
  assert(ui.sub === 'alice' && ui.email === 'alice@example.test' && ui.name === 'Alice', `userinfo ${JSON.stringify(ui)}`);
  const info = await introspect(meta, tokens.access_token);
  assert(info.active === true && info.sub === 'alice' && info.client_id === 'demo-client', `introspection ${JSON.stringify(info)}`);
  const refreshed = await token(meta, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert(refreshed.access_token && refreshed.id_token, 'refresh grant gave no tokens');
  const rev = await http(meta.revocation_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('demo-client', 'demo-secret') },
    body: new URLSearchParams({ token: refreshed.access_token }),
  });
  assert(rev.status === 200, `revocation ${rev.status}`);
  assert((await introspect(meta, refreshed.access_token)).active === false, 'revoked token still active');
});

await check('code flow (client_secret_post, demo-client-post)', async () => {
  const { tokens } = await codeFlow(meta, {}, ['demo-client-post', 'demo-secret', 'post']);
  assert(tokens.id_token && tokens.access_token, 'no tokens');
});

await check('resource indicator http://127.0.0.1:8080: RFC 9068 JWT access token (or introspectable opaque one)', async () => {
  const { tokens } = await codeFlow(meta, { resource: 'http://127.0.0.1:8080', scope: 'openid profile email api:read' });
  if (tokens.access_token.split('.').length === 3) {
    const { header, payload } = verifyJwt(tokens.access_token);
    assert(header.typ === 'at+jwt', `typ ${header.typ}`);
    assert(payload.aud === 'http://127.0.0.1:8080', `aud ${payload.aud}`);
    assert(payload.iss === ISSUER && payload.sub === 'alice' && payload.client_id === 'demo-client', JSON.stringify(payload));
    assert(payload.scope === 'api:read', `scope ${payload.scope}`);
  } else {
    // OP_RESOURCE_TOKEN_FORMAT=opaque
    const info = await introspect(meta, tokens.access_token);
    assert(info.active === true && info.aud === 'http://127.0.0.1:8080' && info.scope === 'api:read', `introspection ${JSON.stringify(info)}`);
  }
});

for (const [rt, mode] of [['id_token', 'fragment'], ['id_token token', 'fragment'], ['code id_token', 'fragment'], ['code token', 'fragment'], ['code id_token token', 'fragment'], ['code', 'form_post'], ['code id_token', 'form_post']]) {
  await check(`response_type=${rt} response_mode=${mode} to an http:// redirect_uri`, async () => {
    const agent = new Agent();
    const res = await agent.authorize(authUrl(meta, {
      client_id: 'demo-client', response_type: rt, response_mode: mode, redirect_uri: REDIRECT, scope: 'openid email', state: 'st', nonce: 'nn',
    }));
    let p;
    if (mode === 'form_post') {
      assert(res.html && res.html.includes(REDIRECT), 'no form_post page');
      p = new URLSearchParams([...res.html.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    } else {
      assert(res.location?.startsWith(`${REDIRECT}#`), `not a fragment redirect: ${res.location}`);
      p = responseParams(res.location);
    }
    assert(p.get('state') === 'st', `state missing: ${[...p.keys()]}`);
    for (const part of rt.split(' ')) {
      const key = part === 'token' ? 'access_token' : part;
      assert(p.get(key), `no ${key} in response (${[...p.keys()]})`);
    }
    if (p.get('id_token')) {
      const { payload } = verifyJwt(p.get('id_token'));
      assert(payload.nonce === 'nn' && payload.sub === 'alice', JSON.stringify(payload));
      const parts = rt.split(' ');
      if (parts.includes('code')) assert(payload.c_hash, 'no c_hash');
      if (parts.includes('token')) assert(payload.at_hash, 'no at_hash');
    }
  });
}

await check('claims parameter: email requested into the ID token', async () => {
  const { tokens } = await codeFlow(meta, { claims: JSON.stringify({ id_token: { email: { essential: true } } }) });
  const { payload } = verifyJwt(tokens.id_token);
  assert(payload.email === 'alice@example.test', `id token ${JSON.stringify(payload)}`);
});

await check('open dynamic registration: web client, implicit + hybrid, http://127.0.0.1 redirect', async () => {
  const res = await http(meta.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: ['http://127.0.0.1:8082/redirect_uri'],
      post_logout_redirect_uris: ['http://127.0.0.1:8082/logout'],
      response_types: ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'],
      grant_types: ['authorization_code', 'implicit', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_post',
      application_type: 'web',
    }),
  });
  const body = await res.json();
  assert(res.status === 201, `registration ${res.status}: ${JSON.stringify(body)}`);
  assert(body.client_id && body.client_secret, 'no credentials');
});

await check('RP-initiated logout: confirmation form, then post_logout_redirect_uri', async () => {
  const { agent, tokens } = await codeFlow(meta);
  const end = new URL(meta.end_session_endpoint);
  end.searchParams.set('id_token_hint', tokens.id_token);
  end.searchParams.set('post_logout_redirect_uri', 'http://127.0.0.1:8080/logout');
  end.searchParams.set('state', 'ls');
  const page = await agent.request(end.href);
  const html = await page.text();
  assert(page.status === 200 && html.includes('op.logoutForm'), `no confirmation page (${page.status})`);
  const action = new URL(/action="([^"]+)"/.exec(html)[1], end).href;
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)[1];
  const res = await agent.request(action, { method: 'POST', body: new URLSearchParams({ xsrf, logout: 'yes' }).toString() });
  let loc = res.headers.get('location');
  for (let i = 0; i < 5 && loc && loc.startsWith(ISSUER); i += 1) {
    loc = (await agent.request(loc)).headers.get('location');
  }
  assert(loc?.startsWith('http://127.0.0.1:8080/logout'), `ended at ${loc}`);
  assert(new URL(loc).searchParams.get('state') === 'ls', 'state not returned');
  const again = await agent.authorize(authUrl(meta, {
    client_id: 'demo-client', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's', nonce: 'n', prompt: 'none',
  }));
  assert(responseParams(again.location).get('error') === 'login_required', `prompt=none after logout: ${again.location}`);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
