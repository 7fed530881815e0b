/**
 * Cleanup after each test: whatever a test opens (servers, proxies, clients, processes,
 * temporary folders) is registered with defer() and closed by runDeferred(), which every
 * test file that uses it runs in afterEach.
 */

const deferred: (() => unknown)[] = [];

/** Runs fn after the current test (in reverse order of registration: clients before the proxy before the backend). */
export function defer(fn: () => unknown): void {
  deferred.push(fn);
}

/** For afterEach: runs and forgets everything deferred. */
export async function runDeferred(): Promise<void> {
  for (const fn of deferred.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      // A cleanup that fails must not hide the test's own result or skip the others.
    }
  }
}
