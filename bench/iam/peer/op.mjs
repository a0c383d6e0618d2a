// The benchmark peer: node-oidc-provider on 127.0.0.1 (port picked by the
// kernel, printed as "port N"), one confidential client with the
// client-credentials grant, ES256-signed JWT access tokens (as bulwark
// issues), introspection enabled. Argument: the client secret. Its
// in-memory adapter keeps opaque tokens in the process (no database),
// which favours the peer.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const secret = process.argv[2];
const server = http.createServer();
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench' };
// JWT access tokens (like bulwark's) for the default resource; opaque ones
// for https://opaque.example, since oidc-provider introspects only those.
const resource = 'https://api.example';
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench', client_secret: secret, grant_types: ['client_credentials'],
    redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api.read', id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  scopes: ['api.read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => (indicator === 'https://opaque.example'
        ? { scope: 'api.read', audience: indicator, accessTokenTTL: 600, accessTokenFormat: 'opaque' }
        : {
          scope: 'api.read', audience: resource, accessTokenTTL: 600,
          accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
        }),
    },
  },
});
server.on('request', provider.callback());
console.log(`port ${port}`);
