#!/usr/bin/env bash
# Checks the harness itself: provider.mjs + drive.mjs against the Node stand-in
# RP (selftest-rp.mjs), including stand-ins with deliberate faults that the
# driver must report as FAIL. Needs `npm ci` done here and /usr/bin/chromium.
# Uses 127.0.0.1 ports $OP_PORT (default 9090), 8080, 8081 and 8082.
# Ends with the line `N passed, N failed`; exit status 1 if anything failed.
set -u
cd "$(dirname "$0")"

OP_PORT="${OP_PORT:-9090}"
OP_HOST="${OP_HOST:-127.0.0.1}"
export OP_PORT OP_HOST
ISSUER="http://${OP_HOST}:${OP_PORT}"
LOGS="${SELFTEST_LOGS:-$(mktemp -d -t interop-selftest-XXXXXX)}"
mkdir -p "$LOGS"
PASSED=0
FAILED=0
OP_PID=""
RP_PID=""

stop() { # stop one process we started, by PID
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() { stop "$RP_PID"; stop "$OP_PID"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

result() { # name, ok(0/1), detail
  if [ "$2" -eq 0 ]; then PASSED=$((PASSED + 1)); echo "ok   $1"; else FAILED=$((FAILED + 1)); echo "FAIL $1${3:+: $3}"; fi
}

wait_http() { # url, seconds
  node -e '
    const [url, secs] = process.argv.slice(1);
    const end = Date.now() + secs * 1000;
    (async () => {
      while (Date.now() < end) {
        try { const r = await fetch(url, { signal: AbortSignal.timeout(1000) }); if (r.status === 200) process.exit(0); } catch {}
        await new Promise((r) => setTimeout(r, 200));
      }
      process.exit(1);
    })();' "$1" "$2"
}

# ---- provider ----
node provider.mjs >"$LOGS/provider.out" 2>"$LOGS/provider.err" &
OP_PID=$!
for _ in $(seq 1 100); do grep -q '^READY ' "$LOGS/provider.out" 2>/dev/null && break; kill -0 "$OP_PID" 2>/dev/null || break; sleep 0.1; done
if ! grep -q "^READY ${ISSUER}\$" "$LOGS/provider.out"; then
  echo "provider did not start; see $LOGS/provider.err"; tail -5 "$LOGS/provider.err"
  echo "0 passed, 1 failed"; exit 1
fi
echo "provider: $(cat "$LOGS/provider.out")"

out=$(timeout 120 node provider-selfcheck.mjs --issuer "$ISSUER" 2>&1); rc=$?
echo "$out" >"$LOGS/provider-selfcheck.txt"
result "provider-selfcheck ($(echo "$out" | tail -1))" "$rc" "$(echo "$out" | grep '^FAIL' | head -3 | tr '\n' ' ')"

# ---- stand-in RPs ----
start_rp() { # label, then VAR=value ... for selftest-rp.mjs
  local label="$1"; shift
  stop "$RP_PID"; RP_PID=""
  env OIDC_ISSUER="$ISSUER" "$@" node selftest-rp.mjs >"$LOGS/rp-$label.out" 2>"$LOGS/rp-$label.err" &
  RP_PID=$!
  local addr
  addr=$(printf '%s\n' "$@" | sed -n 's/^APP_ADDR=//p'); addr="${addr:-127.0.0.1:8080}"
  APP="http://$addr"
  if ! wait_http "$APP/health" 20; then
    result "start stand-in RP $label" 1 "$(tail -3 "$LOGS/rp-$label.err" | tr '\n' ' ')"
    return 1
  fi
}

drive() { # expect(PASS|FAIL), label, drive args...
  local expect="$1" label="$2"; shift 2
  local line rc
  line=$(timeout 180 node drive.mjs --app "$APP" --issuer "$ISSUER" --artifacts "$LOGS/artifacts" "$@" 2>>"$LOGS/drive.err" | tail -1); rc=$?
  case "$expect:$line" in
    PASS:PASS\ *) result "$label: $line" 0 ;;
    FAIL:FAIL\ *) result "$label: expected failure seen: $line" 0 ;;
    *) result "$label" 1 "expected $expect, got: ${line:-nothing (rc $rc)}" ;;
  esac
}

if start_rp code-basic OIDC_CLIENT_ID=demo-client OIDC_CLIENT_SECRET=demo-secret; then
  for s in code sso logout tampered; do drive PASS "static client, code flow" --scenario "$s"; done
  drive PASS "static client, code flow, forged code" --scenario tampered --tamper code
fi

if start_rp formpost-dynamic APP_ADDR=127.0.0.1:8081 OIDC_RESPONSE_MODE=form_post OIDC_TOKEN_ENDPOINT_AUTH_METHOD=client_secret_post; then
  for s in form_post sso logout tampered; do drive PASS "dynamic registration, client_secret_post, form_post" --scenario "$s"; done
fi

if start_rp implicit APP_ADDR=127.0.0.1:8082 OIDC_CLIENT_ID=demo-client-post OIDC_CLIENT_SECRET=demo-secret OIDC_TOKEN_ENDPOINT_AUTH_METHOD=client_secret_post OIDC_RESPONSE_TYPE=id_token; then
  for s in implicit sso logout tampered; do drive PASS "implicit id_token, fragment" --scenario "$s"; done
fi

if start_rp hybrid OIDC_CLIENT_ID=demo-client OIDC_CLIENT_SECRET=demo-secret "OIDC_RESPONSE_TYPE=code id_token"; then
  for s in hybrid sso tampered; do drive PASS "hybrid code id_token, fragment" --scenario "$s"; done
  drive PASS "hybrid code id_token, fragment, forged code" --scenario tampered --tamper code
fi

if start_rp hybrid-formpost OIDC_CLIENT_ID=demo-client OIDC_CLIENT_SECRET=demo-secret "OIDC_RESPONSE_TYPE=code id_token" OIDC_RESPONSE_MODE=form_post; then
  for s in hybrid form_post logout tampered; do drive PASS "hybrid code id_token, form_post" --scenario "$s"; done
fi

# The driver must catch these.
if start_rp fault-state OIDC_CLIENT_ID=demo-client OIDC_CLIENT_SECRET=demo-secret SELFTEST_RP_FAULT=ignore-state; then
  drive FAIL "RP ignoring state" --scenario tampered
fi
if start_rp fault-logout OIDC_CLIENT_ID=demo-client OIDC_CLIENT_SECRET=demo-secret SELFTEST_RP_FAULT=local-logout; then
  drive FAIL "RP logging out locally only" --scenario logout
fi
if start_rp wrong-flow OIDC_CLIENT_ID=demo-client OIDC_CLIENT_SECRET=demo-secret; then
  drive FAIL "code-flow RP driven as implicit" --scenario implicit
  drive FAIL "query-mode RP driven as form_post" --scenario form_post
fi

stop "$RP_PID"; RP_PID=""
echo "logs: $LOGS"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
