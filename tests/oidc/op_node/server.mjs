// panva's certified oidc-provider on loopback, for rpkit's interop test
// (tests/oidc/test_interop_panva.py). Not a Dualog replica: an OP none of us wrote,
// configured only as far as a Dualog client needs (a `rank` claim, PKCE, refresh, logout).
//
// Usage: node server.mjs [port]          (port 0 or absent: pick a free one)
// Env:   OP_PORT, OP_CLIENT_ID, OP_CLIENT_SECRET, OP_REDIRECT_URI,
//        OP_POST_LOGOUT_REDIRECT_URI
// When listening it prints one JSON line on stdout: {"port": ..., "issuer": ...}.
// Everything else (oidc-provider's development warnings) goes to stderr.
//
// The interaction (login, then consent) finishes itself for the fixed account `crew-1`,
// so a test can play the browser with plain HTTP redirects.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const MOUNT = '/auth';
const port = Number(process.argv[2] ?? process.env.OP_PORT ?? 0);
const clientId = process.env.OP_CLIENT_ID ?? 'rpkit-interop';
const clientSecret = process.env.OP_CLIENT_SECRET ?? 'rpkit-interop-secret-0123456789abcdef';
const redirectUri = process.env.OP_REDIRECT_URI ?? 'http://127.0.0.1:5999/callback';
const postLogoutRedirectUri = process.env.OP_POST_LOGOUT_REDIRECT_URI ?? 'http://127.0.0.1:5999/';

const ACCOUNTS = {
  'crew-1': {
    sub: 'crew-1',
    email: 'ingrid.hansen@nordic-tankers.example',
    email_verified: true,
    name: 'Ingrid Hansen',
    given_name: 'Ingrid',
    family_name: 'Hansen',
    rank: 'Master',
    ship_name: 'MV Nordic Star',
    ship_imo: '9074729',
  },
};
const LOGIN_AS = 'crew-1';

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'interop-rs256', use: 'sig', alg: 'RS256' };
}

function makeProvider(issuer) {
  return new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: [postLogoutRedirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // Scope -> claims. Dualog puts the maritime claims under `crew.public`.
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
      'crew.public': ['rank', 'ship_name', 'ship_imo'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'crew.public'],
    // Dualog sends the scope claims (rank among them) in the ID token of a code flow;
    // oidc-provider's default keeps them for userinfo only.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // oidc-provider follows OIDC Core §11 to the letter: it drops offline_access unless the
    // request says prompt=consent, which rpkit does not send by default. Dualog issues a
    // refresh token to every client registered for the grant; do the same.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `${MOUNT}/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const account = ACCOUNTS[sub];
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ ...account }) };
    },
  });
}

// GET /auth/interaction/:uid answers the prompt at once: log in `crew-1`, or grant what
// the client asked for. No HTML, no form: a 303 back to the provider's resume endpoint.
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    return provider.interactionFinished(req, res, { login: { accountId: LOGIN_AS } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    // offline_access is never listed as missing by the consent prompt; grant it explicitly.
    grant.addOIDCScope(params.scope);
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  res.statusCode = 400;
  res.setHeader('Content-Type', 'text/plain');
  return res.end(`unsupported prompt ${prompt.name}\n`);
}

let provider;
let callback;
const server = createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path.startsWith(`${MOUNT}/interaction/`)) {
    interaction(provider, req, res).catch((err) => {
      process.stderr.write(`interaction failed: ${err?.stack ?? err}\n`);
      res.statusCode = err instanceof errors.SessionNotFound ? 400 : 500;
      res.end(`${err?.message ?? 'error'}\n`);
    });
    return;
  }
  if (path === MOUNT || path.startsWith(`${MOUNT}/`)) {
    // What Express's app.use('/auth', provider.callback()) does: oidc-provider derives
    // its mount path from originalUrl minus url.
    req.originalUrl = req.url;
    req.url = req.url.slice(MOUNT.length) || '/';
    callback(req, res);
    return;
  }
  res.statusCode = 404;
  res.end('not found\n');
});

server.listen(port, '127.0.0.1', () => {
  const chosen = server.address().port;
  const issuer = `http://127.0.0.1:${chosen}${MOUNT}`;
  provider = makeProvider(issuer);
  provider.on('server_error', (_ctx, err) => process.stderr.write(`server_error: ${err?.stack}\n`));
  callback = provider.callback();
  process.stdout.write(`${JSON.stringify({ port: chosen, issuer })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
