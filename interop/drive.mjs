#!/usr/bin/env node
// Drives a demo app (docs/demo-contract.md) through a real OpenID Provider in
// headless Chromium. Prints exactly one line on stdout, `PASS <scenario>` or
// `FAIL <scenario>: <reason>`, and exits 0 / 1 (2 for bad usage). The scenario
// `two-instances` runs several checks and prints one such line per check first
// (`PASS <check>` / `FAIL <check>: <reason>`); its last line is the overall verdict.
//
//   node drive.mjs --app http://127.0.0.1:8080 --scenario code
//
// Options:
//   --app URL         the demo app's base URL (default $APP_URL or http://127.0.0.1:8080)
//   --issuer URL      the provider's issuer (default $OIDC_ISSUER or http://127.0.0.1:9090)
//   --scenario NAME   code | sso | logout | tampered | implicit | hybrid | form_post | silent-refresh
//                     | cross-site-logout | silent-refresh-login-required | key-rotation
//                     | two-instances
//   --user LOGIN      login to type into the provider's form (default alice)
//   --tamper PARAM    tampered: which redirect parameter to change: state (default), code,
//                     or response (a JARM response: its signature replaced)
//   --refresh-after S silent-refresh: seconds to wait after the login before opening `/`
//                     again; more than the app's OIDC_SESSION_REFRESH_INTERVAL_SECONDS
//                     (default 6, for an interval of 5; at most 100)
//   --rotate-wait S   key-rotation: seconds to wait after the provider rotated its keys
//                     before the second login; more than the app's JWKS refetch interval
//                     (default 6, for the library's 5 s; at most 60)
//   --second-app URL  two-instances: instance B, a second instance of the app sharing A's
//                     session store and secret (A is --app), on the same host
//   --checks LIST     two-instances: which checks, comma-separated, of shared-session,
//                     backchannel-logout, redis-restart (default all, in that order)
//   --restart-dir DIR two-instances, redis-restart: the handshake with whoever runs the
//                     session store (cargo xtask interop): the driver writes
//                     DIR/restart-requested, then waits for DIR/restarted (`ok ...` or
//                     `error: ...`) before its next requests
//   --timeout MS      bound of every single wait, at most 20000 (default 20000)
//   --artifacts DIR   on FAIL, write a screenshot and the page's HTML there
//   --verbose         log every step and navigation on stderr
//   --chromium PATH   browser binary (default $CHROMIUM_PATH or /usr/bin/chromium)

