const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A decoded global id that is not a UUID names nothing; answer "not found", not a database error. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
