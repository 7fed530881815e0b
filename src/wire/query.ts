/** Query strings as text. */

/** A query parameter's name as text: form-decoded ("+" is a space) when it can be; one that is no valid percent-encoding ("%zz") as it is. */
export function queryName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}