import {
  existsSync, mkdtempSync, rmSync, mkdirSync, readFileSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const SCENARIOS = ['code', 'sso', 'logout', 'tampered', 'implicit', 'hybrid', 'form_post', 'silent-refresh',
  'cross-site-logout', 'silent-refresh-login-required', 'key-rotation', 'two-instances'];
// The checks of `two-instances`, in the order they run.
const TWO_INSTANCE_CHECKS = ['shared-session', 'backchannel-logout', 'redis-restart'];

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
const ISSUER = new URL(args.issuer || process.env.OIDC_ISSUER || 'http://127.0.0.1:9090');
const OP = ISSUER.origin;
const USER = args.user || 'alice';
// Who the login form is filled in as, and whose `sub` the app must show.
let loginAs = USER;
const TAMPER = args.tamper || 'state';
const REFRESH_AFTER = Number(args['refresh-after'] ?? 6);
const ROTATE_WAIT = Number(args['rotate-wait'] ?? 6);
const MAX_REFRESH_AFTER = 100; // leaves the login and the refresh room under OVERALL
const STEP = Math.min(Number(args.timeout || 20000), 20000);
const OVERALL = 150000; // hard ceiling for the whole run
const VERBOSE = Boolean(args.verbose || process.env.DRIVE_VERBOSE);
const ARTIFACTS = args.artifacts || process.env.DRIVE_ARTIFACTS;
const CHROMIUM = args.chromium || process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SECOND_APP = args['second-app'] ? new URL(args['second-app']).origin : undefined;
const CHECKS = (args.checks || TWO_INSTANCE_CHECKS.join(',')).split(',').filter(Boolean);
const RESTART_DIR = args['restart-dir'];
// How long the harness may take to restart the session store.
const RESTART_LIMIT = 30000;

if (scenario === 'two-instances') {
  if (!SECOND_APP) {
    console.log(`FAIL ${scenario}: --second-app is required (instance B)`);
    process.exit(2);
  }
  if (SECOND_APP === APP) {
    console.log(`FAIL ${scenario}: --second-app must be another instance than --app`);
    process.exit(2);
  }
  const unknown = CHECKS.filter((c) => !TWO_INSTANCE_CHECKS.includes(c));
  if (unknown.length || CHECKS.length === 0) {
    console.log(`FAIL ${scenario}: --checks takes ${TWO_INSTANCE_CHECKS.join(', ')}`);
    process.exit(2);
  }
  if (CHECKS.includes('redis-restart') && !RESTART_DIR) {
    console.log(`FAIL ${scenario}: the redis-restart check needs --restart-dir`);
    process.exit(2);
  }
}

for (const [name, u] of [['--app', new URL(APP)], ['--issuer', ISSUER],
  ...(SECOND_APP ? [['--second-app', new URL(SECOND_APP)]] : [])]) {
  if (!isLoopback(u.hostname)) {
    console.log(`FAIL ${scenario}: ${name} ${u.href} is not a loopback address`);
    process.exit(2);
  }
}
if (!['state', 'code', 'response'].includes(TAMPER)) {
  console.log(`FAIL ${scenario}: --tamper must be state, code or response`);
  process.exit(2);
}
if (!(Number.isFinite(ROTATE_WAIT) && ROTATE_WAIT >= 0 && ROTATE_WAIT <= 60)) {
  console.log(`FAIL ${scenario}: --rotate-wait must be a number of seconds in [0, 60]`);
  process.exit(2);
}
if (!(Number.isFinite(REFRESH_AFTER) && REFRESH_AFTER > 0 && REFRESH_AFTER <= MAX_REFRESH_AFTER)) {
  console.log(`FAIL ${scenario}: --refresh-after must be a number of seconds in (0, ${MAX_REFRESH_AFTER}]`);
  process.exit(2);
}

function isLoopback(hostname) {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
const log = (...a) => { if (VERBOSE) console.error('[drive]', ...a); };
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

class Fail extends Error {}
const fail = (reason) => { throw new Fail(reason); };

// ---------- browser ----------
let userDataDir;
let context;
let page;
let finished = false;

function finish(ok, reason) {
  if (finished) return;
  finished = true;
  console.log(ok ? `PASS ${scenario}` : `FAIL ${scenario}: ${String(reason).replace(/\s+/g, ' ').slice(0, 600)}`);
}

async function cleanup() {
  try { await context?.close(); } catch { /* already gone */ }
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
}

const watchdog = setTimeout(async () => {
  finish(false, `overall time limit of ${OVERALL / 1000}s exceeded`);
  await Promise.race([cleanup(), sleep(5000)]);
  process.exit(1);
}, OVERALL);

async function launch() {
  userDataDir = mkdtempSync(join(tmpdir(), 'interop-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    // Starting the browser is not a protocol step: on a loaded 2-core machine it has taken
    // over 20 s (a cold start beside cargo builds), so it gets its own, longer bound.
    timeout: 60000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Loopback only. Chromium always connects to loopback directly (implicit
      // proxy bypass); everything else goes to a dead loopback proxy and fails
      // at once (e.g. the web font the provider's pages reference), and no
      // other host name resolves.
      '--proxy-server=http://127.0.0.1:9',
      `--host-resolver-rules=MAP * ~NOTFOUND , ${[...new Set(['localhost', '127.0.0.1', new URL(APP).hostname, ISSUER.hostname,
        ...(SECOND_APP ? [new URL(SECOND_APP).hostname] : [])])].map((h) => `EXCLUDE ${h}`).join(' , ')}`,
    ],
  });
  context.setDefaultTimeout(STEP);
  context.setDefaultNavigationTimeout(STEP);
  page = context.pages()[0] || await context.newPage();
  instrument(page);
}

// ---------- what happened: navigations, requests, cookies ----------
let navCount = 0; // main-frame navigations so far
const trace = {
  mainResponses: [], // { url, status, response }
  requests: [], // { method, url, postData }
  appCookieNames: new Set(),
  opCookieNames: new Set(),
};

function cookieName(setCookieLine) {
  return setCookieLine.split(';', 1)[0].split('=', 1)[0].trim();
}

function instrument(p) {
  p.on('framenavigated', (f) => { if (f === p.mainFrame()) navCount += 1; });
  p.on('request', (req) => {
    trace.requests.push({ method: req.method(), url: req.url(), postData: req.postData(), nav: req.isNavigationRequest() });
    if (req.isNavigationRequest() && req.frame() === p.mainFrame()) log('->', req.method(), req.url());
  });
  p.on('response', async (res) => {
    const url = res.url();
    if (res.request().isNavigationRequest() && res.frame() === p.mainFrame()) {
      trace.mainResponses.push({ url, status: res.status(), response: res });
      log('<-', res.status(), url);
    }
    try {
      const origin = new URL(url).origin;
      const headers = await res.headersArray();
      for (const h of headers) {
        if (h.name.toLowerCase() !== 'set-cookie') continue;
        for (const line of h.value.split('\n')) {
          const name = cookieName(line);
          if (!name) continue;
          if (origin === APP) trace.appCookieNames.add(name);
          if (origin === OP) trace.opCookieNames.add(name);
        }
      }
    } catch { /* page went away */ }
  });
}

function currentUrl() {
  try { return new URL(page.url()); } catch { return undefined; }
}

// The final (non-redirect) response that produced the document now shown, among the
// main-frame responses from index `since` on.
function shownResponse(since = 0) {
  const url = page.url();
  for (let i = trace.mainResponses.length - 1; i >= since; i -= 1) {
    const r = trace.mainResponses[i];
    if (r.url === url.split('#')[0] || r.url === url) return r;
  }
  return undefined;
}

async function present(selector) {
  try {
    return (await page.locator(selector).count()) > 0;
  } catch {
    return false; // navigating
  }
}

async function bodyText() {
  try {
    return await page.locator('body').innerText({ timeout: 2000 });
  } catch {
    return '';
  }
}

async function responseText(r) {
  try {
    return await r.response.text();
  } catch {
    return bodyText();
  }
}

async function goto(url) {
  log('goto', url);
  try {
    await page.goto(url, { waitUntil: 'commit', timeout: STEP });
  } catch (e) {
    // A redirect chain interrupted by a client-side navigation is fine; the
    // state machine below looks at where the page ends up.
    if (!/interrupted|ERR_ABORTED|frame was detached/i.test(e.message)) {
      fail(`could not open ${url}: ${e.message.split('\n')[0]}`);
    }
  }
}

// ---------- the provider's pages (node-oidc-provider devInteractions) ----------
const SEL = {
  login: 'form input[name="login"]',
  password: 'form input[name="password"]',
  consent: 'form input[name="prompt"][value="consent"]',
  logoutYes: 'button[name="logout"][value="yes"]',
  logoutForm: 'form[id="op.logoutForm"]',
};

const onOp = () => currentUrl()?.origin === OP;
const onApp = () => currentUrl()?.origin === APP;

// Click a submit button and wait (bounded) until the main frame navigates, so
// the same form is never submitted twice.
async function clickAndWaitNav(locator) {
  const before = navCount;
  await locator.click();
  const deadline = Date.now() + STEP;
  while (navCount === before) {
    if (Date.now() > deadline) fail(`clicking the form's submit button did not navigate within ${STEP / 1000}s (at ${page.url()})`);
    await sleep(50);
  }
}

async function submitLogin() {
  log('login form: submitting', loginAs);
  await page.locator(SEL.login).fill(loginAs);
  await page.locator(SEL.password).fill('any-password');
  await clickAndWaitNav(page.locator(SEL.login).locator('xpath=ancestor::form').locator('button[type="submit"], input[type="submit"]').first());
}

async function submitConsent() {
  log('consent form: confirming');
  await clickAndWaitNav(page.locator(SEL.consent).locator('xpath=ancestor::form').locator('button[type="submit"], input[type="submit"]').first());
}

async function opErrorText() {
  const r = shownResponse();
  if (onOp() && r && r.status >= 400) return `${r.status} ${(await bodyText()).slice(0, 300)}`;
  return undefined;
}

// Follow the browser from wherever it is until it sits on the app's `/` with a
// final response. Fills in the login form and confirms consent when shown,
// unless `noForms` (then any form is a failure; a string says why none was
// expected). Only main-frame responses from index `sinceResponse` on count as
// the app's answer. Returns what it saw.
async function untilAppRoot({ noForms = false, sinceResponse = 0 } = {}) {
  const noFormsWhy = typeof noForms === 'string' ? noForms : 'the provider session was not reused';
  const seen = { login: 0, consent: 0 };
  let deadline = Date.now() + STEP;
  let lastUrl = '';
  while (Date.now() < deadline) {
    const u = currentUrl();
    if (u && u.href !== lastUrl) { lastUrl = u.href; deadline = Date.now() + STEP; } // progress resets the bound
    if (u && onApp() && u.pathname === '/') {
      const r = shownResponse(sinceResponse);
      if (r && r.status < 300) return { ...seen, response: r };
    }
    if (onApp() && u.pathname !== '/') {
      const r = shownResponse(sinceResponse);
      if (r && r.status >= 400) fail(`app answered ${r.status} at ${u.pathname}: ${(await responseText(r)).slice(0, 300)}`);
    }
    if (onOp()) {
      const err = await opErrorText();
      if (err) fail(`provider error page at ${u.pathname}: ${err}`);
      if (await present(SEL.login)) {
        if (noForms) fail(`the provider showed its login form: ${noFormsWhy}`);
        seen.login += 1;
        if (seen.login > 3) fail('login form shown again and again');
        await submitLogin();
        deadline = Date.now() + STEP;
        continue;
      }
      if (await present(SEL.consent)) {
        if (noForms) fail(`the provider showed its consent form again: ${noFormsWhy}`);
        seen.consent += 1;
        if (seen.consent > 3) fail('consent form shown again and again');
        await submitConsent();
        deadline = Date.now() + STEP;
        continue;
      }
    }
    await sleep(100);
  }
  fail(`did not get back to ${APP}/ within ${STEP / 1000}s; stuck at ${page.url()} (${(await bodyText()).slice(0, 200)})`);
  return undefined;
}

async function readLoggedIn(r) {
  const text = await responseText(r);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    fail(`${APP}/ answered ${r.status} but not JSON: ${text.slice(0, 200)}`);
  }
  if (typeof body.sub !== 'string' || !body.sub) fail(`${APP}/ JSON has no sub: ${text.slice(0, 300)}`);
  for (const k of ['id_token_claims', 'userinfo', 'access_token_present']) {
    if (!(k in body)) fail(`${APP}/ JSON lacks ${k}: ${text.slice(0, 300)}`);
  }
  if (typeof body.id_token_claims !== 'object' || body.id_token_claims === null) fail('id_token_claims is not an object');
  if (body.userinfo !== null && typeof body.userinfo !== 'object') fail('userinfo is neither object nor null');
  if (typeof body.access_token_present !== 'boolean') fail('access_token_present is not a boolean');
  if (body.sub !== loginAs) fail(`sub is ${JSON.stringify(body.sub)}, expected ${JSON.stringify(loginAs)} (the login typed in)`);
  return body;
}

// The authorization requests the app sent the browser to, as URLSearchParams.
function authRequests(since = 0) {
  return trace.requests.slice(since)
    // With PAR (RFC 9126) the browser carries only client_id and request_uri.
    .filter((r) => r.nav && r.method === 'GET' && r.url.startsWith(OP) && new URL(r.url).searchParams.has('client_id')
      && (new URL(r.url).searchParams.has('response_type') || new URL(r.url).searchParams.has('request_uri')))
    .map((r) => new URL(r.url).searchParams);
}

function checkFlow(kind, since) {
  const reqs = authRequests(since);
  if (reqs.length === 0) fail('no authorization request to the provider was seen');
  const p = reqs[reqs.length - 1];
  if (p.has('request') || p.has('request_uri')) return; // JAR / PAR: parameters not visible
  const rt = new Set((p.get('response_type') || '').split(' '));
  const mode = p.get('response_mode');
  switch (kind) {
    case 'code':
      if (rt.size !== 1 || !rt.has('code')) fail(`expected response_type=code, the app sent ${p.get('response_type')}`);
      break;
    case 'implicit':
      if (rt.has('code') || !rt.has('id_token')) fail(`expected an implicit response_type (id_token, id_token token), the app sent ${p.get('response_type')} (set OIDC_RESPONSE_TYPE)`);
      break;
    case 'hybrid':
      if (!rt.has('code') || rt.size < 2) fail(`expected a hybrid response_type (code id_token, code token, code id_token token), the app sent ${p.get('response_type')} (set OIDC_RESPONSE_TYPE)`);
      break;
    case 'any':
      break;
    case 'form_post': {
      // form_post.jwt (JARM) is a form POST too.
      if (mode !== 'form_post' && mode !== 'form_post.jwt') fail(`expected response_mode=form_post, the app sent ${mode ?? 'none'} (set OIDC_RESPONSE_MODE=form_post)`);
      const posted = trace.requests.slice(since).some((r) => r.method === 'POST' && r.url.startsWith(`${APP}/redirect_uri`));
      if (!posted) fail(`no POST to ${APP}/redirect_uri was seen`);
      break;
    }
    default:
  }
  log(`authorization request: response_type=${p.get('response_type')} response_mode=${mode ?? '(default)'} scope=${p.get('scope')}`);
}

async function login(kind = 'code') {
  const since = trace.requests.length;
  await goto(`${APP}/`);
  const seen = await untilAppRoot();
  if (seen.login === 0) fail('the provider\'s login form was never shown (is the app really using the provider?)');
  const body = await readLoggedIn(seen.response);
  checkFlow(kind, since);
  log('logged in as', body.sub, `(login forms ${seen.login}, consent forms ${seen.consent})`);
  return body;
}

// The provider's authorization endpoint, from its discovery document.
async function authorizationEndpoint() {
  const url = `${ISSUER.href.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let doc;
  try {
    const res = await context.request.get(url, { timeout: STEP, failOnStatusCode: false });
    if (res.status() !== 200) fail(`discovery at ${url} answered ${res.status()}`);
    doc = await res.json();
  } catch (e) {
    if (e instanceof Fail) throw e;
    fail(`discovery at ${url}: ${e.message.split('\n')[0]}`);
  }
  if (typeof doc.authorization_endpoint !== 'string') fail(`discovery at ${url} names no authorization_endpoint`);
  return new URL(doc.authorization_endpoint);
}

// Navigations to `endpoint` (the authorization endpoint) since request index
// `since`, as URLSearchParams.
function requestsTo(endpoint, since) {
  const target = endpoint.origin + endpoint.pathname;
  return trace.requests.slice(since)
    .filter((r) => r.nav && r.method === 'GET')
    .map((r) => new URL(r.url))
    .filter((u) => u.origin + u.pathname === target)
    .map((u) => u.searchParams);
}

// Error responses the provider sent to the app since request index `since` /
// main-frame response index `sinceResponse`: in the Location of a redirect
// (query or fragment) or in a form_post body. E.g. ["login_required"].
function providerErrors(since, sinceResponse) {
  const out = [];
  const take = (params) => {
    const e = params.get('error');
    if (e) out.push(params.get('error_description') ? `${e} (${params.get('error_description')})` : e);
  };
  for (const r of trace.mainResponses.slice(sinceResponse)) {
    if (!r.url.startsWith(OP) || r.status < 300 || r.status >= 400) continue;
    let loc;
    try { loc = new URL(r.response.headers().location, r.url); } catch { continue; }
    if (loc.origin !== APP) continue;
    take(new URLSearchParams(loc.search.slice(1)));
    take(new URLSearchParams(loc.hash.slice(1)));
  }
  for (const r of trace.requests.slice(since)) {
    if (r.method === 'POST' && r.url.startsWith(`${APP}/redirect_uri`) && r.postData) {
      const form = new URLSearchParams(r.postData);
      if (form.has('error')) take(form);
      else for (const v of form.values()) take(new URLSearchParams(v)); // a relayed fragment
    }
  }
  return [...new Set(out)];
}

// A request with the browser's cookies that does not follow redirects: tells
// whether the app would serve `/` without involving the provider.
async function appRootWithoutRedirects() {
  const res = await context.request.get(`${APP}/`, { maxRedirects: 0, timeout: STEP, failOnStatusCode: false });
  return { status: res.status(), location: res.headers().location, text: await res.text().catch(() => '') };
}

// From a logout started in the app (the browser is on its way), follow the provider's
// end-session confirmation to the app's logged-out page, then check that `/` shows the
// provider's login form again (logged out at the provider too).
async function finishLogout() {
  let sawEndSession = false;
  let deadline = Date.now() + STEP;
  let lastUrl = '';
  for (;;) {
    if (Date.now() > deadline) fail(`logout did not finish within ${STEP / 1000}s; stuck at ${page.url()} (${(await bodyText()).slice(0, 200)})`);
    const u = currentUrl();
    if (u && u.href !== lastUrl) { lastUrl = u.href; deadline = Date.now() + STEP; }
    if (onOp()) {
      const err = await opErrorText();
      if (err) fail(`provider error page during logout at ${u.pathname}: ${err}`);
      if (await present(SEL.logoutYes)) {
        log('end-session confirmation: Yes, sign me out');
        sawEndSession = true;
        await clickAndWaitNav(page.locator(SEL.logoutYes));
        continue;
      }
      if (/sign-out success/i.test(await bodyText())) {
        fail('logout ended on the provider\'s own "Sign-out Success" page: the app sent no (registered) post_logout_redirect_uri');
      }
    }
    if (onApp()) {
      const r = shownResponse();
      if (r && r.status < 300 && r.url.startsWith(APP)) {
        const text = await bodyText();
        if (/logged out/i.test(text)) {
          if (r.status !== 200) fail(`the logged-out page answered ${r.status}, expected 200`);
          break;
        }
        if (u.pathname === '/' && /"sub"/.test(text)) fail('logout landed back on / still logged in');
      }
      if (r && r.status >= 400 && r.url === page.url()) fail(`app answered ${r.status} during logout at ${u.pathname}: ${(await bodyText()).slice(0, 200)}`);
    }
    await sleep(100);
  }
  if (!sawEndSession) fail(`reached "logged out" at ${page.url()} without going through the provider's end-session page`);
  // Logged out at the provider too: `/` must show the login form again.
  await goto(`${APP}/`);
  deadline = Date.now() + STEP;
  for (;;) {
    if (Date.now() > deadline) fail(`after logout ${APP}/ did not lead to the provider's login form; at ${page.url()}`);
    if (onOp() && await present(SEL.login)) break;
    if (onOp()) {
      const err = await opErrorText();
      if (err) fail(`provider error page after logout: ${err}`);
    }
    if (onApp() && currentUrl().pathname === '/') {
      const r = shownResponse();
      if (r && r.status === 200) fail(`after logout ${APP}/ is still logged in: ${(await bodyText()).slice(0, 200)}`);
    }
    await sleep(100);
  }
}

// The kids the provider's JWKS publishes now.
async function publishedKids() {
  const url = `${ISSUER.href.replace(/\/$/, '')}/.well-known/openid-configuration`;
  try {
    const doc = await (await context.request.get(url, { timeout: STEP })).json();
    const jwks = await (await context.request.get(doc.jwks_uri, { timeout: STEP })).json();
    return jwks.keys.map((k) => k.kid);
  } catch (e) {
    return fail(`could not read the provider's JWKS: ${e.message.split('\n')[0]}`);
  }
}

// ---------- scenarios ----------
const run = {
  async code() { await login('code'); },
  async implicit() { await login('implicit'); },
  async hybrid() { await login('hybrid'); },
  async form_post() { await login('form_post'); },

  async sso() {
    await login('any'); // whatever flow the app is configured for
    const appHost = new URL(APP).hostname;
    const opHost = ISSUER.hostname;
    const jar = await context.cookies();
    if (appHost === opHost) {
      // Cookies ignore ports: app and provider share one jar. Clear the names
      // the app set, and only those.
      const names = [...trace.appCookieNames];
      if (names.length === 0) fail('could not tell which cookies are the app\'s (none seen in its Set-Cookie headers)');
      const clash = names.filter((n) => trace.opCookieNames.has(n));
      if (clash.length) fail(`the app and the provider both set cookie(s) ${clash.join(', ')} on ${appHost}: cannot clear the app's only`);
      for (const name of names) await context.clearCookies({ name, domain: appHost });
      log('cleared app cookies', names.join(', '));
    } else {
      await context.clearCookies({ domain: appHost });
      log('cleared every cookie of', appHost);
    }
    const left = (await context.cookies()).filter((c) => c.domain === appHost || c.domain === `.${appHost}`);
    log('cookies left for the host:', left.map((c) => c.name).join(', ') || '(none)', `(had ${jar.length})`);
    const probe = await appRootWithoutRedirects();
    if (probe.status === 200) fail(`after clearing the app's cookies ${APP}/ still answers 200: the app cookies were not all cleared`);
    const since = trace.requests.length;
    await goto(`${APP}/`);
    const seen = await untilAppRoot({ noForms: true });
    await readLoggedIn(seen.response);
    if (authRequests(since).length === 0) fail('got back in without an authorization request to the provider');
  },

  // Logs in, waits past the app's session refresh interval, opens `/` again:
  // the app must re-authenticate silently (prompt=none) through the provider's
  // SSO session, with no form, and land on `/` as the same user with a new ID
  // token.
  async 'silent-refresh'() {
    const before = await login('any'); // whatever flow the app is configured for
    const loggedInAt = Date.now();
    const iatBefore = before.id_token_claims.iat;
    if (typeof iatBefore !== 'number') fail(`id_token_claims has no numeric iat after the login: ${JSON.stringify(before.id_token_claims).slice(0, 200)}`);
    const authz = await authorizationEndpoint();
    const wait = REFRESH_AFTER * 1000 - (Date.now() - loggedInAt);
    log(`logged in (iat ${iatBefore}); waiting ${(Math.max(wait, 0) / 1000).toFixed(1)}s, past the app's refresh interval`);
    if (wait > 0) await sleep(wait);

    const since = trace.requests.length;
    const sinceResponse = trace.mainResponses.length;
    const what = () => {
      const reqs = requestsTo(authz, since);
      const prompts = reqs.map((p) => (p.has('prompt') ? `prompt=${p.get('prompt')}` : 'no prompt'));
      const errors = providerErrors(since, sinceResponse);
      return `authorization requests after the interval: ${prompts.length ? prompts.join(', ') : 'none'}`
        + `${errors.length ? `; the provider answered error=${errors.join(', error=')}` : ''}`;
    };
    await goto(`${APP}/`);
    let seen;
    try {
      seen = await untilAppRoot({
        noForms: 'the silent refresh did not get through on the provider session',
        sinceResponse,
      });
    } catch (e) {
      if (e instanceof Fail) fail(`${e.message} (${what()})`);
      throw e;
    }
    const after = await readLoggedIn(seen.response);
    const reqs = requestsTo(authz, since);
    if (reqs.length === 0) {
      fail(`${APP}/ opened ${REFRESH_AFTER}s after the login was answered without a visit to the provider's authorization endpoint ${authz.origin}${authz.pathname} `
        + `(iat ${after.id_token_claims.iat}, was ${iatBefore}): no silent refresh; is OIDC_SESSION_REFRESH_INTERVAL_SECONDS set, and below --refresh-after?`);
    }
    if (reqs.some((p) => p.get('prompt') !== 'none')) fail(`not every authorization request was silent (${what()})`);
    const errors = providerErrors(since, sinceResponse);
    if (errors.length) fail(`the provider answered the silent refresh with error=${errors.join(', error=')}, yet no login form was shown`);
    if (after.sub !== before.sub) fail(`after the silent refresh sub is ${JSON.stringify(after.sub)}, was ${JSON.stringify(before.sub)}`);
    const iatAfter = after.id_token_claims.iat;
    if (typeof iatAfter !== 'number') fail(`id_token_claims has no numeric iat after the silent refresh: ${JSON.stringify(after.id_token_claims).slice(0, 200)}`);
    if (!(iatAfter > iatBefore)) fail(`id_token_claims.iat is ${iatAfter} after the silent refresh, was ${iatBefore}: the session kept the old ID token`);
    log(`silent refresh: ${reqs.length} prompt=none request(s), iat ${iatBefore} -> ${iatAfter}`);
  },

  async logout() {
    await login('any'); // whatever flow the app is configured for
    await goto(`${APP}/logout`);
    await finishLogout();
  },

  // Logs in, then a page on another site (`localhost` vs the app's `127.0.0.1`, or the other
  // way round: different sites to Chromium) links to the app's `/logout`, and the user follows
  // the link: a cross-site top-level GET, which carries the app's `SameSite=Lax` cookie. The
  // session must survive it (`/` still answers as the same user) and the app must show its
  // confirmation page; clicking the page's button then logs out, through the provider's
  // end-session endpoint (so the page's CSP `form-action` must let the POST's redirect go
  // there), as `logout` does.
  async 'cross-site-logout'() {
    const before = await login('any');
    const appHost = new URL(APP).hostname;
    const otherHost = appHost === 'localhost' ? '127.0.0.1' : 'localhost';
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`<!doctype html><title>Another site</title><a id="go" href="${APP}/logout">See the offer</a>`);
    });
    await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
    try {
      const attacker = `http://${otherHost}:${server.address().port}/`;
      await goto(attacker);
      if (currentUrl()?.origin !== new URL(attacker).origin) fail(`could not open the other site's page ${attacker} (at ${page.url()})`);
      const sinceResponse = trace.mainResponses.length;
      const since = trace.requests.length;
      log('on', attacker, '- following its link to', `${APP}/logout`);
      await clickAndWaitNav(page.locator('#go'));
      const deadline = Date.now() + STEP;
      let shown;
      while (!shown) {
        if (Date.now() > deadline) fail(`the cross-site link to ${APP}/logout did not load within ${STEP / 1000}s; at ${page.url()}`);
        const r = shownResponse(sinceResponse);
        if (onApp() && r) shown = r;
        else if (onOp()) fail(`a cross-site link to ${APP}/logout went on to the provider (${page.url()}): it logged out without asking`);
        else await sleep(100);
      }
      const probe = await appRootWithoutRedirects();
      if (probe.status !== 200) {
        fail(`after a cross-site GET of ${APP}/logout, ${APP}/ answers ${probe.status}${probe.location ? ` to ${probe.location}` : ''}: the other site logged the user out`);
      }
      let body;
      try { body = JSON.parse(probe.text); } catch { fail(`${APP}/ answered 200 but not JSON: ${probe.text.slice(0, 200)}`); }
      if (body.sub !== before.sub) fail(`after the cross-site GET ${APP}/ shows sub ${JSON.stringify(body.sub)}, was ${JSON.stringify(before.sub)}`);
      if (shown.status !== 200) fail(`the cross-site GET of ${APP}/logout answered ${shown.status}, expected the confirmation page (200): ${(await bodyText()).slice(0, 200)}`);
      const button = page.locator('form[method="post"] button[type="submit"]');
      if (!(await present('form[method="post"] input[name="csrf_token"]')) || (await button.count()) !== 1) {
        fail(`the cross-site GET of ${APP}/logout did not show a confirmation form with a token: ${(await bodyText()).slice(0, 200)}`);
      }
      const navs = trace.requests.slice(since).filter((r) => r.nav && r.url.startsWith(`${APP}/logout`));
      log(`confirmation page shown; still logged in as ${body.sub}; ${navs.length} navigation(s) to /logout`);
      const sincePost = trace.requests.length;
      await clickAndWaitNav(button);
      const posted = trace.requests.slice(sincePost).some((r) => r.method === 'POST' && r.url === `${APP}/logout`);
      if (!posted) fail(`clicking the confirmation button sent no POST to ${APP}/logout`);
      await finishLogout();
    } finally {
      server.close();
    }
  },

  // Silent refresh in an implicit or hybrid flow when the provider session is gone: the app
  // sends the browser to the provider with `prompt=none`, the provider answers
  // `login_required` in the fragment, the app's fragment page posts it to the redirect
  // endpoint, which answers with a redirect to the provider's authorization endpoint for an
  // interactive login. Chromium applies the fragment page's CSP `form-action` to that redirect,
  // so the page must allow it: the browser must end at the provider's login form, and logging
  // in there must bring it back to `/` as the same user.
  async 'silent-refresh-login-required'() {
    const before = await login('any');
    const loggedInAt = Date.now();
    const authz = await authorizationEndpoint();
    // End the provider session behind the app's back: drop the provider's cookies only.
    const opHost = ISSUER.hostname;
    if (new URL(APP).hostname === opHost) {
      const names = [...trace.opCookieNames].filter((n) => !trace.appCookieNames.has(n));
      if (names.length === 0) fail('could not tell which cookies are the provider\'s (none seen in its Set-Cookie headers)');
      for (const name of names) await context.clearCookies({ name, domain: opHost });
      log('cleared provider cookies', names.join(', '));
    } else {
      await context.clearCookies({ domain: opHost });
    }
    const wait = REFRESH_AFTER * 1000 - (Date.now() - loggedInAt);
    if (wait > 0) await sleep(wait);
    const since = trace.requests.length;
    const sinceResponse = trace.mainResponses.length;
    const what = () => {
      const reqs = requestsTo(authz, since);
      const prompts = reqs.map((p) => (p.has('prompt') ? `prompt=${p.get('prompt')}` : 'no prompt'));
      const errors = providerErrors(since, sinceResponse);
      return `authorization requests after the interval: ${prompts.length ? prompts.join(', ') : 'none'}`
        + `${errors.length ? `; the provider answered error=${errors.join(', error=')}` : ''}`;
    };
    await goto(`${APP}/`);
    let deadline = Date.now() + STEP;
    let lastUrl = '';
    for (;;) {
      if (Date.now() > deadline) fail(`the silent refresh did not end at the provider's login form within ${STEP / 1000}s; stuck at ${page.url()} (${(await bodyText()).slice(0, 200)}) (${what()})`);
      const u = currentUrl();
      if (u && u.href !== lastUrl) { lastUrl = u.href; deadline = Date.now() + STEP; }
      if (onOp()) {
        const err = await opErrorText();
        if (err) fail(`provider error page at ${u.pathname}: ${err} (${what()})`);
        if (await present(SEL.login)) break;
      }
      if (onApp()) {
        const r = shownResponse(sinceResponse);
        if (r && r.status >= 400 && r.url === page.url().split('#')[0]) fail(`app answered ${r.status} at ${u.pathname}: ${(await responseText(r)).slice(0, 200)} (${what()})`);
        if (r && u.pathname === '/' && r.status === 200) fail(`${APP}/ answered 200 without a login although the provider session was gone (${what()})`);
      }
      await sleep(100);
    }
    const reqs = requestsTo(authz, since);
    if (reqs.length < 2 || reqs[0].get('prompt') !== 'none') fail(`expected a prompt=none request, then an interactive one (${what()})`);
    if (reqs[reqs.length - 1].get('prompt') === 'none') fail(`the login form shows for a prompt=none request (${what()})`);
    const errors = providerErrors(since, sinceResponse);
    if (!errors.some((e) => e.startsWith('login_required'))) fail(`the provider did not answer login_required (${what()})`);
    const flow = new Set((reqs[0].get('response_type') || '').split(' '));
    if (!flow.has('id_token') && !flow.has('token')) fail(`the app's flow is response_type=${reqs[0].get('response_type')}: not implicit or hybrid, so no fragment page was involved (set OIDC_RESPONSE_TYPE)`);
    log(`login_required after prompt=none led to the login form (${what()})`);
    const seen = await untilAppRoot({ sinceResponse });
    const after = await readLoggedIn(seen.response);
    if (after.sub !== before.sub) fail(`after logging in again sub is ${JSON.stringify(after.sub)}, was ${JSON.stringify(before.sub)}`);
  },

  async tampered() {
    const original = {};
    let tamperedAt;
    let forged = randomBytes(16).toString('base64url');
    const swap = (params) => {
      if (!params.has(TAMPER)) return false;
      original[TAMPER] = params.get(TAMPER);
      if (TAMPER === 'response') {
        // A JARM response (a signed JWT): the provider's header and claims kept, with a
        // signature of the same length that the provider never made.
        const parts = original[TAMPER].split('.');
        const len = Buffer.from(parts[parts.length - 1] || '', 'base64url').length || 64;
        parts[parts.length - 1] = randomBytes(len).toString('base64url');
        forged = parts.join('.');
      }
      params.set(TAMPER, forged);
      return true;
    };
    // Playwright's own routing never sees requests that are the target of a
    // redirect (the provider's 303 to the redirect_uri is one), so intercept
    // with the DevTools protocol's Fetch domain, which pauses every hop.
    const cdp = await context.newCDPSession(page);
    cdp.on('Fetch.requestPaused', async (ev) => {
      const overrides = {};
      try {
        const url = new URL(ev.request.url);
        if (!tamperedAt && url.origin === APP && url.pathname === '/redirect_uri') {
          if (ev.request.method === 'GET' && swap(url.searchParams)) {
            tamperedAt = `GET ${url.pathname} (query ${TAMPER})`;
            overrides.url = url.href;
          } else if (ev.request.method === 'POST' && ev.request.hasPostData) {
            const ct = Object.entries(ev.request.headers)
              .find(([k]) => k.toLowerCase() === 'content-type')?.[1] || '';
            let post = ev.request.postData;
            if (post === undefined) {
              post = (await cdp.send('Network.getRequestPostData', { requestId: ev.networkId })
                .catch(() => ({}))).postData;
            }
            if (post && ct.includes('application/x-www-form-urlencoded')) {
              const form = new URLSearchParams(post);
              if (swap(form)) {
                tamperedAt = `POST ${url.pathname} (form field ${TAMPER})`;
              } else {
                // A fragment relayed as one urlencoded field (e.g. __fragment=code%3D…)
                for (const [k, v] of [...form.entries()]) {
                  const inner = new URLSearchParams(v);
                  if (swap(inner)) {
                    form.set(k, inner.toString());
                    tamperedAt = `POST ${url.pathname} (field ${k}, ${TAMPER} inside)`;
                    break;
                  }
                }
              }
              if (tamperedAt) overrides.postData = Buffer.from(form.toString()).toString('base64');
            }
          }
          if (tamperedAt) log(`tampered with ${TAMPER} (${original[TAMPER].slice(0, 8)}… -> ${forged.slice(0, 8)}…) in ${tamperedAt}`);
        }
      } catch (e) {
        log('tamper handler:', e.message);
      }
      await cdp.send('Fetch.continueRequest', { requestId: ev.requestId, ...overrides }).catch((e) => log('continueRequest:', e.message));
    });
    await cdp.send('Fetch.enable', {
      patterns: [{ urlPattern: `${APP}/redirect_uri*`, requestStage: 'Request' }],
    });

    await goto(`${APP}/`);
    // Log in at the provider, then wait for the app's verdict on the forged response.
    let deadline = Date.now() + STEP;
    let lastUrl = '';
    let verdict;
    let logins = 0;
    while (!verdict) {
      if (Date.now() > deadline) fail(`no answer from the app to the tampered response within ${STEP / 1000}s; at ${page.url()}`);
      const u = currentUrl();
      if (u && u.href !== lastUrl) { lastUrl = u.href; deadline = Date.now() + STEP; }
      if (onOp()) {
        const err = await opErrorText();
        if (err) fail(`provider error page at ${u.pathname}: ${err}`);
        if (await present(SEL.login)) {
          logins += 1;
          if (logins > 2) fail('login form shown again and again');
          await submitLogin();
          continue;
        }
        if (await present(SEL.consent)) { await submitConsent(); continue; }
      }
      if (onApp() && tamperedAt) {
        const r = shownResponse();
        if (r && (r.status < 300 || r.status >= 400) && r.url === page.url().split('#')[0]) {
          if (u.pathname === '/' && r.status === 200) {
            fail(`the app accepted a response with a forged ${TAMPER} and logged in: ${(await responseText(r)).slice(0, 200)}`);
          }
          if (r.status >= 400) verdict = r;
          else if (u.pathname !== '/redirect_uri') {
            fail(`after the forged ${TAMPER} the app showed ${r.status} at ${u.pathname}, expected a 4xx/5xx error view`);
          }
        }
      }
      await sleep(100);
    }
    if (!tamperedAt) fail(`the redirect to ${APP}/redirect_uri carried no ${TAMPER} to tamper with`);
    const text = await responseText(verdict);
    let body;
    try { body = JSON.parse(text); } catch { fail(`error view answered ${verdict.status} but not JSON: ${text.slice(0, 200)}`); }
    if (typeof body.error !== 'string' || !body.error) fail(`error view JSON lacks "error": ${text.slice(0, 200)}`);
    if (typeof body.error_description !== 'string') fail(`error view JSON lacks "error_description": ${text.slice(0, 200)}`);
    log(`error view: ${verdict.status} ${text.slice(0, 200)}`);
    // No logged-in session left behind.
    const probe = await appRootWithoutRedirects();
    if (probe.status === 200) fail(`after the failed login ${APP}/ answers 200 (logged in): ${probe.text.slice(0, 200)}`);
    if (!(probe.status >= 300 && probe.status < 400 && probe.location && new URL(probe.location, APP).origin === OP)) {
      fail(`after the failed login ${APP}/ answered ${probe.status}${probe.location ? ` to ${probe.location}` : ''}, expected the login redirect to ${OP}`);
    }
  },

  // Logs in, has the provider rotate its signing keys (its JWKS then publishes only
  // new keys with new kids: OpenID RP certification rp-key-rotation-op-sign-key),
  // waits past the app's JWKS refetch interval, clears every cookie (app and
  // provider: a new browser) and logs in as another user. The app must verify the
  // new user's ID token, signed with a key it has never seen, and show that user.
  async 'key-rotation'() {
    await login('any'); // whatever flow the app is configured for
    const before = await publishedKids();
    let rotated;
    try {
      const res = await context.request.post(`${OP}/__interop/rotate-keys`, { timeout: STEP, failOnStatusCode: false });
      if (res.status() !== 200) fail(`the provider's rotate-keys hook answered ${res.status()} (is this interop/provider.mjs?)`);
      rotated = (await res.json()).kids;
    } catch (e) {
      if (e instanceof Fail) throw e;
      fail(`the provider's rotate-keys hook: ${e.message.split('\n')[0]}`);
    }
    const after = await publishedKids();
    if (after.some((k) => before.includes(k)) || !rotated.every((k) => after.includes(k))) {
      fail(`the provider's JWKS did not rotate: before ${before.join(', ')}, after ${after.join(', ')}`);
    }
    log(`keys rotated: ${before.join(', ')} -> ${after.join(', ')}; waiting ${ROTATE_WAIT}s`);
    await sleep(ROTATE_WAIT * 1000);
    await context.clearCookies();
    loginAs = `${USER}-after-rotation`;
    await login('any');
  },

  // Two instances of the app (A = --app, B = --second-app) sharing one session store and one
  // session secret. Each check starts from a new browser state (no cookies) and a new login
  // on A; a failed check does not stop the next one. The two-instance support these checks
  // exercise is issue 17 (back-channel logout, a Redis store that survives restarts).
  async 'two-instances'() {
    const failed = [];
    for (const check of CHECKS) {
      try {
        await context.clearCookies();
        loginAs = USER;
        await twoInstanceChecks[check]();
        console.log(`PASS ${check}`);
      } catch (e) {
        const reason = e instanceof Fail ? e.message : `${e.name}: ${e.message.split('\n')[0]}`;
        if (!(e instanceof Fail) && VERBOSE) console.error(e);
        await saveArtifacts(check);
        console.log(`FAIL ${check}: ${String(reason).replace(/\s+/g, ' ').slice(0, 600)}`);
        failed.push(check);
      }
    }
    // Each failing check saved its own artifacts.
    artifactsSaved = failed.length > 0;
    if (failed.length) fail(`${failed.length} of ${CHECKS.length} checks failed: ${failed.join(', ')}`);
  },
};

