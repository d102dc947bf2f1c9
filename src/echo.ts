// Client input quoted in an error message or a field name is capped, so a huge input cannot
// make a huge status message or trailer (which clients refuse, hiding the actual error).

/** Longest piece of input an error quotes, in characters; longer ones end in `…(N bytes)`. */
export const MAX_ECHO = 100;

/** `text` cut to `max` characters (never inside a surrogate pair), with its full size in UTF-8 bytes when cut. */
export function capText(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]) ? max - 1 : max;
  return `${text.slice(0, end)}…(${Buffer.byteLength(text)} bytes)`;
}

/** A piece of client input as an error message or field name quotes it: at most MAX_ECHO characters. */
export function echo(value: string): string {
  return capText(value, MAX_ECHO);
}
