/**
 * Quoting shared by several export formats. Each format's own escaping rules (systemd's
 * specifiers, supervisord's `%(name)s` expansion, XML) live in that format's file.
 */

/**
 * A YAML double-quoted scalar. JSON string syntax is a subset of YAML's double-quoted style,
 * so every character (quotes, backslashes, newlines, `$`, `%`) survives a YAML parser unchanged.
 */
export function yamlString(value: string): string {
  return JSON.stringify(value);
}

const YAML_PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
/** Words YAML 1.1 readers (kubectl, docker compose) turn into booleans or null. */
const YAML_RESERVED = /^(?:y|n|yes|no|on|off|true|false|null)$/i;

/** A mapping key: plain when every YAML reader sees a string, quoted otherwise. */
export function yamlKey(key: string): string {
  return YAML_PLAIN_KEY.test(key) && !YAML_RESERVED.test(key) ? key : yamlString(key);
}

/**
 * A Kubernetes object name or label (DNS-1123): lower case letters, digits and `-`, at most 63.
 *
 *   dnsLabel('My_App') === 'my-app'
 */
export function dnsLabel(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-{2,}/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
}