// ---------- two instances (scenario two-instances) ----------
const INSTANCES = () => [['A', APP], ['B', SECOND_APP]];

// The JSON an instance's `/` answers a logged-in browser with: the login typed in, an
// object of ID token claims.
function sessionJson(text, where) {
  let body;
  try { body = JSON.parse(text); } catch { fail(`${where} answered 200 but not JSON: ${text.slice(0, 200)}`); }
  if (body.sub !== loginAs) fail(`${where} shows sub ${JSON.stringify(body.sub)}, expected ${JSON.stringify(loginAs)}`);
  if (typeof body.id_token_claims !== 'object' || body.id_token_claims === null) fail(`${where}: id_token_claims is not an object`);
  return body;
}

// JSON with sorted keys, to compare two instances' views of one session.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

// `GET <app>/` with the browser's cookies, redirects not followed: whether that instance
// serves the session itself. A redirect followed would let the provider's SSO log the
// browser in again and hide a missing session.
async function rootOf(app) {
  const res = await context.request.get(`${app}/`, { maxRedirects: 0, timeout: STEP, failOnStatusCode: false });
  return { status: res.status(), location: res.headers().location, text: await res.text().catch(() => '') };
}

function described(p) {
  return `${p.status}${p.location ? ` to ${p.location.split('?')[0]}` : ''}${p.status >= 400 || p.status === 200 ? `: ${p.text.replace(/\s+/g, ' ').slice(0, 200)}` : ''}`;
}

