/**
 * The tests `npm run mutation` runs against each mutant (stryker.config.json): those of the
 * modules it mutates, in-process. The command-line tests run the built bin (dist/), where no
 * mutant is, so they are left out.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/unit/secrets/**/*.test.ts',
      'test/unit/inspect/**/*.test.ts',
      'test/unit/recording/**/*.test.ts',
      'test/unit/tap/**/*.test.ts',
      'test/behaviour/smuggling.test.ts',
      'test/behaviour/findings.test.ts',
      'test/behaviour/frame-tap-protocol.test.ts',
      'test/behaviour/recording-secrets.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    maxWorkers: 1,
  },
});
