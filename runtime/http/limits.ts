/**
 * The HTTP limits, declared once: gunicorn's ceilings and clamps (used by the settings table to parse the
 * flags) and what the strict layer derives from the settled values.
 *
 *   clampRequestLine(9000)                        // 8190, as settings parses --limit-request-line
 *   const limits = resolveLimits(settingsLimits); // { requestLine, fields, fieldSize, ... } for the scanner
 *   maxHeaderSize: parserHeaderBudget(limits)     // Node's own cap, kept above anything the limits allow
 */

/** gunicorn's ceilings: --limit-request-line clamps to 8190, fields to 32768, field size 0 means 8190. */
export const MAX_REQUEST_LINE = 8190;
export const MAX_HEADER_FIELDS = 32768;
export const DEFAULT_FIELD_SIZE = 8190;
/** `--limit-request-line 0` lifts the request-line limit; a line is still cut (414) at this many bytes. */
export const UNLIMITED_REQUEST_LINE_CAP = 65536;
/** Slack above the largest head the scanner lets through, so Node's own header cap never decides first. */
const PARSER_HEADER_SLACK = 4096;

/** --limit-request-line as settings parses it: 0 stays 0 (unlimited), anything above the ceiling clamps. */
export function clampRequestLine(value: number): number {
  return Math.min(value, MAX_REQUEST_LINE);
}

/** --limit-request-fields: 0 or anything above the ceiling means the ceiling. */
export function clampRequestFields(value: number): number {
  return value === 0 || value > MAX_HEADER_FIELDS ? MAX_HEADER_FIELDS : value;
}

/** --limit-request-field_size: 0 means the default, as in gunicorn. */
export function clampRequestFieldSize(value: number): number {
  return value || DEFAULT_FIELD_SIZE;
}

/** The limits as the strict server takes them (the settled settings values). */
export interface HttpLimits {
  limitRequestLine: number;       // bytes, 0 = unlimited
  limitRequestFields: number;
  limitRequestFieldSize: number;
  keepAliveSeconds: number;       // idle keep-alive timeout
}

/** The limits as the head scanner applies them. */
export interface HeadLimits {
  /** Longest request line, CRLF excluded (never 0: "unlimited" is UNLIMITED_REQUEST_LINE_CAP). */
  requestLine: number;
  /** Whether requestLine is the cap for "unlimited" rather than a configured limit. */
  requestLineUnlimited: boolean;
  /** Most header fields. */
  fields: number;
  /** Longest header line, its CRLF included. */
  fieldSize: number;
}

/** Applies the same clamps as the settings table, so a value that did not come through it is safe too. */
export function resolveLimits(limits: Pick<HttpLimits, 'limitRequestLine' | 'limitRequestFields' | 'limitRequestFieldSize'>): HeadLimits {
  const line = Math.max(0, Math.floor(limits.limitRequestLine));
  const fields = Math.max(0, Math.floor(limits.limitRequestFields));
  const fieldSize = Math.max(0, Math.floor(limits.limitRequestFieldSize));
  return {
    requestLine: line > 0 ? clampRequestLine(line) : UNLIMITED_REQUEST_LINE_CAP,
    requestLineUnlimited: line === 0,
    fields: clampRequestFields(fields),
    fieldSize: clampRequestFieldSize(fieldSize),
  };
}

/**
 * Node's maxHeaderSize for these limits: above the largest head the scanner lets through (request line +
 * fields x field size), so that llhttp's own overflow never answers before the scanner's exact limits.
 */
export function parserHeaderBudget(limits: HeadLimits): number {
  return limits.requestLine + 2 + limits.fields * limits.fieldSize + 2 + PARSER_HEADER_SLACK;
}
