// A real OpenID provider (the npm package `oidc-provider`) for Paddock's
// single sign-on tests (tests/oidc.rs). Installed by scripts/oidc-provider.sh.
//
// It listens on a free loopback port and prints `listening <issuer>` on
// stdout; the test then configures it over plain HTTP (`/__test/...`, JSON
// bodies):
//   POST /__test/setup  {client_id, client_secret, redirect_uri, accounts: {id: claims}}
//                       builds the provider (until then every other route is a 503)
//   POST /__test/login  {account}  who signs in at the next interaction
//   POST /__test/mode   {mode}     how the token endpoint's ID token is tampered with:
//                       none | wrong_audience | wrong_issuer | expired | no_nonce | bad_signature
//                       (the provider's own key re-signs the changed claims; bad_signature
//                       signs with another key under the same `kid`)
//   POST /__test/rotate            a new signing key with a new `kid`: the provider is rebuilt
//                       with only the new key (its sessions and codes are kept: the memory
//                       adapter is shared), so its JWKS and its ID tokens change at once
// The interaction (login) is a minimal custom one: it signs the chosen account
// in at once, and the client's grant is implied (no consent screen).
import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const state = {
  issuer: null,
  provider: null,
  setup: null,
  key: null,
  keys: 0,
  mode: 'none',
  account: null,
};

async function newKey() {
  state.keys += 1;
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: `test-key-${state.keys}`, alg: 'RS256', use: 'sig' };
}

async function tamper(idToken) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = state.key;
  switch (state.mode) {
    case 'wrong_audience':
      claims.aud = 'someone-else';
      delete claims.azp;
      break;
    case 'wrong_issuer':
      claims.iss = 'http://127.0.0.1:9/not-the-issuer';
      break;
    case 'expired':
      claims.iat = now - 7200;
      claims.exp = now - 3600;
      break;
    case 'no_nonce':
      delete claims.nonce;
      break;
    case 'bad_signature':
      key = { ...(await newKeyQuietly()), kid: state.key.kid };
      break;
    default:
      return idToken;
  }
  const signer = await jose.importJWK(key, 'RS256');
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .sign(signer);
}

async function newKeyQuietly() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  return jose.exportJWK(privateKey);
}

function build() {
  const s = state.setup;
  const provider = new Provider(state.issuer, {
    clients: [
      {
        client_id: s.client_id,
        client_secret: s.client_secret,
        redirect_uris: [s.redirect_uri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [state.key] },
    cookies: { keys: ['paddock-oidc-test-cookie-key'] },
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // The scopes' claims go into the ID token (Paddock reads its claims there).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    async findAccount(ctx, id) {
      const claims = s.accounts[id];
      if (!claims) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...claims }; } };
    },
    // A first-party client: its grant is implied.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile email groups');
      await grant.save();
      return grant;
    },
  });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token) };
    }
  });
  return provider;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      try { resolve(data ? JSON.parse(data) : {}); } catch (e) { reject(e); }
    });
    req.on('error', reject);
  });
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body ?? {}));
}

async function admin(req, res, path) {
  const body = await readJson(req);
  switch (path) {
    case '/__test/setup':
      state.setup = body;
      state.key = await newKey();
      state.provider = build();
      return send(res, 200, { kid: state.key.kid });
    case '/__test/login':
      state.account = body.account;
      return send(res, 200, {});
    case '/__test/mode':
      state.mode = body.mode;
      return send(res, 200, {});
    case '/__test/rotate':
      state.key = await newKey();
      state.provider = build();
      return send(res, 200, { kid: state.key.kid });
    default:
      return send(res, 404, { error: 'no such test route' });
  }
}

async function interaction(req, res) {
  const provider = state.provider;
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    if (!state.account) return send(res, 409, { error: 'no account chosen (POST /__test/login)' });
    return provider.interactionFinished(req, res, { login: { accountId: state.account } },
      { mergeWithLastSubmission: false });
  }
  const grant = new provider.Grant({
    accountId: details.session.accountId,
    clientId: details.params.client_id,
  });
  grant.addOIDCScope(String(details.params.scope || 'openid'));
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } },
    { mergeWithLastSubmission: true });
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, state.issuer).pathname;
  try {
    if (req.method === 'POST' && path.startsWith('/__test/')) return await admin(req, res, path);
    if (!state.provider) return send(res, 503, { error: 'not set up yet' });
    if (req.method === 'GET' && path.startsWith('/interaction/')) return await interaction(req, res);
    return state.provider.callback()(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) send(res, 500, { error: String(e) });
  }
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  state.issuer = `http://127.0.0.1:${port}`;
  process.stdout.write(`listening ${state.issuer}\n`);
});

// The test kills it; it also goes when its parent's pipe closes.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
