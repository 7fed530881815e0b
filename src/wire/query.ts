/** Query strings as text. */

/** A query parameter's name as text: form-decoded ("+" is a space) when it can be; one that is no valid percent-encoding ("%zz") as it is. */
export function queryName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/** The query of a request target ("/ws?a=1#x": a=1), as URLSearchParams; empty when it has none. */
export function searchParams(target: string): URLSearchParams {
  const q = target.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : target.slice(q + 1).split('#')[0]);
}
