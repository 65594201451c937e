/**
 * nock for adapter fault tests, scoped to one test file. nock patches Node's http module, which jest shares across
 * the test files of a worker: it must be restored after the file, or later files' unix-socket and loopback
 * requests go through its interceptor.
 */
import nock from 'nock';
import { generateKeysAuthConfig, makeAuthProvider, type AuthProvider } from '../../shared/adapters/oci/auth';

/** Installs the hooks and resolves the test's signing identity (`userId` may be an instance). */
export function useNock(identity: { tenancyId: string; userId: string }): { authProvider: () => AuthProvider } {
  let provider: AuthProvider | undefined;
  beforeAll(async () => {
    if (!nock.isActive()) nock.activate();
    provider = await makeAuthProvider(generateKeysAuthConfig(identity).auth);
    nock.disableNetConnect();
  });
  beforeEach(() => {
    // The SDK console.warns every failed attempt.
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    nock.cleanAll();
    jest.restoreAllMocks();
  });
  afterAll(() => {
    nock.enableNetConnect();
    nock.restore();
  });
  return {
    authProvider: () => {
      if (!provider) throw new Error('useNock: the auth provider is created in beforeAll');
      return provider;
    },
  };
}
