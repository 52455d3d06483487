/**
 * A request path as the platform's router (find-my-way) matches it: case-insensitively, ignoring duplicate and
 * trailing slashes. The middlewares look paths up the same way, so `/HEALTH`, `//health` and `/health/` are the
 * endpoint they reach: exempt where `/health` is exempt, never charged as something else.
 *
 * @internal
 */
const needsNormalizing = /[A-Z]|\/\/|.\/$/

/**
 * The path the router matches (only paths that need it are rewritten: the common case allocates nothing).
 *
 * @internal
 */
export const normalizePath = (path: string): string =>
  needsNormalizing.test(path) ? path.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1").toLowerCase() : path

/**
 * The normalised path of a request URL, without its query.
 *
 * @internal
 */
export const requestPath = (url: string): string => {
  const q = url.indexOf("?")
  return normalizePath(q === -1 ? url : url.slice(0, q))
}
