/**
 * The tests `npm run mutation` runs against each mutant (stryker.config.json): the unit tests
 * of the modules it mutates, in-process and without sockets. Behaviour tests open sockets and
 * made a run take 24 minutes; the command-line tests run the built bin (dist/), where no mutant
 * is. The socket tests of the tunnel (tunnel.test.ts, message-path.test.ts) are left out too.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/unit/secrets/**/*.test.ts',
      'test/unit/inspect/**/*.test.ts',
      'test/unit/recording/**/*.test.ts',
      'test/unit/tap/**/*.test.ts',
      'test/unit/upgrade/**/*.test.ts',
      'test/unit/sinks/history-json.test.ts',
      'test/unit/tunnel/frame-splitter.test.ts',
      'test/unit/tunnel/hook-chain.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    maxWorkers: 1,
  },
});
