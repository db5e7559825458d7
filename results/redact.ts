/**
 * Secrets never reach a result or a report: a password in a URL's user part
 * (redis://user:password@host) or in a `password=` query parameter is replaced.
 */
const USERINFO_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@"']*):[^\s@/"']*@/gi;
const PASSWORD_PARAM = /([?&](?:password|pass|pwd|token|secret)=)[^&\s"']*/gi;

export const REDACTED = "***";

export function redactSecrets(text: string): string {
  return text.replace(USERINFO_PASSWORD, `$1:${REDACTED}@`).replace(PASSWORD_PARAM, `$1${REDACTED}`);
}

/** Every string inside a JSON-like value, redacted; other values as they are. */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
