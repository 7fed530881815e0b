/** One JSON-path grammar for --correlate and --ignore. */
import { describe, expect, it } from 'vitest';
import { ANY, DEEP, formatPath, JsonPathError, parseJsonPath, parseValuePath, pathMatches } from '../../../src/wire/json-path.js';

describe('JSON paths', () => {
  it('the leading $. may be left out: id is $.id, meta.requestId is $.meta.requestId', () => {
    expect(parseJsonPath('id').steps).toEqual(['id']);
    expect(parseJsonPath('$.id').steps).toEqual(['id']);
    expect(parseJsonPath('meta.requestId').steps).toEqual(['meta', 'requestId']);
    expect(parseJsonPath('$.meta[0].requestId').steps).toEqual(['meta', 0, 'requestId']);
    expect(parseJsonPath('$[\'a b\']["c"]').steps).toEqual(['a b', 'c']);
  });

  it('wildcards and any depth, for --ignore', () => {
    expect(parseJsonPath('$.items[*].id').steps).toEqual(['items', ANY, 'id']);
    expect(parseJsonPath('$..timestamp').steps).toEqual([DEEP, 'timestamp']);
    expect(parseJsonPath('$.*').steps).toEqual([ANY]);
  });

  it('a --correlate path must name one value', () => {
    expect(parseValuePath('$.meta.id').steps).toEqual(['meta', 'id']);
    expect(() => parseValuePath('$.items[*].id')).toThrow(/one value/);
    expect(() => parseValuePath('$..id')).toThrow(/one value/);
  });

  it('refuses what is not a path, saying where', () => {
    expect(() => parseJsonPath('')).toThrow(JsonPathError);
    expect(() => parseJsonPath('$')).toThrow(/whole message/);
    expect(() => parseJsonPath('$.a b')).toThrow(/at " b"/);
    expect(() => parseJsonPath('$.server_ts[x')).toThrow(/server_ts\[x/);
  });

  it('matches concrete locations', () => {
    const p = parseJsonPath('$.items[*].id');
    expect(pathMatches(p, ['items', 3, 'id'])).toBe(true);
    expect(pathMatches(p, ['items', 3, 'name'])).toBe(false);
    expect(pathMatches(parseJsonPath('$..ts'), ['a', 'b', 'ts'])).toBe(true);
    expect(pathMatches(parseJsonPath('$..ts'), ['ts'])).toBe(true);
    expect(pathMatches(parseJsonPath('$..ts'), ['ts', 'x'])).toBe(false);
    expect(pathMatches(parseJsonPath('server_ts'), ['server_ts'])).toBe(true);
  });

  it('formats a location as a path', () => {
    expect(formatPath(['items', 2, 'id'])).toBe('$.items[2].id');
    expect(formatPath(['a b'])).toBe('$["a b"]');
  });
});
