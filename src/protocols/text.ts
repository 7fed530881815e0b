/** Names as the decoders print them: short, on one line, quoted where they are the user's strings. */

const NAME_MAX = 80;

/** A name from the wire (an event name, a topic, a method), cut to 80 characters; undefined when it is not a string or a number. */
export function nameText(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') return undefined;
  const one = v.replace(/[\r\n\t]/g, ' ');
  return one.length > NAME_MAX ? `${one.slice(0, NAME_MAX)}…` : one;
}

/** "chat", quoted as JSON does (a name with spaces or quotes stays readable). */
export function quoteName(name: string | undefined): string {
  return name === undefined ? '(unnamed)' : JSON.stringify(name);
}

/** A JSON id as a key: strings and numbers keep their type apart (1 and "1" are two ids). */
export function idText(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > NAME_MAX ? v.slice(0, NAME_MAX) : v);
  return undefined;
}