// Both instances must serve the logged-in session now (`when` says when, for the message).
async function bothLoggedIn(when) {
  for (const [name, app] of INSTANCES()) {
    const p = await rootOf(app);
    if (p.status !== 200) fail(`${when}, instance ${name} (${app}/) answered ${described(p)}`);
    sessionJson(p.text, `${when}, instance ${name} (${app}/)`);
  }
}

// An endpoint from the provider's discovery document.
async function discovered(member) {
  const url = `${ISSUER.href.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let doc;
  try {
    doc = await (await context.request.get(url, { timeout: STEP })).json();
  } catch (e) {
    fail(`discovery at ${url}: ${e.message.split('\n')[0]}`);
  }
  if (typeof doc[member] !== 'string') fail(`discovery at ${url} names no ${member}`);
  return new URL(doc[member]);
}

// The names of the app's cookies now in the browser (cookies ignore ports: A's are B's).
async function appCookiesInJar() {
  const host = new URL(APP).hostname;
  const names = new Set((await context.cookies()).filter((c) => c.domain === host || c.domain === `.${host}`).map((c) => c.name));
  return [...trace.appCookieNames].filter((n) => names.has(n) && !trace.opCookieNames.has(n));
}

const twoInstanceChecks = {
  // A login on A is a login on B: the browser sends A's cookies to B (same host, another
  // port), and B, sharing the store and the secret, serves the same session. Seen in the
  // browser itself: B's very first answer to a navigation must be the session (200), not a
  // redirect to the provider.
  async 'shared-session'() {
    const a = await login('code');
    const target = `${SECOND_APP}/`;
    const sinceResponse = trace.mainResponses.length;
    const since = trace.requests.length;
    await goto(target);
    const deadline = Date.now() + STEP;
    let first;
    while (!first) {
      if (Date.now() > deadline) fail(`no answer from instance B at ${target} within ${STEP / 1000}s`);
      first = trace.mainResponses.slice(sinceResponse).find((r) => r.url === target);
      if (!first) await sleep(50);
    }
    if (first.status !== 200) {
      const location = first.status >= 300 && first.status < 400 ? ` to ${(first.response.headers().location || '').split('?')[0]}` : '';
      fail(`after the login on A, the browser's navigation to instance B (${target}) got ${first.status}${location}: B does not see A's session`);
    }
    const b = sessionJson(await responseText(first), `instance B (${target})`);
    if (canonical(b.id_token_claims) !== canonical(a.id_token_claims)) {
      fail(`instance B shows another ID token than A (iat ${b.id_token_claims.iat} vs ${a.id_token_claims.iat}): not the same session`);
    }
    if (authRequests(since).length) fail(`opening instance B sent the browser to the provider's authorization endpoint: B started its own login`);
    log(`instance B serves A's session (sub ${b.sub}, iat ${b.id_token_claims.iat})`);
  },

  // The session ends at the provider, from the provider's own end-session endpoint with no
  // client named: the app takes no part, so only the logout token the provider POSTs to A's
  // backchannel_logout_uri tells it. Then neither A nor B may serve the session, while the
  // app's cookies are still in the browser (the session ended in the shared store).
  async 'backchannel-logout'() {
    const a = await login('code');
    await bothLoggedIn('before the logout at the provider');
    log(`ID token sid: ${typeof a.id_token_claims.sid === 'string' ? 'present' : 'absent'}`);
    const cookies = await appCookiesInJar();
    if (cookies.length === 0) fail('could not tell which cookies are the app\'s (none seen in its Set-Cookie headers)');
    const endSession = await discovered('end_session_endpoint');
    const since = trace.requests.length;
    await goto(endSession.href);
    let deadline = Date.now() + STEP;
    while (!(onOp() && await present(SEL.logoutYes))) {
      if (Date.now() > deadline) fail(`the provider's end-session endpoint ${endSession.href} showed no sign-out button; at ${page.url()} (${(await bodyText()).slice(0, 200)})`);
      const err = await opErrorText();
      if (err) fail(`provider error page at ${endSession.pathname}: ${err}`);
      await sleep(100);
    }
    log('end-session confirmation at the provider: Yes, sign me out');
    await clickAndWaitNav(page.locator(SEL.logoutYes));
    // The provider answers only once every logout token got its answer.
    deadline = Date.now() + STEP;
    while (!(onOp() && /sign-out success/i.test(await bodyText()))) {
      if (Date.now() > deadline) fail(`the provider's sign-out did not end on its "Sign-out Success" page; at ${page.url()} (${(await bodyText()).slice(0, 200)})`);
      const err = await opErrorText();
      if (err) fail(`provider error page during its sign-out: ${err}`);
      await sleep(100);
    }
    const touched = trace.requests.slice(since).find((r) => r.url.startsWith(`${APP}/`) || r.url.startsWith(`${SECOND_APP}/`));
    if (touched) fail(`the browser went to the app during the provider's sign-out (${touched.method} ${touched.url}): this check needs a logout the app hears of only through the back channel`);
    const left = await appCookiesInJar();
    const gone = cookies.filter((n) => !left.includes(n));
    if (gone.length) fail(`the app's cookie(s) ${gone.join(', ')} left the browser during the provider's sign-out: that would not show the session ended in the store`);
    for (const [name, app] of INSTANCES()) {
      const p = await rootOf(app);
      if (p.status === 200) fail(`after the provider ended the session, instance ${name} (${app}/) still serves it (200): the back-channel logout did not end it there`);
      const to = p.location ? new URL(p.location, app) : undefined;
      if (!(p.status >= 300 && p.status < 400 && to?.origin === OP)) {
        fail(`after the provider ended the session, instance ${name} (${app}/) answered ${described(p)}, expected the login redirect to ${OP}`);
      }
    }
    log(`neither instance serves the session after the provider's sign-out; the app's cookies ${cookies.join(', ')} are still in the browser`);
  },

  // The session store restarts (same port, its data kept) between two requests: the first
  // request each instance gets after it is back must be served (200), not 503.
  async 'redis-restart'() {
    await login('code');
    await bothLoggedIn('before the restart of Redis');
    mkdirSync(RESTART_DIR, { recursive: true });
    const done = join(RESTART_DIR, 'restarted');
    rmSync(done, { force: true });
    writeFileSync(join(RESTART_DIR, 'restart-requested'), `${new Date().toISOString()}\n`);
    const deadline = Date.now() + RESTART_LIMIT;
    while (!existsSync(done)) {
      if (Date.now() > deadline) fail(`nobody restarted Redis within ${RESTART_LIMIT / 1000}s of the request in ${RESTART_DIR} (run this check through cargo xtask interop)`);
      await sleep(100);
    }
    const said = readFileSync(done, 'utf8').trim();
    if (!said.startsWith('ok')) fail(`the harness could not restart Redis: ${said}`);
    log(`Redis restarted: ${said}`);
    await bothLoggedIn('at the first request after Redis restarted');
  },
};

let artifactsSaved = false;
async function saveArtifacts(what = scenario) {
  if (!ARTIFACTS || !page || artifactsSaved) return;
  try {
    mkdirSync(ARTIFACTS, { recursive: true });
    const stem = join(ARTIFACTS, `${what}-${Date.now()}`);
    await page.screenshot({ path: `${stem}.png`, fullPage: true, timeout: 5000 });
    writeFileSync(`${stem}.html`, await page.content());
    writeFileSync(`${stem}.trace.txt`, trace.mainResponses.map((r) => `${r.status} ${r.url}`).join('\n'));
    console.error(`[drive] artifacts: ${stem}.*`);
  } catch (e) {
    console.error(`[drive] could not save artifacts: ${e.message}`);
  }
}

let ok = false;
try {
  await launch();
  await run[scenario]();
  ok = true;
  finish(true);
} catch (e) {
  const reason = e instanceof Fail ? e.message : `${e.name}: ${e.message.split('\n')[0]}`;
  if (!(e instanceof Fail) && VERBOSE) console.error(e);
  await saveArtifacts();
  finish(false, reason);
} finally {
  await Promise.race([cleanup(), sleep(10000)]);
  clearTimeout(watchdog);
}
process.exit(ok ? 0 : 1);
